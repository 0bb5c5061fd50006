//! `GET /health/live` (the process answers) and `GET /health/ready` (it can serve: the
//! database answers). Redis is reported but does not decide readiness: the cache is an
//! accelerator and every request still succeeds from the database without it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (db, cache) = tokio::join!(state.db.ping(), state.cache.ping());
    let database = if db.is_ok() { "ok" } else { "unavailable" };
    let cache = if cache.is_ok() { "ok" } else { "unavailable" };
    let status = if db.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let overall = if db.is_ok() { "ready" } else { "not_ready" };
    (
        status,
        Json(json!({ "status": overall, "database": database, "cache": cache })),
    )
}
