//! `ims archive restore MONTH`: the month's objects back into PostgreSQL, in one transaction
//! that checks them row for row before it commits, so an archive is never a one-way door.
//!
//! Each object's SHA-256 and count are checked against the manifest; the orders go into a
//! new partition with the counting triggers off (`ims.bulk_load`, as the generator loads
//! them; the open ones are counted again by hand) and are read back and compared with the
//! file value for value; the movements come back and their sum leaves the stock rows'
//! opening balances. A process killed before the commit leaves the month archived.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use indicatif::ProgressBar;
use sqlx::PgPool;
use uuid::Uuid;

use crate::drop::{count_open_orders, insert_openings};
use crate::run::{partition, OPENING};
use crate::store::{decode, sha256, Archive};
use crate::table::{Column, Columns, Spec, ALL, MOVEMENTS};
use crate::{fail_point, month_name, Error};

/// Rows restored per table.
pub type Restored = Vec<(&'static str, usize)>;

/// Fetches and checks the objects of an archived `month` against the manifest.
pub async fn fetch_month(
    pool: &PgPool,
    archive: &Archive,
    month: NaiveDate,
) -> Result<Vec<Columns>, Error> {
    fetch_tables(pool, archive, month, &ALL).await
}

/// As [`fetch_month`], the objects of `tables` only.
pub async fn fetch_tables(
    pool: &PgPool,
    archive: &Archive,
    month: NaiveDate,
    tables: &[&Spec],
) -> Result<Vec<Columns>, Error> {
    let objects: Vec<(String, String, i64, i64, String)> = sqlx::query_as(
        "SELECT table_name, path, rows, checksum, sha256 FROM archived_objects WHERE month = $1",
    )
    .bind(month)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for spec in tables {
        let Some((_, path, rows, checksum, sha)) = objects.iter().find(|o| o.0 == spec.table)
        else {
            return Err(Error::Corrupt(format!(
                "{}: the manifest has no {} object",
                month_name(month),
                spec.table
            )));
        };
        let bytes = archive
            .get(&object_store::path::Path::from(path.as_str()))
            .await?;
        let got = sha256(&bytes);
        if &got != sha {
            return Err(Error::Corrupt(format!(
                "{path}: SHA-256 {got}, the manifest says {sha}"
            )));
        }
        let data = spec.from_batches(&decode(bytes)?)?;
        let sum = data.sum(spec, spec.checksum);
        if i64::try_from(data.rows).ok() != Some(*rows) || sum != *checksum {
            return Err(Error::Corrupt(format!(
                "{path}: {} rows summing to {sum}, the manifest says {rows} and {checksum}",
                data.rows
            )));
        }
        out.push(data);
    }
    Ok(out)
}

/// Restores an archived `month`.
pub async fn restore_month(
    pool: &PgPool,
    archive: &Archive,
    month: NaiveDate,
    bar: &ProgressBar,
) -> Result<Restored, Error> {
    let _lock = crate::RunLock::take(pool).await?;
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM archived_months WHERE month = $1")
            .bind(month)
            .fetch_optional(pool)
            .await?;
    if state.as_deref() != Some("archived") {
        return Err(Error::State(format!(
            "{} is not archived (state: {})",
            month_name(month),
            state.as_deref().unwrap_or("none")
        )));
    }
    bar.set_length(ALL.len() as u64 + 1);
    let data = fetch_month(pool, archive, month).await?;
    bar.inc(1);
    let part = partition(month);
    let mut tx = pool.begin().await?;
    // The bounds as `ensure_order_partitions` computes them (in the session's time zone).
    let (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as(
            "SELECT $1::date::timestamptz, ($1::date + interval '1 month')::timestamptz",
        )
        .bind(month)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SET LOCAL ims.bulk_load = 'on'")
        .execute(&mut *tx)
        .await?;
    // Locks the manifest row: two restores of one month cannot both pass the check above.
    let locked: Option<String> = sqlx::query_scalar(
        "SELECT state FROM archived_months WHERE month = $1 AND state = 'archived' FOR UPDATE",
    )
    .bind(month)
    .fetch_optional(&mut *tx)
    .await?;
    if locked.is_none() {
        return Err(Error::State(format!(
            "{} is no longer archived",
            month_name(month)
        )));
    }
    sqlx::query(&format!(
        "CREATE TABLE {part} PARTITION OF orders FOR VALUES FROM ('{}') TO ('{}')",
        from.to_rfc3339(),
        to.to_rfc3339()
    ))
    .execute(&mut *tx)
    .await?;
    for (spec, rows) in ALL.iter().zip(&data) {
        if spec.table == MOVEMENTS.table {
            restore_movements(&mut tx, rows).await?;
        } else {
            spec.insert(&mut tx, rows).await?;
        }
        // Row for row: what PostgreSQL now holds for the month is what the file holds.
        let back = spec.read_month(&mut tx, from, to).await?;
        if &back != rows {
            return Err(mismatch(spec, month));
        }
        bar.inc(1);
    }
    count_open_orders(&mut tx, &part, 1).await?;
    sqlx::query("DELETE FROM archived_orders WHERE month = $1")
        .bind(month)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE archived_months SET state = 'restored', restored_at = now(), updated_at = now()
         WHERE month = $1",
    )
    .bind(month)
    .execute(&mut *tx)
    .await?;
    fail_point("restored");
    tx.commit().await?;
    Ok(ALL
        .iter()
        .map(|s| s.table)
        .zip(data.iter().map(|d| d.rows))
        .collect())
}

fn mismatch(spec: &Spec, month: NaiveDate) -> Error {
    Error::Corrupt(format!(
        "{} of {}: the rows restored differ from the archive",
        spec.table,
        month_name(month)
    ))
}

/// The month's movements back, and their sum out of each stock row's opening balance.
async fn restore_movements(tx: &mut sqlx::PgConnection, rows: &Columns) -> Result<(), Error> {
    let (Some(Column::Uuid(products)), Some(Column::Uuid(stores)), Some(Column::I32(deltas))) = (
        rows.column(&MOVEMENTS, "product_id"),
        rows.column(&MOVEMENTS, "store_id"),
        rows.column(&MOVEMENTS, "delta"),
    ) else {
        return Err(Error::Corrupt(
            "inventory_movements: columns missing".into(),
        ));
    };
    let ids: HashSet<i64> = match rows.column(&MOVEMENTS, "id") {
        Some(Column::I64(v)) => v.iter().flatten().copied().collect(),
        _ => HashSet::new(),
    };
    let mut sums: HashMap<(Uuid, Uuid), i64> = HashMap::new();
    for ((p, s), d) in products.iter().zip(stores).zip(deltas) {
        if let (Some(p), Some(s), Some(d)) = (p, s, d) {
            *sums.entry((*p, *s)).or_default() += i64::from(*d);
        }
    }
    let keys_p: Vec<Uuid> = sums.keys().map(|k| k.0).collect();
    let keys_s: Vec<Uuid> = sums.keys().map(|k| k.1).collect();
    type Old = (Uuid, Uuid, i64, i64, chrono::DateTime<chrono::Utc>);
    let old: Vec<Old> = sqlx::query_as(
        "DELETE FROM inventory_movements
         WHERE kind = 'initial' AND reason = $1
           AND (product_id, store_id) IN (SELECT * FROM UNNEST($2::uuid[], $3::uuid[]))
         RETURNING product_id, store_id, delta::bigint, id, created_at",
    )
    .bind(OPENING)
    .bind(&keys_p)
    .bind(&keys_s)
    .fetch_all(&mut *tx)
    .await?;
    MOVEMENTS.insert(tx, rows).await?;
    let openings = old.into_iter().map(|(p, s, delta, id, at)| {
        let left = delta - sums.get(&(p, s)).copied().unwrap_or(0);
        // The old id, unless a restored movement has it again.
        let id = (!ids.contains(&id)).then_some(id);
        (p, s, left, id, at)
    });
    insert_openings(tx, openings).await?;
    Ok(())
}
