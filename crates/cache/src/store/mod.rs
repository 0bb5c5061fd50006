//! Redis itself: reads, write-backs and invalidations, each under the breaker (`breaker`),
//! with the Lua scripts in `scripts` and the purge after a failed invalidation or a master
//! switch in `purge`. Where Redis is, and following its master, is `master`'s.
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
use crate::keys::{self, Key, Stale, Tally, TallyOf};
use crate::master::Connector;
use crate::{CacheConfig, Error};

use purge::Dirty;
use scripts::{
    group_of, joined, seq_name, ttl_ms, version_names, INVALIDATE, VERSION_TTL_MS, WRITE,
};

mod purge;
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

    /// The read of `key`'s `field` (with its tally, when it has one); [`hit`] reads its reply.
    fn value_read(&self, key: &Key, field: &str, tally: Option<TallyOf>) -> redis::Cmd {
        let mut command = redis::cmd(if tally.is_some() { "HMGET" } else { "HGET" });
        command.arg(self.name(key)).arg(field);
        if let Some(of) = tally {
            command.arg(of.field(field));
        }
        command
    }

    /// Runs `commands`, one per key of `keys`, in one round trip and answers their replies
    /// in order: one pipeline on a single server. On a cluster, redis-rs sends a pipeline
    /// whole to its first command's slot and refuses one whose keys span slots (`CROSSSLOT`),
    /// so each command goes alone, all at once (the cluster connection multiplexes them onto
    /// its connection to each master, so they still share round trips), each guarded on its
    /// own: a failure opens the breaker for its key's master only.
    async fn query_each<T: redis::FromRedisValue>(
        &self,
        conn: &mut Conn,
        generation: u64,
        keys: &[&Key],
        commands: Vec<redis::Cmd>,
    ) -> Result<Vec<T>, Error> {
        if let Conn::Cluster(cluster) = conn {
            let replies = commands.iter().zip(keys).map(|(command, key)| {
                let mut cluster = cluster.clone();
                let scope = self.scope_of(&[key]);
                async move {
                    self.guard(generation, &scope, async {
                        Ok(command.query_async::<T>(&mut cluster).await?)
                    })
                    .await
                }
            });
            return futures_util::future::try_join_all(replies).await;
        }
        let mut pipe = redis::pipe();
        for command in commands {
            pipe.add_command(command);
        }
        self.guard(generation, &Scope::Whole, async {
            Ok(pipe.query_async(conn).await?)
        })
        .await
    }

    /// The value of `key`'s `field` (and its tally, when it has one), `None` on a miss: one
    /// command. A tallied value without its tally (written before tallies existed) is a
    /// miss.
    pub(crate) async fn get(
        &self,
        key: &Key,
        field: &str,
        tally: Option<TallyOf>,
    ) -> Result<Option<(Bytes, Option<Tally>)>, Error> {
        let scope = self.scope_of(&[key]);
        let (mut conn, generation) = self.connection(&scope).await?;
        let tallied = tally.is_some();
        let command = self.value_read(key, field, tally);
        let reply: redis::Value = self
            .guard(generation, &scope, async {
                Ok(command.query_async(&mut conn).await?)
            })
            .await?;
        Ok(match hit(reply, tallied)? {
            Some(Read::Hit(bytes, tally)) => Some((bytes, tally)),
            _ => None,
        })
    }

    /// For a miss that is about to load from the database: the value again (another
    /// request may have written it back since this one missed), and the version a
    /// write-back must still find, read before the database is so that a write that
    /// invalidates after the load began changes it. One round trip (a pipeline).
    pub(crate) async fn read(
        &self,
        key: &Key,
        field: &str,
        tally: Option<TallyOf>,
    ) -> Result<(Option<(Bytes, Option<Tally>)>, String), Error> {
        let scope = self.scope_of(&[key]);
        let (mut conn, generation) = self.connection(&scope).await?;
        // One slot: the value and its versions share the key's hash tag.
        let mut pipe = redis::pipe();
        pipe.add_command(self.value_read(key, field, tally));
        pipe.cmd("MGET")
            .arg(version_names(&self.version_name(key), field));
        let (reply, versions): (redis::Value, Vec<Option<String>>) = self
            .guard(generation, &scope, async {
                Ok(pipe.query_async(&mut conn).await?)
            })
            .await?;
        let value = match hit(reply, tally.is_some())? {
            Some(Read::Hit(bytes, tally)) => Some((bytes, tally)),
            _ => None,
        };
        Ok((value, joined(versions)))
    }

    pub(crate) async fn write(
        &self,
        key: &Key,
        field: &str,
        value: &[u8],
        version: String,
        tally: Option<(Tally, TallyOf)>,
        seq: Option<i64>,
    ) -> Result<(), Error> {
        let scope = self.scope_of(&[key]);
        let (mut conn, generation) = self.connection(&scope).await?;
        let version_name = self.version_name(key);
        self.guard(generation, &scope, async {
            let _: i64 = self
                .write_script
                .key(self.name(key))
                .key(seq_name(&version_name))
                .key(version_names(&version_name, field))
                .arg(version)
                .arg(field)
                .arg(value)
                .arg(ttl_ms(key))
                .arg(tally.map(|(t, _)| t.encode()).unwrap_or_default())
                .arg(group_of(field).unwrap_or_default())
                .arg(tally.map(|(_, of)| of.field(field)).unwrap_or_default())
                .arg(seq.map(|s| s.to_string()).unwrap_or_default())
                .arg(VERSION_TTL_MS)
                .invoke_async(&mut conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// Reads `field` of every key in one round trip (with its tally, when it has one), and
    /// the versions of the misses (as [`Store::read`] does) in a second one only when there
    /// are misses. On a cluster, bypassed whole when a master serving one of the keys is
    /// skipped.
    pub(crate) async fn read_many(
        &self,
        keys: &[Key],
        field: &str,
        tally: Option<TallyOf>,
    ) -> Result<Vec<Read>, Error> {
        let keys: Vec<&Key> = keys.iter().collect();
        let (mut conn, generation) = self.connection(&self.scope_of(&keys)).await?;
        let reads = keys
            .iter()
            .map(|key| self.value_read(key, field, tally))
            .collect();
        let tallied = tally.is_some();
        let replies: Vec<redis::Value> =
            self.query_each(&mut conn, generation, &keys, reads).await?;
        let mut hits = Vec::with_capacity(keys.len());
        for reply in replies {
            hits.push(hit(reply, tallied)?);
        }
        let missing: Vec<(&Key, Vec<String>)> = keys
            .iter()
            .zip(&hits)
            .filter(|(_, hit)| hit.is_none())
            .map(|(key, _)| (*key, version_names(&self.version_name(key), field)))
            .collect();
        let mut versions: std::vec::IntoIter<Vec<Option<String>>> = if missing.is_empty() {
            Vec::new().into_iter()
        } else {
            let of: Vec<&Key> = missing.iter().map(|(key, _)| *key).collect();
            let reads = missing
                .iter()
                .map(|(_, names)| {
                    let mut command = redis::cmd("MGET");
                    command.arg(names);
                    command
                })
                .collect();
            let versions: Vec<Vec<Option<String>>> =
                self.query_each(&mut conn, generation, &of, reads).await?;
            versions.into_iter()
        };
        Ok(hits
            .into_iter()
            .map(|hit| {
                hit.unwrap_or_else(|| Read::Miss {
                    version: joined(versions.next().unwrap_or_default()),
                })
            })
            .collect())
    }

    /// The channel on which invalidations of locally held keys are published.
    pub(crate) fn channel(&self) -> String {
        format!("{}ims:invalidate", self.config.prefix)
    }

    /// Forgets `stale` in Redis and publishes, to every instance's memory layer, the names
    /// of those keys of the types it holds (`held`). One script for all on a single server;
    /// on a cluster one per key, all at once, since a script's keys must share a slot (each
    /// publishes the names of its own key: a message published on any node reaches every
    /// node's subscribers). What could not be forgotten is marked dirty, to be purged before
    /// it is read again: on a cluster, the masters of the keys whose script failed or was
    /// skipped (their breaker open), while the other keys are forgotten as usual.
    pub(crate) async fn invalidate(&self, stale: &[Stale], held: &[&str]) -> Result<(), Error> {
        if !self.connector.is_cluster() {
            let result = self.invalidate_all(stale, held).await;
            if result.is_err() {
                self.dirty.mark(&Scope::Whole);
            }
            return result;
        }
        let mut by_key: Vec<(&Key, Vec<&Stale>)> = Vec::new();
        for item in stale {
            let key = item.key();
            match by_key.iter_mut().find(|(k, _)| k.name == key.name) {
                Some((_, items)) => items.push(item),
                None => by_key.push((key, vec![item])),
            }
        }
        let runs = by_key.iter().map(|(key, items)| async move {
            let message = if held.contains(&key.name.as_str()) {
                key.name.as_str()
            } else {
                ""
            };
            let scope = self.scope_of(&[key]);
            let result = async {
                let (mut conn, generation) = self.connection(&scope).await?;
                let invocation = self.invalidation(items, message);
                self.guard(generation, &scope, async {
                    let _: i64 = invocation.invoke_async(&mut conn).await?;
                    Ok(())
                })
                .await
            }
            .await;
            if result.is_err() {
                self.dirty.mark(&scope);
            }
            result
        });
        let results = futures_util::future::join_all(runs).await;
        results.into_iter().collect()
    }

    /// One script for every key of `stale`, on one server.
    async fn invalidate_all(&self, stale: &[Stale], held: &[&str]) -> Result<(), Error> {
        let (mut conn, generation) = self.connection(&Scope::Whole).await?;
        let all: Vec<&Stale> = stale.iter().collect();
        let invocation = self.invalidation(&all, &held.join("\n"));
        self.guard(generation, &Scope::Whole, async {
            let _: i64 = invocation.invoke_async(&mut conn).await?;
            Ok(())
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

/// The hit in a reply to `HGET key field` (or `HMGET key field #tally` when `tallied`), or
/// `None` for a miss.
fn hit(reply: redis::Value, tallied: bool) -> Result<Option<Read>, Error> {
    if !tallied {
        let value: Option<Vec<u8>> = redis::from_redis_value(&reply)?;
        return Ok(value.map(|bytes| Read::Hit(Bytes::from(bytes), None)));
    }
    let (value, tally): (Option<Vec<u8>>, Option<String>) = redis::from_redis_value(&reply)?;
    let tally = tally.as_deref().and_then(Tally::decode);
    Ok(match (value, tally) {
        (Some(bytes), Some(tally)) => Some(Read::Hit(Bytes::from(bytes), Some(tally))),
        _ => None,
    })
}
