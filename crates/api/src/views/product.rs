//! A product as staff see it (`GET /products/...`, lists and the bestsellers), with the stock
//! figures the cache lays over a cached body.

use cache::Tally;
use chrono::{DateTime, Utc};
use domain::catalog::ProductStatus;
use domain::ids::{CategoryId, ProductId};
use serde::{Deserialize, Serialize};
use storage::products::ProductRecord;

use crate::raw::FiguresFirst;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    // The stock figures first: a cached body gets the newest ones by rewriting its first
    // bytes (`crate::raw`).
    in_stock: bool,
    /// Units in stock over all stores.
    quantity: i32,
    /// Units sold over all time.
    sales_count: i64,
    #[schema(value_type = Uuid)]
    id: ProductId,
    sku: String,
    name: String,
    description: String,
    #[schema(value_type = Uuid)]
    category_id: CategoryId,
    brand: String,
    /// Minor units (paise).
    price: i64,
    /// Minor units (paise); never shown in the public catalogue.
    cost: Option<i64>,
    #[schema(value_type = crate::schema::ProductStatus)]
    status: ProductStatus,
    attributes: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ProductView {
    pub(crate) fn id(&self) -> ProductId {
        self.id
    }

    /// The body of `record` and its stock figures, as the cache keeps them.
    pub(crate) fn tallied(record: ProductRecord) -> (Self, Tally) {
        let tally = tally_of(record.stock_seq, record.quantity, record.sales_count);
        (Self::from(record), tally)
    }
}

/// The figures a [`ProductView`] writes first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductFigures {
    in_stock: bool,
    quantity: i32,
    sales_count: i64,
}

impl FiguresFirst for ProductView {
    type Figures = ProductFigures;

    fn figures(tally: &Tally) -> Option<ProductFigures> {
        Some(ProductFigures {
            in_stock: tally.quantity > 0,
            // Beyond an i32 the view keeps its own figure (`apply_tally`).
            quantity: i32::try_from(tally.quantity).ok()?,
            sales_count: tally.sold,
        })
    }

    /// Lays the newest stock figures the cache knows over a cached body (lists decode theirs).
    fn apply_tally(&mut self, tally: &Tally) {
        self.quantity = i32::try_from(tally.quantity).unwrap_or(self.quantity);
        self.in_stock = tally.quantity > 0;
        self.sales_count = tally.sold;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::RawJson;

    fn view() -> ProductView {
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("a time");
        ProductView {
            in_stock: false,
            quantity: 0,
            sales_count: 7,
            id: ProductId::from_uuid(uuid::Uuid::nil()),
            sku: "FR-1".into(),
            name: "Aviator, \"gold\"".into(),
            description: String::new(),
            category_id: CategoryId::from_uuid(uuid::Uuid::nil()),
            brand: "Ray-Ban".into(),
            price: 1_000,
            cost: None,
            status: ProductStatus::Active,
            attributes: serde_json::json!({"inStock": 1, "quantity": "x"}),
            created_at: at,
            updated_at: at,
        }
    }

    fn tally(quantity: i64, sold: i64) -> Tally {
        Tally {
            seq: 1,
            quantity,
            sold,
            changed_at_us: 0,
        }
    }

    /// The splice gives what decoding, applying and encoding gave.
    #[test]
    fn a_cached_body_gets_the_figures_a_decoded_view_would() {
        for t in [
            tally(5, 9),
            tally(0, 0),
            tally(-2, 3),
            tally(i64::from(i32::MAX) + 1, 4),
        ] {
            let mut raw = RawJson::of(&view()).expect("json");
            raw.apply_tally(&t);
            let mut decoded = view();
            decoded.apply_tally(&t);
            let expected = serde_json::to_string(&decoded).expect("json");
            assert_eq!(raw.get(), expected);
        }
    }

    /// A body stored before the figures came first is decoded and comes out right.
    #[test]
    fn a_body_of_the_older_shape_gets_its_figures_too() {
        // Through a `Value`: its members come out sorted by name.
        let stored =
            serde_json::to_string(&serde_json::to_value(view()).expect("json")).expect("json");
        assert!(!stored.starts_with(r#"{"inStock""#), "{stored}");
        let mut raw: RawJson<ProductView> = serde_json::from_str(&stored).expect("raw");
        raw.apply_tally(&tally(3, 8));
        let mut decoded = view();
        decoded.apply_tally(&tally(3, 8));
        assert_eq!(raw.get(), serde_json::to_string(&decoded).expect("json"));
    }
}
