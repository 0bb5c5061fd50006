//! Writes that may be run twice: those that set values (`Repeatable`), and those that carry an
//! `Idempotency-Key` (their own, or the failover middleware's) with a digest of the request.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::{json_bytes, parse_json};
use crate::error::ApiError;
use crate::state::AppState;

/// Marks a write whose second run leaves what the first left (it sets values rather than adding
/// to them, and its cache work does not depend on what was there before), so the failover
/// middleware may run it again after a lost primary without an idempotency key: if the first
/// attempt did commit, the retry writes the same values and forgets the same keys. A change
/// made by someone else in between is overwritten, as it would be by this request arriving a
/// moment later.
pub struct Repeatable;

impl<S: Send + Sync> FromRequestParts<S> for Repeatable {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(retry) = parts.extensions.get::<crate::failover::RetryKey>() {
            retry.allow_retry();
        }
        Ok(Repeatable)
    }
}

/// A JSON body with the `Idempotency-Key` it came with (if any) and a digest of the request,
/// so a retry with the same key and body replays the first answer and a different body is
/// refused.
pub struct IdempotentBody<T> {
    pub body: T,
    pub key: Option<String>,
    /// HMAC-SHA256 of method, path and body bytes under the service's key (never a plain
    /// hash: a body may carry a password, and the digest is stored with the key).
    pub request_hash: Vec<u8>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for IdempotentBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = match req.headers().get("idempotency-key") {
            None => None,
            Some(value) => {
                let key = value.to_str().ok().map(str::trim).filter(|k| {
                    (1..=255).contains(&k.len()) && k.chars().all(|c| c.is_ascii_graphic())
                });
                Some(
                    key.ok_or_else(|| {
                        ApiError::BadRequest(
                            "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
                        )
                    })?
                    .to_owned(),
                )
            }
        };
        if key
            .as_deref()
            .is_some_and(|k| k.starts_with(storage::idempotency::SERVICE_KEY_PREFIX))
        {
            return Err(ApiError::BadRequest(format!(
                "Idempotency-Key must not start with {}: the service's own keys do",
                storage::idempotency::SERVICE_KEY_PREFIX
            )));
        }
        // Keys let a write be retried after a failover (`crate::failover`): the client's own,
        // or one the failover middleware made up for this request.
        let retry_key = req.extensions().get::<crate::failover::RetryKey>();
        let key = match (key, retry_key) {
            (Some(key), Some(retry)) => {
                retry.allow_retry();
                Some(key)
            }
            (None, Some(retry)) => Some(retry.claim()),
            (key, None) => key,
        };
        // The path as the API names it (without `/api/v1`), as digests stored before the
        // router matched whole paths were made: a retry across an upgrade still matches.
        let path = req.uri().path();
        let path = path
            .strip_prefix(crate::router::API_PREFIX)
            .unwrap_or(path)
            .to_owned();
        let method = req.method().clone();
        let bytes = json_bytes(req, state).await?;
        let body = parse_json(&bytes)?;
        // Keyed: the digest is kept for 24 hours, and a body may hold a password.
        let request_hash = state.settings.cursor_key.request_digest(&[
            method.as_str().as_bytes(),
            path.as_bytes(),
            &bytes,
        ]);
        Ok(IdempotentBody {
            body,
            key,
            request_hash,
        })
    }
}
