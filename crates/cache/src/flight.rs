//! Single flight: while one request loads a missing key from the database, concurrent misses
//! of the same key wait for its result instead of querying too (no stampede).
//!
//! Written here rather than taken from a crate: the few single-flight crates are unmaintained
//! or tied to other runtimes, and the whole mechanism is a map of `tokio::sync::watch`
//! channels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

use crate::Outcome;

/// What a finished flight hands its followers: the value, how it was found, and its stock
/// figures when it has them.
pub(crate) type Value = (Bytes, Outcome, Option<crate::Tally>);

/// `None` while in flight; then the value, or `None` when the load failed.
type Landing = Option<Option<Value>>;

#[derive(Default)]
pub(crate) struct Flights {
    running: Mutex<HashMap<String, watch::Receiver<Landing>>>,
}

pub(crate) enum Role {
    /// Load the value, then [`Leader::land`] it for the followers.
    Leader(Leader),
    /// Another request is loading: wait with [`Follower::wait`].
    Follower(watch::Receiver<Landing>),
}

pub(crate) struct Leader {
    flights: Arc<Flights>,
    id: String,
    sender: watch::Sender<Landing>,
}

impl Flights {
    pub(crate) fn join(self: &Arc<Self>, id: &str) -> Role {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(receiver) = running.get(id) {
            return Role::Follower(receiver.clone());
        }
        let (sender, receiver) = watch::channel(None);
        running.insert(id.to_owned(), receiver);
        Role::Leader(Leader {
            flights: self.clone(),
            id: id.to_owned(),
            sender,
        })
    }
}

impl Flights {
    /// Detaches the flights of `key` (every field): reads that start after an invalidation
    /// must not be handed a value loaded before it. Reads already waiting keep theirs: they
    /// began before the write finished.
    pub(crate) fn forget(&self, key: &str) {
        let prefix = format!("{key}\u{0}");
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|id, _| !id.starts_with(&prefix));
    }
}

impl Leader {
    /// Hands the value (or `None` for a failed load) to every follower.
    pub(crate) fn land(self, value: Option<Value>) {
        let _ = self.sender.send(Some(value));
        // Drop removes the flight.
    }
}

impl Drop for Leader {
    /// Also runs when the leading request is cancelled: its followers then load themselves.
    fn drop(&mut self) {
        let mut running = self
            .flights
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if running
            .get(&self.id)
            .is_some_and(|r| r.same_channel(&self.sender.subscribe()))
        {
            running.remove(&self.id);
        }
    }
}

/// Waits for the leader; `None` when it failed or went away (load for yourself then).
pub(crate) async fn wait(mut receiver: watch::Receiver<Landing>) -> Option<Value> {
    match receiver.wait_for(Option::is_some).await {
        Ok(landing) => landing.clone().flatten(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn read(flights: Arc<Flights>, loads: Arc<AtomicUsize>) -> Option<Bytes> {
        match flights.join("k") {
            Role::Leader(leader) => {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let value = Bytes::from_static(b"v");
                leader.land(Some((value.clone(), Outcome::Miss, None)));
                Some(value)
            }
            Role::Follower(receiver) => wait(receiver).await.map(|(bytes, _, _)| bytes),
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_load() {
        let flights = Arc::new(Flights::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            tasks.spawn(read(flights.clone(), loads.clone()));
        }
        while let Some(result) = tasks.join_next().await {
            assert_eq!(result.expect("task").as_deref(), Some(&b"v"[..]));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert!(
            flights.running.lock().expect("lock").is_empty(),
            "finished flights are forgotten"
        );
    }

    #[tokio::test]
    async fn followers_of_a_vanished_leader_load_themselves() {
        let flights = Arc::new(Flights::default());
        let Role::Leader(leader) = flights.join("k") else {
            panic!("first caller leads")
        };
        let Role::Follower(receiver) = flights.join("k") else {
            panic!("second follows")
        };
        drop(leader);
        assert_eq!(wait(receiver).await, None);
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }
}
