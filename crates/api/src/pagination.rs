//! Cursor pagination as the contract defines it: `?limit=20&cursor=…` answered with
//! `{"items": [...], "nextCursor": "…" | null}`.
//!
//! A cursor is opaque and tamper-evident: `<payload>.<tag>`, both URL-safe base64, where the
//! payload says where the next page starts and in which sort order, and the tag is an
//! HMAC-SHA256 (truncated to 128 bits) over the list's name and the payload under the
//! service's cursor key ([`CursorKey`]). So a cursor is accepted only by the list and sort
//! order that made it, and a forged or altered one is refused (400) before anything of it is
//! read; its position is still checked against the sort's kind and the accepted ranges.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use storage::{After, Page, PositionKind};

use crate::error::ApiError;

/// The HMAC key cursors are signed with (and idempotent requests digested with, under their
/// own label). Every instance of a deployment must hold the same
/// one (a cursor from one instance goes to the next, and cached pages carry cursors): it comes
/// from `IMS_CURSOR_KEY`, else from the database the instances share
/// ([`storage::service_keys`]). Never printed.
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl CursorKey {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key of at least [`Self::MIN_LEN`] bytes.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= Self::MIN_LEN).then_some(Self(bytes))
    }

    /// A random key: for one process alone (tests, tools), never for a deployment.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut bytes = vec![0u8; Self::MIN_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The digest of an idempotent request (its method, path and body), kept with its key so
    /// that a retry is recognised. Keyed, under its own label, because bodies may carry
    /// passwords and the digest is stored for 24 hours: a plain hash of a body whose other
    /// fields are known could be brute-forced back to the password.
    pub(crate) fn request_digest(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = self.mac("idempotency", &[]);
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }

    fn mac(&self, list: &str, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(list.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([redacted])")
    }
}

/// The bytes of a tag kept in a cursor: 128 bits are far beyond guessing.
const TAG_LEN: usize = 16;

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
    kind: PositionKind,
}

impl Sort {
    pub const NAME: Sort = Sort {
        tag: "name",
        kind: PositionKind::Text,
    };
    pub const CODE: Sort = Sort {
        tag: "code",
        kind: PositionKind::Text,
    };
    pub const CREATED: Sort = Sort {
        tag: "created",
        kind: PositionKind::Time,
    };
    pub const QUANTITY: Sort = Sort {
        tag: "quantity",
        kind: PositionKind::Int,
    };
    pub const MOVEMENT: Sort = Sort {
        tag: "movement",
        kind: PositionKind::Int,
    };
    pub const TEST_DATE: Sort = Sort {
        tag: "test",
        kind: PositionKind::Date,
    };
    pub const QUEUE: Sort = Sort {
        tag: "queue",
        kind: PositionKind::RankTime,
    };
    pub const PRICE: Sort = Sort {
        tag: "price",
        kind: PositionKind::Int,
    };
    pub const PRICE_DESC: Sort = Sort {
        tag: "-price",
        kind: PositionKind::Int,
    };
    pub const SALES_DESC: Sort = Sort {
        tag: "-sales",
        kind: PositionKind::Int,
    };
    pub const RELEVANCE: Sort = Sort {
        tag: "relevance",
        kind: PositionKind::Offset,
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

/// One list in one sort order, with the key its cursors are signed with: checks `limit` and
/// reads `cursor` of a request, and makes the `nextCursor` of the answer.
#[derive(Debug, Clone, Copy)]
pub struct Pager<'a> {
    key: &'a CursorKey,
    /// The list's name (e.g. `orders`): a cursor is accepted only by the list that made it.
    list: &'static str,
    sort: Sort,
}

impl<'a> Pager<'a> {
    pub fn new(key: &'a CursorKey, list: &'static str, sort: Sort) -> Self {
        Self { key, list, sort }
    }

    /// Checks `limit` (1..=100, default 20) and decodes `cursor`.
    pub fn request(
        &self,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<(i64, Option<After>), ApiError> {
        let limit = check_limit(limit)?;
        let after = cursor.map(|c| self.decode(c)).transpose()?;
        Ok((limit, after))
    }

    /// A page of results with the cursor of the page after it.
    pub fn list<R, T>(&self, page: Page<R>, view: impl FnMut(R) -> T) -> List<T> {
        let next_cursor = page.next.map(|a| self.encode(a));
        List {
            items: page.items.into_iter().map(view).collect(),
            next_cursor,
        }
    }

    fn encode(&self, after: After) -> String {
        let data = CursorData {
            s: self.sort.tag.to_owned(),
            a: after,
        };
        let payload = serde_json::to_vec(&data).unwrap_or_default();
        let tag = self.key.mac(self.list, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN])
        )
    }

