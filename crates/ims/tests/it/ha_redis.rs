//! Failure test (d) on the local high-availability cluster: the Redis master killed under load,
//! with the service's cache and rate limit following the master through the Sentinels.
//!
//! Disruptive (it kills the cluster's Redis master), so it is `#[ignore]`d; run it with
//!
//! ```sh
//! scripts/test -E 'test(/^ha_redis::/)' --run-ignored all --no-capture
//! ```
//!
//! Each run appends one line to `.data/cluster/ha-redis-runs.tsv` (the table in
//! docs/operations.md).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::cluster::*;
use crate::support::load::{timed_send, Answer};
use crate::support::ops::*;
use crate::support::repo_root;
use reqwest::Method;
use testkit::id_of;
use tokio::sync::Mutex;

const STOCK: i64 = 100_000;

async fn redis_conn(port: u16) -> redis::aio::MultiplexedConnection {
    crate::support::redis::connect(&format!("redis://127.0.0.1:{port}")).await
}

/// The master's port as the first answering Sentinel names it.
async fn sentinel_master() -> Option<u16> {
    for port in sentinel_ports() {
        let ask = async {
            let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))?
                .get_multiplexed_async_connection()
                .await?;
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(redis_master_name())
                .query_async::<Option<(String, u16)>>(&mut conn)
                .await
        };
        if let Ok(Ok(Some((_, master)))) = tokio::time::timeout(Duration::from_secs(1), ask).await {
            return Some(master);
        }
    }
    None
}

/// A field of `INFO` on the server at `port`, if it answers.
async fn info_field(port: u16, section: &str, field: &str) -> Option<String> {
    let ask = async {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}"))?
            .get_multiplexed_async_connection()
            .await?;
        redis::cmd("INFO")
            .arg(section)
            .query_async::<String>(&mut conn)
            .await
    };
    let info = tokio::time::timeout(Duration::from_secs(1), ask)
        .await
        .ok()?
        .ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// Waits (up to `limit`) until the master has its replica in sync and every Sentinel counts it
