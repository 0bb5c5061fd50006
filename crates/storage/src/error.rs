//! The storage layer's one error type. Constraint names survive so the HTTP layer can say
//! exactly which value clashed ("sku already exists") without parsing messages.

use domain::ids::ProductId;
use sqlx::error::ErrorKind;

/// A line of an order or transfer that the store cannot cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortLine {
    /// The line's position in the request (0-based), for the error's field path.
    pub index: usize,
    pub product_id: ProductId,
    pub requested: i32,
    pub available: i32,
}

impl Error {
    pub(crate) fn rejected(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Rejected {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("row not found")]
    NotFound,
    /// A unique constraint refused the write; `constraint` is the index name, e.g. `products_sku_key`.
    #[error("unique constraint {constraint} violated")]
    Conflict { constraint: String },
    /// A referenced row does not exist; `constraint` is the foreign key's name.
    #[error("foreign key {constraint} violated")]
    MissingReference { constraint: String },
    /// Not enough stock for these lines; nothing was taken.
    #[error("insufficient stock")]
    InsufficientStock(Vec<ShortLine>),
    /// The row is not in a state that allows this change (the message says which are).
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// A value the client sent refers to something unusable (`field` is its JSON path).
    #[error("{field}: {message}")]
    Rejected { field: String, message: String },
    /// Text PostgreSQL cannot store (a NUL character, U+0000).
    #[error("text contains a NUL character")]
    InvalidText,
    /// The database could not be reached in time (pool exhausted, connection lost, shutting down).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl Error {
    /// Whether the database failed because the node itself went away or stopped being what the
    /// pool wanted (a crash, a failover, a demoted primary), rather than because it was busy:
    /// another node, or the same one after a failover, may well succeed.
    pub fn node_lost(&self) -> bool {
        match self {
            Error::Unavailable(err) => match err {
                sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
                sqlx::Error::Database(db) => lost_node_code(db.code().as_deref()),
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether PostgreSQL ended the transaction to break a lock cycle (40P01
    /// deadlock_detected) or a serialization conflict (40001): nothing of it was written, and
    /// the same transaction run again normally succeeds, as PostgreSQL's manual advises.
    pub fn is_retryable_conflict(&self) -> bool {
        match self {
            Error::Database(sqlx::Error::Database(db)) => {
                matches!(db.code().as_deref(), Some("40P01" | "40001"))
            }
            _ => false,
        }
    }
}

/// SQLSTATEs of a node going away: 57P01 admin_shutdown (a fast shutdown, or the "canceling
/// the wait for synchronous replication" of a primary being stopped), 57P02 crash_shutdown,
/// 57P03 cannot_connect_now (starting or promoting), class 08 (connection exceptions), and
/// 25006 read_only_sql_transaction (a write on a primary that has just been demoted).
fn lost_node_code(code: Option<&str>) -> bool {
    matches!(code, Some("57P01" | "57P02" | "57P03" | "25006"))
        || code.is_some_and(|c| c.starts_with("08"))
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Error::Unavailable(err)
            }
            sqlx::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or_default().to_owned();
                match db.kind() {
                    ErrorKind::UniqueViolation => Error::Conflict { constraint },
                    ErrorKind::ForeignKeyViolation => Error::MissingReference { constraint },
                    // 22021 character_not_in_repertoire (a NUL in text), 22P05
                    // untranslatable_character (a \u0000 in JSON): bad input, nothing stored.
                    _ if matches!(db.code().as_deref(), Some("22021" | "22P05")) => {
                        Error::InvalidText
                    }
                    // A node going away or changing role (see `node_lost`), or 57014
                    // query_canceled: the statement ran past IMS_DB_STATEMENT_TIMEOUT_MS (an
                    // overloaded server; nothing was changed, the transaction rolls back).
                    _ if lost_node_code(db.code().as_deref())
                        || db.code().as_deref() == Some("57014") =>
                    {
                        Error::Unavailable(err)
                    }
                    _ => Error::Database(err),
                }
            }
            _ => Error::Database(err),
        }
    }
}
