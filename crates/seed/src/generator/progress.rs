//! Progress bars (one per phase, on stderr; indicatif hides them when stderr is not a
//! terminal) and the timings and row counts the summary reports.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// What the run did: rows per table and time per phase, in order.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub tables: Vec<(&'static str, u64)>,
    pub phases: Vec<(String, Duration)>,
}

impl Report {
    pub(crate) fn add_rows(&mut self, table: &'static str, rows: u64) {
        match self.tables.iter_mut().find(|(t, _)| *t == table) {
            Some(entry) => entry.1 += rows,
            None => self.tables.push((table, rows)),
        }
    }

    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

pub(crate) struct Progress {
    multi: MultiProgress,
}

/// A running phase: its bar and when it began.
pub(crate) struct Phase {
    label: String,
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    pub(crate) fn new() -> Self {
        Self {
            multi: MultiProgress::new(),
        }
    }

    /// A bar of `len` steps (rows, statements); a spinner when `len` is 0.
    pub(crate) fn start(&self, label: &str, len: u64) -> Phase {
        let bar = if len == 0 {
            ProgressBar::new_spinner()
        } else {
            ProgressBar::new(len)
        };
        let template = if len == 0 {
            "{prefix:>28} {spinner} {elapsed_precise} {msg}"
        } else {
            "{prefix:>28} [{bar:32}] {human_pos}/{human_len} {per_sec:>14} {elapsed_precise} {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_owned());
        let bar = self.multi.add(bar);
        bar.enable_steady_tick(Duration::from_millis(200));
        Phase {
            label: label.to_owned(),
            bar,
            started: Instant::now(),
        }
    }
}

impl Phase {
    pub(crate) fn advance(&self, steps: u64) {
        self.bar.inc(steps);
    }

    pub(crate) fn message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Stops the bar; returns the phase's name and time.
    pub(crate) fn stop(self) -> (String, Duration) {
        let elapsed = self.started.elapsed();
        self.bar
            .set_message(format!("{:.1}s", elapsed.as_secs_f64()));
        self.bar.finish();
        (self.label, elapsed)
    }

    /// Stops the bar and records the phase's time.
    pub(crate) fn finish(self, report: &mut Report) {
        report.phases.push(self.stop());
    }
}
