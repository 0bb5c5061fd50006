//! The data generator behind `ims seed --scale`, against real PostgreSQL: the same seed gives
//! the same rows, the counts follow the scale, and the generated chain keeps every invariant
//! the service relies on (stock totals, movements, order totals and ids, sales counts, job
//! histories), with the schema's keys and indexes back exactly as the migrations made them.

use seed::generator::{generate, Counts, GenerateError, Options};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

const SCALE: f64 = 0.01;

/// A pool on a fresh migrated database, and the database's name.
async fn fresh_db() -> storage::Db {
    let name = testkit::fresh_database().await.expect("fresh database");
    let url = std::env::var("IMS_TEST_DATABASE_URL").expect("run the tests with scripts/test");
    let options: PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    storage::Db::connect(&storage::DbConfig {
        min_connections: 0,
        max_connections: 4,
        ..storage::DbConfig::new(options.database(&name))
    })
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A checksum of every table's rows in key order (users without the salted password hash).
async fn checksums(pool: &PgPool) -> Vec<(String, String)> {
    let tables = [
        ("stores", "t", "id"),
        ("categories", "t", "id"),
        ("users", "(t.id, t.email, t.username, t.roles, t.store_ids, t.status, t.last_login_at, t.created_at)", "id"),
        ("products", "t", "id"),
        ("customers", "t", "id"),
        ("inventory", "t", "product_id, store_id"),
        ("inventory_movements", "t", "id"),
        ("orders", "t", "id"),
        ("order_keys", "t", "order_id"),
        ("prescriptions", "t", "id"),
        ("workshop_jobs", "t", "id"),
        ("workshop_job_history", "t", "id"),
    ];
    let mut sums = Vec::new();
    for (table, row, key) in tables {
        let sql = format!(
            "SELECT count(*)::text || ':' || md5(coalesce(string_agg({row}::text, '|' ORDER BY {key}), ''))
               FROM {table} t"
        );
        let sum: String = sqlx::query_scalar(&sql).fetch_one(pool).await.expect(table);
        sums.push((table.to_owned(), sum));
    }
    sums
}

#[tokio::test]
async fn the_same_seed_gives_the_same_rows_ids_included() {
    let (a, b) = (fresh_db().await, fresh_db().await);
    // One Options value: the same seed and the same end of history.
    let options = Options::new(SCALE, 7);
    generate(a.primary(), &options).await.expect("first run");
    generate(b.primary(), &options).await.expect("second run");
    let (first, second) = (checksums(a.primary()).await, checksums(b.primary()).await);
    assert!(
        first.iter().all(|(_, sum)| !sum.starts_with("0:")),
        "{first:?}"
    );
    assert_eq!(first, second);

    let c = fresh_db().await;
    generate(c.primary(), &Options::new(SCALE, 8))
        .await
        .expect("other seed");
    let other = checksums(c.primary()).await;
    let orders = |sums: &[(String, String)]| sums.iter().find(|(t, _)| t == "orders").cloned();
    assert_ne!(orders(&first), orders(&other), "another seed, other orders");
}

/// Each query counts violations of one invariant.
const INVARIANTS: &[(&str, &str)] = &[
    ("a product's quantity is the sum of its inventory",
     "SELECT count(*) FROM products p WHERE p.quantity <>
        (SELECT coalesce(sum(i.quantity), 0) FROM inventory i WHERE i.product_id = p.id)"),
    ("an inventory row's movements add up to its quantity",
     "SELECT count(*) FROM inventory i LEFT JOIN
        (SELECT product_id, store_id, sum(delta) AS total FROM inventory_movements GROUP BY 1, 2) m
        USING (product_id, store_id) WHERE i.quantity <> coalesce(m.total, 0)"),
    ("every movement is an initial one of a stocked row",
     "SELECT count(*) FROM inventory_movements WHERE kind <> 'initial' OR delta <= 0"),
    ("an order's total is the sum of its lines",
     "SELECT count(*) FROM orders o WHERE o.total <>
        (SELECT sum((x->>'lineTotal')::bigint) FROM jsonb_array_elements(o.items) x)
        OR EXISTS (SELECT 1 FROM jsonb_array_elements(o.items) x WHERE (x->>'lineTotal')::bigint
                   <> (x->>'unitPrice')::bigint * (x->>'quantity')::int
                   OR jsonb_array_length(o.items) > 4)"),
    ("an order's payments add up to what it has paid, and its payment status says so",
     "SELECT count(*) FROM orders o WHERE o.amount_paid <>
        (SELECT coalesce(sum((x->>'amount')::bigint), 0) FROM jsonb_array_elements(o.payments) x)
        OR o.payment_status <> CASE WHEN o.amount_paid = 0 THEN 'unpaid'
                                    WHEN o.amount_paid < o.total THEN 'partially_paid' ELSE 'paid' END"),
    ("a product's sales count is what non-cancelled orders sold",
     "SELECT count(*) FROM products p LEFT JOIN
        (SELECT (x->>'productId')::uuid AS id, sum((x->>'quantity')::int) AS sold
           FROM orders o, jsonb_array_elements(o.items) x WHERE o.status <> 'cancelled' GROUP BY 1) s
        USING (id) WHERE p.sales_count <> coalesce(s.sold, 0)"),
    ("the dashboard's sales figures are the recent non-cancelled orders' lines",
     "WITH recent AS (
        SELECT o.store_id, product_sales_slot(o.created_at) AS slot,
               (x->>'productId')::uuid AS product_id,
               sum((x->>'quantity')::bigint) AS units, sum((x->>'lineTotal')::bigint) AS revenue
          FROM orders o, jsonb_array_elements(o.items) x
         WHERE o.status <> 'cancelled' AND o.created_at >= now() - interval '31 days'
         GROUP BY 1, 2, 3 HAVING product_sales_slot(min(o.created_at)) >= now() - interval '31 days'),
      kept AS (SELECT store_id, slot, product_id, units, revenue FROM product_sales
                WHERE slot >= now() - interval '31 days')
      SELECT (SELECT count(*) FROM (SELECT * FROM recent EXCEPT SELECT * FROM kept) a)
           + (SELECT count(*) FROM (SELECT * FROM kept EXCEPT SELECT * FROM recent) b)
           + (SELECT CASE WHEN EXISTS (SELECT 1 FROM recent) THEN 0 ELSE 1 END)"),
    ("an order id's timestamp is its created_at",
     "SELECT count(*) FROM orders WHERE created_at <>
        to_timestamp(('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint / 1000.0)"),
    ("order numbers are unique and carry the order's year",
     "SELECT (SELECT count(*) - count(DISTINCT order_number) FROM orders)
           + (SELECT count(*) FROM orders
               WHERE split_part(order_number, '-', 2) <> extract(year FROM created_at AT TIME ZONE 'UTC')::text)"),
    ("every order has its key, and every key its order",
     "SELECT (SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_keys k
                WHERE k.order_id = o.id AND k.order_number = o.order_number AND k.created_at = o.created_at))
           + (SELECT count(*) FROM order_keys k WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = k.order_id))"),
    ("every job's order exists, one job per order, numbers unique",
     "SELECT (SELECT count(*) FROM workshop_jobs j WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = j.order_id))
           + (SELECT count(*) - count(DISTINCT order_id) FROM workshop_jobs)
           + (SELECT count(*) - count(DISTINCT job_number) FROM workshop_jobs)"),
    ("a job's status is where its history ends, and follows its order's",
     "SELECT count(*) FROM workshop_jobs j JOIN orders o ON o.id = j.order_id WHERE j.status <>
        (SELECT h.to_status FROM workshop_job_history h WHERE h.job_id = j.id ORDER BY h.id DESC LIMIT 1)
        OR (o.status IN ('ready', 'delivered')) <> (j.status = 'completed')
        OR (o.status = 'cancelled') <> (j.status = 'cancelled')
        OR (o.status = 'in_workshop') <> (j.status IN ('in_progress', 'quality_check'))
        OR (j.status = 'completed') <> (j.completed_at IS NOT NULL)"),
    ("a job's history starts queued and each step leaves where the last arrived",
     "SELECT count(*) FROM (SELECT from_status, to_status, changed_at,
            lag(to_status) OVER w AS before, lag(changed_at) OVER w AS before_at,
            row_number() OVER w AS n
          FROM workshop_job_history WINDOW w AS (PARTITION BY job_id ORDER BY id)) h
      WHERE (n = 1 AND (from_status IS NOT NULL OR to_status <> 'queued'))
         OR (n > 1 AND (from_status IS DISTINCT FROM before OR changed_at < before_at))"),
    ("prescriptions: valid eyes and dates",
     "SELECT count(*) FROM prescriptions p, LATERAL (VALUES (p.right_eye), (p.left_eye)) e(eye)
      WHERE (eye->>'sphere')::numeric NOT BETWEEN -30 AND 30 OR ((eye->>'sphere')::numeric * 4) % 1 <> 0
         OR (eye->>'cylinder')::numeric NOT BETWEEN -10 AND 10 OR ((eye->>'cylinder')::numeric * 4) % 1 <> 0
         OR ((eye->>'cylinder')::numeric <> 0) <> (jsonb_typeof(eye->'axis') = 'number')
         OR coalesce((eye->>'axis')::int, 90) NOT BETWEEN 1 AND 180
         OR coalesce((eye->>'add')::numeric, 0) NOT BETWEEN 0 AND 4
         OR (eye->>'pd')::numeric NOT BETWEEN 20 AND 40
         OR p.expires_at <> (p.test_date + interval '2 years')::date"),
];

#[tokio::test]
async fn a_generated_chain_keeps_the_invariants() {
    let db = fresh_db().await;
    let pool = db.primary();
    let options = Options::new(SCALE, 42);
    let summary = generate(pool, &options).await.expect("generated");

    let expected = Counts::for_scale(SCALE);
    assert_eq!(
        expected,
        Counts {
            stores: 1,
            categories: 1,
            products: 200,
            customers: 2_000,
            orders: 10_000,
            prescriptions: 3_000,
            jobs: 4_000,
            staff: 5,
            admins: 1,
        },
        "scale 0.01 is the reference chain times 0.01, at least one of each"
    );
    for (table, rows) in [
        ("stores", expected.stores),
        ("categories", expected.categories),
        ("users", expected.users()),
        ("products", expected.products),
        ("customers", expected.customers),
        ("inventory", expected.inventory()),
        ("orders", expected.orders),
        ("order_keys", expected.orders),
        ("prescriptions", expected.prescriptions),
        ("workshop_jobs", expected.jobs),
    ] {
        let n = count(pool, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(n, rows as i64, "{table}");
        assert_eq!(
            summary.report.rows(table),
            rows as u64,
            "{table} in the report"
        );
    }
    let stocked = count(pool, "SELECT count(*) FROM inventory WHERE quantity > 0").await;
    assert_eq!(
        count(pool, "SELECT count(*) FROM inventory_movements").await,
        stocked
    );

    for (invariant, sql) in INVARIANTS {
        assert_eq!(count(pool, sql).await, 0, "{invariant}");
    }
    let (expired_wrong, future_tests): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE (status = 'expired') <> (expires_at < ($1 AT TIME ZONE 'UTC')::date)),
                count(*) FILTER (WHERE test_date > ($1 AT TIME ZONE 'UTC')::date)
           FROM prescriptions",
    )
    .bind(options.now)
    .fetch_one(pool)
    .await
    .expect("prescription dates");
    assert_eq!((expired_wrong, future_tests), (0, 0));
    let next_order: i64 = count(pool, "SELECT nextval('order_number_seq')").await;
    assert_eq!(
        next_order,
        expected.orders as i64 + 1,
        "new orders number after generated ones"
    );
    let next_job: i64 = count(pool, "SELECT nextval('job_number_seq')").await;
    assert_eq!(next_job, expected.jobs as i64 + 1);

    assert_same_schema(pool).await;

    match generate(pool, &options).await {
        Err(GenerateError::NotEmpty(found)) => assert!(found.contains("stores"), "{found}"),
        other => panic!("a second run without --force must refuse, got {other:?}"),
    }
    let forced = Options {
        force: true,
        ..Options::new(SCALE, 43)
    };
    generate(pool, &forced)
        .await
        .expect("--force wipes and generates again");
    assert_eq!(
        count(pool, "SELECT count(*) FROM orders").await,
        expected.orders as i64
    );
    assert_eq!(
        count(pool, "SELECT count(*) FROM users").await,
        expected.users() as i64
    );
}

/// Keys, indexes and constraints are back exactly as a freshly migrated database has them.
async fn assert_same_schema(pool: &PgPool) {
    let catalog = "SELECT string_agg(d, E'\\n' ORDER BY d) FROM (
            SELECT tablename || ' ' || indexdef AS d FROM pg_indexes
             WHERE schemaname = 'public' AND tablename !~ '^orders_y'
            UNION ALL
            SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) || convalidated
              FROM pg_constraint WHERE connamespace = 'public'::regnamespace
               AND conrelid::regclass::text !~ '^orders_y') defs";
    let reference = fresh_db().await;
    let want: String = sqlx::query_scalar(catalog)
        .fetch_one(reference.primary())
        .await
        .expect("catalog");
    let have: String = sqlx::query_scalar(catalog)
        .fetch_one(pool)
        .await
        .expect("catalog");
    assert_eq!(have, want);
    assert_eq!(
        count(pool, "SELECT count(*) FROM pg_index WHERE NOT indisvalid").await,
        0
    );
    // Every partition has as many indexes as the partitioned table.
    let short = count(
        pool,
        "SELECT count(*) FROM pg_inherits i
          WHERE i.inhparent = 'orders'::regclass
            AND (SELECT count(*) FROM pg_index WHERE indrelid = i.inhrelid)
             <> (SELECT count(*) FROM pg_index WHERE indrelid = 'orders'::regclass)",
    )
    .await;
    assert_eq!(short, 0);
}
