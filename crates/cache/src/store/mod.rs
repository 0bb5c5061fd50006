//! Redis itself: reads and write-backs (`read`) and invalidations (`invalidate`), each under
//! the breaker (`breaker`), with the Lua scripts in `scripts` and the purge after a failed
//! invalidation or a master switch in `purge`. Where Redis is, and following its master, is
//! `master`'s.
//!
//! Why versions: a reader that missed, then read the database *before* a write committed, may
//! finish *after* the write invalidated the key; a plain SET would put the old value back for
//! a whole TTL. Each key has a version (`{key}#v`) that invalidation increments; a reader
//! remembers the version it saw on its miss and its write lands only if it is unchanged.
//!
//! Versions are as fine as invalidations: forgetting some variants of a key (a prefix, or
//! exact fields) must not refuse the write-back of another variant, or a key whose variants
//! are forgotten many times a second (the search results after every sale forget their
//! stock-sorted variants) would never be written back at all. So a field's write-back
//! checks three counters: the key's (`{key}#v`, bumped when the whole key or its tally
//! goes), its group's (`{key}#v#g:{group}`, the field's text up to its first `:`, bumped
//! when a prefix goes: prefixes are groups) and its own (`{key}#v#f:{field}`, bumped when
//! the field goes by name). The reader reads them together on its miss; the write script
//! compares them together.
//!
//! Forgetting a group must not read the whole hash either (`products:search` holds thousands
//! of searches, and a sale forgets its few stock-sorted ones): the write script lists each
//! grouped field in its group's index (`{key}#i:{group}`, a set living as long as the hash),
//! and invalidation deletes the fields the index names.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use redis::Script;

use crate::breaker::{Breaker, Scope};
use crate::conn::{self, Conn};
use crate::keys::{self, Key, Tally};
use crate::master::Connector;
use crate::{CacheConfig, Error};

use purge::Dirty;
use scripts::{INVALIDATE, WRITE};

mod invalidate;
mod purge;
mod read;
mod scripts;

/// Redis memory figures for the metrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    pub used_bytes: f64,
    /// 0 when Redis has no limit.
    pub max_bytes: f64,
    pub evicted_keys: f64,
}

pub(crate) enum Read {
    /// The value, and the key's tally when the read asked for it.
    Hit(Bytes, Option<Tally>),
    /// Not cached; `version` is what a write must still find to land.
    Miss { version: String },
}

pub(crate) struct Store {
    config: CacheConfig,
    connector: Connector,
    write_script: Script,
    invalidate_script: Script,
    /// Skips Redis, or one master of a cluster, for a second after a failure.
    breaker: Breaker,
    /// What may hold stale values after a failed invalidation or a master switch, until purged.
    dirty: Dirty,
    /// The connector's switches already seen (each one makes the store dirty).
    seen_switches: AtomicU64,
    /// One purge at a time; requests arriving meanwhile bypass the cache.
    purging: tokio::sync::Mutex<()>,
}

impl Store {
    pub(crate) fn new(config: CacheConfig) -> Result<Self, Error> {
        Ok(Self {
            connector: Connector::new(&config, "cache")?,
            breaker: Breaker::new(config.cooldown),
            config,
            write_script: Script::new(WRITE),
            invalidate_script: Script::new(INVALIDATE),
            dirty: Dirty::default(),
            seen_switches: AtomicU64::new(0),
            purging: tokio::sync::Mutex::new(()),
        })
    }

    pub(crate) fn connector(&self) -> &Connector {
        &self.connector
    }

    pub(crate) fn config(&self) -> &CacheConfig {
        &self.config
    }

    fn name(&self, key: &Key) -> String {
        keys::redis_name(&self.config.prefix, &key.name)
    }

    fn version_name(&self, key: &Key) -> String {
        format!("{}#v", self.name(key))
    }

    /// What a step on `keys` talks to (see `breaker`); on one server, Redis as a whole
    /// without naming the keys.
    fn scope_of(&self, keys: &[&Key]) -> Scope {
        if !self.connector.is_cluster() {
            return Scope::Whole;
        }
        let names: Vec<String> = keys.iter().map(|key| self.name(key)).collect();
        self.connector.scope_of(names.iter().map(String::as_str))
    }

    /// A connection and its generation for a step in `scope`, unless the cache is off, Redis
    /// (or a master the step needs) failed within the cooldown, or a purge the step waits
    /// for is under way.
    async fn connection(&self, scope: &Scope) -> Result<(Conn, u64), Error> {
        if !self.config.enabled || self.breaker.is_open(self.connector.generation(), scope) {
            return Err(Error::Bypassed);
        }
        let (connection, generation) = self
            .guard(
                self.connector.generation(),
                scope,
                self.connector.connection(),
            )
            .await?;
        let switches = self.connector.switches();
        let seen = self.seen_switches.swap(switches, Ordering::AcqRel);
        if seen != switches {
            // On a cluster, the promoted masters only; else everything.
            match self.connector.promoted_since(seen) {
                Some(promoted) => self.dirty.mark(&Scope::Masters(promoted)),
                None => self.dirty.mark(&Scope::Whole),
            }
        }
        let current = || self.connector.masters();
        if self.dirty.to_purge(scope, current).is_some() {
            let Ok(_one) = self.purging.try_lock() else {
                return Err(Error::Bypassed);
            };
            // Another request may have purged while this one waited for the lock.
            if let Some(targets) = self.dirty.to_purge(scope, current) {
                // Boxed, as it seldom runs: see `Connector::connection`.
                Box::pin(self.purge(connection.clone(), generation, targets)).await?;
            }
        }
        Ok((connection, generation))
    }

    /// Runs one Redis step in `scope` on the connection of `generation` with the timeout; a
    /// failure opens the breaker for the scope and tells the connector.
    async fn guard<T>(
        &self,
        generation: u64,
        scope: &Scope,
        step: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.config.timeout, step).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(self.config.timeout)),
        };
        metrics::histogram!("ims_redis_command_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            self.connector.failed(generation);
            self.breaker.trip(self.connector.generation(), scope);
        }
        result
    }

    pub(crate) async fn ping(&self) -> Result<(), Error> {
        let scope = self.connector.scope_of_any();
        let (mut conn, generation) = self.connection(&scope).await?;
        self.guard(generation, &scope, async {
            Ok(redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())?)
        })
        .await
    }

    /// Whether requests are skipping Redis right now (off, or within a failure's cooldown).
    pub(crate) fn bypassing(&self) -> bool {
        !self.config.enabled
            || self
                .breaker
                .is_open(self.connector.generation(), &Scope::Whole)
    }

    /// Memory used, the `maxmemory` limit and evicted keys, from `INFO` (on a cluster, summed
    /// over its masters).
    pub(crate) async fn memory(&self) -> Result<Memory, Error> {
        let scope = self.connector.scope_of_any();
        let (mut conn, generation) = self.connection(&scope).await?;
        let reply: redis::Value = self
            .guard(generation, &scope, async {
                Ok(redis::cmd("INFO").query_async(&mut conn).await?)
            })
            .await?;
        // On a cluster, the sums over its masters.
        let infos = conn::info_texts(&reply)?;
        let field = |name: &str| {
            infos
                .iter()
                .filter_map(|info| {
                    info.lines()
                        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                        .and_then(|v| v.trim().parse::<f64>().ok())
                })
                .sum()
        };
        Ok(Memory {
            used_bytes: field("used_memory"),
            max_bytes: field("maxmemory"),
            evicted_keys: field("evicted_keys"),
        })
    }
}
