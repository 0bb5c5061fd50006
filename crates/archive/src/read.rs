//! Archived orders, read back for `GET /orders/{id}`, `GET /orders/number/{n}` and order
//! lists. `archived_orders` (PostgreSQL) says which month an order is in; the month's orders
//! are decoded once and kept in memory (moka, bounded by orders held), so later reads of the
//! month are a binary search, not a fetch and decode of its file.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use domain::ids::{OrderId, UserId};
use domain::money::Money;
use domain::order::{Order, Payment};
use sqlx::PgPool;

use crate::restore::fetch_tables;
use crate::store::Archive;
use crate::table::{Column, Columns, ORDERS};
use crate::Error;

/// Orders held decoded at most: five months of a scale-1 chain (about 42,000 orders a month).
const CACHED_ORDERS: u64 = 200_000;

/// The archive as the HTTP service reads it.
#[derive(Clone, Debug)]
pub struct ArchivedOrders {
    archive: Archive,
    /// (month, SHA-256 of its orders object) → its orders sorted by (created_at, id). The
    /// hash in the key: a month restored and archived again is a new file.
    months: moka::sync::Cache<(NaiveDate, String), Arc<Vec<Order>>>,
}

impl ArchivedOrders {
    pub fn new(archive: Archive) -> Self {
        Self {
            archive,
            months: moka::sync::Cache::builder()
                .max_capacity(CACHED_ORDERS)
                .weigher(|_, orders: &Arc<Vec<Order>>| {
                    u32::try_from(orders.len()).unwrap_or(u32::MAX).max(1)
                })
                .build(),
        }
    }

    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// The archived order `id`, or `None` if no archived month holds it.
    pub async fn order(&self, pool: &PgPool, id: OrderId) -> Result<Option<Order>, Error> {
        let found: Option<(NaiveDate, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT a.month, a.created_at, o.sha256 FROM archived_orders a
             JOIN archived_objects o ON o.month = a.month AND o.table_name = 'orders'
             WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await?;
        let Some((month, created_at, sha)) = found else {
            return Ok(None);
        };
        let orders = self.month(pool, month, sha).await?;
        let found = orders
            .binary_search_by(|o| (o.created_at, o.id).cmp(&(created_at, id)))
            .ok()
            .and_then(|i| orders.get(i).cloned());
        match found {
            Some(order) => Ok(Some(order)),
            None => Err(Error::Corrupt(format!(
                "order {id} is listed in archived_orders but not in its month's file"
            ))),
        }
    }

    /// The archived order numbered `number`, or `None`.
    pub async fn order_by_number(
        &self,
        pool: &PgPool,
        number: &str,
    ) -> Result<Option<Order>, Error> {
        let id: Option<OrderId> = sqlx::query_scalar(
            "SELECT k.order_id FROM order_keys k JOIN archived_orders a ON a.id = k.order_id
             WHERE k.order_number = $1",
        )
        .bind(number)
        .fetch_optional(pool)
        .await?;
        match id {
            Some(id) => self.order(pool, id).await,
            None => Ok(None),
        }
    }

    /// A month's orders, decoded once.
    async fn month(
        &self,
        pool: &PgPool,
        month: NaiveDate,
        sha: String,
    ) -> Result<Arc<Vec<Order>>, Error> {
        let key = (month, sha);
        if let Some(orders) = self.months.get(&key) {
            return Ok(orders);
        }
        // Checked against the manifest like a restore: a damaged file is an error, never
        // a wrong answer.
        let data = fetch_tables(pool, &self.archive, month, &[&ORDERS]).await?;
        let mut orders = records(&data[0])?;
        orders.sort_by_key(|o| (o.created_at, o.id));
        let orders = Arc::new(orders);
        self.months.insert(key, orders.clone());
        Ok(orders)
    }
}

/// The orders of a month's orders object.
fn records(data: &Columns) -> Result<Vec<Order>, Error> {
    let uuid = |name: &str| match data.column(&ORDERS, name) {
        Some(Column::Uuid(v)) => Ok(v),
        _ => Err(Error::Corrupt(format!("orders: no column {name}"))),
    };
    let text = |name: &str| match data.column(&ORDERS, name) {
        Some(Column::Text(v)) => Ok(v),
        _ => Err(Error::Corrupt(format!("orders: no column {name}"))),
    };
    let int = |name: &str| match data.column(&ORDERS, name) {
        Some(Column::I64(v)) => Ok(v),
        _ => Err(Error::Corrupt(format!("orders: no column {name}"))),
    };
    let time = |name: &str| match data.column(&ORDERS, name) {
        Some(Column::Time(v)) => Ok(v),
        _ => Err(Error::Corrupt(format!("orders: no column {name}"))),
    };
    let (ids, created, numbers) = (uuid("id")?, time("created_at")?, text("order_number")?);
    let (stores, customers) = (uuid("store_id")?, uuid("customer_id")?);
    let (names, phones, items) = (
        text("customer_name")?,
        text("customer_phone")?,
        text("items")?,
    );
    let (totals, paid, payments) = (int("total")?, int("amount_paid")?, text("payments")?);
    let (statuses, payment_statuses) = (text("status")?, text("payment_status")?);
    let (created_by, updated) = (uuid("created_by")?, time("updated_at")?);
    let missing = |what: &str, i: usize| Error::Corrupt(format!("orders: row {i} has no {what}"));
    let unknown =
        |i: usize| move |e: domain::UnknownName| Error::Corrupt(format!("orders: row {i}: {e}"));
    let mut out = Vec::with_capacity(data.rows);
    for i in 0..data.rows {
        let items_json = items[i].as_deref().ok_or_else(|| missing("items", i))?;
        let payments_json = payments[i]
            .as_deref()
            .ok_or_else(|| missing("payments", i))?;
        out.push(Order {
            id: ids[i].ok_or_else(|| missing("id", i))?.into(),
            created_at: created[i].ok_or_else(|| missing("created_at", i))?,
            order_number: numbers[i]
                .clone()
                .ok_or_else(|| missing("order_number", i))?,
            store_id: stores[i].ok_or_else(|| missing("store_id", i))?.into(),
            customer_id: customers[i]
                .ok_or_else(|| missing("customer_id", i))?
                .into(),
            customer_name: names[i].clone().unwrap_or_default(),
            customer_phone: phones[i].clone().unwrap_or_default(),
            items: serde_json::from_str(items_json)
                .map_err(|e| Error::Corrupt(format!("orders: row {i}'s items: {e}")))?,
            total: Money::from_minor(totals[i].ok_or_else(|| missing("total", i))?),
            amount_paid: Money::from_minor(paid[i].ok_or_else(|| missing("amount_paid", i))?),
            payments: serde_json::from_str::<Vec<Payment>>(payments_json)
                .map_err(|e| Error::Corrupt(format!("orders: row {i}'s payments: {e}")))?,
            status: statuses[i]
                .as_deref()
                .ok_or_else(|| missing("status", i))?
                .parse()
                .map_err(unknown(i))?,
            payment_status: payment_statuses[i]
                .as_deref()
                .ok_or_else(|| missing("payment_status", i))?
                .parse()
                .map_err(unknown(i))?,
            created_by: created_by[i].map(UserId::from),
            updated_at: updated[i].ok_or_else(|| missing("updated_at", i))?,
            archived: true,
        });
    }
    Ok(out)
}
