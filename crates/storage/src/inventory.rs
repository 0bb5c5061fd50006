//! Stock per store: listing, one row, adjustments, transfers and the movement history.

use chrono::{DateTime, Utc};
use domain::ids::{OrderId, ProductId, StoreId, TransferId, UserId};
use domain::inventory::{MovementKind, StockStatus};
use sqlx::{PgPool, QueryBuilder};
use uuid::Uuid;

use crate::idempotency::{self, Done, IdempotencyKey};
use crate::page::{push_keyset, Direction};
use crate::stock::{self, Context, StockChange, StockFigures};
use crate::{After, Error, Page, Result};

/// An inventory row with the product details a stock screen shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StockRecord {
    pub product_id: ProductId,
    pub store_id: StoreId,
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    pub reorder_level: i32,
    #[sqlx(try_from = "String")]
    pub status: StockStatus,
    pub updated_at: DateTime<Utc>,
    /// The product's stock sequence as of this row (`products.stock_seq`, which every
    /// change of any of the product's rows moves on): orders the row's versions for the cache.
    pub stock_seq: i64,
}

/// A row's changing figures after a stock change: returned by the change's own statement
/// (`stock::StockFigures`), or read after it commits ([`row_figures`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RowFigures {
    pub store_id: StoreId,
    pub product_id: ProductId,
    pub quantity: i32,
    pub updated_at: DateTime<Utc>,
    pub stock_seq: i64,
}

impl From<&StockRecord> for RowFigures {
    fn from(row: &StockRecord) -> Self {
        RowFigures {
            store_id: row.store_id,
            product_id: row.product_id,
            quantity: row.quantity,
            updated_at: row.updated_at,
            stock_seq: row.stock_seq,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MovementRecord {
    pub id: i64,
    pub product_id: ProductId,
    pub store_id: StoreId,
    pub delta: i32,
    #[sqlx(try_from = "String")]
    pub kind: MovementKind,
    pub reason: Option<String>,
    pub order_id: Option<OrderId>,
    pub transfer_id: Option<TransferId>,
    pub actor_id: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "i.product_id, i.store_id, p.sku, p.name, i.quantity, i.reorder_level, \
                       i.status, i.updated_at, p.stock_seq";

pub struct StockFilter {
    pub store_id: StoreId,
    pub status: Option<StockStatus>,
    /// Low or out of stock.
    pub low_stock: bool,
}

/// `GET /stores/{id}/inventory`: lowest quantities first (what needs reordering leads).
#[tracing::instrument(skip_all, fields(store_id = %filter.store_id))]
pub async fn list_store_stock(
    pool: &PgPool,
    filter: &StockFilter,
    limit: i64,
    after: Option<&After>,
) -> Result<Page<StockRecord>> {
    crate::monitoring::timed("inventory.list", async move {
        let mut qb = list_store_stock_query("", filter, limit, after);
        let rows: Vec<StockRecord> = qb.build_query_as().fetch_all(pool).await?;
        Ok(Page::from_rows(rows, limit, |r| {
            After::Int(i64::from(r.quantity), r.product_id.uuid())
        }))
    })
    .await
}

/// The SQL of a store's stock list (after `prefix`, which `ims explain` sets).
pub fn list_store_stock_query<'a>(
    prefix: &str,
    filter: &StockFilter,
    limit: i64,
    after: Option<&After>,
) -> QueryBuilder<'a, sqlx::Postgres> {
    let mut qb = QueryBuilder::new(format!(
        "{prefix}SELECT {COLUMNS} FROM inventory i JOIN products p ON p.id = i.product_id WHERE i.store_id = "
    ));
    qb.push_bind(filter.store_id);
    if let Some(status) = filter.status {
        qb.push(" AND i.status = ").push_bind(status.as_str());
    }
    if filter.low_stock {
        qb.push(" AND i.status IN ('low_stock', 'out_of_stock')");
    }
    if let Some(after) = after {
        push_keyset(&mut qb, "i.quantity", "i.product_id", Direction::Asc, after);
    }
    qb.push(" ORDER BY i.quantity, i.product_id LIMIT ")
        .push_bind(limit + 1);
    qb
}

/// The tail of the stock-row lookup; public so `ims explain` (crate `seed`) plans this very text.
pub const ROW: &str = "FROM inventory i JOIN products p ON p.id = i.product_id \
    WHERE i.product_id = $1 AND i.store_id = $2";

pub async fn stock_row(
    pool: &PgPool,
    store_id: StoreId,
    product_id: ProductId,
) -> Result<StockRecord> {
    crate::monitoring::timed("inventory.row", async move {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} {ROW}"))
            .bind(product_id)
            .bind(store_id)
            .fetch_one(pool)
            .await?)
    })
    .await
}

/// The figures of the rows of `products` in `stores`, each with its product's stock
/// sequence, read in one snapshot so that they match: what the cache moves its cached rows
/// forward to after a change commits.
pub async fn row_figures(
    pool: &PgPool,
    stores: &[StoreId],
    products: &[ProductId],
) -> Result<Vec<RowFigures>> {
    Ok(sqlx::query_as(
        "SELECT i.store_id, i.product_id, i.quantity, i.updated_at, p.stock_seq
         FROM inventory i JOIN products p ON p.id = i.product_id
         WHERE i.product_id = ANY($1) AND i.store_id = ANY($2)",
    )
    .bind(products)
    .bind(stores)
    .fetch_all(pool)
    .await?)
}

