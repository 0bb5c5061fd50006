//! The one way stock changes: lock the affected inventory rows (in a fixed order, so
//! concurrent changes queue instead of deadlocking), refuse any change that would go below
//! zero, apply all of them, write one movement each, and keep the products' totals and
//! sales counters right. Sales, cancellations, adjustments and transfers all go through here,
//! so the invariants (never negative; movements sum to the quantity; a product's quantity is
//! the sum over stores) are kept in one place.

use domain::inventory::MovementKind;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::ShortLine;
use crate::{Error, Result};

/// One row's change; rows are (product, store) and each appears at most once per call.
#[derive(Debug, Clone, Copy)]
pub struct StockChange {
    pub product_id: Uuid,
    pub store_id: Uuid,
    pub delta: i32,
    pub kind: MovementKind,
}

/// What the movements record besides the change itself.
#[derive(Debug, Default, Clone)]
pub struct Context {
    pub order_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub reason: Option<String>,
}

/// What a stock change did beyond the rows it changed.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    /// A product's chain-wide quantity went from zero to more, or back to zero: the lists
    /// filtered by stock changed.
    pub crossed_zero: bool,
    /// A stock row came, or changed its status (low or out of stock): the stores' figures
    /// (`dashboard`) changed. Most restocks change neither.
    pub rows_changed_status: bool,
}

/// Applies `changes` inside the caller's transaction, all rows locked at once. Fails with
/// [`Error::InsufficientStock`] naming every short line, having changed nothing.
pub async fn apply(
    tx: &mut PgConnection,
    changes: &[StockChange],
    context: &Context,
) -> Result<Applied> {
    let products: Vec<Uuid> = changes.iter().map(|c| c.product_id).collect();
    let stores: Vec<Uuid> = changes.iter().map(|c| c.store_id).collect();
    let deltas: Vec<i32> = changes.iter().map(|c| c.delta).collect();
    let kinds: Vec<&str> = changes.iter().map(|c| c.kind.as_str()).collect();

    // Rows that receive stock may not exist yet (a first delivery to a store). A sale only
    // takes from rows that exist, so it skips the statement.
    let mut rows_changed_status = false;
    if deltas.iter().any(|d| *d > 0) {
        rows_changed_status = sqlx::query(
            "INSERT INTO inventory (product_id, store_id, quantity)
             SELECT p, s, 0 FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS c(p, s, d)
             WHERE d > 0
             ON CONFLICT DO NOTHING",
        )
        .bind(&products)
        .bind(&stores)
        .bind(&deltas)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
    }
    let locked: Vec<(Uuid, Uuid, i32, String)> = sqlx::query_as(
        "SELECT i.product_id, i.store_id, i.quantity, i.status FROM inventory i
         JOIN unnest($1::uuid[], $2::uuid[]) AS c(p, s) ON i.product_id = c.p AND i.store_id = c.s
         ORDER BY i.product_id, i.store_id FOR UPDATE OF i",
    )
    .bind(&products)
    .bind(&stores)
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

    let updated: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "UPDATE inventory i SET quantity = i.quantity + c.d, updated_at = now()
         FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS c(p, s, d)
         WHERE i.product_id = c.p AND i.store_id = c.s
         RETURNING i.product_id, i.store_id, i.status",
    )
    .bind(&products)
    .bind(&stores)
    .bind(&deltas)
    .fetch_all(&mut *tx)
    .await?;
    rows_changed_status |= updated.iter().any(|(product, store, status)| {
        locked
            .iter()
            .find(|(p, s, _, _)| p == product && s == store)
            .is_none_or(|(_, _, _, before)| before != status)
    });
    sqlx::query(
        "INSERT INTO inventory_movements (product_id, store_id, delta, kind, reason, order_id, transfer_id, actor_id)
         SELECT p, s, d, k, $5, $6, $7, $8
         FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[]) AS c(p, s, d, k)",
    )
    .bind(&products)
    .bind(&stores)
    .bind(&deltas)
    .bind(&kinds)
    .bind(&context.reason)
    .bind(context.order_id)
    .bind(context.transfer_id)
    .bind(context.actor_id)
    .execute(&mut *tx)
    .await?;
    let crossed_zero = update_product_totals(tx, changes).await?;
    Ok(Applied {
        crossed_zero,
        rows_changed_status,
    })
}

/// Adds each product's net change to its total, and to its sales counter for sales and
/// cancellations, and moves its stock sequence on. Product rows are locked in id order
/// first: two orders at different stores touching the same products in another order must
/// not deadlock.
/// Answers whether a product's total went from zero to more or back.
async fn update_product_totals(tx: &mut PgConnection, changes: &[StockChange]) -> Result<bool> {
    // (product, net stock change, net units sold)
    let mut totals: Vec<(Uuid, i32, i32)> = Vec::new();
    for change in changes {
        // A sale takes stock (negative delta) and adds to sales; a cancellation gives both back.
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
    // A product is kept even when its changes cancel out (a transfer between two of its
    // stores): its stock sequence must still move on, since the cache orders each stock row's
    // versions by it (`StockRecord::stock_seq`).
    totals.retain(|(product, _, _)| {
        changes
            .iter()
            .any(|c| c.product_id == *product && c.delta != 0)
    });
    if totals.is_empty() {
        return Ok(false);
    }
    let ids: Vec<Uuid> = totals.iter().map(|t| t.0).collect();
    let deltas: Vec<i32> = totals.iter().map(|t| t.1).collect();
    let sold: Vec<i32> = totals.iter().map(|t| t.2).collect();
    sqlx::query("SELECT 1 FROM products WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    // Under the rows' locks, so the totals before and after are this change's own.
    let crossed: Vec<bool> = sqlx::query_scalar(
        "UPDATE products p SET quantity = p.quantity + c.d, sales_count = p.sales_count + c.sold,
                               stock_seq = p.stock_seq + 1
         FROM unnest($1::uuid[], $2::int[], $3::int[]) AS c(id, d, sold) WHERE p.id = c.id
         RETURNING (p.quantity > 0) <> (p.quantity - c.d > 0)",
    )
    .bind(&ids)
    .bind(&deltas)
    .bind(&sold)
    .fetch_all(&mut *tx)
    .await?;
    Ok(crossed.contains(&true))
}
