//! Archiving months: which months the policy takes, and the steps of one month.
//!
//! One month, in this order (the manifest's states are in migration 0012):
//! 1. A transaction locks the month's partition against writes (`SHARE`) and reads the
//!    month's rows of every archived table; it stays open until step 5.
//! 2. The manifest row is set to `writing` (committed on its own).
//! 3. Each table's rows go to a Parquet object, which is read back and compared value for
//!    value with the rows (so with their count, sum and every column), its SHA-256 noted.
//! 4. The manifest row is set to `written` with the objects (committed on its own).
//! 5. In the transaction of step 1: the orders' keys go to `archived_orders`, the month's
//!    movements, job history and audit rows are deleted (each stock row's movements folded
//!    into one opening balance), the partition is detached and dropped, and the manifest row
//!    set to `archived`. One commit.
//!
//! A process killed anywhere before that commit leaves every row in PostgreSQL (the
//! transaction rolls back) and the month in `writing` or `written`: the next run
//! ([`recover`]) deletes its objects and manifest row and archives it from the start. Killed
//! after it, the month is archived and nothing is left to do.

use std::time::{Duration, Instant};

use chrono::{Months, NaiveDate, Utc};
use indicatif::ProgressBar;
use sqlx::{PgConnection, PgPool};

use crate::store::{decode, encode, sha256, Archive};
use crate::table::{Spec, ALL, MOVEMENTS, ORDERS};
use crate::{fail_point, month_name, month_of, Error};

/// The reason of an inventory row's opening balance: the sum of its archived movements.
pub const OPENING: &str = "opening balance (archived months)";

/// What one archived month took.
#[derive(Debug, Clone)]
pub struct Archived {
    pub month: NaiveDate,
    /// Rows and Parquet bytes per table.
    pub tables: Vec<(&'static str, usize, usize)>,
    /// The partition's table and index bytes before it was dropped.
    pub partition_bytes: i64,
    pub elapsed: Duration,
}

/// A month the policy would archive (`--dry-run`).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub month: NaiveDate,
    pub orders: i64,
    pub partition_bytes: i64,
}

/// The partition of `month`, as `ensure_order_partitions` names it.
pub fn partition(month: NaiveDate) -> String {
    format!("orders_y{}", month.format("%Ym%m"))
}

/// The months before which the policy archives: the month `older_than` months before this
/// one (with 24 in December 2026, every month up to November 2024 is archived).
pub fn cutoff(older_than: u32) -> NaiveDate {
    month_of(Utc::now())
        .checked_sub_months(Months::new(older_than))
        .unwrap_or(NaiveDate::MIN)
}

/// Months with a partition older than `cutoff` and not restored by hand (a restored month
/// stays until someone archives it again by name), oldest first, with their size.
pub async fn candidates(pool: &PgPool, cutoff: NaiveDate) -> Result<Vec<Candidate>, Error> {
    let parts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_total_relation_size(c.oid)
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'orders'::regclass",
    )
    .fetch_all(pool)
    .await?;
    let restored: Vec<NaiveDate> =
        sqlx::query_scalar("SELECT month FROM archived_months WHERE state = 'restored'")
            .fetch_all(pool)
            .await?;
    let mut months = Vec::new();
    for (name, bytes) in parts {
        let Some(month) = name
            .strip_prefix("orders_y")
            .and_then(|rest| NaiveDate::parse_from_str(&format!("{rest}01"), "%Ym%m%d").ok())
        else {
            continue;
        };
        if month < cutoff && !restored.contains(&month) {
            let orders: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {name}"))
                .fetch_one(pool)
                .await?;
            months.push(Candidate {
                month,
                orders,
                partition_bytes: bytes,
            });
        }
    }
    months.sort_by_key(|c| c.month);
    Ok(months)
}

