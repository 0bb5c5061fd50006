//! The report of one run: per-operation and overall rates and latency percentiles, errors by
//! status, cache hits per key family, the database's work and the CPU split, and the
//! timeline. Assembled from the recorder's totals (pure, so it is unit-tested); written as
//! JSON, Markdown and an SVG chart, and printed as a table (`text`, `svg`).

pub mod svg;
pub mod text;

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::counters::TypeRate;
use crate::cpu::CpuSplit;
use crate::dbstat::DbWork;
use crate::dbwait::Waits;
use crate::error::Result;
use crate::http::CacheSeen;
use crate::load::Model;
use crate::mix::Op;
use crate::record::{is_error, OpStats, STATUS_TIMEOUT, STATUS_TRANSPORT};
use crate::scenario::Scenario;

/// One row of the per-endpoint table (or the overall row).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub name: String,
    pub route: String,
    pub requests: u64,
    pub rps: f64,
    pub errors: u64,
    /// Non-2xx/3xx answers by status; `transport` (connection failed) and `timeout` too.
    pub errors_by_status: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_bypasses: u64,
}

/// Hits of one cache key family, from the `X-Cache` answers the tool saw.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheRow {
    pub key: String,
    pub hits: u64,
    pub misses: u64,
    pub bypasses: u64,
    /// hits / (hits + misses + bypasses); `None` when the service sent no header for it.
    pub hit_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheSummary {
    pub by_type: Vec<CacheRow>,
    /// Over every answer with an `X-Cache` header.
    pub hit_rate: Option<f64>,
    /// Hits over all reads (GETs), cached endpoints or not: the share of reads Redis served.
    pub reads_from_cache: f64,
    /// The service's own counters by cache type against their targets (`counters`);
    /// `None` when its `/metrics` could not be read (and in reports made before).
    #[serde(default)]
    pub by_cache_type: Option<Vec<TypeRate>>,
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tick {
    pub second: u32,
    pub measured: bool,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub connections: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Connections {
    /// What the model asked for.
    pub wanted: usize,
    /// Fewest and most open during the measured window (sampled every second).
    pub min_held: usize,
    pub max_held: usize,
    pub connect_failures: u64,
}

/// The database's work per request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PerRequest {
    pub statements: Option<f64>,
    pub exec_ms: Option<f64>,
    pub statements_per_sec: Option<f64>,
    pub transactions_per_sec: f64,
    /// CPU ms of the database's backends per request (from /proc), when measured.
    pub db_cpu_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub label: String,
    pub target: String,
    pub model: Model,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    pub started_at: String,
    /// Which sessions users had and when they logged in (reports before scenarios existed
    /// were `login-heavy`).
    #[serde(default = "login_heavy")]
    pub scenario: Scenario,
    /// Each operation's share of the mix.
    pub mix: BTreeMap<String, f64>,
    pub overall: Row,
    pub endpoints: Vec<Row>,
    pub cache: CacheSummary,
    pub connections: Connections,
    /// Open model: requests due before the end that were never sent.
    pub unsent: u64,
    pub db: Option<DbWork>,
    pub db_per_request: Option<PerRequest>,
    /// What the database's backends waited for, sampled (reports before it had none).
    #[serde(default)]
    pub db_waits: Option<Waits>,
    pub cpu: Option<CpuSplit>,
    pub timeline: Vec<Tick>,
    pub notes: Vec<String>,
}

/// What the run was, for the report's head.
#[derive(Debug, Clone)]
pub struct Meta {
    pub label: String,
    pub target: String,
    pub model: Model,
    pub warmup_secs: f64,
    pub duration_secs: f64,
    pub started_at: String,
    pub scenario: Scenario,
    pub mix: BTreeMap<String, f64>,
}

fn login_heavy() -> Scenario {
    Scenario::LoginHeavy
}

/// What the run measured besides the answers.
#[derive(Debug, Clone)]
pub struct Measured {
    pub timeline: Vec<Tick>,
    pub connections: Connections,
    pub unsent: u64,
    pub db: Option<DbWork>,
    pub db_waits: Option<Waits>,
    pub cpu: Option<CpuSplit>,
    /// The service's cache counters over the window (`counters::delta`).
    pub by_cache_type: Option<Vec<TypeRate>>,
    pub notes: Vec<String>,
}

pub fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn status_name(status: u16) -> String {
    match status {
        STATUS_TRANSPORT => "transport".into(),
        STATUS_TIMEOUT => "timeout".into(),
        s => s.to_string(),
    }
}

fn row(name: &str, route: &str, stats: &OpStats, secs: f64) -> Row {
    let h: &Histogram<u64> = &stats.latency;
    let q = |quantile: f64| {
        if h.is_empty() {
            0.0
        } else {
            ms(h.value_at_quantile(quantile))
        }
    };
    let errors_by_status: BTreeMap<String, u64> = stats
        .statuses
        .iter()
        .filter(|(s, _)| is_error(**s))
        .map(|(s, n)| (status_name(*s), *n))
        .collect();
    let requests = stats.requests();
    Row {
        name: name.into(),
        route: route.into(),
        requests,
        rps: requests as f64 / secs.max(1e-9),
        errors: errors_by_status.values().sum(),
        errors_by_status,
        p50_ms: q(0.50),
        p95_ms: q(0.95),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
        mean_ms: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
        cache_hits: stats.cache[CacheSeen::Hit as usize],
        cache_misses: stats.cache[CacheSeen::Miss as usize],
        cache_bypasses: stats.cache[CacheSeen::Bypass as usize],
    }
}

fn rate(hits: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| hits as f64 / of as f64)
}

