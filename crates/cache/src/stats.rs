//! Hit, miss and bypass counters per cache type, read by the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::keys::CacheType;

/// How one read was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    /// Redis was unavailable: served from the database without the cache.
    Bypass,
}

impl Outcome {
    /// The `X-Cache` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Bypass => "bypass",
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
}

/// Counters for every [`CacheType`], plus Redis errors.
#[derive(Debug, Default)]
pub struct Stats {
    counters: [Counters; 6],
    errors: AtomicU64,
}

/// A snapshot of one type's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeStats {
    pub kind: CacheType,
    pub hits: u64,
    pub misses: u64,
    pub bypasses: u64,
}

impl Stats {
    fn slot(&self, kind: CacheType) -> &Counters {
        let index = CacheType::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        &self.counters[index]
    }

    pub fn record(&self, kind: CacheType, outcome: Outcome) {
        let counters = self.slot(kind);
        let counter = match outcome {
            Outcome::Hit => &counters.hits,
            Outcome::Miss => &counters.misses,
            Outcome::Bypass => &counters.bypasses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Vec<TypeStats> {
        CacheType::ALL
            .iter()
            .map(|kind| {
                let c = self.slot(*kind);
                TypeStats {
                    kind: *kind,
                    hits: c.hits.load(Ordering::Relaxed),
                    misses: c.misses.load(Ordering::Relaxed),
                    bypasses: c.bypasses.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}
