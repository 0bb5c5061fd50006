//! Redis down, frozen or full: every request still succeeds, nothing stale is served after,
//! and caching resumes.

use super::*;

/// A shop whose service caches in a Redis of the test's own.
async fn shop_with(redis: &PrivateRedis) -> Shop {
    shop_on(TestApp::spawn_custom(testkit::settings(), Some(redis.url())).await).await
}

/// What a request of the stream saw.
struct Seen {
    label: String,
    status: StatusCode,
    cache: Option<String>,
    read: bool,
    after_stop: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_redis_is_down_and_caching_resumes_after_a_restart() {
    let mut redis = PrivateRedis::start(&[]).await;
    let s = shop_with(&redis).await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let sku_path = format!("/products/sku/{}", s.sku);
    let order_path = format!("/orders/{order}");
    let row_path = format!("/stores/{}/inventory/{}", s.store, s.product);
    cache_it(app, token, &sku_path).await;
    cache_it(app, token, &order_path).await;

    let reads = vec![
        sku_path.clone(),
        order_path.clone(),
        "/dashboard/stats".to_owned(),
        "/products/bestsellers".to_owned(),
        format!("/categories/{}/products", s.category),
        row_path.clone(),
        format!("/customers/{}/orders", s.customer),
    ];
    let adjustment = format!("/stores/{}/inventory/{}/adjustments", s.store, s.product);
    let done = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let mut streams = JoinSet::new();
    for stream in 0..2usize {
        let caller = Caller::new(app, token);
        let (reads, adjustment) = (reads.clone(), adjustment.clone());
        let (done, stopped) = (done.clone(), stopped.clone());
        streams.spawn(async move {
            let mut seen = Vec::new();
            for n in 0..100usize {
                let after_stop = stopped.load(Ordering::SeqCst);
                let step = (n + stream * 3) % 10;
                let (label, answer, read) = if step == 9 {
                    let body = json!({ "delta": 1, "reason": "count" });
                    let answer = caller.send(Method::POST, &adjustment, Some(body)).await;
                    (format!("POST {adjustment}"), answer, false)
                } else {
                    let path = &reads[step % reads.len()];
                    let answer = caller.send(Method::GET, path, None).await;
                    (format!("GET {path}"), answer, true)
                };
                seen.push(Seen {
                    label,
                    status: answer.status,
                    cache: answer.cache,
                    read,
                    after_stop,
                });
                done.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        });
    }
    for _ in 0..3000 {
        if done.load(Ordering::SeqCst) >= 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    redis.stop();
    stopped.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    while let Some(stream) = streams.join_next().await {
        seen.extend(stream.expect("stream task"));
    }

    assert_eq!(seen.len(), 200);
    let failed: Vec<String> = seen
        .iter()
        .filter(|r| !r.status.is_success())
        .map(|r| format!("{} -> {}", r.label, r.status))
        .collect();
    assert!(
        failed.is_empty(),
        "every request must succeed with Redis down: {failed:?}"
    );
    let reads_after_stop: Vec<&Seen> = seen.iter().filter(|r| r.read && r.after_stop).collect();
    assert!(
        reads_after_stop.len() >= 40,
        "the stream went on after the stop ({} reads)",
        reads_after_stop.len()
    );
    let not_bypassed: Vec<String> = reads_after_stop
        .iter()
        .filter(|r| r.cache.as_deref() != Some("bypass"))
        .map(|r| format!("{} -> {:?}", r.label, r.cache))
        .collect();
    assert!(
        not_bypassed.is_empty(),
        "reads after Redis stopped must say X-Cache: bypass: {not_bypassed:?}"
    );
    let adjustments = i64::try_from(seen.iter().filter(|r| !r.read).count()).expect("count");

    // A write while Redis is down is seen at once, and still after Redis comes back.
    s.patch_product(json!({ "name": "Renamed while Redis was down" }))
        .await;
    let (outcome, body) = read(app, token, &sku_path).await;
    assert_eq!(outcome, "bypass");
    assert_eq!(body["name"], "Renamed while Redis was down", "{body}");

    redis.restart().await;
    let (outcome, body) = first_cached_read(app, token, &sku_path).await;
    assert_eq!(
        outcome, "miss",
        "the first cached read after Redis came back loads afresh"
    );
    assert_eq!(body["name"], "Renamed while Redis was down", "{body}");
    let (outcome, again) = read(app, token, &sku_path).await;
    assert_eq!(outcome, "hit", "caching resumed by itself");
    assert_eq!(again, body);

    let row = miss_then_hit(app, token, &row_path).await;
    assert_eq!(row["quantity"], STOCK - 1 + adjustments, "{row}");
    let fresh_order = miss_then_hit(app, token, &order_path).await;
    assert_eq!(fresh_order["id"], order.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_redis_is_frozen_and_nothing_stale_is_served_after() {
    let redis = PrivateRedis::start(&[]).await;
    let s = shop_with(&redis).await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let sku_path = format!("/products/sku/{}", s.sku);
    let order_path = format!("/orders/{order}");
    let row_path = format!("/stores/{}/inventory/{}", s.store, s.product);
    for path in [&sku_path, &order_path, &row_path] {
        cache_it(app, token, path).await;
    }

    redis.signal("STOP");
    for path in [&sku_path, &order_path, &row_path, &sku_path] {
        let (outcome, _) = read(app, token, path).await;
        assert_eq!(outcome, "bypass", "GET {path} with Redis frozen");
    }
    // Writes while Redis cannot be told to forget the old values.
    s.patch_product(json!({ "name": "Renamed while Redis was frozen" }))
        .await;
    stock_in(app, s.store, s.product, 5).await;
    let (outcome, body) = read(app, token, &sku_path).await;
    assert_eq!(outcome, "bypass");
    assert_eq!(body["name"], "Renamed while Redis was frozen", "{body}");
    let answer = get(app, token, "/dashboard/stats").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.cache.as_deref(), Some("bypass"));
    redis.signal("CONT");

    // Once Redis answers again, the values cached before the writes are not served.
    let (outcome, body) = first_cached_read(app, token, &sku_path).await;
    assert_eq!(
        body["name"], "Renamed while Redis was frozen",
        "a value cached before the write must not come back ({outcome}): {body}"
    );
    let (outcome, row) = first_cached_read(app, token, &row_path).await;
    assert_eq!(
        row["quantity"],
        STOCK - 1 + 5,
        "a stock row cached before the adjustment must not come back ({outcome}): {row}"
    );
    let (_, again) = read(app, token, &sku_path).await;
    assert_eq!(again, body);
    let (outcome, _) = read(app, token, &sku_path).await;
    assert_eq!(outcome, "hit", "caching resumed by itself");
}

#[tokio::test]
async fn a_full_redis_evicts_and_never_fails_a_request() {
    let redis =
        PrivateRedis::start(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]).await;
    let s = shop_with(&redis).await;
    let (app, token) = (&s.app, s.token());
    let notes = "n".repeat(1_500);
    let mut skus = vec![s.sku.clone()];
    for i in 0..120 {
        let sku = format!("FULL-{i:03}");
        let (status, body) = app
            .call(
                Method::POST,
                "/products",
                Some(json!({
                    "sku": sku, "name": format!("Frame {i}"), "categoryId": s.category,
                    "brand": "Acme", "price": 1_000 + i, "attributes": { "notes": notes },
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        skus.push(sku);
    }

    let mut paths: Vec<String> = skus
        .iter()
        .map(|sku| format!("/products/sku/{sku}"))
        .collect();
    for limit in 1..=100 {
        paths.push(format!("/categories/{}/products?limit={limit}", s.category));
        paths.push(format!("/products/bestsellers?limit={limit}"));
    }
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..2 {
        for path in &paths {
            let answer = get(app, token, path).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "round {round}, GET {path}: {}",
                answer.body
            );
            let outcome = answer.cache.unwrap_or_default();
            assert!(
                outcome == "hit" || outcome == "miss",
                "round {round}, GET {path}: a full cache evicts, it does not fail (X-Cache: \
                 {outcome:?})"
            );
            *outcomes.entry(outcome).or_default() += 1;
        }
    }

    let mut conn = crate::support::redis::connect(&redis.url()).await;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .expect("INFO stats");
    let evicted: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("evicted_keys in INFO stats");
    assert!(
        evicted > 0,
        "the test must fill the cache (no key was evicted; outcomes {outcomes:?})"
    );
}
