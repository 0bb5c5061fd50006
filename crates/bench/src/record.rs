//! Where answers are counted while the load runs: HDR histograms of latency per operation,
//! statuses, and what the cache said. Thousands of virtual users record at once, so the
//! recorder is split in shards (a user always uses the same one) and each lock is held for
//! one histogram update. A ticker drains the per-second windows for the timeline and the
//! progress line.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::http::CacheSeen;
use crate::mix::Op;

/// Latencies are kept in microseconds up to this (longer ones count as this).
const MAX_MICROS: u64 = 300_000_000;
/// A transport failure (connection refused or reset) in the status counts.
pub const STATUS_TRANSPORT: u16 = 0;
/// No answer within the request timeout.
pub const STATUS_TIMEOUT: u16 = 1;

pub fn histogram() -> Histogram<u64> {
    // Bounds and 3 significant figures are valid constants.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).unwrap_or_else(|e| panic!("histogram bounds: {e}"))
}

/// What one operation got over the measured window.
#[derive(Debug, Clone)]
pub struct OpStats {
    pub latency: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    /// Indexed by [`CacheSeen`].
    pub cache: [u64; 4],
}

impl OpStats {
    pub fn empty() -> Self {
        Self {
            latency: histogram(),
            statuses: BTreeMap::new(),
            cache: [0; 4],
        }
    }

    pub fn add(&mut self, other: &OpStats) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        for (a, b) in self.cache.iter_mut().zip(other.cache) {
            *a += b;
        }
    }

    pub fn requests(&self) -> u64 {
        self.statuses.values().sum()
    }
}

/// One second of the run, for the timeline.
#[derive(Debug, Clone)]
pub struct Window {
    pub latency: Histogram<u64>,
    pub errors: u64,
}

struct Shard {
    ops: Vec<OpStats>,
    window: Window,
}

pub struct Recorder {
    shards: Vec<Mutex<Shard>>,
}

/// One answer (or failure).
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub op: Op,
    pub latency: Duration,
    pub status: u16,
    pub cache: CacheSeen,
    /// Inside the measured window (warm-up answers only feed the timeline).
    pub measured: bool,
}

pub fn is_error(status: u16) -> bool {
    !(200..400).contains(&status)
}

impl Recorder {
    pub fn new(shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| {
                Mutex::new(Shard {
                    ops: Op::ALL.iter().map(|_| OpStats::empty()).collect(),
                    window: Window {
                        latency: histogram(),
                        errors: 0,
                    },
                })
            })
            .collect();
        Self { shards }
    }

    pub fn record(&self, user: usize, sample: Sample) {
        let shard = &self.shards[user % self.shards.len()];
        // A poisoned shard means a panic elsewhere; the run's numbers are lost anyway.
        let Ok(mut shard) = shard.lock() else { return };
        let micros = (sample.latency.as_micros() as u64).clamp(1, MAX_MICROS);
        shard.window.latency.saturating_record(micros);
        if is_error(sample.status) {
            shard.window.errors += 1;
        }
        if sample.measured {
            let stats = &mut shard.ops[sample.op.index()];
            stats.latency.saturating_record(micros);
            *stats.statuses.entry(sample.status).or_default() += 1;
            stats.cache[sample.cache as usize] += 1;
        }
    }

    /// The answers since the last call, merged, and the windows reset.
    pub fn take_window(&self) -> Window {
        let mut merged = Window {
            latency: histogram(),
            errors: 0,
        };
        for shard in &self.shards {
            if let Ok(mut shard) = shard.lock() {
                let _ = merged.latency.add(&shard.window.latency);
                merged.errors += shard.window.errors;
                shard.window.latency.reset();
                shard.window.errors = 0;
            }
        }
        merged
    }

    /// Every operation's measured stats, merged over the shards, in [`Op::ALL`] order.
    pub fn totals(&self) -> Vec<OpStats> {
        let mut totals: Vec<OpStats> = Op::ALL.iter().map(|_| OpStats::empty()).collect();
        for shard in &self.shards {
            if let Ok(shard) = shard.lock() {
                for (total, part) in totals.iter_mut().zip(&shard.ops) {
                    total.add(part);
                }
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(op: Op, ms: u64, status: u16, measured: bool) -> Sample {
        Sample {
            op,
            latency: Duration::from_millis(ms),
            status,
            cache: if status == 200 {
                CacheSeen::Hit
            } else {
                CacheSeen::None
            },
            measured,
        }
    }

    #[test]
    fn shards_merge_and_warm_up_only_feeds_the_window() {
        let recorder = Recorder::new(4);
        for user in 0..100 {
            recorder.record(user, sample(Op::Search, 10, 200, true));
        }
        recorder.record(7, sample(Op::Search, 5_000, 503, true));
        recorder.record(8, sample(Op::Login, 1, 200, false));
        let totals = recorder.totals();
        let search = &totals[Op::Search.index()];
        assert_eq!(search.requests(), 101);
        assert_eq!(search.statuses[&503], 1);
        assert_eq!(search.cache[CacheSeen::Hit as usize], 100);
        assert_eq!(totals[Op::Login.index()].requests(), 0);

        let window = recorder.take_window();
        assert_eq!(window.latency.len(), 102);
        assert_eq!(window.errors, 1);
        assert_eq!(recorder.take_window().latency.len(), 0);
    }
}
