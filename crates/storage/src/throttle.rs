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

/// Counts one login attempt against `key` *before* the password is checked, in one atomic
/// statement, and returns the time the key is locked until if it is locked now. Counting first
/// is what makes the limit hold under concurrency: twelve simultaneous guesses get counts
/// 1..=12 and only the first `max_failures` are let through to the password check. A
/// successful login takes its attempt back ([`forgive`] / [`clear`]).
pub async fn begin_attempt(
    pool: &PgPool,
    key: &str,
    policy: ThrottlePolicy,
) -> Result<Option<DateTime<Utc>>> {
    let locked_until: Option<DateTime<Utc>> = sqlx::query_scalar(
        "INSERT INTO login_throttle AS t (key, failures, window_started) VALUES ($1, 1, now())
         ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN t.window_started < now() - $2
                             AND coalesce(t.locked_until <= now(), true) THEN 1
                            ELSE t.failures + 1 END,
            window_started = CASE WHEN t.window_started < now() - $2
                                   AND coalesce(t.locked_until <= now(), true) THEN now()
                                  ELSE t.window_started END,
            locked_until = CASE
                WHEN t.locked_until > now() THEN t.locked_until
                WHEN t.window_started >= now() - $2 AND t.failures + 1 > $3 THEN now() + $4
                ELSE NULL END
         RETURNING CASE WHEN locked_until > now() THEN locked_until END",
    )
    .bind(key)
    .bind(policy.window)
    .bind(policy.max_failures)
    .bind(policy.lock_for)
    .fetch_one(pool)
    .await?;
    Ok(locked_until)
}

/// A successful login forgives the account's earlier failures.
pub async fn clear(pool: &PgPool, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Takes back one attempt (a successful login from an address is not a failure).
pub async fn forgive(pool: &PgPool, key: &str) -> Result<()> {
    sqlx::query("UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = $1")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}
