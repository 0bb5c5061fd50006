//! The Lua scripts that write a value back and invalidate keys, and what they are given:
//! the version counters' names, a key's TTL, a field's group (see `store`'s note).

use rand::Rng;

use super::Store;
use crate::keys::{Key, Stale};

/// How long a version outlives its key: longer than any database read can take.
pub(super) const VERSION_TTL_MS: u64 = 3_600_000;

/// HSET the value only if the versions (KEYS[3..], see [`version_names`]) are still the
/// ones the reader saw (ARGV[1], as [`joined`] joins them) and, for a versioned value
/// (ARGV[8], empty: not one), no newer one was cached (KEYS[2], see [`seq_name`], which then
/// takes this one's for ARGV[9] ms); with a tally (ARGV[5], [`crate::keys::Tally::encode`], or empty),
/// keep it too in its field (ARGV[7]) unless that holds a newer one. A field of a group
/// (ARGV[6], empty: none) is also listed in the group's index (see the module's note),
/// which lives as long as the hash.
pub(super) const WRITE: &str = r"
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
pub(super) const INVALIDATE: &str = r"
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
pub(super) fn version_names(version: &str, field: &str) -> Vec<String> {
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
pub(super) fn seq_name(version: &str) -> String {
    format!("{version}#seq")
}

/// A TTL in the key's range, drawn at random so that keys written together do not expire
/// together.
pub(super) fn ttl_ms(key: &Key) -> u64 {
    let (min, max) = key.kind.ttl_range();
    let ms = rand::thread_rng().gen_range(min.as_millis()..=max.as_millis());
    u64::try_from(ms).unwrap_or(300_000)
}

/// The group of a field: its text up to and including its first `:`, if it has one.
pub(super) fn group_of(field: &str) -> Option<&str> {
    field.find(':').map(|end| &field[..=end])
}

/// Versions as read (`None`: never bumped), in the form the write script compares.
pub(super) fn joined(versions: impl IntoIterator<Item = Option<String>>) -> String {
    versions
        .into_iter()
        .map(|v| v.unwrap_or_else(|| "0".into()))
        .collect::<Vec<_>>()
        .join("|")
}

impl Store {
    /// The [`INVALIDATE`] script's invocation for `stale`, publishing `forget_locally`.
    pub(super) fn invalidation(
        &self,
        stale: &[&Stale],
        forget_locally: &str,
    ) -> redis::ScriptInvocation<'_> {
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
}
