//! The one error type of the tool. Request failures during a run are not errors: they are
//! counted in the report (by status, or as a transport failure); these stop the tool.

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad option or mix file; the message names it.
    #[error("{0}")]
    Config(String),
    /// The service answered set-up calls (logins, list calls) badly or not at all.
    #[error("service: {0}")]
    Service(String),
    /// Nothing to send: the database or the API gave too few ids.
    #[error("sample: {0}")]
    Sample(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        Error::Service(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
