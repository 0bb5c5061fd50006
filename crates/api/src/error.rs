//! The one place errors become HTTP responses: RFC 9457 `application/problem+json`.
//!
//! Which error for which layer: domain validation fails with [`domain::ValidationErrors`]
//! (422, every bad field named); storage fails with [`storage::Error`] (unique violations
//! become 409 naming the field, missing references 422, an unreachable database 503);
//! handlers use [`ApiError`]'s variants directly for everything else. A malformed request is
//! 400: [`ApiError::BadFields`] when the offending field or parameter is known (named in
//! `errors`), [`ApiError::BadRequest`] otherwise. A 5xx logs its whole
//! cause chain and sends a generic detail; a 4xx says exactly what to fix and logs nothing.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::{FieldError, ValidationErrors};
use serde::Serialize;

/// The problem document every error response carries.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` plus the title for the common ones).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong with this request and how to fix it.
    pub detail: String,
    /// The offending fields, for 409 and 422.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<crate::schema::FieldError>)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A malformed request whose offending fields or parameters are known (400 with `errors`).
    #[error("bad request: {0}")]
    BadFields(ValidationErrors),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// A body with a `Content-Encoding` (gzip, ...): bodies are taken uncompressed only.
    #[error("unsupported content encoding")]
    UnsupportedEncoding,
    #[error(transparent)]
    Unprocessable(#[from] ValidationErrors),
    #[error("too many requests")]
    TooManyRequests {
        retry_after_secs: u64,
        detail: String,
    },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The database failed under the request; `node_lost` when the node went away (a crash or
    /// failover), which [`crate::failover`] may retry elsewhere.
    #[error("database unavailable")]
    DatabaseUnavailable { node_lost: bool },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("no {what} with this id"))
    }

    /// 400 naming the one malformed field or query parameter.
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadFields(ValidationErrors::single(field, message))
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Conflict {
            detail: message.clone(),
            errors: vec![FieldError::new(field, message)],
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::BadFields(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType | ApiError::UnsupportedEncoding => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::DatabaseUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(d) | ApiError::Forbidden(d) | ApiError::NotFound(d) => d.clone(),
            ApiError::Unauthorized(d) => (*d).to_owned(),
            ApiError::Conflict { detail, .. } | ApiError::TooManyRequests { detail, .. } => {
                detail.clone()
            }
            ApiError::PayloadTooLarge => "the request body is over 1 MiB".into(),
            ApiError::UnsupportedMediaType => {
                "send the body as JSON with Content-Type: application/json".into()
            }
            ApiError::UnsupportedEncoding => {
                "send the body uncompressed, without Content-Encoding".into()
            }
            ApiError::Unprocessable(e) | ApiError::BadFields(e) => {
                format!("{e}; see errors for what to fix")
            }
            ApiError::Unavailable(d) => d.clone(),
            ApiError::DatabaseUnavailable { .. } => {
                "the database is unavailable; retry shortly".into()
            }
            ApiError::Internal(_) => "an internal error occurred; it has been logged".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // `{:#}` prints the whole cause chain; the client gets only the generic detail.
            match &self {
                ApiError::Internal(e) => {
                    tracing::error!(error = format!("{e:#}"), "request failed")
                }
                other => tracing::warn!(error = %other, "request failed"),
            }
        }
        let errors = match &self {
            ApiError::Unprocessable(e) | ApiError::BadFields(e) => e.0.clone(),
            ApiError::Conflict { errors, .. } => errors.clone(),
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: self.detail(),
            errors,
        };
        problem_response(status, &problem, &self)
    }
}

fn problem_response(status: StatusCode, problem: &Problem, err: &ApiError) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    match err {
        ApiError::TooManyRequests {
            retry_after_secs, ..
        } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        ApiError::Unauthorized(_) => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // RFC 7694: a server that refuses a content coding says which it takes.
        ApiError::UnsupportedEncoding => {
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        // A dependency is down or the service is saturated: worth retrying soon.
        ApiError::Unavailable(_) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
        }
        ApiError::DatabaseUnavailable { node_lost } => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            response.extensions_mut().insert(DatabaseFailed {
                node_lost: *node_lost,
            });
        }
        _ => {}
    }
    response
}

