//! The one way stock changes: lock the affected inventory rows (in a fixed order, so
//! concurrent changes queue instead of deadlocking), refuse any change that would go below
//! zero, apply all of them, write one movement each, and keep the products' totals and
//! sales counters right. Sales, cancellations, adjustments and transfers all go through here,
//! so the invariants (never negative; movements sum to the quantity; a product's quantity is
//! the sum over stores) are kept in one place.

use chrono::{DateTime, Utc};
use domain::ids::{CategoryId, OrderId, ProductId, StoreId, TransferId, UserId};
use domain::inventory::MovementKind;
use sqlx::PgConnection;

use crate::error::ShortLine;
use crate::inventory::{RowFigures, StockRecord};
use crate::products::StockIdentity;
use crate::{Error, Result};

/// One row's change; rows are (product, store) and each appears at most once per call.
#[derive(Debug, Clone, Copy)]
pub struct StockChange {
    pub product_id: ProductId,
    pub store_id: StoreId,
    pub delta: i32,
    pub kind: MovementKind,
}

/// What the movements record besides the change itself.
#[derive(Debug, Default, Clone)]
pub struct Context {
    pub order_id: Option<OrderId>,
    pub transfer_id: Option<TransferId>,
    pub actor_id: Option<UserId>,
    pub reason: Option<String>,
}

/// What a stock change did beyond the rows it changed.
#[derive(Debug, Clone)]
pub struct Applied {
    /// A product's chain-wide quantity went from zero to more, or back to zero: the lists
    /// filtered by stock changed.
    pub crossed_zero: bool,
    /// A stock row came, or changed its status (low or out of stock): the stores' figures
    /// (`dashboard`) changed. Most restocks change neither.
    pub rows_changed_status: bool,
    /// The figures the change left, as its statement returned them.
    pub figures: StockFigures,
    /// Every stock row the change moved, whole, as the writer answers it: the statement
    /// returns them, so a restock or transfer does not read its rows again.
    pub records: Vec<StockRecord>,
}

impl Applied {
    /// The moved row of `product` in `store`, taken out of [`Applied::records`].
    pub fn take_record(&mut self, store: StoreId, product: ProductId) -> Result<StockRecord> {
        let at = self
            .records
            .iter()
            .position(|r| r.store_id == store && r.product_id == product)
            .ok_or(Error::NotFound)?;
        Ok(self.records.swap_remove(at))
    }
}

/// The products' and rows' figures a stock change leaves: what the cache moves its tallies
/// forward to once the change commits. The change's own statement returns them, with the
/// rows still locked until the commit, so they are the committed figures; reading them again
/// after the commit took two statements more for every sale, restock and transfer.
#[derive(Debug, Clone, Default)]
pub struct StockFigures {
    /// Every product the change moved, with its new quantity, units sold and sequence.
    pub products: Vec<StockIdentity>,
    /// Every stock row the change moved, with its product's new sequence.
    pub rows: Vec<RowFigures>,
}

/// Applies `changes` inside the caller's transaction, all rows locked at once. Fails with
/// [`Error::InsufficientStock`] naming every short line, having changed nothing.
pub async fn apply(
    tx: &mut PgConnection,
    changes: &[StockChange],
    context: &Context,
) -> Result<Applied> {
    lock(tx, changes).await?.apply(tx, context).await
}

/// Stock rows locked and checked, their change not yet made: what [`lock`] hands back.
///
/// Placing an order locks its stock rows first (so a short line fails the order before
/// anything is written), writes the order, and only then moves the stock: the chain-wide
/// product rows, which every sale of a popular product in any store must lock, are then held
/// for the fewest statements before the commit.
#[derive(Debug)]
#[must_use = "locked stock changes nothing until applied"]
pub struct Locked<'a> {
    changes: &'a [StockChange],
    /// The changes as the statements bind them.
    columns: Columns,
    /// (product, store, status) of every row that existed before the change.
    before: Vec<(ProductId, StoreId, String)>,
    /// Rows this call created for a first delivery to a store.
    rows_created: bool,
}

