//! Failure test (e) on the local high-availability cluster: a network partition (issue 8,
//! docs/operations.md). The cluster runs with the monitor and each PostgreSQL node in a
//! network namespace of its own (`scripts/cluster --netns up`); the partition drops, inside
//! the primary's namespace, everything to and from the monitor and the other nodes, while the
//! service (this process, in the root namespace) still reaches it. So writes do reach the
//! isolated primary; they must wait there for a standby that never answers and never be
//! acknowledged, until its keeper demotes it and the monitor promotes a standby.
//!
//! Needs root (`ip netns`, nftables) and is slow, so it is `#[ignore]`d:
//!
//! ```sh
//! scripts/test -E 'test(/^ha_partition::/)' --run-ignored all --no-capture
//! ```
//!
//! Each run appends one line to `.data/cluster-netns/ha-partition-runs.tsv`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::cluster::*;
use crate::support::ops::*;
use reqwest::Method;
use sqlx::{Connection, PgConnection};
use testkit::id_of;
use tokio::sync::Mutex;
use uuid::Uuid;

const STOCK: i64 = 100_000;
const NET: Net = Net::Namespaces;

#[derive(Default)]
struct Tally {
    /// (order id, when its request was sent, when the 201 arrived)
    acknowledged: Vec<(Uuid, Instant, Instant)>,
    /// (request start, status or 0 for no answer)
    failed_writes: Vec<(Instant, u16)>,
    reads: usize,
    failed_reads: usize,
}

/// What a watcher saw of the nodes after the cut (each polled every 200 ms from this side).
#[derive(Default)]
struct Seen {
    /// The isolated primary still answered as a primary after the cut.
    victim_primary_after_cut: bool,
    /// The first of two polls in a row at which the isolated node no longer answered as a
    /// primary (one poll may time out under load).
    victim_gone: Option<Instant>,
    maybe_gone: Option<Instant>,
    /// It answered as a primary again after that (PostgreSQL restarted on the old timeline).
    victim_back: bool,
    /// The first poll at which another node answered as a primary (`pg_is_in_recovery()`
    /// false): (when, index). pg_auto_failover promotes it in `stop_replication` but holds its
    /// writes until `wait_primary`.
    promoted: Option<(Instant, usize)>,
    /// When the monitor assigned another node `wait_primary` or `primary`, from when on it
    /// may acknowledge writes; at the earliest: the start of the last poll that did not see it.
    accepting: Option<Instant>,
    not_accepting_yet: Option<Instant>,
}

/// How many lines of nodeN's keeper log contain `text`.
fn lines_in_log(n: usize, text: &str) -> usize {
    std::fs::read_to_string(Cluster(NET).log(n))
        .map(|log| log.lines().filter(|line| line.contains(text)).count())
        .unwrap_or(0)
}

/// (pg_rewind runs, failed rewinds) in nodeN's keeper log so far.
fn rewinds_in_log(n: usize) -> (usize, usize) {
    (
        lines_in_log(n, "pg_rewind --target-pgdata"),
        lines_in_log(n, "Failed to rewind"),
    )
}

