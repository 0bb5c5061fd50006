//! Failure tests on the local high-availability cluster (`scripts/cluster`, docs/operations.md).
//!
//! Slow and disruptive (they start the cluster and kill its primary), so they are `#[ignore]`d:
//! `scripts/test` reports them as skipped and runs them only when asked:
//!
//! ```sh
//! scripts/test -E 'binary(ha)' --run-ignored all --no-capture
//! ```
//!
//! Each run appends one line to `.data/cluster/ha-runs.tsv` (the table in docs/operations.md).

mod cluster_common;
mod ops_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster_common::*;
use ops_common::*;
use reqwest::Method;
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
}

/// How many standbys `/metrics` reports a replication lag for (waits up to 10 s for two).
async fn standbys_in_metrics(app: &TestApp) -> usize {
    let mut count = 0;
    for _ in 0..20 {
        let text = app
            .client
            .get(format!("{}/metrics", app.address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
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
    let store = app.create_store("HA001").await;
    let category = app.create_category("Frames").await;
    let frame = product(&app, category, "HA-FRAME-1", 1_000).await;
    stock_in(&app, store, frame, STOCK).await;
    let customer_id = id_of(&customer(&app, "Asha Rao", "+91 98765 43210").await);
    let order = order_body(store, customer_id, &[(frame, 1)]);

    assert_eq!(
        standbys_in_metrics(&app).await,
        2,
        "both standbys' lag in /metrics"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (app, stop, tally, order) = (app.clone(), stop.clone(), tally.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (status, body) = request(&app, Method::POST, "/orders", Some(&order)).await;
                let mut t = tally.lock().await;
                match (status, body["id"].as_str().and_then(|s| s.parse().ok())) {
                    (201, Some(id)) => t.acknowledged.push((id, started, Instant::now())),
                    _ => t.failed_writes.push((started, status)),
                }
                drop(t);
                if status != 201 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for _ in 0..2 {
        let (app, stop, tally) = (app.clone(), stop.clone(), tally.clone());
        let path = format!("/stores/{store}/inventory/{frame}");
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (status, _) = request(&app, Method::GET, &path, None).await;
                let mut t = tally.lock().await;
                t.reads += 1;
                if status != 200 {
                    t.failed_reads += 1;
                }
                drop(t);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(3)).await;
    let victim = primary_port().await.expect("a primary before the kill");
    let killed_at = Instant::now();
    kill_node(victim);
    // Load goes on until writes have succeeded for 3 s since the last failed one (or 60 s).
    let deadline = killed_at + Duration::from_secs(60);
    let last_failure = |t: &Tally| {
        t.failed_writes
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| *s > killed_at)
            .max()
    };
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = tally.lock().await;
        if let Some(f) = last_failure(&t) {
            if f.elapsed() > Duration::from_secs(3)
                && t.acknowledged.iter().any(|(_, sent, _)| *sent > f)
            {
                break;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }
    // Writes again: the first 201 to a request sent after the last write that failed.
    let writes_again = {
        let t = tally.lock().await;
        let after = last_failure(&t).unwrap_or(killed_at);
        t.acknowledged
            .iter()
            .filter(|(_, sent, _)| *sent > after)
            .map(|(_, _, at)| *at)
            .min()
            .map(|at| at - killed_at)
    };
    let writes_again = writes_again.expect("writes resumed within 60 s of the kill");

    // Every acknowledged order exists once; the extra ones (committed, answer lost) are counted.
    let t = tally.lock().await;
    let acked: Vec<Uuid> = t.acknowledged.iter().map(|(id, _, _)| *id).collect();
    let found: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orders WHERE id = ANY($1)")
        .bind(&acked)
        .fetch_all(app.db.primary())
        .await
        .expect("acknowledged orders");
    let lost = acked.iter().filter(|id| !found.contains(id)).count();
    let in_db: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(app.db.primary())
        .await
        .expect("order count");
    let unique: std::collections::HashSet<&Uuid> = acked.iter().collect();
    let quantity = stock_quantity(&app, store, frame).await;
    let summary = format!(
        "{:.2}\t{}\t{}\t{}\t{}\t{}\t{}",
        writes_again.as_secs_f64(),
        acked.len(),
        lost,
        in_db - acked.len() as i64,
        t.failed_writes.len(),
        t.failed_reads,
        t.reads
    );
    eprintln!(
        "HA (a) kill -9 primary 127.0.0.1:{victim}: writes again after {:.2} s; acknowledged {}, \
         lost {lost}, committed without answer {}, failed writes {}, failed reads {} of {}",
        writes_again.as_secs_f64(),
        acked.len(),
        in_db - acked.len() as i64,
        t.failed_writes.len(),
        t.failed_reads,
        t.reads
    );
    let log = repo_root().join(".data/cluster/ha-runs.tsv");
    let line = format!("{summary}\n");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));

    assert_eq!(lost, 0, "acknowledged orders missing after the failover");
    assert_eq!(unique.len(), acked.len(), "an order was acknowledged twice");
    assert!(in_db >= acked.len() as i64);
    assert!(
        in_db - acked.len() as i64 <= t.failed_writes.len() as i64,
        "more orders than requests that could have made them"
    );
    assert_eq!(quantity, STOCK - in_db, "stock does not match the orders");
    assert_stock_invariants(&app).await;
    drop(t);

    // (c) The old primary rejoins as a standby when its keeper runs again.
    cluster_up();
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
