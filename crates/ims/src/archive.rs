//! `ims archive run|list|verify|restore`: the archival of old months (crates/archive) from the
//! command line, with progress bars; and [`daily`], the same policy as the service runs it.

use std::time::Duration;

use ::archive::{manifest, month_name, parse_month, restore, run, Archive};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;

fn open(config: &Config) -> anyhow::Result<(storage::Db, Archive)> {
    let archive = Archive::open(&config.archive.url)?;
    let db = storage::Db::connect(&config.db);
    Ok((db, archive))
}

/// Forgets the cached bodies and histories of the orders of `months` (archived: they must now
/// say `"archived": true`; restored: they must not), on Redis and, through it, every instance.
pub async fn forget_orders(
    cache: &cache::Cache,
    pool: &storage::PgPool,
    months: &[chrono::NaiveDate],
) -> anyhow::Result<()> {
    if months.is_empty() {
        return Ok(());
    }
    let (from, to) = (
        ::archive::month_bounds(*months.iter().min().unwrap_or(&months[0])).0,
        ::archive::month_bounds(*months.iter().max().unwrap_or(&months[0])).1,
    );
    let orders: Vec<(domain::ids::OrderId, domain::ids::CustomerId)> = sqlx::query_as(
        "SELECT id, customer_id FROM archived_orders WHERE month = ANY($1)
         UNION ALL
         SELECT id, customer_id FROM orders WHERE created_at >= $2 AND created_at < $3",
    )
    .bind(months)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    for chunk in orders.chunks(500) {
        let stale: Vec<cache::keys::Key> = chunk
            .iter()
            .flat_map(|(id, customer)| {
                [
                    cache::keys::order(*id),
                    cache::keys::customer_recent_orders(*customer),
                ]
            })
            .collect();
        cache.invalidate(&stale).await;
    }
    Ok(())
}

/// The cache of `config`, to forget what a run or restore changed.
fn cache_of(config: &Config) -> anyhow::Result<cache::Cache> {
    cache::Cache::new(config.redis.clone()).map_err(|e| anyhow::anyhow!("IMS_REDIS_URL: {e}"))
}

