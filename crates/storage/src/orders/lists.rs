//! Order lists, newest first: live orders from their partitions, archived ones merged in.

use chrono::{DateTime, Utc};
use domain::ids::{CustomerId, OrderId, StoreId};
use domain::order::{OrderStatus, PaymentStatus};
use sqlx::{PgPool, Postgres, QueryBuilder};

use domain::order::Order;

use super::{OrderRow, COLUMNS};
use crate::page::{push_keyset, Direction};
use crate::{After, Page, Result};

#[derive(Debug, Default)]
pub struct OrderFilter {
    pub customer_id: Option<CustomerId>,
    pub store_id: Option<StoreId>,
    /// Only these stores (for staff who are not admins); `None` means every store.
    pub visible_stores: Option<Vec<StoreId>>,
    pub status: Option<OrderStatus>,
    pub payment_status: Option<PaymentStatus>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// `GET /orders` and a customer's order history: newest first. Date bounds prune partitions.
#[tracing::instrument(skip_all)]
pub async fn list_orders(
    pool: &PgPool,
    filter: &OrderFilter,
    limit: i64,
    after: Option<&After>,
) -> Result<Page<Order>> {
    crate::monitoring::timed("orders.list", async move {
        let mut qb = list_orders_query("", filter, limit, after);
        let rows: Vec<OrderRow> = qb.build_query_as().fetch_all(pool).await?;
        let rows: Vec<Order> = rows.into_iter().map(Order::from).collect();
        Ok(Page::from_rows(rows, limit, |o| {
            After::Time(o.created_at, o.id.uuid())
        }))
    })
    .await
}

/// The SQL of an order list (after `prefix`, which `ims explain` sets to `EXPLAIN ...`).
pub fn list_orders_query<'a>(
    prefix: &str,
    filter: &OrderFilter,
    limit: i64,
    after: Option<&After>,
) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new(format!("{prefix}SELECT {COLUMNS} FROM orders WHERE true"));
    push_order_filters(&mut qb, filter);
    if let Some(after) = after {
        push_keyset(&mut qb, "created_at", "id", Direction::Desc, after);
    }
    qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
    qb
}

fn push_order_filters(qb: &mut QueryBuilder<'_, Postgres>, f: &OrderFilter) {
    if let Some(customer) = f.customer_id {
        qb.push(" AND customer_id = ").push_bind(customer);
    }
    if let Some(store) = f.store_id {
        qb.push(" AND store_id = ").push_bind(store);
    }
    if let Some(stores) = &f.visible_stores {
        qb.push(" AND store_id = ANY(")
            .push_bind(stores.clone())
            .push(")");
    }
    if let Some(status) = f.status {
        qb.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(status) = f.payment_status {
        qb.push(" AND payment_status = ").push_bind(status.as_str());
    }
    if let Some(from) = f.from {
        qb.push(" AND created_at >= ").push_bind(from);
    }
    // Orders are never from the future: an upper bound lets PostgreSQL skip the partitions
    // made ahead of time (a day of slack covers clocks that disagree).
    let to =
        f.to.unwrap_or_else(|| Utc::now() + chrono::Duration::days(1));
    qb.push(" AND created_at < ").push_bind(to);
}

/// One row of an order list: a live order, or the keys of an archived one (its body is in
/// the archive; the HTTP layer reads it there).
#[derive(Debug, Clone)]
pub enum Listed {
    Live(Box<Order>),
    Archived {
        id: OrderId,
        created_at: DateTime<Utc>,
    },
}

impl Listed {
    fn key(&self) -> (DateTime<Utc>, OrderId) {
        match self {
            Listed::Live(o) => (o.created_at, o.id),
            Listed::Archived { id, created_at } => (*created_at, *id),
        }
    }
}

/// As [`list_orders`], with archived orders (`archived_orders`, migration 0012) merged in
/// their place, newest first: the same filters apply to both, as the archived keys carry the
/// columns lists filter on.
#[tracing::instrument(skip_all)]
pub async fn list_orders_with_archived(
    pool: &PgPool,
    filter: &OrderFilter,
    limit: i64,
    after: Option<&After>,
) -> Result<Page<Listed>> {
    crate::monitoring::timed("orders.list", async move {
        let mut qb = list_orders_query("", filter, limit, after);
        let live: Vec<OrderRow> = qb.build_query_as().fetch_all(pool).await?;
        let mut qb = QueryBuilder::new("SELECT id, created_at FROM archived_orders WHERE true");
        push_order_filters(&mut qb, filter);
        if let Some(after) = after {
            push_keyset(&mut qb, "created_at", "id", Direction::Desc, after);
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(limit + 1);
        let archived: Vec<(OrderId, DateTime<Utc>)> = qb.build_query_as().fetch_all(pool).await?;
        let mut rows: Vec<Listed> = live
            .into_iter()
            .map(|o| Listed::Live(Box::new(o.into())))
            .chain(
                archived
                    .into_iter()
                    .map(|(id, created_at)| Listed::Archived { id, created_at }),
            )
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.key()));
        rows.truncate(usize::try_from(limit + 1).unwrap_or(0));
        Ok(Page::from_rows(rows, limit, |r| {
            let (at, id) = r.key();
            After::Time(at, id.uuid())
        }))
    })
    .await
}
