//! The exact rate limit shared by every instance: one GCRA step per request, done by a Lua
//! script inside Redis, so two instances (or twenty) together never let a client through
//! faster than its rate. What a request is keyed by and what to do without Redis is the HTTP
//! layer's business (`api::ratelimit`); this module only asks Redis.
//!
//! GCRA (the generic cell rate algorithm) keeps one number per client: the theoretical
//! arrival time (TAT) of its next request. A rate of `r`/s gives an emission interval
//! `T = 1/r`; a burst of `b` lets the TAT run up to `b·T` ahead of now. A request is allowed
//! when `max(TAT, now) + T - b·T <= now`, and then moves the TAT on by `T`. That is a bucket of
//! `b` requests refilled at `r` per second, in one key with no timers, and the clock is Redis's
//! own (`TIME`), so instances whose clocks disagree still agree on the count.
//!
//! The script is sent once per connection at most: `EVALSHA` by its digest, and `EVAL` (which
//! also caches it in Redis) only when Redis answers `NOSCRIPT` (after a restart or a
//! `SCRIPT FLUSH`).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::breaker::Breaker;
use crate::master::Connector;
use crate::{CacheConfig, Error};

/// One GCRA step. KEYS[1] holds the TAT in microseconds of Redis time; ARGV[1] is the
/// emission interval and ARGV[2] the burst. Returns one integer, from which [`decision`]
/// derives the rest: `x >= 0` when allowed, the TAT having been `x` µs ahead of now (and moved
/// on by one interval); `-1 - x` when refused (the TAT, `x` µs ahead, unchanged). One integer,
/// not a table of four: Redis builds and sends less, and each step costs it about 15% less
/// (`redis-benchmark -P 32 evalsha`, docs/benchmarks.md).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local ahead = (tonumber(redis.call('GET', KEYS[1])) or now) - now
if ahead < 0 then ahead = 0 end
if ahead + interval > interval * tonumber(ARGV[2]) then
  return -1 - ahead
end
redis.call('SET', KEYS[1], string.format('%d', now + ahead + interval), 'PX',
  math.floor((ahead + interval) / 1000) + 1)
return ahead
";

/// The decision a step's reply (see [`GCRA`]) means, for a bucket of `burst` steps of
/// `interval_us` µs.
fn decision(reply: i64, interval_us: u64, burst: u32) -> Decision {
    let interval = i64::try_from(interval_us).unwrap_or(i64::MAX);
    let capacity = interval.saturating_mul(i64::from(burst));
    let micros = |us: i64| Duration::from_micros(u64::try_from(us).unwrap_or(0));
    if reply >= 0 {
        let ahead = reply.saturating_add(interval);
        let remaining = capacity.saturating_sub(ahead) / interval.max(1);
        Decision {
            allowed: true,
            remaining: u32::try_from(remaining).unwrap_or(0),
            retry_after: Duration::ZERO,
            reset_after: micros(ahead),
        }
    } else {
        let ahead = -1 - reply;
        Decision {
            allowed: false,
            remaining: 0,
            retry_after: micros(ahead.saturating_add(interval).saturating_sub(capacity)),
            reset_after: micros(ahead),
        }
    }
}

/// A rate: `per_second` requests each second on average, `burst` at once from rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    /// # Panics
    /// When either number is 0 (a constant's mistake, caught by the first test).
    pub const fn new(per_second: u32, burst: u32) -> Rate {
        match (NonZeroU32::new(per_second), NonZeroU32::new(burst)) {
            (Some(per_second), Some(burst)) => Rate { per_second, burst },
            _ => panic!("a rate needs a non-zero rate and burst"),
        }
    }

    /// Time between two requests at the steady rate.
    pub fn interval(&self) -> Duration {
        Duration::from_micros(1_000_000 / u64::from(self.per_second.get())).max(MIN_INTERVAL)
    }
}

/// Rates above a million per second are treated as a million (one microsecond apart).
const MIN_INTERVAL: Duration = Duration::from_micros(1);

/// What one request's step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests that would still be allowed right now after this one.
    pub remaining: u32,
    /// When refused: how long until one request is allowed again.
    pub retry_after: Duration,
    /// How long until the bucket is full again (the client back at rest).
    pub reset_after: Duration,
}

