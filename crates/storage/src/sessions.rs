//! Bearer tokens. Only SHA-256 digests are stored; the token itself exists only in the client.

use chrono::{DateTime, Utc};
use domain::ids::UserId;
use sqlx::PgPool;

use crate::Result;

/// A login session as the cache keeps it: whose, since when, until when.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A successful login, in one statement: the throttle forgets the attempt
/// ([`crate::throttle::SUCCEEDED`]), the user's last login is stamped and the session (by the
/// token's digest) starts.
pub async fn start_session(
    pool: &PgPool,
    (account_key, address_key): (&str, &str),
    token_hash: &[u8],
    user_id: UserId,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let sql = format!(
        "WITH {}, stamped AS (UPDATE users SET last_login_at = now() WHERE id = $3)
         INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($4, $3, $5)",
        crate::throttle::SUCCEEDED
    );
    sqlx::query(&sql)
        .bind(account_key)
        .bind(address_key)
        .bind(user_id)
        .bind(token_hash)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// The session of a token that is unexpired and unrevoked. Whether its user may still use it
/// (active, not revoked wholesale since) is checked against the user's profile.
#[tracing::instrument(skip_all)]
pub async fn session_for_token(pool: &PgPool, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
    crate::monitoring::timed("sessions.for_token", async move {
        Ok(sqlx::query_as(
            "SELECT user_id, created_at, expires_at FROM sessions
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()",
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?)
    })
    .await
}

pub async fn revoke_session(pool: &PgPool, token_hash: &[u8]) -> Result<()> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes sessions that expired over a day ago; returns how many.
pub async fn purge_expired_sessions(pool: &PgPool) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
