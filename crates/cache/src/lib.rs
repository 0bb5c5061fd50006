//! The only code that talks to Redis: cache-aside reads with single flight, invalidation that
//! never lets a slow reader put an old value back, and a breaker that bypasses Redis while it
//! is down.
//!
//! Redis is an accelerator, never a dependency of an answer: every operation has a short
//! timeout, and any failure turns into a database read (`X-Cache: bypass`), not an error.
//!
//! # Layout
//! - [`keys`]: the key names and TTLs.
//! - [`stats`]: hit, miss and bypass counters per cache type.
//! - [`ratelimit`]: the exact, cross-instance rate limit (GCRA in a Lua script).
//! - `flight`: single flight for concurrent misses of one key.
//! - `local`: the in-process layer in front of Redis for sessions and profiles, and
//!   `subscriber`, which keeps it in step with the other instances' writes.
//! - `store`: reads, write-backs and invalidations in Redis; its `scripts` (the Lua) and its
//!   `purge` after a failed invalidation or a master switch.
//! - `breaker`: skipping Redis, or one master of a cluster, for a second after a failure.
//! - `master`: where Redis is: a fixed server, the master the Sentinels name, followed
//!   through failovers, or a Redis Cluster; `conn`: the connection to either; `slots`: which
//!   master of a cluster serves a key.

mod breaker;
mod conn;
mod flight;
pub mod keys;
mod local;
mod many;
mod master;
pub mod ratelimit;
mod read;
mod slots;
pub mod stats;
mod store;
mod subscriber;

use std::sync::Arc;
use std::time::Duration;

pub use keys::{CacheType, Key, Stale, Tally, TallyOf};
pub use master::SentinelConfig;
pub use ratelimit::{Decision, Rate, RateLimiter};
pub use stats::{Outcome, Stats, TypeStats};
pub use store::Memory;
use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("redis error")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the cache is bypassed after a recent failure")]
    Bypassed,
}

/// How to reach and use Redis.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The server; with `sentinel`, only its user, password, database number and TLS are
    /// used, for the master the Sentinels name.
    pub url: String,
    /// Follow the master of a Sentinel-monitored set instead of a fixed server.
    pub sentinel: Option<SentinelConfig>,
    /// `host:port` of some nodes of a Redis Cluster to use instead of a fixed server (empty:
    /// none); `url` then brings only the user, password and TLS.
    pub cluster: Vec<String>,
    /// Per operation; after it the request is served from the database.
    pub timeout: Duration,
    /// Prepended to every key: lets tests (or two services) share one Redis.
    pub prefix: String,
    /// After a failure, how long requests skip Redis before it is tried again.
    pub cooldown: Duration,
    /// `false` turns the cache off entirely (every read is a bypass), for baselines.
    pub enabled: bool,
}

impl CacheConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            sentinel: None,
            cluster: Vec::new(),
            timeout: Duration::from_millis(250),
            prefix: String::new(),
            cooldown: Duration::from_secs(1),
            enabled: true,
        }
    }
}

/// The cache. Cheap to clone.
#[derive(Clone)]
pub struct Cache {
    store: Arc<Store>,
    flights: Arc<flight::Flights>,
    stats: Arc<Stats>,
    local: Arc<local::Local>,
}

impl Cache {
    /// Checks the URL only; no connection is made until the cache is first used, so the
    /// service starts (and serves from the database) while Redis is down.
    ///
    /// Inside a Tokio runtime it also starts the subscription that keeps the in-process layer
    /// in step with other instances (the layer stays off until it is up, and without a
    /// runtime, or with the cache off, for good).
    pub fn new(config: CacheConfig) -> Result<Self, Error> {
        let local = Arc::new(local::Local::new());
        let store = Store::new(config.clone())?;
        if config.enabled {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(subscriber::run(
                    Arc::downgrade(&local),
                    store.connector().clone(),
                    store.channel(),
                    config.timeout,
                ));
            }
        }
        Ok(Self {
            store: Arc::new(store),
            flights: Arc::default(),
            stats: Arc::default(),
            local,
        })
    }

    /// The rate limit on this cache's Redis connection: a read's step of the limit and its
    /// cache read, sent at once (`api::ratelimit`), then leave in one write and come back in
    /// one read, instead of one round trip on each of two connections. It still counts when
    /// the cache is off, and its breaker is its own.
    pub fn rate_limiter(&self) -> RateLimiter {
        RateLimiter::on(self.store.connector().clone(), self.store.config())
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether requests are skipping Redis right now.
    pub fn bypassing(&self) -> bool {
        self.store.bypassing()
    }

    /// Redis memory use and limit, and evicted keys.
    pub async fn memory(&self) -> Result<Memory, Error> {
        self.store.memory().await
    }

    /// The variants cached under `key` right now (none while Redis is bypassed or failing):
    /// for a write that forgets the key and then loads back the variants readers had, not
    /// only its own.
    pub async fn variants(&self, key: &Key) -> Vec<String> {
        self.store.variants(key).await.unwrap_or_default()
    }

    /// Whether Redis answers a PING within the timeout.
    pub async fn ping(&self) -> Result<(), Error> {
        self.store.ping().await
    }

    /// Forgets what `stale` names (whole keys or some variants) and makes any read of those
    /// keys that began before this call unable to write its now-old value back. Call after
    /// the write's transaction commits and before its response is sent.
    pub async fn invalidate<S: Clone + Into<Stale>>(&self, stale: &[S]) {
        if stale.is_empty() {
            return;
        }
        let stale: Vec<Stale> = stale.iter().cloned().map(Into::into).collect();
        for item in &stale {
            self.flights.forget(&item.key().name);
        }
        let held: Vec<&str> = stale
            .iter()
            .map(Stale::key)
            .filter(|key| local::Local::holds(key.kind))
            .map(|key| key.name.as_str())
            .collect();
        self.local.forget(held.iter().copied());
        if let Err(e) = self.store.invalidate(&stale, &held).await {
            // The keys may still hold old values: the store has marked what it must purge
            // before it is trusted again.
            self.note_failure(&e);
        }
        // Again: a read of this instance may have put the old value back from Redis between
        // the first forget and Redis forgetting it.
        self.local.forget(held.iter().copied());
    }

    fn note_failure(&self, error: &Error) {
        if !matches!(error, Error::Bypassed) {
            self.stats.record_error();
            tracing::warn!(error = %error, "cache unavailable; serving from the database");
        }
    }
}
