//! Cached bodies answered as they were stored. A hit on a product used to be decoded into its
//! view, given the newest stock figures and encoded again: about a quarter of the service's
//! instructions on a cached, authenticated read (docs/benchmarks.md, "instructions per cached
//! read"). A [`RawJson`] is only scanned (serde_json's `RawValue`), and as the views that
//! carry figures write them first ([`FiguresFirst`]), the newest figures replace the first
//! bytes of the stored JSON.
//!
//! The splice is written here because no JSON library edits a document in place: it relies
//! on the figures being the first members and plain scalars, which the views' tests hold.

use std::marker::PhantomData;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use cache::{Outcome, Tally};
use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::cached::{Cached, X_CACHE};
use crate::error::{ApiError, ApiResult};
use crate::pagination::List;

/// A view whose first JSON members are its stock figures (booleans and integers), laid over
/// a cached body at each read.
pub trait FiguresFirst: Serialize + DeserializeOwned {
    /// The figures as the view writes them first, in the same order and names.
    type Figures: Serialize;

    /// The figures `tally` gives, or `None` when the view cannot show them (then the body is
    /// decoded and [`FiguresFirst::apply_tally`] decides).
    fn figures(tally: &Tally) -> Option<Self::Figures>;

    /// Lays `tally` over a decoded view: the path for a body stored in an older shape.
    fn apply_tally(&mut self, tally: &Tally);
}

/// A view's JSON as the cache holds it: checked to be JSON when read from Redis, not decoded.
pub struct RawJson<V> {
    json: String,
    view: PhantomData<fn() -> V>,
}

impl<V: Serialize> RawJson<V> {
    /// The JSON of `view` (a miss, loaded from the database).
    pub fn of(view: &V) -> ApiResult<Self> {
        serde_json::to_string(view)
            .map(Self::from_json)
            .map_err(|e| ApiError::Internal(e.into()))
    }
}

impl<V> RawJson<V> {
    fn from_json(json: String) -> Self {
        Self {
            json,
            view: PhantomData,
        }
    }

    pub fn get(&self) -> &str {
        &self.json
    }

    /// The answer: the JSON as it is, and how the cache served it. (Through
    /// `Cached<RawJson<_>>` and `Json` it would be checked once more on the way out.)
    pub fn answer(self, outcome: Outcome) -> Response {
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (X_CACHE, HeaderValue::from_static(outcome.as_str())),
            ],
            self.json,
        )
            .into_response()
    }
}

impl<V: FiguresFirst> RawJson<V> {
    /// Gives the body `tally`'s figures: its first members rewritten, or, for a body stored
    /// before its view wrote its figures first (or figures it cannot show), decoded, given
    /// them and encoded again (which also puts its figures first).
    pub fn apply_tally(&mut self, tally: &Tally) {
        let spliced = V::figures(tally)
            .and_then(|figures| serde_json::to_string(&figures).ok())
            .and_then(|figures| splice(&self.json, &figures));
        if let Some(json) = spliced {
            self.json = json;
            return;
        }
        if let Ok(mut view) = serde_json::from_str::<V>(&self.json) {
            view.apply_tally(tally);
            if let Ok(json) = serde_json::to_string(&view) {
                self.json = json;
            }
        }
    }
}

/// A page of cached bodies ([`RawJson`]), answered as the same `List<V>` would be encoded,
/// without decoding any body. A page of 20 products decoded and encoded again cost about 20
/// times what one product's read does (docs/benchmarks.md, "eleventh session").
pub struct RawList<V> {
    pub items: Vec<RawJson<V>>,
    pub next_cursor: Option<String>,
}

impl<V: Serialize> RawList<V> {
    /// The page `list` (a miss, loaded from the database), each item encoded once.
    pub fn of(list: &List<V>) -> ApiResult<Self> {
        Ok(Self {
            items: list
                .items
                .iter()
                .map(RawJson::of)
                .collect::<ApiResult<_>>()?,
            next_cursor: list.next_cursor.clone(),
        })
    }
}

