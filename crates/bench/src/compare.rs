//! `--compare`: the same workload (the same sampled ids, the same seed) against the baseline
//! — cache off, only primary keys and unique constraints — and then the optimized service,
//! and a table of the service's performance targets with the measured values beside them.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::report::text::{fmt_ms, pct, Table};
use crate::report::{Report, Row};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub baseline: Report,
    pub optimized: Report,
}

/// The four operations with latency targets and the mix operation that measures each.
pub const OPERATIONS: [(&str, &str); 4] = [
    ("authentication", "login"),
    ("product search", "search"),
    ("order history", "customer_orders"),
    ("inventory lookup", "stock"),
];

fn times(before: f64, after: f64) -> String {
    if before > 0.0 && after > 0.0 {
        format!("{:.1}×", before / after)
    } else {
        "-".into()
    }
}

fn db_cores(r: &Report) -> Option<f64> {
    r.cpu
        .as_ref()
        .and_then(|c| c.cores.get("postgres").copied())
}

/// Answers that were not errors, per second.
fn ok_rps(r: &Report) -> f64 {
    r.overall.requests.saturating_sub(r.overall.errors) as f64 / r.duration_secs.max(1e-9)
}

fn statements_per_sec(r: &Report) -> Option<f64> {
    r.db_per_request.as_ref().and_then(|d| d.statements_per_sec)
}

impl Comparison {
    /// The targets table: each target, baseline, optimized, improvement.
    pub fn plan_table(&self) -> Table {
        let (b, o) = (&self.baseline, &self.optimized);
        let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or_else(|| "n/a".into(), f);
        let cores = |v: f64| format!("{v:.2} cores");
        let rows = vec![
            vec![
                "P95 latency".into(),
                "< 400 ms".into(),
                format!("{} ms", fmt_ms(b.overall.p95_ms)),
                format!("{} ms", fmt_ms(o.overall.p95_ms)),
                times(b.overall.p95_ms, o.overall.p95_ms),
            ],
            vec![
                "P99 latency".into(),
                "< 800 ms".into(),
                format!("{} ms", fmt_ms(b.overall.p99_ms)),
                format!("{} ms", fmt_ms(o.overall.p99_ms)),
                times(b.overall.p99_ms, o.overall.p99_ms),
            ],
            vec![
                "cache hit rate".into(),
                "85%".into(),
                pct(b.cache.hit_rate),
                pct(o.cache.hit_rate),
                format!(
                    "{} of reads from Redis",
                    pct(Some(o.cache.reads_from_cache))
                ),
            ],
            vec![
                "concurrent users held".into(),
                "10,000".into(),
                b.connections.min_held.to_string(),
                o.connections.min_held.to_string(),
                "-".into(),
            ],
            vec![
                "requests/s".into(),
                "5,000".into(),
                format!("{:.0}", b.overall.rps),
                format!("{:.0}", o.overall.rps),
                times(o.overall.rps, b.overall.rps),
            ],
            vec![
                "successful answers/s".into(),
                "-".into(),
                format!("{:.0}", ok_rps(b)),
                format!("{:.0}", ok_rps(o)),
                times(ok_rps(o), ok_rps(b)),
            ],
            vec![
                "database statements/s".into(),
                "-".into(),
                opt(statements_per_sec(b), &|v| format!("{v:.0}")),
                opt(statements_per_sec(o), &|v| format!("{v:.0}")),
                "-".into(),
            ],
            vec![
                "database CPU".into(),
                "-".into(),
                opt(db_cores(b), &cores),
                opt(db_cores(o), &cores),
                match (db_cores(b), db_cores(o)) {
                    (Some(x), Some(y)) => format!(
                        "{} per request",
                        times(x / b.overall.rps.max(1e-9), y / o.overall.rps.max(1e-9))
                    ),
                    _ => "-".into(),
                },
            ],
            vec![
                "errors".into(),
                "0".into(),
                b.overall.errors.to_string(),
                o.overall.errors.to_string(),
                "-".into(),
            ],
        ];
        Table::new(
            &[
                "",
                "plan",
                "baseline (measured)",
                "optimized (measured)",
                "improvement",
            ],
            rows,
        )
    }

    /// The four operations before and after: P50 / P95 / P99 in ms.
    pub fn operations_table(&self) -> Table {
        let find = |r: &Report, name: &str| r.endpoints.iter().find(|e| e.name == name).cloned();
        let cell = |row: &Option<Row>| {
            row.as_ref().map_or_else(
                || "-".into(),
                |r| {
                    format!(
                        "{} / {} / {}",
                        fmt_ms(r.p50_ms),
                        fmt_ms(r.p95_ms),
                        fmt_ms(r.p99_ms)
                    )
                },
            )
        };
        let rows = OPERATIONS
            .iter()
            .map(|(title, op)| {
                let (b, o) = (find(&self.baseline, op), find(&self.optimized, op));
                let better = match (&b, &o) {
                    (Some(b), Some(o)) => times(b.p95_ms, o.p95_ms),
                    _ => "-".into(),
                };
                vec![format!("{title} (`{op}`)"), cell(&b), cell(&o), better]
            })
            .collect();
        Table::new(
            &[
                "operation",
                "baseline P50 / P95 / P99 ms",
                "optimized P50 / P95 / P99 ms",
                "P95 improvement",
            ],
            rows,
        )
    }

    pub fn terminal(&self) -> String {
        format!(
            "\nThe targets, measured:\n\n{}\nThe four operations:\n\n{}",
            self.plan_table().terminal(),
            self.operations_table().terminal()
        )
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from("# ims-bench --compare\n\n");
        let _ = writeln!(out, "{}\n", self.plan_table().markdown());
        let _ = writeln!(out, "{}", self.operations_table().markdown());
        out
    }

    /// `compare.json`, `compare.md`, and each run's own files.
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("compare.json"), json)?;
        std::fs::write(dir.join("compare.md"), self.markdown())?;
        self.baseline.write(dir, "baseline")?;
        self.optimized.write(dir, "optimized")?;
        Ok(())
    }
}
