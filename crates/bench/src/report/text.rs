//! The report as text: a table for the terminal and the same content as Markdown (what
//! `docs/benchmarks.md` quotes). Both are built from one list of rows so they never differ.

use std::fmt::Write as _;

use super::{Report, Row};
use crate::dbwait::Waits;

/// A table: a header and rows of cells, first column left-aligned, the rest right-aligned.
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str], rows: Vec<Vec<String>>) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows,
        }
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", self.header.join(" | "));
        let aligns: Vec<&str> = (0..self.header.len())
            .map(|i| if i == 0 { "---" } else { "---:" })
            .collect();
        let _ = writeln!(out, "| {} |", aligns.join(" | "));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out
    }

    pub fn terminal(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i == 0 {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                } else {
                    out.push_str("  ");
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
            }
            out.trim_end().to_owned() + "\n"
        };
        let mut out = line(&self.header);
        out.push_str(
            &"-".repeat(widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1)),
        );
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

pub fn fmt_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.2}")
    }
}

pub fn pct(share: Option<f64>) -> String {
    share.map_or_else(|| "-".into(), |s| format!("{:.1}%", s * 100.0))
}

fn errors(row: &Row) -> String {
    if row.errors == 0 {
        return "0".into();
    }
    let by: Vec<String> = row
        .errors_by_status
        .iter()
        .map(|(s, n)| format!("{s}×{n}"))
        .collect();
    format!("{} ({})", row.errors, by.join(" "))
}

fn hit_rate(row: &Row) -> String {
    let headed = row.cache_hits + row.cache_misses + row.cache_bypasses;
    if headed == 0 {
        "-".into()
    } else {
        pct(Some(row.cache_hits as f64 / headed as f64))
    }
}

/// Per-endpoint rows and the overall row.
pub fn endpoint_table(report: &Report) -> Table {
    let header = [
        "operation",
        "route",
        "requests",
        "req/s",
        "P50 ms",
        "P95 ms",
        "P99 ms",
        "P99.9 ms",
        "max ms",
        "hits",
        "errors",
    ];
    let cells = |r: &Row| {
        vec![
            r.name.clone(),
            r.route.clone(),
            r.requests.to_string(),
            format!("{:.0}", r.rps),
            fmt_ms(r.p50_ms),
            fmt_ms(r.p95_ms),
            fmt_ms(r.p99_ms),
            fmt_ms(r.p999_ms),
            fmt_ms(r.max_ms),
            hit_rate(r),
            errors(r),
        ]
    };
    let mut rows: Vec<Vec<String>> = report.endpoints.iter().map(cells).collect();
    let mut all = cells(&report.overall);
    all[0] = "**all**".into();
    rows.push(all);
    Table::new(&header, rows)
}

/// A few lines on the run, the cache, the database and the CPU.
pub fn summary(report: &Report) -> Vec<String> {
    let mut lines = Vec::new();
    let model = match report.model {
        crate::load::Model::Closed { users, think_ms } if think_ms > 0 => {
            format!("closed model, {users} virtual users thinking {think_ms} ms on average")
        }
        crate::load::Model::Closed { users, .. } => format!("closed model, {users} virtual users"),
        crate::load::Model::Open { rate, connections } => {
            format!("open model, {rate:.0} requests/s due over up to {connections} connections")
        }
    };
    lines.push(format!(
        "{}: scenario {}, {} against {}, {:.0} s warm-up + {:.0} s measured, started {}",
        report.label,
        report.scenario.name(),
        model,
        report.target,
        report.warmup_secs,
        report.duration_secs,
        report.started_at
    ));
    if let Some(login) = report.endpoints.iter().find(|r| r.name == "login") {
        lines.push(format!(
            "logins in the window: {} ({:.1}/s), P50 {} ms, P95 {} ms, P99 {} ms, {} errors",
            login.requests,
            login.rps,
            fmt_ms(login.p50_ms),
            fmt_ms(login.p95_ms),
            fmt_ms(login.p99_ms),
            login.errors
        ));
    }
    let c = &report.connections;
    lines.push(format!(
        "connections held during the window: {} to {} of {} wanted ({} failed to connect)",
        c.min_held, c.max_held, c.wanted, c.connect_failures
    ));
    if report.unsent > 0 {
        lines.push(format!(
            "requests due but never sent before the end: {}",
            report.unsent
        ));
    }
    lines.push(format!(
        "cache: {} hit rate over answers with X-Cache; {} of all reads served from Redis",
        pct(report.cache.hit_rate),
        pct(Some(report.cache.reads_from_cache))
    ));
    let by_type: Vec<String> = report
        .cache
        .by_type
        .iter()
        .map(|c| format!("{} {}", c.key, pct(c.hit_rate)))
        .collect();
    lines.push(format!("cache by key: {}", by_type.join(", ")));
    if let Some(types) = &report.cache.by_cache_type {
        let rates: Vec<String> = types
            .iter()
            .filter(|t| t.hit_rate.is_some())
            .map(|t| match (t.target, t.met()) {
                (Some(target), Some(met)) => format!(
                    "{} {} (target {}: {})",
                    t.cache_type,
                    pct(t.hit_rate),
                    pct(Some(target)),
                    if met { "met" } else { "NOT met" }
                ),
                _ => format!("{} {}", t.cache_type, pct(t.hit_rate)),
            })
            .collect();
        lines.push(format!(
            "cache by type (the service's counters): {}",
            rates.join(", ")
        ));
    }
    if let Some(per) = &report.db_per_request {
        let opt = |v: Option<f64>, unit: &str| {
            v.map_or_else(|| "n/a".into(), |v| format!("{v:.2}{unit}"))
        };
        lines.push(format!(
            "database per request: {} statements, {} execution, {} backend CPU; {} statements/s, {:.0} transactions/s",
            opt(per.statements, ""),
            opt(per.exec_ms, " ms"),
            opt(per.db_cpu_ms, " ms"),
            opt(per.statements_per_sec, ""),
            per.transactions_per_sec
        ));
    }
    if let Some(waits) = &report.db_waits {
        lines.push(wait_summary(waits));
    }
    if let Some(cpu) = &report.cpu {
        let split: Vec<String> = cpu
            .cores
            .iter()
            .map(|(k, v)| format!("{k} {v:.2}"))
            .collect();
        lines.push(format!(
            "CPU (cores of {:.0}): {}; machine busy {:.2}",
            cpu.machine_cores,
            split.join(", "),
            cpu.machine_busy_cores
        ));
    }
    lines.extend(report.notes.iter().cloned());
    lines
}

