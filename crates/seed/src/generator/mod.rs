//! `ims seed --scale S --seed N`: a realistic optical chain, generated in Rust and bulk-loaded
//! with COPY. Deterministic: the same seed, scale and `now` give the same rows, ids included
//! (only the staff password hash differs, argon2 salts are random). The small demo data set
//! is `crate::demo`, not this.
//!
//! Everything happens in one transaction, so a failure leaves the database as it was: the
//! generated tables are truncated (COPY then writes rows frozen, no vacuum needed), the big
//! tables' keys, indexes and foreign keys come off, rows stream in while the next ones are
//! generated on another thread, and the exact definitions read from the catalog go back on.
//!
//! # Layout
//! - `counts`: rows per table for a scale.
//! - `world`: plans the whole chain in memory and writes it table by table, using
//!   `stores` (stores, staff), `categories`, `products` (with `eyewear` and `lenses`),
//!   `customers` (with `names`), `inventory`, `orders` and `order_rows`, `prescriptions`
//!   (with `eyes`) and `workshop`.
//! - `rng`, `time`, `json`: seeded streams and skewed choices, dates and their text forms,
//!   hand-written JSON.
//! - `copy` and `load`: the two ends of the COPY pipeline; `schema`: the DDL around the load;
//!   `progress`: bars and the report.

mod categories;
mod copy;
mod counts;
mod customers;
mod eyes;
mod eyewear;
mod inventory;
mod json;
mod lenses;
mod load;
mod names;
mod order_rows;
mod orders;
mod prescriptions;
mod products;
mod progress;
mod rng;
mod schema;
mod stores;
mod time;
mod workshop;
mod world;

use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::mpsc;

pub use counts::Counts;
pub use progress::Report;

use progress::Progress;
use world::World;

/// The password of every generated account (staff `staff0001`…, admins `admin01`…).
pub const STAFF_PASSWORD: &str = "staff-password-1";

/// The largest scale accepted: scale 20 already plans 20 million orders in memory.
pub const MAX_SCALE: f64 = 20.0;

#[derive(Debug, Clone)]
pub struct Options {
    /// Multiplies every count of [`Counts::SCALE_1`].
    pub scale: f64,
    pub seed: u64,
    /// Wipe existing business data (and user accounts) instead of refusing.
    pub force: bool,
    /// The end of the generated history; dates and statuses are relative to it.
    pub now: DateTime<Utc>,
    /// Rows per table instead of [`Counts::for_scale`] of `scale` (the demo data set).
    pub counts: Option<Counts>,
    /// Days of history before `now` instead of 24 months: a small chain's few hundred orders
    /// then fall in recent weeks, in every status.
    pub history_days: Option<u32>,
    /// Months of history before `now` (default 24): 36 spreads the same orders over three
    /// years, so that `ims archive` with its default of 24 months has a year to archive.
    pub history_months: Option<u32>,
}

impl Options {
    /// History up to the start of the current hour, so runs within the hour match exactly.
    pub fn new(scale: f64, seed: u64) -> Self {
        let now = Utc::now();
        Self {
            scale,
            seed,
            force: false,
            now: now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now),
            counts: None,
            history_days: None,
            history_months: None,
        }
    }

    /// The first day (days since the Unix epoch) of the history ending at `now` (Unix ms).
    fn first_day(&self, now: i64) -> i64 {
        let today = now.div_euclid(time::DAY);
        match self.history_days {
            Some(days) => today - i64::from(days),
            None => time::add_months(today, -i64::from(self.history_months.unwrap_or(24))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub counts: Counts,
    /// Rows loaded per table and time per phase.
    pub report: Report,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("--scale must be above 0 and at most {MAX_SCALE}, not {0}")]
    Scale(f64),
    #[error(
        "the database already has data ({0}); pass --force to wipe all business data first \
         (stores, catalogue, customers, orders, stock, prescriptions, jobs and user accounts)"
    )]
    NotEmpty(String),
    #[error("the row generator failed: {0}")]
    Generator(String),
    #[error(transparent)]
    Storage(#[from] storage::Error),
}

impl From<sqlx::Error> for GenerateError {
    fn from(e: sqlx::Error) -> Self {
        GenerateError::Storage(e.into())
    }
}

