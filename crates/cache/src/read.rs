//! Cache-aside reads of one key: the hit, the miss's load under its version, single flight
//! and the write-back; with Redis unavailable, the load alone.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{flight, Cache, Key, Outcome, Tally, TallyOf};

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

    /// Caches several variants of `key` from one `load`, not counted (no client asked): the
    /// versions of every field are read first, so a write that commits while `load` runs
    /// keeps each of its write-backs from landing, as [`Cache::get_or_load_uncounted`] does
    /// for one. `load` answers one value per field, in order; a `None` is not cached. Answers
    /// the values, or nothing cached and every field `None` when Redis is down (a warm-up is
    /// pointless then, so `load` does not run).
    pub async fn load_variants_uncounted<T, E, F, Fut>(
        &self,
        key: &Key,
        fields: &[String],
        load: F,
    ) -> Result<Vec<Option<T>>, E>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Option<T>>, E>>,
    {
        let epoch = self.local.epoch();
        let versions = match self.store.versions(key, fields).await {
            Ok(versions) => versions,
            Err(e) => {
                self.note_failure(&e);
                return Ok(fields.iter().map(|_| None).collect());
            }
        };
        let values = load().await?;
        for ((field, version), value) in fields.iter().zip(versions).zip(&values) {
            let Some(bytes) = value
                .as_ref()
                .and_then(|v| serde_json::to_vec(v).ok())
                .map(Bytes::from)
            else {
                continue;
            };
            match self
                .store
                .write(key, field, &bytes, version, None, None)
                .await
            {
                Ok(()) => self.local.put(key, field, &bytes, epoch),
                Err(e) => self.note_failure(&e),
            }
        }
        Ok(values)
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
}