/// (e) partition the primary under a steady stream of orders and reads; it rejoins on heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "partitions cluster nodes (needs root): run with --run-ignored all (see docs/operations.md)"]
async fn a_partitioned_primary_acknowledges_no_write_and_rejoins_by_rewind() {
    // A run that failed half-way leaves its partition in place: undo any first.
    Cluster(NET).heal(&[]);
    let app = Arc::new(app_on(NET, testkit::settings(), None).await);
    let addrs = Cluster(NET).nodes();
    let monitor = Cluster(NET).monitor();
    let store = app.create_store("HAP01").await;
    let category = app.create_category("Frames").await;
    let frame = product(&app, category, "HAP-FRAME-1", 1_000).await;
    stock_in(&app, store, frame, STOCK).await;
    let customer_id = id_of(&customer(&app, "Asha Rao", "+91 98765 43210").await);
    let order = order_body(store, customer_id, &[(frame, 1)]);

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
    let victim = primary_index(&addrs)
        .await
        .expect("a primary before the cut");
    let rewinds_before = rewinds_in_log(victim + 1);
    let cut_at = Instant::now();
    Cluster(NET).partition(victim + 1);

    // The watcher: when the isolated primary stops answering as one, and when another node
    // starts to.
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watcher = {
        let (stop, seen, addrs, monitor) =
            (stop.clone(), seen.clone(), addrs.clone(), monitor.clone());
        let victim_name = format!("node{}", victim + 1);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let polled = Instant::now();
                let (a, b, c, primaries) = tokio::join!(
                    in_recovery(&addrs[0]),
                    in_recovery(&addrs[1]),
                    in_recovery(&addrs[2]),
                    monitor_primaries(&monitor)
                );
                let states = [a, b, c];
                let now = Instant::now();
                let mut s = seen.lock().await;
                if states[victim] == Some(false) {
                    s.maybe_gone = None;
                    if s.victim_gone.is_none() {
                        s.victim_primary_after_cut = true;
                    } else {
                        s.victim_back = true;
                    }
                } else if s.victim_gone.is_none() {
                    match s.maybe_gone {
                        None => s.maybe_gone = Some(now),
                        Some(first) => s.victim_gone = Some(first),
                    }
                }
                if s.promoted.is_none() {
                    if let Some(i) =
                        (0..states.len()).find(|i| *i != victim && states[*i] == Some(false))
                    {
                        s.promoted = Some((now, i));
                    }
                }
                if s.accepting.is_none() {
                    match primaries {
                        Some(p) if p.iter().any(|name| *name != victim_name) => {
                            s.accepting = Some(s.not_accepting_yet.unwrap_or(cut_at));
                        }
                        Some(_) => s.not_accepting_yet = Some(polled),
                        None => {}
                    }
                }
                drop(s);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // Load goes on until another node is the primary, the isolated one has stopped, and writes
    // have been acknowledged for 3 s since both (or 90 s). (Writes can resume on the new
    // primary before the old one stops: wait for both.)
    let deadline = cut_at + Duration::from_secs(90);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let settled = {
            let s = seen.lock().await;
            match (s.accepting, s.victim_gone) {
                (Some(a), Some(g)) => Some(a.max(g)),
                _ => None,
            }
        };
        let Some(settled) = settled else { continue };
        let t = tally.lock().await;
        if settled.elapsed() > Duration::from_secs(3)
            && t.acknowledged.iter().any(|(_, sent, _)| *sent > settled)
        {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("load task");
    }
    watcher.await.expect("watcher");

    let seen = seen.lock().await;
    let t = tally.lock().await;
    let (promoted_at, new_primary) = seen.promoted.expect("a standby was promoted within 90 s");
    let accepting = seen
        .accepting
        .expect("the monitor had a new primary within 90 s");
    let victim_gone = seen
        .victim_gone
        .expect("the isolated primary stopped within 90 s");
    // Writes again: the 201 that ends the longest pause between 201s after the cut (the
    // service retries what failed, so the pause, not the failures, is the partition's cost).
    let writes_again = longest_pause(t.acknowledged.iter().map(|(_, _, at)| *at), cut_at)
        .map(|(at, _)| at)
        .expect("writes resumed within 90 s of the cut");
    // Acknowledged between the cut and the new primary's `wait_primary`: only the isolated
    // primary could have answered those (1 s of grace for a commit its standby confirmed just
    // before the cut).
    let acked_while_isolated = t
        .acknowledged
        .iter()
        .filter(|(_, _, at)| *at > cut_at + Duration::from_secs(1) && *at < accepting)
        .count();
    let acked: Vec<Uuid> = t.acknowledged.iter().map(|(id, _, _)| *id).collect();

    // Before the heal, straight on the promoted node (the new timeline): every acknowledged
    // order is there. The isolated node's own commits (it committed locally, then waited) are
    // only on the old timeline, which the rewind below throws away.
    let mut new_primary_conn =
        PgConnection::connect_with(&node_at(&addrs[new_primary]).database(&app.database_name))
            .await
            .expect("connect to the new primary");
    let on_new_timeline: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orders WHERE id = ANY($1)")
        .bind(&acked)
        .fetch_all(&mut new_primary_conn)
        .await
        .expect("acknowledged orders on the new primary");
    let missing_on_new_timeline = acked.len() - on_new_timeline.len();
    drop(new_primary_conn);

    // Heal: the old primary must come back as a standby of the new one, by pg_rewind.
    let healed_at = Instant::now();
    Cluster(NET).heal(&[victim + 1]);
    let mut rejoined = None;
    while healed_at.elapsed() < Duration::from_secs(90) {
        if in_recovery(&addrs[victim]).await == Some(true) {
            rejoined = Some(healed_at.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let rejoined = rejoined.expect("the old primary rejoined as a standby within 90 s of the heal");
    let rewinds_after = rewinds_in_log(victim + 1);
    let rewound = rewinds_after.0 > rewinds_before.0 && rewinds_after.1 == rewinds_before.1;

    // On the final primary, through the service's pool: each acknowledged order exists once.
    let found: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM orders WHERE id = ANY($1)")
        .bind(&acked)
        .fetch_all(app.db.primary())
        .await
        .expect("acknowledged orders");
    let lost = acked.len() - found.len();
    let in_db: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE customer_id = $1")
        .bind(customer_id)
        .fetch_one(app.db.primary())
        .await
        .expect("order count");
    let unique: HashSet<&Uuid> = acked.iter().collect();
    let quantity = stock_quantity(&app, store, frame).await;
    let secs = |d: Duration| d.as_secs_f64();
    let summary = format!(
        "{:.2}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{:.2}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        secs(victim_gone - cut_at),
        secs(promoted_at - cut_at),
        secs(accepting - cut_at),
        secs(writes_again),
        secs(rejoined),
        secs(victim_gone.saturating_duration_since(accepting)),
        acked.len(),
        lost,
        acked_while_isolated,
        in_db - acked.len() as i64,
        t.failed_writes.len(),
        t.failed_reads,
        t.reads
    );
    // When each failed write was sent, relative to the cut, and what it got (0: no answer).
    let failures: Vec<String> = t
        .failed_writes
        .iter()
        .map(|(sent, status)| {
            let at = if *sent >= cut_at {
                secs(*sent - cut_at)
            } else {
                -secs(cut_at - *sent)
            };
            format!("{at:.1}s:{status}")
        })
        .collect();
    eprintln!("HA (e) failed writes: {}", failures.join(" "));
    eprintln!(
        "HA (e) partition of primary node{} ({}): it stopped after {:.2} s, node{} promoted after \
         {:.2} s, wait_primary after {:.2} s, writes again after {:.2} s; healed, back as a \
         standby after {:.2} s ({}); \
         acknowledged {}, lost {lost}, acknowledged while isolated {acked_while_isolated}, \
         missing on the new timeline {missing_on_new_timeline}, committed without answer {}, \
         failed writes {}, failed reads {} of {}",
        victim + 1,
        addrs[victim],
        secs(victim_gone - cut_at),
        new_primary + 1,
        secs(promoted_at - cut_at),
        secs(accepting - cut_at),
        secs(writes_again),
        secs(rejoined),
        if rewound {
            "pg_rewind"
        } else {
            "no successful pg_rewind in its log"
        },
        acked.len(),
        in_db - acked.len() as i64,
        t.failed_writes.len(),
        t.failed_reads,
        t.reads
    );
    let log = Cluster(NET).dir().join("ha-partition-runs.tsv");
    let line = format!("{summary}\n");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));

    assert!(
        seen.victim_primary_after_cut,
        "the service could not reach the isolated primary (the partition should spare it)"
    );
    assert!(
        !seen.victim_back,
        "the isolated node came back as a primary during the partition"
    );
    assert_eq!(
        acked_while_isolated, 0,
        "a write was acknowledged while the primary was isolated"
    );
    assert_eq!(
        missing_on_new_timeline, 0,
        "acknowledged orders missing on the new primary"
    );
    assert_eq!(lost, 0, "acknowledged orders missing after the heal");
    assert_eq!(unique.len(), acked.len(), "an order was acknowledged twice");
    assert!(in_db >= acked.len() as i64);
    assert!(
        in_db - acked.len() as i64 <= t.failed_writes.len() as i64,
        "more orders than requests that could have made them"
    );
    assert_eq!(quantity, STOCK - in_db, "stock does not match the orders");
    assert_stock_invariants(&app).await;
    assert!(
        rewound,
        "the old primary rejoined without pg_rewind (a full copy instead)"
    );
    drop(t);
    drop(seen);

    drop_database_on(NET, &app).await;
}
