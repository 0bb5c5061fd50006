//! What every handler shares: the database pools, the cache, and the settings that shape
//! behaviour (token lifetime, login throttling, rate limits, which proxies are believed).

use std::time::Duration;

use storage::throttle::ThrottlePolicy;

#[derive(Clone)]
pub struct AppState {
    pub db: storage::Db,
    pub cache: cache::Cache,
    pub settings: Settings,
    /// The per-client rate limit (Redis, or in memory while Redis is down).
    pub limiter: crate::ratelimit::Limiter,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a login token lasts.
    pub token_ttl: Duration,
    /// The chain's local time zone as a UTC offset: "today" on the dashboard starts at its
    /// midnight (India, +05:30, by default).
    pub business_offset: chrono::FixedOffset,
    /// Failed logins for one account before it is locked for a while.
    pub account_throttle: ThrottlePolicy,
    /// Failed logins from one client address before it is locked for a while.
    pub address_throttle: ThrottlePolicy,
    /// Requests under `/api/v1` per client: the token's user, or the address when anonymous
    /// (the plan: 100/s, bursts of 200).
    pub rate_limit: cache::Rate,
    /// `POST /auth/login` per client address, instead of `rate_limit` (5/s, bursts of 10).
    pub login_rate_limit: cache::Rate,
    /// Peers (the gateway) whose `X-Forwarded-For` names the client; from anyone else the
    /// header is ignored, so a client cannot pick the address it is limited by.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(12 * 3600),
            business_offset: chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60)
                .expect("+05:30 is a valid offset"),
            account_throttle: ThrottlePolicy {
                max_failures: 5,
                window: chrono::Duration::minutes(15),
                lock_for: chrono::Duration::minutes(15),
            },
            address_throttle: ThrottlePolicy {
                max_failures: 30,
                window: chrono::Duration::minutes(15),
                lock_for: chrono::Duration::minutes(15),
            },
            rate_limit: cache::Rate::new(100, 200),
            login_rate_limit: cache::Rate::new(5, 10),
            trusted_proxies: Vec::new(),
        }
    }
}
