//! The `orders` rows (written straight into each month's partition, frozen) with their items
//! and payments JSON, and the `order_keys` registry. Payments follow the status: delivered
//! orders are paid, spectacles usually took an advance, cancelled ones hold no money.

use rand::Rng;

use super::copy::{Sent, Sink};
use super::customers::Customer;
use super::json::Obj;
use super::orders::{OrderPlan, Status};
use super::products::Product;
use super::rng::{between, chance, stream, uuid_v7, GenRng, Stream};
use super::stores::{Store, StoreStaff};
use super::time::{civil, push_rfc3339, year_of, DAY, MINUTE};

/// What order rows are made of.
pub(crate) struct OrderContext<'a> {
    pub seed: u64,
    pub now: i64,
    pub stores: &'a [Store],
    pub staff: &'a StoreStaff,
    pub customers: &'a [Customer],
    pub products: &'a [Product],
}

pub(crate) fn order_number(index: usize, created: i64) -> String {
    format!("ORD-{}-{:06}", year_of(created), index + 1)
}

/// The partition that holds `ms`, named as `ensure_order_partitions` names them.
pub(crate) fn partition_of(ms: i64) -> String {
    let (y, m, _) = civil(ms.div_euclid(DAY));
    format!("orders_y{y:04}m{m:02}")
}

const COLUMNS: &str = "id, created_at, order_number, store_id, customer_id, customer_name, \
    customer_phone, items, total, amount_paid, payments, status, payment_status, created_by, updated_at";

struct Paid {
    amount: i64,
    method: &'static str,
    at: i64,
}

pub(crate) fn emit_orders(sink: &mut Sink, ctx: &OrderContext<'_>, orders: &[OrderPlan]) -> Sent {
    let mut rng = stream(ctx.seed, Stream::OrderRows);
    let (mut items, mut payments) = (Vec::with_capacity(1024), Vec::with_capacity(512));
    let mut partition = String::new();
    for (i, order) in orders.iter().enumerate() {
        let target = partition_of(order.created);
        if target != partition {
            if !partition.is_empty() {
                sink.end_copy()?;
            }
            sink.copy("orders", &target, COLUMNS, true)?;
            partition = target;
        }
        let total = write_items(&mut items, ctx.products, order);
        let status = order.status(ctx.now);
        let store = order.store as usize;
        let created_by = ctx.staff.seller(&mut rng, store).copied();
        let paid = plan_payments(&mut rng, order, status, total, ctx.now);
        let amount_paid: i64 = paid.iter().map(|p| p.amount).sum();
        let mut updated = order.changed_at(ctx.now);
        payments.clear();
        payments.push(b'[');
        for (k, p) in paid.iter().enumerate() {
            if k > 0 {
                payments.extend_from_slice(b", ");
            }
            let id = uuid_v7(&mut rng, p.at);
            let recorder = ctx.staff.seller(&mut rng, store).copied();
            Obj::open(&mut payments)
                .uuid("id", &id)
                .int("amount", p.amount)
                .str("method", p.method)
                .with("paidAt", |b| {
                    b.push(b'"');
                    push_rfc3339(b, p.at);
                    b.push(b'"');
                })
                .opt_uuid("recordedBy", recorder.as_ref())
                .close();
            updated = updated.max(p.at);
        }
        payments.push(b']');
        let payment_status = match amount_paid {
            0 => "unpaid",
            a if a < total => "partially_paid",
            _ => "paid",
        };
        let customer = &ctx.customers[order.customer as usize];
        sink.row(|r| {
            r.uuid(&order.id)
                .timestamp(order.created)
                .text(&order_number(i, order.created))
                .uuid(&ctx.stores[store].id)
                .uuid(&customer.id)
                .text(&customer.name)
                .text(&customer.phone)
                .raw(&items)
                .int(total)
                .int(amount_paid)
                .raw(&payments)
                .text(status.as_str())
                .text(payment_status)
                .opt_uuid(created_by.as_ref())
                .timestamp(updated);
        })?;
    }
    if !partition.is_empty() {
        sink.end_copy()?;
    }
    Ok(())
}

