//! Cursor pagination as the contract defines it: `?limit=20&cursor=…` answered with
//! `{"items": [...], "nextCursor": "…" | null}`. A cursor is an opaque, URL-safe encoding of
//! where the next page starts and which sort order it belongs to, so a cursor reused with
//! another sort is refused instead of silently skipping rows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use storage::{After, Key, Page};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// A page of results.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A sort order a list can be paged in: its name inside cursors and the kind of position it
/// resumes from. A cursor is only accepted by the sort order that made it.
#[derive(Debug, Clone, Copy)]
pub struct Sort {
    tag: &'static str,
    key: Key,
}

impl Sort {
    pub const NAME: Sort = Sort {
        tag: "name",
        key: Key::Text,
    };
    pub const CODE: Sort = Sort {
        tag: "code",
        key: Key::Text,
    };
    pub const CREATED: Sort = Sort {
        tag: "created",
        key: Key::Time,
    };
    pub const QUANTITY: Sort = Sort {
        tag: "quantity",
        key: Key::Int,
    };
    pub const MOVEMENT: Sort = Sort {
        tag: "movement",
        key: Key::Int,
    };
    pub const TEST_DATE: Sort = Sort {
        tag: "test",
        key: Key::Date,
    };
    pub const QUEUE: Sort = Sort {
        tag: "queue",
        key: Key::RankTime,
    };
    pub const PRICE: Sort = Sort {
        tag: "price",
        key: Key::Int,
    };
    pub const PRICE_DESC: Sort = Sort {
        tag: "-price",
        key: Key::Int,
    };
    pub const SALES_DESC: Sort = Sort {
        tag: "-sales",
        key: Key::Int,
    };
    pub const RELEVANCE: Sort = Sort {
        tag: "relevance",
        key: Key::Offset,
    };
}

/// `?limit=&cursor=` for lists with no other parameters.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
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
    sort: Sort,
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

fn decode_cursor(cursor: &str, sort: Sort) -> Result<After, ApiError> {
    let bad = || {
        ApiError::BadRequest(
            "cursor is not valid: pass the nextCursor of the previous page unchanged".into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if data.s != sort.tag {
        return Err(ApiError::BadRequest(
            "cursor belongs to another sort order: start again without cursor".into(),
        ));
    }
    // A decoded cursor is client input: its position must be of the sort's kind (a tampered
    // one would otherwise reach SQL as a value of the wrong type).
    if data.a.key() != sort.key
        || matches!(data.a, After::Offset(n) if !(0..=1_000_000).contains(&n))
    {
        return Err(bad());
    }
    Ok(data.a)
}

fn encode_cursor(after: After, sort: Sort) -> String {
    let data = CursorData {
        s: sort.tag.to_owned(),
        a: after,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&data).unwrap_or_default())
}

impl<T> List<T> {
    pub fn from_page<R>(page: Page<R>, sort: Sort, view: impl FnMut(R) -> T) -> Self {
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
        let c = encode_cursor(after.clone(), Sort::PRICE);
        assert_eq!(
            page_request(Some(5), Some(&c), Sort::PRICE).ok(),
            Some((5, Some(after)))
        );
        assert!(page_request(None, Some(&c), Sort::PRICE_DESC).is_err());
        assert!(page_request(None, Some("garbage!"), Sort::PRICE).is_err());
        assert!(page_request(Some(0), None, Sort::PRICE).is_err());
        assert!(page_request(Some(101), None, Sort::PRICE).is_err());
        assert_eq!(page_request(None, None, Sort::NAME).ok(), Some((20, None)));
    }

    #[test]
    fn a_position_of_the_wrong_kind_is_refused() {
        let forged = encode_cursor(After::Text("x".into(), uuid::Uuid::nil()), Sort::CREATED);
        assert!(page_request(None, Some(&forged), Sort::CREATED).is_err());
        let negative = encode_cursor(After::Offset(-5), Sort::RELEVANCE);
        assert!(page_request(None, Some(&negative), Sort::RELEVANCE).is_err());
    }
}
