//! Rolling restarts of the local high-availability cluster under load (issue 18,
//! docs/operations.md "Rolling restart of the cluster"): `scripts/cluster roll` (every
//! PostgreSQL node, a switchover in the middle) and `scripts/cluster roll-redis` (the Sentinels,
//! both Redis servers, a Sentinel failover) while clients read and place orders through the
//! service. No request may fail and every acknowledged order must be there afterwards; the
//! longest pause between acknowledged orders is reported.
//!
//! Disruptive (they restart every member of the cluster), so they are `#[ignore]`d and
//! `scripts/test` runs them with the other failure tests; alone:
//!
//! ```sh
//! scripts/test -E 'binary(ha_roll)' --run-ignored all --no-capture
//! ```
//!
//! Each run appends one line to `.data/cluster/ha-roll-runs.tsv`: what rolled, seconds the roll
//! took, the longest write pause, acknowledged orders, requests, failed requests.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

mod cluster_common;
mod ops_common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_common::*;
use ops_common::*;
use reqwest::Method;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use testkit::{id_of, TestApp};
use tokio::sync::Mutex;
use uuid::Uuid;

const STOCK: i64 = 100_000;

/// What the load saw.
#[derive(Default)]
struct Tally {
    /// (order id, when the 201 arrived)
    acknowledged: Vec<(Uuid, Instant)>,
    /// Every request that was not answered 200/201 (or whose own order was not read back):
    /// (what, status; 0 = no answer, 1 = a write without a consistency token).
    failures: Vec<(String, u16)>,
    requests: usize,
    /// `X-Cache` of each cached read, with when it was sent.
    cache: Vec<(Instant, String)>,
}

struct Shop {
    store: Uuid,
    frame: Uuid,
    customer: Uuid,
}

async fn shop(app: &TestApp) -> Shop {
    let store = app.create_store("RL001").await;
    let category = app.create_category("Frames").await;
    let frame = product(app, category, "RL-FRAME-1", 1_000).await;
    stock_in(app, store, frame, STOCK).await;
    let customer = id_of(&customer(app, "Asha Rao", "+91 98765 43210").await);
    Shop {
        store,
        frame,
        customer,
    }
}

/// One request as the admin (35 s limit, past the 30 s the service allows any request): the
/// status (0: no answer, also when the body broke off), a header and the body.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
    header: &str,
) -> (u16, Option<String>, Value) {
    let mut req = app
        .request(method, path, Some(&app.admin_token))
        .timeout(Duration::from_secs(35));
    if let Some(body) = body {
        req = req.json(body);
    }
    if let Some(token) = token {
        req = req.header("x-consistency-token", token);
    }
    let Ok(response) = req.send().await else {
        return (0, None, Value::Null);
    };
    let status = response.status().as_u16();
    let value = response
        .headers()
        .get(header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match response.bytes().await {
        Ok(bytes) => (
            status,
            value,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ),
        Err(_) => (0, value, Value::Null),
    }
}

/// Four writers placing one-unit orders back to back, each reading its order back with the
/// write's consistency token, and four readers of the product and the stock row (both cached)
/// every 20 ms, until `stop`.
fn start_load(
    app: &Arc<TestApp>,
    shop: &Shop,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Mutex<Tally>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let order = order_body(shop.store, shop.customer, &[(shop.frame, 1)]);
    for _ in 0..4 {
        let (app, stop, tally, order) = (app.clone(), stop.clone(), tally.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, token, body) = send(
                    &app,
                    Method::POST,
                    "/orders",
                    Some(&order),
                    None,
                    "x-consistency-token",
                )
                .await;
                let id = body["id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
                let mut t = tally.lock().await;
                t.requests += 1;
                let (Some(id), 201) = (id, status) else {
                    t.failures.push(("POST /orders".into(), status));
                    drop(t);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                t.acknowledged.push((id, Instant::now()));
                let Some(token) = token else {
                    t.failures.push(("own order: no token".into(), 1));
                    continue;
                };
                drop(t);
                let path = format!("/orders/{id}");
                let (status, _, _) =
                    send(&app, Method::GET, &path, None, Some(&token), "x-cache").await;
                let mut t = tally.lock().await;
                t.requests += 1;
                if status != 200 {
                    t.failures.push(("GET own order".into(), status));
                }
            }
        }));
    }
    let paths = [
        format!("/products/{}", shop.frame),
        format!("/stores/{}/inventory/{}", shop.store, shop.frame),
    ];
    for reader in 0..4 {
        let (app, stop, tally) = (app.clone(), stop.clone(), tally.clone());
        let path = paths[reader % paths.len()].clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let (status, cache, _) =
                    send(&app, Method::GET, &path, None, None, "x-cache").await;
                let mut t = tally.lock().await;
                t.requests += 1;
                if status != 200 {
                    t.failures.push((format!("GET {path}"), status));
                }
                if let Some(cache) = cache {
                    t.cache.push((sent, cache));
                }
                drop(t);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tasks
}

