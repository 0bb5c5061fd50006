//! Bearer tokens. Only SHA-256 digests are stored; the token itself exists only in the client.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// Who a valid token belongs to, as every authenticated request needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Principal {
    pub user_id: Uuid,
    pub username: String,
    pub roles: Vec<String>,
    pub store_ids: Vec<Uuid>,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_session(
    pool: &PgPool,
    token_hash: &[u8],
    user_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(user_id)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok(())
}

/// The principal behind a token that is unexpired, unrevoked and whose user is active.
/// Reads the primary: a logout or suspension must stop the token on the very next request.
#[tracing::instrument(skip_all)]
pub async fn principal_for_token(pool: &PgPool, token_hash: &[u8]) -> Result<Option<Principal>> {
    Ok(sqlx::query_as(
        "SELECT u.id AS user_id, u.username, u.roles, u.store_ids, s.expires_at
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
           AND u.status = 'active'",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?)
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
