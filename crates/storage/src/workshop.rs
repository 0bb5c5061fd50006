//! Workshop jobs: the lens-fitting queue, each status change kept with who, when and why.

use chrono::{DateTime, Utc};
use domain::ids::{JobId, OrderId, PrescriptionId, StoreId, UserId};
use domain::workshop::{JobPriority, JobStatus};
use sqlx::{PgPool, QueryBuilder};

use crate::idempotency::{self, Done, IdempotencyKey};
use crate::page::{push_keyset, Direction};
use crate::{After, Error, Page, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRecord {
    pub id: JobId,
    pub job_number: String,
    pub order_id: OrderId,
    pub store_id: StoreId,
    pub prescription_id: Option<PrescriptionId>,
    #[sqlx(try_from = "String")]
    pub priority: JobPriority,
    pub priority_rank: i16,
    #[sqlx(try_from = "String")]
    pub status: JobStatus,
    pub instructions: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobChange {
    #[sqlx(try_from = "crate::names::MaybeName")]
    pub from_status: Option<JobStatus>,
    #[sqlx(try_from = "String")]
    pub to_status: JobStatus,
    pub note: String,
    pub changed_by: Option<UserId>,
    pub changed_at: DateTime<Utc>,
}

pub struct NewJob {
    pub order_id: OrderId,
    pub prescription_id: Option<PrescriptionId>,
    pub priority: JobPriority,
    pub instructions: String,
    pub created_by: UserId,
}

const COLUMNS: &str =
    "id, job_number, order_id, store_id, prescription_id, priority, priority_rank, \
    status, instructions, created_by, created_at, updated_at, completed_at";

/// The store of an order, for scoping checks before a job is made for it.
pub async fn order_store(pool: &PgPool, order_id: OrderId) -> Result<Option<StoreId>> {
    let Some(created_at) = order_id.created_at() else {
        return Ok(None);
    };
    Ok(
        sqlx::query_scalar("SELECT store_id FROM orders WHERE id = $1 AND created_at = $2")
            .bind(order_id)
            .bind(created_at)
            .fetch_optional(pool)
            .await?,
    )
}

/// One move of a job: to which status, with what note, by whom.
pub struct JobMove<'a> {
    pub id: JobId,
    pub to: JobStatus,
    pub note: &'a str,
    pub actor: UserId,
}

/// Queues a job for an order (in the order's store), with its first history entry.
/// With `key`, a retry of the same request returns the first response (`render`ed in the
/// insert's transaction) instead of a second job.
pub async fn insert_job(
    pool: &PgPool,
    job: &NewJob,
    store_id: StoreId,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&(JobRecord, Vec<JobChange>)) -> idempotency::Rendered,
) -> Result<Done<(JobRecord, Vec<JobChange>)>> {
    let mut attempt = idempotency::begin_or_replay!(pool, key);
    let tx = attempt.conn();
    if let Some(prescription) = job.prescription_id {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM prescriptions WHERE id = $1)")
                .bind(prescription)
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            return Err(Error::rejected(
                "prescriptionId",
                "no prescription with this id",
            ));
        }
    }
    let id = JobId::generate();
    let now = Utc::now();
    let sequence: i64 = sqlx::query_scalar("SELECT nextval('job_number_seq')")
        .fetch_one(&mut *tx)
        .await?;
    let number = domain::workshop::job_number(chrono::Datelike::year(&now), sequence);
    let record: JobRecord = sqlx::query_as(&format!(
        "INSERT INTO workshop_jobs (id, job_number, order_id, store_id, prescription_id, priority,
            instructions, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&number)
    .bind(job.order_id)
    .bind(store_id)
    .bind(job.prescription_id)
    .bind(job.priority.as_str())
    .bind(&job.instructions)
    .bind(job.created_by)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    record_change(tx, id, None, JobStatus::Queued, "", job.created_by).await?;
    let history = history_in(tx, id).await?;
    let created = (record, history);
    attempt.finish(|| render(&created)).await?;
    Ok(Done::New(created))
}

async fn record_change(
    tx: &mut sqlx::PgConnection,
    job: JobId,
    from: Option<JobStatus>,
    to: JobStatus,
    note: &str,
    actor: UserId,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO workshop_job_history (job_id, from_status, to_status, note, changed_by)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(job)
    .bind(from.map(JobStatus::as_str))
    .bind(to.as_str())
    .bind(note)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn job_by_id(pool: &PgPool, id: JobId) -> Result<JobRecord> {
    crate::monitoring::timed("workshop.by_id", async move {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM workshop_jobs WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(pool)
        .await?)
    })
    .await
}