/// Runs `scripts/cluster ARGS` on the loopback cluster (its ports from the environment, as the
/// other failure tests'), off the runtime's threads; its output goes to the test's stderr.
async fn cluster_command(args: &[&str]) -> bool {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new("scripts/cluster")
            .args(&args)
            .env("IMS_CLUSTER_NETNS", "")
            .current_dir(repo_root())
            .status()
            .is_ok_and(|s| s.success())
    })
    .await
    .expect("the roll ran")
}

/// Every acknowledged order is in the database once, none beyond them (no request failed),
/// and the stock is the initial stock less the orders. Returns the orders in the database.
async fn check_orders(app: &TestApp, shop: &Shop, t: &Tally) -> i64 {
    // Reads without a token may lag until the stale-read window has passed since the last write.
    let window = app.db.stale_read_window().unwrap_or_default();
    tokio::time::sleep(window + Duration::from_millis(500)).await;
    let acked: Vec<Uuid> = t.acknowledged.iter().map(|(id, _)| *id).collect();
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE id = ANY($1)")
        .bind(&acked)
        .fetch_one(app.db.primary())
        .await
        .expect("acknowledged orders");
    assert_eq!(found, acked.len() as i64, "acknowledged orders missing");
    let in_db: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE customer_id = $1")
        .bind(shop.customer)
        .fetch_one(app.db.primary())
        .await
        .expect("order count");
    assert_eq!(
        in_db, found,
        "orders in the database that were not acknowledged"
    );
    let quantity = stock_quantity(app, shop.store, shop.frame).await;
    assert_eq!(quantity, STOCK - in_db, "stock does not match the orders");
    assert_stock_invariants(app).await;
    in_db
}

/// Runs the load, `roll` 3 s into it, and the load 3 s more after the roll: the tally, when the
/// roll started and how long it took, and whether it succeeded.
async fn load_around(
    app: &Arc<TestApp>,
    shop: &Shop,
    roll: &[&str],
) -> (Tally, Instant, Duration, bool) {
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let tasks = start_load(app, shop, &stop, &tally);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    let ok = cluster_command(roll).await;
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }
    let tally = std::mem::take(&mut *tally.lock().await);
    (tally, started, took, ok)
}

