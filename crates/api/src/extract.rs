//! Request extractors whose rejections are problem documents with the contract's statuses:
//! malformed JSON, wrong types and unknown enum values are 400, a missing JSON content type
//! 415, an oversized body 413, and a malformed id in a path 404.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::BadRequest(format!("malformed JSON: {}", serde_cause(&e.body_text())))
        }
        JsonRejection::JsonDataError(e) => {
            ApiError::BadRequest(format!("invalid body: {}", serde_cause(&e.body_text())))
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// axum prefixes serde's message with its own sentence; the client needs serde's part.
fn serde_cause(text: &str) -> String {
    text.rsplit_once(": ")
        .map_or(text, |(_, cause)| cause)
        .to_owned()
}

/// Query-string parameters.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::BadRequest(
                format!("invalid query parameter: {}", serde_cause(&e.body_text())),
            )),
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}

/// Path parameters. An id that cannot exist (not a UUID) is simply not found.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::NotFound(
                "nothing here: the id in the path is not a valid id".into(),
            )),
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!(other.body_text()))),
        }
    }
}

/// Deserializes a field that distinguishes "absent" (`None`) from "null" (`Some(None)`), for
/// PATCH bodies where null clears a value.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

/// The client's address as the socket saw it, when the server records it (tests that call
/// the router directly have none). The gateway issue adds trusted `X-Forwarded-For`.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(ClientAddr(addr))
    }
}

/// A JSON body with the `Idempotency-Key` it came with (if any) and a digest of the request,
/// so a retry with the same key and body replays the first answer and a different body is
/// refused.
pub struct IdempotentBody<T> {
    pub body: T,
    pub key: Option<String>,
    /// SHA-256 of method, path and body bytes.
    pub request_hash: Vec<u8>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for IdempotentBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use sha2::{Digest, Sha256};
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
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let mut hasher = Sha256::new();
        hasher.update(req.method().as_str());
        hasher.update(req.uri().path());
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(e.body_text())
                }
            })?;
        hasher.update(&bytes);
        let axum::Json(body) = axum::Json::<T>::from_bytes(&bytes).map_err(json_rejection)?;
        Ok(IdempotentBody {
            body,
            key,
            request_hash: hasher.finalize().to_vec(),
        })
    }
}
