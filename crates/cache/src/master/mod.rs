//! Where Redis is: one fixed server (`IMS_REDIS_URL`), the master of a set the Sentinels
//! monitor (`IMS_REDIS_SENTINELS`), followed through failovers, or a Redis Cluster
//! (`IMS_REDIS_CLUSTER`). The cache (`store`) and the rate limit (`ratelimit`) take their
//! connection from here; what to do while Redis fails (the breaker, the bypass to the
//! database) is theirs.
//!
//! Following the master: its address comes from the Sentinels through the redis crate's
//! `Sentinel`, which also checks with `ROLE` that the server they name is a master. When a
//! command fails on it (refused, timed out, or `READONLY` from a master demoted to replica),
//! the user calls [`Connector::failed`], which drops the connection; the next use asks the
//! Sentinels again, and until they name a live master requests bypass Redis. A watcher also
//! asks them every [`WATCH_INTERVAL`] which server is the master, so a switch is followed
//! even when the old master still answers (a manual failover, a partition), and the new
//! master is connected as soon as it is elected rather than on the first request after the
//! breaker's cooldown.
//!
//! Each new connection bumps a generation: a breaker opened on an older one need not wait out
//! its cooldown. A connection to a different server than the last counts as a switch
//! (`ims_redis_master_switches_total`): the cache purges itself then, because replication is
//! asynchronous and the last invalidations the old master acknowledged may never have reached
//! the new one.
//!
//! On a cluster, redis-rs's cluster connection finds each slot's master and follows failovers
//! and slot moves itself (see `conn`); the one connection is kept. A watcher reads
//! `CLUSTER NODES` as soon as it connects and then every [`WATCH_INTERVAL`], for two things:
//! the slot map (which master serves each key: the breaker and the purge act on one master,
//! see `breaker`), and the promotions: a replica that now serves slots was promoted, and its
//! master's last acknowledged invalidations may be lost as above, so it counts as a switch and
//! the cache purges that master. Slots moved to another master (a reshard) move their keys
//! with them: no switch.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::breaker::Scope;
use crate::conn::Conn;
use crate::slots::SlotMap;
use crate::{CacheConfig, Error};

use cluster::{clustered, watch_cluster, Clustered};
use sentinel::{watch, Followed};

mod cluster;
mod sentinel;

/// How many promotions a cluster's connector remembers for the cache to purge their masters
/// (it asks after every switch; more in between make it purge the whole cluster).
const PROMOTIONS_KEPT: usize = 16;

/// How often the watcher asks the Sentinels where the master is: one tiny command per
/// instance, and at most this long added to a failover (which takes the Sentinels'
/// `down-after-milliseconds` plus an election, about 2 s on the cluster).
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// The Sentinels that know where the master is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelConfig {
    /// `host:port` of each Sentinel; asked in this order.
    pub sentinels: Vec<String>,
    /// The master set's name (`sentinel monitor <name> ...`).
    pub master: String,
}

/// A connection and the generation it belongs to.
pub(crate) type Connection = (Conn, u64);

/// Cheap to clone; the watcher stops when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Connector {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    timeout: Duration,
    /// Who connects (`cache`, `ratelimit`): the metric's label.
    user: &'static str,
    state: Mutex<State>,
    /// One connection attempt at a time: a burst of requests after a failure makes one.
    connecting: tokio::sync::Mutex<()>,
    /// Mirrors `state.generation`, readable without the lock on every request.
    generation: AtomicU64,
    switches: AtomicU64,
    /// On a cluster: the slot map of the watcher's last look (none before its first).
    slot_map: ArcSwapOption<SlotMap>,
    /// On a cluster: the last masters promoted from replicas, each with the switch it counted.
    promotions: Mutex<VecDeque<(u64, Arc<str>)>>,
}

#[derive(Default)]
struct State {
    manager: Option<Conn>,
    /// The server of the last connection made (kept after it is dropped, to tell a switch).
    addr: Option<String>,
    generation: u64,
}

