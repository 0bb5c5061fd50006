//! The figures read rather than recorded: the pools and the cache's counters on each
//! scrape, and PostgreSQL's and Redis's own figures on an interval ([`spawn_refresh`]).

use std::time::Duration;

use metrics::{counter, gauge};

use super::{install, ARCHIVE_LAST_SUCCESS};
use crate::state::AppState;

/// Pool figures are read from the pools themselves: cheap, so per scrape. Without a separate
/// read URL both names are one pool, reported once as `primary`; on a cluster each standby's
/// pool is reported as `read-N` (N: the host's place in the URLs).
pub(super) fn record_pools(state: &AppState) {
    let pools = state.db.pools();
    if let Some(topology) = state.db.topology() {
        for (i, node) in topology.nodes.iter().enumerate() {
            let host = format!("{}", i + 1);
            let up = node.role != storage::hosts::NodeRole::Down;
            let primary = node.role == storage::hosts::NodeRole::Primary;
            gauge!("ims_db_node_up", "host" => host.clone()).set(f64::from(u8::from(up)));
            gauge!("ims_db_node_primary", "host" => host).set(f64::from(u8::from(primary)));
        }
    }
    let mut active_total = 0.0;
    for (name, pool) in &pools {
        let size = f64::from(pool.size());
        let idle = pool.num_idle() as f64;
        active_total += size - idle;
        gauge!("ims_db_pool_connections", "pool" => name.clone(), "state" => "active")
            .set(size - idle);
        gauge!("ims_db_pool_connections", "pool" => name.clone(), "state" => "idle").set(idle);
        gauge!("ims_db_pool_max_connections", "pool" => name.clone())
            .set(f64::from(pool.options().get_max_connections()));
    }
    // Operations under way beyond the connections in use are waiting for one. sqlx does not
    // say which pool an operation waits on, so the estimate is the service's, shown on the
    // primary pool (the one writes and the pool alert depend on).
    let in_progress = storage::monitoring::operations_in_progress() as f64;
    gauge!("ims_db_pool_waiting", "pool" => "primary").set((in_progress - active_total).max(0.0));
}

/// The cache's own counters, copied as they stand.
pub(super) fn record_cache(state: &AppState) {
    for stats in state.cache.stats().snapshot() {
        let kind = stats.kind.as_str();
        for (outcome, value) in [
            ("hit", stats.hits),
            ("miss", stats.misses),
            ("bypass", stats.bypasses),
        ] {
            counter!("ims_cache_requests_total", "cache_type" => kind, "outcome" => outcome)
                .absolute(value);
        }
    }
    counter!("ims_cache_errors_total").absolute(state.cache.stats().errors());
    gauge!("ims_cache_bypassed").set(if state.cache.bypassing() { 1.0 } else { 0.0 });
}

/// Refreshes the figures read from PostgreSQL and Redis every `every`, in the background.
pub fn spawn_refresh(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    install();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            refresh(&state).await;
        }
    })
}

async fn refresh(state: &AppState) {
    let ready = state.db.ping().await.is_ok();
    gauge!("ims_ready").set(if ready { 1.0 } else { 0.0 });
    let pool = state.db.primary();
    match storage::monitoring::table_scans(pool).await {
        Ok(tables) => {
            for t in tables {
                gauge!("ims_db_index_scans_total", "table" => t.table.clone()).set(t.index_scans);
                gauge!("ims_db_seq_scans_total", "table" => t.table).set(t.seq_scans);
            }
        }
        Err(e) => tracing::debug!(error = %e, "table statistics unavailable"),
    }
    if let Ok(ratio) = storage::monitoring::buffer_hit_ratio(pool).await {
        gauge!("ims_db_buffer_hit_ratio").set(ratio);
    }
    if let Ok(bytes) = storage::monitoring::wal_bytes(pool).await {
        gauge!("ims_db_wal_bytes_total").set(bytes);
    }
    if let Ok(standbys) = storage::monitoring::replication_lag(pool).await {
        for s in standbys {
            gauge!("ims_db_replication_lag_seconds", "standby" => s.standby.clone()).set(s.seconds);
            gauge!("ims_db_replication_lag_bytes", "standby" => s.standby).set(s.bytes);
        }
    }
    let last = ARCHIVE_LAST_SUCCESS.load(std::sync::atomic::Ordering::Relaxed);
    if last > 0 {
        gauge!("ims_archive_last_success_timestamp_seconds").set(last as f64);
    }
    match archive::manifest::archived_count(pool).await {
        Ok(months) => gauge!("ims_archived_months").set(months as f64),
        Err(e) => tracing::debug!(error = %e, "archived months unavailable"),
    }
    match state.cache.memory().await {
        Ok(memory) => {
            gauge!("ims_redis_memory_used_bytes").set(memory.used_bytes);
            gauge!("ims_redis_memory_max_bytes").set(memory.max_bytes);
            gauge!("ims_redis_evicted_keys_total").set(memory.evicted_keys);
        }
        Err(e) => tracing::debug!(error = %e, "redis memory figures unavailable"),
    }
}
