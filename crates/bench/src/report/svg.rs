//! The chart: latency percentiles (log scale) and throughput per second over the run, the
//! warm-up shaded, as a hand-written SVG (no plotting crate to compile).

use std::fmt::Write as _;

use super::{Report, Tick};

const W: f64 = 900.0;
const PANEL: f64 = 240.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 40.0;
const GAP: f64 = 50.0;

/// A line of the latency panel: its name, colour and value.
type Series = (&'static str, &'static str, fn(&Tick) -> f64);

pub fn chart(report: &Report) -> String {
    let ticks = &report.timeline;
    let mut svg = String::new();
    let height = TOP + 2.0 * PANEL + GAP + 40.0;
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = format!("ims-bench — {} — {}", report.label, report.target);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="20" font-size="14">{}</text>"#,
        escape(&title)
    );
    let seconds = ticks.len().max(1) as f64;
    let x = |i: usize| LEFT + (W - LEFT - RIGHT) * (i as f64 + 0.5) / seconds;
    let warm = ticks.iter().take_while(|t| !t.measured).count();

    // Latency panel, log10 from the smallest to the largest value seen.
    let top = TOP;
    let values = ticks
        .iter()
        .flat_map(|t| [t.p50_ms, t.p99_ms, t.p999_ms])
        .filter(|v| *v > 0.0);
    let (lo, hi) = values.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if hi > 0.0 {
        (
            lo.log10().floor(),
            hi.log10().ceil().max(lo.log10().floor() + 1.0),
        )
    } else {
        (0.0, 1.0)
    };
    let y_lat =
        |v: f64| top + PANEL - PANEL * ((v.max(1e-3).log10() - lo) / (hi - lo)).clamp(0.0, 1.0);
    frame(&mut svg, top, "latency (ms, log scale)", warm, &x);
    let mut decade = lo;
    while decade <= hi {
        let v = 10f64.powf(decade);
        let y = y_lat(v);
        grid(&mut svg, y, &super::text::fmt_ms(v));
        decade += 1.0;
    }
    let series: [Series; 3] = [
        ("P50", "#1f77b4", |t| t.p50_ms),
        ("P99", "#ff7f0e", |t| t.p99_ms),
        ("P99.9", "#d62728", |t| t.p999_ms),
    ];
    for (k, (name, color, get)) in series.iter().enumerate() {
        let points: Vec<(f64, f64)> = ticks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.requests > 0)
            .map(|(i, t)| (x(i), y_lat(get(t))))
            .collect();
        line(&mut svg, &points, color);
        legend(&mut svg, top + 15.0 + 18.0 * k as f64, name, color);
    }

    // Throughput panel, linear from 0.
    let top = TOP + PANEL + GAP;
    let max_rps = ticks.iter().map(|t| t.requests).max().unwrap_or(0).max(1) as f64;
    let scale = nice(max_rps);
    let y_rps = |v: f64| top + PANEL - PANEL * (v / scale).clamp(0.0, 1.0);
    frame(&mut svg, top, "requests per second", warm, &x);
    for k in 0..=4 {
        let v = scale * k as f64 / 4.0;
        grid(&mut svg, y_rps(v), &format!("{v:.0}"));
    }
    let rps: Vec<(f64, f64)> = ticks
        .iter()
        .enumerate()
        .map(|(i, t)| (x(i), y_rps(t.requests as f64)))
        .collect();
    let errors: Vec<(f64, f64)> = ticks
        .iter()
        .enumerate()
        .map(|(i, t)| (x(i), y_rps(t.errors as f64)))
        .collect();
    line(&mut svg, &rps, "#2ca02c");
    line(&mut svg, &errors, "#d62728");
    legend(&mut svg, top + 15.0, "answers/s", "#2ca02c");
    legend(&mut svg, top + 33.0, "errors/s", "#d62728");
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds since start (shaded: warm-up)</text>"#,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        top + PANEL + 30.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn frame(svg: &mut String, top: f64, title: &str, warm: usize, x: &dyn Fn(usize) -> f64) {
    let width = W - LEFT - RIGHT;
    if warm > 0 {
        let w = x(warm) - LEFT - (x(1) - x(0)) / 2.0;
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{top}" width="{w:.1}" height="{PANEL}" fill="#eeeeee"/>"##
        );
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{top}" width="{width}" height="{PANEL}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{}">{}</text>"#,
        top - 6.0,
        escape(title)
    );
}

fn grid(svg: &mut String, y: f64, label: &str) {
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#dddddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
        W - RIGHT,
        LEFT - 6.0,
        y + 4.0,
        escape(label)
    );
}

fn line(svg: &mut String, points: &[(f64, f64)], color: &str) {
    if points.is_empty() {
        return;
    }
    let path: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    let _ = writeln!(
        svg,
        r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"#,
        path.join(" ")
    );
}

fn legend(svg: &mut String, y: f64, name: &str, color: &str) {
    let x = W - RIGHT + 15.0;
    let _ = writeln!(
        svg,
        r#"<line x1="{x}" x2="{}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
        x + 20.0,
        x + 26.0,
        y + 4.0,
        escape(name)
    );
}

/// The next of 1, 2, 5 × 10^k at or above `v`.
fn nice(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * p)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round_numbers() {
        assert_eq!(nice(1.0), 1.0);
        assert_eq!(nice(4_321.0), 5_000.0);
        assert_eq!(nice(5_001.0), 10_000.0);
        assert_eq!(escape("a<b & c"), "a&lt;b &amp; c");
    }
}