enum Source {
    Fixed(redis::Client),
    Sentinels(Followed),
    Cluster(Clustered),
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout)
        .set_number_of_retries(0)
}

impl Connector {
    /// Checks the settings only; nothing is connected until first use.
    pub(crate) fn new(config: &CacheConfig, user: &'static str) -> Result<Self, Error> {
        let source = match &config.sentinel {
            None if !config.cluster.is_empty() => Source::Cluster(clustered(config)?),
            None => Source::Fixed(redis::Client::open(config.url.as_str())?),
            Some(sentinel) if sentinel.sentinels.is_empty() => {
                return Err(Error::Redis(redis::RedisError::from((
                    redis::ErrorKind::EmptySentinelList,
                    "at least one Sentinel is required",
                ))));
            }
            Some(sentinel) => Source::Sentinels(Followed::new(config, sentinel)?),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                source,
                timeout: config.timeout,
                user,
                state: Mutex::default(),
                connecting: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                switches: AtomicU64::new(0),
                slot_map: ArcSwapOption::empty(),
                promotions: Mutex::default(),
            }),
        })
    }

    /// The current connection, or a new one to the master. No timeout of its own: callers
    /// bound it with theirs.
    pub(crate) async fn connection(&self) -> Result<Connection, Error> {
        if let Some(connection) = self.inner.current() {
            return Ok(connection);
        }
        // Boxed: every cache read awaits this, and would otherwise carry the size of the
        // connecting path (Sentinels asked, a cluster's nodes met) in its own future.
        Box::pin(self.connect_once()).await
    }

    /// The connection made by one caller while the others wait for it.
    async fn connect_once(&self) -> Result<Connection, Error> {
        let _one = self.inner.connecting.lock().await;
        if let Some(connection) = self.inner.current() {
            return Ok(connection);
        }
        let connection = self.inner.connect().await?;
        match &self.inner.source {
            Source::Sentinels(followed) => followed.watching.call_once(|| {
                tokio::spawn(watch(Arc::downgrade(&self.inner)));
            }),
            Source::Cluster(clustered) => clustered.watching.call_once(|| {
                tokio::spawn(watch_cluster(Arc::downgrade(&self.inner)));
            }),
            Source::Fixed(_) => {}
        }
        Ok(connection)
    }

    /// A command on the connection of `generation` failed. Behind Sentinels the connection is
    /// dropped, so the next use asks them where the master is now; a fixed server's
    /// connection, and a cluster's, reconnect by themselves.
    pub(crate) fn failed(&self, generation: u64) {
        if matches!(self.inner.source, Source::Sentinels(_)) {
            let mut state = self.inner.lock();
            if state.generation == generation && state.manager.take().is_some() {
                tracing::info!(
                    user = self.inner.user,
                    "redis connection dropped after a failure"
                );
            }
        }
    }

    /// A client for the server connections go to now (the master the Sentinels name), for a
    /// connection of another kind than the shared one (a subscription). On a cluster, where a
    /// message published on any node reaches every node, one of the configured nodes: the
    /// next one at each call, so a subscriber that lost its node tries another. No timeout
    /// of its own.
    pub(crate) async fn client(&self) -> Result<redis::Client, Error> {
        match &self.inner.source {
            Source::Fixed(client) => Ok(client.clone()),
            Source::Sentinels(followed) => followed.master_client(self.inner.timeout).await,
            Source::Cluster(clustered) => {
                let i = clustered.next.fetch_add(1, Ordering::Relaxed) % clustered.nodes.len();
                Ok(clustered.nodes[i].clone())
            }
        }
    }

    /// Bumped by each new connection.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// How many times the connection moved to another server.
    pub(crate) fn switches(&self) -> u64 {
        self.inner.switches.load(Ordering::Acquire)
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.inner.source, Source::Cluster(_))
    }

    /// What a step on the keys named `names` talks to: on a cluster whose slot map is known,
    /// the masters serving them; else Redis as a whole.
    pub(crate) fn scope_of<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Scope {
        if !self.is_cluster() {
            return Scope::Whole;
        }
        let Some(map) = self.inner.slot_map.load_full() else {
            return Scope::Whole;
        };
        let mut masters: Vec<Arc<str>> = Vec::new();
        for name in names {
            let Some(master) = map.owner(name) else {
                return Scope::Whole;
            };
            if !masters.contains(master) {
                masters.push(master.clone());
            }
        }
        Scope::Masters(masters)
    }

    /// What a command for no key in particular (`PING`, `INFO`) talks to.
    pub(crate) fn scope_of_any(&self) -> Scope {
        if self.is_cluster() {
            Scope::Cluster
        } else {
            Scope::Whole
        }
    }

    /// The masters serving slots, on a cluster whose slot map is known.
    pub(crate) fn masters(&self) -> Option<Vec<Arc<str>>> {
        Some(self.inner.slot_map.load_full()?.masters().to_vec())
    }

    /// The masters promoted after switch number `seen`, on a cluster that remembers them all;
    /// `None` otherwise (one server, Sentinels, or too many promotions since).
    pub(crate) fn promoted_since(&self, seen: u64) -> Option<Vec<Arc<str>>> {
        if !self.is_cluster() {
            return None;
        }
        let promotions = self.inner.lock_promotions();
        let oldest = promotions.front().map_or(u64::MAX, |(switch, _)| *switch);
        if oldest > seen + 1 && self.switches() > seen {
            return None;
        }
        Some(
            promotions
                .iter()
                .filter(|(switch, _)| *switch > seen)
                .map(|(_, master)| master.clone())
                .collect(),
        )
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still holds a valid state.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn current(&self) -> Option<Connection> {
        let state = self.lock();
        state.manager.clone().map(|m| (m, state.generation))
    }

    async fn connect(&self) -> Result<Connection, Error> {
        let client = match &self.source {
            Source::Fixed(client) => client.clone(),
            Source::Sentinels(followed) => followed.master_client(self.timeout).await?,
            Source::Cluster(clustered) => {
                let conn = Conn::Cluster(clustered.client.get_async_connection().await?);
                return Ok(self.connected(conn, "cluster".into()));
            }
        };
        let addr = client.get_connection_info().addr.to_string();
        let manager =
            ConnectionManager::new_with_config(client, manager_config(self.timeout)).await?;
        Ok(self.connected(Conn::Single(manager), addr))
    }

    fn lock_promotions(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Arc<str>)>> {
        self.promotions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A cluster's replica at `to` was promoted: counted as a switch, remembered for the
    /// cache to purge it.
    fn count_promotion(&self, to: &str) {
        // Under the lock, so the cache never sees the switch without the promotion.
        let mut promotions = self.lock_promotions();
        let switch = self.count_switch(None, to);
        promotions.push_back((switch, Arc::from(to)));
        if promotions.len() > PROMOTIONS_KEPT {
            promotions.pop_front();
        }
    }

    /// Counts a switch: the cache purges itself (see the module's note). Answers the count.
    fn count_switch(&self, from: Option<&str>, to: &str) -> u64 {
        let switch = self.switches.fetch_add(1, Ordering::AcqRel) + 1;
        metrics::counter!("ims_redis_master_switches_total", "client" => self.user).increment(1);
        // Addresses only: the URL's password never reaches a log.
        tracing::warn!(user = self.user, from = ?from, to = %to, "redis master switched");
        switch
    }

    fn connected(&self, manager: Conn, addr: String) -> Connection {
        let mut state = self.lock();
        if let Some(previous) = state.addr.as_deref().filter(|previous| *previous != addr) {
            self.count_switch(Some(previous), &addr);
        }
        state.addr = Some(addr);
        state.generation += 1;
        state.manager = Some(manager.clone());
        self.generation.store(state.generation, Ordering::Release);
        (manager, state.generation)
    }
}
