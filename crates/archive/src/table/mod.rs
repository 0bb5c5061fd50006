//! A month of one table as columns: read from PostgreSQL, turned into an Arrow batch (and so
//! Parquet), read back from one, and inserted again. One description per archived table
//! ([`ORDERS`], [`MOVEMENTS`], [`JOB_HISTORY`], [`AUDIT`]) drives all four directions, so the
//! file, the check and the restore cannot disagree on a column.
//!
//! Columns are compared as values (`Columns == Columns`): restore reads the rows it inserted
//! back and compares them with the file, which checks them row for row.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::Error;

use arrays::{append, to_array};

mod arrays;

/// How a column is kept: uuids as their text (readable by any Parquet tool), JSON as the text
/// PostgreSQL prints for it (the issue asks for the order JSON kept as it is), times as UTC
/// microseconds, PostgreSQL's precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Uuid,
    Text,
    Json,
    I64,
    I32,
    Time,
}

/// One archived table.
#[derive(Debug)]
pub struct Spec {
    /// The table's name, also the object's folder and the manifest's `table_name`.
    pub table: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// The time column that assigns a row to a month; rows are sorted by it, then `id`.
    pub time: &'static str,
    /// The integer column summed as the file's checksum (orders: total).
    pub checksum: &'static str,
    /// `id` is `GENERATED ALWAYS`: restoring the same ids needs `OVERRIDING SYSTEM VALUE`.
    pub identity: bool,
    /// Rows of the month that stay (`AND ...`): the movements' opening balances.
    pub keep: &'static str,
}

pub const ORDERS: Spec = Spec {
    table: "orders",
    columns: &[
        ("id", Kind::Uuid),
        ("created_at", Kind::Time),
        ("order_number", Kind::Text),
        ("store_id", Kind::Uuid),
        ("customer_id", Kind::Uuid),
        ("customer_name", Kind::Text),
        ("customer_phone", Kind::Text),
        ("items", Kind::Json),
        ("total", Kind::I64),
        ("amount_paid", Kind::I64),
        ("payments", Kind::Json),
        ("status", Kind::Text),
        ("payment_status", Kind::Text),
        ("created_by", Kind::Uuid),
        ("updated_at", Kind::Time),
    ],
    time: "created_at",
    checksum: "total",
    identity: false,
    keep: "",
};

pub const MOVEMENTS: Spec = Spec {
    table: "inventory_movements",
    columns: &[
        ("id", Kind::I64),
        ("product_id", Kind::Uuid),
        ("store_id", Kind::Uuid),
        ("delta", Kind::I32),
        ("kind", Kind::Text),
        ("reason", Kind::Text),
        ("order_id", Kind::Uuid),
        ("transfer_id", Kind::Uuid),
        ("actor_id", Kind::Uuid),
        ("created_at", Kind::Time),
    ],
    time: "created_at",
    checksum: "delta",
    identity: true,
    keep: " AND NOT (kind = 'initial' AND reason IS NOT DISTINCT FROM 'opening balance (archived months)')",
};

pub const JOB_HISTORY: Spec = Spec {
    table: "workshop_job_history",
    columns: &[
        ("id", Kind::I64),
        ("job_id", Kind::Uuid),
        ("from_status", Kind::Text),
        ("to_status", Kind::Text),
        ("note", Kind::Text),
        ("changed_by", Kind::Uuid),
        ("changed_at", Kind::Time),
    ],
    time: "changed_at",
    checksum: "id",
    identity: true,
    keep: "",
};

pub const AUDIT: Spec = Spec {
    table: "audit_log",
    columns: &[
        ("id", Kind::I64),
        ("occurred_at", Kind::Time),
        ("actor_id", Kind::Uuid),
        ("action", Kind::Text),
        ("entity_type", Kind::Text),
        ("entity_id", Kind::Uuid),
        ("details", Kind::Json),
    ],
    time: "occurred_at",
    checksum: "id",
    identity: true,
    keep: "",
};

/// Every archived table, orders first.
pub const ALL: [&Spec; 4] = [&ORDERS, &MOVEMENTS, &JOB_HISTORY, &AUDIT];

/// The values of one column, every row (NULL as `None`).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Uuid(Vec<Option<Uuid>>),
    Text(Vec<Option<String>>),
    I64(Vec<Option<i64>>),
    I32(Vec<Option<i32>>),
    Time(Vec<Option<DateTime<Utc>>>),
}

/// A month of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    pub rows: usize,
    pub columns: Vec<Column>,
}

impl Spec {
    /// `SELECT` of the month's rows in the file's order.
    fn select(&self) -> String {
        let list: Vec<String> = self
            .columns
            .iter()
            .map(|(name, kind)| match kind {
                Kind::Json => format!("{name}::text"),
                _ => (*name).to_owned(),
            })
            .collect();
        format!(
            "SELECT {} FROM {} WHERE {t} >= $1 AND {t} < $2{} ORDER BY {t}, id",
            list.join(", "),
            self.table,
            self.keep,
            t = self.time
        )
    }

