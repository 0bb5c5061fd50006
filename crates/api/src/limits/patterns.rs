//! The patterns, lengths and ranges of the fields, each built from the bounds the domain
//! checks (see `limits`).

use serde_json::{json, Value};

/// Unicode White_Space: what `str::trim` removes.
pub(super) const WS: &str =
    r"[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// Neither whitespace nor a control character.
pub(super) const SOLID: &str =
    r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// Any character but a control character other than tab and newline (`domain::text`).
pub(super) const TEXT: &str = r"[^\x00-\x08\x0B-\x1F\x7F-\x9F]";
/// Neither whitespace nor NUL: the first and last character of a name to search for.
pub(super) const NAME_END: &str =
    r"[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// Any character but NUL, which PostgreSQL cannot store (and a query string may not carry).
pub(crate) const NO_NUL: &str = r"^[^\x00]*$";

/// `inner` with the whitespace the server trims around it.
pub(super) fn trimmed(inner: &str) -> String {
    format!("^{WS}*{inner}{WS}*$")
}

/// `domain::text::bounded(raw, min, max)` for `min` 0 or 1: after trimming, `min` to `max`
/// characters, no control character but tab and newline.
pub(super) fn text_pattern(min: usize, max: usize) -> String {
    assert!(min <= 1 && max >= 2, "text_pattern({min}, {max})");
    let one_or_more = format!("{SOLID}(?:{TEXT}{{0,{}}}{SOLID})?", max - 2);
    if min == 0 {
        trimmed(&format!("(?:{one_or_more})?"))
    } else {
        trimmed(&one_or_more)
    }
}

pub(super) fn text(min: usize, max: usize, what: &str) -> Value {
    json!({
        "type": "string",
        "pattern": text_pattern(min, max),
        "description": format!("{what}: {min} to {max} characters after trimming surrounding \
            whitespace, no control characters but tab and newline"),
    })
}

/// `domain::Sku`.
pub(super) fn sku() -> Value {
    json!({
        "type": "string",
        "pattern": trimmed("[A-Z0-9][A-Z0-9-]{2,31}"),
        "description": "[A-Z0-9][A-Z0-9-]{2,31} (surrounding whitespace is trimmed); unique",
    })
}

/// `domain::StoreCode`: upper-cased by the server.
pub(super) fn store_code() -> Value {
    json!({
        "type": "string",
        "pattern": trimmed("[A-Za-z0-9-]{2,16}"),
        "description": "2 to 16 letters, digits or '-' (stored upper case; surrounding \
            whitespace is trimmed); unique",
    })
}

/// `domain::Phone`: an optional `+`, then 7 to 15 digits among spaces, dots, dashes and
/// brackets.
pub(super) fn phone_pattern() -> String {
    trimmed(r"\+?[ .()-]*(?:[0-9][ .()-]*){7,15}")
}

pub(super) fn phone() -> Value {
    json!({
        "type": "string",
        "pattern": phone_pattern(),
        "description": "7 to 15 digits, optionally with a leading +, spaces, dots, dashes or \
            brackets (stored as + and digits)",
    })
}

/// `domain::user::Email`: after trimming, 3 to 254 characters, `local@domain` with a local
/// part of 1 to 64 characters and a domain of dot-separated labels, no whitespace or control
/// characters.
pub(super) fn email() -> Value {
    let at = format!("{}@]", &SOLID[..SOLID.len() - 1]);
    let label = format!("{}@.]", &SOLID[..SOLID.len() - 1]);
    let inner = format!("(?={SOLID}{{3,254}}{WS}*$){at}{{1,64}}@{label}+(?:\\.{label}+)+");
    json!({
        "type": "string",
        "pattern": trimmed(&inner),
        "description": "An email address like name@example.com: at most 254 characters, \
            at most 64 before the @",
    })
}

/// `domain::user::Username`.
pub(super) fn username() -> Value {
    json!({
        "type": "string",
        "pattern": trimmed("[A-Za-z0-9._-]{3,32}"),
        "description": "3 to 32 letters, digits, '.', '_' or '-'; unique regardless of case",
    })
}

/// `domain::user::Password`: its length. Common passwords, runs, the account's own names and
/// passwords of fewer than 4 different characters are refused too (422), which no schema
/// keyword can say.
pub(super) fn password() -> Value {
    json!({
        "type": "string",
        "minLength": 10,
        "maxLength": 128,
        "description": "10 to 128 characters; not a common password (or one with a few digits \
            or symbols added), the username or email, a run like 1234567890, or fewer than 4 \
            different characters",
    })
}

/// A year from 1900 to 2200 (`domain::dates`).
pub(super) const YEAR: &str = r"(?:19|20|21)[0-9]{2}";
/// Leap years from 1900 to 2200 (1900, 2100 and 2200 are not; 2000 is).
pub(super) const LEAP: &str = r"(?:(?:19|20|21)(?:0[48]|[2468][048]|[13579][26])|2000)";

/// Dates from 1900-01-01 to 2200-12-31 (`domain::dates`), real calendar days only.
pub(super) fn date_pattern() -> String {
    let month_day = r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))";
    format!("^(?:(?:{YEAR}|2200)-{month_day}|{LEAP}-02-29)$")
}

pub(super) fn date(what: &str) -> Value {
    json!({
        "type": "string",
        "format": "date",
        "pattern": date_pattern(),
        "description": format!("YYYY-MM-DD, from 1900-01-01 to 2200-12-31{what}"),
    })
}

/// A time whose date, as written (before its offset), is from 1900-01-01 to 2200-12-31: its
/// year is 1900 to 2200 (the rest is `format: date-time`).
pub(super) fn date_time(what: &str) -> Value {
    json!({
        "type": "string",
        "format": "date-time",
        "pattern": format!("^(?:{YEAR}|2200)-"),
        "description": format!("{what} (RFC 3339; its date as written from 1900-01-01 to 2200-12-31)"),
    })
}

pub(super) fn integer(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// A value in `min..=max` in quarter steps (`domain::prescription::quarter_steps`).
pub(super) fn quarters(min: f64, max: f64) -> Value {
    json!({ "type": "number", "minimum": min, "maximum": max, "multipleOf": 0.25 })
}

/// Free-form product attributes (`handlers::products::attributes`): an object nested at most
/// 4 levels deep, names of 1 to 2,000 characters, strings of at most 2,000, no NUL; 16 KiB of
/// JSON in all, which no schema keyword can say.
pub(super) fn attributes() -> Value {
    let string = json!({ "type": "string", "maxLength": 2000, "pattern": NO_NUL });
    let names = json!({ "minLength": 1, "maxLength": 2000, "pattern": NO_NUL });
    let scalar = json!({ "anyOf": [string, { "type": ["number", "boolean", "null"] }] });
    // The top object is level 1; containers may sit down to level 4.
    let mut level = scalar.clone();
    for _ in 2..=4 {
        level = json!({ "anyOf": [
            scalar,
            { "type": "array", "items": level },
            { "type": "object", "additionalProperties": level, "propertyNames": names },
        ] });
    }
    json!({
        "type": "object",
        "additionalProperties": level,
        "propertyNames": names,
        "description": "Free-form attributes (frame size, material, lens index, ...): a JSON \
            object nested at most 4 levels deep, names and strings of at most 2,000 \
            characters without NUL, at most 16 KiB of JSON",
    })
}