/// Finishes or undoes what a killed run left: a month in `writing` or `written` still has
/// all its rows in PostgreSQL, so its objects and manifest row are deleted. Returns the
/// months undone.
pub async fn recover(pool: &PgPool, archive: &Archive) -> Result<Vec<NaiveDate>, Error> {
    let stale: Vec<NaiveDate> = sqlx::query_scalar(
        "SELECT month FROM archived_months WHERE state IN ('writing', 'written') ORDER BY month",
    )
    .fetch_all(pool)
    .await?;
    for &month in &stale {
        for spec in ALL {
            archive.delete(&archive.path(spec.table, month)).await?;
        }
        sqlx::query(
            "DELETE FROM archived_months WHERE month = $1 AND state IN ('writing', 'written')",
        )
        .bind(month)
        .execute(pool)
        .await?;
        tracing::warn!(month = %month_name(month), "an interrupted archival was undone");
    }
    Ok(stale)
}

/// Archives `month` (see the module's steps); the caller holds the [`crate::RunLock`].
async fn archive_month(
    pool: &PgPool,
    archive: &Archive,
    month: NaiveDate,
    progress: &ProgressBar,
) -> Result<Archived, Error> {
    let started = Instant::now();
    let part = partition(month);
    let mut tx = pool.begin().await?;
    // A month takes longer than a request's statement; waiting long for a lock would stall
    // the orders behind ours, so a busy partition fails the run (the next one tries again).
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SET LOCAL lock_timeout = '10s'")
        .execute(&mut *tx)
        .await?;
    let partition_bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size(to_regclass($1))")
        .bind(&part)
        .fetch_optional(&mut *tx)
        .await?
        .flatten()
        .ok_or_else(|| Error::State(format!("{}: no partition {part}", month_name(month))))?;
    sqlx::query(&format!("LOCK TABLE {part} IN SHARE MODE"))
        .execute(&mut *tx)
        .await?;
    let (from, to) = partition_bounds(&mut tx, &part).await?;
    let mut data = Vec::new();
    for spec in ALL {
        data.push(spec.read_month(&mut tx, from, to).await?);
    }
    fail_point("exported");

    sqlx::query(
        "INSERT INTO archived_months (month, state) VALUES ($1, 'writing')
         ON CONFLICT (month) DO UPDATE SET state = 'writing', started_at = now(),
             updated_at = now(), orders = NULL, orders_total = NULL, archived_at = NULL",
    )
    .bind(month)
    .execute(pool)
    .await?;
    sqlx::query("DELETE FROM archived_objects WHERE month = $1")
        .bind(month)
        .execute(pool)
        .await?;
    fail_point("writing");

    let mut tables = Vec::new();
    for (spec, rows) in ALL.iter().zip(&data) {
        let path = archive.path(spec.table, month);
        let bytes = encode(spec, rows)?;
        archive.put(&path, bytes).await?;
        fail_point("object");
        // Read back what the store has, not what was sent.
        let stored = archive.get(&path).await?;
        let back = spec.from_batches(&decode(stored.clone())?)?;
        if &back != rows {
            return Err(Error::Corrupt(format!(
                "{path}: the object read back differs from the rows written"
            )));
        }
        sqlx::query(
            "INSERT INTO archived_objects (month, table_name, path, rows, checksum, sha256, bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(month)
        .bind(spec.table)
        .bind(path.to_string())
        .bind(i64::try_from(rows.rows).unwrap_or(i64::MAX))
        .bind(rows.sum(spec, spec.checksum))
        .bind(sha256(&stored))
        .bind(i64::try_from(stored.len()).unwrap_or(i64::MAX))
        .execute(pool)
        .await?;
        tables.push((spec.table, rows.rows, stored.len()));
        progress.inc(1);
    }
    let orders = &data[0];
    sqlx::query(
        "UPDATE archived_months SET state = 'written', orders = $2, orders_total = $3,
             updated_at = now() WHERE month = $1",
    )
    .bind(month)
    .bind(i64::try_from(orders.rows).unwrap_or(i64::MAX))
    .bind(orders.sum(&ORDERS, "total"))
    .execute(pool)
    .await?;
    fail_point("written");

    drop_month(&mut tx, month, (from, to), &data).await?;
    fail_point("dropped");
    tx.commit().await?;
    fail_point("archived");
    Ok(Archived {
        month,
        tables,
        partition_bytes,
        elapsed: started.elapsed(),
    })
}

/// The partition's bounds as PostgreSQL has them (`ensure_order_partitions` made them in its
/// session's time zone), so the other tables' rows are taken by the same instants.
async fn partition_bounds(
    tx: &mut PgConnection,
    part: &str,
) -> Result<(chrono::DateTime<Utc>, chrono::DateTime<Utc>), Error> {
    type Bound = Option<chrono::DateTime<Utc>>;
    let bounds: Option<(Bound, Bound)> = sqlx::query_as(
        "SELECT b[1]::timestamptz, b[2]::timestamptz FROM (
                 SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                     'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS b
                 FROM pg_class c WHERE c.oid = to_regclass($1)) x",
    )
    .bind(part)
    .fetch_optional(&mut *tx)
    .await?;
    match bounds {
        Some((Some(from), Some(to))) => Ok((from, to)),
        _ => Err(Error::State(format!(
            "{part}: not a monthly partition of orders"
        ))),
    }
}

