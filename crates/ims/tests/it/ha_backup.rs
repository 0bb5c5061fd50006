//! Failure test (f) on the local high-availability cluster: a backup taken from a standby, a
//! switchover, and a point-in-time restore that brings back exactly what was committed before
//! the target time (issue 16; docs/operations.md "Backups and point-in-time restore").
//!
//! It drives `scripts/backup cluster ...` (pgBackRest) as an operator would, and switches the
//! cluster's primary, so it is `#[ignore]`d like the other failure tests; alone:
//!
//! ```sh
//! scripts/test -E 'test(/^ha_backup::/)' --run-ignored all --no-capture
//! ```

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::cluster::*;
use crate::support::ops::*;
use crate::support::repo_root;
use sqlx::{Connection, PgConnection};
use testkit::{id_of, TestApp};
use uuid::Uuid;

/// Orders placed before the target time, and after it.
const BEFORE: usize = 5;
const AFTER: usize = 4;

/// `scripts/backup cluster ARGS...` on this cluster's ports (inherited from the environment, as
/// [`crate::support::cluster`] reads them); its output (stdout and stderr), panicking on failure.
fn backup(args: &[&str]) -> String {
    let out = Command::new("scripts/backup")
        .arg("cluster")
        .args(args)
        .env("IMS_CLUSTER_NETNS", "")
        .current_dir(repo_root())
        .output()
        .expect("scripts/backup runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scripts/backup cluster {args:?} failed:\n{text}"
    );
    text
}

/// The restored server: stopped (and its files removed) when the test ends, passed or not.
struct Restored {
    dir: PathBuf,
    port: u16,
}

impl Drop for Restored {
    fn drop(&mut self) {
        let _ = Command::new("scripts/backup")
            .args(["cluster", "stop-restore", "--into"])
            .arg(&self.dir)
            .env("IMS_CLUSTER_NETNS", "")
            .current_dir(repo_root())
            .output();
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

fn data_dir() -> PathBuf {
    std::env::var_os("IMS_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".data"))
}

/// Places `count` orders of one frame for `customer`; returns their ids.
async fn place(app: &TestApp, store: Uuid, frame: Uuid, customer: Uuid, count: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let order = place_ok(app, &app.admin_token, store, customer, &[(frame, 1)]).await;
        ids.push(id_of(&order));
    }
    ids
}

/// The primary's clock, in UTC, as `scripts/backup restore --to` takes it.
async fn primary_now() -> String {
    let port = primary_port().await.expect("a primary");
    let mut conn = PgConnection::connect_with(&node(port).database("postgres"))
        .await
        .expect("connect to the primary");
    sqlx::query_scalar(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the primary's clock")
}

/// (f) Backup from a standby, switchover, N orders, time T, M orders: the restore to T into a
/// fresh data directory on a private port holds exactly the N orders, none of the M.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "switches the cluster's primary and restores a backup: run with --run-ignored all (see docs/operations.md)"]
async fn a_restore_to_a_time_brings_back_exactly_the_orders_committed_before_it() {
    let app = app_on_cluster().await;
    let store = app.create_store("BK001").await;
    let category = app.create_category("Frames").await;
    let frame = product(&app, category, "BK-FRAME-1", 1_000).await;
    stock_in(&app, store, frame, 1_000).await;
    let customer = id_of(&customer(&app, "Meera Iyer", "+91 98450 12345").await);

    // The backup is copied from a standby: pgBackRest waits for the standby to replay the
    // backup's start before it copies a file (and says so).
    let taken = backup(&["full"]);
    assert!(
        taken.contains("replay on the standby reached"),
        "the backup was not taken from a standby:\n{taken}"
    );

    // A planned failover: from here the other node archives the WAL the restore needs.
    let before = primary_port()
        .await
        .expect("a primary before the switchover");
    Cluster(Net::Loopback).switchover();
    let after = primary_port()
        .await
        .expect("a primary after the switchover");
    assert_ne!(before, after, "the switchover moved the primary");

    let kept = place(&app, store, frame, customer, BEFORE).await;
    // T a second after the last kept commit and a second before the next order: the
    // commits' timestamps lie clearly on either side of it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let target = primary_now().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dropped = place(&app, store, frame, customer, AFTER).await;
    // The WAL holding all of them archived (a WAL switch, waited for).
    backup(&["check"]);

    let restored = Restored {
        dir: data_dir()
            .join(format!("restore-test-{}", Uuid::new_v4().simple()))
            .join("pg"),
        port: monitor_port() + 9,
    };
    assert!(!restored.dir.exists(), "a fresh data directory");
    let done = backup(&[
        "restore",
        "--to",
        &target,
        "--into",
        restored.dir.to_str().expect("a UTF-8 path"),
        "--port",
        &restored.port.to_string(),
    ]);
    eprintln!(
        "HA (f) restore to {target}: {}",
        done.lines().last().unwrap_or("")
    );

    let mut conn = PgConnection::connect_with(&node(restored.port).database(&app.database_name))
        .await
        .expect("connect to the restored server");
    let found: BTreeSet<Uuid> =
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM orders WHERE customer_id = $1")
            .bind(customer)
            .fetch_all(&mut conn)
            .await
            .expect("the restored orders")
            .into_iter()
            .collect();
    let quantity: i64 = sqlx::query_scalar(
        "SELECT quantity::bigint FROM inventory WHERE store_id = $1 AND product_id = $2",
    )
    .bind(store)
    .bind(frame)
    .fetch_one(&mut conn)
    .await
    .expect("the restored stock row");
    drop(conn);
    drop(restored);

    let expected: BTreeSet<Uuid> = kept.iter().copied().collect();
    let late: Vec<&Uuid> = dropped.iter().filter(|id| found.contains(id)).collect();
    assert!(late.is_empty(), "orders placed after T came back: {late:?}");
    assert_eq!(
        found, expected,
        "the restore holds exactly the orders placed before T"
    );
    assert_eq!(
        quantity,
        1_000 - BEFORE as i64,
        "the restored stock agrees with the restored orders"
    );
    drop_database(&app).await;
}
