//! Orders: placing one (stock taken for every line or none), reading it back whole from one
//! partition, listing, status changes (cancelling returns the stock) and payments.

use chrono::{DateTime, Utc};
use domain::catalog::{ProductStatus, StoreStatus};
use domain::inventory::MovementKind;
use domain::order::{Line, NewOrder, Order, OrderStatus, PaymentMethod, PaymentStatus};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::idempotency::{self, Done, IdempotencyKey};
use crate::page::{push_keyset, Direction};
use crate::stock::{self, StockChange};
use crate::{After, Error, Page, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRecord {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub order_number: String,
    pub store_id: Uuid,
    pub customer_id: Uuid,
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
    pub created_by: Option<Uuid>,
    pub updated_at: DateTime<Utc>,
    /// Read from the archive (`crates/archive`), not from PostgreSQL: read-only.
    #[sqlx(skip)]
    pub archived: bool,
}

/// One line as stored in the order: a copy of the product as it was sold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price: i64,
    pub line_total: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: Uuid,
    pub amount: i64,
    pub method: PaymentMethod,
    pub paid_at: DateTime<Utc>,
    pub recorded_by: Option<Uuid>,
}

const COLUMNS: &str = "id, created_at, order_number, store_id, customer_id, customer_name, \
    customer_phone, items, total, amount_paid, payments, status, payment_status, created_by, updated_at";

/// The creation time embedded in a UUIDv7 order id (to the millisecond), which is the order's
/// `created_at` and so names its partition. `None` for ids that are not UUIDv7.
pub fn created_at_of(id: Uuid) -> Option<DateTime<Utc>> {
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    DateTime::from_timestamp(i64::try_from(secs).ok()?, nanos)
}

/// A new order id for now, and the `created_at` it encodes.
fn new_order_id() -> (Uuid, DateTime<Utc>) {
    loop {
        let id = Uuid::now_v7();
        if let Some(at) = created_at_of(id) {
            return (id, at);
        }
    }
}

/// Places an order in one transaction: checks the customer, and that the store trades and the
/// products are for sale (the domain's rules, on the rows as locked here), takes the
/// stock of every line or of none (locking the store's rows in product order, so concurrent
/// orders queue instead of overselling or deadlocking), copies customer and product details
/// into the order, and stores the response `render` makes under the idempotency key.
#[tracing::instrument(skip_all, fields(store_id = %order.store_id))]
pub async fn place_order(
    pool: &PgPool,
    order: &NewOrder,
    created_by: Uuid,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&OrderRecord) -> idempotency::Rendered,
) -> Result<Done<OrderRecord>> {
    crate::monitoring::timed("orders.place", async move {
        let mut attempt = idempotency::begin_or_replay!(pool, key);
        let record = place_order_in(attempt.conn(), order, created_by).await?;
        attempt.finish(|| render(&record)).await?;
        Ok(Done::New(record))
    })
    .await
}

