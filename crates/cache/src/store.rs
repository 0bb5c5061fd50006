//! Redis itself: the Lua scripts, the breaker, and the purge after a failed invalidation or
//! a master switch. Where Redis is, and following its master, is `master`'s.
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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use rand::Rng;
use redis::Script;

use crate::conn::{self, Conn};
use crate::keys::{self, Key, Stale, Tally, TallyOf};
use crate::master::Connector;
use crate::{CacheConfig, Error};

/// How long a version outlives its key: longer than any database read can take.
const VERSION_TTL_MS: u64 = 3_600_000;

/// HSET the value only if the versions (KEYS[3..], see [`version_names`]) are still the
/// ones the reader saw (ARGV[1], as [`joined`] joins them) and, for a versioned value
/// (ARGV[8], empty: not one), no newer one was cached (KEYS[2], see [`seq_name`], which then
/// takes this one's for ARGV[9] ms); with a tally (ARGV[5], [`Tally::encode`], or empty),
/// keep it too in its field (ARGV[7]) unless that holds a newer one. A field of a group
/// (ARGV[6], empty: none) is also listed in the group's index (see the module's note),
/// which lives as long as the hash.
const WRITE: &str = r"
local names = {}
for i = 3, #KEYS do names[#names + 1] = KEYS[i] end
local seen = {}
for i, v in ipairs(redis.call('MGET', unpack(names))) do seen[i] = v or '0' end
if table.concat(seen, '|') ~= ARGV[1] then return 0 end
if ARGV[8] ~= '' then
  if tonumber(ARGV[8]) < tonumber(redis.call('GET', KEYS[2]) or '-1') then return 0 end
  redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[9])
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if ARGV[5] ~= '' then
  local cur = redis.call('HGET', KEYS[1], ARGV[7])
  if not cur or tonumber(string.match(cur, '^(%-?%d+)')) < tonumber(string.match(ARGV[5], '^(%-?%d+)')) then
    redis.call('HSET', KEYS[1], ARGV[7], ARGV[5])
  end
end
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
if ARGV[6] ~= '' then
  local index = KEYS[1] .. '#i:' .. ARGV[6]
  redis.call('SADD', index, ARGV[2])
  redis.call('PEXPIRE', index, redis.call('PTTL', KEYS[1]) + 1000)
end
return 1
";

/// For each (key, version) pair: bump the version of what goes (see the module's note),
/// then forget the key or some of its variants. ARGV[1] is the version TTL, ARGV[2] the
/// channel that tells the other instances which keys to forget from their memory (`local`)
/// and ARGV[3] that message (empty: none); then per key a field count (-1: the whole key;
/// -2: a new tally, kept if newer than the one cached, in the next argument, then the
/// variant it belongs to, empty for the key's own; -3: a versioned value put in place unless
/// a newer one is cached, then its field, version, value and TTL in ms, see
/// [`Stale::Newer`]), the fields (each with its tally), a
/// prefix count and the prefixes (every field starting with one goes). A group's fields are
/// found through its index, not by reading every field of the key; a prefix that is not a
/// group (text ending at its only `:`) scans the fields and bumps the key's own version, to
/// be safe. Publishing from the script costs no round trip of its own, and no instance
/// hears of an invalidation Redis did not apply.
const INVALIDATE: &str = r"
local ttl = ARGV[1]
local function bump(name)
  redis.call('INCR', name)
  redis.call('PEXPIRE', name, ttl)
