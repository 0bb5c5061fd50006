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

/// One key's upsert of [`begin_attempts`], its parameters starting at `$n`. A lock lasts
/// `lock_for` times 2 to the power of the locks before it (at most 16 times): `locks` counts
/// them, and forgets them a day after the last lock ended. An expired `locked_until` is kept
/// (it says when the last lock ended) and is ignored everywhere else.
fn count_attempt(n: usize) -> String {
    let (key, window, max, lock) = (n, n + 1, n + 2, n + 3);
    let fresh =
        format!("t.window_started < now() - ${window} AND coalesce(t.locked_until <= now(), true)");
    let locks_now = format!("t.window_started >= now() - ${window} AND t.failures + 1 > ${max}");
    let earlier = "CASE WHEN t.locked_until < now() - interval '1 day' THEN 0 ELSE t.locks END";
    format!(
        "INSERT INTO login_throttle AS t (key, failures, window_started) VALUES (${key}, 1, now())
         ON CONFLICT (key) DO UPDATE SET
            failures = CASE WHEN {fresh} THEN 1 ELSE t.failures + 1 END,
            window_started = CASE WHEN {fresh} THEN now() ELSE t.window_started END,
            locked_until = CASE
                WHEN t.locked_until > now() THEN t.locked_until
                WHEN {locks_now} THEN now() + ${lock} * power(2, least({earlier}, 4))
                ELSE t.locked_until END,
            locks = CASE
                WHEN t.locked_until > now() THEN t.locks
                WHEN {locks_now} THEN {earlier} + 1
                ELSE {earlier} END
         RETURNING CASE WHEN locked_until > now() THEN locked_until END AS until"
    )
}

/// Counts one login attempt against the account's key and the address's key *before* the
/// password is checked, in one atomic statement, and returns the time until which either is
/// locked, if one is locked now. Counting first is what makes the limit hold under
/// concurrency: twelve simultaneous guesses get counts 1..=12 and only the first
/// `max_failures` are let through to the password check. A successful login takes its
/// attempt back ([`crate::sessions::start_session`]), and so does one
/// that never reached the check ([`forgive`]).
pub async fn begin_attempts(
    pool: &PgPool,
    (account, account_policy): (&str, ThrottlePolicy),
    (address, address_policy): (&str, ThrottlePolicy),
) -> Result<Option<DateTime<Utc>>> {
    let sql = format!(
        "WITH account AS ({}), address AS ({})
         SELECT greatest((SELECT until FROM account), (SELECT until FROM address))",
        count_attempt(1),
        count_attempt(5)
    );
    let locked_until: Option<DateTime<Utc>> = sqlx::query_scalar(&sql)
        .bind(account)
        .bind(account_policy.window)
        .bind(account_policy.max_failures)
        .bind(account_policy.lock_for)
        .bind(address)
        .bind(address_policy.window)
        .bind(address_policy.max_failures)
        .bind(address_policy.lock_for)
        .fetch_one(pool)
        .await?;
    Ok(locked_until)
}

/// Takes back one attempt of each key: an attempt that never reached the password check (the
/// request failed or was abandoned first) is no failure.
pub async fn forgive(pool: &PgPool, keys: &[String]) -> Result<()> {
    sqlx::query(
        "UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = ANY($1)",
    )
    .bind(keys)
    .execute(pool)
    .await?;
    Ok(())
}

/// What a correct password does to the throttle: the account's failures are forgotten and the
/// address's attempt is taken back. A CTE of [`crate::sessions::start_session`].
pub(crate) const SUCCEEDED: &str = "cleared AS (DELETE FROM login_throttle WHERE key = $1),
    forgiven AS (UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = $2)";
