//! Product categories (frames, lenses, contact lenses, ...).

use chrono::{DateTime, Utc};
use domain::catalog::CategoryStatus;
use domain::ids::CategoryId;
use sqlx::PgPool;

use crate::idempotency::{self, Done, IdempotencyKey};
use crate::page::{push_keyset, Direction};
use crate::{After, Page, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRecord {
    pub id: CategoryId,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<CategoryId>,
    #[sqlx(try_from = "String")]
    pub status: CategoryStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewCategory {
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<CategoryId>,
    pub status: CategoryStatus,
}

/// `description` and `parent_id` are doubly optional: `Some(None)` clears the value.
#[derive(Default)]
pub struct CategoryChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub parent_id: Option<Option<CategoryId>>,
    pub status: Option<CategoryStatus>,
}

const COLUMNS: &str = "id, name, description, parent_id, status, created_at, updated_at";

/// With `key`, a retry of the same request returns the first response (`render`ed in the
/// insert's transaction) instead of a second record or a 409.
pub async fn insert_category(
    pool: &PgPool,
    category: &NewCategory,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&CategoryRecord) -> idempotency::Rendered,
) -> Result<Done<CategoryRecord>> {
    let mut attempt = idempotency::begin_or_replay!(pool, key);
    let sql = format!(
        "INSERT INTO categories (id, name, description, parent_id, status)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    let record: CategoryRecord = sqlx::query_as(&sql)
        .bind(CategoryId::generate())
        .bind(&category.name)
        .bind(&category.description)
        .bind(category.parent_id)
        .bind(category.status.as_str())
        .fetch_one(attempt.conn())
        .await?;
    attempt.finish(|| render(&record)).await?;
    Ok(Done::New(record))
}

pub async fn category_by_id(pool: &PgPool, id: CategoryId) -> Result<CategoryRecord> {
    let sql = format!("SELECT {COLUMNS} FROM categories WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_one(pool).await?)
}

/// `GET /categories`: by name, of one status (active unless asked).
pub async fn list_categories(
    pool: &PgPool,
    status: CategoryStatus,
    limit: i64,
    after: Option<&After>,
) -> Result<Page<CategoryRecord>> {
    let mut qb =
        sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM categories WHERE status = "));
    qb.push_bind(status.as_str());
    if let Some(after) = after {
        push_keyset(&mut qb, "name", "id", Direction::Asc, after);
    }
    qb.push(" ORDER BY name, id LIMIT ").push_bind(limit + 1);
    let rows: Vec<CategoryRecord> = qb.build_query_as().fetch_all(pool).await?;
    Ok(Page::from_rows(rows, limit, |c| {
        After::Text(c.name.clone(), c.id.uuid())
    }))
}

pub async fn update_category(
    pool: &PgPool,
    id: CategoryId,
    changes: &CategoryChanges,
) -> Result<CategoryRecord> {
    let sql = format!(
        "UPDATE categories SET name = coalesce($2, name),
            description = CASE WHEN $3 THEN $4 ELSE description END,
            parent_id = CASE WHEN $5 THEN $6 ELSE parent_id END,
            status = coalesce($7, status)
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(id)
        .bind(&changes.name)
        .bind(changes.description.is_some())
        .bind(changes.description.clone().flatten())
        .bind(changes.parent_id.is_some())
        .bind(changes.parent_id.flatten())
        .bind(changes.status.map(CategoryStatus::as_str))
        .fetch_one(pool)
        .await?)
}

/// Would making `parent` the parent of `id` close a loop (`parent` is `id` or below it)?
pub async fn would_cycle(pool: &PgPool, id: CategoryId, parent: CategoryId) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "WITH RECURSIVE up(id, parent_id) AS (
             SELECT id, parent_id FROM categories WHERE id = $2
             UNION SELECT c.id, c.parent_id FROM categories c JOIN up ON c.id = up.parent_id)
         SELECT EXISTS (SELECT 1 FROM up WHERE id = $1)",
    )
    .bind(id)
    .bind(parent)
    .fetch_one(pool)
    .await?)
}
