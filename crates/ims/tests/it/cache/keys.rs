//! Keys and TTLs are the documented ones, and the counters count hits and misses per type.

use super::*;

#[tokio::test]
async fn keys_and_ttls_follow_the_plan() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let started = Instant::now();
    let paths = [
        format!("/products/{}", s.product),
        format!("/products/sku/{}", s.sku),
        format!("/categories/{}/products", s.category),
        "/products/bestsellers".to_owned(),
        "/auth/me".to_owned(),
        format!("/orders/{order}"),
        format!("/customers/{}/orders", s.customer),
        format!("/stores/{}/inventory", s.store),
        "/dashboard/stats".to_owned(),
    ];
    for path in &paths {
        let answer = get(app, token, path).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.body);
    }
    // Time since the keys were written: how far below its lower bound a TTL may have fallen.
    let slack_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(0) + 5_000;

    let mut conn = test_redis().await;
    let prefix = format!("{}:", app.database_name);
    let minutes = |m: i64| m * 60_000;
    let plan: Vec<(String, Option<(i64, i64)>)> = vec![
        (format!("product:{}", s.product), Some((5, 15))),
        (format!("product:sku:{}", s.sku), Some((5, 15))),
        (format!("category:{}:products", s.category), Some((54, 66))),
        ("bestsellers".to_owned(), Some((5, 15))),
        (format!("user:{}:profile", app.admin_id), Some((27, 33))),
        (format!("order:{order}"), Some((5, 10))),
        (
            format!("customer:{}:orders:recent", s.customer),
            Some((5, 10)),
        ),
        ("dashboard:stats".to_owned(), Some((9, 11))),
        // Put in place by the order's write, not by a read.
        (format!("dashboard:stats:{}", s.store), Some((9, 11))),
        // Its TTL is short and not documented: only its name is checked.
        (format!("store:{}:inventory", s.store), None),
    ];
    let mut problems = Vec::new();
    for (name, range) in &plan {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(cache::keys::redis_name(&prefix, name))
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        match (ttl, range) {
            (-2, _) => problems.push(format!("{name}: no such key")),
            (-1, _) => problems.push(format!("{name}: no TTL")),
            (ttl, Some((min, max))) if ttl < minutes(*min) - slack_ms || ttl > minutes(*max) => {
                problems.push(format!(
                    "{name}: TTL {} s, expected {min}-{max} min",
                    ttl / 1000
                ));
            }
            _ => {}
        }
    }

    // No key under the app's prefix lives forever.
    let all = crate::support::redis::keys_under(&mut conn, &prefix).await;
    for key in &all {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        if ttl == -1 {
            problems.push(format!("{key}: no TTL"));
        }
    }
    assert!(
        problems.is_empty(),
        "keys and TTLs differ from the documented ones: {problems:#?}\nkeys under {prefix}: {all:#?}"
    );
}

#[tokio::test]
async fn counters_count_hits_and_misses_per_cache_type() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let reads = [
        (CacheType::Products, format!("/products/sku/{}", s.sku)),
        (CacheType::Products, "/products/bestsellers".to_owned()),
        (
            CacheType::Categories,
            format!("/categories/{}/products", s.category),
        ),
        (CacheType::Orders, format!("/orders/{order}")),
        // Not the first page: the order above warmed that one (`warm_customer_orders`).
        (
            CacheType::Orders,
            format!("/customers/{}/orders?limit=5", s.customer),
        ),
        (
            CacheType::Inventory,
            format!("/stores/{}/inventory", s.store),
        ),
        (CacheType::Dashboard, "/dashboard/stats".to_owned()),
    ];
    for (kind, path) in &reads {
        let (hits, misses, _) = counters(app, *kind);
        let (outcome, _) = read(app, token, path).await;
        assert_eq!(outcome, "miss", "first GET {path}");
        assert_eq!(
            counters(app, *kind),
            (hits, misses + 1, 0),
            "{kind:?} counters after a miss of GET {path}"
        );
        let (outcome, _) = read(app, token, path).await;
        assert_eq!(outcome, "hit", "second GET {path}");
        assert_eq!(
            counters(app, *kind),
            (hits + 1, misses + 1, 0),
            "{kind:?} counters after a hit of GET {path}"
        );
    }
    // Authentication reads sessions and profiles through the cache.
    let (hits, misses, bypasses) = counters(app, CacheType::Users);
    assert!(
        hits > 0 && misses > 0 && bypasses == 0,
        "users counters: {hits} hits, {misses} misses, {bypasses} bypasses"
    );
    assert_eq!(app.cache.stats().errors(), 0, "no Redis errors");
}
