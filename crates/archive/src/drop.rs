//! Step 5 of archiving a month (see `run`), in the transaction that read its rows: the
//! orders' keys kept in `archived_orders`, the month's rows deleted (each stock row's
//! movements folded into one opening balance), the partition dropped. Every count is checked
//! against the rows written to the archive.

use chrono::{NaiveDate, Utc};
use sqlx::PgConnection;

use crate::run::{partition, OPENING};
use crate::table::{Spec, ALL, MOVEMENTS, ORDERS};
use crate::{month_name, Error};

/// Step 5, in the transaction that read the rows: keys kept, rows deleted, partition dropped.
pub(crate) async fn drop_month(
    tx: &mut PgConnection,
    month: NaiveDate,
    (from, to): (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
    data: &[crate::table::Columns],
) -> Result<(), Error> {
    let part = &partition(month);
    let keys = sqlx::query(&format!(
        "INSERT INTO archived_orders (id, created_at, month, customer_id, store_id, status,
             payment_status)
         SELECT id, created_at, $1, customer_id, store_id, status, payment_status FROM {part}"
    ))
    .bind(month)
    .execute(&mut *tx)
    .await?;
    expect_rows(&ORDERS, keys.rows_affected(), data[0].rows)?;
    count_open_orders(tx, part, -1).await?;
    fold_movements(tx, from, to, data[1].rows).await?;
    for (spec, rows) in ALL.iter().zip(data).skip(2) {
        let deleted = sqlx::query(&format!(
            "DELETE FROM {} WHERE {t} >= $1 AND {t} < $2",
            spec.table,
            t = spec.time
        ))
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
        expect_rows(spec, deleted.rows_affected(), rows.rows)?;
    }
    sqlx::query(&format!("ALTER TABLE orders DETACH PARTITION {part}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("DROP TABLE {part}"))
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query(
        "UPDATE archived_months SET state = 'archived', archived_at = now(), updated_at = now()
         WHERE month = $1 AND state = 'written'",
    )
    .bind(month)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::State(format!(
            "{}: the manifest row changed under the run",
            month_name(month)
        )));
    }
    Ok(())
}

/// Deletes the month's movements and adds their sum to each stock row's opening balance, so
/// a row's movements still add up to its quantity. The opening balance takes the smallest id
/// of what it replaces, so it sorts where the history began.
async fn fold_movements(
    tx: &mut PgConnection,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    expected: usize,
) -> Result<(), Error> {
    type Sum = (uuid::Uuid, uuid::Uuid, i64, i64, chrono::DateTime<Utc>, i64);
    let sums: Vec<Sum> = sqlx::query_as(
        "WITH gone AS (
             DELETE FROM inventory_movements
             WHERE created_at >= $1 AND created_at < $2
               AND NOT (kind = 'initial' AND reason IS NOT DISTINCT FROM $3)
             RETURNING product_id, store_id, delta, id, created_at),
         old AS (
             DELETE FROM inventory_movements
             WHERE kind = 'initial' AND reason = $3
               AND (product_id, store_id) IN (SELECT product_id, store_id FROM gone)
             RETURNING product_id, store_id, delta, id, created_at)
         SELECT product_id, store_id, sum(delta)::bigint, min(id), min(created_at),
                count(*) FILTER (WHERE NOT opening)
         FROM (SELECT *, false AS opening FROM gone UNION ALL SELECT *, true FROM old) x
         GROUP BY 1, 2",
    )
    .bind(from)
    .bind(to)
    .bind(OPENING)
    .fetch_all(&mut *tx)
    .await?;
    let deleted: i64 = sums.iter().map(|s| s.5).sum();
    expect_rows(&MOVEMENTS, u64::try_from(deleted).unwrap_or(0), expected)?;
    insert_openings(
        tx,
        sums.into_iter().map(|s| (s.0, s.1, s.2, Some(s.3), s.4)),
    )
    .await
}

/// Inserts opening balances `(product, store, delta, id, at)`; a zero delta needs none (and
/// the table refuses one). `id` `None` takes the next id.
pub(crate) async fn insert_openings(
    tx: &mut PgConnection,
    rows: impl Iterator<
        Item = (
            uuid::Uuid,
            uuid::Uuid,
            i64,
            Option<i64>,
            chrono::DateTime<Utc>,
        ),
    >,
) -> Result<(), Error> {
    let rows: Vec<_> = rows.filter(|r| r.2 != 0).collect();
    let (with_id, without): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.3.is_some());
    for (overriding, ids, batch) in [
        ("OVERRIDING SYSTEM VALUE", "u.id", with_id),
        ("", "DEFAULT", without),
    ] {
        if batch.is_empty() {
            continue;
        }
        let products: Vec<uuid::Uuid> = batch.iter().map(|r| r.0).collect();
        let stores: Vec<uuid::Uuid> = batch.iter().map(|r| r.1).collect();
        let deltas: Vec<i32> = batch
            .iter()
            .map(|r| i32::try_from(r.2).unwrap_or(i32::MAX))
            .collect();
        let id_values: Vec<i64> = batch.iter().map(|r| r.3.unwrap_or(0)).collect();
        let ats: Vec<chrono::DateTime<Utc>> = batch.iter().map(|r| r.4).collect();
        let id_column = if ids == "DEFAULT" { "" } else { "id, " };
        let id_value = if ids == "DEFAULT" { "" } else { "u.id, " };
        sqlx::query(&format!(
            "INSERT INTO inventory_movements ({id_column}product_id, store_id, delta, kind, reason,
                 created_at) {overriding}
             SELECT {id_value}u.p, u.s, u.d, 'initial', $6, u.at
             FROM UNNEST($1::bigint[], $2::uuid[], $3::uuid[], $4::integer[], $5::timestamptz[])
                 AS u(id, p, s, d, at)"
        ))
        .bind(&id_values)
        .bind(&products)
        .bind(&stores)
        .bind(&deltas)
        .bind(&ats)
        .bind(OPENING)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

fn expect_rows(spec: &Spec, got: u64, expected: usize) -> Result<(), Error> {
    if usize::try_from(got).ok() == Some(expected) {
        Ok(())
    } else {
        Err(Error::Corrupt(format!(
            "{}: {got} rows in PostgreSQL, {expected} written (rows changed during the run)",
            spec.table
        )))
    }
}

/// Moves a month's open orders out of the dashboards' counts (`sign` −1, before its partition
/// is dropped) or back into them (`sign` 1, once it is restored), and marks their stores'
/// figures changed: dropping or restoring a partition fires no trigger (migrations 0007 and
/// 0011 keep the counts otherwise).
pub(crate) async fn count_open_orders(
    tx: &mut PgConnection,
    part: &str,
    sign: i64,
) -> Result<(), Error> {
    sqlx::query(&format!(
        "WITH open AS (
             SELECT store_id, status, count(*) AS n FROM {part}
             WHERE status IN ('pending', 'confirmed', 'in_workshop', 'ready') GROUP BY 1, 2),
         counted AS (
             INSERT INTO order_status_counts (store_id, status, n)
             SELECT store_id, status, $1 * n FROM open RETURNING store_id)
         INSERT INTO dashboard_changes (store_id, n) SELECT DISTINCT store_id, 1 FROM counted"
    ))
    .bind(sign)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
