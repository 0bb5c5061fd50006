//! Archival of old months (issue 16): a month of orders, with the month's inventory movements,
//! workshop job history and audit rows, goes to Parquet files in an object store, is checked,
//! and only then leaves PostgreSQL; archived orders stay readable; a month can be restored.
//!
//! # Layout
//! - [`store`]: the object store named by `IMS_ARCHIVE_URL` (a directory or S3), Parquet in
//!   and out, SHA-256 of objects.
//! - [`table`]: a month of one table as columns, to and from PostgreSQL and Arrow.
//! - [`run`]: archiving months (the policy, the steps and their recovery).
//! - [`restore`]: putting a month back into PostgreSQL, checked row for row.
//! - [`manifest`]: the manifest tables (`archived_months`, `archived_objects`), listing and
//!   verifying.
//! - [`read`]: archived orders by id, with a cache of decoded months.
//!
//! SQL lives here rather than in `storage` because it is inseparable from the files: the same
//! column list writes the file, checks it and inserts it back (see [`table`]).

mod drop;
pub mod manifest;
pub mod read;
pub mod restore;
pub mod run;
pub mod store;
pub mod table;

pub use read::ArchivedOrders;
pub use store::Archive;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("IMS_ARCHIVE_URL: {0}")]
    Url(String),
    /// An object does not hold what the manifest says (count, sum, hash, schema).
    #[error("archive check failed: {0}")]
    Corrupt(String),
    /// The request does not fit the month's state (restore of a month not archived, ...).
    #[error("{0}")]
    State(String),
    /// Another run or restore holds the archive's lock (another instance's daily run).
    #[error("another archive run or restore is in progress")]
    Busy,
}

/// Holds the archive's advisory lock while it lives: one run or restore at a time, across
/// every instance and `ims archive` command. A dedicated connection, closed on drop, so the
/// lock goes with it however the holder ends (a killed process included).
pub(crate) struct RunLock(#[allow(dead_code)] sqlx::PgConnection);

impl RunLock {
    pub(crate) async fn take(pool: &sqlx::PgPool) -> Result<RunLock, Error> {
        let mut conn = pool.acquire().await?.detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(4242016)")
            .fetch_one(&mut conn)
            .await?;
        if got {
            Ok(RunLock(conn))
        } else {
            Err(Error::Busy)
        }
    }
}

impl From<Error> for storage::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Database(e) => e.into(),
            other => storage::Error::InvalidState(other.to_string()),
        }
    }
}

/// The first day of `at`'s month.
pub fn month_of(at: DateTime<Utc>) -> NaiveDate {
    NaiveDate::from_ymd_opt(at.year(), at.month(), 1).unwrap_or(NaiveDate::MIN)
}

/// `[start, end)` of a month, in UTC (the partitions' bounds: `ensure_order_partitions`
/// casts the month's first day to timestamptz in the server's zone, which the service keeps
/// at UTC).
pub fn month_bounds(month: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc.from_utc_datetime(&month.and_time(chrono::NaiveTime::MIN));
    let end = start
        .checked_add_months(Months::new(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    (start, end)
}

/// Parses `YYYY-MM` (the commands' MONTH).
pub fn parse_month(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a month (YYYY-MM)"))
}

/// `YYYY-MM` of a month.
pub fn month_name(month: NaiveDate) -> String {
    month.format("%Y-%m").to_string()
}

/// The crash test's hook: with `IMS_ARCHIVE_FAIL_AT=<step>` in the environment the process
/// aborts at that step, as a kill would stop it (no destructor, no rollback message). The
/// tests of `crates/ims/tests/it/archive.rs` use it to stop `ims archive` between each pair of
/// steps; unset (always, in production) it does nothing.
pub(crate) fn fail_point(step: &str) {
    if std::env::var("IMS_ARCHIVE_FAIL_AT").is_ok_and(|at| at == step) {
        eprintln!("ims archive: IMS_ARCHIVE_FAIL_AT={step}: aborting");
        std::process::abort();
    }
}