/// Changes a row by `delta` (a count, a delivery, damage, ...) with the reason recorded.
/// A change of one row's stock by hand: a delivery, a count, damage.
pub struct Adjustment<'a> {
    pub store_id: StoreId,
    pub product_id: ProductId,
    pub delta: i32,
    pub reason: &'a str,
    pub actor: UserId,
}

/// A stock row after an adjustment, and whether its product's chain-wide quantity crossed
/// zero ([`crate::stock::Applied`]).
pub struct Adjusted {
    pub row: StockRecord,
    pub crossed_zero: bool,
    /// The row came or changed status (low or out of stock): the store's figures changed.
    pub changed_status: bool,
    /// The product's and the row's new figures, for the cache.
    pub figures: StockFigures,
}

pub async fn adjust_stock(
    pool: &PgPool,
    adjustment: &Adjustment<'_>,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&StockRecord) -> idempotency::Rendered,
) -> Result<Done<Adjusted>> {
    let Adjustment {
        store_id,
        product_id,
        delta,
        reason,
        actor,
    } = *adjustment;
    crate::monitoring::timed("inventory.adjust", async move {
        let mut attempt = idempotency::begin_or_replay!(pool, key);
        let change = StockChange {
            product_id,
            store_id,
            delta,
            kind: MovementKind::Adjustment,
        };
        let context = Context {
            actor_id: Some(actor),
            reason: Some(reason.to_owned()),
            ..Default::default()
        };
        let mut applied = stock::apply(attempt.conn(), &[change], &context).await?;
        let row = applied.take_record(store_id, product_id)?;
        attempt.finish(|| render(&row)).await?;
        Ok(Done::New(Adjusted {
            row,
            crossed_zero: applied.crossed_zero,
            changed_status: applied.rows_changed_status,
            figures: applied.figures,
        }))
    })
    .await
}

/// Moves units between two stores in one transaction: both rows change or neither.
/// Units to move between two stores.
pub struct Transfer {
    pub product_id: ProductId,
    pub from: StoreId,
    pub to: StoreId,
    pub quantity: i32,
    pub actor: UserId,
}

/// What a transfer did: its id and both rows after it.
pub struct TransferRecord {
    pub transfer_id: TransferId,
    pub from: StockRecord,
    pub to: StockRecord,
    /// The product's and both rows' new figures, for the cache.
    pub figures: StockFigures,
}

pub async fn transfer_stock(
    pool: &PgPool,
    transfer: &Transfer,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&TransferRecord) -> idempotency::Rendered,
) -> Result<Done<TransferRecord>> {
    let Transfer {
        product_id,
        from,
        to,
        quantity,
        actor,
    } = *transfer;
    crate::monitoring::timed("inventory.transfer", async move {
        if from == to {
            return Err(Error::rejected("toStoreId", "must differ from fromStoreId"));
        }
        let transfer_id = TransferId::generate();
        let mut attempt = idempotency::begin_or_replay!(pool, key);
        let context = Context {
            transfer_id: Some(transfer_id),
            actor_id: Some(actor),
            ..Default::default()
        };
        // Both rows in one call: they are locked together in a fixed order, so two transfers in
        // opposite directions cannot deadlock.
        let changes = [
            StockChange {
                product_id,
                store_id: from,
                delta: -quantity,
                kind: MovementKind::TransferOut,
            },
            StockChange {
                product_id,
                store_id: to,
                delta: quantity,
                kind: MovementKind::TransferIn,
            },
        ];
        let mut applied = stock::apply(attempt.conn(), &changes, &context).await?;
        let record = TransferRecord {
            transfer_id,
            from: applied.take_record(from, product_id)?,
            to: applied.take_record(to, product_id)?,
            figures: applied.figures,
        };
        attempt.finish(|| render(&record)).await?;
        Ok(Done::New(record))
    })
    .await
}

/// A row's movements, newest first.
pub async fn list_movements(
    pool: &PgPool,
    store_id: StoreId,
    product_id: ProductId,
    limit: i64,
    after: Option<&After>,
) -> Result<Page<MovementRecord>> {
    crate::monitoring::timed("inventory.movements", async move {
        let mut qb = QueryBuilder::new(
            "SELECT id, product_id, store_id, delta, kind, reason, order_id, transfer_id, actor_id, created_at
             FROM inventory_movements WHERE product_id = ",
        );
        qb.push_bind(product_id)
            .push(" AND store_id = ")
            .push_bind(store_id);
        if let Some(After::Int(id, _)) = after {
            qb.push(" AND id < ").push_bind(*id);
        }
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit + 1);
        let rows: Vec<MovementRecord> = qb.build_query_as().fetch_all(pool).await?;
        Ok(Page::from_rows(rows, limit, |m| {
            After::Int(m.id, Uuid::nil())
        }))
    })
    .await
}