    fn decode(&self, cursor: &str) -> Result<After, ApiError> {
        let bad = || {
            ApiError::bad_field(
                "cursor",
                "is not a cursor of this list: pass the nextCursor of the previous page unchanged",
            )
        };
        // Nothing of the payload is read before its tag is verified.
        let (payload, tag) = cursor.split_once('.').ok_or_else(bad)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        self.key
            .mac(self.list, &payload)
            .verify_truncated_left(&tag)
            .ok()
            .filter(|()| tag.len() == TAG_LEN)
            .ok_or_else(bad)?;
        let data: CursorData = serde_json::from_slice(&payload).map_err(|_| bad())?;
        if data.s != self.sort.tag {
            return Err(ApiError::bad_field(
                "cursor",
                "belongs to another sort order: start again without cursor",
            ));
        }
        // Signed by us, but checked all the same: a position SQL cannot take is never sent.
        if data.a.kind() != self.sort.kind || !in_range(&data.a) {
            return Err(bad());
        }
        Ok(data.a)
    }
}

/// Checks `limit`: 1..=100, default 20.
pub fn check_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}, got {limit}"),
        ));
    }
    Ok(limit)
}

/// A position whose values SQL can take: dates and times in [`domain::dates`]' range (outside
/// it PostgreSQL fails the query), offsets within what a client can page through.
fn in_range(after: &After) -> bool {
    match after {
        After::Time(t, _) | After::RankTime(_, t, _) => domain::dates::time(*t).is_ok(),
        After::Date(d, _) => domain::dates::date(*d).is_ok(),
        After::Offset(n) => (0..=1_000_000).contains(n),
        After::Text(..) | After::Int(..) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pager<'a>(key: &'a CursorKey, list: &'static str, sort: Sort) -> Pager<'a> {
        Pager::new(key, list, sort)
    }

    fn cursor_of(p: Pager<'_>, after: After) -> String {
        p.encode(after)
    }

    #[test]
    fn cursor_round_trip_and_sort_binding() {
        let key = CursorKey::random();
        let after = After::Int(42, uuid::Uuid::nil());
        let price = pager(&key, "products", Sort::PRICE);
        let c = cursor_of(price, after.clone());
        assert_eq!(
            price.request(Some(5), Some(&c)).ok(),
            Some((5, Some(after)))
        );
        assert!(pager(&key, "products", Sort::PRICE_DESC)
            .request(None, Some(&c))
            .is_err());
        assert!(price.request(None, Some("garbage!")).is_err());
        assert!(price.request(Some(0), None).is_err());
        assert!(price.request(Some(101), None).is_err());
        assert_eq!(
            pager(&key, "stores", Sort::NAME).request(None, None).ok(),
            Some((20, None))
        );
    }

    #[test]
    fn a_cursor_is_bound_to_its_list_and_key() {
        let key = CursorKey::random();
        let after = After::Text("Asha".into(), uuid::Uuid::nil());
        let c = cursor_of(pager(&key, "products", Sort::NAME), after);
        assert!(pager(&key, "customers", Sort::NAME)
            .request(None, Some(&c))
            .is_err());
        let other = CursorKey::random();
        assert!(pager(&other, "products", Sort::NAME)
            .request(None, Some(&c))
            .is_err());
        // One changed character of the payload or the tag is refused.
        for at in [0, c.len() - 1] {
            let mut bytes = c.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).expect("ascii");
            assert!(pager(&key, "products", Sort::NAME)
                .request(None, Some(&altered))
                .is_err());
        }
    }

    #[test]
    fn request_digests_are_keyed() {
        let (key, other) = (CursorKey::random(), CursorKey::random());
        let parts: [&[u8]; 3] = [b"POST", b"/api/v1/users", br#"{"password":"x"}"#];
        assert_eq!(key.request_digest(&parts), key.request_digest(&parts));
        assert_ne!(key.request_digest(&parts), other.request_digest(&parts));
        // Where one part ends and the next starts is part of what is digested.
        let shifted: [&[u8]; 3] = [b"POST/", b"api/v1/users", br#"{"password":"x"}"#];
        assert_ne!(key.request_digest(&parts), key.request_digest(&shifted));
    }

    #[test]
    fn a_position_of_the_wrong_kind_or_out_of_range_is_refused_even_signed() {
        let key = CursorKey::random();
        let created = pager(&key, "orders", Sort::CREATED);
        let forged = cursor_of(created, After::Text("x".into(), uuid::Uuid::nil()));
        assert!(created.request(None, Some(&forged)).is_err());
        let relevance = pager(&key, "products", Sort::RELEVANCE);
        let negative = cursor_of(relevance, After::Offset(-5));
        assert!(relevance.request(None, Some(&negative)).is_err());
        let ancient: chrono::DateTime<chrono::Utc> = "-5000-01-01T00:00:00Z".parse().expect("time");
        let ancient = cursor_of(created, After::Time(ancient, uuid::Uuid::nil()));
        assert!(created.request(None, Some(&ancient)).is_err());
        let tests = pager(&key, "prescriptions", Sort::TEST_DATE);
        let far = cursor_of(
            tests,
            After::Date(chrono::NaiveDate::MAX, uuid::Uuid::nil()),
        );
        assert!(tests.request(None, Some(&far)).is_err());
    }
}
