//! Stock: one inventory row per (product, store) with a quantity that fits the product's kind
//! and the store's size, each opened by one 'initial' movement of exactly that quantity (so a
//! row's movements add up to it), and every product's total `quantity`.

use rand::Rng;

use super::copy::{Sent, Sink};
use super::products::{stock_factor, Product};
use super::rng::{chance, stream, Stream};
use super::stores::Store;
use super::time::HOUR;

/// Quantities of every (product, store), product-major.
pub(crate) struct Stock {
    stores: usize,
    quantities: Vec<u16>,
}

/// (most a big store holds, reorder level) per kind, in [`Kind`] order.
const SHELF: [(f64, i64); 5] = [(12.0, 2), (10.0, 2), (30.0, 4), (40.0, 6), (80.0, 10)];

impl Stock {
    pub(crate) fn quantity(&self, product: usize, store: usize) -> i64 {
        i64::from(self.quantities[product * self.stores + store])
    }
}

/// Draws the stock and sets each product's total `quantity`.
pub(crate) fn plan_stock(seed: u64, products: &mut [Product], stores: usize) -> Stock {
    let mut rng = stream(seed, Stream::Inventory);
    let store_size: Vec<f64> = (0..stores)
        .map(|s| 0.6 + 0.8 / (1.0 + s as f64 / 5.0))
        .collect();
    let mut quantities = Vec::with_capacity(products.len() * stores);
    for product in products.iter_mut() {
        let (most, _) = SHELF[product.kind as usize];
        let factor = stock_factor(&mut rng, product);
        let mut total = 0i64;
        for size in &store_size {
            let q = if chance(&mut rng, 0.08) || factor == 0.0 {
                0
            } else {
                1 + (rng.gen::<f64>().powf(1.3) * most * size * factor) as u16
            };
            total += i64::from(q);
            quantities.push(q);
        }
        product.quantity = total;
    }
    Stock { stores, quantities }
}

fn opened_at(product: &Product, store: &Store) -> i64 {
    product.created.max(store.created) + 2 * HOUR
}

pub(crate) fn emit_inventory(
    sink: &mut Sink,
    stock: &Stock,
    products: &[Product],
    stores: &[Store],
) -> Sent {
    sink.copy(
        "inventory",
        "inventory",
        "product_id, store_id, quantity, reorder_level, updated_at",
        true,
    )?;
    for (p, product) in products.iter().enumerate() {
        let reorder = SHELF[product.kind as usize].1;
        for (s, store) in stores.iter().enumerate() {
            sink.row(|r| {
                r.uuid(&product.id)
                    .uuid(&store.id)
                    .int(stock.quantity(p, s))
                    .int(reorder)
                    .timestamp(opened_at(product, store));
            })?;
        }
    }
    sink.end_copy()
}

pub(crate) fn emit_movements(
    sink: &mut Sink,
    stock: &Stock,
    products: &[Product],
    stores: &[Store],
) -> Sent {
    sink.copy(
        "inventory_movements",
        "inventory_movements",
        "product_id, store_id, delta, kind, reason, created_at",
        true,
    )?;
    for (p, product) in products.iter().enumerate() {
        for (s, store) in stores.iter().enumerate() {
            let quantity = stock.quantity(p, s);
            if quantity == 0 {
                continue;
            }
            sink.row(|r| {
                r.uuid(&product.id)
                    .uuid(&store.id)
                    .int(quantity)
                    .text("initial")
                    .text("opening stock")
                    .timestamp(opened_at(product, store));
            })?;
        }
    }
    sink.end_copy()
}

/// How many rows [`emit_movements`] writes.
pub(crate) fn movement_count(stock: &Stock) -> usize {
    stock.quantities.iter().filter(|q| **q > 0).count()
}
