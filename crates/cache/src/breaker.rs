//! The breaker: after a Redis command fails or times out, requests skip Redis for a cooldown
//! (`IMS_REDIS_TIMEOUT_MS` must not be paid by every request while Redis is down) and read the
//! database instead.
//!
//! On one server, or behind Sentinels, it opens for Redis as a whole, and a new connection (a
//! new master) closes it early. On a Redis Cluster each master has its own: a command that
//! fails opens it for the master serving its key's slot only ([`Scope::Masters`]), so while
//! one master is replaced the keys of the others stay cached. Until the slot map is known
//! (the first look after connecting) a failure opens it for the whole cluster.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a Redis step talks to, and so what its failure opens the breaker for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Redis as a whole: one server, or a cluster whose slot map is not known yet.
    Whole,
    /// These masters of a cluster (the ones serving the step's keys).
    Masters(Vec<Arc<str>>),
    /// A cluster-wide command (`PING`, `INFO`, a purge's `SCAN`): its failure says nothing
    /// about any one key's master, so it opens nothing; it is refused only while the whole
    /// breaker is open.
    Cluster,
}

pub(crate) struct Breaker {
    started: Instant,
    cooldown_ms: u64,
    /// Milliseconds since `started` until which Redis as a whole is skipped...
    open_until_ms: AtomicU64,
    /// ...unless the connector has a newer connection than the one that failed.
    open_generation: AtomicU64,
    /// Per master of a cluster: until when it is skipped.
    masters: Mutex<HashMap<Arc<str>, u64>>,
    /// The latest of those: once it is past, no master's is open and `masters` is not read.
    masters_until_ms: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(cooldown: Duration) -> Self {
        Self {
            started: Instant::now(),
            cooldown_ms: u64::try_from(cooldown.as_millis()).unwrap_or(1000),
            open_until_ms: AtomicU64::new(0),
            open_generation: AtomicU64::new(0),
            masters: Mutex::default(),
            masters_until_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a step in `scope` must skip Redis now, `generation` being the connector's
    /// current one.
    pub(crate) fn is_open(&self, generation: u64, scope: &Scope) -> bool {
        self.is_open_at(self.now_ms(), generation, scope)
    }

    fn is_open_at(&self, now: u64, generation: u64, scope: &Scope) -> bool {
        if now < self.open_until_ms.load(Ordering::Relaxed)
            && self.open_generation.load(Ordering::Relaxed) == generation
        {
            return true;
        }
        let Scope::Masters(masters) = scope else {
            return false;
        };
        if now >= self.masters_until_ms.load(Ordering::Relaxed) {
            return false;
        }
        let open = self.lock();
        masters
            .iter()
            .any(|master| open.get(master).is_some_and(|until| now < *until))
    }

    /// A step in `scope` failed on the connection of `generation`: open the breaker for what
    /// it talked to, for the cooldown.
    pub(crate) fn trip(&self, generation: u64, scope: &Scope) {
        self.trip_at(self.now_ms(), generation, scope);
    }

    fn trip_at(&self, now: u64, generation: u64, scope: &Scope) {
        let until = now + self.cooldown_ms;
        match scope {
            Scope::Whole => {
                self.open_generation.store(generation, Ordering::Relaxed);
                self.open_until_ms.store(until, Ordering::Relaxed);
            }
            Scope::Masters(masters) => {
                let mut open = self.lock();
                // Forget the closed ones: masters come and go with failovers and reshards.
                open.retain(|_, until| now < *until);
                for master in masters {
                    open.insert(master.clone(), until);
                }
                self.masters_until_ms.fetch_max(until, Ordering::Relaxed);
            }
            Scope::Cluster => {}
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, u64>> {
        // Nothing panics while holding it; a poisoned map is still a valid one.
        self.masters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masters(names: &[&str]) -> Scope {
        Scope::Masters(names.iter().map(|n| Arc::from(*n)).collect())
    }

    #[test]
    fn a_master_failing_leaves_the_others_open_to_requests() {
        let breaker = Breaker::new(Duration::from_millis(1000));
        breaker.trip_at(100, 1, &masters(&["a:1"]));
        assert!(breaker.is_open_at(200, 1, &masters(&["a:1"])));
        assert!(breaker.is_open_at(200, 1, &masters(&["b:2", "a:1"])));
        assert!(!breaker.is_open_at(200, 1, &masters(&["b:2"])));
        assert!(!breaker.is_open_at(200, 1, &Scope::Cluster));
        assert!(!breaker.is_open_at(200, 1, &Scope::Whole));
        // Closed again after the cooldown.
        assert!(!breaker.is_open_at(1100, 1, &masters(&["a:1"])));
    }

    #[test]
    fn the_whole_breaker_closes_on_a_new_connection() {
        let breaker = Breaker::new(Duration::from_millis(1000));
        breaker.trip_at(100, 1, &Scope::Whole);
        for scope in [Scope::Whole, Scope::Cluster, masters(&["a:1"])] {
            assert!(breaker.is_open_at(500, 1, &scope), "{scope:?}");
        }
        assert!(!breaker.is_open_at(500, 2, &Scope::Whole));
        assert!(!breaker.is_open_at(1100, 1, &Scope::Whole));
    }

    #[test]
    fn a_failing_cluster_wide_command_opens_nothing() {
        let breaker = Breaker::new(Duration::from_millis(1000));
        breaker.trip_at(100, 1, &Scope::Cluster);
        assert!(!breaker.is_open_at(200, 1, &Scope::Whole));
        assert!(!breaker.is_open_at(200, 1, &masters(&["a:1"])));
    }
}
