//! Sampling from PostgreSQL: a few read-only queries, run once before the load starts. Hot
//! items first: products by units sold, customers by recent orders in a store, orders newest
//! first.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};
use uuid::Uuid;

use super::{JobRef, ProductRef, RawSample, StaffRef};
use crate::error::{Error, Result};
use crate::mix::SampleSize;

pub async fn from_database(url: &str, size: &SampleSize) -> Result<RawSample> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| Error::Config(format!("--database-url: {e}")))?;
    let mut conn = PgConnection::connect_with(&options.disable_statement_logging()).await?;
    let raw = read(&mut conn, size).await;
    let _ = conn.close().await;
    raw
}

async fn read(conn: &mut PgConnection, size: &SampleSize) -> Result<RawSample> {
    let mut raw = RawSample {
        stores: sqlx::query_scalar("SELECT id FROM stores WHERE status = 'active' ORDER BY code")
            .fetch_all(&mut *conn)
            .await?,
        categories: sqlx::query_scalar(
            "SELECT category_id FROM products WHERE status = 'active'
             GROUP BY category_id ORDER BY count(*) DESC, category_id",
        )
        .fetch_all(&mut *conn)
        .await?,
        ..RawSample::default()
    };
    let products = sqlx::query(
        "SELECT id, sku, price, name FROM products WHERE status = 'active'
         ORDER BY sales_count DESC, id LIMIT $1",
    )
    .bind(size.products as i64)
    .fetch_all(&mut *conn)
    .await?;
    for row in products {
        raw.products.push(ProductRef {
            id: row.try_get("id")?,
            sku: row.try_get("sku")?,
            price: row.try_get("price")?,
        });
        raw.product_names.push(row.try_get("name")?);
    }
    let ids: Vec<Uuid> = raw.products.iter().map(|p| p.id).collect();
    // Enough stock that the run's sales (one unit a line) do not empty a row; the mix's
    // restocking adjustments add more.
    raw.stocked = pairs(
        conn,
        "SELECT store_id, product_id FROM inventory WHERE product_id = ANY($1) AND quantity >= 10",
        &ids,
    )
    .await?;
    raw.customers = ranked(
        conn,
        "SELECT store_id, customer_id FROM (
            SELECT store_id, customer_id, row_number() OVER (
                PARTITION BY store_id ORDER BY count(*) DESC, customer_id) AS rank
            FROM orders WHERE created_at > now() - interval '90 days' AND created_at <= now()
            GROUP BY store_id, customer_id) t
         WHERE rank <= $1 ORDER BY store_id, rank",
        size.customers_per_store,
    )
    .await?;
    raw.orders = ranked(
        conn,
        "SELECT store_id, id FROM (
            SELECT store_id, id, row_number() OVER (
                PARTITION BY store_id ORDER BY created_at DESC) AS rank
            FROM orders WHERE created_at > now() - interval '60 days' AND created_at <= now()) t
         WHERE rank <= $1 ORDER BY store_id, rank",
        size.orders_per_store,
    )
    .await?;
    let jobs = sqlx::query(
        "SELECT store_id, id, order_id, status FROM (
            SELECT store_id, id, order_id, status, row_number() OVER (
                PARTITION BY store_id ORDER BY created_at DESC) AS rank
            FROM workshop_jobs WHERE status IN ('queued', 'in_progress', 'quality_check')) t
         WHERE rank <= $1",
    )
    .bind(size.jobs_per_store as i64)
    .fetch_all(&mut *conn)
    .await?;
    for row in jobs {
        let job = JobRef {
            id: row.try_get("id")?,
            order_id: row.try_get("order_id")?,
            status: row.try_get("status")?,
        };
        raw.jobs.push((row.try_get("store_id")?, job));
    }
    let staff = sqlx::query(
        "SELECT username, roles, store_ids FROM users WHERE status = 'active' ORDER BY username",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in staff {
        raw.staff.push(StaffRef {
            login: row.try_get("username")?,
            roles: row.try_get("roles")?,
            store_ids: row.try_get("store_ids")?,
        });
    }
    Ok(raw)
}

async fn pairs(conn: &mut PgConnection, sql: &str, ids: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(sqlx::query_as(sql).bind(ids).fetch_all(conn).await?)
}

async fn ranked(conn: &mut PgConnection, sql: &str, limit: usize) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(sqlx::query_as(sql)
        .bind(limit as i64)
        .fetch_all(conn)
        .await?)
}