/// Builds the report from the per-operation totals (in [`Op::ALL`] order).
pub fn assemble(meta: Meta, totals: &[OpStats], measured: Measured) -> Report {
    let secs = meta.duration_secs;
    let mut all = OpStats::empty();
    for t in totals {
        all.add(t);
    }
    let endpoints: Vec<Row> = Op::ALL
        .iter()
        .zip(totals)
        .filter(|(_, t)| t.requests() > 0)
        .map(|(op, t)| row(op.name(), op.route(), t, secs))
        .collect();
    let overall = row("all", "the whole mix", &all, secs);

    let mut by_type = Vec::new();
    let (mut hits, mut headed, mut reads) = (0, 0, 0);
    for (op, t) in Op::ALL.iter().zip(totals) {
        let [h, m, b, _] = t.cache;
        if op.route().starts_with("GET") {
            reads += t.requests();
        }
        hits += h;
        headed += h + m + b;
        if let (Some(key), true) = (op.cache_type(), t.requests() > 0) {
            by_type.push(CacheRow {
                key: key.into(),
                hits: h,
                misses: m,
                bypasses: b,
                hit_rate: rate(h, h + m + b),
            });
        }
    }
    let cache = CacheSummary {
        by_type,
        hit_rate: rate(hits, headed),
        reads_from_cache: rate(hits, reads).unwrap_or(0.0),
        by_cache_type: measured.by_cache_type.clone(),
    };

    let requests = overall.requests.max(1) as f64;
    let db_per_request = measured.db.as_ref().map(|db| PerRequest {
        statements: db.statements.map(|s| s as f64 / requests),
        exec_ms: db.exec_ms.map(|e| e / requests),
        statements_per_sec: db.statements.map(|s| s as f64 / secs.max(1e-9)),
        transactions_per_sec: db.transactions as f64 / secs.max(1e-9),
        db_cpu_ms: measured
            .cpu
            .as_ref()
            .and_then(|c| c.cores.get("postgres"))
            .map(|cores| cores * secs * 1000.0 / requests),
    });
    Report {
        label: meta.label,
        target: meta.target,
        model: meta.model,
        warmup_secs: meta.warmup_secs,
        duration_secs: secs,
        started_at: meta.started_at,
        scenario: meta.scenario,
        mix: meta.mix,
        overall,
        endpoints,
        cache,
        connections: measured.connections,
        unsent: measured.unsent,
        db: measured.db,
        db_per_request,
        db_waits: measured.db_waits,
        cpu: measured.cpu,
        timeline: measured.timeline,
        notes: measured.notes,
    }
}

