//! A product as staff see it (`GET /products/...`, lists and the bestsellers), with the stock
//! figures the cache lays over a cached body.

use cache::Tally;
use chrono::{DateTime, Utc};
use domain::catalog::ProductStatus;
use serde::{Deserialize, Serialize};
use storage::products::ProductRecord;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    id: Uuid,
    sku: String,
    name: String,
    description: String,
    category_id: Uuid,
    brand: String,
    /// Minor units (paise).
    price: i64,
    /// Minor units (paise); never shown in the public catalogue.
    cost: Option<i64>,
    status: ProductStatus,
    attributes: serde_json::Value,
    /// Units in stock over all stores.
    quantity: i32,
    in_stock: bool,
    /// Units sold over all time.
    sales_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ProductView {
    pub(crate) fn id(&self) -> Uuid {
        self.id
    }

    /// Lays the newest stock figures the cache knows over a cached body.
    pub(crate) fn apply_tally(&mut self, tally: &Tally) {
        self.quantity = i32::try_from(tally.quantity).unwrap_or(self.quantity);
        self.in_stock = tally.quantity > 0;
        self.sales_count = tally.sold;
    }

    /// The body of `record` and its stock figures, as the cache keeps them.
    pub(crate) fn tallied(record: ProductRecord) -> (Self, Tally) {
        let tally = tally_of(record.stock_seq, record.quantity, record.sales_count);
        (Self::from(record), tally)
    }
}

impl From<ProductRecord> for ProductView {
    fn from(p: ProductRecord) -> Self {
        Self {
            id: p.id,
            sku: p.sku,
            name: p.name,
            description: p.description,
            category_id: p.category_id,
            brand: p.brand,
            price: p.price,
            cost: p.cost,
            status: p.status,
            attributes: p.attributes,
            in_stock: p.quantity > 0,
            quantity: p.quantity,
            sales_count: p.sales_count,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A product's stock figures as the cache keeps them beside its bodies.
pub fn tally_of(stock_seq: i64, quantity: i32, sales_count: i64) -> Tally {
    Tally {
        seq: stock_seq,
        quantity: i64::from(quantity),
        sold: sales_count,
        changed_at_us: 0,
    }
}
