//! The manifest as the operator sees it: `ims archive list` and `ims archive verify`.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

use crate::restore::fetch_month;
use crate::store::Archive;
use crate::Error;

/// One month of the manifest.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Month {
    pub month: NaiveDate,
    pub state: String,
    pub orders: Option<i64>,
    pub orders_total: Option<i64>,
    /// Parquet bytes of all the month's objects.
    pub bytes: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
    pub restored_at: Option<DateTime<Utc>>,
}

/// Every month of the manifest, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Month>, Error> {
    Ok(sqlx::query_as(
        "SELECT m.month, m.state, m.orders, m.orders_total,
                (SELECT sum(bytes)::bigint FROM archived_objects o WHERE o.month = m.month) AS bytes,
                m.started_at, m.archived_at, m.restored_at
         FROM archived_months m ORDER BY m.month",
    )
    .fetch_all(pool)
    .await?)
}

/// How many months are archived now (the `ims_archived_months` gauge).
pub async fn archived_count(pool: &PgPool) -> Result<i64, Error> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM archived_months WHERE state = 'archived'")
            .fetch_one(pool)
            .await?,
    )
}

/// Reads every object of `month` (or of every archived month) back and checks its SHA-256,
/// row count and sum against the manifest, and that `archived_orders` names as many orders.
/// Returns the months checked.
pub async fn verify(
    pool: &PgPool,
    archive: &Archive,
    month: Option<NaiveDate>,
) -> Result<Vec<NaiveDate>, Error> {
    let months: Vec<NaiveDate> = match month {
        Some(m) => vec![m],
        None => {
            sqlx::query_scalar(
                "SELECT month FROM archived_months WHERE state = 'archived' ORDER BY month",
            )
            .fetch_all(pool)
            .await?
        }
    };
    for &m in &months {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM archived_months WHERE month = $1")
                .bind(m)
                .fetch_optional(pool)
                .await?;
        if state.as_deref() != Some("archived") {
            return Err(Error::State(format!(
                "{} is not archived (state: {})",
                crate::month_name(m),
                state.as_deref().unwrap_or("none")
            )));
        }
        let data = fetch_month(pool, archive, m).await?;
        let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM archived_orders WHERE month = $1")
            .bind(m)
            .fetch_one(pool)
            .await?;
        if i64::try_from(data[0].rows).ok() != Some(keys) {
            return Err(Error::Corrupt(format!(
                "{}: {} orders in the archive, {keys} in archived_orders",
                crate::month_name(m),
                data[0].rows
            )));
        }
    }
    Ok(months)
}
