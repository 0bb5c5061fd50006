//! Orders: placing one (stock taken for every line or none), reading it back whole from one
//! partition, listing, status changes (cancelling returns the stock) and payments.

use chrono::{DateTime, Utc};
use domain::ids::{CustomerId, OrderId, PaymentId, ProductId, StoreId, UserId};
use domain::order::{OrderStatus, PaymentMethod, PaymentStatus};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{Error, Result};

mod change;
mod lists;
mod place;

pub use change::{add_payment, change_order_status, NewPayment};
pub use lists::{list_orders, list_orders_query, list_orders_with_archived, Listed, OrderFilter};
pub use place::place_order;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRecord {
    pub id: OrderId,
    pub created_at: DateTime<Utc>,
    pub order_number: String,
    pub store_id: StoreId,
    pub customer_id: CustomerId,
    pub customer_name: String,
    pub customer_phone: String,
    pub items: sqlx::types::Json<Vec<OrderItem>>,
    pub total: i64,
    pub amount_paid: i64,
    pub payments: sqlx::types::Json<Vec<Payment>>,
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    #[sqlx(try_from = "String")]
    pub payment_status: PaymentStatus,
    pub created_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
    /// Read from the archive (`crates/archive`), not from PostgreSQL: read-only.
    #[sqlx(skip)]
    pub archived: bool,
}

/// One line as stored in the order: a copy of the product as it was sold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub product_id: ProductId,
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub line_total: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: PaymentId,
    pub amount: i64,
    pub method: PaymentMethod,
    pub paid_at: DateTime<Utc>,
    pub recorded_by: Option<UserId>,
}

const COLUMNS: &str = "id, created_at, order_number, store_id, customer_id, customer_name, \
    customer_phone, items, total, amount_paid, payments, status, payment_status, created_by, updated_at";

/// The tails of the order lookups; public so `ims explain` (crate `seed`) plans this very text.
pub const BY_ID: &str = "FROM orders WHERE id = $1 AND created_at = $2";
pub const NUMBER_TO_ID: &str = "SELECT order_id FROM order_keys WHERE order_number = $1";

pub async fn order_by_id(pool: &PgPool, id: OrderId) -> Result<OrderRecord> {
    crate::monitoring::timed("orders.by_id", async move {
        let created_at = id.created_at().ok_or(Error::NotFound)?;
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} {BY_ID}"))
            .bind(id)
            .bind(created_at)
            .fetch_one(pool)
            .await?)
    })
    .await
}

/// By number: the registry names the order's id, whose timestamp names its partition.
pub async fn order_by_number(pool: &PgPool, number: &str) -> Result<OrderRecord> {
    let id: OrderId = sqlx::query_scalar(NUMBER_TO_ID)
        .bind(number)
        .fetch_one(pool)
        .await?;
    order_by_id(pool, id).await
}