/// Step 5, in the transaction that read the rows: keys kept, rows deleted, partition dropped.
async fn drop_month(
    tx: &mut PgConnection,
    month: NaiveDate,
    (from, to): (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
    data: &[crate::table::Columns],
) -> Result<(), Error> {
    let part = &partition(month);
    let keys = sqlx::query(&format!(
        "INSERT INTO archived_orders (id, created_at, month, customer_id, store_id, status,
             payment_status)
         SELECT id, created_at, $1, customer_id, store_id, status, payment_status FROM {part}"
    ))
    .bind(month)
    .execute(&mut *tx)
    .await?;
    expect_rows(&ORDERS, keys.rows_affected(), data[0].rows)?;
    // Dropping a partition fires no trigger: the open orders leave the dashboards' counts
    // here (migration 0007), and the stores' figures are marked changed (0011).
    sqlx::query(&format!(
        "WITH open AS (
             SELECT store_id, status, count(*) AS n FROM {part}
             WHERE status IN ('pending', 'confirmed', 'in_workshop', 'ready') GROUP BY 1, 2),
         counted AS (
             INSERT INTO order_status_counts (store_id, status, n)
             SELECT store_id, status, -n FROM open RETURNING store_id)
         INSERT INTO dashboard_changes (store_id, n) SELECT DISTINCT store_id, 1 FROM counted"
    ))
    .execute(&mut *tx)
    .await?;
    fold_movements(tx, from, to, data[1].rows).await?;
    for (spec, rows) in ALL.iter().zip(data).skip(2) {
        let deleted = sqlx::query(&format!(
            "DELETE FROM {} WHERE {t} >= $1 AND {t} < $2",
            spec.table,
            t = spec.time
        ))
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        expect_rows(spec, deleted.rows_affected(), rows.rows)?;
    }
    sqlx::query(&format!("ALTER TABLE orders DETACH PARTITION {part}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("DROP TABLE {part}"))
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query(
        "UPDATE archived_months SET state = 'archived', archived_at = now(), updated_at = now()
         WHERE month = $1 AND state = 'written'",
    )
    .bind(month)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::State(format!(
            "{}: the manifest row changed under the run",
            month_name(month)
        )));
    }
    Ok(())
}

/// Deletes the month's movements and adds their sum to each stock row's opening balance, so
/// a row's movements still add up to its quantity. The opening balance takes the smallest id
/// of what it replaces, so it sorts where the history began.
async fn fold_movements(
    tx: &mut PgConnection,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    expected: usize,
) -> Result<(), Error> {
    type Sum = (uuid::Uuid, uuid::Uuid, i64, i64, chrono::DateTime<Utc>, i64);
    let sums: Vec<Sum> = sqlx::query_as(
        "WITH gone AS (
             DELETE FROM inventory_movements
             WHERE created_at >= $1 AND created_at < $2
               AND NOT (kind = 'initial' AND reason IS NOT DISTINCT FROM $3)
             RETURNING product_id, store_id, delta, id, created_at),
         old AS (
             DELETE FROM inventory_movements
             WHERE kind = 'initial' AND reason = $3
               AND (product_id, store_id) IN (SELECT product_id, store_id FROM gone)
             RETURNING product_id, store_id, delta, id, created_at)
         SELECT product_id, store_id, sum(delta)::bigint, min(id), min(created_at),
                count(*) FILTER (WHERE NOT opening)
         FROM (SELECT *, false AS opening FROM gone UNION ALL SELECT *, true FROM old) x
         GROUP BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .bind(OPENING)
    .fetch_all(&mut *tx)
    .await?;
    let deleted: i64 = sums.iter().map(|s| s.5).sum();
    expect_rows(&MOVEMENTS, u64::try_from(deleted).unwrap_or(0), expected)?;
    insert_openings(
        tx,
        sums.into_iter().map(|s| (s.0, s.1, s.2, Some(s.3), s.4)),
    )
    .await
}

