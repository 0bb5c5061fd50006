//! Lists page by page: [`walk`] follows `nextCursor` to the end checking the paging contract,
//! [`forged_cursors`] makes cursors the service never issued.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use testkit::{send, TestApp};

use super::ops::items;

/// Reads a list page by page (`limit` per page) as `token`, following `nextCursor` to the
/// end, and returns every item in the order served. Checks on the way that every page but
/// the last is full, that no page after the first is empty and that nothing is served twice.
pub async fn walk(app: &TestApp, token: &str, path: &str, limit: usize) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for page_number in 1..=200 {
        let limit_text = limit.to_string();
        let mut params = vec![("limit", limit_text.as_str())];
        if let Some(c) = &cursor {
            params.push(("cursor", c.as_str()));
        }
        // `query` appends to a query string already in `path`.
        let (status, body) = send(app.request(Method::GET, path, Some(token)).query(&params)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "page {page_number} of {path}: {body}"
        );
        let page = items(&body).clone();
        assert!(
            page.len() <= limit,
            "page {page_number} of {path} over the limit"
        );
        assert!(
            !page.is_empty() || (page_number == 1 && body["nextCursor"].is_null()),
            "page {page_number} of {path} is empty: {body}"
        );
        for item in &page {
            let key = match &item["id"] {
                Value::Null => item.to_string(),
                id => id.to_string(),
            };
            assert!(seen.insert(key.clone()), "{key} served twice by {path}");
        }
        all.extend(page.iter().cloned());
        match &body["nextCursor"] {
            Value::Null => return all,
            Value::String(next) => {
                assert_eq!(page.len(), limit, "a page before the last is not full");
                cursor = Some(next.clone());
            }
            other => panic!("nextCursor must be a string or null, got {other}"),
        }
    }
    panic!("{path} did not end within 200 pages");
}

/// URL-safe base64 without padding, to forge cursors the service never issued.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Cursors that decode but do not describe a position in a list sorted by `sort`, whose key
/// is of the kind `key` (`text`, `int` or `time`): positions of the other kinds. Each comes
/// with the JSON it encodes, for messages.
pub fn forged_cursors(sort: &str, key: &str) -> Vec<(String, String)> {
    assert_eq!(base64url(br#"{"s":"created"}"#), "eyJzIjoiY3JlYXRlZCJ9");
    let nil = uuid::Uuid::nil();
    [
        ("text", serde_json::json!(["x", nil])),
        ("int", serde_json::json!([5, nil])),
        ("time", serde_json::json!(["2020-01-01T00:00:00Z", nil])),
        ("offset", serde_json::json!(5)),
    ]
    .into_iter()
    .filter(|(kind, _)| *kind != key)
    .map(|(kind, v)| {
        let cursor = serde_json::json!({ "s": sort, "a": { "t": kind, "v": v } }).to_string();
        let encoded = base64url(cursor.as_bytes());
        (cursor, encoded)
    })
    .collect()
}
