//! `ims serve`: connect, check the schema, serve HTTP until SIGTERM or Ctrl-C, then drain.

use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::App;
use crate::config::Config;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let mut app = App::build(&config)?;
    // Fails fast on a database without our schema, rather than answering 500s later.
    match app.state().db.ensure_order_partitions(3).await {
        Ok(created) => tracing::info!(created, "order partitions ensured"),
        Err(e) => anyhow::bail!("database not ready or not migrated (run `ims migrate`): {e}"),
    }
    if config.api.cursor_key.is_none() {
        // Unset: the key every instance on this database shares (made by the first one).
        let key = storage::service_keys::shared_key(app.state().db.primary(), "cursor")
            .await
            .map_err(|e| anyhow::anyhow!("reading the shared cursor key: {e}"))?;
        app = app.with_cursor_key(
            api::pagination::CursorKey::new(key)
                .ok_or_else(|| anyhow::anyhow!("the stored cursor key is too short"))?,
        );
    }
    let state = app.state().clone();
    let archival = state
        .settings
        .archive
        .as_ref()
        .map(|a| (a.archive().clone(), config.archive.after_months));
    if config.archive.after_months > 0 {
        api::metrics::expect_archive_runs();
    }
    let upkeep = tokio::spawn(upkeep(
        state.db.clone(),
        state.cache.clone(),
        state.settings.tuning.business_offset,
        archival,
    ));
    let metrics = app.spawn_metrics(Duration::from_secs(15));
    // Warm in the background: requests are served (as misses) while it runs.
    let warming = state.clone();
    tokio::spawn(async move {
        match api::warm::warm_cache(&warming).await {
            Ok(w) => tracing::info!(keys = w.keys, elapsed = ?w.elapsed, "cache warmed"),
            Err(e) => tracing::warn!(error = %e, "cache warming failed"),
        }
    });

    let listen = config.http.listen;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("IMS_LISTEN: cannot bind {listen}: {e}"))?;
    tracing::info!(address = %listen, "serving");
    let service = app.service();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, service)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });

    shutdown_signal().await;
    let grace = config.http.shutdown_grace;
    tracing::info!(?grace, "shutting down: draining in-flight requests");
    let _ = stop_tx.send(());
    match tokio::time::timeout(grace, server).await {
        Ok(joined) => joined??,
        Err(_) => tracing::warn!("grace period over; exiting with requests still in flight"),
    }
    upkeep.abort();
    metrics.abort();
    state.db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Every ten seconds: keep the top products' running totals on the business day's 30-day
/// window (it moves once a day) and fold the counts a store's figures sum, which every
/// write in the store reads. Hourly: [`hourly_upkeep`]. Daily (and at start-up): the
/// archival policy (`IMS_ARCHIVE_AFTER_MONTHS`; several instances may run it at once, and
/// the partition lock and the manifest's primary key let only one archive a month).
async fn upkeep(
    db: storage::Db,
    cache: cache::Cache,
    business_offset: chrono::FixedOffset,
    archival: Option<(archive::Archive, u32)>,
) {
    const TICK: Duration = Duration::from_secs(10);
    const TICKS_AN_HOUR: u64 = 360;
    const TICKS_A_DAY: u64 = 24 * TICKS_AN_HOUR;
    let mut tick = tokio::time::interval(TICK);
    for ticks in 0u64.. {
        tick.tick().await;
        let (_, day_start) = domain::dates::business_day(business_offset, chrono::Utc::now());
        match storage::dashboard::set_product_sales_window(db.primary(), day_start).await {
            Ok(true) => {
                tracing::info!(%day_start, "top products' window moved to the business day")
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not move the top products' window"),
        }
        if let Err(e) = storage::dashboard::compact_store_counts(db.primary()).await {
            tracing::warn!(error = %e, "could not fold the dashboards' counts");
        }
        if ticks % TICKS_AN_HOUR == 0 {
            hourly_upkeep(&db).await;
        }
        if let Some((archive, after_months)) = &archival {
            if ticks % TICKS_A_DAY == 0 {
                crate::archive::daily(&db, &cache, archive, *after_months).await;
            }
        }
    }
}

/// Keep next months' order partitions ahead of time, purge long-expired sessions,
/// idempotency keys past their 24 hours and sales figures older than the dashboard's window.
async fn hourly_upkeep(db: &storage::Db) {
    if let Err(e) = db.ensure_order_partitions(3).await {
        tracing::warn!(error = %e, "could not ensure order partitions");
    }
    match storage::sessions::purge_expired_sessions(db.primary()).await {
        Ok(purged) if purged > 0 => tracing::info!(purged, "expired sessions purged"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not purge expired sessions"),
    }
    match storage::idempotency::purge_expired_keys(db.primary()).await {
        Ok(purged) if purged > 0 => tracing::info!(purged, "expired idempotency keys purged"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
    }
    match storage::dashboard::purge_product_sales(db.primary()).await {
        Ok(purged) if purged > 0 => tracing::info!(purged, "old sales figures purged"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not purge old sales figures"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
