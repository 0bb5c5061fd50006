//! The chain's stores.

use chrono::{DateTime, Utc};
use domain::catalog::{StoreCode, StoreStatus};
use domain::ids::StoreId;
use sqlx::PgPool;

use crate::idempotency::{self, Done, IdempotencyKey};
use crate::page::{push_keyset, Direction};
use crate::{After, Page, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoreRecord {
    pub id: StoreId,
    pub code: String,
    pub name: String,
    pub city: String,
    pub phone: String,
    #[sqlx(try_from = "String")]
    pub status: StoreStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewStore {
    pub code: StoreCode,
    pub name: String,
    pub city: String,
    pub phone: String,
}

#[derive(Default)]
pub struct StoreChanges {
    pub name: Option<String>,
    pub city: Option<String>,
    pub phone: Option<String>,
    pub status: Option<StoreStatus>,
}

const COLUMNS: &str = "id, code, name, city, phone, status, created_at, updated_at";

/// With `key`, a retry of the same request returns the first response (`render`ed in the
/// insert's transaction) instead of a second record or a 409.
pub async fn insert_store(
    pool: &PgPool,
    store: &NewStore,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&StoreRecord) -> idempotency::Rendered,
) -> Result<Done<StoreRecord>> {
    let mut attempt = idempotency::begin_or_replay!(pool, key);
    let sql = format!(
        "INSERT INTO stores (id, code, name, city, phone) VALUES ($1, $2, $3, $4, $5)
         RETURNING {COLUMNS}"
    );
    let record: StoreRecord = sqlx::query_as(&sql)
        .bind(StoreId::generate())
        .bind(store.code.as_str())
        .bind(&store.name)
        .bind(&store.city)
        .bind(&store.phone)
        .fetch_one(attempt.conn())
        .await?;
    attempt.finish(|| render(&record)).await?;
    Ok(Done::New(record))
}

pub async fn store_by_id(pool: &PgPool, id: StoreId) -> Result<StoreRecord> {
    let sql = format!("SELECT {COLUMNS} FROM stores WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_one(pool).await?)
}

/// `GET /stores`, by code.
pub async fn list_stores(
    pool: &PgPool,
    limit: i64,
    after: Option<&After>,
) -> Result<Page<StoreRecord>> {
    let mut qb = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM stores WHERE true"));
    if let Some(after) = after {
        push_keyset(&mut qb, "code", "id", Direction::Asc, after);
    }
    qb.push(" ORDER BY code, id LIMIT ").push_bind(limit + 1);
    let rows: Vec<StoreRecord> = qb.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |s| {
        After::Text(s.code.clone(), s.id.uuid())
    }))
}

pub async fn update_store(
    pool: &PgPool,
    id: StoreId,
    changes: &StoreChanges,
) -> Result<StoreRecord> {
    let sql = format!(
        "UPDATE stores SET name = coalesce($2, name), city = coalesce($3, city),
            phone = coalesce($4, phone), status = coalesce($5, status)
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(id)
        .bind(&changes.name)
        .bind(&changes.city)
        .bind(&changes.phone)
        .bind(changes.status.map(StoreStatus::as_str))
        .fetch_one(pool)
        .await?)
}
