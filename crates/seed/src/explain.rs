//! `ims explain`: runs `EXPLAIN (ANALYZE, BUFFERS)` on the SQL behind every hot endpoint — the
//! very statements the repositories run, built by the same functions — with sample values
//! taken from the current database, and judges each plan: a sequential scan of a large table
//! or a query touching more order partitions than it needs is a failure.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use storage::inventory::StockFilter;
use storage::orders::OrderFilter;
use storage::prescriptions::PrescriptionFilter;
use storage::products::{ProductFilter, ProductSort};
use storage::workshop::JobFilter;
use storage::Result;

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

/// Values from the current database to run the queries with.
struct Samples {
    login: String,
    sku: String,
    category: Uuid,
    brand: String,
    search_word: String,
    store: Uuid,
    product: Uuid,
    customer: Uuid,
    order: Uuid,
    order_created: chrono::DateTime<chrono::Utc>,
    order_number: String,
    patient: Uuid,
}

async fn samples(pool: &PgPool) -> Result<Samples> {
    let (login,): (String,) = sqlx::query_as("SELECT username FROM users ORDER BY id LIMIT 1")
        .fetch_one(pool)
        .await?;
    let (sku, category, brand, name, product): (String, Uuid, String, String, Uuid) = sqlx::query_as(
        "SELECT sku, category_id, brand, name, id FROM products ORDER BY sales_count DESC, id LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    let (store,): (Uuid,) = sqlx::query_as("SELECT id FROM stores ORDER BY code LIMIT 1")
        .fetch_one(pool)
        .await?;
    let (order, order_created, order_number, customer): (Uuid, chrono::DateTime<chrono::Utc>, String, Uuid) =
        sqlx::query_as("SELECT id, created_at, order_number, customer_id FROM orders ORDER BY created_at DESC LIMIT 1")
            .fetch_one(pool)
            .await?;
    let (patient,): (Uuid,) =
        sqlx::query_as("SELECT patient_id FROM prescriptions ORDER BY id LIMIT 1")
            .fetch_one(pool)
            .await?;
    let search_word = name
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| w.len() >= 4)
        .unwrap_or(&name)
        .to_lowercase();
    Ok(Samples {
        login,
        sku,
        category,
        brand,
        search_word,
        store,
        product,
        customer,
        order,
        order_created,
        order_number,
        patient,
    })
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
    run(
        "products of a category, by name",
        None,
        explain_qb(
            pool,
            storage::products::list_products_query(EXPLAIN, &category, ProductSort::Name, 20, None),
        )
        .await?,
    );
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

async fn table_sizes(pool: &PgPool) -> Result<BTreeMap<String, f64>> {
    let rows: Vec<(String, f32)> = sqlx::query_as(
        "SELECT c.relname::text, greatest(c.reltuples, 0) FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, tuples)| (name, f64::from(tuples)))
        .collect())
}

/// Summarizes a plan and lists what is wrong with it.
fn judge(
    query: &'static str,
    max_partitions: Option<usize>,
    explained: &Value,
    sizes: &BTreeMap<String, f64>,
) -> ExplainRow {
    let top = &explained[0];
    let mut scans = Vec::new();
    walk(&top["Plan"], &mut scans);
    let mut problems = Vec::new();
    let mut access: Vec<String> = Vec::new();
    let mut partitions = std::collections::BTreeSet::new();
    for scan in &scans {
        let relation = scan.relation.as_deref().unwrap_or("");
        let shown_relation = collapse_partition(relation);
        if relation.starts_with("orders_y") && scan.loops > 0.0 {
            partitions.insert(relation.to_owned());
        }
        let label = match (&scan.index, scan.node.as_str()) {
            (Some(index), node) => format!("{node} using {}", collapse_partition(index)),
            (None, node) => format!("{node} on {shown_relation}"),
        };
        if !access.contains(&label) {
            access.push(label);
        }
        if scan.node.contains("Seq Scan") && scan.loops > 0.0 {
            let size = sizes.get(relation).copied().unwrap_or(0.0);
            if size > LARGE_TABLE_ROWS {
                problems.push(format!("sequential scan of {relation} ({size:.0} rows)"));
            }
        }
    }
    if let Some(max) = max_partitions {
        if partitions.len() > max {
            problems.push(format!(
                "read {} order partitions, needs at most {max}",
                partitions.len()
            ));
        }
    }
    ExplainRow {
        query,
        access: access.join(", "),
        partitions: partitions.len(),
        rows: top["Plan"]["Actual Rows"].as_f64().unwrap_or(0.0),
        time_ms: top["Execution Time"].as_f64().unwrap_or(0.0),
        problems,
    }
}

/// `orders_y2026m11_status_idx` → `orders_y*_status_idx`: one label for every partition.
fn collapse_partition(name: &str) -> String {
    let bytes = name.as_bytes();
    let is_month = |at: usize| {
        bytes.len() >= at + 7
            && bytes[at..at + 4].iter().all(u8::is_ascii_digit)
            && bytes[at + 4] == b'm'
            && bytes[at + 5..at + 7].iter().all(u8::is_ascii_digit)
    };
    match name.strip_prefix("orders_y") {
        Some(_) if is_month(8) => format!("orders_y*{}", &name[15..]),
        _ => name.to_owned(),
    }
}

struct Scan {
    node: String,
    relation: Option<String>,
    index: Option<String>,
    loops: f64,
}

/// Collects every node that reads a relation or an index.
fn walk(plan: &Value, out: &mut Vec<Scan>) {
    let node = plan["Node Type"].as_str().unwrap_or_default();
    let relation = plan["Relation Name"].as_str().map(str::to_owned);
    let index = plan["Index Name"].as_str().map(str::to_owned);
    if relation.is_some() || index.is_some() {
        out.push(Scan {
            node: node.to_owned(),
            relation,
            index,
            loops: plan["Actual Loops"].as_f64().unwrap_or(0.0),
        });
    }
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            walk(child, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_large_seq_scans_and_extra_partitions() {
        let plan = json!([{ "Execution Time": 1.5, "Plan": { "Node Type": "Append", "Actual Rows": 3.0, "Plans": [
            { "Node Type": "Seq Scan", "Relation Name": "orders_y2026m10", "Actual Loops": 1.0 },
            { "Node Type": "Index Scan", "Relation Name": "orders_y2026m11", "Index Name": "i", "Actual Loops": 1.0 },
            { "Node Type": "Index Scan", "Relation Name": "orders_y2026m12", "Index Name": "i", "Actual Loops": 0.0 },
        ]}}]);
        let sizes = BTreeMap::from([("orders_y2026m10".to_owned(), 50_000.0)]);
        let row = judge("q", Some(1), &plan, &sizes);
        assert_eq!(row.partitions, 2);
        assert_eq!(row.problems.len(), 2, "{:?}", row.problems);
        let small = BTreeMap::from([("orders_y2026m10".to_owned(), 50.0)]);
        assert_eq!(judge("q", None, &plan, &small).problems.len(), 0);
        assert_eq!(row.access, "Seq Scan on orders_y*, Index Scan using i");
    }

    #[test]
    fn partitions_share_a_label() {
        assert_eq!(
            collapse_partition("orders_y2026m11_status_idx"),
            "orders_y*_status_idx"
        );
        assert_eq!(collapse_partition("orders_y2026m11"), "orders_y*");
        assert_eq!(collapse_partition("orders_yes"), "orders_yes");
    }

    #[test]
    fn typos_drop_a_letter() {
        assert_eq!(typo_of("aviator"), "aiator");
        assert_eq!(typo_of("lens"), "lens");
    }
}
