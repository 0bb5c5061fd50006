//! The only code that talks to Redis: cache-aside reads with single flight, invalidation that
//! never lets a slow reader put an old value back, and a breaker that bypasses Redis while it
//! is down.
//!
//! Redis is an accelerator, never a dependency of an answer: every operation has a short
//! timeout, and any failure turns into a database read (`X-Cache: bypass`), not an error.
//!
//! # Layout
//! - [`keys`]: the plan's key names and TTLs.
//! - [`stats`]: hit, miss and bypass counters per cache type.
//! - `flight`: single flight for concurrent misses of one key.
//! - `store`: the Redis connection, the Lua scripts, the breaker.

mod flight;
pub mod keys;
pub mod stats;
mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use keys::{CacheType, Key};
pub use stats::{Outcome, Stats, TypeStats};
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
    pub url: String,
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
}

impl Cache {
    /// Checks the URL only; no connection is made until the cache is first used, so the
    /// service starts (and serves from the database) while Redis is down.
    pub fn new(config: CacheConfig) -> Result<Self, Error> {
        Ok(Self {
            store: Arc::new(Store::new(config)?),
            flights: Arc::default(),
            stats: Arc::default(),
        })
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether Redis answers a PING within the timeout.
    pub async fn ping(&self) -> Result<(), Error> {
        self.store.ping().await
    }

    /// Cache-aside read of `key`'s `field` (the variant: a query, a caller's scope): the cached
    /// value when there is one; otherwise `load` (run once for all concurrent misses of the
    /// same key and field) whose result is cached unless the key was invalidated meanwhile.
    /// With Redis unavailable, `load` answers alone.
    pub async fn get_or_load<T, E, F, Fut>(
        &self,
        key: &Key,
        field: &str,
        load: F,
    ) -> Result<(T, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let version = match self.store.read(key, field).await {
            Ok(store::Read::Hit(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(value) => {
                    self.stats.record(key.kind, Outcome::Hit);
                    return Ok((value, Outcome::Hit));
                }
                // A value of an older shape (after a deploy): reload it.
                Err(_) => None,
            },
            Ok(store::Read::Miss { version }) => Some(version),
            Err(e) => {
                self.note_failure(&e);
                self.stats.record(key.kind, Outcome::Bypass);
                return load().await.map(|value| (value, Outcome::Bypass));
            }
        };
        self.stats.record(key.kind, Outcome::Miss);
        let flight_id = format!("{}\u{0}{field}", key.name);
        match self.flights.join(&flight_id) {
            flight::Role::Leader(leader) => {
                let loaded = load().await;
                let bytes = loaded
                    .as_ref()
                    .ok()
                    .and_then(|value| serde_json::to_vec(value).ok())
                    .map(Bytes::from);
                leader.land(bytes.clone());
                if let (Some(bytes), Some(version)) = (bytes, version) {
                    if let Err(e) = self.store.write(key, field, &bytes, version).await {
                        self.note_failure(&e);
                    }
                }
                loaded.map(|value| (value, Outcome::Miss))
            }
            flight::Role::Follower(receiver) => {
                let landed = flight::wait(receiver).await;
                match landed.and_then(|bytes| serde_json::from_slice(&bytes).ok()) {
                    Some(value) => Ok((value, Outcome::Miss)),
                    // The leader failed or went away: load alone.
                    None => load().await.map(|value| (value, Outcome::Miss)),
                }
            }
        }
    }

    /// Forgets `keys` (every variant) and makes any read that began before this call unable to
    /// write its now-old value back. Call after the write's transaction commits and before
    /// its response is sent.
    pub async fn invalidate(&self, keys: &[Key]) {
        if keys.is_empty() {
            return;
        }
        if let Err(e) = self.store.invalidate(keys).await {
            // The keys may still hold old values: the store forgets everything it cached
            // before it is trusted again.
            self.store.mark_dirty();
            self.note_failure(&e);
        }
    }

    fn note_failure(&self, error: &Error) {
        if !matches!(error, Error::Bypassed) {
            self.stats.record_error();
            tracing::warn!(error = %error, "cache unavailable; serving from the database");
        }
    }
}
