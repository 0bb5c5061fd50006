//! The live line while the load runs: phase, time, answers per second, P50/P99 of the last
//! second, errors and connections. On a terminal it redraws in place (indicatif); otherwise
//! (a log file) it prints every tenth second.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        if !enabled {
            return Self {
                bar: None,
                plain: false,
            };
        }
        if !std::io::stderr().is_terminal() {
            return Self {
                bar: None,
                plain: true,
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            bar.set_style(style);
        }
        Self {
            bar: Some(bar),
            plain: false,
        }
    }

    pub fn update(&self, second: u32, line: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(line.to_owned());
            bar.tick();
        } else if self.plain && second.is_multiple_of(10) {
            eprintln!("{line}");
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