/// The Redis side of the rate limit. Shares the cache's server (or Sentinels), key prefix and
/// timeout, but not its on/off switch: turning the cache off for a baseline must not turn the
/// limit off.
pub struct RateLimiter {
    connector: Connector,
    prefix: String,
    timeout: Duration,
    script: redis::Script,
    /// Redis (or, on a cluster, a master) is not asked for a second after a failure.
    breaker: Breaker,
}

impl RateLimiter {
    /// Checks the settings only; the connection is made on first use. The service uses
    /// [`crate::Cache::rate_limiter`] instead, which shares the cache's connection.
    pub fn new(config: &CacheConfig) -> Result<Self, Error> {
        Ok(Self::on(Connector::new(config, "ratelimit")?, config))
    }

    /// A limiter whose steps go over `connector`.
    pub(crate) fn on(connector: Connector, config: &CacheConfig) -> Self {
        Self {
            connector,
            prefix: config.prefix.clone(),
            timeout: config.timeout,
            script: redis::Script::new(GCRA),
            breaker: Breaker::new(config.cooldown),
        }
    }

    /// One atomic step for `client` (already naming the policy, e.g. `api:user:<id>`) at
    /// `rate`. Fails fast, without asking Redis, for a second after a failure (unless a new
    /// connection was made since: a new master after a failover); on a cluster, only the
    /// clients whose key is on the master that failed.
    pub async fn check(&self, client: &str, rate: Rate) -> Result<Decision, Error> {
        // In braces like the cache's keys (`keys::redis_name`): one key, so on a cluster the
        // script goes to its slot's master.
        let key = crate::keys::redis_name(&self.prefix, &format!("rl:{client}"));
        let scope = self.connector.scope_of([key.as_str()]);
        if self.breaker.is_open(self.connector.generation(), &scope) {
            return Err(Error::Bypassed);
        }
        // The generation of the connection the step uses, learnt once it has one.
        let generation = AtomicU64::new(self.connector.generation());
        let result =
            match tokio::time::timeout(self.timeout, self.step(&key, rate, &generation)).await {
                Ok(result) => result,
                Err(_) => Err(Error::Timeout(self.timeout)),
            };
        if result.is_err() {
            self.connector.failed(generation.load(Ordering::Relaxed));
            self.breaker.trip(self.connector.generation(), &scope);
        }
        result
    }

    async fn step(&self, key: &str, rate: Rate, generation: &AtomicU64) -> Result<Decision, Error> {
        let (mut conn, current) = self.connector.connection().await?;
        generation.store(current, Ordering::Relaxed);
        let interval = u64::try_from(rate.interval().as_micros()).unwrap_or(u64::MAX);
        let burst = rate.burst.get();
        let evalsha = redis::cmd("EVALSHA")
            .arg(self.script.get_hash())
            .arg(1)
            .arg(key)
            .arg(interval)
            .arg(burst)
            .query_async::<i64>(&mut conn)
            .await;
        let reply = match evalsha {
            Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                redis::cmd("EVAL")
                    .arg(GCRA)
                    .arg(1)
                    .arg(key)
                    .arg(interval)
                    .arg(burst)
                    .query_async::<i64>(&mut conn)
                    .await?
            }
            other => other?,
        };
        Ok(decision(reply, interval, burst))
    }
}

#[cfg(test)]
mod tests {
    use super::{decision, Rate};
    use std::time::Duration;

    /// The reply's meaning, checked against the bucket it describes: 10 ms steps, bursts of 5.
    #[test]
    fn a_reply_decides_as_the_bucket_does() {
        let allowed_at_rest = decision(0, 10_000, 5);
        assert!(allowed_at_rest.allowed);
        assert_eq!(allowed_at_rest.remaining, 4);
        assert_eq!(allowed_at_rest.reset_after, Duration::from_millis(10));
        let last_of_burst = decision(40_000, 10_000, 5);
        assert!(last_of_burst.allowed);
        assert_eq!(last_of_burst.remaining, 0);
        assert_eq!(last_of_burst.reset_after, Duration::from_millis(50));
        let refused = decision(-1 - 45_000, 10_000, 5);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after, Duration::from_millis(5));
        assert_eq!(refused.reset_after, Duration::from_millis(45));
    }

    #[test]
    fn interval_is_the_inverse_of_the_rate() {
        assert_eq!(Rate::new(100, 200).interval(), Duration::from_millis(10));
        assert_eq!(Rate::new(5, 10).interval(), Duration::from_millis(200));
        assert_eq!(Rate::new(4_000_000, 1).interval(), Duration::from_micros(1));
    }
}
