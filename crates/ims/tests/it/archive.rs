//! `ims archive` against real PostgreSQL and a local directory as the object store: old months
//! leave PostgreSQL for Parquet and stay readable over HTTP (read-only), a restore brings a
//! month back exactly, a damaged object fails `verify`, and a process killed at every step
//! of a run or a restore loses and duplicates nothing.

use std::path::PathBuf;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use testkit::{sample, TestApp};

use crate::cache::{read, wait_for_pages};
use uuid::Uuid;

/// Orders of a chain at this scale spread over 36 months: about 80 a month.
const SCALE: f64 = 0.003;
const MONTHS: u32 = 36;

struct Setup {
    app: TestApp,
    database_url: String,
    archive_dir: PathBuf,
}

impl Setup {
    fn pool(&self) -> &PgPool {
        self.app.db.primary()
    }

    fn archive_url(&self) -> String {
        format!("file://{}", self.archive_dir.display())
    }

    /// Runs `ims archive ARGS` as an operator would; `fail_at` makes it abort at that step.
    fn ims(&self, args: &[&str], fail_at: Option<&str>) -> std::process::Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ims"));
        command
            .arg("archive")
            .args(args)
            .env("IMS_DATABASE_URL", &self.database_url)
            .env(
                "IMS_REDIS_URL",
                std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL"),
            )
            .env("IMS_ARCHIVE_URL", self.archive_url())
            .env("IMS_DB_POOL_MIN", "0")
            .env("IMS_LOG", "warn")
            .env_remove("IMS_ARCHIVE_FAIL_AT");
        if let Some(step) = fail_at {
            command.env("IMS_ARCHIVE_FAIL_AT", step);
        }
        command.output().expect("ims runs")
    }

    fn ims_ok(&self, args: &[&str]) -> String {
        let out = self.ims(args, None);
        assert!(
            out.status.success(),
            "ims archive {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A generated chain with 36 months of orders, served with the archive in a temp directory.
async fn setup() -> Setup {
    let name = testkit::fresh_database().await.expect("fresh database");
    let db = storage::Db::connect(&storage::DbConfig {
        min_connections: 0,
        max_connections: 10,
        acquire_timeout: std::time::Duration::from_secs(15),
        ..storage::DbConfig::new(testkit::admin_options().database(&name))
    });
    let options = seed::generator::Options {
        history_months: Some(MONTHS),
        ..seed::generator::Options::new(SCALE, 16)
    };
    seed::generator::generate(db.primary(), &options)
        .await
        .expect("generated chain");
    // Audit rows in old months, a prescription's among them (kept in the archive).
    sqlx::query(
        "INSERT INTO audit_log (occurred_at, action, entity_type, entity_id, details)
         SELECT now() - make_interval(months => m), 'prescription.read', 'prescription',
                gen_random_uuid(), jsonb_build_object('month', m)
         FROM generate_series(1, 34) AS m",
    )
    .execute(db.primary())
    .await
    .expect("audit rows");
    let archive_dir = std::env::temp_dir().join(format!("ims-archive-{}", Uuid::new_v4()));
    let archive = archive::Archive::open(&format!("file://{}", archive_dir.display()))
        .expect("archive directory");
    let settings = api::Settings {
        archive: Some(archive::ArchivedOrders::new(archive)),
        ..testkit::settings()
    };
    let redis = std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL");
    let app = TestApp::spawn_on(settings, db, name.clone(), redis).await;
    let base = std::env::var("IMS_TEST_DATABASE_URL").expect("IMS_TEST_DATABASE_URL");
    let (head, query) = base.split_once('?').unwrap_or((&base, ""));
    let head = head.rsplit_once('/').map_or(head, |(h, _)| h);
    let database_url = if query.is_empty() {
        format!("{head}/{name}")
    } else {
        format!("{head}/{name}?{query}")
    };
    Setup {
        app,
        database_url,
        archive_dir,
    }
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// What must hold however a run ended: every order, movement, job history and audit row is
/// in PostgreSQL or in an archived month, exactly once, and every stock row's movements add
/// up to its quantity.
#[derive(Debug, PartialEq)]
struct Totals {
    orders: i64,
    orders_total: i64,
    distinct_orders: i64,
    history: i64,
    audit: i64,
    movement_rows_off: i64,
}

async fn totals(pool: &PgPool) -> Totals {
    let archived = |table: &str| {
        format!(
            "(SELECT coalesce(sum(o.rows), 0)::bigint FROM archived_objects o JOIN archived_months m
              USING (month) WHERE m.state = 'archived' AND o.table_name = '{table}')"
        )
    };
    Totals {
        orders: scalar(
            pool,
            &format!(
                "SELECT (SELECT count(*) FROM orders) + {}",
                archived("orders")
            ),
        )
        .await,
        orders_total: scalar(
            pool,
            "SELECT ((SELECT coalesce(sum(total), 0) FROM orders)
                + (SELECT coalesce(sum(orders_total), 0) FROM archived_months
                   WHERE state = 'archived'))::bigint",
        )
        .await,
        distinct_orders: scalar(
            pool,
            "SELECT count(DISTINCT id) FROM
                (SELECT id FROM orders UNION ALL SELECT id FROM archived_orders) x",
        )
        .await,
        history: scalar(
            pool,
            &format!(
                "SELECT (SELECT count(*) FROM workshop_job_history) + {}",
                archived("workshop_job_history")
            ),
        )
        .await,
        audit: scalar(
            pool,
            &format!(
                "SELECT (SELECT count(*) FROM audit_log) + {}",
                archived("audit_log")
            ),
        )
        .await,
        movement_rows_off: scalar(
            pool,
            "SELECT count(*) FROM inventory i
             LEFT JOIN (SELECT product_id, store_id, sum(delta) AS s FROM inventory_movements
                        GROUP BY 1, 2) m USING (product_id, store_id)
             WHERE i.quantity <> coalesce(m.s, 0)",
        )
        .await,
    }
}

/// `(month, state)` of the manifest.
async fn manifest(pool: &PgPool) -> Vec<(String, String)> {
    sqlx::query_as("SELECT to_char(month, 'YYYY-MM'), state FROM archived_months ORDER BY month")
        .fetch_all(pool)
        .await
        .expect("manifest")
}

/// A fingerprint of a month's orders (every column), to compare before and after.
async fn month_fingerprint(pool: &PgPool, month: &str) -> String {
    sqlx::query_scalar(
        "SELECT count(*)::text || ':' || md5(coalesce(string_agg(o::text, '|' ORDER BY id), ''))
         FROM orders o WHERE to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') = $1",
    )
    .bind(month)
    .fetch_one(pool)
    .await
    .expect("fingerprint")
}

async fn month_movements(pool: &PgPool, month: &str) -> String {
    sqlx::query_scalar(
        "SELECT count(*)::text || ':' || md5(coalesce(string_agg(m::text, '|' ORDER BY id), ''))
         FROM inventory_movements m
         WHERE to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') = $1
           AND reason IS DISTINCT FROM 'opening balance (archived months)'",
    )
    .bind(month)
    .fetch_one(pool)
    .await
    .expect("fingerprint")
}

/// What `ims archive run|restore` does to the cache, on the app's own key prefix.
async fn forget(s: &Setup, months: &[(String, String)]) {
    let months: Vec<chrono::NaiveDate> = months
        .iter()
        .map(|(m, _)| archive::parse_month(m).expect("a month"))
        .collect();
    ims::archive::forget_orders(&s.app.cache, s.pool(), &months)
        .await
        .expect("cache forgotten");
}

fn month_ago(months: u32) -> String {
    let now = chrono::Utc::now().date_naive();
    let m = now
        .with_day0(0)
        .and_then(|d| d.checked_sub_months(chrono::Months::new(months)))
        .expect("a month");
    m.format("%Y-%m").to_string()
}
use chrono::Datelike;

#[tokio::test]
async fn archived_months_stay_readable_and_restore_exactly() {
    let s = setup().await;
    let pool = s.pool().clone();
    let before = totals(&pool).await;
    assert_eq!(before.movement_rows_off, 0, "the generator's stock adds up");
    let old = month_ago(30);
    let old_orders = month_fingerprint(&pool, &old).await;
    let old_movements = month_movements(&pool, &old).await;
    // The archived month with the most stock movements (the generator's opening stock of the
    // stores that opened after the history began; earlier ones have no month of orders).
    let stocked: String = sqlx::query_scalar(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') FROM inventory_movements
         WHERE created_at >= date_trunc('month', (SELECT min(created_at) FROM orders))
           AND created_at < date_trunc('month', now()) - interval '24 months'
         GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("movements");
    let stocked_movements = month_movements(&pool, &stocked).await;
    assert!(!stocked_movements.starts_with("0:"), "{stocked_movements}");
    assert_ne!(stocked, old, "the test restores two different months");
    // An old order, its customer's history and a number, as served before archival.
    let (id, number, customer): (Uuid, String, Uuid) = sqlx::query_as(
        "SELECT id, order_number, customer_id FROM orders
         WHERE to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') = $1 ORDER BY id LIMIT 1",
    )
    .bind(&old)
    .fetch_one(&pool)
    .await
    .expect("an order 30 months old");
    let (status, served) = s
        .app
        .call(Method::GET, &format!("/orders/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{served}");
    let history_path = format!("/customers/{customer}/orders?limit=100");
    let (_, history) = s.app.call(Method::GET, &history_path, None).await;

    // Dry run: lists the 12 months past 24 and changes nothing.
    let dry = s.ims_ok(&["run", "--older-than", "24", "--dry-run"]);
    assert!(dry.contains(&old), "{dry}");
    assert!(manifest(&pool).await.is_empty());

    let out = s.ims_ok(&["run", "--older-than", "24"]);
    assert!(out.contains("month(s) archived"), "{out}");
    let months = manifest(&pool).await;
    assert!(months.len() >= 12, "{months:?}");
    assert!(
        months.iter().all(|(_, state)| state == "archived"),
        "{months:?}"
    );
    assert_eq!(
        totals(&pool).await,
        before,
        "archival lost or duplicated rows"
    );
    let partition: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(format!("orders_y{}", old.replace('-', "m")))
        .fetch_one(&pool)
        .await
        .expect("regclass");
    assert_eq!(partition, None, "the partition is dropped");
    assert!(s
        .archive_dir
        .join("orders")
        .join(format!("{old}.parquet"))
        .is_file());
    assert!(s
        .archive_dir
        .join("audit_log")
        .join(format!("{old}.parquet"))
        .is_file());
    // The command forgot the archived orders' cache entries under the configured key prefix;
    // the app under test has a prefix of its own, so the same function is called for it.
    forget(&s, &months).await;
    // A second run has nothing to do.
    let again = s.ims_ok(&["run", "--older-than", "24"]);
    assert!(again.contains("0 month(s) archived"), "{again}");

    // Readable, the same body with "archived": true.
    let mut expected = served.clone();
    expected["archived"] = json!(true);
    let (status, archived) = s
        .app
        .call(Method::GET, &format!("/orders/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived, expected);
    let (status, by_number) = s
        .app
        .call(Method::GET, &format!("/orders/number/{number}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{by_number}");
    assert_eq!(by_number, expected);
    let (status, history_after) = s.app.call(Method::GET, &history_path, None).await;
    assert_eq!(status, StatusCode::OK, "{history_after}");
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|o| o["id"].as_str().expect("id").to_owned())
            .collect()
    };
    assert_eq!(
        ids(&history_after),
        ids(&history),
        "the same history, in order"
    );
    let item = history_after["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|o| o["id"] == json!(id.to_string()))
        .expect("the archived order is in the history");
    assert_eq!(item["archived"], json!(true));
    // Unknown ids are still 404.
    let (status, _) = s
        .app
        .call(Method::GET, &format!("/orders/{}", Uuid::now_v7()), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Read-only: 409 with the problem shape.
    let (status, body) = s
        .app
        .call(
            Method::PATCH,
            &format!("/orders/{id}/status"),
            Some(json!({"status": "cancelled"})),
        )
        .await;
    testkit::assert_problem(status, &body, StatusCode::CONFLICT);
    assert!(
        body["detail"].as_str().unwrap_or("").contains("archived"),
        "{body}"
    );
    let (status, body) = s
        .app
        .call(
            Method::POST,
            &format!("/orders/{id}/payments"),
            Some(json!({"amount": 1, "method": "cash"})),
        )
        .await;
    testkit::assert_problem(status, &body, StatusCode::CONFLICT);

    // Verify passes; a damaged object fails it.
    let verified = s.ims_ok(&["verify"]);
    assert!(verified.contains("verified"), "{verified}");
    let newest = &months.last().expect("a month").0;
    let object = s
        .archive_dir
        .join("orders")
        .join(format!("{newest}.parquet"));
    let mut bytes = std::fs::read(&object).expect("object");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&object, &bytes).expect("damage");
    let failed = s.ims(&["verify", newest], None);
    assert!(
        !failed.status.success(),
        "verify must fail on a damaged object"
    );
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("SHA-256"),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    let failed = s.ims(&["restore", newest], None);
    assert!(
        !failed.status.success(),
        "restore must refuse a damaged object"
    );
    assert_eq!(
        manifest(&pool).await.last().map(|m| m.1.clone()),
        Some("archived".into())
    );

    // Restore: the month is back exactly, its movements too, and the stock still adds up.
    s.ims_ok(&["restore", &old]);
    forget(&s, &[(old.clone(), String::new())]).await;
    assert_eq!(month_fingerprint(&pool, &old).await, old_orders);
    assert_eq!(month_movements(&pool, &old).await, old_movements);
    assert_eq!(totals(&pool).await, before);
    let state = manifest(&pool).await;
    assert!(
        state.contains(&(old.clone(), "restored".into())),
        "{state:?}"
    );
    let (status, restored) = s
        .app
        .call(Method::GET, &format!("/orders/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(restored.get("archived").is_none(), "{restored}");
    // The month with movements: they leave the opening balances and come back exactly.
    assert_eq!(
        month_movements(&pool, &stocked).await,
        "0:d41d8cd98f00b204e9800998ecf8427e"
    );
    s.ims_ok(&["restore", &stocked]);
    assert_eq!(month_movements(&pool, &stocked).await, stocked_movements);
    assert_eq!(totals(&pool).await, before);
    // Restoring again is refused; a run leaves a restored month alone.
    assert!(!s.ims(&["restore", &old], None).status.success());
    s.ims_ok(&["run", "--older-than", "24"]);
    assert_eq!(month_fingerprint(&pool, &old).await, old_orders);
    let listed = s.ims_ok(&["list"]);
    assert!(
        listed.contains(&old) && listed.contains("restored"),
        "{listed}"
    );
    let _ = std::fs::remove_dir_all(&s.archive_dir);
}

#[tokio::test]
async fn a_run_killed_at_any_step_loses_and_duplicates_nothing() {
    let s = setup().await;
    let pool = s.pool().clone();
    let before = totals(&pool).await;
    let steps = [
        "exported", "writing", "object", "written", "dropped", "archived",
    ];
    // Each step archives one more month: the run with 30 archives months before 30 ago...
    for (i, step) in steps.iter().enumerate() {
        let older_than = (31 - i).to_string();
        let killed = s.ims(&["run", "--older-than", &older_than], Some(step));
        assert!(!killed.status.success(), "{step}: the run was not stopped");
        assert_eq!(
            totals(&pool).await,
            before,
            "{step}: killed, rows lost or doubled"
        );
        let out = s.ims_ok(&["run", "--older-than", &older_than]);
        assert!(out.contains("month(s) archived"), "{step}: {out}");
        assert_eq!(totals(&pool).await, before, "{step}: after the next run");
        let months = manifest(&pool).await;
        assert!(
            months.iter().all(|(_, state)| state == "archived"),
            "{step}: {months:?}"
        );
        let archived_keys = scalar(&pool, "SELECT count(*) FROM archived_orders").await;
        let in_manifest = scalar(
            &pool,
            "SELECT coalesce(sum(orders), 0)::bigint FROM archived_months",
        )
        .await;
        assert_eq!(archived_keys, in_manifest, "{step}");
    }
    s.ims_ok(&["verify"]);
    // A restore killed before its commit leaves the month archived; the next one restores it.
    let month = manifest(&pool).await.last().expect("a month").0.clone();
    let killed = s.ims(&["restore", &month], Some("restored"));
    assert!(!killed.status.success());
    assert_eq!(totals(&pool).await, before);
    assert!(manifest(&pool)
        .await
        .contains(&(month.clone(), "archived".into())));
    s.ims_ok(&["restore", &month]);
    assert_eq!(totals(&pool).await, before);
    assert!(manifest(&pool)
        .await
        .contains(&(month.clone(), "restored".into())));
    let _ = std::fs::remove_dir_all(&s.archive_dir);
}

#[tokio::test]
async fn the_daily_run_archives_and_is_counted_in_the_metrics() {
    let s = setup().await;
    let pool = s.pool().clone();
    let before = totals(&pool).await;
    let archive = archive::Archive::open(&s.archive_url()).expect("archive");
    let started = chrono::Utc::now().timestamp();
    // As the service's upkeep calls it once a day.
    ims::archive::daily(&s.app.db, &s.app.cache, &archive, 24).await;
    let months = manifest(&pool).await;
    assert!(months.len() >= 12, "{months:?}");
    assert_eq!(totals(&pool).await, before);
    ims::archive::daily(&s.app.db, &s.app.cache, &archive, 24).await;
    // Off: no run, nothing counted.
    ims::archive::daily(&s.app.db, &s.app.cache, &archive, 0).await;

    // The tests' apps share the process's one recorder and each refreshes the gauge from its
    // own database, so it is read until this app's value shows.
    let mut metrics = String::new();
    for _ in 0..40 {
        metrics = s.app.metrics_text().await;
        if sample(&metrics, "ims_archived_months") == Some(months.len() as f64) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(
        sample(&metrics, "ims_archive_runs_total{outcome=\"archived\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "ims_archive_runs_total{outcome=\"nothing\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "ims_archive_runs_total{outcome=\"failed\"}"),
        None
    );
    let last = sample(&metrics, "ims_archive_last_success_timestamp_seconds").expect("last");
    assert!(last >= started as f64, "{last} < {started}");
    assert_eq!(
        sample(&metrics, "ims_archived_months"),
        Some(months.len() as f64),
        "{metrics}"
    );
    // A store that cannot take the objects fails the run, and it is counted.
    let blocked = std::env::temp_dir().join(format!("ims-archive-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&blocked).expect("dir");
    std::fs::write(blocked.join("orders"), b"a file where a folder must go").expect("file");
    let unwritable =
        archive::Archive::open(&format!("file://{}", blocked.display())).expect("archive");
    ims::archive::daily(&s.app.db, &s.app.cache, &unwritable, 23).await;
    let metrics = s.app.metrics_text().await;
    assert_eq!(
        sample(&metrics, "ims_archive_runs_total{outcome=\"failed\"}"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(totals(&pool).await, before, "a failed run loses nothing");
    let _ = std::fs::remove_dir_all(&blocked);
    let _ = std::fs::remove_dir_all(&s.archive_dir);
}

/// The history loaded back into the cache after an order (in the background, from one read
/// for every cached scope) takes archived orders from the archive, in their place, as a
/// reader's miss does.
#[tokio::test]
async fn a_history_loaded_back_after_an_order_holds_its_archived_orders() {
    let s = setup().await;
    let pool = s.pool().clone();
    s.ims_ok(&["run", "--older-than", "24"]);
    forget(&s, &manifest(&pool).await).await;
    // A customer whose few orders are all archived.
    let customer: Uuid = sqlx::query_scalar(
        "SELECT customer_id FROM archived_orders
         WHERE customer_id NOT IN (SELECT customer_id FROM orders)
         GROUP BY 1 HAVING count(*) BETWEEN 2 AND 19 ORDER BY count(*) DESC, 1 LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("a customer with archived orders only");
    let path = format!("/customers/{customer}/orders");
    let (_, before) = read(&s.app, &s.app.admin_token, &path).await;
    let archived = before["items"].as_array().expect("items").clone();
    assert!(archived.len() >= 2, "{before}");
    assert!(
        archived.iter().all(|o| o["archived"] == json!(true)),
        "{before}"
    );

    let (store, product): (Uuid, Uuid) = sqlx::query_as(
        "SELECT i.store_id, i.product_id FROM inventory i
         JOIN products p ON p.id = i.product_id JOIN stores st ON st.id = i.store_id
         WHERE i.quantity > 0 AND p.status = 'active' AND st.status = 'active'
         ORDER BY 1, 2 LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("stock to sell");
    let (status, placed) = s
        .app
        .call(
            Method::POST,
            "/orders",
            Some(json!({
                "storeId": store,
                "customerId": customer,
                "items": [{"productId": product, "quantity": 1}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");

    // The write-back runs after the order's answer: wait for it to cache the page (a read
    // before then would load the page itself).
    let pages = wait_for_pages(&s.app, &format!("customer:{customer}:orders:recent"), 1).await;
    assert_eq!(pages.len(), 1, "the admin's page loaded back: {pages:?}");
    let (outcome, page) = read(&s.app, &s.app.admin_token, &path).await;
    assert_eq!(outcome, "hit", "{page}");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items[0]["id"], placed["id"], "the new order first: {page}");
    assert_eq!(&items[1..], &archived[..], "then the archived ones: {page}");
    assert!(page["nextCursor"].is_null(), "{page}");
}
