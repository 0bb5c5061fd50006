//! The service's own rate limit, without the gateway: 429 problems with Retry-After, clients
//! keyed by user or address, and `X-Forwarded-For` believed only from trusted proxies.

use reqwest::{Method, StatusCode};
use testkit::{assert_problem, send, TestApp};

fn settings(per_second: u32, burst: u32, trusted: &[&str]) -> api::Settings {
    let mut settings = testkit::settings();
    settings.tuning.rate_limit = cache::Rate::new(per_second, burst);
    settings.tuning.trusted_proxies = trusted
        .iter()
        .map(|t| t.parse().expect("a network"))
        .collect();
    settings
}

/// Sends `n` anonymous GET /stores with `forwarded_for` and counts the 429s.
async fn refused(app: &TestApp, n: usize, forwarded_for: &str) -> usize {
    let mut refused = 0;
    for _ in 0..n {
        let response = app
            .request(Method::GET, "/stores", None)
            .header("x-forwarded-for", forwarded_for)
            .send()
            .await
            .expect("sent");
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    refused
}

#[tokio::test]
async fn beyond_the_burst_is_a_429_problem_with_retry_after() {
    // Bursts of 3 at 1/s: the 4th to 6th request would need seconds to pass to be allowed.
    let app = TestApp::spawn_with(settings(1, 3, &[])).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = app
            .request(Method::GET, "/stores", None)
            .send()
            .await
            .expect("sent");
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry = response.headers()["retry-after"]
                .to_str()
                .expect("ascii")
                .to_owned();
            assert!(retry.parse::<u64>().expect("seconds") >= 1);
            assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
            let body = response.json().await.expect("json");
            assert_problem(
                StatusCode::TOO_MANY_REQUESTS,
                &body,
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
    }
    // The admin's login at start-up went to the login limit, not this one.
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert!(
        statuses[3..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // A token's user is a client of its own; health checks are never limited.
    let (status, _) = app.call(Method::GET, "/stores", None).await;
    assert_eq!(status, StatusCode::OK);
    let health = app
        .client
        .get(format!("{}/health/live", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
    assert!(health.headers().get("x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // Untrusted peer: the header is ignored, every request is the peer's.
    let app = TestApp::spawn_with(settings(1, 3, &[])).await;
    let spoofed = refused(&app, 3, "10.0.0.1").await + refused(&app, 3, "10.0.0.2").await;
    assert!(spoofed >= 1, "six requests of one client, burst 3");

    // Trusted peer (the tests' loopback): each forwarded address has its own bucket.
    let app = TestApp::spawn_with(settings(1, 3, &["127.0.0.0/8"])).await;
    assert_eq!(refused(&app, 3, "10.0.0.1").await, 0);
    assert_eq!(refused(&app, 3, "10.0.0.2").await, 0);
    assert!(refused(&app, 3, "10.0.0.1").await >= 1);
    // A client's own entries left of the proxy's are not believed: the rightmost untrusted
    // address is the client.
    assert!(refused(&app, 3, "10.0.0.9, 10.0.0.2").await >= 1);
}

#[tokio::test]
async fn login_has_its_own_stricter_limit() {
    let mut settings = testkit::settings();
    settings.tuning.login_rate_limit = cache::Rate::new(1, 3);
    let app = TestApp::spawn_with(settings).await;
    // The admin's login at start-up took one of the three.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, _) = send(
            app.request(Method::POST, "/auth/login", None)
                .json(&serde_json::json!({"login": "admin", "password": "wrong-password-1"})),
        )
        .await;
        statuses.push(status);
    }
    assert_eq!(statuses[..2], [StatusCode::UNAUTHORIZED; 2]);
    assert!(
        statuses[2..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let (status, _) = app.call(Method::GET, "/stores", None).await;
    assert_eq!(status, StatusCode::OK);
}

/// A read runs beside its step of the limit, but beyond the limit a client's reads do no
/// work: once refused, its next reads wait for the step and stop at the 429 (the cache's
/// counters, which every run of the handler moves, stand still).
#[tokio::test]
async fn a_refused_client_s_reads_run_no_handler() {
    let app = TestApp::spawn_with(settings(1, 3, &[])).await;
    let path = "/products/bestsellers";
    let handled = || {
        app.cache
            .stats()
            .snapshot()
            .into_iter()
            .find(|t| t.kind == cache::CacheType::Products)
            .map_or(0, |t| t.hits + t.misses + t.bypasses)
    };
    for _ in 0..3 {
        assert_eq!(app.call(Method::GET, path, None).await.0, StatusCode::OK);
    }
    assert_eq!(handled(), 3, "each allowed read ran its handler");
    // The first refusal: its read may have run beside the step.
    assert_eq!(
        app.call(Method::GET, path, None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let mut baseline = handled();
    assert!(baseline <= 4, "{baseline}");
    let mut still = 0;
    for _ in 0..5 {
        let (status, _) = app.call(Method::GET, path, None).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(handled(), baseline, "a refused read ran its handler");
            still += 1;
        } else {
            // A second passed (a slow machine) and a token came back: allowed, and run.
            assert_eq!(status, StatusCode::OK);
            baseline = handled();
        }
    }
    assert!(still >= 3, "{still} of 5 reads refused");
}
