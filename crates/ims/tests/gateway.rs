//! Through the gateway: nginx from `deploy/nginx/nginx.conf.template` in front of two
//! `ims serve` processes sharing one database and one Redis. The rate limit is exact over
//! both instances, login is limited harder, a Redis outage falls back to per-instance limits,
//! the catalogue is cached (and nothing authenticated is), and a killed instance fails no
//! read and no keyed write. All of it over TLS (`gateway_tls.rs` tests the TLS itself).

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::gateway::{Gateway, GatewayOptions};
use testkit::{id_of, send};

async fn start(options: GatewayOptions) -> Gateway {
    Gateway::start(Path::new(env!("CARGO_BIN_EXE_ims")), options).await
}

/// Sends `total` requests made by `make`, `concurrency` at a time, and returns each
/// response's status and headers, and how long it all took.
async fn burst<F>(
    total: usize,
    concurrency: usize,
    make: F,
) -> (Vec<(StatusCode, reqwest::header::HeaderMap)>, f64)
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (make, next) = (make.clone(), next.clone());
        workers.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return out;
                }
                let response = make(i).send().await.expect("request sent");
                let status = response.status();
                let headers = response.headers().clone();
                let _ = response.bytes().await;
                out.push((status, headers));
            }
        });
    }
    let mut results = Vec::new();
    while let Some(done) = workers.join_next().await {
        results.extend(done.expect("worker"));
    }
    (results, started.elapsed().as_secs_f64())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// How many requests a bucket of `burst` at `rate`/s lets through in `elapsed` seconds: the
/// burst, what the rate refills meanwhile, and one for the rounding of the clock.
fn allowed_at_most(rate: u32, burst: u32, elapsed: f64) -> usize {
    burst as usize + (f64::from(rate) * elapsed).ceil() as usize + 1
}

/// The upstream address of every request the gateway logged for `path`.
fn upstreams_of(gateway: &Gateway, path: &str) -> HashSet<String> {
    gateway
        .access_log()
        .iter()
        .filter(|l| l["path"] == path)
        .filter_map(|l| l["upstream_addr"].as_str().map(str::to_owned))
        .filter(|a| !a.is_empty())
        .collect()
}

#[tokio::test]
async fn the_limit_holds_summed_over_two_instances() {
    let (rate, burst_size) = (20, 100);
    let gateway = start(GatewayOptions {
        rate: (rate, burst_size),
        ..GatewayOptions::default()
    })
    .await;
    let (client, url, token) = (
        gateway.client.clone(),
        format!("{}/api/v1/stores", gateway.address),
        gateway.admin_token.clone(),
    );
    let (results, elapsed) = burst(300, 16, move |_| client.get(&url).bearer_auth(&token)).await;
    let passed = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    let refused: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(passed + refused.len(), 300, "only 200s and 429s");
    assert!(
        passed >= burst_size as usize,
        "the burst passes: {passed} passed"
    );
    assert!(
        passed <= allowed_at_most(rate, burst_size, elapsed),
        "{passed} of 300 passed in {elapsed:.2} s: more than one bucket of {burst_size} at {rate}/s allows"
    );
    for (_, headers) in &refused {
        let retry: u64 = header(headers, "retry-after")
            .and_then(|v| v.parse().ok())
            .expect("429 has Retry-After");
        assert!(retry >= 1);
        assert_eq!(header(headers, "x-ratelimit-remaining"), Some("0"));
        assert_eq!(
            header(headers, "content-type"),
            Some("application/problem+json")
        );
    }
    // Both instances answered: the count is shared, not per instance.
    assert_eq!(upstreams_of(&gateway, "/api/v1/stores").len(), 2);
}

