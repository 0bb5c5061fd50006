//! `Idempotency-Key` on writes that create things, on status changes and on a product's update:
//! the key (scoped to the caller) and the replay of a first response. Storage claims the key in the write's own transaction.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use storage::idempotency::IdempotencyKey;

use crate::auth::Auth;
use crate::extract::IdempotentBody;

/// The caller's key for this request, if it sent one.
pub fn key_of<T>(auth: &Auth, request: &IdempotentBody<T>) -> Option<IdempotencyKey> {
    request.key.clone().map(|key| IdempotencyKey {
        user_id: auth.user_id,
        key,
        request_hash: request.request_hash.clone(),
    })
}

/// The `201 Created` answer of a write that creates something, as stored for replay.
pub fn stored<V: Serialize>(view: V) -> storage::idempotency::Rendered {
    stored_as(StatusCode::CREATED, view)
}

/// The answer of a write with `status`, as stored for replay; a view that does not serialize
/// fails the write (a 500) rather than storing `null` as the response to replay.
pub fn stored_as<V: Serialize>(status: StatusCode, view: V) -> storage::idempotency::Rendered {
    serde_json::to_value(view).map(|body| storage::idempotency::Response {
        status: status.as_u16(),
        body,
    })
}

/// The first response to a retried request, marked as a replay.
pub fn replay(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(
        HeaderName::from_static("idempotent-replayed"),
        HeaderValue::from_static("true"),
    );
    response
}
