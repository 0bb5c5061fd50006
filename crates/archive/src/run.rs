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

use crate::drop::drop_month;
use crate::store::{decode, encode, sha256, Archive};
use crate::table::{ALL, ORDERS};
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
