//! The dashboard's figures for one store or for the whole chain.

use domain::ids::{ProductId, StoreId};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::order::OrderStatus;
use domain::workshop::JobStatus;
use sqlx::types::Json;
use sqlx::PgPool;

use crate::Result;

#[derive(Debug, Clone)]
pub struct DashboardStats {
    pub orders_today: i64,
    /// Minor units; cancelled orders do not count.
    pub revenue_today: i64,
    pub open_orders_by_status: Vec<(String, i64)>,
    pub workshop_queue_by_status: Vec<(String, i64)>,
    pub low_stock_count: i64,
    pub out_of_stock_count: i64,
    pub top_products: Vec<TopProduct>,
}

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopProduct {
    pub product_id: ProductId,
    pub sku: String,
    pub name: String,
    pub units_sold: i64,
    pub revenue: i64,
}

// The figures' queries, public because `ims explain` (crate `seed`) plans them too. `$1` is the day start; `{stores}` becomes
// a store filter on `$2` for a scoped dashboard and nothing for the whole chain, so each variant
// gets a plan of its own (an `$2 IS NULL OR ...` would leave a generic plan unable to use the
// store indexes).
// From the quarter-hour sums of `order_sales` (migration 0006), kept by the orders' triggers.
pub const TODAY: &str = "SELECT coalesce(sum(orders), 0)::bigint, coalesce(sum(revenue), 0)::bigint
    FROM order_sales WHERE slot >= $1 AND slot < $1 + interval '1 day' {stores}";
// From the counts kept by the orders' trigger (migration 0007), not from the orders.
pub const OPEN_ORDERS: &str = "SELECT status, sum(n)::bigint FROM order_status_counts
    WHERE $1::timestamptz IS NOT NULL {stores}
    GROUP BY status";
// From the counts kept by the jobs' trigger (migration 0015), not from the jobs.
pub const QUEUE: &str = "SELECT status, sum(n)::bigint FROM workshop_queue_counts
    WHERE $1::timestamptz IS NOT NULL {stores}
    GROUP BY status";
// From the counts kept by inventory's trigger (migration 0005), not from inventory's rows.
pub const LOW_STOCK: &str =
    "SELECT coalesce(sum(n) FILTER (WHERE status = 'low_stock'), 0)::bigint,
        coalesce(sum(n) FILTER (WHERE status = 'out_of_stock'), 0)::bigint
    FROM inventory_status_counts WHERE $1::timestamptz IS NOT NULL {stores}";
// From the running totals of `product_sales_totals` (migration 0011) when their window is the
// one asked for (`$1` 30 days back), else from the quarter-hour sums of `product_sales`
// (migration 0003); both kept by the orders' own triggers. The one not asked for is skipped
// by its one-time filter. The product's current sku and name.
pub const TOP_PRODUCTS: &str = "WITH w AS (
        SELECT coalesce((SELECT start = $1 - interval '30 days' FROM product_sales_window), false)
            AS kept),
    top AS (
        (SELECT product_id, sum(units)::bigint AS units_sold, sum(revenue)::bigint AS revenue
        FROM product_sales_totals
        WHERE (SELECT kept FROM w) {stores}
        GROUP BY product_id HAVING sum(units) > 0
        ORDER BY units_sold DESC, product_id LIMIT 10)
        UNION ALL
        (SELECT product_id, sum(units)::bigint AS units_sold, sum(revenue)::bigint AS revenue
        FROM product_sales
        WHERE NOT (SELECT kept FROM w)
            AND slot >= $1 - interval '30 days' AND slot < $1 + interval '1 day' {stores}
        GROUP BY product_id HAVING sum(units) > 0
        ORDER BY units_sold DESC, product_id LIMIT 10))
    SELECT t.product_id, p.sku, p.name, t.units_sold, t.revenue
    FROM top t JOIN products p ON p.id = t.product_id
    ORDER BY t.units_sold DESC, t.product_id";

