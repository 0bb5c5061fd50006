//! The per-client rate limit: which client a request belongs to, one step of its limit, the
//! `X-RateLimit-*` and IETF `RateLimit` headers on every response, and 429 beyond the limit.
//!
//! A client is the user of a valid bearer token, or else the client address ([`client_addr`]:
//! the gateway's `X-Forwarded-For` when the peer is a trusted proxy). `POST /auth/login` is
//! limited per address by the stricter login rate instead. The count is kept in Redis
//! ([`cache::RateLimiter`]: exact across instances); while Redis is down each instance counts
//! alone in memory (`governor`, keyed the same way), so the limit is at most the number of
//! instances times looser, never gone and never an error. The health checks, the metrics and
//! the API docs are not limited: probes and scrapers must never be refused.
//!
//! A read (GET, HEAD) does not wait for its step of the limit: both run at once, so the
//! step's Redis round trip and the handler's (a cached read's) overlap on the one
//! multiplexed connection instead of following each other, and a read beyond the limit still
//! answers 429, its handler's answer dropped. A read has no effect to undo. What a limit
//! protects, the service's work, stays protected: a client refused in the last second
//! ([`REFUSED_FOR`]) is checked first again, so beyond its limit a client makes the handler
//! run at most for the requests it had in flight when the first refusal came.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use cache::{Decision, Rate};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;
use tower::Service;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::client_addr;
use crate::gate::run;
use crate::state::{AppState, Settings};

/// How long after a refusal a client's reads wait for their step of the limit again.
const REFUSED_FOR: Duration = Duration::from_secs(1);
/// Clients remembered as refused at most: beyond, the oldest are forgotten (bounded memory
/// under a flood of addresses).
const REFUSED_MAX: u64 = 100_000;

/// Which limit a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    Api,
    Login,
}

impl Policy {
    fn name(self) -> &'static str {
        match self {
            Policy::Api => "api",
            Policy::Login => "login",
        }
    }
}

type Local = governor::RateLimiter<
    String,
    DefaultKeyedStateStore<String>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The limiter every request passes. Cheap to clone.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    redis: cache::RateLimiter,
    api: Rate,
    login: Rate,
    /// The per-instance fallbacks, one per policy.
    local_api: Local,
    local_login: Local,
    /// Fallback decisions so far; every so often the idle clients are forgotten.
    local_calls: AtomicU64,
    /// Clients refused within [`REFUSED_FOR`]: their reads wait for the limit's step.
    refused: moka::sync::Cache<String, ()>,
    /// Each policy's `RateLimit-Policy` header: the same on every response, so made once.
    api_policy: HeaderValue,
    login_policy: HeaderValue,
}

fn local(rate: Rate) -> Local {
    governor::RateLimiter::keyed(Quota::per_second(rate.per_second).allow_burst(rate.burst))
        .with_middleware::<StateInformationMiddleware>()
}

impl Limiter {
    /// A limiter with `settings`' rates, counting in `redis`.
    pub fn new(redis: cache::RateLimiter, settings: &Settings) -> Limiter {
        Limiter {
            inner: Arc::new(Inner {
                redis,
                api: settings.tuning.rate_limit,
                login: settings.tuning.login_rate_limit,
                local_api: local(settings.tuning.rate_limit),
                local_login: local(settings.tuning.login_rate_limit),
                local_calls: AtomicU64::new(0),
                refused: moka::sync::Cache::builder()
                    .max_capacity(REFUSED_MAX)
                    .time_to_live(REFUSED_FOR)
                    .build(),
                api_policy: policy_header(Policy::Api, settings.tuning.rate_limit),
                login_policy: policy_header(Policy::Login, settings.tuning.login_rate_limit),
            }),
        }
    }

    /// Remembers that `client` was just refused (see [`Limiter::may_speculate`]).
    fn refused(&self, client: String) {
        self.inner.refused.insert(client, ());
    }

    /// Whether `client`'s request may run beside its step of the limit (see the module's
    /// note): a read of a client not refused lately.
    fn may_speculate(&self, policy: Policy, method: &Method, client: &str) -> bool {
        policy == Policy::Api
            && (method == Method::GET || method == Method::HEAD)
            && !self.inner.refused.contains_key(client)
    }