/// Generates the chain of `options` into the database behind `pool`.
pub async fn generate(pool: &PgPool, options: &Options) -> Result<Summary, GenerateError> {
    if !(options.scale > 0.0 && options.scale <= MAX_SCALE) {
        return Err(GenerateError::Scale(options.scale));
    }
    let started = Instant::now();
    let counts = options
        .counts
        .unwrap_or_else(|| Counts::for_scale(options.scale));
    let progress = Progress::new();
    let mut report = Report::default();
    // A connection of its own, without sqlx's slow-statement warnings: every statement here
    // is slow on purpose, and the report has the times.
    let connect = (*pool.connect_options())
        .clone()
        .disable_statement_logging();
    let mut conn = PgConnection::connect_with(&connect).await?;
    let mut result = load(&mut conn, options, counts, &progress, &mut report).await;
    if result.is_ok() {
        let analyzing = progress.start("analyze", 0);
        result = analyze(&mut conn).await;
        analyzing.finish(&mut report);
    }
    let _ = conn.close().await;
    result?;
    let elapsed = started.elapsed();
    tracing::info!(
        scale = options.scale,
        seed = options.seed,
        orders = report.rows("orders"),
        elapsed_secs = elapsed.as_secs_f64(),
        "generated data loaded"
    );
    Ok(Summary {
        counts,
        report,
        elapsed,
    })
}

/// Everything up to the commit, in one transaction.
async fn load(
    conn: &mut PgConnection,
    options: &Options,
    counts: Counts,
    progress: &Progress,
    report: &mut Report,
) -> Result<(), GenerateError> {
    let now = options.now.timestamp_millis();
    let first_day = options.first_day(now);
    let preparing = progress.start("preparing", 0);
    let mut tx = conn.begin().await?;
    for setting in [
        // One statement loads a million rows; the pool's cap is for requests.
        "SET LOCAL statement_timeout = 0",
        "SET LOCAL synchronous_commit = off",
        "SET LOCAL maintenance_work_mem = '1GB'",
        // The orders' sales trigger waits: the figures are summed once after the load.
        "SET LOCAL ims.bulk_load = 'on'",
        // Serializes with other seeders (the demo loader takes the same lock).
        "SELECT pg_advisory_xact_lock(4242001)",
    ] {
        schema::execute(&mut tx, setting).await?;
    }
    let existing = schema::existing_data(&mut tx).await?;
    if !existing.is_empty() && !options.force {
        return Err(GenerateError::NotEmpty(existing.join(", ")));
    }

    // Plan and write rows on a thread of their own while this task feeds COPY.
    let (sender, mut receiver) = mpsc::channel(4);
    let planning = progress.start("planning", 0);
    let seed = options.seed;
    let generator = tokio::task::spawn_blocking(move || {
        let world = World::plan(seed, counts, now, first_day);
        let planned = planning.stop();
        // One hash for every generated account: argon2 is slow on purpose.
        let hash = domain::user::Password::parse(STAFF_PASSWORD)
            .map(|p| p.hash())
            .unwrap_or_default();
        let mut sink = copy::Sink::new(sender);
        // A send fails only when the loader gave up; its error is the one reported.
        let _ = world.emit(&mut sink, &hash);
        planned
    });

    schema::truncate(&mut tx, options.force).await?;
    schema::ensure_partitions(&mut tx, first_month(first_day)).await?;
    let saved = schema::drop_keys(&mut tx).await?;
    preparing.finish(report);

    let loaded = load::consume(&mut tx, &mut receiver, progress, report).await;
    drop(receiver);
    let planned = generator
        .await
        .map_err(|e| GenerateError::Generator(format!("it panicked: {e}")))?;
    loaded?;
    report.phases.insert(1, planned);

    restore(
        &mut tx,
        "keys and indexes",
        &saved.indexes,
        progress,
        report,
    )
    .await?;
    restore(
        &mut tx,
        "foreign keys",
        &saved.foreign_keys,
        progress,
        report,
    )
    .await?;
    schema::advance_sequences(&mut tx, counts.orders, counts.jobs).await?;
    let summing = progress.start("sales figures", 0);
    schema::fill_product_sales(&mut tx, now).await?;
    summing.finish(report);
    let committing = progress.start("commit", 0);
    tx.commit().await?;
    committing.finish(report);
    Ok(())
}

/// Fresh planner statistics, after the commit.
async fn analyze(conn: &mut PgConnection) -> Result<(), GenerateError> {
    let mut tx = conn.begin().await?;
    schema::execute(&mut tx, "SET LOCAL statement_timeout = 0").await?;
    schema::analyze(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

async fn restore(
    conn: &mut PgConnection,
    label: &str,
    statements: &[String],
    progress: &Progress,
    report: &mut Report,
) -> Result<(), GenerateError> {
    let phase = progress.start(label, statements.len() as u64);
    for statement in statements {
        phase.message(statement.chars().take(60).collect());
        let took = Instant::now();
        schema::execute(conn, statement).await?;
        tracing::debug!(statement, secs = took.elapsed().as_secs_f64(), "restored");
        phase.advance(1);
    }
    phase.finish(report);
    Ok(())
}

/// The first month with orders: the month of `first_day` (days since the Unix epoch).
fn first_month(first_day: i64) -> NaiveDate {
    let (y, m, _) = time::civil(time::month_start(first_day * time::DAY));
    NaiveDate::from_ymd_opt(y as i32, m, 1).unwrap_or(NaiveDate::MIN)
}
