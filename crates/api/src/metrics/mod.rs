//! Every metric the service exports, defined here: HTTP traffic by route template, the cache,
//! Redis, the database pools and health, and the process. `GET /metrics` renders them in the
//! Prometheus text format. Figures read from PostgreSQL or Redis are refreshed by
//! [`spawn_refresh`] on an interval, never per scrape; the rest are recorded as things happen.

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{counter, gauge, histogram, Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use crate::state::AppState;

/// Latency buckets (seconds): fine where the service lives (around a millisecond), coarse up
/// to the 10 s a request may take at most.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often the recorder's histograms are folded into their buckets (see [`handle`]).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The global recorder, installed once per process (tests start several apps in one).
///
/// `install_recorder` spawns no upkeep: every histogram observation is queued in the
/// recorder until something folds the queue into the buckets, which only a render of
/// `/metrics` or `run_upkeep` does. Without a scrape the queues grew by every request's
/// samples (about 16 MB a minute under the `ims-bench` mix) and never shrank. A plain thread
/// runs the upkeep, since the recorder outlives any one Tokio runtime (tests start many).
fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            // A gauge nobody sets for two minutes is gone (a standby that left must not keep
            // its last lag forever); every live gauge is set at least every refresh.
            .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(120)))
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .and_then(|builder| builder.install_recorder())
            // Only fails if another recorder was installed first, which nothing here does.
            .unwrap_or_else(|e| panic!("installing the metrics recorder: {e}"));
        describe();
        metrics_process::Collector::default().describe();
        let upkept = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkept.run_upkeep();
            });
        if let Err(e) = spawned {
            // Scrapes still fold the queues; only an unscraped service would grow.
            tracing::error!(error = %e, "could not start the metrics upkeep thread");
        }
        handle
    })
}

/// Installs the recorder; call at start-up so the first requests are counted.
pub fn install() {
    handle();
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "ims_http_requests_total",
        "HTTP requests by method, route template and status"
    );
    describe_histogram!(
        "ims_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency"
    );
    describe_gauge!("ims_http_requests_in_flight", "HTTP requests being served");
    describe_counter!(
        "ims_cache_requests_total",
        "Cached reads by cache type and outcome"
    );
    describe_counter!(
        "ims_rate_limited_total",
        "Requests refused with 429 by the per-client rate limit, by policy (api, login)"
    );
    describe_counter!(
        "ims_rate_limit_fallback_total",
        "Rate limit steps taken in this instance's memory because Redis failed, by policy"
    );
    describe_counter!(
        "ims_db_retries_total",
        "Requests run a second time after a database node failed under them, by kind (read, write)"
    );
    describe_gauge!(
        "ims_db_requests_awaiting_primary",
        "Writes, and reads only the primary can serve, held after their node failed, until the follower finds a primary to retry on"
    );
    describe_counter!(
        "ims_db_primary_waits_total",
        "Waits for a primary after a failure other than a write's retry, by what for: read (a read whose consistency token no standby has replayed), token (a write's consistency token)"
    );
    describe_gauge!(
        "ims_db_node_up",
        "Whether the service's follower reached this cluster host in its last probe (1 or 0)"
    );
    describe_gauge!(
        "ims_db_node_primary",
        "Whether this cluster host is the primary as the follower saw it last (1 or 0)"
    );
    describe_counter!(
        "ims_cache_errors_total",
        "Redis operations that failed or timed out"
    );
    describe_gauge!(
        "ims_cache_bypassed",
        "1 while requests skip Redis after a failure"
    );
    describe_histogram!(
        "ims_redis_command_duration_seconds",
        Unit::Seconds,
        "Redis round trips"
    );
    describe_counter!(
        "ims_redis_master_switches_total",
        "Moves of the Redis connection to a new master named by the Sentinels, by client"
    );
    describe_gauge!(
        "ims_redis_memory_used_bytes",
        Unit::Bytes,
        "Redis used_memory"
    );
    describe_gauge!(
        "ims_redis_memory_max_bytes",
        Unit::Bytes,
        "Redis maxmemory (0: no limit)"
    );
    describe_gauge!(
        "ims_redis_evicted_keys_total",
        "Keys Redis evicted to stay under maxmemory"
    );
    describe_gauge!(
        "ims_db_pool_connections",
        "Database connections by pool and state"
    );
    describe_gauge!("ims_db_pool_max_connections", "Database pool size limit");
    describe_gauge!(
        "ims_db_pool_waiting",
        "Database operations waiting for a connection (estimate)"
    );
    describe_histogram!(
        "ims_db_query_duration_seconds",
        Unit::Seconds,
        "Repository operations by name"
    );
    describe_gauge!(
        "ims_db_index_scans_total",
        "Index scans per table (pg_stat_user_tables)"
    );
    describe_gauge!(
        "ims_db_seq_scans_total",
        "Sequential scans per table (pg_stat_user_tables)"
    );
    describe_gauge!(
        "ims_db_buffer_hit_ratio",
        "Share of block reads served from shared buffers"
    );
    describe_gauge!(
        "ims_db_wal_bytes_total",
        Unit::Bytes,
        "WAL generated; its rate is the write volume a standby must replay"
    );
    describe_gauge!(
        "ims_db_replication_lag_seconds",
        "Replay lag per standby, seconds"
    );
    describe_gauge!(
        "ims_db_replication_lag_bytes",
        Unit::Bytes,
        "Replay lag per standby, bytes"
    );
    describe_gauge!(
        "ims_ready",
        "1 when the service can answer (the database responds)"
    );
    describe_counter!(
        "ims_archive_runs_total",
        "Daily archival runs by outcome: archived (months moved), nothing (none due), failed"
    );
    describe_gauge!(
        "ims_archive_last_success_timestamp_seconds",
        Unit::Seconds,
        "Unix time of the last archival run that did not fail (archived or nothing)"
    );
    describe_gauge!(
        "ims_archived_months",
        "Months whose orders are in the archive (archived_months in state archived)"
    );
}

