//! Cursor pagination as the contract defines it: `?limit=20&cursor=…` answered with
//! `{"items": [...], "nextCursor": "…" | null}`. A cursor is an opaque, URL-safe encoding of
//! where the next page starts and which sort order it belongs to, so a cursor reused with
//! another sort is refused instead of silently skipping rows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use storage::{After, Page};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// A page of results.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CursorData {
    /// The sort order the cursor belongs to.
    s: String,
    a: After,
}

/// Checks `limit` (1..=100, default 20) and decodes `cursor` for the sort order `sort`.
pub fn page_request(
    limit: Option<i64>,
    cursor: Option<&str>,
    sort: &str,
) -> Result<(i64, Option<After>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let after = cursor.map(|c| decode_cursor(c, sort)).transpose()?;
    Ok((limit, after))
}

fn decode_cursor(cursor: &str, sort: &str) -> Result<After, ApiError> {
    let bad = || {
        ApiError::BadRequest(
            "cursor is not valid: pass the nextCursor of the previous page unchanged".into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if data.s != sort {
        return Err(ApiError::BadRequest(
            "cursor belongs to another sort order: start again without cursor".into(),
        ));
    }
    Ok(data.a)
}

fn encode_cursor(after: After, sort: &str) -> String {
    let data = CursorData {
        s: sort.to_owned(),
        a: after,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).unwrap_or_default())
}

impl<T> List<T> {
    pub fn from_page<R>(page: Page<R>, sort: &str, view: impl FnMut(R) -> T) -> Self {
        let next_cursor = page.next.clone().map(|a| encode_cursor(a, sort));
        List {
            items: page.items.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_sort_binding() {
        let after = After::Int(42, uuid::Uuid::nil());
        let c = encode_cursor(after.clone(), "price");
        assert_eq!(
            page_request(Some(5), Some(&c), "price").ok(),
            Some((5, Some(after)))
        );
        assert!(page_request(None, Some(&c), "name").is_err());
        assert!(page_request(None, Some("garbage!"), "price").is_err());
        assert!(page_request(Some(0), None, "price").is_err());
        assert!(page_request(Some(101), None, "price").is_err());
        assert_eq!(page_request(None, None, "x").ok(), Some((20, None)));
    }
}