/// Every figure of one store's dashboard and their version (the sum of the store's
/// `dashboard_changes`, migration 0011), in one statement so that all are of one snapshot:
/// `$1` is the day start, `$2` the store. The top products come from the running totals
/// (ten entries of their index) when their window is the one asked for, as in
/// [`TOP_PRODUCTS`].
pub const STORE_FIGURES: &str = "WITH w AS (
        SELECT coalesce((SELECT start = $1 - interval '30 days' FROM product_sales_window), false)
            AS kept),
    top AS (
        (SELECT product_id, units AS units_sold, revenue
        FROM product_sales_totals
        WHERE (SELECT kept FROM w) AND store_id = $2 AND units > 0
        ORDER BY units DESC, product_id LIMIT 10)
        UNION ALL
        (SELECT product_id, sum(units)::bigint, sum(revenue)::bigint
        FROM product_sales
        WHERE NOT (SELECT kept FROM w) AND store_id = $2
            AND slot >= $1 - interval '30 days' AND slot < $1 + interval '1 day'
        GROUP BY product_id HAVING sum(units) > 0
        ORDER BY 2 DESC, product_id LIMIT 10)),
    today AS (
        SELECT coalesce(sum(orders), 0)::bigint AS orders, coalesce(sum(revenue), 0)::bigint AS revenue
        FROM order_sales WHERE store_id = $2 AND slot >= $1 AND slot < $1 + interval '1 day'),
    stock AS (
        SELECT coalesce(sum(n) FILTER (WHERE status = 'low_stock'), 0)::bigint AS low,
            coalesce(sum(n) FILTER (WHERE status = 'out_of_stock'), 0)::bigint AS out
        FROM inventory_status_counts WHERE store_id = $2)
    SELECT
        (SELECT coalesce(sum(n), 0)::bigint FROM dashboard_changes WHERE store_id = $2) AS seq,
        today.orders, today.revenue,
        (SELECT coalesce(jsonb_object_agg(status, n), '{}') FROM (
            SELECT status, sum(n)::bigint AS n FROM order_status_counts
            WHERE store_id = $2 GROUP BY status) o) AS open_orders,
        (SELECT coalesce(jsonb_object_agg(status, n), '{}') FROM (
            SELECT status, sum(n)::bigint AS n FROM workshop_queue_counts
            WHERE store_id = $2 GROUP BY status) j) AS queue,
        stock.low, stock.out,
        (SELECT coalesce(jsonb_agg(jsonb_build_object('productId', t.product_id, 'sku', p.sku,
                'name', p.name, 'unitsSold', t.units_sold, 'revenue', t.revenue)
                ORDER BY t.units_sold DESC, t.product_id), '[]')
            FROM top t JOIN products p ON p.id = t.product_id) AS top_products
    FROM today, stock";

/// One store's figures and their version: a higher `seq` means newer figures, an equal one
/// the same figures (migration 0011).
#[derive(Debug, Clone)]
pub struct StoreFigures {
    pub seq: i64,
    pub stats: DashboardStats,
}

/// The open orders' statuses, every one reported (0 where no order has it).
fn open_order_statuses() -> impl Iterator<Item = &'static str> {
    OrderStatus::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
}

/// The statuses of jobs still in the queue, every one reported.
fn open_job_statuses() -> impl Iterator<Item = &'static str> {
    JobStatus::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| s.as_str())
}

/// Each of `statuses` with its count in `counted`, 0 where it has none.
fn every_status(
    statuses: impl Iterator<Item = &'static str>,
    counted: &[(String, i64)],
) -> Vec<(String, i64)> {
    statuses
        .map(|status| {
            let count = counted
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            (status.to_owned(), count)
        })
        .collect()
}

