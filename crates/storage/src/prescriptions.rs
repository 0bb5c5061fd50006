//! Prescriptions. Every read writes an audit row (who, when, which) in the same transaction
//! as the read, so no prescription is ever seen without a trace.

use chrono::{DateTime, NaiveDate, Utc};
use domain::ids::{CustomerId, PrescriptionId, UserId};
use domain::prescription::{Eye, PrescriptionStatus};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use crate::idempotency::{self, Done, IdempotencyKey};
use crate::page::{push_keyset, Direction};
use crate::{After, Page, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PrescriptionRecord {
    pub id: PrescriptionId,
    pub customer_id: CustomerId,
    pub patient_id: CustomerId,
    pub test_date: NaiveDate,
    pub expires_at: NaiveDate,
    pub right_eye: Json<Eye>,
    pub left_eye: Json<Eye>,
    pub notes: String,
    #[sqlx(try_from = "String")]
    pub status: PrescriptionStatus,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewPrescription {
    pub customer_id: CustomerId,
    pub patient_id: CustomerId,
    pub test_date: NaiveDate,
    pub expires_at: NaiveDate,
    pub right_eye: Eye,
    pub left_eye: Eye,
    pub notes: String,
    pub created_by: UserId,
}

/// The status as of today: an active prescription past its expiry reads as expired.
const COLUMNS: &str = "id, customer_id, patient_id, test_date, expires_at, right_eye, left_eye, notes, \
    CASE WHEN status = 'active' AND expires_at < current_date THEN 'expired' ELSE status END AS status, \
    created_by, created_at, updated_at";

/// Records a new test. The patient's earlier active prescriptions become `superseded` (and a
/// test older than one on file is recorded as superseded itself).
/// With `key`, a retry of the same request returns the first response (`render`ed in the
/// insert's transaction) instead of recording the test twice.
pub async fn insert_prescription(
    pool: &PgPool,
    p: &NewPrescription,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&PrescriptionRecord) -> idempotency::Rendered,
) -> Result<Done<PrescriptionRecord>> {
    crate::monitoring::timed("prescriptions.insert", async move {
        let mut attempt = idempotency::begin_or_replay!(pool, key);
        let tx = attempt.conn();
        let id = PrescriptionId::generate();
        sqlx::query(
            "UPDATE prescriptions SET status = 'superseded'
             WHERE patient_id = $1 AND status = 'active' AND test_date <= $2",
        )
        .bind(p.patient_id)
        .bind(p.test_date)
        .execute(&mut *tx)
        .await?;
        let record: PrescriptionRecord = sqlx::query_as(&format!(
            "INSERT INTO prescriptions (id, customer_id, patient_id, test_date, expires_at, right_eye,
                left_eye, notes, created_by, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                -- An older test entered late is born superseded by the newer one already on file.
                CASE WHEN EXISTS (SELECT 1 FROM prescriptions WHERE patient_id = $3
                                  AND status = 'active' AND test_date > $4)
                     THEN 'superseded' ELSE 'active' END)
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(p.customer_id)
        .bind(p.patient_id)
        .bind(p.test_date)
        .bind(p.expires_at)
        .bind(Json(&p.right_eye))
        .bind(Json(&p.left_eye))
        .bind(&p.notes)
        .bind(p.created_by)
        .fetch_one(&mut *tx)
        .await?;
        audit(tx, p.created_by, "prescription.create", &[id]).await?;
        attempt.finish(|| render(&record)).await?;
        Ok(Done::New(record))
    })
    .await
}

/// One prescription, audited as read by `reader`.
pub async fn read_prescription(
    pool: &PgPool,
    id: PrescriptionId,
    reader: UserId,
) -> Result<PrescriptionRecord> {
    crate::monitoring::timed("prescriptions.read", async move {
        let mut tx = pool.begin().await?;
        let record: PrescriptionRecord = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM prescriptions WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        audit(&mut tx, reader, "prescription.read", &[id]).await?;
        tx.commit().await?;
        Ok(record)
    })
    .await
}

#[derive(Debug, Default)]
pub struct PrescriptionFilter {
    pub patient_id: Option<CustomerId>,
    pub customer_id: Option<CustomerId>,
    pub status: Option<PrescriptionStatus>,
}

/// Newest test first; every prescription returned is audited as read by `reader`.
pub async fn list_prescriptions(
    pool: &PgPool,
    filter: &PrescriptionFilter,
    limit: i64,
    after: Option<&After>,
    reader: UserId,
) -> Result<Page<PrescriptionRecord>> {
    crate::monitoring::timed("prescriptions.list", async move {
        let mut qb = list_prescriptions_query("", filter, limit, after);
        let mut tx = pool.begin().await?;
        let rows: Vec<PrescriptionRecord> = qb.build_query_as().fetch_all(&mut *tx).await?;
        let page = Page::from_rows(rows, limit, |p| After::Date(p.test_date, p.id.uuid()));
        let ids: Vec<PrescriptionId> = page.items.iter().map(|p| p.id).collect();
        audit(&mut tx, reader, "prescription.read", &ids).await?;
        tx.commit().await?;
        Ok(page)
    })
    .await
}

/// The SQL of a prescription list (after `prefix`, which `ims explain` sets).
pub fn list_prescriptions_query<'a>(
    prefix: &str,
    filter: &PrescriptionFilter,
    limit: i64,
    after: Option<&After>,
) -> QueryBuilder<'a, sqlx::Postgres> {
    let mut qb = QueryBuilder::new(format!(
        "{prefix}SELECT {COLUMNS} FROM prescriptions WHERE true"
    ));
    if let Some(patient) = filter.patient_id {
        qb.push(" AND patient_id = ").push_bind(patient);
    }
    if let Some(customer) = filter.customer_id {
        qb.push(" AND customer_id = ").push_bind(customer);
    }
    match filter.status {
        Some(PrescriptionStatus::Active) => {
            qb.push(" AND status = 'active' AND expires_at >= current_date");
        }
        Some(PrescriptionStatus::Expired) => {
            qb.push(
                " AND (status = 'expired' OR (status = 'active' AND expires_at < current_date))",
            );
        }
        Some(PrescriptionStatus::Superseded) => {
            qb.push(" AND status = 'superseded'");
        }
        None => {}
    }
    if let Some(after) = after {
        push_keyset(&mut qb, "test_date", "id", Direction::Desc, after);
    }
    qb.push(" ORDER BY test_date DESC, id DESC LIMIT ")
        .push_bind(limit + 1);
    qb
}

/// Appends one audit row per entity.
pub(crate) async fn audit(
    tx: &mut PgConnection,
    actor: UserId,
    action: &str,
    ids: &[PrescriptionId],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO audit_log (actor_id, action, entity_type, entity_id)
         SELECT $1, $2, 'prescription', unnest($3::uuid[])",
    )
    .bind(actor)
    .bind(action)
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<UserId>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Uuid,
}

/// The audit trail of one prescription, newest first.
pub async fn audit_trail(pool: &PgPool, id: PrescriptionId) -> Result<Vec<AuditRecord>> {
    Ok(sqlx::query_as(
        "SELECT id, occurred_at, actor_id, action, entity_type, entity_id FROM audit_log
         WHERE entity_type = 'prescription' AND entity_id = $1 ORDER BY occurred_at DESC, id DESC",
    )
    .bind(id)
    .fetch_all(pool)
    .await?)
}