impl From<storage::Error> for ApiError {
    fn from(err: storage::Error) -> Self {
        match err {
            storage::Error::NotFound => ApiError::NotFound("not found".into()),
            storage::Error::Conflict { constraint } => unique_violation(&constraint),
            storage::Error::MissingReference { constraint } => missing_reference(&constraint),
            storage::Error::InsufficientStock(lines) => insufficient_stock(&lines),
            storage::Error::InvalidState(detail) => ApiError::Conflict {
                detail,
                errors: Vec::new(),
            },
            storage::Error::Rejected { field, message } => {
                ValidationErrors::single(field, message).into()
            }
            storage::Error::InvalidText => {
                ApiError::BadRequest("text must not contain NUL (U+0000) characters".into())
            }
            storage::Error::Unavailable(ref e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::DatabaseUnavailable {
                    node_lost: err.node_lost(),
                }
            }
            storage::Error::Database(e) => ApiError::Internal(e.into()),
        }
    }
}

/// The archive's failures: its database errors as any other's, the rest (an object store
/// down, a damaged file) a logged 500.
impl From<archive::Error> for ApiError {
    fn from(err: archive::Error) -> Self {
        match err {
            archive::Error::Database(e) => storage::Error::from(e).into(),
            other => ApiError::Internal(other.into()),
        }
    }
}

/// 409 naming every line the store cannot cover and how many units it has.
fn insufficient_stock(lines: &[storage::error::ShortLine]) -> ApiError {
    let errors = lines
        .iter()
        .map(|l| {
            FieldError::new(
                format!("items[{}].quantity", l.index),
                format!(
                    "product {} has {} in stock, {} requested",
                    l.product_id, l.available, l.requested
                ),
            )
        })
        .collect();
    ApiError::Conflict {
        detail: "not enough stock; nothing was taken".into(),
        errors,
    }
}

/// Names the field a unique index protects, so a 409 tells the client what clashed.
fn unique_violation(constraint: &str) -> ApiError {
    let (field, message) = match constraint {
        "users_email_key" => ("email", "a user with this email already exists"),
        "users_username_key" => ("username", "a user with this username already exists"),
        "products_sku_key" => ("sku", "a product with this sku already exists"),
        "stores_code_key" => ("code", "a store with this code already exists"),
        "categories_name_key" => ("name", "a category with this name already exists"),
        _ => ("", "this would duplicate an existing record"),
    };
    ApiError::conflict(field, message)
}

/// A foreign key refused a write: the client named something that does not exist (422).
fn missing_reference(constraint: &str) -> ApiError {
    let (field, message) = match constraint {
        "products_category_id_fkey" => ("categoryId", "no category with this id"),
        "categories_parent_id_fkey" => ("parentId", "no category with this id"),
        "prescriptions_customer_id_fkey" => ("customerId", "no customer with this id"),
        "prescriptions_patient_id_fkey" => ("patientId", "no customer with this id"),
        "workshop_jobs_order_id_fkey" => ("orderId", "no order with this id"),
        "workshop_jobs_prescription_id_fkey" => ("prescriptionId", "no prescription with this id"),
        "inventory_product_id_fkey" => ("productId", "no product with this id"),
        "inventory_store_id_fkey" => ("storeId", "no store with this id"),
        _ => ("", "refers to a record that does not exist"),
    };
    ValidationErrors::single(field, message).into()
}

/// Turns storage's bare `NotFound` into a 404 that names what was missing.
pub trait OrNotFound<T> {
    fn or_not_found(self, what: &str) -> ApiResult<T>;
}

impl<T> OrNotFound<T> for Result<T, storage::Error> {
    fn or_not_found(self, what: &str) -> ApiResult<T> {
        self.map_err(|e| match e {
            storage::Error::NotFound => ApiError::not_found(what),
            other => other.into(),
        })
    }
}

/// Put on a response by the error mapping when the database failed under the request, for
/// [`crate::failover`] to decide whether to retry it elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseFailed {
    pub node_lost: bool,
}
