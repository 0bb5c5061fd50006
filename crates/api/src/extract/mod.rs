//! Request extractors whose rejections are problem documents with the contract's statuses:
//! malformed JSON, wrong types, missing or unknown fields and unknown enum values are 400
//! (naming the field or query parameter in `errors`, by its path: `items[0].quantity`), a
//! missing JSON content type 415, an oversized body 413, and a malformed id in a path 404.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use domain::{FieldError, ValidationErrors};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub use client::{client_addr, ClientAddr};
pub use keyed::{IdempotentBody, Repeatable};

mod client;
mod keyed;

/// A JSON body (not to be confused with `axum::body::Body`, the raw bytes).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The bytes of a JSON body: 415 unless the content type is JSON, 413 over the limit.
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    // Nothing here decodes compressed bodies: one labelled gzip would be read as plain JSON
    // (or refused as malformed) instead of being refused for what it is.
    let encoded = req
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .any(|v| {
            !v.to_str()
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("identity"))
        });
    if encoded {
        return Err(ApiError::UnsupportedEncoding);
    }
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })
}

/// Parses a JSON body into `T`. Malformed JSON is a 400 saying where; a value of the wrong
/// type, a missing or an unknown field is a 400 naming the field in `errors`, by its path in
/// the body (`rightEye.sphere`, `items[0].quantity`); a body that is not an object is a 400.
/// A number with a zero fraction (`1899.0`,
/// `1e3`) is an integer, as JSON Schema has it (the OpenAPI document says `integer`).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let mut value: serde_json::Value = serde::Deserialize::deserialize(&mut json)
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    json.end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    // serde would also read a struct from an array of its fields in order (`[null, null]` was
    // an empty PATCH, `["Asha", "+91...", null, null]` a customer): every body is an object.
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "invalid body: must be a JSON object".into(),
        ));
    }
    integral_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        field_error(&path, &e.into_inner().to_string(), "invalid body")
    })
}

/// Turns every number with a zero fraction that fits an i64 into an integer, so that an
/// integer field takes `6022.0` as JSON Schema's `integer` does (a float field takes either).
pub(crate) fn integral_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    // 2^63: the first float past i64::MAX (which itself rounds up to it).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
                    // Exact: a float with no fraction inside the range is a whole i64.
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// A 400 for a value serde refused at `path` (`.` for the top level), naming the field:
/// serde names a missing or unknown field in its message, with its parent as the path.
fn field_error(path: &str, message: &str, what: &str) -> ApiError {
    // serde_json ends its messages with the position, which means nothing to a client that
    // sent the body as one line.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(text, _)| text);
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    let field = match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => String::new(),
        (path, Some(name)) if path != name && !path.ends_with(&format!(".{name}")) => {
            format!("{path}.{name}")
        }
        (path, _) => path.to_owned(),
    };
    if field.is_empty() {
        ApiError::BadRequest(format!("{what}: {message}"))
    } else {
        ApiError::BadFields(ValidationErrors::single(field, message))
    }
}

/// The fields of a PATCH body that may be `null` (it clears them); every other field must be
/// left out to keep its value.
pub trait Nullable {
    /// JSON names of the fields `null` clears.
    const NULLABLE: &'static [&'static str];
}

/// A PATCH body: a JSON object whose fields are the changes. `null` on a field that cannot be
/// cleared is a 422 naming it (serde would read it as "absent" and change nothing while
/// answering 200).
pub struct Patch<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Nullable> FromRequest<S> for Patch<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonBody(value) = JsonBody::<serde_json::Value>::from_request(req, state).await?;
        Patch::parse(&value)
    }
}

impl<T: DeserializeOwned + Nullable> Patch<T> {
    /// A patch from a JSON body already read (a keyed one, through [`IdempotentBody`]): types
    /// and unknown fields first (400), then nulls where a field may not be cleared (422).
    pub fn parse(value: &serde_json::Value) -> Result<Self, ApiError> {
        let body: T = serde_path_to_error::deserialize(value).map_err(|e| {
            field_error(
                &e.path().to_string(),
                &e.inner().to_string(),
                "invalid body",
            )
        })?;
        let nulls: Vec<FieldError> = value
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, v)| v.is_null() && !T::NULLABLE.contains(&name.as_str()))
            .map(|(name, _)| {
                FieldError::new(
                    name.as_str(),
                    "must not be null: leave it out to keep the current value",
                )
            })
            .collect();
        if !nulls.is_empty() {
            return Err(ValidationErrors(nulls).into());
        }
        Ok(Patch(body))
    }
}

/// Query-string parameters.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        // As in bodies (storage refuses NUL in text), never let one reach a query.
        if let Some((name, _)) =
            form_urlencoded::parse(query.as_bytes()).find(|(_, value)| value.contains('\0'))
        {
            return Err(ApiError::bad_field(
                name,
                "must not contain NUL (U+0000) characters",
            ));
        }
        let params = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(params)
            .map(Query)
            .map_err(|e| {
                field_error(
                    &e.path().to_string(),
                    &e.inner().to_string(),
                    "invalid query parameter",
                )
            })
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

/// Dates in bodies as the OpenAPI document's `format: date` has them: RFC 3339 full-dates
/// (`2024-01-05`) only. chrono alone also takes `2024-1-5`, which the document calls invalid;
/// a client must not depend on that. Use with `#[serde(default, deserialize_with = ...)]`.
pub mod full_date {
    use chrono::NaiveDate;
    use serde::{de::Error, Deserialize, Deserializer};

    fn parse(s: &str) -> Result<NaiveDate, String> {
        let b = s.as_bytes();
        let shaped = b.len() == 10
            && b.iter().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            });
        shaped
            .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .flatten()
            .ok_or_else(|| format!("must be a date as YYYY-MM-DD, not {s:?}"))
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        parse(&String::deserialize(d)?).map_err(D::Error::custom)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| parse(&s).map_err(D::Error::custom))
            .transpose()
    }

    /// For a PATCH field that `null` clears (see [`super::double_option`]).
    pub fn nullable<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<NaiveDate>>, D::Error> {
        optional(d).map(Some)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn only_full_dates() {
            assert!(super::parse("2024-01-05").is_ok());
            for bad in [
                "2024-1-5",
                "+2024-01-05",
                "2024-01-05T00:00:00Z",
                "2024-02-30",
                "",
                "２０２４-01-05",
            ] {
                assert!(super::parse(bad).is_err(), "{bad}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Amount {
        amount: i64,
    }

    fn amount(json: &str) -> Option<i64> {
        parse_json::<Amount>(json.as_bytes()).ok().map(|a| a.amount)
    }

    /// JSON Schema's integers: a zero fraction is an integer, exactly, up to i64's range.
    #[test]
    fn numbers_with_a_zero_fraction_are_integers() {
        assert_eq!(amount(r#"{"amount": 6022.0}"#), Some(6022));
        assert_eq!(amount(r#"{"amount": -553318.0}"#), Some(-553_318));
        assert_eq!(amount(r#"{"amount": 1e3}"#), Some(1000));
        assert_eq!(amount(r#"{"amount": -0.0}"#), Some(0));
        // Past 2^52 floats are sparse: read exactly, not one unit off (serde_json's
        // float_roundtrip; schemathesis sent this one).
        assert_eq!(
            amount(r#"{"amount": 3905414655406246.0}"#),
            Some(3_905_414_655_406_246)
        );
        assert_eq!(amount(r#"{"amount": 6022.5}"#), None);
        assert_eq!(amount(r#"{"amount": 9.3e18}"#), None);
        assert_eq!(amount(r#"{"amount": 1e400}"#), None);
    }
}
