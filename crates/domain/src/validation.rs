//! Collecting every invalid field of a request at once, so a client fixes them in one round.

use serde::Serialize;

/// One invalid field: `field` is the JSON path (`rightEye.axis`), `message` says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A request that was well formed but carried invalid values (HTTP 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fields: {}", .0.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", "))]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }
}

/// Parses several fields, each with its own `Result<T, String>`, and returns early with
/// *all* failures when any failed; otherwise binds each name to its parsed value.
///
/// ```
/// use domain::{validate, ValidationErrors};
/// fn parse(a: &str, b: &str) -> Result<(i32, i32), ValidationErrors> {
///     validate! {
///         x = "a" => a.parse::<i32>().map_err(|_| "must be a number".to_string()),
///         y = "b" => b.parse::<i32>().map_err(|_| "must be a number".to_string()),
///     }
///     Ok((x, y))
/// }
/// assert_eq!(parse("1", "2").unwrap(), (1, 2));
/// assert_eq!(parse("x", "y").unwrap_err().0.len(), 2);
/// ```
#[macro_export]
macro_rules! validate {
    ($( $name:ident = $field:expr => $parse:expr ),* $(,)?) => {
        let mut __errors: Vec<$crate::FieldError> = Vec::new();
        $(
            let $name = match $parse {
                Ok(value) => Some(value),
                Err(message) => {
                    __errors.push($crate::FieldError::new($field, message));
                    None
                }
            };
        )*
        $(
            // Only reached with every field parsed; the else arm keeps this panic-free.
            let Some($name) = $name else {
                return Err($crate::ValidationErrors(__errors).into());
            };
        )*
    };
}

/// Parses an optional field: `None` stays `None`, a present value must parse.
pub fn optional<T, U>(
    value: Option<T>,
    parse: impl FnOnce(T) -> Result<U, String>,
) -> Result<Option<U>, String> {
    value.map(parse).transpose()
}