impl<V> RawList<V> {
    /// The JSON of the page: `List`'s members (`items`, `nextCursor`) around the bodies as
    /// they are.
    pub fn json(&self) -> String {
        let bodies: usize = self.items.iter().map(|item| item.get().len() + 1).sum();
        let mut out = String::with_capacity(bodies + 64);
        out.push_str("{\"items\":[");
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(item.get());
        }
        out.push_str("],\"nextCursor\":");
        // `null` or a string: encoding an `Option<String>` cannot fail.
        out.push_str(&serde_json::to_string(&self.next_cursor).unwrap_or_default());
        out.push('}');
        out
    }

    /// The answer, as [`RawJson::answer`].
    pub fn answer(self, outcome: Outcome) -> Response {
        RawJson::<List<V>>::from_json(self.json()).answer(outcome)
    }
}

impl<V> IntoResponse for Cached<RawList<V>> {
    fn into_response(self) -> Response {
        self.0.answer(self.1)
    }
}

/// Written into the cache on a miss, where checking it again costs little.
impl<V> Serialize for RawJson<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawValue::from_string(self.json.clone())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de, V> Deserialize<'de> for RawJson<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self::from_json(Box::<str>::from(raw).into_string()))
    }
}

/// `body` (a JSON object) with its first members replaced by those of `figures` (an object of
/// scalar members, e.g. `{"inStock":true,"quantity":5}`), or `None` unless `body` begins with
/// members of the same names in the same order whose values are plain scalars.
pub fn splice(body: &str, figures: &str) -> Option<String> {
    let inner = figures.strip_prefix('{')?.strip_suffix('}')?;
    let mut rest = body.strip_prefix('{')?;
    for member in inner.split(',') {
        // `"name":` of the new member; the old one must have the same.
        let name = &member[..=member.find("\":")? + 1];
        rest = rest.strip_prefix(name)?;
        let end = rest.find(',')?;
        let value = &rest[..end];
        let scalar = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !scalar {
            return None;
        }
        rest = &rest[end + 1..];
    }
    let mut out = String::with_capacity(figures.len() + rest.len() + 1);
    out.push('{');
    out.push_str(inner);
    out.push(',');
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{splice, RawList};
    use crate::pagination::List;

    /// A page answered from raw bodies is byte for byte what encoding the `List` gives.
    #[test]
    fn a_raw_page_is_the_list_it_stands_for() {
        #[derive(serde::Serialize)]
        struct Item {
            n: i64,
            name: &'static str,
        }
        let items = || {
            vec![
                Item {
                    n: 1,
                    name: "a \"quoted\", name",
                },
                Item { n: -2, name: "é" },
            ]
        };
        for (items, next_cursor) in [
            (items(), Some("bmFtZQ\"x".to_owned())),
            (items(), None),
            (Vec::new(), None),
        ] {
            let list = List { items, next_cursor };
            let raw = RawList::of(&list).expect("encodes");
            assert_eq!(raw.json(), serde_json::to_string(&list).expect("encodes"));
        }
    }

    #[test]
    fn the_first_members_are_replaced() {
        let body = r#"{"inStock":false,"quantity":0,"salesCount":12,"name":"a,b","n":1}"#;
        let figures = r#"{"inStock":true,"quantity":-3,"salesCount":100}"#;
        assert_eq!(
            splice(body, figures).as_deref(),
            Some(r#"{"inStock":true,"quantity":-3,"salesCount":100,"name":"a,b","n":1}"#)
        );
    }

    #[test]
    fn a_body_of_another_shape_is_left_alone() {
        let figures = r#"{"inStock":true,"quantity":1}"#;
        for body in [
            // Figures not first (the shape before they moved).
            r#"{"id":"x","quantity":0,"inStock":false}"#,
            // Other names, or in another order.
            r#"{"quantity":0,"inStock":false,"id":"x"}"#,
            r#"{"inStock":false,"qty":0,"id":"x"}"#,
            // Not scalars, or nothing after them.
            r#"{"inStock":"no,","quantity":0,"id":"x"}"#,
            r#"{"inStock":false,"quantity":{},"id":"x"}"#,
            r#"{"inStock":false,"quantity":0}"#,
            "[]",
            "",
        ] {
            assert_eq!(splice(body, figures), None, "{body}");
        }
    }
}
