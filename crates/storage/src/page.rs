//! Keyset pagination: a list resumes *after* the last row it returned, so pages stay fast and
//! stable however deep a client reads. The HTTP layer turns [`After`] into an opaque cursor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where the next page starts: the last row's sort key and id (ties are broken by id).
/// The id is a bare UUID, not a typed id: one cursor type serves every kind of row, and a
/// cursor is only ever compared with the id column of the list that issued it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "t", content = "v")]
pub enum After {
    Text(String, Uuid),
    Int(i64, Uuid),
    Time(DateTime<Utc>, Uuid),
    Date(chrono::NaiveDate, Uuid),
    /// The workshop queue: priority rank, then age.
    RankTime(i16, DateTime<Utc>, Uuid),
    /// Relevance-ranked search has no stable key; it pages by position instead.
    Offset(i64),
}

/// The kind of position a sort order resumes from; a cursor of another kind is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PositionKind {
    Text,
    Int,
    Time,
    Date,
    RankTime,
    Offset,
}

impl After {
    pub fn kind(&self) -> PositionKind {
        match self {
            After::Text(..) => PositionKind::Text,
            After::Int(..) => PositionKind::Int,
            After::Time(..) => PositionKind::Time,
            After::Date(..) => PositionKind::Date,
            After::RankTime(..) => PositionKind::RankTime,
            After::Offset(..) => PositionKind::Offset,
        }
    }
}

/// One page of a list and where the next one starts (`None` on the last page).
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<After>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows: the extra row only proves there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> After) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(key)
        } else {
            None
        };
        Page { items: rows, next }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// The direction of a keyset: ascending pages continue with `>`, descending with `<`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        }
    }

    pub(crate) fn cmp(self) -> &'static str {
        match self {
            Direction::Asc => ">",
            Direction::Desc => "<",
        }
    }
}

/// Appends `AND (column, id) >|< (key, id)` for a resumed page, binding the values.
pub(crate) fn push_keyset(
    qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>,
    column: &str,
    id_column: &str,
    dir: Direction,
    after: &After,
) {
    let cmp = dir.cmp();
    qb.push(format_args!(" AND ({column}, {id_column}) {cmp} ("));
    match after.clone() {
        After::Text(k, id) => qb.push_bind(k).push(", ").push_bind(id),
        After::Int(k, id) => qb.push_bind(k).push(", ").push_bind(id),
        After::Time(k, id) => qb.push_bind(k).push(", ").push_bind(id),
        After::Date(k, id) => qb.push_bind(k).push(", ").push_bind(id),
        After::RankTime(rank, time, id) => qb
            .push_bind(rank)
            .push(", ")
            .push_bind(time)
            .push(", ")
            .push_bind(id),
        // Offsets are applied by the caller; an impossible keyset matches nothing.
        After::Offset(_) => qb.push("NULL, NULL"),
    };
    qb.push(")");
}
