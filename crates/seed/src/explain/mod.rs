//! `ims explain`: runs `EXPLAIN (ANALYZE, BUFFERS)` on the SQL behind every hot endpoint — the
//! very statements the repositories run, built by the same functions — with sample values
//! taken from the current database, and judges each plan: a sequential scan of a large table
//! or a query touching more order partitions than it needs is a failure.

use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use storage::inventory::StockFilter;
use storage::orders::OrderFilter;
use storage::prescriptions::PrescriptionFilter;
use storage::products::{ProductFilter, ProductSort};
use storage::workshop::JobFilter;
use storage::Result;

use judge::{judge, table_sizes};
use samples::samples;

mod judge;
mod samples;

/// Tables above this many rows must never be read sequentially by a hot query.
pub const LARGE_TABLE_ROWS: f64 = 10_000.0;

const EXPLAIN: &str = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ";

/// One hot query's plan, summarized.
#[derive(Debug, Clone)]
pub struct ExplainRow {
    pub query: &'static str,
    /// The scans the plan used, e.g. `Index Scan using products_sku_key`.
    pub access: String,
    /// Order partitions the execution actually read.
    pub partitions: usize,
    pub rows: f64,
    pub time_ms: f64,
    /// Why the plan is not acceptable; empty when it is.
    pub problems: Vec<String>,
}

