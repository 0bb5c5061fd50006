//! A short run of the tool against the real service on a tiny generated chain, in both load
//! models, so the tool cannot rot: every operation of the mix must be answered without
//! errors and show up in the report. Timings are never asserted.

use std::time::Duration;

use bench::{Mix, Model, Report, RunOptions, Scenario};

/// The tiny chain: one store, a couple of hundred products, a few thousand orders.
const SCALE: f64 = 0.002;

fn options(url: &str, database_url: Option<String>, model: Model) -> RunOptions {
    RunOptions {
        label: "smoke".into(),
        url: url.into(),
        database_url,
        model,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(2),
        mix: Mix::default(),
        scenario: Scenario::Default,
        shift: Duration::from_secs(8 * 3600),
        login_window: Duration::from_secs(600),
        login: "admin01".into(),
        password: seed::generator::STAFF_PASSWORD.into(),
        timeout: Duration::from_secs(20),
        source_addresses: 4,
        seed: 7,
        progress: false,
        redis_port: None,
    }
}

fn check(report: &Report) {
    assert!(report.overall.requests > 0, "no requests: {report:#?}");
    let failing: Vec<(&str, &std::collections::BTreeMap<String, u64>)> = report
        .endpoints
        .iter()
        .filter(|r| r.errors > 0)
        .map(|r| (r.name.as_str(), &r.errors_by_status))
        .collect();
    assert_eq!(report.overall.errors, 0, "errors: {failing:?}");
    assert!(report.overall.p50_ms > 0.0 && report.overall.p99_ms >= report.overall.p50_ms);
    assert!(!report.endpoints.is_empty());
    for row in &report.endpoints {
        assert!(row.requests > 0 && row.p50_ms > 0.0, "{row:?}");
    }
    let names: Vec<&str> = report.endpoints.iter().map(|r| r.name.as_str()).collect();
    for read in ["browse_category", "product_by_sku", "stock"] {
        assert!(names.contains(&read), "{read} missing from {names:?}");
    }
    assert!(report.connections.max_held > 0);
    assert!(!report.timeline.is_empty());
    let markdown = bench::report::text::markdown(report);
    assert!(markdown.contains("| **all** |"), "{markdown}");
    // The service's own counters, read from its /metrics at the window's edges.
    let types = report
        .cache
        .by_cache_type
        .as_ref()
        .unwrap_or_else(|| panic!("no hit rates by cache type: {:?}", report.notes));
    let users = types
        .iter()
        .find(|t| t.cache_type == "users")
        .unwrap_or_else(|| panic!("users in {types:?}"));
    assert!(
        users.hits + users.misses > 0,
        "every authenticated request reads its session: {types:?}"
    );
    assert!(markdown.contains("cache by type"), "{markdown}");
    assert!(bench::report::svg::chart(report).starts_with("<svg"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_in_both_models_answers_every_operation_without_errors() {
    let app = testkit::TestApp::spawn().await;
    let mut options_gen = seed::generator::Options::new(SCALE, 42);
    // The test app's own admin exists already; the generator replaces the accounts.
    options_gen.force = true;
    seed::generator::generate(app.db.primary(), &options_gen)
        .await
        .expect("tiny chain generated");
    let database_url = {
        let admin = std::env::var("IMS_TEST_DATABASE_URL").expect("run with scripts/test");
        let mut url = reqwest::Url::parse(&admin).expect("URL");
        url.set_path(&app.database_name);
        url.to_string()
    };

    // Closed model, ids from the database (and its statistics read), each user with its
    // own session: 16 users are enough for the role spread to include a manager (user 8).
    let closed = options(
        &app.address,
        Some(database_url),
        Model::Closed {
            users: 16,
            think_ms: 0,
        },
    );
    let report = bench::run(&closed).await.expect("closed run");
    check(&report);
    assert_eq!(report.connections.min_held, 16);
    assert!(report.db.is_some());
    // The database's backends sampled through the window (the first sample is taken at
    // once, so a window has at least one), and the report says what they waited for.
    let waits = report.db_waits.as_ref().expect("waits sampled");
    assert!(waits.samples > 0, "{waits:?}");
    let shares: f64 = waits.by_kind.values().sum();
    assert!(
        waits.by_kind.is_empty() || (shares - 1.0).abs() < 1e-9,
        "{waits:?}"
    );
    assert!(
        bench::report::text::terminal(&report).contains("database backends, sampled"),
        "{}",
        bench::report::text::terminal(&report)
    );
    // Writes of the mix went through too.
    for write in ["place_order", "adjust_stock"] {
        assert!(
            report.endpoints.iter().any(|r| r.name == write),
            "{write} not sent"
        );
    }

    // Open model, ids from the API only (as against a remote deployment), in the
    // login-heavy scenario: shared store sessions and logins in the mix.
    let mut open = options(
        &app.address,
        None,
        Model::Open {
            rate: 100.0,
            connections: 16,
        },
    );
    open.scenario = Scenario::LoginHeavy;
    open.mix = Mix::login_heavy();
    let report = bench::run(&open).await.expect("open run");
    check(&report);
    assert!(report.db.is_none());
    assert!(report.db_waits.is_none());
    let dir = std::env::temp_dir().join(format!("ims-bench-smoke-{}", app.database_name));
    report.write(&dir, "report").expect("reports written");
    for file in ["report.json", "report.md", "report.svg"] {
        assert!(dir.join(file).exists(), "{file}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