fn bar(what: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(&format!(
        "{{spinner}} {what} {{msg}} [{{bar:30}}] {{pos}}/{{len}} files {{elapsed}}"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `ims archive run`: months older than `older_than` (default `IMS_ARCHIVE_AFTER_MONTHS`).
pub async fn run_command(
    config: &Config,
    older_than: Option<u32>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let older_than = older_than.unwrap_or(config.archive.after_months);
    if older_than == 0 {
        anyhow::bail!("--older-than (or IMS_ARCHIVE_AFTER_MONTHS) must be at least 1 month");
    }
    let (db, archive) = open(config)?;
    let pool = db.primary().clone();
    let cutoff = run::cutoff(older_than);
    if dry_run {
        let months = run::candidates(&pool, cutoff).await?;
        println!(
            "would archive {} month(s) before {}:",
            months.len(),
            month_name(cutoff)
        );
        println!("{:<8} {:>10} {:>14}", "month", "orders", "partition MB");
        for m in months {
            println!(
                "{:<8} {:>10} {:>14.1}",
                month_name(m.month),
                m.orders,
                m.partition_bytes as f64 / 1e6
            );
        }
        db.close().await;
        return Ok(());
    }
    let progress = bar("archiving");
    let report = run::run(&pool, &archive, older_than, &progress).await;
    progress.finish_and_clear();
    let report = match report {
        Ok(report) => {
            let months: Vec<_> = report.archived.iter().map(|a| a.month).collect();
            if let Err(e) = forget_orders(&cache_of(config)?, &pool, &months).await {
                eprintln!(
                    "ims: the cache may serve archived orders as live until it expires: {e:#}"
                );
            }
            report
        }
        Err(e) => {
            db.close().await;
            return Err(e.into());
        }
    };
    db.close().await;
    for month in &report.recovered {
        println!("{}: an interrupted run was undone", month_name(*month));
    }
    println!(
        "{:<8} {:>9} {:>10} {:>10} {:>8} {:>13} {:>8}",
        "month", "orders", "movements", "parquet MB", "others", "partition MB", "seconds"
    );
    for a in &report.archived {
        let bytes: usize = a.tables.iter().map(|t| t.2).sum();
        println!(
            "{:<8} {:>9} {:>10} {:>10.2} {:>8} {:>13.2} {:>8.2}",
            month_name(a.month),
            a.tables[0].1,
            a.tables[1].1,
            bytes as f64 / 1e6,
            a.tables[2].1 + a.tables[3].1,
            a.partition_bytes as f64 / 1e6,
            a.elapsed.as_secs_f64()
        );
    }
    println!(
        "{} month(s) archived to {}",
        report.archived.len(),
        archive.url
    );
    Ok(())
}

/// `ims archive list`: the manifest.
pub async fn list_command(config: &Config) -> anyhow::Result<()> {
    let (db, _) = open(config)?;
    let months = manifest::list(db.primary()).await;
    db.close().await;
    println!(
        "{:<8} {:<9} {:>9} {:>14} {:>10} {:<25}",
        "month", "state", "orders", "orders total", "parquet MB", "archived at"
    );
    for m in months? {
        println!(
            "{:<8} {:<9} {:>9} {:>14} {:>10.2} {:<25}",
            month_name(m.month),
            m.state,
            m.orders.map_or("-".into(), |n| n.to_string()),
            m.orders_total.map_or("-".into(), |n| n.to_string()),
            m.bytes.unwrap_or(0) as f64 / 1e6,
            m.archived_at.map_or("-".into(), |t| t.to_rfc3339()),
        );
    }
    Ok(())
}

/// `ims archive verify [MONTH]`: exits non-zero when an object does not match.
pub async fn verify_command(config: &Config, month: Option<&str>) -> anyhow::Result<()> {
    let month = month
        .map(parse_month)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let (db, archive) = open(config)?;
    let progress = bar("verifying");
    let checked = manifest::verify(db.primary(), &archive, month).await;
    progress.finish_and_clear();
    db.close().await;
    let checked = checked?;
    println!(
        "{} month(s) verified: every object matches its SHA-256, row count and sum",
        checked.len()
    );
    Ok(())
}

/// `ims archive restore MONTH`.
pub async fn restore_command(config: &Config, month: &str) -> anyhow::Result<()> {
    let month = parse_month(month).map_err(anyhow::Error::msg)?;
    let (db, archive) = open(config)?;
    let progress = bar("restoring");
    let restored = restore::restore_month(db.primary(), &archive, month, &progress).await;
    progress.finish_and_clear();
    if restored.is_ok() {
        if let Err(e) = forget_orders(&cache_of(config)?, db.primary(), &[month]).await {
            eprintln!(
                "ims: the cache may serve restored orders as archived until it expires: {e:#}"
            );
        }
    }
    db.close().await;
    for (table, rows) in restored? {
        println!("{table:<22} {rows:>10} rows restored and checked");
    }
    println!("{} restored", month_name(month));
    Ok(())
}

/// The service's daily run of the policy; counted in the archive metrics.
pub async fn daily(db: &storage::Db, cache: &cache::Cache, archive: &Archive, after_months: u32) {
    if after_months == 0 {
        return;
    }
    match run::run(db.primary(), archive, after_months, &ProgressBar::hidden()).await {
        Ok(report) if report.archived.is_empty() => api::metrics::record_archive_run("nothing"),
        Ok(report) => {
            tracing::info!(months = report.archived.len(), "old months archived");
            api::metrics::record_archive_run("archived");
            let months: Vec<_> = report.archived.iter().map(|a| a.month).collect();
            if let Err(e) = forget_orders(cache, db.primary(), &months).await {
                tracing::warn!(error = %e, "could not forget the archived orders' cache entries");
            }
        }
        Err(::archive::Error::Busy) => {
            tracing::info!("archival skipped: another instance is running it");
            api::metrics::record_archive_run("nothing");
        }
        Err(e) => {
            tracing::error!(error = %e, "archival run failed");
            api::metrics::record_archive_run("failed");
        }
    }
}
