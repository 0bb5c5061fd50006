//! Routing, consistency tokens and retries (crates/api/src/failover.rs) on the test PostgreSQL
//! seen as a two-host "cluster": the same server under two names, so the service follows it as
//! it would a real one. Node failures themselves are in the cluster's tests (tests/it/ha*.rs).

use std::time::Duration;

use crate::support::ops::*;
use reqwest::{Method, StatusCode};
use sqlx::{Connection, Executor, PgConnection};
use testkit::{id_of, TestApp};

/// The service on a fresh database reached as `127.0.0.1` and as `localhost`.
async fn app_on_two_names() -> TestApp {
    let name = testkit::fresh_database().await.expect("fresh database");
    let admin = testkit::admin_options().database(&name);
    let hosts = vec![admin.clone(), admin.clone().host("localhost")];
    let db = storage::Db::connect(&storage::DbConfig {
        min_connections: 0,
        max_connections: 10,
        primary_hosts: hosts.clone(),
        read: Some(admin.clone()),
        read_hosts: hosts,
        ..storage::DbConfig::new(admin)
    });
    let redis = std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL (run scripts/test)");
    let app = TestApp::spawn_on(testkit::settings(), db, name, redis).await;
    // The follower's first round has found the primary.
    for _ in 0..50 {
        if app.db.topology().is_some_and(|t| t.primary.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app
}

async fn admin_connection() -> PgConnection {
    PgConnection::connect_with(&testkit::admin_options().database("postgres"))
        .await
        .expect("admin connection")
}

#[tokio::test]
async fn writes_carry_a_consistency_token_that_reads_may_send_back() {
    let app = app_on_two_names().await;
    let before: i64 = sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8")
        .fetch_one(app.db.primary())
        .await
        .expect("lsn");
    let response = app
        .request(Method::POST, "/stores", Some(&app.admin_token))
        .json(&serde_json::json!({"code": "TOK01", "name": "Token Store", "city": "Pune", "phone": "+912000000001"}))
        .send()
        .await
        .expect("create store");
    assert_eq!(response.status(), StatusCode::CREATED);
    let token = response
        .headers()
        .get("x-consistency-token")
        .expect("a write returns a consistency token")
        .to_str()
        .expect("ascii")
        .to_owned();
    let lsn = storage::routing::parse_lsn(&token).expect("the token is a WAL position");
    assert!(lsn >= before as u64, "{token} is before the write");
    let store: serde_json::Value = response.json().await.expect("json");

    let read = app
        .request(
            Method::GET,
            &format!("/stores/{}", id_of(&store)),
            Some(&app.admin_token),
        )
        .header("x-consistency-token", &token)
        .send()
        .await
        .expect("read with the token");
    assert_eq!(
        read.status(),
        StatusCode::OK,
        "the write is visible with its token"
    );
    assert!(
        read.headers().get("x-consistency-token").is_none(),
        "reads carry no token"
    );

    for bad in ["yesterday", "1/2/3", "", "FFFFFFFFF/0"] {
        let refused = app
            .request(Method::GET, "/stores", Some(&app.admin_token))
            .header("x-consistency-token", bad)
            .send()
            .await
            .expect("read with a bad token");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "token {bad:?}");
        let body: serde_json::Value = refused.json().await.expect("problem");
        assert!(body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("X-Consistency-Token"));
    }
}

/// Sends `request` while the database refuses writes, as a primary being demoted does: the
/// service's sessions are ended and start again read-only, so the first attempt fails with
/// 25006; once the request waits for a primary, the database takes writes again. Returns the
/// answer and whether the request was seen waiting.
async fn across_a_demotion(
    app: &TestApp,
    request: reqwest::RequestBuilder,
) -> (reqwest::Response, bool) {
    let mut admin = admin_connection().await;
    let db = &app.database_name;
    let read_only =
        |on: bool| format!(r#"ALTER DATABASE "{db}" SET default_transaction_read_only = {on}"#);
    // New sessions of the service (its pools and its follower) start read-only: end the open
    // ones, as a reload of ALTER SYSTEM would turn them read-only on a node being demoted.
    admin
        .execute(read_only(true).as_str())
        .await
        .expect("read-only");
    let end_sessions = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '{db}' AND application_name LIKE 'ims%'"
    );
    admin
        .execute(end_sessions.as_str())
        .await
        .expect("end sessions");
    let sending = tokio::spawn(request.timeout(Duration::from_secs(30)).send());
    // The first attempt failed and the request waits for a primary that takes writes.
    let mut waited = false;
    // (The pool first spends its acquire timeout refusing read-only connections.)
    for _ in 0..500 {
        if app.metric("ims_db_requests_awaiting_primary").await >= 1.0 {
            waited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admin
        .execute(read_only(false).as_str())
        .await
        .expect("writable");
    admin
        .execute(end_sessions.as_str())
        .await
        .expect("end sessions");
    (sending.await.expect("task").expect("answer"), waited)
}

/// A primary that turns read-only under a write (as a demoted one does) fails the first
/// attempt with 25006; the order is placed once, by the retry, after the node takes writes
/// again. A job's move, an order's status change and a product's update are keyed by the
/// service the same way and made once; a store's update, which sets values, is run again.
#[tokio::test]
async fn a_keyed_write_is_retried_once_the_primary_takes_writes_again() {
    let app = app_on_two_names().await;
    let store = app.create_store("RTY01").await;
    let category = app.create_category("Frames").await;
    let frame = product(&app, category, "RTY-FRAME", 1_000).await;
    stock_in(&app, store, frame, 10).await;
    let customer_id = id_of(&customer(&app, "Ravi Kumar", "+91 98111 22334").await);

    let order = order_body(store, customer_id, &[(frame, 2)]);
    let placing = app
        .request(Method::POST, "/orders", Some(&app.admin_token))
        .json(&order);
    let (response, waited) = across_a_demotion(&app, placing).await;
    assert!(
        waited,
        "the first attempt failed and waited for the primary"
    );
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        response.headers().get("idempotent-replayed").is_none(),
        "the service's own key is not the client's replay"
    );
    let order: serde_json::Value = response.json().await.expect("order");
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(app.db.primary())
        .await
        .expect("count");
    assert_eq!(orders, 1, "placed exactly once");
    assert_eq!(stock_quantity(&app, store, frame).await, 8);
    assert!(app.metric("ims_db_retries_total{kind=\"write\"}").await >= 1.0);

    let (status, job) = app
        .call(
            Method::POST,
            "/workshop/jobs",
            Some(serde_json::json!({ "orderId": id_of(&order), "priority": "normal" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    // Updates: three keyed by the service, a store's rename run again without a key.
    // (path, body, the field the answer shows changed and its value)
    let updates = [
        (
            format!("/workshop/jobs/{}/status", id_of(&job)),
            serde_json::json!({ "status": "in_progress", "note": "" }),
            ("status", serde_json::json!("in_progress")),
        ),
        (
            format!("/orders/{}/status", id_of(&order)),
            serde_json::json!({ "status": "confirmed" }),
            ("status", serde_json::json!("confirmed")),
        ),
        (
            format!("/products/{frame}"),
            serde_json::json!({ "price": 1_500 }),
            ("price", serde_json::json!(1_500)),
        ),
        (
            format!("/stores/{store}"),
            serde_json::json!({ "name": "Renamed" }),
            ("name", serde_json::json!("Renamed")),
        ),
    ];
    for (path, body, (field, value)) in updates {
        let updating = app
            .request(Method::PATCH, &path, Some(&app.admin_token))
            .json(&body);
        let (response, waited) = across_a_demotion(&app, updating).await;
        assert!(waited, "{path}: the first attempt failed and waited");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path}: retried, not a 503"
        );
        assert!(response.headers().get("idempotent-replayed").is_none());
        let answer: serde_json::Value = response.json().await.expect("answer");
        assert_eq!(answer[field], value, "{path}: {answer}");
    }
    let changes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workshop_job_history WHERE job_id = $1")
            .bind(id_of(&job))
            .fetch_one(app.db.primary())
            .await
            .expect("history");
    assert_eq!(changes, 2, "queued, then moved once");
    assert!(app.metric("ims_db_retries_total{kind=\"write\"}").await >= 5.0);
}

/// A login claims no key and sets nothing it could set again (it makes a session), so it is
/// not retried: the client gets 503 at once, and no session was made.
#[tokio::test]
async fn an_unkeyed_write_is_not_retried_and_changes_nothing() {
    let app = app_on_two_names().await;
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions")
            .fetch_one(app.db.primary())
            .await
            .expect("sessions")
    };
    let before = sessions().await;
    let mut admin = admin_connection().await;
    let db = &app.database_name;
    admin
        .execute(
            format!(r#"ALTER DATABASE "{db}" SET default_transaction_read_only = true"#).as_str(),
        )
        .await
        .expect("read-only");
    admin
        .execute(
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = '{db}' AND application_name LIKE 'ims%'"
            )
            .as_str(),
        )
        .await
        .expect("end sessions");
    let response = app
        .request(Method::POST, "/auth/login", None)
        .json(&serde_json::json!({ "login": "admin", "password": testkit::ADMIN_PASSWORD }))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());
    admin
        .execute(format!(r#"ALTER DATABASE "{db}" RESET default_transaction_read_only"#).as_str())
        .await
        .expect("writable");
    assert_eq!(sessions().await, before, "no session was made");
    assert_eq!(
        app.metric("ims_db_retries_total{kind=\"write\"}").await,
        0.0
    );
}

/// Whether the app's cache holds `key` now, seen in Redis directly.
async fn cached(app: &TestApp, key: &str) -> bool {
    let mut conn = crate::support::redis::test_redis().await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(cache::keys::redis_name(
            &format!("{}:", app.database_name),
            key,
        ))
        .query_async(&mut conn)
        .await
        .expect("EXISTS");
    exists == 1
}

/// With reads on standbys a value cached right after a write may be the standby's old one, so
/// the write forgets its keys again once the stale-read window has passed; on one host, where
/// reads see every commit, what a read cached after the write stays.
#[tokio::test]
async fn with_reads_on_standbys_a_write_forgets_its_keys_again_after_the_stale_read_window() {
    for on_cluster in [true, false] {
        let app = if on_cluster {
            app_on_two_names().await
        } else {
            TestApp::spawn().await
        };
        let category = app.create_category("Frames").await;
        let frame = product(&app, category, "WIN-FRAME", 1_000).await;
        let path = format!("/products/{frame}");
        let (status, _) = app
            .call(
                Method::PATCH,
                &path,
                Some(serde_json::json!({ "price": 1_200 })),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = app.call(Method::GET, &path, None).await;
        assert_eq!(
            (status, body["price"].as_i64()),
            (StatusCode::OK, Some(1_200))
        );
        let key = format!("product:{frame}");
        assert!(cached(&app, &key).await, "the read cached the product");

        let window = app.db.stale_read_window();
        assert_eq!(window.is_some(), on_cluster);
        tokio::time::sleep(window.unwrap_or(Duration::from_secs(2)) + Duration::from_millis(500))
            .await;
        assert_eq!(
            cached(&app, &key).await,
            !on_cluster,
            "cluster: forgotten again after the window; one host: kept"
        );
    }
}