/// Unix seconds of the last archival run that did not fail; 0 before the first.
static ARCHIVE_LAST_SUCCESS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Makes the run counter's series exist at 0 for every outcome, where the archival policy
/// runs: `IMSArchiveFailing` looks for an increase of the failures, and a series that first
/// appears at 1 shows none, so the first failure would go unseen.
pub fn expect_archive_runs() {
    install();
    for outcome in ["archived", "nothing", "failed"] {
        counter!("ims_archive_runs_total", "outcome" => outcome).increment(0);
    }
}

/// Counts a run of the archival policy (`outcome`: archived, nothing or failed); a run that
/// did not fail is the last success. The gauges are set again on every refresh, so they do
/// not go idle between the daily runs.
pub fn record_archive_run(outcome: &'static str) {
    install();
    counter!("ims_archive_runs_total", "outcome" => outcome).increment(1);
    if outcome != "failed" {
        let now = chrono::Utc::now().timestamp();
        ARCHIVE_LAST_SUCCESS.store(now, std::sync::atomic::Ordering::Relaxed);
        gauge!("ims_archive_last_success_timestamp_seconds").set(now as f64);
    }
}

/// Middleware: counts, times and tracks every request by its route template (never the raw
/// URI: ids would make every product a series of its own).
pub async fn track(request: Request, next: Next) -> Response {
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().cloned();
    // Not kept like the series below: gauges idle for two minutes leave the registry (see
    // `handle`), and a kept handle would then move a gauge no scrape sees.
    let in_flight = gauge!("ims_http_requests_in_flight");
    in_flight.increment(1.0);
    let started = Instant::now();
    let response = next.run(request).await;
    in_flight.decrement(1.0);
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let (duration, count) = request_series(route, method, response.status().as_u16());
    duration.record(started.elapsed().as_secs_f64());
    count.increment(1);
    response
}

/// The handles of a request's series (`ims_http_request_duration_seconds` and
/// `ims_http_requests_total`), kept by route, method and status: looking a series up by its
/// labels builds, hashes and finds a key in the registry, which cost more on every request
/// than the rest of this middleware. The set is bounded as the series are: routes are
/// templates, methods a fixed set, statuses what the service answers.
fn request_series(route: &str, method: &'static str, status: u16) -> (Histogram, Counter) {
    type ByRoute = HashMap<String, Vec<(&'static str, u16, Histogram, Counter)>>;
    static SERIES: OnceLock<RwLock<ByRoute>> = OnceLock::new();
    let series = SERIES.get_or_init(RwLock::default);
    let find = |by_route: &ByRoute| {
        by_route.get(route).and_then(|of_route| {
            of_route
                .iter()
                .find(|(m, s, _, _)| *m == method && *s == status)
                .map(|(_, _, h, c)| (h.clone(), c.clone()))
        })
    };
    if let Some(found) = find(&series.read().unwrap_or_else(PoisonError::into_inner)) {
        return found;
    }
    let mut by_route = series.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = find(&by_route) {
        return found;
    }
    let class = format!("{}xx", status / 100);
    let duration = histogram!("ims_http_request_duration_seconds", "method" => method,
        "route" => route.to_owned(), "status_class" => class);
    let count = counter!("ims_http_requests_total", "method" => method,
        "route" => route.to_owned(), "status" => status.to_string());
    by_route.entry(route.to_owned()).or_default().push((
        method,
        status,
        duration.clone(),
        count.clone(),
    ));
    (duration, count)
}

/// The method as a label, from a fixed set: any other method name a client makes up would
/// otherwise be a new series each, memory without bound for an anonymous caller.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`: everything in the Prometheus text format.
pub async fn render(State(state): State<AppState>) -> Response {
    record_pools(&state);
    record_cache(&state);
    metrics_process::Collector::default().collect();
    let body = handle().render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Pool figures are read from the pools themselves: cheap, so per scrape. Without a separate
/// read URL both names are one pool, reported once as `primary`; on a cluster each standby's
/// pool is reported as `read-N` (N: the host's place in the URLs).
fn record_pools(state: &AppState) {
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
fn record_cache(state: &AppState) {
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
