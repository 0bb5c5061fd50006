//! `ims explain` on a small generated chain: every hot query is explained and none has an
//! unacceptable plan. (How a bad plan is judged is unit-tested in `seed::explain`.)

use seed::generator::{generate, Options};
use sqlx::postgres::PgConnectOptions;

async fn seeded_db() -> storage::Db {
    let name = testkit::fresh_database().await.expect("fresh database");
    let url = std::env::var("IMS_TEST_DATABASE_URL").expect("run the tests with scripts/test");
    let options: PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    let db = storage::Db::connect(&storage::DbConfig {
        min_connections: 0,
        max_connections: 4,
        ..storage::DbConfig::new(options.database(&name))
    });
    generate(db.primary(), &Options::new(0.01, 7))
        .await
        .expect("a small chain");
    db
}

#[tokio::test]
async fn every_hot_query_has_an_acceptable_plan_on_a_small_chain() {
    let db = seeded_db().await;
    let rows = seed::explain::explain_hot_queries(db.primary())
        .await
        .expect("explain");
    let names: Vec<&str> = rows.iter().map(|r| r.query).collect();
    for expected in [
        "login lookup (email or username)",
        "product by sku",
        "product search: a typo",
        "order history of a customer",
        "orders by status, newest first",
        "orders by payment status, newest first",
        "order by id",
        "order number to id",
        "inventory of a product in a store",
        "low stock of a store",
        "prescriptions of a patient",
        "workshop queue",
        "dashboard: orders and revenue today",
        "dashboard: top products, 30 days",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} is explained: {names:?}"
        );
    }
    for row in &rows {
        assert!(
            row.problems.is_empty(),
            "{}: {:?} ({})",
            row.query,
            row.problems,
            row.access
        );
        assert!(!row.access.is_empty(), "{} read something", row.query);
    }
    let by_id = rows
        .iter()
        .find(|r| r.query == "order by id")
        .expect("order by id");
    assert_eq!(
        by_id.partitions, 1,
        "a lookup by id reads one partition: {}",
        by_id.access
    );
    assert_eq!(by_id.rows, 1.0);
}