/// Writes the items array; returns the order's total.
fn write_items(buf: &mut Vec<u8>, products: &[Product], order: &OrderPlan) -> i64 {
    buf.clear();
    buf.push(b'[');
    let mut total = 0;
    for (k, line) in order.lines().iter().enumerate() {
        if k > 0 {
            buf.extend_from_slice(b", ");
        }
        let product = &products[line.product as usize];
        let quantity = i64::from(line.quantity);
        let line_total = product.price * quantity;
        total += line_total;
        Obj::open(buf)
            .uuid("productId", &product.id)
            .str("sku", &product.sku)
            .str("name", &product.name)
            .int("quantity", quantity)
            .int("unitPrice", product.price)
            .int("lineTotal", line_total)
            .close();
    }
    buf.push(b']');
    total
}

fn method(rng: &mut GenRng) -> &'static str {
    match rng.gen_range(0..10) {
        0..=4 => "upi",
        5..=7 => "card",
        _ => "cash",
    }
}

/// 30–60% of the total in whole hundreds of rupees, strictly between 0 and the total.
fn advance(rng: &mut GenRng, total: i64) -> i64 {
    let share = total * rng.gen_range(30..=60) / 100;
    let rounded = share / 10_000 * 10_000;
    if rounded > 0 && rounded < total {
        rounded
    } else {
        total / 2
    }
}

/// The payments an order in `status` has received by `now`.
fn plan_payments(
    rng: &mut GenRng,
    order: &OrderPlan,
    status: Status,
    total: i64,
    now: i64,
) -> Vec<Paid> {
    let at_till = (order.created + between(rng, 0, 5 * MINUTE)).min(now);
    let paid = |rng: &mut GenRng, amount: i64, at: i64| Paid {
        amount,
        method: method(rng),
        at,
    };
    let roll: f64 = rng.gen();
    let with_advance = |rng: &mut GenRng| {
        let amount = advance(rng, total);
        if amount > 0 {
            vec![paid(rng, amount, at_till)]
        } else {
            Vec::new()
        }
    };
    match status {
        Status::Cancelled => Vec::new(),
        Status::Pending if roll < 0.3 => with_advance(rng),
        Status::Pending => Vec::new(),
        Status::Confirmed | Status::InWorkshop | Status::Ready if roll < 0.07 => Vec::new(),
        Status::Confirmed | Status::InWorkshop | Status::Ready
            if roll < if order.job { 0.35 } else { 0.7 } =>
        {
            vec![paid(rng, total, at_till)]
        }
        Status::Confirmed | Status::InWorkshop | Status::Ready => with_advance(rng),
        Status::Delivered => {
            let delivered = order.moments.delivered;
            if chance(rng, 0.005) {
                // Regulars on credit: collected before paying the balance.
                with_advance(rng)
            } else if order.job && roll < 0.6 {
                let mut first = with_advance(rng);
                let balance = total - first.iter().map(|p| p.amount).sum::<i64>();
                first.push(paid(rng, balance, delivered));
                first.retain(|p| p.amount > 0);
                first
            } else if delivered - order.created < 30 * MINUTE {
                vec![paid(rng, total, at_till.min(delivered))]
            } else {
                vec![paid(rng, total, delivered)]
            }
        }
    }
}

pub(crate) fn emit_order_keys(sink: &mut Sink, orders: &[OrderPlan]) -> Sent {
    sink.copy(
        "order_keys",
        "order_keys",
        "order_id, order_number, created_at",
        true,
    )?;
    for (i, order) in orders.iter().enumerate() {
        sink.row(|r| {
            r.uuid(&order.id)
                .text(&order_number(i, order.created))
                .timestamp(order.created);
        })?;
    }
    sink.end_copy()
}
