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
mod master;
pub mod ratelimit;
mod slots;
pub mod stats;
mod store;
mod subscriber;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

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

/// What a load answers: the value, its stock figures ([`Tally`]) when it has them, and its
/// version (see [`Cache::get_or_load_versioned`]) when it has one.
type Loaded<T> = (T, Option<Tally>, Option<i64>);

/// What a read found before it joined the misses' single flight.
#[derive(Clone, Copy)]
struct FirstLook {
    /// Redis answered (with a miss); false means it failed and the read bypasses it.
    redis_up: bool,
    /// [`local::Local::epoch`] taken before Redis was read.
    epoch: u64,
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

    /// Whether Redis answers a PING within the timeout.
    pub async fn ping(&self) -> Result<(), Error> {
        self.store.ping().await
    }

    /// Cache-aside read of `key`'s `field` (the variant: a query, a caller's scope): the cached
    /// value when there is one; otherwise `load`, whose result is cached unless the key was
    /// invalidated meanwhile. Concurrent reads of the same key and field form one flight: one
    /// Redis read and, on a miss, one `load` serve them all; the leader caches the value before
    /// the flight ends, so a read arriving after it finds the value in Redis. With Redis
    /// unavailable, `load` answers alone (still once per flight).
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
        self.read_untallied(key, field, load, true).await
    }

    /// [`Cache::get_or_load`] for the types the in-process layer holds (sessions, profiles):
    /// a value found there is decoded once and shared, not decoded again on every read.
    pub async fn get_or_load_shared<T, E, F, Fut>(
        &self,
        key: &Key,
        field: &str,
        load: F,
    ) -> Result<(Arc<T>, Outcome), E>
    where
        T: Serialize + DeserializeOwned + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.local.get_shared::<T>(key, field) {
            self.stats.record(key.kind, Outcome::Hit);
            return Ok((value, Outcome::Hit));
        }
        let (value, outcome) = self.read_untallied(key, field, load, true).await?;
        Ok((Arc::new(value), outcome))
    }

    /// [`Cache::get_or_load`] without counting the outcome: for a read that is one part of
    /// an answer (a list's page of ids), whose caller counts the answer's outcome once with
    /// [`Stats::record`].
    pub async fn get_or_load_uncounted<T, E, F, Fut>(
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
        self.read_untallied(key, field, load, false).await
    }

    async fn read_untallied<T, E, F, Fut>(
        &self,
        key: &Key,
        field: &str,
        load: F,
        count: bool,
    ) -> Result<(T, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let untallied = || async { load().await.map(|value| (value, None, None)) };
        let (value, _, outcome) = self
            .read_through(key, field, untallied, None, count)
            .await?;
        Ok((value, outcome))
    }

    /// [`Cache::get_or_load`] for a value with a version (`load` answers it beside the
    /// value): a higher version is newer, an equal one the same value. The write-back lands
    /// only if no newer version of the key was cached meanwhile, and writers put their newer
    /// values in place with [`Stale::Newer`] instead of forgetting the key.
    pub async fn get_or_load_versioned<T, E, F, Fut>(
        &self,
        key: &Key,
        field: &str,
        load: F,
    ) -> Result<(T, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, i64), E>>,
    {
        let versioned = || async { load().await.map(|(value, seq)| (value, None, Some(seq))) };
        let (value, _, outcome) = self.read_through(key, field, versioned, None, true).await?;
        Ok((value, outcome))
    }

    /// [`Cache::get_or_load`] for a value with stock figures ([`Tally`]), kept where `of`
    /// says: `load` answers the value and its figures, which are cached beside it, and
    /// `apply` lays the newest figures over a cached value when it is read (a sale moves them
    /// forward with [`Stale::Tally`] and leaves the value cached).
    pub async fn get_or_load_tallied<T, E, F, Fut>(
        &self,
        (key, field, of): (&Key, &str, TallyOf),
        load: F,
        apply: impl Fn(&mut T, &Tally),
    ) -> Result<(T, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Tally), E>>,
    {
        let tallied = || async {
            load()
                .await
                .map(|(value, tally)| (value, Some(tally), None))
        };
        let (mut value, tally, outcome) = self
            .read_through(key, field, tallied, Some(of), true)
            .await?;
        if let Some(tally) = tally {
            apply(&mut value, &tally);
        }
        Ok((value, outcome))
    }

    async fn read_through<T, E, F, Fut>(
        &self,
        key: &Key,
        field: &str,
        load: F,
        tally_of: Option<TallyOf>,
        count: bool,
    ) -> Result<(T, Option<Tally>, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded<T>, E>>,
    {
        // The memory layer holds no tallied types (`CacheType::local_ttl`).
        if let Some(bytes) = self.local.get(key, field) {
            if let Ok(value) = serde_json::from_slice(&bytes) {
                if count {
                    self.stats.record(key.kind, Outcome::Hit);
                }
                return Ok((value, None, Outcome::Hit));
            }
        }
        // Taken before Redis or the database is read: see `local`.
        let epoch = self.local.epoch();
        // A hit needs no flight: one Redis read, answered at once. Only misses are shared.
        let redis_up = match self.store.get(key, field, tally_of).await {
            Ok(Some((bytes, tally))) => {
                if let Some(value) = self.took_hit(key, field, &bytes, epoch, count) {
                    return Ok((value, tally, Outcome::Hit));
                }
                // A value of an older shape (after a deploy): reload and overwrite it.
                true
            }
            Ok(None) => true,
            Err(e) => {
                self.note_failure(&e);
                false
            }
        };
        let look = FirstLook { redis_up, epoch };
        let flight_id = format!("{}\u{0}{field}", key.name);
        match self.flights.join(&flight_id) {
            flight::Role::Leader(leader) => {
                // Boxed: the load (a database query's future) is the largest part of this
                // future, and every layer above it (the handler, the middleware) would
                // otherwise carry its size and copy it when boxed, on hits too.
                let (result, landing) =
                    Box::pin(self.load_missing(key, field, load, tally_of, look, count)).await;
                leader.land(landing);
                result
            }
            flight::Role::Follower(receiver) => {
                let landed = flight::wait(receiver).await;
                // A follower that found Redis down says so, whatever the leader (who may
                // have read Redis before it went down) saw.
                let shared = landed.and_then(|(bytes, outcome, tally)| {
                    let outcome = if look.redis_up {
                        outcome
                    } else {
                        Outcome::Bypass
                    };
                    serde_json::from_slice(&bytes)
                        .ok()
                        .map(|value| (value, tally, outcome))
                });
                match shared {
                    Some((value, tally, outcome)) => {
                        if count {
                            self.stats.record(key.kind, outcome);
                        }
                        Ok((value, tally, outcome))
                    }
                    // The leader failed or went away: load alone.
                    None => {
                        Box::pin(self.load_missing(key, field, load, tally_of, look, count))
                            .await
                            .0
                    }
                }
            }
        }
    }

    /// A value found in Redis, decoded, counted as a hit and kept in memory; `None` when it
    /// is of an older shape (after a deploy), to be reloaded and overwritten.
    fn took_hit<T: DeserializeOwned>(
        &self,
        key: &Key,
        field: &str,
        bytes: &Bytes,
        epoch: u64,
        count: bool,
    ) -> Option<T> {
        let value = serde_json::from_slice(bytes).ok()?;
        if count {
            self.stats.record(key.kind, Outcome::Hit);
        }
        self.local.put(key, field, bytes, epoch);
        Some(value)
    }

    /// A miss (or, with Redis down, a bypass): the key's version, the load, the write-back,
    /// and what the flight hands its followers.
    async fn load_missing<T, E, F, Fut>(
        &self,
        key: &Key,
        field: &str,
        load: F,
        tally_of: Option<TallyOf>,
        FirstLook { redis_up, epoch }: FirstLook,
        count: bool,
    ) -> (
        Result<(T, Option<Tally>, Outcome), E>,
        Option<flight::Value>,
    )
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Loaded<T>, E>>,
    {
        let version = if redis_up {
            match self.store.read(key, field, tally_of).await {
                Ok((Some((bytes, tally)), version)) => {
                    // Another request's write-back landed since this one missed.
                    if let Some(value) = self.took_hit(key, field, &bytes, epoch, count) {
                        return (
                            Ok((value, tally, Outcome::Hit)),
                            Some((bytes, Outcome::Hit, tally)),
                        );
                    }
                    Some(version)
                }
                Ok((None, version)) => Some(version),
                Err(e) => {
                    self.note_failure(&e);
                    None
                }
            }
        } else {
            None
        };
        let outcome = if version.is_some() {
            Outcome::Miss
        } else {
            Outcome::Bypass
        };
        if count {
            self.stats.record(key.kind, outcome);
        }
        let (value, tally, seq) = match load().await {
            Ok(loaded) => loaded,
            Err(e) => return (Err(e), None),
        };
        let bytes = serde_json::to_vec(&value).ok().map(Bytes::from);
        if let (Some(bytes), Some(version)) = (&bytes, version) {
            let tally = tally.zip(tally_of);
            match self
                .store
                .write(key, field, bytes, version, tally, seq)
                .await
            {
                Ok(()) => self.local.put(key, field, bytes, epoch),
                Err(e) => self.note_failure(&e),
            }
        }
        (
            Ok((value, tally, outcome)),
            bytes.map(|b| (b, outcome, tally)),
        )
    }

    /// Reads `field` of each of `keys` in one Redis round trip; the misses are loaded
    /// together by `load`, given their positions, which answers the values it found (a
    /// value it leaves out stays `None`). Each loaded value is written back under its key's
    /// version, as [`Cache::get_or_load`] does; there is no single flight here, the keys
    /// being many and each load one cheap query for all misses. The outcome is a hit only
    /// when every key hit. Nothing is counted: the values are parts of an answer whose
    /// caller counts its outcome once ([`Stats::record`]).
    pub async fn get_many<T, E, F, Fut>(
        &self,
        keys: &[Key],
        field: &str,
        load: F,
    ) -> Result<(Vec<Option<T>>, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Vec<usize>) -> Fut,
        Fut: Future<Output = Result<Vec<(usize, T)>, E>>,
    {
        let untallied = |missing| async {
            load(missing)
                .await
                .map(|found| found.into_iter().map(|(i, v)| (i, v, None)).collect())
        };
        self.read_many(keys, field, untallied, None::<fn(&mut T, &Tally)>)
            .await
    }

    /// [`Cache::get_many`] for values with stock figures, as [`Cache::get_or_load_tallied`].
    pub async fn get_many_tallied<T, E, F, Fut>(
        &self,
        keys: &[Key],
        field: &str,
        load: F,
        apply: impl Fn(&mut T, &Tally),
    ) -> Result<(Vec<Option<T>>, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Vec<usize>) -> Fut,
        Fut: Future<Output = Result<Vec<(usize, T, Tally)>, E>>,
    {
        let tallied = |missing| async {
            load(missing).await.map(|found| {
                found
                    .into_iter()
                    .map(|(i, v, tally)| (i, v, Some(tally)))
                    .collect()
            })
        };
        self.read_many(keys, field, tallied, Some(apply)).await
    }

    async fn read_many<T, E, F, Fut>(
        &self,
        keys: &[Key],
        field: &str,
        load: F,
        apply: Option<impl Fn(&mut T, &Tally)>,
    ) -> Result<(Vec<Option<T>>, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Vec<usize>) -> Fut,
        Fut: Future<Output = Result<Vec<(usize, T, Option<Tally>)>, E>>,
    {
        if keys.is_empty() {
            // An empty page: nothing to read, no round trip.
            return Ok((Vec::new(), Outcome::Hit));
        }
        // Lists read products' bodies, whose figures are the key's.
        let tally_of = apply.is_some().then_some(TallyOf::Key);
        let mut values: Vec<Option<T>> = keys.iter().map(|_| None).collect();
        let mut versions: Vec<Option<String>> = vec![None; keys.len()];
        let mut missing = Vec::new();
        let bypass = match self.store.read_many(keys, field, tally_of).await {
            Ok(reads) => {
                for (i, read) in reads.into_iter().enumerate() {
                    match read {
                        store::Read::Hit(bytes, tally) => match serde_json::from_slice(&bytes) {
                            Ok(mut value) => {
                                if let (Some(apply), Some(tally)) = (&apply, tally) {
                                    apply(&mut value, &tally);
                                }
                                values[i] = Some(value);
                            }
                            Err(_) => missing.push(i),
                        },
                        store::Read::Miss { version } => {
                            versions[i] = Some(version);
                            missing.push(i);
                        }
                    }
                }
                false
            }
            Err(e) => {
                self.note_failure(&e);
                missing = (0..keys.len()).collect();
                true
            }
        };
        let outcome = if bypass {
            Outcome::Bypass
        } else if missing.is_empty() {
            Outcome::Hit
        } else {
            Outcome::Miss
        };
        if missing.is_empty() {
            return Ok((values, outcome));
        }
        let loaded = load(missing).await?;
        let mut writes = Vec::new();
        for (i, value, tally) in loaded {
            if i >= keys.len() {
                continue;
            }
            if let (Some(version), Ok(bytes)) = (versions[i].take(), serde_json::to_vec(&value)) {
                writes.push(async move {
                    self.store
                        .write(&keys[i], field, &bytes, version, tally.zip(tally_of), None)
                        .await
                });
            }
            values[i] = Some(value);
        }
        // Concurrent on the one multiplexed connection: the writes share round trips.
        for result in futures_util::future::join_all(writes).await {
            if let Err(e) = result {
                self.note_failure(&e);
                break;
            }
        }
        Ok((values, outcome))
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