    /// Puts `policy`'s limit headers on a response (see [`write_headers`]).
    fn write_headers(&self, headers: &mut HeaderMap, policy: Policy, decision: &Decision) {
        let policy_header = match policy {
            Policy::Api => &self.inner.api_policy,
            Policy::Login => &self.inner.login_policy,
        };
        write_headers(headers, policy, self.rate(policy), policy_header, decision);
    }

    fn rate(&self, policy: Policy) -> Rate {
        match policy {
            Policy::Api => self.inner.api,
            Policy::Login => self.inner.login,
        }
    }

    /// One step of `client`'s limit: in Redis, or in this instance's memory when Redis fails.
    async fn check(&self, policy: Policy, client: &str) -> Decision {
        let rate = self.rate(policy);
        let key = format!("{}:{client}", policy.name());
        match self.inner.redis.check(&key, rate).await {
            Ok(decision) => decision,
            Err(e) => {
                if !matches!(e, cache::Error::Bypassed) {
                    tracing::warn!(error = %e, "rate limit falls back to this instance's memory");
                }
                metrics::counter!("ims_rate_limit_fallback_total", "policy" => policy.name())
                    .increment(1);
                self.check_locally(policy, key)
            }
        }
    }

    fn check_locally(&self, policy: Policy, key: String) -> Decision {
        let rate = self.rate(policy);
        let local = match policy {
            Policy::Api => &self.inner.local_api,
            Policy::Login => &self.inner.local_login,
        };
        if self.inner.local_calls.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            local.retain_recent();
        }
        let full = rate.interval() * rate.burst.get();
        match local.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    remaining,
                    retry_after: Duration::ZERO,
                    reset_after: rate.interval()
                        * (rate.burst.get() - remaining.min(rate.burst.get())),
                }
            }
            Err(not_until) => Decision {
                allowed: false,
                remaining: 0,
                retry_after: not_until.wait_time_from(local.clock().now()),
                reset_after: full,
            },
        }
    }
}

/// Paths no client is limited on: probes, scrapes and the docs.
fn exempt(path: &str) -> bool {
    !path.starts_with("/api/v1/")
        || path == "/api/v1/openapi.json"
        || path.starts_with("/api/v1/docs")
}

/// The middleware: finds the client, takes one step of its limit, answers 429 beyond it, and
/// puts the limit's headers on every response. A valid token's [`Auth`] is kept in the
/// request for the handler, so the session is looked up once.
pub(crate) async fn enforce<S>(state: &AppState, request: Request, next: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    if exempt(request.uri().path()) {
        return run(next, request).await;
    }
    let (mut parts, body) = request.into_parts();
    let by_address = |parts: &axum::http::request::Parts| match client_addr(
        parts,
        &state.settings.tuning.trusted_proxies,
    ) {
        Some(ip) => format!("addr:{ip}"),
        None => "addr:unknown".to_owned(),
    };
    let (policy, client) =
        if parts.method == Method::POST && parts.uri.path() == "/api/v1/auth/login" {
            (Policy::Login, by_address(&parts))
        } else if parts.headers.contains_key(header::AUTHORIZATION) {
            match Auth::from_request_parts(&mut parts, state).await {
                Ok(auth) => {
                    let client = format!("user:{}", auth.user_id);
                    parts.extensions.insert(auth);
                    (Policy::Api, client)
                }
                // The handler refuses the token itself; until then it is an anonymous caller.
                Err(_) => (Policy::Api, by_address(&parts)),
            }
        } else {
            (Policy::Api, by_address(&parts))
        };
    let (decision, answered) = if state.limiter.may_speculate(policy, &parts.method, &client) {
        let request = Request::from_parts(parts, body);
        let (decision, response) =
            tokio::join!(state.limiter.check(policy, &client), run(next, request));
        (decision, Some(response))
    } else {
        let decision = state.limiter.check(policy, &client).await;
        let response = if decision.allowed {
            Some(run(next, Request::from_parts(parts, body)).await)
        } else {
            None
        };
        (decision, response)
    };
    let mut response = if let (true, Some(response)) = (decision.allowed, answered) {
        response
    } else {
        state.limiter.refused(client);
        metrics::counter!("ims_rate_limited_total", "policy" => policy.name()).increment(1);
        ApiError::TooManyRequests {
            retry_after_secs: ceil_secs(decision.retry_after).max(1),
            detail: format!(
                "more than {} requests per second (bursts of {}); retry after the time in \
                 Retry-After",
                state.limiter.rate(policy).per_second,
                state.limiter.rate(policy).burst
            ),
        }
        .into_response()
    };
    state
        .limiter
        .write_headers(response.headers_mut(), policy, &decision);
    response
}