pub async fn job_by_number(pool: &PgPool, number: &str) -> Result<JobRecord> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workshop_jobs WHERE job_number = $1"
    ))
    .bind(number)
    .fetch_one(pool)
    .await?)
}

pub async fn jobs_of_order(pool: &PgPool, order_id: OrderId) -> Result<Vec<JobRecord>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workshop_jobs WHERE order_id = $1 ORDER BY created_at, id"
    ))
    .bind(order_id)
    .fetch_all(pool)
    .await?)
}

pub async fn job_history(pool: &PgPool, id: JobId) -> Result<Vec<JobChange>> {
    let mut conn = pool.acquire().await?;
    history_in(&mut conn, id).await
}

async fn history_in(conn: &mut sqlx::PgConnection, id: JobId) -> Result<Vec<JobChange>> {
    Ok(sqlx::query_as(
        "SELECT from_status, to_status, note, changed_by, changed_at FROM workshop_job_history
         WHERE job_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

#[derive(Debug, Default)]
pub struct JobFilter {
    /// `None` means the open queue: queued, in progress and in quality check.
    pub status: Option<JobStatus>,
    pub priority: Option<JobPriority>,
    /// Only these stores (staff who are not admins); `None` means every store.
    pub visible_stores: Option<Vec<StoreId>>,
}

/// The queue: most urgent first, then oldest.
#[tracing::instrument(skip_all)]
pub async fn list_jobs(
    pool: &PgPool,
    filter: &JobFilter,
    limit: i64,
    after: Option<&After>,
) -> Result<Page<JobRecord>> {
    crate::monitoring::timed("workshop.queue", async move {
        let mut qb = list_jobs_query("", filter, limit, after);
        let rows: Vec<JobRecord> = qb.build_query_as().fetch_all(pool).await?;
        Ok(Page::from_rows(rows, limit, |j| {
            After::RankTime(j.priority_rank, j.created_at, j.id.uuid())
        }))
    })
    .await
}

/// The SQL of the queue (after `prefix`, which `ims explain` sets).
pub fn list_jobs_query<'a>(
    prefix: &str,
    filter: &JobFilter,
    limit: i64,
    after: Option<&After>,
) -> QueryBuilder<'a, sqlx::Postgres> {
    let mut qb = QueryBuilder::new(format!(
        "{prefix}SELECT {COLUMNS} FROM workshop_jobs WHERE true"
    ));
    match filter.status {
        Some(status) => qb.push(" AND status = ").push_bind(status.as_str()),
        None => qb.push(" AND status IN ('queued', 'in_progress', 'quality_check')"),
    };
    if let Some(priority) = filter.priority {
        qb.push(" AND priority = ").push_bind(priority.as_str());
    }
    if let Some(stores) = &filter.visible_stores {
        qb.push(" AND store_id = ANY(")
            .push_bind(stores.clone())
            .push(")");
    }
    if let Some(after) = after {
        push_keyset(
            &mut qb,
            "priority_rank, created_at",
            "id",
            Direction::Asc,
            after,
        );
    }
    qb.push(" ORDER BY priority_rank, created_at, id LIMIT ")
        .push_bind(limit + 1);
    qb
}

/// Moves a job along its status machine and records who did it and why. With `key`, a retry
/// of the same request (the client's, or the failover middleware's after a lost primary) returns the
/// first response (`render`ed in the move's transaction) instead of a second move, which
/// would be refused as a move from the new status.
pub async fn change_job_status(
    pool: &PgPool,
    change: &JobMove<'_>,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&(JobRecord, Vec<JobChange>)) -> idempotency::Rendered,
) -> Result<Done<(JobRecord, Vec<JobChange>)>> {
    crate::monitoring::timed("workshop.change_status", async move {
        let mut attempt = idempotency::begin_or_replay!(pool, key);
        let tx = attempt.conn();
        let from: JobStatus = sqlx::query_scalar::<_, String>(
            "SELECT status FROM workshop_jobs WHERE id = $1 FOR UPDATE",
        )
        .bind(change.id)
        .fetch_one(&mut *tx)
        .await?
        .parse()?;
        from.transition(change.to).map_err(Error::InvalidState)?;
        let record: JobRecord = sqlx::query_as(&format!(
            "UPDATE workshop_jobs SET status = $2,
                completed_at = CASE WHEN $2 = 'completed' THEN now() ELSE completed_at END
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(change.id)
        .bind(change.to.as_str())
        .fetch_one(&mut *tx)
        .await?;
        record_change(
            tx,
            change.id,
            Some(from),
            change.to,
            change.note,
            change.actor,
        )
        .await?;
        let history = history_in(tx, change.id).await?;
        let moved = (record, history);
        attempt.finish(|| render(&moved)).await?;
        Ok(Done::New(moved))
    })
    .await
}
