//! Domain names (statuses, kinds, priorities, roles) from PostgreSQL text, in one place.
//!
//! A record's name column is declared `#[sqlx(try_from = "String")]`: sqlx reads the text and
//! the domain's `TryFrom<String>` parses it, so a name no CHECK constraint knows fails the read
//! instead of travelling on as a string. The wrappers here do the same for the two columns that
//! are not one name: an array of roles and a nullable status. Writes bind `as_str()`.

use domain::user::Role;
use domain::workshop::JobStatus;
use domain::UnknownName;

use crate::Error;

/// A `text[]` column of names, read as text before it is parsed.
#[derive(sqlx::Type)]
#[sqlx(transparent, no_pg_array)]
pub struct NameList(Vec<String>);

impl TryFrom<NameList> for Vec<Role> {
    type Error = UnknownName;

    fn try_from(names: NameList) -> Result<Self, UnknownName> {
        names.0.into_iter().map(Role::try_from).collect()
    }
}

/// A nullable text column holding a name, read as text before it is parsed.
#[derive(sqlx::Type)]
#[sqlx(transparent, no_pg_array)]
pub struct MaybeName(Option<String>);

impl TryFrom<MaybeName> for Option<JobStatus> {
    type Error = UnknownName;

    fn try_from(name: MaybeName) -> Result<Self, UnknownName> {
        name.0.map(JobStatus::try_from).transpose()
    }
}

/// A name read outside a record (`query_scalar`, a tuple) that is not in its set: the row is
/// corrupt, which is the database's failure, not the client's.
impl From<UnknownName> for Error {
    fn from(err: UnknownName) -> Self {
        Error::Database(sqlx::Error::Decode(Box::new(err)))
    }
}