fn ceil_secs(duration: Duration) -> u64 {
    duration
        .as_micros()
        .div_ceil(1_000_000)
        .try_into()
        .unwrap_or(u64::MAX)
}

// Names as constants: a `&str` name is parsed and checked on every insert.
const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const NOW: HeaderName = HeaderName::from_static("ratelimit");

/// `X-RateLimit-Limit` is the burst (what a client at rest may send at once),
/// `X-RateLimit-Remaining` what it may still send right now, `X-RateLimit-Reset` the seconds
/// until it is at rest again. The IETF fields say the same: a quota of `burst` requests that
/// refills over `burst / rate` seconds.
fn write_headers(
    headers: &mut HeaderMap,
    policy: Policy,
    rate: Rate,
    policy_header: &HeaderValue,
    decision: &Decision,
) {
    let reset = ceil_secs(decision.reset_after);
    headers.insert(X_LIMIT, HeaderValue::from(rate.burst.get()));
    headers.insert(X_REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(X_RESET, HeaderValue::from(reset));
    headers.insert(POLICY, policy_header.clone());
    let now = format!("\"{}\";r={};t={reset}", policy.name(), decision.remaining);
    if let Ok(value) = HeaderValue::from_str(&now) {
        headers.insert(NOW, value);
    }
}

/// A policy's `RateLimit-Policy`: a quota of `burst` requests refilled over `burst / rate`
/// seconds.
fn policy_header(policy: Policy, rate: Rate) -> HeaderValue {
    let window = u64::from(rate.burst.get()).div_ceil(u64::from(rate.per_second.get()));
    let value = format!("\"{}\";q={};w={window}", policy.name(), rate.burst);
    // A policy name and two numbers are always a valid header value.
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_api_is_limited() {
        assert!(exempt("/health/live"));
        assert!(exempt("/metrics"));
        assert!(exempt("/api/v1/openapi.json"));
        assert!(exempt("/api/v1/docs/index.html"));
        assert!(!exempt("/api/v1/products"));
        assert!(!exempt("/api/v1/catalog/categories"));
    }

    #[test]
    fn headers_describe_the_bucket() {
        let mut headers = HeaderMap::new();
        let decision = Decision {
            allowed: true,
            remaining: 199,
            retry_after: Duration::ZERO,
            reset_after: Duration::from_millis(10),
        };
        let rate = Rate::new(100, 200);
        let policy = policy_header(Policy::Api, rate);
        write_headers(&mut headers, Policy::Api, rate, &policy, &decision);
        let get = |name: &str| headers[name].to_str().expect("ascii").to_owned();
        assert_eq!(get("x-ratelimit-limit"), "200");
        assert_eq!(get("x-ratelimit-remaining"), "199");
        assert_eq!(get("x-ratelimit-reset"), "1");
        assert_eq!(get("ratelimit-policy"), "\"api\";q=200;w=2");
        assert_eq!(get("ratelimit"), "\"api\";r=199;t=1");
    }

    #[test]
    fn the_fallback_allows_the_burst_then_refuses() {
        let redis =
            cache::RateLimiter::new(&cache::CacheConfig::new("redis://127.0.0.1:1")).expect("url");
        let mut settings = Settings::default();
        settings.tuning.rate_limit = Rate::new(1, 3);
        let limiter = Limiter::new(redis, &settings);
        let mut allowed = 0;
        for _ in 0..5 {
            if limiter
                .check_locally(Policy::Api, "api:addr:x".into())
                .allowed
            {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 3);
        let refused = limiter.check_locally(Policy::Api, "api:addr:x".into());
        assert!(!refused.allowed && refused.retry_after > Duration::ZERO);
        assert!(
            limiter
                .check_locally(Policy::Api, "api:addr:y".into())
                .allowed
        );
    }
}
