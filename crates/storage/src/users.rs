//! Staff accounts.

use chrono::{DateTime, Utc};
use domain::ids::{StoreId, UserId};
use domain::user::{Email, Role, UserStatus, Username};
use sqlx::PgPool;

use crate::idempotency::{self, Done, IdempotencyKey};
use crate::page::{push_keyset, Direction};
use crate::{After, Page, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    pub id: UserId,
    pub email: String,
    pub username: String,
    #[sqlx(try_from = "crate::names::NameList")]
    pub roles: Vec<Role>,
    pub store_ids: Vec<StoreId>,
    #[sqlx(try_from = "String")]
    pub status: UserStatus,
    pub last_login_at: Option<DateTime<Utc>>,
    pub sessions_valid_after: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What login needs: the account and its password hash (never leaves storage otherwise).
#[derive(Debug, sqlx::FromRow)]
pub struct LoginRecord {
    #[sqlx(flatten)]
    pub user: UserRecord,
    pub password_hash: String,
}

pub struct NewUser {
    pub email: Email,
    pub username: Username,
    pub password_hash: String,
    pub roles: Vec<Role>,
    pub store_ids: Vec<StoreId>,
    pub status: UserStatus,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChanges {
    pub status: Option<UserStatus>,
    pub roles: Option<Vec<Role>>,
    pub store_ids: Option<Vec<StoreId>>,
    pub password_hash: Option<String>,
}

const COLUMNS: &str = "id, email, username, roles, store_ids, status, last_login_at, \
    sessions_valid_after, created_at, updated_at";

fn role_names(roles: &[Role]) -> Vec<String> {
    roles.iter().map(|r| r.as_str().to_owned()).collect()
}

#[tracing::instrument(skip_all)]
/// With `key`, a retry of the same request returns the first response (`render`ed in the
/// insert's transaction) instead of a second record or a 409.
pub async fn insert_user(
    pool: &PgPool,
    user: &NewUser,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&UserRecord) -> idempotency::Rendered,
) -> Result<Done<UserRecord>> {
    let mut attempt = idempotency::begin_or_replay!(pool, key);
    let sql = format!(
        "INSERT INTO users (id, email, username, password_hash, roles, store_ids, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    );
    let record: UserRecord = sqlx::query_as(&sql)
        .bind(UserId::generate())
        .bind(user.email.as_str())
        .bind(user.username.as_str())
        .bind(&user.password_hash)
        .bind(role_names(&user.roles))
        .bind(&user.store_ids)
        .bind(user.status.as_str())
        .fetch_one(attempt.conn())
        .await?;
    attempt.finish(|| render(&record)).await?;
    Ok(Done::New(record))
}

/// Creates an administrator, or resets the one with this username or email: its password,
/// roles and status. How an operator gets (or recovers) the first account.
pub async fn upsert_admin(
    pool: &PgPool,
    email: &Email,
    username: &Username,
    hash: &str,
) -> Result<UserRecord> {
    let mut tx = pool.begin().await?;
    let existing: Option<UserId> = sqlx::query_scalar(
        "SELECT id FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($2)
         ORDER BY lower(username) = lower($1) DESC LIMIT 1",
    )
    .bind(username.as_str())
    .bind(email.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let sql = match existing {
        Some(_) => format!(
            "UPDATE users SET email = $2, username = $3, password_hash = $4,
                roles = ARRAY['admin'], status = 'active' WHERE id = $1 RETURNING {COLUMNS}"
        ),
        None => format!(
            "INSERT INTO users (id, email, username, password_hash, roles)
             VALUES ($1, $2, $3, $4, ARRAY['admin']) RETURNING {COLUMNS}"
        ),
    };
    let user: UserRecord = sqlx::query_as(&sql)
        .bind(existing.unwrap_or_else(UserId::generate))
        .bind(email.as_str())
        .bind(username.as_str())
        .bind(hash)
        .fetch_one(&mut *tx)
        .await?;
    // A reset password must not leave old tokens working.
    let user = revoke_all_sessions(&mut tx, user.id).await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn user_by_id(pool: &PgPool, id: UserId) -> Result<UserRecord> {
    crate::monitoring::timed("users.by_id", async move {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        Ok(sqlx::query_as(&sql).bind(id).fetch_one(pool).await?)
    })
    .await
}

/// The tail of the login lookup; public so `ims explain` (crate `seed`) plans this very text.
pub const LOGIN: &str =
    "FROM users WHERE lower(email) = lower($1) OR lower(username) = lower($1) LIMIT 1";

/// Finds the account a login names, by email or username, ignoring case.
#[tracing::instrument(skip_all)]
pub async fn user_for_login(pool: &PgPool, login: &str) -> Result<Option<LoginRecord>> {
    crate::monitoring::timed("users.for_login", async move {
        let sql = format!("SELECT {COLUMNS}, password_hash {LOGIN}");
        Ok(sqlx::query_as(&sql)
            .bind(login)
            .fetch_optional(pool)
            .await?)
    })
    .await
}

pub struct UserFilter {
    pub status: Option<UserStatus>,
    pub role: Option<Role>,
    pub limit: i64,
    pub after: Option<After>,
}

/// `GET /users`: newest first, by status and role.
pub async fn list_users(pool: &PgPool, filter: &UserFilter) -> Result<Page<UserRecord>> {
    let mut qb = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM users WHERE true"));
    if let Some(status) = filter.status {
        qb.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(role) = filter.role {
        qb.push(" AND roles @> ARRAY[")
            .push_bind(role.as_str())
            .push("]");
    }
    if let Some(after) = &filter.after {
        push_keyset(&mut qb, "created_at", "id", Direction::Desc, after);
    }
    qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(filter.limit + 1);
    let rows: Vec<UserRecord> = qb.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, filter.limit, |u| {
        After::Time(u.created_at, u.id.uuid())
    }))
}

/// Applies `changes` in one transaction. Suspending an account or changing its password
/// revokes its tokens at once.
pub async fn update_user(pool: &PgPool, id: UserId, changes: &UserChanges) -> Result<UserRecord> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "UPDATE users SET status = coalesce($2, status), roles = coalesce($3, roles),
            store_ids = coalesce($4, store_ids), password_hash = coalesce($5, password_hash)
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let user: UserRecord = sqlx::query_as(&sql)
        .bind(id)
        .bind(changes.status.map(UserStatus::as_str))
        .bind(changes.roles.as_deref().map(role_names))
        .bind(&changes.store_ids)
        .bind(&changes.password_hash)
        .fetch_one(&mut *tx)
        .await?;
    let user = if changes.status == Some(UserStatus::Suspended) || changes.password_hash.is_some() {
        revoke_all_sessions(&mut tx, id).await?
    } else {
        user
    };
    tx.commit().await?;
    Ok(user)
}

/// Voids every session of a user: revoked in the table, and older than the user's
/// `sessions_valid_after`, which is what a cached session is checked against.
async fn revoke_all_sessions(tx: &mut sqlx::PgConnection, id: UserId) -> Result<UserRecord> {
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let sql =
        format!("UPDATE users SET sessions_valid_after = now() WHERE id = $1 RETURNING {COLUMNS}");
    Ok(sqlx::query_as(&sql).bind(id).fetch_one(&mut *tx).await?)
}

/// Do all these stores exist? (Assigning a user to a store that does not is a 422.)
pub async fn missing_stores(pool: &PgPool, ids: &[StoreId]) -> Result<Vec<StoreId>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM unnest($1::uuid[]) AS wanted(id)
         WHERE NOT EXISTS (SELECT 1 FROM stores s WHERE s.id = wanted.id)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?)
}
