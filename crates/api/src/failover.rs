//! Requests across a database failover: a read or write that fails because its node went
//! away is retried once, and reads prefer a standby (as MongoDB's `retryWrites` and
//! `secondaryPreferred` would).
//!
//! On a cluster (a multi-host `IMS_DATABASE_URL`) every request runs inside a
//! [`storage::routing::Route`], and this middleware:
//!
//! - retries a read (GET, HEAD) once when a node died under it, on another node: the route
//!   remembers the nodes the first attempt read from and the retry avoids them;
//! - retries a write once, after the follower has found a primary again, but only when the
//!   retry cannot double its effect: the write claims an idempotency key in its own
//!   transaction (the client's `Idempotency-Key`, or else one this middleware makes up for the
//!   request, [`RetryKey`]), so a first attempt whose commit did go through (a commit can fail
//!   with "canceling the wait for synchronous replication" yet be durable) is replayed, not
//!   repeated; a write that leaves the same state when run twice (an update that sets values:
//!   [`crate::extract::Repeatable`]) is retried without a key. A login or logout is not
//!   retried: the client gets 503 with Retry-After and decides;
//! - gives every successful write an `X-Consistency-Token` (the primary's WAL position after
//!   it), and honours one sent with a later request: its reads go only to standbys that have
//!   replayed that far, or to the primary (read-your-writes).
//!
//! On one host none of this applies and requests pass straight through.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{counter, gauge};
use storage::routing::{self, Route};
use uuid::Uuid;

use crate::error::ApiError;
pub use crate::error::DatabaseFailed;
use crate::state::AppState;

/// Response header of a write, request header of a read that must see it.
pub const CONSISTENCY_TOKEN: HeaderName = HeaderName::from_static("x-consistency-token");

/// How long a write that failed with its node waits for the follower to find a primary before
/// it is retried. A crashed primary is replaced in 9 to 14 s here (docs/operations.md); with the
/// first attempt's acquire timeout (5 s) the request still ends inside the 30 s the router
/// allows it, and the gateway's 35 s.
const PRIMARY_WAIT: Duration = Duration::from_secs(20);

/// How long a read retry waits for the follower's next view of the cluster.
const READ_RETRY_WAIT: Duration = Duration::from_millis(1500);

/// The largest body buffered for a retry: the contract's limit (larger ones are refused 413
/// anyway, by the handler's extractor).
const MAX_BUFFERED: u64 = 1024 * 1024;

/// An idempotency key made up for a write that came without one, so that the write can be
/// retried after a failover. `claimed` tells whether the handler made its write safe to run
/// again: it took a key, this one or the client's, or its write is repeatable.
#[derive(Debug, Clone)]
pub struct RetryKey {
    pub key: String,
    claimed: Arc<AtomicBool>,
}

impl RetryKey {
    fn new() -> Self {
        Self {
            // Random, so no client's own key can collide with it.
            key: format!(
                "{}{}",
                storage::idempotency::SERVICE_KEY_PREFIX,
                Uuid::new_v4()
            ),
            claimed: Arc::default(),
        }
    }

    /// The key for a write that came without one; the handler's transaction claims it.
    pub fn claim(&self) -> String {
        self.allow_retry();
        self.key.clone()
    }

    /// The handler makes its write safe to run again without this key: it claimed the
    /// client's own key instead, or running its write twice leaves what running it once
    /// does ([`crate::extract::Repeatable`]).
    pub fn allow_retry(&self) {
        self.claimed.store(true, Ordering::Relaxed);
    }

    fn was_claimed(&self) -> bool {
        self.claimed.load(Ordering::Relaxed)
    }
}