/// as a healthy replica, so a failover has somewhere to go.
async fn wait_for_replica(master: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let synced = info_field(master, "replication", "connected_slaves").await
            == Some("1".into())
            && info_field(master, "replication", "slave0")
                .await
                .is_some_and(|s| s.contains("state=online"));
        let mut known = 0;
        for port in sentinel_ports() {
            let mut conn = redis_conn(port).await;
            let replicas: Vec<std::collections::HashMap<String, String>> = redis::cmd("SENTINEL")
                .arg("REPLICAS")
                .arg(redis_master_name())
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if replicas.iter().any(|r| {
                r.get("flags").is_some_and(|f| f == "slave")
                    && r.get("master-link-status").is_some_and(|s| s == "ok")
            }) {
                known += 1;
            }
        }
        if synced && known == sentinel_ports().len() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

/// (d) kill -9 the Redis master under a steady stream of cached reads and orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "kills cluster nodes: run with --run-ignored all (see docs/operations.md)"]
async fn killing_the_redis_master_fails_no_request_and_the_cache_follows_the_new_master() {
    let app = Arc::new(app_on_cluster_cached(testkit::settings(), sentinel_cache_config()).await);
    let store = app.create_store("HR001").await;
    let category = app.create_category("Frames").await;
    let frame = product(&app, category, "HR-FRAME-1", 1_000).await;
    stock_in(&app, store, frame, STOCK).await;
    let customer_id = id_of(&customer(&app, "Asha Rao", "+91 98765 43210").await);
    let order = order_body(store, customer_id, &[(frame, 1)]);

    let victim = sentinel_master()
        .await
        .expect("the Sentinels name a master");
    assert!(
        wait_for_replica(victim, Duration::from_secs(60)).await,
        "the master 127.0.0.1:{victim} has no replica the Sentinels trust"
    );
    let switches_before = app
        .metric(r#"ims_redis_master_switches_total{client="cache"}"#)
        .await;

    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let reads = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (app, stop, writes, order) = (app.clone(), stop.clone(), writes.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let answer = timed_send(&app, Method::POST, "/orders", Some(&order)).await;
                writes.lock().await.push(answer);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let paths = [
        format!("/products/{frame}"),
        format!("/stores/{store}/inventory/{frame}"),
    ];
    for task in 0..4 {
        let (app, stop, reads) = (app.clone(), stop.clone(), reads.clone());
        let path = paths[task % paths.len()].clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let answer = timed_send(&app, Method::GET, &path, None).await;
                reads.lock().await.push(answer);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }

    tokio::time::sleep(Duration::from_secs(3)).await;
    let hits_before = reads
        .lock()
        .await
        .iter()
        .filter(|a| a.cache.as_deref() == Some("hit"))
        .count();
    let pid = info_field(victim, "server", "process_id")
        .await
        .expect("the master's pid");
    let killed_at = Instant::now();
    let killed = Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success(), "kill -9 {pid}");

    // Load goes on until a read sent after the first bypass hits the cache again, then 2 s
    // more (or 60 s in all).
    let first_bypass = |reads: &[Answer]| {
        reads
            .iter()
            .filter(|a| a.sent >= killed_at && a.cache.as_deref() == Some("bypass"))
            .map(|a| a.sent)
            .min()
    };
    let hit_again = |reads: &[Answer]| {
        let after = first_bypass(reads)?;
        reads
            .iter()
            .filter(|a| a.sent > after && a.cache.as_deref() == Some("hit"))
            .map(|a| a.at)
            .min()
    };
    let deadline = killed_at + Duration::from_secs(60);
    let mut new_master = None;
    let mut elected = None;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if new_master.is_none() {
            if let Some(port) = sentinel_master().await.filter(|p| *p != victim) {
                new_master = Some(port);
                elected = Some(killed_at.elapsed());
            }
        }
        if hit_again(&reads.lock().await).is_some_and(|at| at.elapsed() > Duration::from_secs(2)) {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }

    let reads = reads.lock().await;
    let writes = writes.lock().await;
    let failed_reads = reads.iter().filter(|a| a.status != 200).count();
    let failed_writes = writes.iter().filter(|a| a.status != 201).count();
    let bypassed = reads
        .iter()
        .filter(|a| a.cache.as_deref() == Some("bypass"))
        .count();
    let cache_again = hit_again(&reads).map(|at| at - killed_at);
    let switches = app
        .metric(r#"ims_redis_master_switches_total{client="cache"}"#)
        .await;
    let new_master = new_master.or(sentinel_master().await.filter(|p| *p != victim));
    let keys_on_new_master: Vec<String> = match new_master {
        Some(port) => redis::cmd("KEYS")
            .arg(format!("{}:*", app.database_name))
            .query_async(&mut redis_conn(port).await)
            .await
            .expect("keys"),
        None => Vec::new(),
    };
    let secs = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
    eprintln!(
        "HA (d) kill -9 Redis master 127.0.0.1:{victim}: new master {} elected after {:.2} s, \
         cache used again after {:.2} s; requests {}, failed {} (reads {failed_reads} of {}, \
         writes {failed_writes} of {}), reads bypassing the cache {bypassed}, master switches \
         followed (the cache's connection, which the rate limit shares) {}",
        new_master.map_or("none".into(), |p| format!("127.0.0.1:{p}")),
        secs(elected),
        secs(cache_again),
        reads.len() + writes.len(),
        failed_reads + failed_writes,
        reads.len(),
        writes.len(),
        switches - switches_before,
    );
    let line = format!(
        "{:.2}\t{:.2}\t{}\t{}\t{}\n",
        secs(elected),
        secs(cache_again),
        reads.len() + writes.len(),
        failed_reads + failed_writes,
        bypassed
    );
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(repo_root().join(".data/cluster/ha-redis-runs.tsv"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));

    assert!(hits_before > 0, "the cache served hits before the kill");
    assert_eq!(
        failed_reads, 0,
        "reads failed while the Redis master was replaced"
    );
    assert_eq!(
        failed_writes, 0,
        "orders failed while the Redis master was replaced"
    );
    assert!(
        bypassed > 0,
        "no read bypassed the cache: the kill went unnoticed"
    );
    assert!(new_master.is_some(), "the Sentinels elected no new master");
    assert!(
        cache_again.is_some(),
        "the cache never served a hit again after the failover"
    );
    assert!(
        switches - switches_before >= 1.0,
        "the cache did not count the switch"
    );
    assert!(
        !keys_on_new_master.is_empty(),
        "the service cached nothing on the new master"
    );
    // Stock still matches the orders: nothing the cache did changed an answer.
    let placed = writes.iter().filter(|a| a.status == 201).count() as i64;
    assert_eq!(stock_quantity(&app, store, frame).await, STOCK - placed);
    drop((reads, writes));

    // The killed server comes back as a replica of the new master, which the next test's
    // failover needs.
    LOOPBACK.up();
    let role = info_field(victim, "replication", "role").await;
    assert_eq!(
        role.as_deref(),
        Some("slave"),
        "the old master rejoined as a replica"
    );
    let master = new_master.expect("checked above");
    assert!(
        wait_for_replica(master, Duration::from_secs(60)).await,
        "the old master did not sync as a replica of 127.0.0.1:{master}"
    );

    drop_database(&app).await;
}