/// Prints the run's figures and appends them to `.data/cluster/ha-roll-runs.tsv`; returns the
/// longest pause between acknowledged orders from the roll's start on.
fn report(what: &str, t: &Tally, started: Instant, took: Duration) -> Duration {
    let (at, pause) = longest_pause(t.acknowledged.iter().map(|(_, at)| *at), started)
        .expect("orders were acknowledged during the roll");
    eprintln!(
        "HA roll ({what}): roll took {:.1} s; longest write pause {:.2} s (ending {:.1} s into \
         the roll); acknowledged orders {}, requests {}, failed {}: {:?}",
        took.as_secs_f64(),
        pause.as_secs_f64(),
        at.as_secs_f64(),
        t.acknowledged.len(),
        t.requests,
        t.failures.len(),
        t.failures
    );
    let line = format!(
        "{what}\t{:.1}\t{:.2}\t{}\t{}\t{}\n",
        took.as_secs_f64(),
        pause.as_secs_f64(),
        t.acknowledged.len(),
        t.requests,
        t.failures.len()
    );
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(repo_root().join(".data/cluster/ha-roll-runs.tsv"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    pause
}

/// `current_setting(name)` and the postmaster's start time on every node.
async fn node_facts(setting: &str) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    for port in nodes() {
        let mut conn = PgConnection::connect_with(&node(port).database("postgres"))
            .await
            .expect("every node answers");
        let fact: (String, String) =
            sqlx::query_as("SELECT current_setting($1), pg_postmaster_start_time()::text")
                .bind(setting)
                .fetch_one(&mut conn)
                .await
                .expect("node facts");
        facts.push(fact);
    }
    facts
}

/// `scripts/cluster roll -c track_activity_query_size=...` under load: every node restarted
/// with the new setting, the primary moved, no request failed, no acknowledged order lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "restarts every cluster node: run with --run-ignored all (see docs/operations.md)"]
async fn rolling_restart_of_the_database_nodes_fails_no_request() {
    let app = Arc::new(app_on_cluster_cached(testkit::settings(), sentinel_cache_config()).await);
    let shop = shop(&app).await;
    // A setting only a restart applies, toggled so that each run changes it.
    let before = node_facts("track_activity_query_size").await;
    let value = if before[0].0 == "1kB" { "2048" } else { "1024" };
    let expected = if value == "2048" { "2kB" } else { "1kB" };
    let primary_before = primary_port().await.expect("a primary");

    let setting = format!("track_activity_query_size={value}");
    let (t, started, took, ok) = load_around(&app, &shop, &["roll", "-c", &setting]).await;
    let pause = report("database", &t, started, took);
    assert!(ok, "scripts/cluster roll failed (its output is above)");
    let after = node_facts("track_activity_query_size").await;
    for (i, ((_, started_before), (shown, started_after))) in before.iter().zip(&after).enumerate()
    {
        assert_ne!(
            started_before,
            started_after,
            "node{} was not restarted",
            i + 1
        );
        assert_eq!(
            shown,
            expected,
            "node{} runs without the new setting",
            i + 1
        );
    }
    let primary_after = primary_port().await.expect("a primary after the roll");
    assert_ne!(primary_before, primary_after, "the roll switched over");
    assert!(pause < Duration::from_secs(35), "writes went on");
    assert_eq!(t.failures.len(), 0, "requests failed during the roll");
    check_orders(&app, &shop, &t).await;
    drop_database(&app).await;
}

/// A field of `INFO` on the Redis server or Sentinel at `port`.
async fn info_field(port: u16, field: &str) -> Option<String> {
    let ask = async {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))?
            .get_multiplexed_async_connection()
            .await?;
        redis::cmd("INFO").query_async::<String>(&mut conn).await
    };
    let info = tokio::time::timeout(Duration::from_secs(1), ask)
        .await
        .ok()?
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// The pid and role of every Redis server and Sentinel of the cluster, port by port.
async fn redis_processes() -> Vec<(u16, Option<String>, Option<String>)> {
    let mut all = Vec::new();
    for port in redis_ports().into_iter().chain(sentinel_ports()) {
        all.push((
            port,
            info_field(port, "process_id").await,
            info_field(port, "role").await,
        ));
    }
    all
}

/// `scripts/cluster roll-redis` under the same load: every server and Sentinel restarted, the
/// master moved, no request failed, and the cache serves hits again afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "restarts the cluster's Redis: run with --run-ignored all (see docs/operations.md)"]
async fn rolling_restart_of_redis_fails_no_request_and_the_cache_follows() {
    let app = Arc::new(app_on_cluster_cached(testkit::settings(), sentinel_cache_config()).await);
    let shop = shop(&app).await;
    let before = redis_processes().await;
    let master_before = before
        .iter()
        .find(|(_, _, role)| role.as_deref() == Some("master"))
        .map(|(port, _, _)| *port)
        .expect("a Redis master");
    let series = r#"ims_redis_master_switches_total{client="cache"}"#;
    let switches_before = app.metric(series).await;

    let (t, started, took, ok) = load_around(&app, &shop, &["roll-redis"]).await;
    report("redis", &t, started, took);
    assert!(
        ok,
        "scripts/cluster roll-redis failed (its output is above)"
    );
    let after = redis_processes().await;
    for ((port, pid_before, _), (_, pid_after, _)) in before.iter().zip(&after) {
        assert!(pid_after.is_some(), "127.0.0.1:{port} is not back");
        assert_ne!(pid_before, pid_after, "127.0.0.1:{port} was not restarted");
    }
    let master_after = after
        .iter()
        .find(|(_, _, role)| role.as_deref() == Some("master"))
        .map(|(port, _, _)| *port)
        .expect("a Redis master after the roll");
    assert_ne!(master_before, master_after, "the roll failed over");
    assert_eq!(t.failures.len(), 0, "requests failed during the roll");
    assert!(
        app.metric(series).await > switches_before,
        "the cache did not follow the new master"
    );
    let ended = started + took;
    assert!(
        t.cache.iter().any(|(sent, c)| *sent > ended && c == "hit"),
        "the cache served no hit after the roll"
    );
    check_orders(&app, &shop, &t).await;
    drop_database(&app).await;
}