/// Locks the rows `changes` touch (creating those a delivery needs) in (product, store)
/// order, and fails with [`Error::InsufficientStock`] naming every line that would go below
/// zero. Nothing but the empty new rows is written until [`Locked::apply`].
pub async fn lock<'a>(tx: &mut PgConnection, changes: &'a [StockChange]) -> Result<Locked<'a>> {
    let columns = Columns::of(changes);
    // Rows that receive stock may not exist yet (a first delivery to a store). A sale only
    // takes from rows that exist, so it skips the statement.
    let mut rows_created = false;
    if columns.deltas.iter().any(|d| *d > 0) {
        rows_created = sqlx::query(
            "INSERT INTO inventory (product_id, store_id, quantity)
             SELECT p, s, 0 FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS c(p, s, d)
             WHERE d > 0
             ON CONFLICT DO NOTHING",
        )
        .bind(&columns.products)
        .bind(&columns.stores)
        .bind(&columns.deltas)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
    }
    let locked: Vec<(ProductId, StoreId, i32, String)> = sqlx::query_as(
        "SELECT i.product_id, i.store_id, i.quantity, i.status FROM inventory i
         JOIN unnest($1::uuid[], $2::uuid[]) AS c(p, s) ON i.product_id = c.p AND i.store_id = c.s
         ORDER BY i.product_id, i.store_id FOR UPDATE OF i",
    )
    .bind(&columns.products)
    .bind(&columns.stores)
    .fetch_all(&mut *tx)
    .await?;

    let short: Vec<ShortLine> = changes
        .iter()
        .enumerate()
        .filter_map(|(index, change)| {
            let available = locked
                .iter()
                .find(|(p, s, _, _)| *p == change.product_id && *s == change.store_id)
                .map_or(0, |row| row.2);
            (available + change.delta < 0).then_some(ShortLine {
                index,
                product_id: change.product_id,
                requested: -change.delta,
                available,
            })
        })
        .collect();
    if !short.is_empty() {
        return Err(Error::InsufficientStock(short));
    }
    Ok(Locked {
        changes,
        columns,
        before: locked
            .into_iter()
            .map(|(p, s, _, status)| (p, s, status))
            .collect(),
        rows_created,
    })
}

impl Locked<'_> {
    /// Moves the stock in one statement: the rows' quantities, a movement each, and the
    /// products' totals, sales counters and stock sequences (their rows locked in id order
    /// first: two orders at different stores touching the same products in another order must
    /// not deadlock).
    pub async fn apply(self, tx: &mut PgConnection, context: &Context) -> Result<Applied> {
        let columns = &self.columns;
        let totals = product_totals(self.changes);
        let kinds: Vec<&str> = self.changes.iter().map(|c| c.kind.as_str()).collect();
        let ids: Vec<ProductId> = totals.iter().map(|t| t.0).collect();
        let product_deltas: Vec<i32> = totals.iter().map(|t| t.1).collect();
        let sold: Vec<i32> = totals.iter().map(|t| t.2).collect();
        // One round trip instead of four, because each statement while the product rows are
        // locked makes every other sale of those products wait longer. The sub-statements
        // share one snapshot and touch different tables; the stock rows are already locked,
        // and the product rows are only updated through `locked`, so they are locked in its
        // order (a row updated meanwhile by a transaction that committed is re-read at its
        // newest version, as READ COMMITTED does for any UPDATE).
        //
        // `FOR NO KEY UPDATE`, not `FOR UPDATE`: an order's sales rows reference its products
        // (`product_sales`), so placing it holds a key-share lock on each product's row until
        // the commit. Two orders for one product at two stores would each hold that share
        // and wait for the other's to go before `FOR UPDATE` were granted: a deadlock. The
        // weaker lock still makes stock changes of a product wait for one another.
        //
        // One row per stock row moved, with its product's new figures. Every row's product is
        // among those moved: a row changes by a delta other than 0 (the domain refuses 0), and
        // `product_totals` keeps every such product.
        let moved: Vec<MovedRow> = sqlx::query_as(
            "WITH c AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[]) AS c(p, s, d, k)),
                  moved AS (
                      INSERT INTO inventory_movements
                          (product_id, store_id, delta, kind, reason, order_id, transfer_id, actor_id)
                      SELECT p, s, d, k, $5, $6, $7, $8 FROM c),
                  rows AS (
                      UPDATE inventory i SET quantity = i.quantity + c.d, updated_at = now()
                      FROM c WHERE i.product_id = c.p AND i.store_id = c.s
                      RETURNING i.product_id, i.store_id, i.status, i.quantity, i.reorder_level,
                                i.updated_at),
                  locked AS MATERIALIZED (
                      SELECT id FROM products WHERE id = ANY($9) ORDER BY id FOR NO KEY UPDATE),
                  totals AS (
                      UPDATE products p SET quantity = p.quantity + t.d,
                             sales_count = p.sales_count + t.sold, stock_seq = p.stock_seq + 1
                      FROM unnest($9::uuid[], $10::int[], $11::int[]) AS t(id, d, sold)
                      JOIN locked l ON l.id = t.id
                      WHERE p.id = t.id
                      RETURNING p.id, p.sku, p.name, p.category_id, p.stock_seq, p.quantity,
                                p.sales_count, (p.quantity > 0) <> (p.quantity - t.d > 0) AS crossed)
             SELECT r.product_id, r.store_id, r.status, r.quantity, r.reorder_level, r.updated_at,
                    t.sku, t.name, t.category_id, t.stock_seq, t.quantity AS product_quantity,
                    t.sales_count, t.crossed
             FROM rows r JOIN totals t ON t.id = r.product_id",
        )
        .bind(&columns.products)
        .bind(&columns.stores)
        .bind(&columns.deltas)
        .bind(&kinds)
        .bind(&context.reason)
        .bind(context.order_id)
        .bind(context.transfer_id)
        .bind(context.actor_id)
        .bind(&ids)
        .bind(&product_deltas)
        .bind(&sold)
        .fetch_all(&mut *tx)
        .await?;
        let rows_changed_status = self.rows_created
            || moved.iter().any(|row| {
                self.before
                    .iter()
                    .find(|(p, s, _)| *p == row.product_id && *s == row.store_id)
                    .is_none_or(|(_, _, before)| *before != row.status)
            });
        let crossed = moved.iter().any(|row| row.crossed);
        // A product moved in two stores (a transfer) comes once per row.
        let mut products: Vec<StockIdentity> = Vec::with_capacity(moved.len());
        for row in &moved {
            if !products.iter().any(|p| p.id == row.product_id) {
                products.push(StockIdentity {
                    id: row.product_id,
                    sku: row.sku.clone(),
                    category_id: row.category_id,
                    stock_seq: row.stock_seq,
                    quantity: row.product_quantity,
                    sales_count: row.sales_count,
                });
            }
        }
        let records: Vec<StockRecord> = moved
            .into_iter()
            .map(|row| {
                Ok(StockRecord {
                    product_id: row.product_id,
                    store_id: row.store_id,
                    status: row.status.parse()?,
                    sku: row.sku,
                    name: row.name,
                    quantity: row.quantity,
                    reorder_level: row.reorder_level,
                    updated_at: row.updated_at,
                    stock_seq: row.stock_seq,
                })
            })
            .collect::<Result<_>>()?;
        let rows = records.iter().map(RowFigures::from).collect();
        Ok(Applied {
            crossed_zero: crossed,
            rows_changed_status,
            figures: StockFigures { products, rows },
            records,
        })
    }
}

