//! Reading through the store: a value (with its tally), many at once, and the write-back
//! of a miss, which lands only if the versions the miss saw are unchanged.

use bytes::Bytes;

use super::scripts::{group_of, joined, seq_name, ttl_ms, version_names, VERSION_TTL_MS};
use super::{Read, Store};
use crate::breaker::Scope;
use crate::conn::Conn;
use crate::keys::{Key, Tally, TallyOf};
use crate::Error;

impl Store {
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

    /// The variants (fields) cached under `key`, its tallies left out.
    pub(crate) async fn variants(&self, key: &Key) -> Result<Vec<String>, Error> {
        let scope = self.scope_of(&[key]);
        let (mut conn, generation) = self.connection(&scope).await?;
        let fields: Vec<String> = self
            .guard(generation, &scope, async {
                Ok(redis::cmd("HKEYS")
                    .arg(self.name(key))
                    .query_async(&mut conn)
                    .await?)
            })
            .await?;
        Ok(fields
            .into_iter()
            .filter(|field| !field.starts_with("#tally"))
            .collect())
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

    /// The versions of several of `key`'s fields, as [`Store::read`] gives one: what a
    /// write-back of each must still find, read before the database is. One round trip (a
    /// pipeline on one slot: every version shares the key's hash tag).
    pub(crate) async fn versions(
        &self,
        key: &Key,
        fields: &[String],
    ) -> Result<Vec<String>, Error> {
        let scope = self.scope_of(&[key]);
        let (mut conn, generation) = self.connection(&scope).await?;
        let version_name = self.version_name(key);
        let mut pipe = redis::pipe();
        for field in fields {
            pipe.cmd("MGET").arg(version_names(&version_name, field));
        }
        let versions: Vec<Vec<Option<String>>> = self
            .guard(generation, &scope, async {
                Ok(pipe.query_async(&mut conn).await?)
            })
            .await?;
        Ok(versions.into_iter().map(joined).collect())
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