/// Inserts opening balances `(product, store, delta, id, at)`; a zero delta needs none (and
/// the table refuses one). `id` `None` takes the next id.
pub(crate) async fn insert_openings(
    tx: &mut PgConnection,
    rows: impl Iterator<
        Item = (
            uuid::Uuid,
            uuid::Uuid,
            i64,
            Option<i64>,
            chrono::DateTime<Utc>,
        ),
    >,
) -> Result<(), Error> {
    let rows: Vec<_> = rows.filter(|r| r.2 != 0).collect();
    let (with_id, without): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.3.is_some());
    for (overriding, ids, batch) in [
        ("OVERRIDING SYSTEM VALUE", "u.id", with_id),
        ("", "DEFAULT", without),
    ] {
        if batch.is_empty() {
            continue;
        }
        let products: Vec<uuid::Uuid> = batch.iter().map(|r| r.0).collect();
        let stores: Vec<uuid::Uuid> = batch.iter().map(|r| r.1).collect();
        let deltas: Vec<i32> = batch
            .iter()
            .map(|r| i32::try_from(r.2).unwrap_or(i32::MAX))
            .collect();
        let id_values: Vec<i64> = batch.iter().map(|r| r.3.unwrap_or(0)).collect();
        let ats: Vec<chrono::DateTime<Utc>> = batch.iter().map(|r| r.4).collect();
        let id_column = if ids == "DEFAULT" { "" } else { "id, " };
        let id_value = if ids == "DEFAULT" { "" } else { "u.id, " };
        sqlx::query(&format!(
            "INSERT INTO inventory_movements ({id_column}product_id, store_id, delta, kind, reason,
                 created_at) {overriding}
             SELECT {id_value}u.p, u.s, u.d, 'initial', $6, u.at
             FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::integer[], $5::timestamptz[])
                 AS u(id, p, s, d, at)"
        ))
        .bind(&id_values)
        .bind(&products)
        .bind(&stores)
        .bind(&deltas)
        .bind(&ats)
        .bind(OPENING)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

fn expect_rows(spec: &Spec, got: u64, expected: usize) -> Result<(), Error> {
    if usize::try_from(got).ok() == Some(expected) {
        Ok(())
    } else {
        Err(Error::Corrupt(format!(
            "{}: {got} rows in PostgreSQL, {expected} written (rows changed during the run)",
            spec.table
        )))
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    /// Months whose interrupted archival was undone first.
    pub recovered: Vec<NaiveDate>,
    pub archived: Vec<Archived>,
}

/// The policy: undo what a killed run left, then archive every month older than
/// `older_than` months, oldest first. `bar` shows tables done out of tables to do.
pub async fn run(
    pool: &PgPool,
    archive: &Archive,
    older_than: u32,
    bar: &ProgressBar,
) -> Result<Report, Error> {
    let _lock = crate::RunLock::take(pool).await?;
    let recovered = recover(pool, archive).await?;
    let months = candidates(pool, cutoff(older_than)).await?;
    bar.set_length((months.len() * ALL.len()) as u64);
    let mut archived = Vec::new();
    for candidate in months {
        bar.set_message(month_name(candidate.month));
        let done = archive_month(pool, archive, candidate.month, bar).await?;
        tracing::info!(
            month = %month_name(done.month),
            orders = done.tables[0].1,
            elapsed = ?done.elapsed,
            "month archived"
        );
        archived.push(done);
    }
    Ok(Report {
        recovered,
        archived,
    })
}