/// A stock row the stock statement moved, with its product's new figures.
#[derive(sqlx::FromRow)]
struct MovedRow {
    product_id: ProductId,
    store_id: StoreId,
    status: String,
    quantity: i32,
    reorder_level: i32,
    updated_at: DateTime<Utc>,
    sku: String,
    name: String,
    category_id: CategoryId,
    stock_seq: i64,
    product_quantity: i32,
    sales_count: i64,
    /// The product's chain-wide quantity went from zero to more, or back to zero.
    crossed: bool,
}

/// The changes as the parallel arrays the statements unnest.
#[derive(Debug)]
struct Columns {
    products: Vec<ProductId>,
    stores: Vec<StoreId>,
    deltas: Vec<i32>,
}

impl Columns {
    fn of(changes: &[StockChange]) -> Self {
        Self {
            products: changes.iter().map(|c| c.product_id).collect(),
            stores: changes.iter().map(|c| c.store_id).collect(),
            deltas: changes.iter().map(|c| c.delta).collect(),
        }
    }
}

/// Each product's net stock change and net units sold (a sale takes stock and adds to
/// sales; a cancellation gives both back). A product is kept even when its changes cancel
/// out (a transfer between two of its stores): its stock sequence must still move on, since
/// the cache orders each stock row's versions by it (`StockRecord::stock_seq`).
fn product_totals(changes: &[StockChange]) -> Vec<(ProductId, i32, i32)> {
    let mut totals: Vec<(ProductId, i32, i32)> = Vec::new();
    for change in changes.iter().filter(|c| c.delta != 0) {
        let sold = if change.kind.counts_as_sale() {
            -change.delta
        } else {
            0
        };
        match totals.iter_mut().find(|(p, _, _)| *p == change.product_id) {
            Some(entry) => {
                entry.1 += change.delta;
                entry.2 += sold;
            }
            None => totals.push((change.product_id, change.delta, sold)),
        }
    }
    totals
}