#[tokio::test]
async fn every_answer_carries_the_limit_and_clients_are_counted_apart() {
    let gateway = start(GatewayOptions {
        rate: (1, 30),
        ..GatewayOptions::default()
    })
    .await;
    let anonymous = || gateway.request(Method::GET, "/stores", None);
    let first = anonymous().send().await.expect("sent");
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let h = first.headers();
    assert_eq!(header(h, "x-ratelimit-limit"), Some("30"));
    assert_eq!(header(h, "x-ratelimit-remaining"), Some("29"));
    assert!(header(h, "x-ratelimit-reset").is_some());
    assert_eq!(header(h, "ratelimit-policy"), Some("\"api\";q=30;w=30"));
    assert_eq!(header(h, "ratelimit"), Some("\"api\";r=29;t=1"));
    let second = anonymous().send().await.expect("sent");
    assert_eq!(
        header(second.headers(), "x-ratelimit-remaining"),
        Some("28")
    );
    // The address spends its burst...
    let (client, url) = (
        gateway.client.clone(),
        format!("{}/api/v1/stores", gateway.address),
    );
    let (results, _) = burst(60, 8, move |_| client.get(&url)).await;
    assert!(results
        .iter()
        .any(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS));
    // ...while the admin from the same address is a client of its own.
    let (status, body) = gateway.call(Method::GET, "/stores", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn login_is_limited_harder_per_address() {
    let (rate, burst_size) = (1, 5);
    let gateway = start(GatewayOptions {
        rate: (1000, 1000),
        login_rate: (rate, burst_size),
        ..GatewayOptions::default()
    })
    .await;
    // Starting the stack logged the admin in once.
    let (client, url) = (
        gateway.client.clone(),
        format!("{}/api/v1/auth/login", gateway.address),
    );
    let (results, elapsed) = burst(20, 4, move |i| {
        client
            .post(&url)
            .json(&json!({"login": format!("nobody{i}"), "password": "wrong-password-1"}))
    })
    .await;
    let refused = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let passed = results.len() - refused;
    assert!(
        passed < allowed_at_most(rate, burst_size, elapsed),
        "{passed} logins passed in {elapsed:.2} s"
    );
    assert!(results
        .iter()
        .all(|(s, _)| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS));
    let (_, headers) = results
        .iter()
        .find(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .expect("a refused login");
    assert_eq!(
        header(headers, "ratelimit-policy"),
        Some("\"login\";q=5;w=5")
    );
    // The general limit is not the login's: other requests still pass.
    let (status, _) = gateway.call(Method::GET, "/stores", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_flood_shield_answers_for_nginx_with_a_problem() {
    // A shield set far below the service's limit, so nginx is the one that refuses.
    let gateway = start(GatewayOptions {
        flood: (1, 5, 512),
        ..GatewayOptions::default()
    })
    .await;
    let (client, url) = (
        gateway.client.clone(),
        format!("{}/api/v1/stores", gateway.address),
    );
    let (results, _) = burst(40, 4, move |_| client.get(&url)).await;
    let (_, headers) = results
        .iter()
        .find(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .expect("nginx refused some");
    assert_eq!(header(headers, "retry-after"), Some("1"));
    assert_eq!(
        header(headers, "content-type"),
        Some("application/problem+json")
    );
    // The service never saw it, so it carries no per-client figures.
    assert!(headers.get("x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn without_redis_each_instance_limits_alone() {
    let (rate, burst_size) = (1, 20);
    let mut gateway = start(GatewayOptions {
        rate: (rate, burst_size),
        ..GatewayOptions::default()
    })
    .await;
    gateway.redis.stop();
    let (client, url) = (
        gateway.client.clone(),
        format!("{}/api/v1/stores", gateway.address),
    );
    let (results, elapsed) = burst(150, 8, move |_| client.get(&url)).await;
    let passed = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(passed + refused, 150, "no errors while Redis is down");
    assert!(refused > 0, "still limited");
    assert!(
        passed <= 2 * allowed_at_most(rate, burst_size, elapsed),
        "{passed} passed: more than two instances' own buckets allow"
    );
    assert!(results
        .iter()
        .all(|(_, h)| h.contains_key("x-ratelimit-remaining")));
}

#[tokio::test]
async fn the_catalogue_is_cached_and_nothing_authenticated_is() {
    let mut gateway = start(GatewayOptions::default()).await;
    let (status, body) = gateway
        .call(Method::POST, "/categories", Some(json!({"name": "Frames"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let get = |token: Option<&str>| {
        gateway
            .request(Method::GET, "/catalog/categories", token)
            .send()
    };
    let first = get(None).await.expect("sent");
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(first.headers(), "x-cache-status"), Some("MISS"));
    assert_eq!(
        header(first.headers(), "cache-control"),
        Some("public, max-age=300")
    );
    let second = get(None).await.expect("sent");
    assert_eq!(header(second.headers(), "x-cache-status"), Some("HIT"));
    // A stored answer carries neither the rate-limit figures nor the X-Cache of the request
    // that filled it.
    for name in ["x-ratelimit-remaining", "ratelimit", "x-cache"] {
        assert!(
            second.headers().get(name).is_none(),
            "{name} on a stored answer"
        );
    }
    // A stored answer does not replay the request id of the request that filled it.
    let own_id = second
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert!(own_id.is_some());
    assert_ne!(own_id.as_deref(), header(first.headers(), "x-request-id"));
    let body: Value = second.json().await.expect("json");
    assert_eq!(body["items"][0]["name"], "Frames");
    // With a token the cache is neither read nor filled.
    let token = gateway.admin_token.clone();
    for _ in 0..2 {
        let with_token = get(Some(&token)).await.expect("sent");
        assert_eq!(
            header(with_token.headers(), "x-cache-status"),
            Some("BYPASS")
        );
    }
    // Authenticated routes never pass through the cache at all.
    for _ in 0..2 {
        let stores = gateway
            .request(Method::GET, "/stores", Some(&token))
            .send()
            .await
            .expect("sent");
        assert_eq!(stores.status(), StatusCode::OK);
        assert!(stores.headers().get("x-cache-status").is_none());
    }
    // gzip for JSON that is worth compressing.
    let gzipped = gateway
        .request(Method::GET, "/openapi.json", None)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("sent");
    assert_eq!(header(gzipped.headers(), "content-encoding"), Some("gzip"));

    // With every instance down the stored catalogue is still served; anything else is a
    // 503 problem from the gateway.
    gateway.kill_instance(0);
    gateway.kill_instance(1);
    let cached = gateway
        .request(Method::GET, "/catalog/categories", None)
        .send()
        .await
        .expect("sent");
    assert_eq!(cached.status(), StatusCode::OK);
    assert_eq!(header(cached.headers(), "x-cache-status"), Some("HIT"));
    let (status, body) = send(gateway.request(Method::GET, "/stores", Some(&token))).await;
    testkit::assert_problem(status, &body, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn request_ids_pass_through_and_large_bodies_are_refused() {
    let gateway = start(GatewayOptions::default()).await;
    let response = gateway
        .request(Method::GET, "/stores", Some(&gateway.admin_token))
        .header("x-request-id", "till-7-request-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        header(response.headers(), "x-request-id"),
        Some("till-7-request-42")
    );
    // nginx writes the line after the answer has gone out.
    let mut logged = None;
    for _ in 0..100 {
        logged = gateway
            .access_log()
            .into_iter()
            .find(|l| l["request_id"] == "till-7-request-42");
        if logged.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let logged = logged.expect("the id is in the access log");
    assert!(logged["upstream_response_time"].as_str().is_some());
    let (status, body) = send(
        gateway
            .request(Method::POST, "/customers", Some(&gateway.admin_token))
            .header("content-type", "application/json")
            .body(vec![b' '; 1024 * 1024 + 1]),
    )
    .await;
    testkit::assert_problem(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_killed_instance_fails_no_read_and_no_keyed_write() {
    let mut gateway = start(GatewayOptions::default()).await;
    let (status, store) = gateway
        .call(
            Method::POST,
            "/stores",
            Some(json!({
                "code": "KILL1", "name": "Store", "city": "Pune", "phone": "+912000000000"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{store}");
    let store = id_of(&store);
    let (_, category) = gateway
        .call(Method::POST, "/categories", Some(json!({"name": "Lenses"})))
        .await;
    let (status, product) = gateway
        .call(
            Method::POST,
            "/products",
            Some(json!({
                "sku": "KILL-1", "name": "Lens", "categoryId": id_of(&category),
                "brand": "Acme", "price": 1000
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let product = id_of(&product);

    let total = 400;
    let (client, base, token) = (
        gateway.client.clone(),
        format!("{}/api/v1", gateway.address),
        gateway.admin_token.clone(),
    );
    let load = tokio::spawn(burst(total, 8, move |i| {
        if i % 4 == 0 {
            client
                .post(format!(
                    "{base}/stores/{store}/inventory/{product}/adjustments"
                ))
                .bearer_auth(&token)
                .header("idempotency-key", format!("kill-test-{i}"))
                .json(&json!({"delta": 1, "reason": "received"}))
        } else {
            client
                .get(format!("{base}/stores/{store}"))
                .bearer_auth(&token)
        }
    }));
    // Kill one instance once the load is well under way.
    let started = Instant::now();
    while gateway.access_log().len() < 80 && started.elapsed().as_secs() < 60 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    gateway.kill_instance(0);
    let (results, _) = load.await.expect("load");
    let mut by_status: HashMap<u16, usize> = HashMap::new();
    for (status, _) in &results {
        *by_status.entry(status.as_u16()).or_default() += 1;
    }
    let writes = total / 4;
    assert_eq!(
        by_status.get(&200).copied().unwrap_or(0) + by_status.get(&201).copied().unwrap_or(0),
        total,
        "every request succeeded: {by_status:?}"
    );
    // Each keyed write happened exactly once, retried or not.
    let (status, row) = gateway
        .call(
            Method::GET,
            &format!("/stores/{store}/inventory/{product}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{row}");
    assert_eq!(row["quantity"], json!(writes), "{row}");
}
