//! Failure tests on the local high-availability cluster (`scripts/cluster`, docs/operations.md).
//!
//! Slow and disruptive (they start the cluster and kill or switch its primary), so they are
//! `#[ignore]`d and `scripts/test` runs them after the rest (see its header); alone:
//!
//! ```sh
//! scripts/test -E 'test(/^ha::/)' --run-ignored all --no-capture
//! ```
//!
//! Each run of (a) appends one line to `.data/cluster/ha-runs.tsv` (the table in
//! docs/operations.md): seconds to writes again, acknowledged, lost, committed without an
//! answer, failed writes, failed reads, reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::cluster::*;
use crate::support::ops::*;
use crate::support::repo_root;
use reqwest::Method;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use testkit::{id_of, TestApp};
use tokio::sync::Mutex;
use uuid::Uuid;

const STOCK: i64 = 100_000;

#[derive(Default)]
struct Tally {
    /// (order id, when its request was sent, when the 201 arrived)
    acknowledged: Vec<(Uuid, Instant, Instant)>,
    /// (request start, status or 0 for no answer)
    failed_writes: Vec<(Instant, u16)>,
    reads: usize,
    failed_reads: usize,
    /// The failed reads' statuses (0: no answer).
    read_failures: Vec<u16>,
    /// Reads of an order just placed, sent with its write's consistency token.
    own_reads: usize,
    /// Of those, the ones that did not find the order (read-your-writes broken) or failed.
    own_reads_missed: usize,
    /// Their statuses (0: no answer, 1: the write came without a token), with when the write
    /// was sent and the token it got.
    own_read_misses: Vec<(u16, Instant, String)>,
}

/// A store with one well-stocked frame and a customer, and the order body to place.
struct Shop {
    store: Uuid,
    frame: Uuid,
    customer: Uuid,
    order: Value,
}

async fn shop(app: &TestApp) -> Shop {
    let store = app.create_store("HA001").await;
    let category = app.create_category("Frames").await;
    let frame = product(app, category, "HA-FRAME-1", 1_000).await;
    stock_in(app, store, frame, STOCK).await;
    let customer = id_of(&customer(app, "Asha Rao", "+91 98765 43210").await);
    let order = order_body(store, customer, &[(frame, 1)]);
    Shop {
        store,
        frame,
        customer,
        order,
    }
}

/// The steady stream: four order writers (each reading its order back with the write's token)
/// and two inventory readers, until `stop`.
fn start_load(
    app: &Arc<TestApp>,
    shop: &Shop,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Mutex<Tally>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (app, stop, tally) = (app.clone(), stop.clone(), tally.clone());
        let order = shop.order.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (status, token, body) = write(&app, "/orders", &order).await;
                let id = body["id"].as_str().and_then(|s| s.parse::<Uuid>().ok());
                let mut t = tally.lock().await;
                match (status, id) {
                    (201, Some(id)) => t.acknowledged.push((id, started, Instant::now())),
                    _ => t.failed_writes.push((started, status)),
                }
                drop(t);
                match (id, token) {
                    (Some(id), Some(token)) => {
                        let status = read_with_token(&app, &format!("/orders/{id}"), &token).await;
                        let mut t = tally.lock().await;
                        t.own_reads += 1;
                        if status != 200 {
                            t.own_reads_missed += 1;
                            t.own_read_misses.push((status, started, token));
                        }
                    }
                    (Some(_), None) => {
                        let mut t = tally.lock().await;
                        t.own_reads_missed += 1;
                        t.own_read_misses.push((1, started, String::new()));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }));
    }
    for _ in 0..2 {
        let (app, stop, tally) = (app.clone(), stop.clone(), tally.clone());
        let path = format!("/stores/{}/inventory/{}", shop.store, shop.frame);
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, _) = request(&app, Method::GET, &path, None).await;
                let mut t = tally.lock().await;
                t.reads += 1;
                if status != 200 {
                    t.failed_reads += 1;
                    t.read_failures.push(status);
                }
                drop(t);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tasks
}