    /// The month's rows, as the archive keeps them.
    pub async fn read_month(
        &self,
        conn: &mut PgConnection,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Columns, Error> {
        let rows: Vec<PgRow> = sqlx::query(&self.select())
            .bind(from)
            .bind(to)
            .fetch_all(&mut *conn)
            .await?;
        let mut columns = Vec::with_capacity(self.columns.len());
        for (index, (_, kind)) in self.columns.iter().enumerate() {
            columns.push(match kind {
                Kind::Uuid => Column::Uuid(get_all(&rows, index)?),
                Kind::Text | Kind::Json => Column::Text(get_all(&rows, index)?),
                Kind::I64 => Column::I64(get_all(&rows, index)?),
                Kind::I32 => Column::I32(get_all(&rows, index)?),
                Kind::Time => Column::Time(get_all(&rows, index)?),
            });
        }
        Ok(Columns {
            rows: rows.len(),
            columns,
        })
    }

    /// The Arrow schema of the file.
    pub fn schema(&self) -> Arc<Schema> {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|(name, kind)| {
                let data_type = match kind {
                    Kind::Uuid | Kind::Text | Kind::Json => DataType::Utf8,
                    Kind::I64 => DataType::Int64,
                    Kind::I32 => DataType::Int32,
                    Kind::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                };
                Field::new(*name, data_type, true)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    /// The rows as one Arrow batch.
    pub fn to_batch(&self, data: &Columns) -> Result<RecordBatch, Error> {
        let arrays: Vec<ArrayRef> = data.columns.iter().map(to_array).collect();
        Ok(RecordBatch::try_new(self.schema(), arrays)?)
    }

    /// The rows of batches read from a file of this table.
    pub fn from_batches(&self, batches: &[RecordBatch]) -> Result<Columns, Error> {
        let mut columns: Vec<Column> = self
            .columns
            .iter()
            .map(|(_, kind)| match kind {
                Kind::Uuid => Column::Uuid(Vec::new()),
                Kind::Text | Kind::Json => Column::Text(Vec::new()),
                Kind::I64 => Column::I64(Vec::new()),
                Kind::I32 => Column::I32(Vec::new()),
                Kind::Time => Column::Time(Vec::new()),
            })
            .collect();
        let mut rows = 0;
        for batch in batches {
            if batch.num_columns() != columns.len() {
                return Err(Error::Corrupt(format!(
                    "{}: {} columns, expected {}",
                    self.table,
                    batch.num_columns(),
                    columns.len()
                )));
            }
            rows += batch.num_rows();
            for (column, array) in columns.iter_mut().zip(batch.columns()) {
                append(column, array.as_ref(), self.table)?;
            }
        }
        Ok(Columns { rows, columns })
    }

    /// Inserts the rows again (ids as they were), in batches of a few thousand.
    pub async fn insert(&self, conn: &mut PgConnection, data: &Columns) -> Result<(), Error> {
        const BATCH: usize = 5_000;
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| *n).collect();
        let unnest: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, kind))| {
                let sql_type = match kind {
                    Kind::Uuid => "uuid[]",
                    Kind::Text | Kind::Json => "text[]",
                    Kind::I64 => "bigint[]",
                    Kind::I32 => "integer[]",
                    Kind::Time => "timestamptz[]",
                };
                format!("${}::{sql_type}", i + 1)
            })
            .collect();
        let select: Vec<String> = self
            .columns
            .iter()
            .map(|(name, kind)| match kind {
                Kind::Json => format!("u.{name}::jsonb"),
                _ => format!("u.{name}"),
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) {} SELECT {} FROM UNNEST({}) AS u({})",
            self.table,
            names.join(", "),
            if self.identity {
                "OVERRIDING SYSTEM VALUE"
            } else {
                ""
            },
            select.join(", "),
            unnest.join(", "),
            names.join(", ")
        );
        let mut start = 0;
        while start < data.rows {
            let end = (start + BATCH).min(data.rows);
            let mut query = sqlx::query(&sql);
            for column in &data.columns {
                query = match column {
                    Column::Uuid(v) => query.bind(v[start..end].to_vec()),
                    Column::Text(v) => query.bind(v[start..end].to_vec()),
                    Column::I64(v) => query.bind(v[start..end].to_vec()),
                    Column::I32(v) => query.bind(v[start..end].to_vec()),
                    Column::Time(v) => query.bind(v[start..end].to_vec()),
                };
            }
            query.execute(&mut *conn).await?;
            start = end;
        }
        Ok(())
    }
}

impl Columns {
    /// The column named `name` of `spec`.
    pub fn column(&self, spec: &Spec, name: &str) -> Option<&Column> {
        let index = spec.columns.iter().position(|(n, _)| *n == name)?;
        self.columns.get(index)
    }

    /// The sum of an integer column (the file's checksum).
    pub fn sum(&self, spec: &Spec, name: &str) -> i64 {
        match self.column(spec, name) {
            Some(Column::I64(v)) => v.iter().flatten().sum(),
            Some(Column::I32(v)) => v.iter().flatten().map(|x| i64::from(*x)).sum(),
            _ => 0,
        }
    }
}

fn get_all<'r, T>(rows: &'r [PgRow], index: usize) -> Result<Vec<Option<T>>, Error>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    rows.iter()
        .map(|row| row.try_get::<Option<T>, _>(index).map_err(Error::from))
        .collect()
}