/// One line: how many backends were active and what they waited for, by kind.
fn wait_summary(waits: &Waits) -> String {
    let mut kinds: Vec<(&String, &f64)> = waits.by_kind.iter().collect();
    kinds.sort_by(|a, b| b.1.total_cmp(a.1));
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(kind, share)| format!("{kind} {}", pct(Some(**share))))
        .collect();
    format!(
        "database backends, sampled every {} ms ({} samples): {:.1} active on average; {}",
        waits.interval_ms,
        waits.samples,
        waits.mean_active,
        if kinds.is_empty() {
            "none was active in any sample".to_owned()
        } else {
            format!("waiting for: {}", kinds.join(", "))
        }
    )
}

/// The waits and statements most seen in the samples.
pub fn top_waits(report: &Report) -> Option<Table> {
    let waits = report.db_waits.as_ref()?;
    if waits.top.is_empty() {
        return None;
    }
    let rows = waits
        .top
        .iter()
        .map(|row| {
            vec![
                code(&row.wait),
                code(&row.statement),
                row.seen.to_string(),
                pct(Some(row.share)),
            ]
        })
        .collect();
    Some(Table::new(&["wait", "statement", "seen", "share"], rows))
}

/// The costliest statements of the window.
pub fn top_queries(report: &Report) -> Option<Table> {
    let db = report.db.as_ref()?;
    if db.top.is_empty() {
        return None;
    }
    let rows = db
        .top
        .iter()
        .map(|q| {
            vec![
                code(&q.query),
                q.calls.to_string(),
                format!("{:.0}", q.total_ms),
                format!("{:.3}", q.mean_ms),
            ]
        })
        .collect();
    Some(Table::new(
        &["statement", "calls", "total ms", "mean ms"],
        rows,
    ))
}

/// `text` as code in a Markdown table's cell (a `|` would end the cell).
fn code(text: &str) -> String {
    format!("`{}`", text.replace('|', "\\|"))
}

pub fn terminal(report: &Report) -> String {
    let mut out = String::new();
    for line in summary(report) {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    out.push_str(&endpoint_table(report).terminal());
    out
}

pub fn markdown(report: &Report) -> String {
    let mut out = format!("# ims-bench: {}\n\n", report.label);
    for line in summary(report) {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
    out.push_str(&endpoint_table(report).markdown());
    if let Some(top) = top_queries(report) {
        out.push_str("\nCostliest statements of the window (pg_stat_statements):\n\n");
        out.push_str(&top.markdown());
    }
    if let Some(waits) = top_waits(report) {
        out.push_str(
            "\nWhat the database's active backends waited for (`pg_stat_activity`, sampled; \
             `CPU`: no wait, running or waiting for a core):\n\n",
        );
        out.push_str(&waits.markdown());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_render_aligned_for_the_terminal_and_as_markdown() {
        let table = Table {
            header: vec!["op".into(), "P99 ms".into()],
            rows: vec![
                vec!["search".into(), "12.5".into()],
                vec!["login".into(), "250".into()],
            ],
        };
        assert_eq!(
            table.terminal(),
            "op      P99 ms\n--------------\nsearch    12.5\nlogin      250\n"
        );
        assert_eq!(
            table.markdown(),
            "| op | P99 ms |\n| --- | ---: |\n| search | 12.5 |\n| login | 250 |\n"
        );
        assert_eq!(fmt_ms(0.456), "0.46");
        assert_eq!(fmt_ms(45.61), "45.6");
        assert_eq!(fmt_ms(456.1), "456");
        assert_eq!(pct(Some(0.9234)), "92.3%");
    }
}