async fn place_order_in(
    tx: &mut PgConnection,
    order: &NewOrder,
    created_by: Uuid,
) -> Result<OrderRecord> {
    let (customer_name, customer_phone): (String, String) =
        sqlx::query_as("SELECT name, phone FROM customers WHERE id = $1")
            .bind(order.customer_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::rejected("customerId", "no customer with this id"))?;
    let store_status: StoreStatus =
        sqlx::query_scalar::<_, String>("SELECT status FROM stores WHERE id = $1")
            .bind(order.store_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::rejected("storeId", "no store with this id"))?
            .parse()?;
    store_status
        .ensure_trading()
        .map_err(|message| Error::rejected("storeId", message))?;
    let items = priced_items(tx, order).await?;
    let changes: Vec<StockChange> = items
        .iter()
        .map(|item| StockChange {
            product_id: item.product_id,
            store_id: order.store_id,
            delta: -item.quantity,
            kind: MovementKind::Sale,
        })
        .collect();
    let (id, created_at) = new_order_id();
    let context = stock::Context {
        order_id: Some(id),
        actor_id: Some(created_by),
        ..Default::default()
    };
    stock::apply(tx, &changes, &context).await?;

    let sequence: i64 = sqlx::query_scalar("SELECT nextval('order_number_seq')")
        .fetch_one(&mut *tx)
        .await?;
    let number = domain::order::order_number(chrono::Datelike::year(&created_at), sequence);
    let total: i64 = items.iter().map(|i| i.line_total).sum();
    sqlx::query("INSERT INTO order_keys (order_id, order_number, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(&number)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
    let record: OrderRecord = sqlx::query_as(&format!(
        "INSERT INTO orders (id, created_at, order_number, store_id, customer_id, customer_name,
            customer_phone, items, total, payment_status, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(created_at)
    .bind(&number)
    .bind(order.store_id)
    .bind(order.customer_id)
    .bind(&customer_name)
    .bind(&customer_phone)
    .bind(sqlx::types::Json(&items))
    .bind(total)
    .bind(PaymentStatus::of(0, total).as_str())
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await?;
    Ok(record)
}

/// Prices every line (repeated products merged) from the catalogue; only products for sale
/// are sold.
async fn priced_items(tx: &mut PgConnection, order: &NewOrder) -> Result<Vec<OrderItem>> {
    let merged = order.merged_lines();
    let ids: Vec<Uuid> = merged.iter().map(|(_, line)| line.product_id).collect();
    let products: Vec<(Uuid, String, String, i64, String)> =
        sqlx::query_as("SELECT id, sku, name, price, status FROM products WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
    let mut items = Vec::with_capacity(merged.len());
    for (
        index,
        Line {
            product_id,
            quantity,
        },
    ) in merged
    {
        let field = format!("items[{index}].productId");
        let Some((_, sku, name, price, status)) = products.iter().find(|p| p.0 == product_id)
        else {
            return Err(Error::rejected(field, "no product with this id"));
        };
        status
            .parse::<ProductStatus>()?
            .ensure_for_sale()
            .map_err(|message| Error::rejected(field, message))?;
        items.push(OrderItem {
            product_id,
            sku: sku.clone(),
            name: name.clone(),
            quantity,
            unit_price: *price,
            line_total: price.saturating_mul(i64::from(quantity)),
        });
    }
    Ok(items)
}

/// The tails of the order lookups; public so `ims explain` (crate `seed`) plans this very text.
pub const BY_ID: &str = "FROM orders WHERE id = $1 AND created_at = $2";
pub const NUMBER_TO_ID: &str = "SELECT order_id FROM order_keys WHERE order_number = $1";

pub async fn order_by_id(pool: &PgPool, id: Uuid) -> Result<OrderRecord> {
    crate::monitoring::timed("orders.by_id", async move {
        let created_at = created_at_of(id).ok_or(Error::NotFound)?;
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
    let id: Uuid = sqlx::query_scalar(NUMBER_TO_ID)
        .bind(number)
        .fetch_one(pool)
        .await?;
    order_by_id(pool, id).await
}

#[derive(Debug, Default)]
pub struct OrderFilter {
    pub customer_id: Option<Uuid>,
    pub store_id: Option<Uuid>,
    /// Only these stores (for staff who are not admins); `None` means every store.
    pub visible_stores: Option<Vec<Uuid>>,
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
) -> Result<Page<OrderRecord>> {
    crate::monitoring::timed("orders.list", async move {
        let mut qb = list_orders_query("", filter, limit, after);
        let rows: Vec<OrderRecord> = qb.build_query_as().fetch_all(pool).await?;
        Ok(Page::from_rows(rows, limit, |o| {
            After::Time(o.created_at, o.id)
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
    Live(Box<OrderRecord>),
    Archived { id: Uuid, created_at: DateTime<Utc> },
}

impl Listed {
    fn key(&self) -> (DateTime<Utc>, Uuid) {
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
        let live: Vec<OrderRecord> = qb.build_query_as().fetch_all(pool).await?;
        let mut qb = QueryBuilder::new("SELECT id, created_at FROM archived_orders WHERE true");
        push_order_filters(&mut qb, filter);
        if let Some(after) = after {
            push_keyset(&mut qb, "created_at", "id", Direction::Desc, after);
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(limit + 1);
        let archived: Vec<(Uuid, DateTime<Utc>)> = qb.build_query_as().fetch_all(pool).await?;
        let mut rows: Vec<Listed> = live
            .into_iter()
            .map(|o| Listed::Live(Box::new(o)))
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
            After::Time(at, id)
        }))
    })
    .await
}

async fn lock_order(tx: &mut PgConnection, id: Uuid) -> Result<OrderRecord> {
    let created_at = created_at_of(id).ok_or(Error::NotFound)?;
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM orders WHERE id = $1 AND created_at = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(created_at)
    .fetch_one(&mut *tx)
    .await?)
}

/// Moves an order along its status machine; cancelling returns every line's stock. With
/// `key`, a retry of the same request (the client's, or the failover middleware's after a lost
/// primary) returns the first response (`render`ed in the change's transaction) instead of a
/// second change, which would be refused as a move from the new status.
#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn change_order_status(
    pool: &PgPool,
    id: Uuid,
    next: OrderStatus,
    actor: Uuid,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&OrderRecord) -> idempotency::Rendered,
) -> Result<Done<OrderRecord>> {
    crate::monitoring::timed("orders.change_status", async move {
        let mut attempt = idempotency::begin_or_replay!(pool, key);
        let tx = attempt.conn();
        let order = lock_order(tx, id).await?;
        order.status.transition(next).map_err(Error::InvalidState)?;
        if next == OrderStatus::Cancelled {
            let changes: Vec<StockChange> = order
                .items
                .iter()
                .map(|i| StockChange {
                    product_id: i.product_id,
                    store_id: order.store_id,
                    delta: i.quantity,
                    kind: MovementKind::Cancellation,
                })
                .collect();
            let context = stock::Context {
                order_id: Some(id),
                actor_id: Some(actor),
                ..Default::default()
            };
            stock::apply(tx, &changes, &context).await?;
        }
        let updated: OrderRecord = sqlx::query_as(&format!(
            "UPDATE orders SET status = $3 WHERE id = $1 AND created_at = $2 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(order.created_at)
        .bind(next.as_str())
        .fetch_one(&mut *tx)
        .await?;
        attempt.finish(|| render(&updated)).await?;
        Ok(Done::New(updated))
    })
    .await
}

/// A payment to record; its amount is from `domain::order::payment_amount`.
pub struct NewPayment {
    pub amount: i64,
    pub method: PaymentMethod,
    pub recorded_by: Uuid,
}

/// Records a payment on the order as locked here; the domain refuses one on a cancelled order
/// or above the amount due (`Order::record_payment`).
pub async fn add_payment(
    pool: &PgPool,
    id: Uuid,
    payment: &NewPayment,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&OrderRecord) -> idempotency::Rendered,
) -> Result<Done<OrderRecord>> {
    let NewPayment {
        amount,
        method,
        recorded_by: actor,
    } = *payment;
    crate::monitoring::timed("orders.add_payment", async move {
        let mut attempt = idempotency::begin_or_replay!(pool, key);
        let tx = attempt.conn();
        let order = lock_order(tx, id).await?;
        let mut rules = Order {
            status: order.status,
            total: order.total,
            amount_paid: order.amount_paid,
        };
        rules
            .record_payment(amount)
            .map_err(|refused| Error::InvalidState(refused.to_string()))?;
        let payment = Payment {
            id: Uuid::now_v7(),
            amount,
            method,
            paid_at: Utc::now(),
            recorded_by: Some(actor),
        };
        let updated: OrderRecord = sqlx::query_as(&format!(
            "UPDATE orders SET amount_paid = $3, payment_status = $4, payments = payments || $5
             WHERE id = $1 AND created_at = $2 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(order.created_at)
        .bind(rules.amount_paid)
        .bind(rules.payment_status().as_str())
        .bind(sqlx::types::Json(vec![payment]))
        .fetch_one(&mut *tx)
        .await?;
        attempt.finish(|| render(&updated)).await?;
        Ok(Done::New(updated))
    })
    .await
}
