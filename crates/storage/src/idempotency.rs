//! `Idempotency-Key`: the first response to a key is stored in the same transaction as the
//! effect it describes, so a retry either replays it or (if the first attempt rolled back)
//! runs again — never twice. A concurrent retry blocks on the key's row until the first
//! attempt commits or rolls back.

use domain::ids::UserId;
use sqlx::PgConnection;

use crate::Result;

/// A client's key with a digest of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub user_id: UserId,
    pub key: String,
    pub request_hash: Vec<u8>,
}

/// The response a key replays, as the HTTP layer rendered it: storage keeps it with the
/// effect it describes and hands it back on a retry, without knowing what its status means.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: serde_json::Value,
}

/// What a key says about this attempt.
#[derive(Debug)]
pub enum Claim {
    /// First use (or the earlier use expired): go ahead, then [`record`].
    Fresh,
    /// Already done: answer this again.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
    /// The key was used with a different request.
    Mismatch,
}

/// Keys are honoured for 24 hours.
const RETENTION: &str = "24 hours";

pub async fn claim(tx: &mut PgConnection, key: &IdempotencyKey) -> Result<Claim> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, key) DO NOTHING",
    )
    .bind(key.user_id)
    .bind(&key.key)
    .bind(&key.request_hash)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let (hash, status, body, expired): (Vec<u8>, Option<i16>, Option<serde_json::Value>, bool) =
        sqlx::query_as(&format!(
            "SELECT request_hash, response_status, response_body, created_at < now() - interval '{RETENTION}'
             FROM idempotency_keys WHERE user_id = $1 AND key = $2 FOR UPDATE"
        ))
        .bind(key.user_id)
        .bind(&key.key)
        .fetch_one(&mut *tx)
        .await?;
    if expired {
        sqlx::query(
            "UPDATE idempotency_keys SET request_hash = $3, response_status = NULL,
                response_body = NULL, created_at = now() WHERE user_id = $1 AND key = $2",
        )
        .bind(key.user_id)
        .bind(&key.key)
        .bind(&key.request_hash)
        .execute(&mut *tx)
        .await?;
        return Ok(Claim::Fresh);
    }
    match (hash == key.request_hash, status, body) {
        (true, Some(status), Some(body)) => Ok(Claim::Replay {
            status: stored_status(status)?,
            body,
        }),
        _ => Ok(Claim::Mismatch),
    }
}

/// A stored response status as an HTTP status. Only [`record`] writes it, so anything else
/// means the row was damaged: replaying it as some other status would answer the retry
/// with a response the first attempt never gave, so it is an error instead.
fn stored_status(status: i16) -> Result<u16> {
    u16::try_from(status)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .ok_or_else(|| {
            crate::Error::Database(sqlx::Error::Decode(
                format!("stored response status {status} is not an HTTP status").into(),
            ))
        })
}

/// Stores the response of a fresh claim, in the same transaction as its effect.
pub async fn record(
    tx: &mut PgConnection,
    key: &IdempotencyKey,
    status: u16,
    body: &serde_json::Value,
) -> Result<()> {
    let status = i16::try_from(status).map_err(|_| {
        crate::Error::Database(sqlx::Error::Encode(
            format!("response status {status} does not fit the stored column").into(),
        ))
    })?;
    sqlx::query(
        "UPDATE idempotency_keys SET response_status = $3, response_body = $4
         WHERE user_id = $1 AND key = $2",
    )
    .bind(key.user_id)
    .bind(&key.key)
    .bind(status)
    .bind(body)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Keys the service makes up for writes that came without one (so they can be retried across
/// a failover, api's `failover` module) start with this; clients may not use it.
pub const SERVICE_KEY_PREFIX: &str = "ims-retry-";

/// The service's own keys matter only while a request retries (seconds); they go after an hour.
const SERVICE_KEY_RETENTION: &str = "1 hour";

/// Deletes keys past retention; returns how many.
pub async fn purge_expired_keys(pool: &sqlx::PgPool) -> Result<u64> {
    let done = sqlx::query(&format!(
        "DELETE FROM idempotency_keys WHERE created_at < now() - interval '{RETENTION}'
            OR (starts_with(key, $1) AND created_at < now() - interval '{SERVICE_KEY_RETENTION}')"
    ))
    .bind(SERVICE_KEY_PREFIX)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// A response rendered for storage, or why it could not be (a view that does not
/// serialize): the write then fails rather than storing a body its replay would not match.
pub type Rendered = std::result::Result<Response, serde_json::Error>;

/// What an idempotent write did: its effect, or the first response to the same request.
#[derive(Debug)]
pub enum Done<T> {
    New(T),
    Replay {
        status: u16,
        body: serde_json::Value,
    },
}

/// Starts an idempotent write in a function returning `Result<Done<_>>`: binds the attempt,
/// or returns the replay.
macro_rules! begin_or_replay {
    ($pool:expr, $key:expr) => {
        match $crate::idempotency::begin($pool, $key).await? {
            $crate::idempotency::Begun::Fresh(attempt) => attempt,
            $crate::idempotency::Begun::Replay { status, body } => {
                return Ok($crate::idempotency::Done::Replay { status, body })
            }
        }
    };
}
pub(crate) use begin_or_replay;

/// How an idempotent write starts.
pub enum Begun {
    Fresh(Attempt),
    /// Done before for the same request: answer this again.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
}

/// A write under way: its transaction, holding the claim of its key (if any).
pub struct Attempt {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    key: Option<IdempotencyKey>,
}

/// Starts an idempotent write: a transaction that has claimed `key`, or the first response
/// when the key was used before for the same request. Without a key, a plain transaction.
pub async fn begin(pool: &sqlx::PgPool, key: Option<&IdempotencyKey>) -> Result<Begun> {
    let mut tx = pool.begin().await?;
    if let Some(key) = key {
        match claim(&mut tx, key).await? {
            Claim::Fresh => {}
            Claim::Replay { status, body } => return Ok(Begun::Replay { status, body }),
            Claim::Mismatch => {
                return Err(crate::Error::InvalidState(
                    "this Idempotency-Key was already used with a different request".into(),
                ))
            }
        }
    }
    Ok(Begun::Fresh(Attempt {
        tx,
        key: key.cloned(),
    }))
}

impl Attempt {
    /// The transaction the write's effect runs in.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Records the response under the key and commits effect and record together.
    pub async fn finish(mut self, response: impl FnOnce() -> Rendered) -> Result<()> {
        if let Some(key) = &self.key {
            let Response { status, body } =
                response().map_err(|e| crate::Error::Database(sqlx::Error::Encode(Box::new(e))))?;
            record(&mut self.tx, key, status, &body).await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_stored_status_is_an_error_not_a_200() {
        assert_eq!(stored_status(201).ok(), Some(201));
        assert_eq!(stored_status(599).ok(), Some(599));
        for damaged in [-1, 0, 99, 600, i16::MAX] {
            assert!(
                matches!(stored_status(damaged), Err(crate::Error::Database(_))),
                "{damaged}"
            );
        }
    }
}
