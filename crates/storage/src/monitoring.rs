//! What the database tells operators: index against sequential scans per table, the buffer
//! hit ratio, WAL generated and replication lag per standby (what shows whether the indexes,
//! memory and standbys keep up), and the timing of named queries. Read on an interval by the metrics refresher, never per scrape.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sqlx::PgPool;

use crate::Result;

/// Index and sequential scans of one table (monthly order partitions are summed as `orders`).
#[derive(Debug, Clone, PartialEq)]
pub struct TableScans {
    pub table: String,
    pub index_scans: f64,
    pub seq_scans: f64,
}

pub async fn table_scans(pool: &PgPool) -> Result<Vec<TableScans>> {
    let rows: Vec<(String, f64, f64)> = sqlx::query_as(
        "SELECT CASE WHEN relname ~ '^orders_y[0-9]{4}m[0-9]{2}$' THEN 'orders' ELSE relname END,
                sum(coalesce(idx_scan, 0))::float8, sum(coalesce(seq_scan, 0))::float8
         FROM pg_stat_user_tables GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(table, index_scans, seq_scans)| TableScans {
            table,
            index_scans,
            seq_scans,
        })
        .collect())
}

/// Share of block reads served from shared buffers in this database (1 when nothing was read).
pub async fn buffer_hit_ratio(pool: &PgPool) -> Result<f64> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(blks_hit::float8 / nullif(blks_hit + blks_read, 0), 1)
         FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

/// Bytes of WAL written since the cluster was created (the replayed position on a standby):
/// a counter whose rate is the write volume a standby must replay.
pub async fn wal_bytes(pool: &PgPool) -> Result<f64> {
    Ok(sqlx::query_scalar(
        "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END
                 - '0/0'::pg_lsn)::float8",
    )
    .fetch_one(pool)
    .await?)
}

/// One standby's distance behind the primary.
#[derive(Debug, Clone, PartialEq)]
pub struct StandbyLag {
    pub standby: String,
    pub seconds: f64,
    pub bytes: f64,
}

/// Lag of every standby streaming from this server (none without replicas).
pub async fn replication_lag(pool: &PgPool) -> Result<Vec<StandbyLag>> {
    let rows: Vec<(String, f64, f64)> = sqlx::query_as(
        "SELECT coalesce(nullif(application_name, ''), client_addr::text, pid::text),
                coalesce(extract(epoch FROM replay_lag), 0)::float8,
                coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8
         FROM pg_stat_replication",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(standby, seconds, bytes)| StandbyLag {
            standby,
            seconds,
            bytes,
        })
        .collect())
}

/// Repository operations under way (running or waiting for a connection).
static IN_PROGRESS: AtomicUsize = AtomicUsize::new(0);

/// How many timed repository operations are under way; beyond the connections in use, they
/// are waiting for one (sqlx does not expose its pool's wait queue).
pub fn operations_in_progress() -> usize {
    IN_PROGRESS.load(Ordering::Relaxed)
}

/// Counts an operation as under way until dropped (also when its request is cancelled).
struct InProgress;

impl InProgress {
    fn start() -> Self {
        IN_PROGRESS.fetch_add(1, Ordering::Relaxed);
        InProgress
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        IN_PROGRESS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs a repository operation, recording its duration as `ims_db_query_duration_seconds`
/// under `name` (whether it succeeded or not).
pub(crate) async fn timed<T>(name: &'static str, operation: impl Future<Output = T>) -> T {
    let _in_progress = InProgress::start();
    let started = Instant::now();
    let result = operation.await;
    metrics::histogram!("ims_db_query_duration_seconds", "query" => name)
        .record(started.elapsed().as_secs_f64());
    result
}
