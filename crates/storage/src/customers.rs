//! Customers: chain-wide, found at the till by phone or by name.

use chrono::{DateTime, NaiveDate, Utc};
use domain::customer::Phone;
use domain::ids::CustomerId;
use sqlx::PgPool;

use crate::idempotency::{self, Done, IdempotencyKey};
use crate::page::{push_keyset, Direction};
use crate::{After, Page, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRecord {
    pub id: CustomerId,
    pub name: String,
    pub phone: String,
    pub email: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewCustomer {
    pub name: String,
    pub phone: Phone,
    pub email: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
}

/// `email` and `date_of_birth` are doubly optional: `Some(None)` clears them.
#[derive(Default)]
pub struct CustomerChanges {
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub email: Option<Option<String>>,
    pub date_of_birth: Option<Option<NaiveDate>>,
}

pub struct CustomerFilter {
    pub phone: Option<Phone>,
    /// Part of a name, matched by trigrams (`ILIKE '%…%'` served by the GIN index).
    pub name_contains: Option<String>,
    pub limit: i64,
    pub after: Option<After>,
}

const COLUMNS: &str = "id, name, phone, email, date_of_birth, created_at, updated_at";

/// With `key`, a retry of the same request returns the first response (`render`ed in the
/// insert's transaction) instead of a second record or a 409.
pub async fn insert_customer(
    pool: &PgPool,
    customer: &NewCustomer,
    key: Option<&IdempotencyKey>,
    render: impl FnOnce(&CustomerRecord) -> idempotency::Rendered,
) -> Result<Done<CustomerRecord>> {
    let mut attempt = idempotency::begin_or_replay!(pool, key);
    let sql = format!(
        "INSERT INTO customers (id, name, phone, email, date_of_birth) VALUES ($1, $2, $3, $4, $5)
         RETURNING {COLUMNS}"
    );
    let record: CustomerRecord = sqlx::query_as(&sql)
        .bind(CustomerId::generate())
        .bind(&customer.name)
        .bind(customer.phone.as_str())
        .bind(&customer.email)
        .bind(customer.date_of_birth)
        .fetch_one(attempt.conn())
        .await?;
    attempt.finish(|| render(&record)).await?;
    Ok(Done::New(record))
}

pub async fn customer_by_id(pool: &PgPool, id: CustomerId) -> Result<CustomerRecord> {
    crate::monitoring::timed("customers.by_id", async move {
        let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1");
        Ok(sqlx::query_as(&sql).bind(id).fetch_one(pool).await?)
    })
    .await
}

/// `GET /customers?phone=&q=`, by name.
pub async fn list_customers(
    pool: &PgPool,
    filter: &CustomerFilter,
) -> Result<Page<CustomerRecord>> {
    crate::monitoring::timed("customers.list", async move {
        let mut qb = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM customers WHERE true"));
        if let Some(phone) = &filter.phone {
            qb.push(" AND phone = ")
                .push_bind(phone.as_str().to_owned());
        }
        if let Some(part) = &filter.name_contains {
            qb.push(" AND name ILIKE ").push_bind(like_pattern(part));
        }
        if let Some(after) = &filter.after {
            push_keyset(&mut qb, "name", "id", Direction::Asc, after);
        }
        qb.push(" ORDER BY name, id LIMIT ")
            .push_bind(filter.limit + 1);
        let rows: Vec<CustomerRecord> = qb.build_query_as().fetch_all(pool).await?;
        Ok(Page::from_rows(rows, filter.limit, |c| {
            After::Text(c.name.clone(), c.id.uuid())
        }))
    })
    .await
}

/// `%part%` with the user's own `%`, `_` and `\` taken literally.
fn like_pattern(part: &str) -> String {
    let escaped = part
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

pub async fn update_customer(
    pool: &PgPool,
    id: CustomerId,
    changes: &CustomerChanges,
) -> Result<CustomerRecord> {
    let sql = format!(
        "UPDATE customers SET name = coalesce($2, name), phone = coalesce($3, phone),
            email = CASE WHEN $4 THEN $5 ELSE email END,
            date_of_birth = CASE WHEN $6 THEN $7 ELSE date_of_birth END
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    Ok(sqlx::query_as(&sql)
        .bind(id)
        .bind(&changes.name)
        .bind(changes.phone.as_ref().map(Phone::as_str))
        .bind(changes.email.is_some())
        .bind(changes.email.clone().flatten())
        .bind(changes.date_of_birth.is_some())
        .bind(changes.date_of_birth.flatten())
        .fetch_one(pool)
        .await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(super::like_pattern("50%_a\\"), "%50\\%\\_a\\\\%");
    }
}
