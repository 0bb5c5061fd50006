//! `GET /metrics`: every family operators and the alert rules rely on, with real values.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::TestApp;

/// The metric families of docs/monitoring.md and deploy/prometheus/alerts.yml.
const FAMILIES: &[&str] = &[
    "ims_http_requests_total",
    "ims_http_request_duration_seconds_bucket",
    "ims_http_requests_in_flight",
    "ims_cache_requests_total",
    "ims_cache_errors_total",
    "ims_cache_bypassed",
    "ims_redis_command_duration_seconds_bucket",
    "ims_redis_memory_used_bytes",
    "ims_redis_memory_max_bytes",
    "ims_redis_evicted_keys_total",
    "ims_db_pool_connections",
    "ims_db_pool_max_connections",
    "ims_db_pool_waiting",
    "ims_db_query_duration_seconds_bucket",
    "ims_db_index_scans_total",
    "ims_db_seq_scans_total",
    "ims_db_buffer_hit_ratio",
    "ims_db_wal_bytes_total",
    "ims_ready",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
];

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain")));
    response.text().await.expect("body")
}

/// The value of the first sample whose line starts with `prefix`.
fn sample(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn every_family_is_exported_with_real_values_after_some_traffic() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Frames").await;
    let product = app
        .create_product("MX-001", "Metric Frame", category, 100_000)
        .await;
    let id = product["id"].as_str().expect("id");
    for _ in 0..3 {
        let (status, _) = app
            .call(Method::GET, &format!("/products/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app
        .call(
            Method::GET,
            "/products/00000000-0000-0000-0000-000000000000",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Database and Redis figures arrive with the refresher; wait for them (bounded).
    let mut body = String::new();
    for _ in 0..40 {
        body = scrape(&app).await;
        if FAMILIES.iter().all(|f| body.contains(f)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let missing: Vec<&&str> = FAMILIES.iter().filter(|f| !body.contains(**f)).collect();
    assert!(
        missing.is_empty(),
        "missing families {missing:?} in:\n{body}"
    );

    // Labelled by route template, never by the raw path with its id.
    assert!(body.contains(r#"route="/api/v1/products/{id}""#), "{body}");
    assert!(!body.contains(id), "a product id leaked into a label");
    let ok = sample(
        &body,
        r#"ims_http_requests_total{method="GET",route="/api/v1/products/{id}",status="200"}"#,
    );
    assert_eq!(ok, Some(3.0));
    assert_eq!(
        sample(
            &body,
            r#"ims_http_requests_total{method="GET",route="/api/v1/products/{id}",status="404"}"#
        ),
        Some(1.0)
    );
    // The cache counted one miss and two hits of the product.
    assert_eq!(
        sample(
            &body,
            r#"ims_cache_requests_total{cache_type="products",outcome="hit"}"#
        ),
        Some(2.0)
    );
    assert!(
        sample(
            &body,
            r#"ims_cache_requests_total{cache_type="products",outcome="miss"}"#
        ) >= Some(2.0)
    );
    assert_eq!(sample(&body, "ims_ready"), Some(1.0));
    assert!(sample(&body, "ims_db_wal_bytes_total") > Some(0.0));
    assert!(sample(&body, "ims_redis_memory_used_bytes") > Some(0.0));
    let ratio = sample(&body, "ims_db_buffer_hit_ratio").expect("ratio");
    assert!((0.0..=1.0).contains(&ratio));
    assert!(
        body.contains(r#"ims_db_index_scans_total{table="products"}"#),
        "{body}"
    );
    assert!(
        body.contains(r#"ims_db_query_duration_seconds_bucket{query="products.by_id""#),
        "{body}"
    );
}

#[tokio::test]
async fn metrics_need_no_token_and_carry_no_secrets() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .call(
            Method::POST,
            "/customers",
            Some(json!({"name": "Secret Person", "phone": "+919800000009"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let body = scrape(&app).await;
    assert!(!body.contains(&app.admin_token));
    assert!(!body.contains("Secret Person"));
    assert!(!body.contains("919800000009"));
}