impl Report {
    /// Writes `{stem}.json`, `{stem}.md` and `{stem}.svg` into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("{stem}.json")), json)?;
        std::fs::write(dir.join(format!("{stem}.md")), text::markdown(self))?;
        std::fs::write(dir.join(format!("{stem}.svg")), svg::chart(self))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Recorder, Sample};
    use std::time::Duration;

    fn meta() -> Meta {
        Meta {
            label: "run".into(),
            target: "http://127.0.0.1:8080".into(),
            model: Model::Closed {
                users: 10,
                think_ms: 0,
            },
            warmup_secs: 1.0,
            duration_secs: 10.0,
            started_at: "2026-01-01T00:00:00Z".into(),
            scenario: Scenario::Default,
            mix: BTreeMap::new(),
        }
    }

    fn measured() -> Measured {
        Measured {
            timeline: Vec::new(),
            connections: Connections {
                wanted: 10,
                min_held: 10,
                max_held: 10,
                connect_failures: 0,
            },
            unsent: 0,
            db: None,
            db_waits: None,
            cpu: None,
            by_cache_type: None,
            notes: Vec::new(),
        }
    }

    #[test]
    fn percentiles_rates_errors_and_hit_rates_come_out_of_the_totals() {
        let recorder = Recorder::new(2);
        let record = |op, ms: u64, status, cache| {
            recorder.record(
                ms as usize,
                Sample {
                    op,
                    latency: Duration::from_millis(ms),
                    status,
                    cache,
                    measured: true,
                },
            )
        };
        // 1..=100 ms on product_by_sku: P50 50, P95 95, P99 99.
        for ms in 1..=100 {
            let cache = if ms <= 90 {
                CacheSeen::Hit
            } else {
                CacheSeen::Miss
            };
            record(Op::ProductBySku, ms, 200, cache);
        }
        for ms in 1..=100 {
            record(Op::Search, ms, 200, CacheSeen::None);
        }
        record(Op::PlaceOrder, 30, 409, CacheSeen::None);
        record(Op::PlaceOrder, 30, STATUS_TIMEOUT, CacheSeen::None);

        let report = assemble(meta(), &recorder.totals(), measured());
        assert_eq!(report.overall.requests, 202);
        assert!((report.overall.rps - 20.2).abs() < 1e-9);
        assert_eq!(report.overall.errors, 2);
        assert_eq!(report.overall.errors_by_status["409"], 1);
        assert_eq!(report.overall.errors_by_status["timeout"], 1);

        let sku = report
            .endpoints
            .iter()
            .find(|r| r.name == "product_by_sku")
            .expect("row");
        assert!((sku.p50_ms - 50.0).abs() < 0.1, "{}", sku.p50_ms);
        assert!((sku.p95_ms - 95.0).abs() < 0.1);
        assert!((sku.p99_ms - 99.0).abs() < 0.1);
        assert!((sku.max_ms - 100.0).abs() < 0.1);
        assert_eq!(
            report.endpoints.len(),
            3,
            "operations never sent have no row"
        );

        let sku_cache = report
            .cache
            .by_type
            .iter()
            .find(|c| c.key == "product:sku:{sku}")
            .expect("row");
        assert_eq!(sku_cache.hit_rate, Some(0.9));
        let search = report
            .cache
            .by_type
            .iter()
            .find(|c| c.key == "products search")
            .expect("row");
        assert_eq!(search.hit_rate, None);
        assert_eq!(report.cache.hit_rate, Some(0.9));
        // 90 hits over 200 reads.
        assert!((report.cache.reads_from_cache - 0.45).abs() < 1e-9);
    }

    #[test]
    fn database_work_is_divided_by_requests() {
        let recorder = Recorder::new(1);
        for i in 0..50 {
            recorder.record(
                i,
                Sample {
                    op: Op::Stock,
                    latency: Duration::from_millis(1),
                    status: 200,
                    cache: CacheSeen::Hit,
                    measured: true,
                },
            );
        }
        let mut m = measured();
        m.db = Some(DbWork {
            statements: Some(100),
            exec_ms: Some(25.0),
            transactions: 40,
            blocks_read: 0,
            blocks_hit: 0,
            top: Vec::new(),
        });
        let report = assemble(meta(), &recorder.totals(), m);
        let per = report.db_per_request.expect("db work");
        assert_eq!(per.statements, Some(2.0));
        assert_eq!(per.exec_ms, Some(0.5));
        assert_eq!(per.statements_per_sec, Some(10.0));
        assert_eq!(per.transactions_per_sec, 4.0);
    }
}