/// One store's figures ([`STORE_FIGURES`]), "today" starting at `day_start`: one statement.
#[tracing::instrument(skip_all)]
pub async fn store_figures(
    pool: &PgPool,
    store: StoreId,
    day_start: DateTime<Utc>,
) -> Result<StoreFigures> {
    type Row = (
        i64,
        i64,
        i64,
        Json<BTreeMap<String, i64>>,
        Json<BTreeMap<String, i64>>,
        i64,
        i64,
        Json<Vec<TopProduct>>,
    );
    crate::monitoring::timed("dashboard.store_figures", async move {
        let (seq, orders_today, revenue_today, open, queue, low, out, top): Row =
            sqlx::query_as(STORE_FIGURES)
                .bind(day_start)
                .bind(store)
                .fetch_one(pool)
                .await?;
        let queue = open_job_statuses()
            .map(|status| (status.to_owned(), queue.get(status).copied().unwrap_or(0)))
            .collect();
        Ok(StoreFigures {
            seq,
            stats: DashboardStats {
                orders_today,
                revenue_today,
                open_orders_by_status: open_order_statuses()
                    .map(|status| (status.to_owned(), open.get(status).copied().unwrap_or(0)))
                    .collect(),
                workshop_queue_by_status: queue,
                low_stock_count: low,
                out_of_stock_count: out,
                top_products: top.0,
            },
        })
    })
    .await
}

/// Moves the top products' running totals to the 30 days before `day_start` (migration
/// 0011); false if they already were there. Called by the service's upkeep every minute, so
/// the totals follow the business day within a minute of its start (meanwhile the
/// dashboard sums the quarter hours, exactly).
pub async fn set_product_sales_window(pool: &PgPool, day_start: DateTime<Utc>) -> Result<bool> {
    let moved: bool =
        sqlx::query_scalar("SELECT set_product_sales_window($1 - interval '30 days')")
            .bind(day_start)
            .fetch_one(pool)
            .await?;
    Ok(moved)
}

/// Folds the stores' `dashboard_changes` (migration 0011) into one row each, as
/// [`compact_inventory_status_counts`] folds the stock rows' counts: the sums, and so the
/// figures' versions, stay as they were.
pub async fn compact_dashboard_changes(pool: &PgPool) -> Result<u64> {
    let folded = sqlx::query(
        "WITH gone AS (DELETE FROM dashboard_changes RETURNING store_id, n)
         INSERT INTO dashboard_changes (store_id, n)
         SELECT store_id, sum(n) FROM gone GROUP BY store_id",
    )
    .execute(pool)
    .await?;
    Ok(folded.rows_affected())
}

/// Folds the four tables of appended counts that one store's figures sum
/// ([`STORE_FIGURES`]), then vacuums them. Every write of a store now reads its figures
/// after its commit, so what a read sums must stay small: a busy store appends thousands of
/// rows an hour, and the rows a fold deletes stay in the index until a vacuum (the
/// benchmark's busiest store summed 4,900 rows, 2.5 ms, an hour after a fold). The service
/// calls this every few seconds; a vacuum the database user may not run is skipped with a
/// warning from PostgreSQL, and autovacuum does it later.
pub async fn compact_store_counts(pool: &PgPool) -> Result<u64> {
    let folded = compact_dashboard_changes(pool).await?
        + compact_order_status_counts(pool).await?
        + compact_inventory_status_counts(pool).await?
        + compact_workshop_queue_counts(pool).await?;
    sqlx::raw_sql(
        "VACUUM dashboard_changes, order_status_counts, inventory_status_counts, \
         workshop_queue_counts",
    )
    .execute(pool)
    .await?;
    Ok(folded)
}