end
local a = 4
for i = 1, #KEYS, 2 do
  local v = KEYS[i + 1]
  local n = tonumber(ARGV[a]); a = a + 1
  if n == -1 then
    bump(v)
    redis.call('UNLINK', KEYS[i])
  elseif n == -3 then
    local field, seq, value, value_ttl = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
    a = a + 4
    local name = v .. '#seq'
    if tonumber(seq) >= tonumber(redis.call('GET', name) or '-1') then
      redis.call('SET', name, seq, 'PX', ttl)
      redis.call('HSET', KEYS[i], field, value)
      if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], value_ttl) end
    end
  elseif n == -2 then
    local new = ARGV[a]; a = a + 1
    local variant = ARGV[a]; a = a + 1
    local field = '#tally'
    if variant == '' then
      bump(v)
    else
      bump(v .. '#f:' .. variant)
      field = '#tally:' .. variant
    end
    local cur = redis.call('HGET', KEYS[i], field)
    if cur and tonumber(string.match(cur, '^(%-?%d+)')) < tonumber(string.match(new, '^(%-?%d+)')) then
      redis.call('HSET', KEYS[i], field, new)
    end
  else
    for j = 1, n do
      bump(v .. '#f:' .. ARGV[a])
      redis.call('HDEL', KEYS[i], ARGV[a], '#tally:' .. ARGV[a]); a = a + 1
    end
    local p = tonumber(ARGV[a]); a = a + 1
    local scan = {}
    for j = 1, p do
      local pre = ARGV[a]; a = a + 1
      if string.find(pre, ':', 1, true) == #pre then
        bump(v .. '#g:' .. pre)
        local index = KEYS[i] .. '#i:' .. pre
        local fields = redis.call('SMEMBERS', index)
        for k = 1, #fields, 1000 do
          redis.call('HDEL', KEYS[i], unpack(fields, k, math.min(k + 999, #fields)))
        end
        redis.call('UNLINK', index)
      else
        bump(v)
        scan[#scan + 1] = pre
      end
    end
    if #scan > 0 then
      for _, f in ipairs(redis.call('HKEYS', KEYS[i])) do
        for _, pre in ipairs(scan) do
          if string.sub(f, 1, #pre) == pre then redis.call('HDEL', KEYS[i], f); break end
        end
      end
    end
  end
end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
";

/// The version counters a write-back of `field` of the key whose version is `version` must
/// find unchanged: the key's, the field's group's (when it has one) and the field's own
/// (when it is not the key's only value, `""`). See the module's note.
fn version_names(version: &str, field: &str) -> Vec<String> {
    let mut names = vec![version.to_owned()];
    if let Some(group) = group_of(field) {
        names.push(format!("{version}#g:{group}"));
    }
    if !field.is_empty() {
        names.push(format!("{version}#f:{field}"));
    }
    names
}

/// Where the newest version of a versioned key's values is kept ([`Stale::Newer`]): beside
/// its version counters, which outlive the key and survive a purge (`#v#` in the name).
fn seq_name(version: &str) -> String {
    format!("{version}#seq")
}

/// A TTL in the key's range, drawn at random so that keys written together do not expire
/// together.
fn ttl_ms(key: &Key) -> u64 {
    let (min, max) = key.kind.ttl_range();
    let ms = rand::thread_rng().gen_range(min.as_millis()..=max.as_millis());
    u64::try_from(ms).unwrap_or(300_000)
}

/// The group of a field: its text up to and including its first `:`, if it has one.
fn group_of(field: &str) -> Option<&str> {
    field.find(':').map(|end| &field[..=end])
}

/// Versions as read (`None`: never bumped), in the form the write script compares.
fn joined(versions: impl IntoIterator<Item = Option<String>>) -> String {
    versions
        .into_iter()
        .map(|v| v.unwrap_or_else(|| "0".into()))
        .collect::<Vec<_>>()
        .join("|")
}

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
    started: Instant,
    /// Milliseconds since `started` until which Redis is skipped...
    open_until_ms: AtomicU64,
    /// ...unless the connector has a newer connection than the one that failed.
    open_generation: AtomicU64,
    /// An invalidation failed, or the master switched: cached values may be stale until
    /// everything is purged.
    dirty: AtomicBool,
    /// The connector's switches already seen (each one makes the store dirty).
    seen_switches: AtomicU64,
    /// One purge at a time; requests arriving meanwhile bypass the cache.
    purging: tokio::sync::Mutex<()>,
}

impl Store {
    pub(crate) fn new(config: CacheConfig) -> Result<Self, Error> {
        Ok(Self {
            connector: Connector::new(&config, "cache")?,
            config,
            write_script: Script::new(WRITE),
            invalidate_script: Script::new(INVALIDATE),
            started: Instant::now(),
            open_until_ms: AtomicU64::new(0),
            open_generation: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
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

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A connection and its generation, unless the cache is off, Redis failed within the
    /// cooldown (on the connection still current), or a purge is under way.
    async fn connection(&self) -> Result<(Conn, u64), Error> {
        if !self.config.enabled || self.breaker_open() {
            return Err(Error::Bypassed);
        }
        let (connection, generation) = self
            .guard(self.connector.generation(), self.connector.connection())
            .await?;
        let switches = self.connector.switches();
        if self.seen_switches.swap(switches, Ordering::AcqRel) != switches {
            self.mark_dirty();
        }
        if self.dirty.load(Ordering::Acquire) {
            let Ok(_one) = self.purging.try_lock() else {
                return Err(Error::Bypassed);
            };
            // Another request may have purged while this one waited for the lock.
            if self.dirty.load(Ordering::Acquire) {
                // Boxed, as it seldom runs: see `Connector::connection`.
                Box::pin(self.purge(connection.clone(), generation)).await?;
            }
        }
        Ok((connection, generation))
    }

    fn breaker_open(&self) -> bool {
        self.now_ms() < self.open_until_ms.load(Ordering::Relaxed)
            && self.open_generation.load(Ordering::Relaxed) == self.connector.generation()
    }

    /// Runs one Redis step on the connection of `generation` with the timeout; a failure
    /// opens the breaker for the cooldown and tells the connector.
    async fn guard<T>(
        &self,
        generation: u64,
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
            let cooldown = u64::try_from(self.config.cooldown.as_millis()).unwrap_or(1000);
            self.open_generation
                .store(self.connector.generation(), Ordering::Relaxed);
            self.open_until_ms
                .store(self.now_ms() + cooldown, Ordering::Relaxed);
        }
        result
    }

    pub(crate) async fn ping(&self) -> Result<(), Error> {
        let (mut conn, generation) = self.connection().await?;
        self.guard(generation, async {
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

    /// Runs `commands`, each on one key's slot, in one round trip and answers their replies in
    /// order: one pipeline on a single server. On a cluster, redis-rs sends a pipeline whole
    /// to its first command's slot and refuses one whose keys span slots (`CROSSSLOT`), so
    /// each command goes alone, all at once: the cluster connection multiplexes them onto
    /// its connection to each master, so they still share round trips.
    async fn query_each<T: redis::FromRedisValue>(
        &self,
        conn: &mut Conn,
        commands: Vec<redis::Cmd>,
    ) -> Result<Vec<T>, Error> {
        if let Conn::Cluster(cluster) = conn {
            let replies = commands.iter().map(|command| {
                let mut cluster = cluster.clone();
                async move { command.query_async::<T>(&mut cluster).await }
            });
            return futures_util::future::try_join_all(replies)
                .await
                .map_err(Error::from);
        }
        let mut pipe = redis::pipe();
        for command in commands {
            pipe.add_command(command);
        }
        Ok(pipe.query_async(conn).await?)
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
        let (mut conn, generation) = self.connection().await?;
        let tallied = tally.is_some();
        let command = self.value_read(key, field, tally);
        let reply: redis::Value = self
            .guard(generation, async {
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
        let (mut conn, generation) = self.connection().await?;
        // One slot: the value and its versions share the key's hash tag.
        let mut pipe = redis::pipe();
        pipe.add_command(self.value_read(key, field, tally));
        pipe.cmd("MGET")
            .arg(version_names(&self.version_name(key), field));
        let (reply, versions): (redis::Value, Vec<Option<String>>) = self
            .guard(generation, async { Ok(pipe.query_async(&mut conn).await?) })
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
        let (mut conn, generation) = self.connection().await?;
        let version_name = self.version_name(key);
        self.guard(generation, async {
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
    /// are misses.
    pub(crate) async fn read_many(
        &self,
        keys: &[Key],
        field: &str,
        tally: Option<TallyOf>,
    ) -> Result<Vec<Read>, Error> {
        let (mut conn, generation) = self.connection().await?;
        let reads = keys
            .iter()
            .map(|key| self.value_read(key, field, tally))
            .collect();
        let tallied = tally.is_some();
        let replies: Vec<redis::Value> = self
            .guard(generation, self.query_each(&mut conn, reads))
            .await?;
        let mut hits = Vec::with_capacity(keys.len());
        for reply in replies {
            hits.push(hit(reply, tallied)?);
        }
        let missing: Vec<Vec<String>> = keys
            .iter()
            .zip(&hits)
            .filter(|(_, hit)| hit.is_none())
            .map(|(key, _)| version_names(&self.version_name(key), field))
            .collect();
        let mut versions: std::vec::IntoIter<Vec<Option<String>>> = if missing.is_empty() {
            Vec::new().into_iter()
        } else {
            let reads = missing
                .iter()
                .map(|names| {
                    let mut command = redis::cmd("MGET");
                    command.arg(names);
                    command
                })
                .collect();
            let versions: Vec<Vec<Option<String>>> = self
                .guard(generation, self.query_each(&mut conn, reads))
                .await?;
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
    /// node's subscribers).
    pub(crate) async fn invalidate(&self, stale: &[Stale], held: &[&str]) -> Result<(), Error> {
        let (mut conn, generation) = self.connection().await?;
        let Conn::Cluster(cluster) = &conn else {
            let all: Vec<&Stale> = stale.iter().collect();
            let invocation = self.invalidation(&all, &held.join("\n"));
            return self
                .guard(generation, async {
                    let _: i64 = invocation.invoke_async(&mut conn).await?;
                    Ok(())
                })
                .await;
        };
        let mut by_key: Vec<(&str, Vec<&Stale>)> = Vec::new();
        for item in stale {
            let name = item.key().name.as_str();
            match by_key.iter_mut().find(|(n, _)| *n == name) {
                Some((_, items)) => items.push(item),
                None => by_key.push((name, vec![item])),
            }
        }
        let invocations: Vec<_> = by_key
            .iter()
            .map(|(name, items)| {
                let message = if held.contains(name) { *name } else { "" };
                self.invalidation(items, message)
            })
            .collect();
        let runs = invocations.iter().map(|invocation| {
            let mut cluster = cluster.clone();
            async move { invocation.invoke_async::<i64>(&mut cluster).await }
        });
        self.guard(generation, async {
            futures_util::future::try_join_all(runs).await?;
            Ok(())
        })
        .await
    }

    /// The [`INVALIDATE`] script's invocation for `stale`, publishing `forget_locally`.
    fn invalidation(&self, stale: &[&Stale], forget_locally: &str) -> redis::ScriptInvocation<'_> {
        let mut invocation = self.invalidate_script.prepare_invoke();
        invocation
            .arg(VERSION_TTL_MS)
            .arg(self.channel())
            .arg(forget_locally);
        for item in stale {
            let key = item.key();
            invocation.key(self.name(key)).key(self.version_name(key));
            match item {
                Stale::Key(_) => {
                    invocation.arg(-1);
                }
                Stale::Variants {
                    fields, prefixes, ..
                } => {
                    invocation.arg(fields.len()).arg(fields);
                    invocation.arg(prefixes.len()).arg(prefixes);
                }
                Stale::Tally { tally, variant, .. } => {
                    invocation
                        .arg(-2)
                        .arg(tally.encode())
                        .arg(variant.as_deref().unwrap_or_default());
                }
                Stale::Newer {
                    key,
                    field,
                    seq,
                    value,
                } => {
                    invocation
                        .arg(-3)
                        .arg(field)
                        .arg(*seq)
                        .arg(value.as_ref())
                        .arg(ttl_ms(key));
                }
            }
        }
        invocation
    }

    /// Whether requests are skipping Redis right now (off, or within a failure's cooldown).
    pub(crate) fn bypassing(&self) -> bool {
        !self.config.enabled || self.breaker_open()
    }

    /// Memory used, the `maxmemory` limit and evicted keys, from `INFO` (on a cluster, summed
    /// over its masters).
    pub(crate) async fn memory(&self) -> Result<Memory, Error> {
        let (mut conn, generation) = self.connection().await?;
        let reply: redis::Value = self
            .guard(generation, async {
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

    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Forgets every key under the prefix (bumping nothing: versions of purged keys restart
    /// at "no version", which no in-flight reader that saw a number can match).
    async fn purge(&self, mut conn: Conn, generation: u64) -> Result<(), Error> {
        let started = Instant::now();
        // A cluster's keys are on its masters, each scanned in turn; one that has failed is
        // left out: its replica took over its slots, and it rejoins as a replica of that one,
        // with its data.
        let nodes = match &mut conn {
            Conn::Single(_) => vec![None],
            Conn::Cluster(cluster) => self
                .guard(generation, async {
                    Ok(conn::cluster_nodes(cluster).await?)
                })
                .await?
                .into_iter()
                .filter(|n| n.master && !n.failing)
                .map(|n| Some((n.host, n.port)))
                .collect(),
        };
        let mut purged = 0usize;
        for node in &nodes {
            purged += self.purge_node(&mut conn, generation, node).await?;
        }
        self.dirty.store(false, Ordering::Release);
        tracing::info!(purged, elapsed = ?started.elapsed(), "cache purged after a failed invalidation");
        Ok(())
    }

    /// Purges the keys of one server (`None`: the one `conn` goes to; else a cluster node).
    async fn purge_node(
        &self,
        conn: &mut Conn,
        generation: u64,
        node: &Option<(String, u16)>,
    ) -> Result<usize, Error> {
        let pattern = format!("{}*", self.config.prefix);
        let mut cursor: u64 = 0;
        let mut purged = 0usize;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<String>) = self
                .guard(generation, async {
                    Ok(match (&mut *conn, node) {
                        (Conn::Cluster(cluster), Some((host, port))) => redis::from_redis_value(
                            &conn::on_node(cluster, &scan, host, *port).await?,
                        )?,
                        (conn, _) => scan.query_async(conn).await?,
                    })
                })
                .await?;
            // Versions stay (see above): `{key}#v` and its `#v#g:`/`#v#f:` counters.
            let data: Vec<&String> = keys
                .iter()
                .filter(|k| !k.ends_with("#v") && !k.contains("#v#"))
                .collect();
            if !data.is_empty() {
                purged += data.len();
                // On a cluster redis-rs splits a multi-key UNLINK by slot.
                self.guard(generation, async {
                    Ok(redis::cmd("UNLINK")
                        .arg(&data)
                        .query_async::<i64>(&mut *conn)
                        .await
                        .map(|_| ())?)
                })
                .await?;
            }
            if next == 0 {
                return Ok(purged);
            }
            cursor = next;
        }
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
