//! Failed-login throttling, shared by every instance of the service through the database.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::Result;

/// How many failures within `window` lock a key, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub max_failures: i32,
    pub window: chrono::Duration,
    pub lock_for: chrono::Duration,
}

/// The latest time any of `keys` is locked until, if one is locked now.
pub async fn locked_until(pool: &PgPool, keys: &[String]) -> Result<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT max(locked_until) FROM login_throttle WHERE key = ANY($1) AND locked_until > now()",
    )
    .bind(keys)
    .fetch_one(pool)
    .await?)
}

/// Counts one failure against `key` in one atomic statement (no read-modify-write race
/// between instances) and locks it when the window's count reaches the policy's maximum.
pub async fn record_failure(pool: &PgPool, key: &str, policy: ThrottlePolicy) -> Result<()> {
    sqlx::query(
        "INSERT INTO login_throttle AS t (key, failures, window_started) VALUES ($1, 1, now())
         ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN t.window_started < now() - $2 THEN 1 ELSE t.failures + 1 END,
            window_started = CASE WHEN t.window_started < now() - $2 THEN now() ELSE t.window_started END,
            locked_until = CASE
                WHEN t.window_started >= now() - $2 AND t.failures + 1 >= $3 THEN now() + $4
                ELSE t.locked_until END",
    )
    .bind(key)
    .bind(policy.window)
    .bind(policy.max_failures)
    .bind(policy.lock_for)
    .execute(pool)
    .await?;
    Ok(())
}

/// A successful login forgives the account's earlier failures.
pub async fn clear(pool: &PgPool, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}
