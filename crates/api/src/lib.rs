//! The HTTP face of IMS 2.0: the axum router, its handlers, extractors and the one mapping
//! of errors to responses. Business rules live in `domain`, SQL in `storage`.
//!
//! # Layout
//! - [`router`]: every route, the middleware stack and the OpenAPI document.
//! - [`handlers`]: one module per resource of the contract (`shared/spec/API.md`).
//! - [`auth`]: bearer tokens, the authenticated-user extractor, role and store checks.
//! - [`cached`]: reads through the cache, the keys each write makes stale, the cached
//!   dashboard figures.
//! - [`error`]: [`error::ApiError`] and the problem+json responses.
//! - [`gate`]: what every routed request passes: its route in its span, metrics, rate limit.
//! - [`failover`]: read routing, retries across a database failover, consistency tokens.
//! - [`extract`]: JSON, query and path extractors that reject with the contract's statuses.
//! - [`headers`]: safety headers on every answer, the docs page's policy, the request id bound.
//! - [`idempotent`]: `Idempotency-Key` keys and replays.
//! - [`limits`]: every limit the server enforces on a value, as the served document states it.
//! - `listing`: product lists (queries, sorting) cached as pages of ids, bodies through
//!   `product:{id}`.
//! - `lookup`: finding an order the caller may act on, live or archived.
//! - [`metrics`]: every exported metric, the tracking middleware and `GET /metrics`.
//! - [`openapi`]: what the generated document must say beyond the handlers' annotations.
//! - [`pagination`]: cursors and the list envelope.
//! - [`ratelimit`]: the per-client rate limit middleware and its `X-RateLimit-*` headers.
//! - [`state`]: what handlers share.
//! - [`views`]: the views several modules show (users, products, the dashboard).
//! - [`warm`]: cache warming.

// The handlers' futures nest the cache's, the router's and sqlx's deeply enough to pass the
// default limit of 128 when rustc computes their layout.
#![recursion_limit = "256"]

pub mod auth;
pub mod cached;
pub mod error;
pub mod extract;
pub mod failover;
pub mod gate;
pub mod handlers;
pub mod headers;
pub mod idempotent;
pub mod limits;
pub(crate) mod listing;
pub(crate) mod lookup;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod ratelimit;
pub mod raw;
pub mod router;
pub mod schema;
pub mod state;
pub mod views;
pub mod warm;

pub use router::{openapi, router};
pub use state::{AppState, Settings, Tuning};
