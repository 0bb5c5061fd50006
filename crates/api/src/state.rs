//! What every handler shares: the database pools, the cache, the per-client rate limiter,
//! the bound on password checks, and the settings that shape behaviour (token lifetime,
//! login throttling, rate limits, which proxies are believed).

use std::sync::Arc;
use std::time::Duration;

use storage::throttle::ThrottlePolicy;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

/// The state, behind one `Arc`: axum clones it for every middleware and handler of every
/// request, and cloning the parts (pools, cache, settings with their lists) one by one cost
/// about 8% of the service's CPU on a cached read.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

/// What [`AppState`] shares; its fields are reached through `Deref` (`state.db`).
pub struct Shared {
    pub db: storage::Db,
    pub cache: cache::Cache,
    pub settings: Settings,
    /// The per-client rate limit (Redis, or in memory while Redis is down).
    pub limiter: crate::ratelimit::Limiter,
    pub password_checks: PasswordChecks,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl AppState {
    pub fn new(
        db: storage::Db,
        cache: cache::Cache,
        settings: Settings,
        limiter: crate::ratelimit::Limiter,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                db,
                cache,
                settings,
                limiter,
                password_checks: PasswordChecks::new(),
            }),
        }
    }

    /// Pages of the list `list` in the order `sort`, with cursors signed by this service.
    pub fn pager(
        &self,
        list: &'static str,
        sort: crate::pagination::Sort,
    ) -> crate::pagination::Pager<'_> {
        crate::pagination::Pager::new(&self.settings.cursor_key, list, sort)
    }
}

/// Runs argon2 (about 15 ms of one core and 19 MiB per check) on the blocking pool, at most
/// [`Self::PER_CORE`] checks per core at a time. Without a bound every login in flight is a
/// thread of its own with its 19 MiB, and a burst of logins takes every core from the
/// requests that need a millisecond; with it, a login waits its turn, and one that cannot
/// start within [`Self::MAX_WAIT`] is answered 503 (with `Retry-After`) instead of queueing
/// without end. Not one per core: the threads share the cores with PostgreSQL's backends,
/// and with two checks for two cores a check got so small a share that logins queued for
/// seconds at 20 logins/s (docs/benchmarks.md).
#[derive(Clone)]
pub struct PasswordChecks {
    permits: Arc<Semaphore>,
}

impl PasswordChecks {
    pub const MAX_WAIT: Duration = Duration::from_secs(3);
    pub const PER_CORE: usize = 4;

    fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            permits: Arc::new(Semaphore::new(cores * Self::PER_CORE)),
        }
    }

    /// Runs `check` once a core is free.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> ApiResult<T> {
        let permit = tokio::time::timeout(Self::MAX_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable("too many logins at once; retry shortly".into()))?
            .map_err(|e| ApiError::Internal(e.into()))?;
        tokio::task::spawn_blocking(move || {
            let out = check();
            drop(permit);
            out
        })
        .await
        .map_err(|e| ApiError::Internal(e.into()))
    }
}

/// What an operator tunes for the API (`IMS_TOKEN_TTL_SECS`, `IMS_BUSINESS_UTC_OFFSET`, the
/// rate limits, `IMS_TRUSTED_PROXIES`): `ims::config` reads them into this struct, whose
/// [`Default`] is the one place their defaults are written.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// How long a login token lasts (12 hours).
    pub token_ttl: Duration,
    /// The chain's local time zone as a UTC offset: "today" on the dashboard starts at its
    /// midnight (India, +05:30, by default).
    pub business_offset: chrono::FixedOffset,
    /// Requests under `/api/v1` per client: the token's user, or the address when anonymous
    /// (default 100/s, bursts of 200).
    pub rate_limit: cache::Rate,
    /// `POST /auth/login` per client address, instead of `rate_limit` (5/s, bursts of 10).
    pub login_rate_limit: cache::Rate,
    /// Peers (the gateway) whose `X-Forwarded-For` names the client; from anyone else the
    /// header is ignored, so a client cannot pick the address it is limited by (none).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(12 * 3600),
            business_offset: DEFAULT_BUSINESS_OFFSET,
            rate_limit: cache::Rate::new(100, 200),
            login_rate_limit: cache::Rate::new(5, 10),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Everything the handlers are configured with: the operator's [`Tuning`], and what start-up
/// resolves (the cursor key, the archive reader) or tests alone change (the login throttles).
#[derive(Debug, Clone)]
pub struct Settings {
    pub tuning: Tuning,
    /// Failed logins for one account from one address before that pair is locked for a while
    /// (each lock twice as long as the one before, up to 16 times `lock_for`).
    pub account_throttle: ThrottlePolicy,
    /// Failed logins from one client address before it is locked for a while.
    pub address_throttle: ThrottlePolicy,
    /// The key pagination cursors are signed with; the same on every instance of a deployment.
    pub cursor_key: crate::pagination::CursorKey,
    /// Where archived orders are read from (`IMS_ARCHIVE_URL`); `None`: an archived order
    /// is answered 503 (nothing can read it), which only a test that archives nothing sets.
    pub archive: Option<archive::ArchivedOrders>,
}

/// The business day's UTC offset unless configured (`IMS_BUSINESS_UTC_OFFSET`): +05:30.
/// Built at compile time, so no code path can fail on it.
pub const DEFAULT_BUSINESS_OFFSET: chrono::FixedOffset =
    match chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60) {
        Some(offset) => offset,
        None => panic!("+05:30 is a valid offset"),
    };

impl Default for Settings {
    fn default() -> Self {
        Self {
            tuning: Tuning::default(),
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
            cursor_key: crate::pagination::CursorKey::random(),
            archive: None,
        }
    }
}