/// A POST as the admin: status (0: no answer), the consistency token and the body.
async fn write(app: &TestApp, path: &str, body: &Value) -> (u16, Option<String>, Value) {
    let sent = app
        .request(Method::POST, path, Some(&app.admin_token))
        .timeout(Duration::from_secs(35))
        .json(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let token = response
                .headers()
                .get("x-consistency-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (status, token, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, None, Value::Null),
    }
}

async fn read_with_token(app: &TestApp, path: &str, token: &str) -> u16 {
    app.request(Method::GET, path, Some(&app.admin_token))
        .header("x-consistency-token", token)
        .timeout(Duration::from_secs(35))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// [`longest_pause`] of the tally's 201s.
fn pause_after(t: &Tally, from: Instant) -> Option<(Duration, Duration)> {
    longest_pause(t.acknowledged.iter().map(|(_, _, at)| *at), from)
}

/// Every acknowledged order exists once, stock agrees with the orders and the movements.
/// Returns (lost, committed without an answer).
async fn check_orders(app: &TestApp, shop: &Shop, t: &Tally) -> (usize, i64) {
    // Reads without a token may lag (a standby, or a cache entry it filled) until the stale-read
    // window has passed since the last write; then the API must show the truth.
    let window = app.db.stale_read_window().unwrap_or_default();
    tokio::time::sleep(window + Duration::from_millis(500)).await;
    let acked: Vec<Uuid> = t.acknowledged.iter().map(|(id, _, _)| *id).collect();
    let found: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orders WHERE id = ANY($1)")
        .bind(&acked)
        .fetch_all(app.db.primary())
        .await
        .expect("acknowledged orders");
    let lost = acked.iter().filter(|id| !found.contains(id)).count();
    let in_db: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE customer_id = $1")
        .bind(shop.customer)
        .fetch_one(app.db.primary())
        .await
        .expect("order count");
    let unique: std::collections::HashSet<&Uuid> = acked.iter().collect();
    assert_eq!(lost, 0, "acknowledged orders missing after the failover");
    assert_eq!(unique.len(), acked.len(), "an order was acknowledged twice");
    let unanswered = in_db - acked.len() as i64;
    assert!(unanswered >= 0);
    assert!(
        unanswered <= t.failed_writes.len() as i64,
        "more orders than requests that could have made them"
    );
    let quantity = stock_quantity(app, shop.store, shop.frame).await;
    assert_eq!(quantity, STOCK - in_db, "stock does not match the orders");
    assert_stock_invariants(app).await;
    (lost, unanswered)
}

/// When each failed write was sent, relative to `from`, and what it got (0: no answer).
fn failure_times(t: &Tally, from: Instant) -> String {
    t.failed_writes
        .iter()
        .map(|(sent, status)| {
            let at = if *sent >= from {
                (*sent - from).as_secs_f64()
            } else {
                -(from - *sent).as_secs_f64()
            };
            format!("{at:.1}s:{status}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Each own read that missed: when its write was sent relative to `from`, the read's status
/// (1: the write had no token) and the write's token.
fn own_read_misses(t: &Tally, from: Instant) -> String {
    t.own_read_misses
        .iter()
        .map(|(status, sent, token)| {
            let at = if *sent >= from {
                (*sent - from).as_secs_f64()
            } else {
                -(from - *sent).as_secs_f64()
            };
            format!("{at:.1}s:{status}:{token}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The service's retries and waits for a primary, from `/metrics` (counters with labels).
async fn retry_metrics(app: &TestApp) -> String {
    let text = match app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
    {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .filter(|l| {
            l.starts_with("ims_db_retries_total{") || l.starts_with("ims_db_primary_waits_total{")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many standbys `/metrics` reports a replication lag for (waits up to 10 s for two).
async fn standbys_in_metrics(app: &TestApp) -> usize {
    let mut count = 0;
    for _ in 0..20 {
        let text = app.metrics_text().await;
        count = ["seconds", "bytes"]
            .iter()
            .map(|unit| {
                text.lines()
                    .filter(|l| l.starts_with(&format!("ims_db_replication_lag_{unit}{{standby=")))
                    .count()
            })
            .min()
            .unwrap_or(0);
        if count >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    count
}

/// (a) kill -9 the primary under a steady stream of orders and reads; (c) it rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "kills cluster nodes: run with --run-ignored all (see docs/operations.md)"]
async fn killing_the_primary_loses_no_acknowledged_order_and_it_rejoins_as_a_standby() {
    let app = Arc::new(app_on_cluster().await);
    let shop = shop(&app).await;
    assert_eq!(
        standbys_in_metrics(&app).await,
        2,
        "both standbys' lag in /metrics"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let tasks = start_load(&app, &shop, &stop, &tally);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let victim = primary_port().await.expect("a primary before the kill");
    let killed_at = Instant::now();
    LOOPBACK.kill_port(victim);
    // Load goes on until another node is the primary and has taken writes for 3 s (or 60 s).
    let deadline = killed_at + Duration::from_secs(60);
    let mut promoted_at = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match promoted_at {
            None => {
                if primary_port().await.is_some_and(|p| p != victim) {
                    promoted_at = Some(Instant::now());
                }
            }
            Some(at) => {
                let t = tally.lock().await;
                if at.elapsed() > Duration::from_secs(3)
                    && t.acknowledged.iter().any(|(_, sent, _)| *sent > at)
                {
                    break;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }
    let t = tally.lock().await;
    // Writes again: the 201 that ends the longest pause between 201s after the kill. (The
    // killed postmaster's backends may still commit for a moment, replicated as ever, so the
    // first 201 after the kill can come from the old primary; the pause is the failover.)
    let (writes_again, pause) =
        pause_after(&t, killed_at).expect("writes resumed within 60 s of the kill");
    let (lost, unanswered) = check_orders(&app, &shop, &t).await;
    eprintln!(
        "HA (a) kill -9 primary 127.0.0.1:{victim}: writes again after {:.2} s (longest pause {:.2} s); \
         acknowledged {}, lost {lost}, committed without answer {unanswered}, failed writes {}, \
         failed reads {} of {}, own writes not read back {} of {}",
        writes_again.as_secs_f64(),
        pause.as_secs_f64(),
        t.acknowledged.len(),
        t.failed_writes.len(),
        t.failed_reads,
        t.reads,
        t.own_reads_missed,
        t.own_reads,
    );
    eprintln!(
        "HA (a) failed writes: {}; own reads missed: {}; failed reads: {:?}; {}",
        failure_times(&t, killed_at),
        own_read_misses(&t, killed_at),
        t.read_failures,
        retry_metrics(&app).await,
    );
    let line = format!(
        "{:.2}\t{}\t{lost}\t{unanswered}\t{}\t{}\t{}\n",
        writes_again.as_secs_f64(),
        t.acknowledged.len(),
        t.failed_writes.len(),
        t.failed_reads,
        t.reads
    );
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(repo_root().join(".data/cluster/ha-runs.tsv"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    assert_eq!(
        t.own_reads_missed, 0,
        "a client did not read its own order back"
    );
    drop(t);

    // (c) The old primary rejoins as a standby when its keeper runs again.
    LOOPBACK.up();
    let mut conn = PgConnection::connect_with(&node(victim).database("postgres"))
        .await
        .expect("the old primary is back");
    let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&mut conn)
        .await
        .expect("recovery state");
    assert!(standby, "the old primary came back as a standby");
    drop(conn);

    drop_database(&app).await;
}

/// (b) A planned switchover under the same stream: no request fails, nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "switches the cluster's primary: run with --run-ignored all (see docs/operations.md)"]
async fn a_planned_switchover_fails_no_request() {
    let app = Arc::new(app_on_cluster().await);
    let shop = shop(&app).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let tasks = start_load(&app, &shop, &stop, &tally);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = primary_port()
        .await
        .expect("a primary before the switchover");
    let started = Instant::now();
    // Blocks until the monitor reports the new primary.
    Cluster(Net::Loopback).switchover();
    let switched = started.elapsed();
    let after = primary_port()
        .await
        .expect("a primary after the switchover");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }
    let t = tally.lock().await;
    let (_, pause) = pause_after(&t, started).expect("writes went on");
    let (_, unanswered) = check_orders(&app, &shop, &t).await;
    eprintln!(
        "HA (b) switchover 127.0.0.1:{before} -> 127.0.0.1:{after} in {:.2} s: longest write pause \
         {:.2} s; acknowledged {}, committed without answer {unanswered}, failed writes {}, \
         failed reads {} of {}, own writes not read back {} of {}",
        switched.as_secs_f64(),
        pause.as_secs_f64(),
        t.acknowledged.len(),
        t.failed_writes.len(),
        t.failed_reads,
        t.reads,
        t.own_reads_missed,
        t.own_reads,
    );
    eprintln!(
        "HA (b) failed writes: {}; failed reads: {:?}",
        failure_times(&t, started),
        t.read_failures
    );
    assert_ne!(before, after, "the primary moved");
    assert_eq!(
        t.failed_writes.len(),
        0,
        "a write failed during the switchover"
    );
    assert_eq!(t.failed_reads, 0, "a read failed during the switchover");
    assert_eq!(
        t.own_reads_missed, 0,
        "a client did not read its own order back"
    );
    drop(t);
    drop_database(&app).await;
}