pub async fn route_and_retry(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !state.db.is_cluster() {
        return next.run(request).await;
    }
    let min_lsn = match request.headers().get(&CONSISTENCY_TOKEN) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(routing::parse_lsn) {
            Some(lsn) => Some(lsn),
            None => {
                return ApiError::BadRequest(
                    "X-Consistency-Token must be the token a write returned, like 16/B374D848"
                        .into(),
                )
                .into_response()
            }
        },
    };
    let route = Arc::new(Mutex::new(Route {
        min_lsn,
        ..Route::default()
    }));
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    let started_on = state.db.topology().map(|t| t.generation);
    let client_key = request.headers().contains_key("idempotency-key");

    // A write's body is kept for a second attempt; one of unknown or excessive length is not
    // (it is never retried, and its handler answers 413 if it is too large).
    let (parts, body) = request.into_parts();
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bytes = if read || length.is_some_and(|l| l <= MAX_BUFFERED) {
        match axum::body::to_bytes(body, MAX_BUFFERED as usize).await {
            Ok(bytes) => Some(bytes),
            Err(_) => {
                return ApiError::BadRequest("the request body could not be read".into())
                    .into_response()
            }
        }
    } else {
        let request = Request::from_parts(parts, body);
        return finish(&state, read, routing::scope(route, next.run(request)).await).await;
    };
    let bytes = bytes.unwrap_or_default();
    let retry_key = (!read).then(RetryKey::new);
    let attempt = |parts: &axum::http::request::Parts, bytes: &Bytes| {
        let mut request = Request::new(Body::from(bytes.clone()));
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        *request.extensions_mut() = parts.extensions.clone();
        if let Some(key) = &retry_key {
            request.extensions_mut().insert(key.clone());
        }
        request
    };

    let first = routing::scope(route.clone(), next.clone().run(attempt(&parts, &bytes))).await;
    let Some(failed) = first.extensions().get::<DatabaseFailed>().copied() else {
        return finish(&state, read, first).await;
    };
    // Only a handler that claimed a key (its own or the client's) in its transaction can
    // tell a retry from a first attempt.
    let keyed = retry_key.as_ref().is_some_and(RetryKey::was_claimed);
    if !(read || keyed) {
        return first;
    }
    // A failure is the failover's when the node went away, when there is no primary now, or
    // when the primary moved while the request ran: a statement timing out on a primary cut
    // off from its standbys (its rows locked by commits waiting for them) is only the last
    // kind, and the follower may see the move a probe later than the timeout fires.
    let moved = |state: &AppState| {
        state
            .db
            .topology()
            .is_some_and(|t| t.primary.is_none() || Some(t.generation) != started_on)
    };
    if !failed.node_lost && !moved(&state) {
        state.db.await_probe_round(READ_RETRY_WAIT).await;
        if !moved(&state) {
            return first;
        }
    }
    if read {
        if let Ok(mut route) = route.lock() {
            route.avoid_used();
        }
        // The router's view may predate the failure: after a fresh probe the dead node is down,
        // a node being promoted or demoted shows its new role, and the standbys' positions are
        // past a token the client sent with its own write (a synchronous standby has it).
        state.db.await_probe_round(READ_RETRY_WAIT).await;
        // Unless no standby can serve it: a token from a primary that died right after the
        // write may name WAL past anything the standbys replayed (its WAL position, not its
        // commit's), and then only the new primary has the write for certain. Such a read
        // waits for the primary as a write does, instead of failing on the dead one again
        // (issue 14: a client's own order not read back during a failover).
        let standby = route
            .lock()
            .map(|route| state.db.standby_serves(&route))
            .unwrap_or(false);
        if !standby {
            counter!("ims_db_primary_waits_total", "for" => "read").increment(1);
            if !await_primary(&state).await {
                return first;
            }
        }
    } else if !await_primary(&state).await {
        return first;
    }
    counter!("ims_db_retries_total", "kind" => if read { "read" } else { "write" }).increment(1);
    tracing::info!(read, "retrying after a database node failed");
    let second = routing::scope(route, next.run(attempt(&parts, &bytes))).await;
    let mut second = finish(&state, read, second).await;
    if !client_key {
        // The replay of our own key is an implementation detail, not the client's replay.
        second.headers_mut().remove("idempotent-replayed");
    }
    second
}

/// A successful write's response gets the consistency token (reads may go to standbys).
/// Waits up to [`PRIMARY_WAIT`] for a primary, counted in the gauge of requests waiting.
async fn await_primary(state: &AppState) -> bool {
    let waiting = gauge!("ims_db_requests_awaiting_primary");
    waiting.increment(1.0);
    let found = state.db.await_primary(PRIMARY_WAIT).await;
    waiting.decrement(1.0);
    found
}

async fn finish(state: &AppState, read: bool, mut response: Response) -> Response {
    if read || !response.status().is_success() || !state.db.reads_on_standbys() {
        return response;
    }
    let mut position = state.db.write_position().await;
    // Any failure, not only a lost connection: the primary killed right after the commit
    // leaves the pool nothing to connect to, and the acquire ends in a pool timeout, which
    // does not count as a lost node. Without a token the client's next read may go to a
    // standby that has not replayed the write (issue 14).
    if position.is_err() && state.db.await_primary(PRIMARY_WAIT).await {
        counter!("ims_db_primary_waits_total", "for" => "token").increment(1);
        // The primary died after the commit: the commit was on a standby too (synchronous
        // replication), so the successor's position is past it.
        position = state.db.write_position().await;
    }
    match position {
        Ok(lsn) => {
            if let Ok(value) = HeaderValue::from_str(&routing::format_lsn(lsn)) {
                response.headers_mut().insert(CONSISTENCY_TOKEN, value);
            }
        }
        // The write stands; only the token is missing, so the client reads as it would anyway.
        Err(e) => tracing::warn!(error = %e, "no consistency token for this write"),
    }
    response
}