/// Forgets sales older than any dashboard window (hourly, from the service's upkeep).
pub async fn purge_product_sales(pool: &PgPool) -> Result<u64> {
    let done = sqlx::query("DELETE FROM product_sales WHERE slot < now() - interval '32 days'")
        .execute(pool)
        .await?;
    let orders = sqlx::query("DELETE FROM order_sales WHERE slot < now() - interval '32 days'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected() + orders.rows_affected())
}

/// Folds the low- and out-of-stock rows appended since the last time into one per store and
/// status (migration 0005), in one statement: rows appended meanwhile by transactions not yet
/// committed are not seen, so they are neither deleted nor summed, and stay for the next
/// time. Two instances folding at once: the second finds the rows deleted and adds nothing.
pub async fn compact_inventory_status_counts(pool: &PgPool) -> Result<u64> {
    fold_counts(pool, "inventory_status_counts").await
}

/// Folds the open orders' counts (migration 0007) as
/// [`compact_inventory_status_counts`] folds the stock rows'.
pub async fn compact_order_status_counts(pool: &PgPool) -> Result<u64> {
    fold_counts(pool, "order_status_counts").await
}

/// Folds the workshop queue's counts (migration 0015) as
/// [`compact_inventory_status_counts`] folds the stock rows'.
pub async fn compact_workshop_queue_counts(pool: &PgPool) -> Result<u64> {
    fold_counts(pool, "workshop_queue_counts").await
}

/// One fold of a `(store_id, status, n)` table of appended counts; `table` is one of the
/// two names above, never input.
async fn fold_counts(pool: &PgPool, table: &'static str) -> Result<u64> {
    let folded = sqlx::query(&format!(
        "WITH gone AS (DELETE FROM {table} RETURNING store_id, status, n)
         INSERT INTO {table} (store_id, status, n)
         SELECT store_id, status, sum(n) FROM gone GROUP BY store_id, status HAVING sum(n) <> 0"
    ))
    .execute(pool)
    .await?;
    Ok(folded.rows_affected())
}

/// One of the queries above, for the whole chain or for the stores in `$2`. Every variant
/// takes both parameters (a statement must use each one it is given): the chain-wide one
/// only checks `$2` once, as a constant.
pub fn scoped(template: &str, stores: bool) -> String {
    template.replace(
        "{stores}",
        if stores {
            "AND store_id = ANY($2)"
        } else {
            "AND $2::uuid[] IS NOT NULL"
        },
    )
}

/// Figures for `stores` (`None`: the whole chain). "Today" starts at `day_start`.
#[tracing::instrument(skip_all)]
pub async fn dashboard_stats(
    pool: &PgPool,
    stores: Option<&[StoreId]>,
    day_start: DateTime<Utc>,
) -> Result<DashboardStats> {
    crate::monitoring::timed("dashboard.stats", async move {
        let scope = stores.is_some();
        let stores: Vec<StoreId> = stores.map(<[StoreId]>::to_vec).unwrap_or_default();
        let (orders_today, revenue_today): (i64, i64) = sqlx::query_as(&scoped(TODAY, scope))
            .bind(day_start)
            .bind(&stores)
            .fetch_one(pool)
            .await?;
        let counted: Vec<(String, i64)> = sqlx::query_as(&scoped(OPEN_ORDERS, scope))
            .bind(day_start)
            .bind(&stores)
            .fetch_all(pool)
            .await?;
        let open_orders_by_status = every_status(open_order_statuses(), &counted);
        let queued: Vec<(String, i64)> = sqlx::query_as(&scoped(QUEUE, scope))
            .bind(day_start)
            .bind(&stores)
            .fetch_all(pool)
            .await?;
        let workshop_queue_by_status = every_status(open_job_statuses(), &queued);
        let (low_stock_count, out_of_stock_count): (i64, i64) =
            sqlx::query_as(&scoped(LOW_STOCK, scope))
                .bind(day_start)
                .bind(&stores)
                .fetch_one(pool)
                .await?;
        let top_products: Vec<TopProduct> = sqlx::query_as(&scoped(TOP_PRODUCTS, scope))
            .bind(day_start)
            .bind(&stores)
            .fetch_all(pool)
            .await?;
        Ok(DashboardStats {
            orders_today,
            revenue_today,
            open_orders_by_status,
            workshop_queue_by_status,
            low_stock_count,
            out_of_stock_count,
            top_products,
        })
    })
    .await
}