/// Explains every hot query; fails only when the database lacks data to sample from.
pub async fn explain_hot_queries(pool: &PgPool) -> Result<Vec<ExplainRow>> {
    let s = samples(pool).await?;
    let sizes = table_sizes(pool).await?;
    let typo = typo_of(&s.search_word);
    let mut rows = Vec::new();
    let mut run = |query: &'static str, max_partitions: Option<usize>, plan: Value| {
        rows.push(judge(query, max_partitions, &plan, &sizes));
    };

    run(
        "login lookup (email or username)",
        None,
        explain_sql(pool, &format!("SELECT * {}", storage::users::LOGIN), |q| {
            q.bind(s.login.clone())
        })
        .await?,
    );
    run(
        "product by sku",
        None,
        explain_sql(
            pool,
            &format!("SELECT * {}", storage::products::BY_SKU),
            |q| q.bind(s.sku.clone()),
        )
        .await?,
    );
    let category = ProductFilter {
        category_id: Some(s.category),
        ..Default::default()
    };
    for (label, sort) in [
        ("products of a category, by name", ProductSort::Name),
        ("products of a category, by price", ProductSort::Price),
        (
            "products of a category, by units sold",
            ProductSort::SalesDesc,
        ),
    ] {
        run(
            label,
            None,
            explain_qb(
                pool,
                storage::products::list_products_query(EXPLAIN, &category, sort, 20, None),
            )
            .await?,
        );
    }
    let brand = ProductFilter {
        brand: Some(s.brand.clone()),
        category_id: Some(s.category),
        status: Some(domain::catalog::ProductStatus::Active),
        in_stock: Some(true),
        ..Default::default()
    };
    run(
        "products by brand, category, status, in stock",
        None,
        explain_qb(
            pool,
            storage::products::list_products_query(EXPLAIN, &brand, ProductSort::Name, 20, None),
        )
        .await?,
    );
    let price = ProductFilter {
        min_price: Some(100_000),
        max_price: Some(300_000),
        ..Default::default()
    };
    run(
        "products in a price range, by price",
        None,
        explain_qb(
            pool,
            storage::products::list_products_query(EXPLAIN, &price, ProductSort::Price, 20, None),
        )
        .await?,
    );
    run(
        "products by sales (bestsellers order)",
        None,
        explain_qb(
            pool,
            storage::products::list_products_query(
                EXPLAIN,
                &ProductFilter::default(),
                ProductSort::SalesDesc,
                20,
                None,
            ),
        )
        .await?,
    );
    for (label, q) in [
        ("product search: a word", s.search_word.clone()),
        (
            "product search: a prefix",
            s.search_word[..s.search_word.len().min(4)].to_owned(),
        ),
        ("product search: a typo", typo),
    ] {
        let filter = ProductFilter {
            search: storage::products::search_terms(&q),
            ..Default::default()
        };
        run(
            label,
            None,
            explain_qb(
                pool,
                storage::products::list_products_query(
                    EXPLAIN,
                    &filter,
                    ProductSort::Relevance,
                    20,
                    None,
                ),
            )
            .await?,
        );
    }
    let history = OrderFilter {
        customer_id: Some(s.customer),
        ..Default::default()
    };
    run(
        "order history of a customer",
        None,
        explain_qb(
            pool,
            storage::orders::list_orders_query(EXPLAIN, &history, 20, None),
        )
        .await?,
    );
    let by_status = OrderFilter {
        status: Some(domain::order::OrderStatus::Pending),
        ..Default::default()
    };
    run(
        "orders by status, newest first",
        None,
        explain_qb(
            pool,
            storage::orders::list_orders_query(EXPLAIN, &by_status, 20, None),
        )
        .await?,
    );
    let by_payment = OrderFilter {
        payment_status: Some(domain::order::PaymentStatus::PartiallyPaid),
        ..Default::default()
    };
    run(
        "orders by payment status, newest first",
        None,
        explain_qb(
            pool,
            storage::orders::list_orders_query(EXPLAIN, &by_payment, 20, None),
        )
        .await?,
    );
    let store_month = OrderFilter {
        store_id: Some(s.store),
        from: Some(chrono::Utc::now() - chrono::Duration::days(30)),
        ..Default::default()
    };
    run(
        "orders of a store, last 30 days",
        Some(3),
        explain_qb(
            pool,
            storage::orders::list_orders_query(EXPLAIN, &store_month, 20, None),
        )
        .await?,
    );
    run(
        "order by id",
        Some(1),
        explain_sql(pool, &format!("SELECT * {}", storage::orders::BY_ID), |q| {
            q.bind(s.order).bind(s.order_created)
        })
        .await?,
    );
    run(
        "order number to id",
        None,
        explain_sql(pool, storage::orders::NUMBER_TO_ID, |q| {
            q.bind(s.order_number.clone())
        })
        .await?,
    );
    run(
        "inventory of a product in a store",
        None,
        explain_sql(
            pool,
            &format!("SELECT * {}", storage::inventory::ROW),
            |q| q.bind(s.product).bind(s.store),
        )
        .await?,
    );
    let low = StockFilter {
        store_id: s.store,
        status: None,
        low_stock: true,
    };
    run(
        "low stock of a store",
        None,
        explain_qb(
            pool,
            storage::inventory::list_store_stock_query(EXPLAIN, &low, 20, None),
        )
        .await?,
    );
    let patient = PrescriptionFilter {
        patient_id: Some(s.patient),
        ..Default::default()
    };
    run(
        "prescriptions of a patient",
        None,
        explain_qb(
            pool,
            storage::prescriptions::list_prescriptions_query(EXPLAIN, &patient, 20, None),
        )
        .await?,
    );
    run(
        "workshop queue",
        None,
        explain_qb(
            pool,
            storage::workshop::list_jobs_query(EXPLAIN, &JobFilter::default(), 20, None),
        )
        .await?,
    );
    let store_queue = JobFilter {
        visible_stores: Some(vec![s.store]),
        ..Default::default()
    };
    run(
        "workshop queue of a store",
        None,
        explain_qb(
            pool,
            storage::workshop::list_jobs_query(EXPLAIN, &store_queue, 20, None),
        )
        .await?,
    );
    let day_start = chrono::Utc::now() - chrono::Duration::hours(12);
    let stores = vec![s.store];
    use storage::dashboard::{scoped, LOW_STOCK, OPEN_ORDERS, QUEUE, TODAY, TOP_PRODUCTS};
    for (label, template, max_partitions) in [
        ("dashboard: orders and revenue today", TODAY, Some(2)),
        ("dashboard: open orders by status", OPEN_ORDERS, None),
        ("dashboard: workshop queue by status", QUEUE, None),
        ("dashboard: low-stock count", LOW_STOCK, None),
        ("dashboard: top products, 30 days", TOP_PRODUCTS, Some(0)),
    ] {
        let sql = scoped(template, true);
        run(
            label,
            max_partitions,
            explain_sql(pool, &sql, |q| q.bind(day_start).bind(stores.clone())).await?,
        );
    }
    run(
        "dashboard: one store's figures, one statement",
        Some(0),
        explain_sql(pool, storage::dashboard::STORE_FIGURES, |q| {
            q.bind(day_start).bind(s.store)
        })
        .await?,
    );
    Ok(rows)
}

/// A one-letter typo of `word` (its second letter dropped), as a customer might type it.
fn typo_of(word: &str) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.len() > 4 {
        chars.remove(1);
    }
    chars.into_iter().collect()
}

async fn explain_qb(pool: &PgPool, mut qb: QueryBuilder<'_, Postgres>) -> Result<Value> {
    Ok(qb.build_query_scalar::<Value>().fetch_one(pool).await?)
}

type Scalar<'q> = sqlx::query::QueryScalar<'q, Postgres, Value, sqlx::postgres::PgArguments>;

/// Explains `sql` with the values `bind` adds (owned, as the statement text is local).
async fn explain_sql(
    pool: &PgPool,
    sql: &str,
    bind: impl for<'q> FnOnce(Scalar<'q>) -> Scalar<'q>,
) -> Result<Value> {
    let explained = format!("{EXPLAIN}{sql}");
    Ok(bind(sqlx::query_scalar(&explained)).fetch_one(pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_drop_a_letter() {
        assert_eq!(typo_of("aviator"), "aiator");
        assert_eq!(typo_of("lens"), "lens");
    }
}
