//! Every metric the service exports, defined here: HTTP traffic by route template, the cache,
//! Redis, the database pools and health, and the process. `GET /metrics` renders them in the
//! Prometheus text format. Figures read from PostgreSQL or Redis are refreshed by
//! [`spawn_refresh`] on an interval, never per scrape; the rest are recorded as things happen.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use metrics::{counter, gauge, histogram, Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use crate::state::AppState;

use describe::describe;
pub use refresh::spawn_refresh;
use refresh::{record_cache, record_pools};

mod describe;
mod refresh;

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

/// Counts, times and tracks a request (its answer still to come, `response`) by its route
/// template (never the raw URI: ids would make every product a series of its own). Called by
/// [`crate::gate`] for every routed request.
pub(crate) async fn track(
    route: &str,
    method: &Method,
    response: impl Future<Output = Response>,
) -> Response {
    let method = method_label(method);
    // Not kept like the series below: gauges idle for two minutes leave the registry (see
    // `handle`), and a kept handle would then move a gauge no scrape sees.
    let in_flight = gauge!("ims_http_requests_in_flight");
    in_flight.increment(1.0);
    let started = Instant::now();
    let response = response.await;
    in_flight.decrement(1.0);
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
fn method_label(method: &Method) -> &'static str {
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
