//! Orders: placing one (stock taken for every line or none), reading it back whole from one
//! partition, listing, status changes (cancelling returns the stock) and payments.

use chrono::{DateTime, Utc};
use domain::ids::{CustomerId, OrderId, StoreId, UserId};
use domain::money::Money;
use domain::order::{Order, OrderItem, OrderStatus, Payment, PaymentStatus};
use sqlx::types::Json;
use sqlx::PgPool;

use crate::{Error, Result};

mod change;
mod lists;
mod place;

pub use change::{add_payment, change_order_status, NewPayment};
pub use lists::{list_orders, list_orders_query, list_orders_with_archived, Listed, OrderFilter};
pub use place::{place_order, Placed};

/// An order's row as selected by [`COLUMNS`]; [`Order`] is what leaves this module.
#[derive(sqlx::FromRow)]
struct OrderRow {
    id: OrderId,
    created_at: DateTime<Utc>,
    order_number: String,
    store_id: StoreId,
    customer_id: CustomerId,
    customer_name: String,
    customer_phone: String,
    items: Json<Vec<OrderItem>>,
    total: Money,
    amount_paid: Money,
    payments: Json<Vec<Payment>>,
    #[sqlx(try_from = "String")]
    status: OrderStatus,
    #[sqlx(try_from = "String")]
    payment_status: PaymentStatus,
    created_by: Option<UserId>,
    updated_at: DateTime<Utc>,
}

impl From<OrderRow> for Order {
    fn from(row: OrderRow) -> Self {
        Order {
            id: row.id,
            order_number: row.order_number,
            store_id: row.store_id,
            customer_id: row.customer_id,
            customer_name: row.customer_name,
            customer_phone: row.customer_phone,
            items: row.items.0,
            total: row.total,
            amount_paid: row.amount_paid,
            payments: row.payments.0,
            status: row.status,
            payment_status: row.payment_status,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            archived: false,
        }
    }
}

const COLUMNS: &str = "id, created_at, order_number, store_id, customer_id, customer_name, \
    customer_phone, items, total, amount_paid, payments, status, payment_status, created_by, updated_at";

/// The tails of the order lookups; public so `ims explain` (crate `seed`) plans this very text.
pub const BY_ID: &str = "FROM orders WHERE id = $1 AND created_at = $2";
pub const NUMBER_TO_ID: &str = "SELECT order_id FROM order_keys WHERE order_number = $1";

pub async fn order_by_id(pool: &PgPool, id: OrderId) -> Result<Order> {
    crate::monitoring::timed("orders.by_id", async move {
        let created_at = id.created_at().ok_or(Error::NotFound)?;
        let row: OrderRow = sqlx::query_as(&format!("SELECT {COLUMNS} {BY_ID}"))
            .bind(id)
            .bind(created_at)
            .fetch_one(pool)
            .await?;
        Ok(row.into())
    })
    .await
}

/// By number: the registry names the order's id, whose timestamp names its partition.
pub async fn order_by_number(pool: &PgPool, number: &str) -> Result<Order> {
    let id: OrderId = sqlx::query_scalar(NUMBER_TO_ID)
        .bind(number)
        .fetch_one(pool)
        .await?;
    order_by_id(pool, id).await
}
