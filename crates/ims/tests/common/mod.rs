//! Helpers shared by more than one test binary.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use testkit::TestApp;

/// Reads a list endpoint page by page with `limit` as the admin, following `nextCursor` until
/// it is null, and returns every item in the order served. Checks the paging contract on the
/// way: every page but the last is full, no page is empty (unless the whole list is), the last
/// page's `nextCursor` is null and no item (by `id`) is served twice.
pub async fn walk_pages(app: &TestApp, path: &str, limit: usize) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items: Vec<Value> = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for page_number in 1..=100 {
        let url = match &cursor {
            Some(c) => format!("{path}{separator}limit={limit}&cursor={c}"),
            None => format!("{path}{separator}limit={limit}"),
        };
        let (status, body) = app.call(Method::GET, &url, None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "page {page_number} of {path}: {body}"
        );
        let page = body["items"].as_array().expect("items is an array").clone();
        assert!(
            page.len() <= limit,
            "page {page_number} of {path} has {} items, limit {limit}",
            page.len()
        );
        assert!(
            !page.is_empty() || (page_number == 1 && body["nextCursor"].is_null()),
            "page {page_number} of {path} is empty: {body}"
        );
        for item in &page {
            let id = item["id"].as_str().expect("item has an id").to_owned();
            assert!(seen.insert(id.clone()), "{id} served twice by {path}");
        }
        items.extend(page.iter().cloned());
        match &body["nextCursor"] {
            Value::Null => return items,
            Value::String(next) => {
                assert_eq!(
                    page.len(),
                    limit,
                    "page {page_number} of {path} is not full but has a nextCursor"
                );
                cursor = Some(next.clone());
            }
            other => panic!("nextCursor must be a string or null, got {other}"),
        }
    }
    panic!("{path} did not end within 100 pages");
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
