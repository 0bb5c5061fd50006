//! The cache and the rate limit on a Redis Cluster (`scripts/redis-cluster`: three masters,
//! three replicas), on the test PostgreSQL: (a) normal operation, (b) a master killed under
//! load, (c) a fourth master added and slots moved to it under load.
//!
//! They start the cluster themselves and kill or add its nodes, so they are `#[ignore]`d like
//! the other failure tests (`IMS_TEST_CLUSTER=0` skips them in `scripts/test`); run them with
//!
//! ```sh
//! scripts/test -E 'test(/^ha_rcluster::/)' --run-ignored all --no-capture
//! ```
//!
//! The cluster's ports come from IMS_REDIS_CLUSTER_PORT (23822) as in the script.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::ops::*;
use crate::support::rcluster::*;
use cache::{keys, Cache, Outcome};
use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::id_of;
use uuid::Uuid;

/// (a) Hits, invalidation on write seen by another instance, list reads spanning slots, the
/// memory layer kept in step through pub/sub, and the rate limit exact across instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts a Redis Cluster: run with --run-ignored all (see docs/operations.md)"]
async fn the_cache_and_the_rate_limit_work_on_a_redis_cluster() {
    rcluster("up");
    let (one, two) = two_instances(testkit::settings()).await;
    let category = one.create_category("Frames").await;
    let mut products = Vec::new();
    for i in 0..12 {
        products.push(product(&one, category, &format!("RC-{i}"), 1_000 + i).await);
    }
    // Cached by one instance, hit by both (one Redis Cluster, one key prefix).
    for id in &products {
        let path = format!("/products/{id}");
        assert_eq!(get(&one, &path).await.1, "miss");
        assert_eq!(get(&one, &path).await.1, "hit");
        assert_eq!(get(&two, &path).await.1, "hit");
    }
    // The keys are spread over the masters: the cluster is really sharding them.
    let holding = masters_holding(&format!("{}:", one.database_name)).await;
    assert!(
        holding >= 2,
        "the cached keys live on {holding} master(s), not spread over the cluster"
    );

    // A write through one instance: the other reads the new value, then hits it.
    let path = format!("/products/{}", products[0]);
    let (status, body) = one
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "name": "Renamed on the cluster" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (body, cache) = get(&two, &path).await;
    assert_eq!(body["name"], "Renamed on the cluster");
    assert_eq!(cache, "miss");
    assert_eq!(get(&two, &path).await.1, "hit");

    // A list: one read of many keys in many slots (one command per key on a cluster).
    let list = format!("/products?category={category}&limit=50");
    let (first, _) = get(&one, &list).await;
    assert_eq!(items(&first).len(), products.len());
    let (again, cache) = get(&two, &list).await;
    assert_eq!(cache, "hit");
    assert_eq!(again, first);

    // A search with a price filter (a `p:` variant, listed in its group's index) and a price
    // change, which forgets the price variants of the search and of the category's lists and
    // the product itself: keys in several slots, one script each.
    let search = "/products?q=Product&maxPrice=100000&limit=50";
    let (found, _) = get(&one, search).await;
    assert_eq!(items(&found).len(), products.len());
    assert_eq!(get(&two, search).await.1, "hit");
    let (status, body) = one
        .call(
            Method::PATCH,
            &format!("/products/{}", products[1]),
            Some(json!({ "price": 4242 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let price_of = |list: &serde_json::Value| {
        items(list)
            .iter()
            .find(|p| p["id"] == json!(products[1]))
            .map(|p| p["price"].clone())
    };
    let (found, cache) = get(&two, search).await;
    assert_eq!(cache, "miss");
    assert_eq!(price_of(&found), Some(json!(4242)));
    assert_eq!(price_of(&get(&two, &list).await.0), Some(json!(4242)));
    assert_eq!(get(&one, search).await.1, "hit");

    memory_layers_follow_invalidations().await;
    rate_limit_is_exact_across_instances().await;
    assert_eq!(one.metric("ims_cache_errors_total").await, 0.0);
}

/// Two caches on the cluster, one key prefix: a profile each holds in memory is forgotten by
/// both when one invalidates it, through the message published on the cluster.
async fn memory_layers_follow_invalidations() {
    let mut config = cluster_cache_config();
    config.prefix = format!("rcluster-test-{}:", Uuid::new_v4().simple());
    let one = Cache::new(config.clone()).expect("cache");
    let two = Cache::new(config.clone()).expect("cache");
    let key = keys::user_profile(Uuid::new_v4().into());
    let redis_key = keys::redis_name(&config.prefix, &key.name);
    let mut redis = cluster_connection().await;
    // Each layer is on once its subscription is up: a read that still hits after the key was
    // removed from Redis behind the cache's back came from memory.
    for cache in [&one, &two] {
        let mut from_memory = false;
        for _ in 0..100 {
            let (first, _) = read(cache, &key, "v1").await;
            let _: i64 = redis::cmd("DEL")
                .arg(&redis_key)
                .query_async(&mut redis)
                .await
                .expect("DEL");
            if read(cache, &key, "other").await == (first, Outcome::Hit) {
                from_memory = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(from_memory, "the memory layer never came up on the cluster");
    }
    one.invalidate(std::slice::from_ref(&key)).await;
    let mut forgotten = false;
    // Well within the memory layer's 1 s TTL: the message, not the expiry.
    for _ in 0..20 {
        if read(&two, &key, "v2").await == ("v2".into(), Outcome::Miss) {
            forgotten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(forgotten, "the other instance still served the old profile");
}

async fn read(cache: &Cache, key: &cache::Key, value: &str) -> (String, Outcome) {
    let value = value.to_owned();
    cache
        .get_or_load(key, "", || async move { Ok::<_, ()>(value) })
        .await
        .expect("infallible load")
}

/// Two instances, a burst of 10 at 1/s for anonymous clients: 20 requests alternating between
/// them get 10 answers (plus one per second the requests took), as one instance would give.
async fn rate_limit_is_exact_across_instances() {
    let mut settings = testkit::settings();
    settings.tuning.rate_limit = cache::Rate::new(1, 10);
    let (one, two) = two_instances(settings).await;
    let fallbacks_before = one.metric("ims_rate_limit_fallback_total").await;
    let started = Instant::now();
    let mut allowed = 0u64;
    for i in 0..20 {
        let app = if i % 2 == 0 { &one } else { &two };
        let response = app
            .request(Method::GET, "/stores", None)
            .send()
            .await
            .expect("sent");
        match response.status() {
            // Past the limit, refused for want of a token.
            StatusCode::UNAUTHORIZED => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("GET /stores answered {other}"),
        }
    }
    let refills = started.elapsed().as_secs() + 1;
    assert!(
        (10..=10 + refills).contains(&allowed),
        "{allowed} of 20 allowed by a burst of 10 over two instances"
    );
    assert_eq!(
        one.metric("ims_rate_limit_fallback_total").await,
        fallbacks_before,
        "the limit fell back to memory: Redis Cluster was not used"
    );
}

/// (b) kill -9 the master holding a product's key under reads and orders: no request fails,
/// the cache is used again once the master's replica is promoted, and the keys of the other
/// masters are served from the cache all along (the breaker and the purge act on the failed
/// master alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "kills a Redis Cluster node: run with --run-ignored all (see docs/operations.md)"]
async fn killing_a_cluster_master_fails_no_request_and_the_cache_comes_back() {
    rcluster("up");
    wait_for_replicas(Duration::from_secs(30)).await;
    let app = Arc::new(one_instance().await);
    let (store, frame, order) = shop(&app).await;
    let key = keys::redis_name(
        &format!("{}:", app.database_name),
        &keys::product(frame.into()).name,
    );
    let victim = master_of(&key)
        .await
        .expect("a master serves the product's key");
    // Products whose keys the other masters serve, read all along.
    let category = app.create_category("Lenses").await;
    let prefix = format!("{}:", app.database_name);
    let mut others = Vec::new();
    for i in 0..12 {
        let id = product(&app, category, &format!("RC-K-{i}"), 500).await;
        let key = keys::redis_name(&prefix, &keys::product(id.into()).name);
        if master_of(&key).await.is_some_and(|m| m.port != victim.port) {
            others.push(format!("/products/{id}"));
        }
    }
    assert!(!others.is_empty(), "no product's key on another master");
    let switches_before = app
        .metric(r#"ims_redis_master_switches_total{client="cache"}"#)
        .await;
    let load = Load::start(app.clone(), (store, frame, order), &others);
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Reads of the product go to the killed master's slot (the stock row's key may not).
    let path = format!("/products/{frame}");
    let killed_at = Instant::now();
    kill_node(victim.port).await;
    let mut promoted = None;
    let deadline = killed_at + Duration::from_secs(60);
    // Until the replica serves the slot and a read of the product hit again, then 2 s more.
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if promoted.is_none() {
            let serving = master_of(&key).await.map(|m| m.port);
            if serving.is_some_and(|port| port != victim.port) {
                promoted = Some(killed_at.elapsed());
            }
        }
        let hit = load.hit_again_after(killed_at, &path).await;
        if promoted.is_some() && hit.is_some_and(|at| at.elapsed() > Duration::from_secs(2)) {
            break;
        }
    }
    let report = load.stop().await;
    let cache_again = report
        .hit_again_after(killed_at, &path)
        .map(|at| at - killed_at);
    let switches = app
        .metric(r#"ims_redis_master_switches_total{client="cache"}"#)
        .await;
    let of_others = |path: &str| others.iter().any(|other| other == path);
    let others_bypassed = report.bypassed_of(of_others);
    let others_hit_while_down = report.hits_of_between(
        of_others,
        killed_at,
        killed_at + promoted.unwrap_or_default(),
    );
    let secs = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
    eprintln!(
        "Redis Cluster (b) kill -9 master 127.0.0.1:{}: replica promoted after {:.2} s, cache \
         used again after {:.2} s; {}; switches counted {}, cache errors {}; the {} products \
         on other masters: {others_hit_while_down} hits until the promotion, \
         {others_bypassed} reads bypassing the cache",
        victim.port,
        secs(promoted),
        secs(cache_again),
        report.summary(),
        switches - switches_before,
        app.metric("ims_cache_errors_total").await,
        others.len(),
    );
    report.assert_no_failure();
    assert_eq!(
        others_bypassed, 0,
        "reads of keys on the masters still up bypassed the cache"
    );
    assert!(
        others_hit_while_down > 0,
        "no read of a key on another master hit the cache while the killed one was replaced"
    );
    assert!(
        promoted.is_some(),
        "no replica took over the killed master's slots"
    );
    assert!(
        report.bypassed() > 0,
        "no read bypassed the cache: the kill went unnoticed"
    );
    assert!(
        cache_again.is_some(),
        "the cache never served a hit again after the failover"
    );
    assert!(
        switches - switches_before >= 1.0,
        "the cache did not count the promotion as a switch"
    );
    assert_eq!(
        stock_quantity(&app, store, frame).await,
        STOCK - report.orders_placed()
    );
    // The killed node rejoins as a replica of its replica.
    rcluster("up");
    wait_for_replicas(Duration::from_secs(30)).await;
}

/// (c) A fourth master joins and a fair share of the slots (with their keys) moves to it while
/// reads and orders run: no request fails, and reads hit the cache during and after the move.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "reshards a Redis Cluster: run with --run-ignored all (see docs/operations.md)"]
async fn adding_a_master_and_moving_slots_fails_no_request() {
    // Three masters to start from, whatever an earlier run added.
    rcluster("destroy");
    rcluster("up");
    let app = Arc::new(one_instance().await);
    let (store, frame, order) = shop(&app).await;
    // 32 more products read all along: a quarter of the slots move, so some of their keys
    // (all but one time in 10^4) move while they are read.
    let category = app.create_category("Lenses").await;
    let prefix = format!("{}:", app.database_name);
    let mut read = Vec::new();
    for i in 0..32 {
        let id = product(&app, category, &format!("RC-L-{i}"), 500).await;
        read.push((
            format!("/products/{id}"),
            keys::redis_name(&prefix, &keys::product(id.into()).name),
        ));
    }
    let paths: Vec<String> = read.iter().map(|(path, _)| path.clone()).collect();
    let load = Load::start(app.clone(), (store, frame, order), &paths);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    tokio::task::spawn_blocking(|| rcluster("add-master"))
        .await
        .expect("add-master ran");
    let moved_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = load.stop().await;
    let during = report.hits_between(started, started + moved_in);
    let mut moved = Vec::new();
    for (path, key) in &read {
        if master_of(key).await.is_some_and(|m| m.port == new_master()) {
            moved.push(path.as_str());
        }
    }
    let after = report.hits_of_between(|p| moved.contains(&p), started + moved_in, Instant::now());
    let on_new_master = keys_on_node(new_master(), &prefix).await;
    eprintln!(
        "Redis Cluster (c) add a master and rebalance: slots moved in {:.2} s; {}; hits \
         during the move {during}; {} of the {} products read now on the new master, hits of \
         them after the move {after}; the service's keys on the new master {on_new_master}; \
         cache errors {}",
        moved_in.as_secs_f64(),
        report.summary(),
        moved.len(),
        read.len(),
        app.metric("ims_cache_errors_total").await,
    );
    report.assert_no_failure();
    assert!(
        !moved.is_empty(),
        "no key read under load moved to the new master"
    );
    assert!(during > 0, "no read hit the cache while slots moved");
    assert!(
        after > 0,
        "no read of a moved key hit the cache on the new master"
    );
    assert!(
        slots_of(new_master()).await > 0,
        "the new master serves no slot"
    );
    assert_eq!(
        stock_quantity(&app, store, frame).await,
        STOCK - report.orders_placed()
    );
}

/// A store, a stocked product and an order body for it.
async fn shop(app: &testkit::TestApp) -> (Uuid, Uuid, serde_json::Value) {
    let store = app.create_store("RC001").await;
    let category = app.create_category("Frames").await;
    let frame = product(app, category, "RC-FRAME-1", 1_000).await;
    stock_in(app, store, frame, STOCK).await;
    let customer_id = id_of(&customer(app, "Asha Rao", "+91 98765 43210").await);
    (store, frame, order_body(store, customer_id, &[(frame, 1)]))
}
