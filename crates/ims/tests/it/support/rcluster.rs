//! The Redis Cluster (`scripts/redis-cluster`, scripts/lib/redis_cluster.sh) as
//! `tests/it/ha_rcluster.rs` drives it: start it, find the master of a key, kill a node, and run
//! the service on it (on the test PostgreSQL) under a steady load of reads and orders. Ports
//! come from IMS_REDIS_CLUSTER_PORT, as the script's.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use testkit::TestApp;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::load::{timed_send, Answer};
use super::{port_from_env, repo_root};

/// Stock of the loaded product: more than any run orders.
pub const STOCK: i64 = 100_000;

/// Node 1's port; nodes 1-8 on it and the next seven.
pub fn first_port() -> u16 {
    port_from_env("IMS_REDIS_CLUSTER_PORT", 23822)
}

/// The fourth master `add-master` starts (node7).
pub fn new_master() -> u16 {
    first_port() + 6
}

/// `scripts/redis-cluster ACTION`; panics on failure.
pub fn rcluster(action: &str) {
    let output = Command::new(repo_root().join("scripts/redis-cluster"))
        .arg(action)
        .output()
        .expect("scripts/redis-cluster runs");
    assert!(
        output.status.success(),
        "scripts/redis-cluster {action}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The service's cache settings for the cluster (the key prefix is set by the app).
pub fn cluster_cache_config() -> cache::CacheConfig {
    let mut config = cache::CacheConfig::new("redis://127.0.0.1");
    config.cluster = (0..3)
        .map(|i| format!("127.0.0.1:{}", first_port() + i))
        .collect();
    config
}

/// A cluster connection of the test's own.
pub async fn cluster_connection() -> redis::cluster_async::ClusterConnection {
    let nodes: Vec<String> = (0..3)
        .map(|i| format!("redis://127.0.0.1:{}", first_port() + i))
        .collect();
    redis::cluster::ClusterClient::new(nodes)
        .expect("cluster client")
        .get_async_connection()
        .await
        .expect("connect to the Redis Cluster")
}

async fn db_for(name: &str) -> storage::Db {
    storage::Db::connect(&storage::DbConfig {
        min_connections: 0,
        max_connections: 10,
        acquire_timeout: Duration::from_secs(15),
        ..storage::DbConfig::new(testkit::admin_options().database(name))
    })
}

/// The service on a fresh test database, caching on the cluster.
pub async fn one_instance() -> TestApp {
    let name = testkit::fresh_database()
        .await
        .expect("fresh test database");
    TestApp::spawn_on_cache(
        testkit::settings(),
        db_for(&name).await,
        name,
        cluster_cache_config(),
    )
    .await
}

/// Two instances of the service on one fresh database and one key prefix.
pub async fn two_instances(settings: api::Settings) -> (TestApp, TestApp) {
    let name = testkit::fresh_database()
        .await
        .expect("fresh test database");
    let mut one = TestApp::spawn_on_cache(
        settings.clone(),
        db_for(&name).await,
        name.clone(),
        cluster_cache_config(),
    )
    .await;
    let two =
        TestApp::spawn_on_cache(settings, db_for(&name).await, name, cluster_cache_config()).await;
    // The second start reset the admin, which ended the first one's session.
    one.admin_token = one.login("admin", testkit::ADMIN_PASSWORD).await;
    (one, two)
}

/// GET as the admin: the body (panics unless 200) and `X-Cache`.
pub async fn get(app: &TestApp, path: &str) -> (Value, String) {
    let response = app
        .request(Method::GET, path, Some(&app.admin_token))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    let cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (response.json().await.expect("json"), cache)
}

/// A plain connection to one node, if it answers within a second.
async fn node(port: u16) -> Option<redis::aio::MultiplexedConnection> {
    let connect = async {
        redis::Client::open(format!("redis://127.0.0.1:{port}"))?
            .get_multiplexed_async_connection()
            .await
    };
    tokio::time::timeout(Duration::from_secs(1), connect)
        .await
        .ok()?
        .ok()
}

async fn ask<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> Option<T> {
    let mut conn = node(port).await?;
    tokio::time::timeout(Duration::from_secs(1), cmd.query_async(&mut conn))
        .await
        .ok()?
        .ok()
}

/// A master as `CLUSTER NODES` shows it: its port and slot ranges.
#[derive(Debug, Clone)]
pub struct Master {
    pub port: u16,
    pub slots: Vec<(u16, u16)>,
}

/// The masters serving slots, not flagged failing, as the first node that answers sees them.
pub async fn masters() -> Vec<Master> {
    for port in first_port()..first_port() + 8 {
        let Some(text) = ask::<String>(port, redis::cmd("CLUSTER").arg("NODES")).await else {
            continue;
        };
        return text
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let flags = f.get(2)?;
                if !flags.contains("master") || flags.contains("fail") {
                    return None;
                }
                let port = f
                    .get(1)?
                    .split('@')
                    .next()?
                    .rsplit_once(':')?
                    .1
                    .parse()
                    .ok()?;
                let slots: Vec<(u16, u16)> = f
                    .iter()
                    .skip(8)
                    .filter(|s| !s.starts_with('['))
                    .filter_map(|s| match s.split_once('-') {
                        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                        None => s.parse().ok().map(|n| (n, n)),
                    })
                    .collect();
                (!slots.is_empty()).then_some(Master { port, slots })
            })
            .collect();
    }
    panic!("no node of the Redis Cluster answers");
}

/// The master serving `key`'s slot, if one does (none between a master's failure and its
/// replica's promotion).
pub async fn master_of(key: &str) -> Option<Master> {
    let slot: u16 = ask(first_port(), redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
        .await
        .or(ask(
            first_port() + 1,
            redis::cmd("CLUSTER").arg("KEYSLOT").arg(key),
        )
        .await)
        .expect("CLUSTER KEYSLOT");
    masters()
        .await
        .into_iter()
        .find(|m| m.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
}

/// How many slots the node at `port` serves (as it sees itself).
pub async fn slots_of(port: u16) -> usize {
    masters()
        .await
        .into_iter()
        .filter(|m| m.port == port)
        .flat_map(|m| m.slots)
        .map(|(a, b)| usize::from(b - a) + 1)
        .sum()
}

/// Keys under `prefix` on the node at `port`.
pub async fn keys_on_node(port: u16, prefix: &str) -> usize {
    let Some(mut conn) = node(port).await else {
        return 0;
    };
    super::redis::keys_under(&mut conn, prefix).await.len()
}

/// How many masters hold keys under `prefix`.
pub async fn masters_holding(prefix: &str) -> usize {
    let mut holding = 0;
    for master in masters().await {
        if keys_on_node(master.port, prefix).await > 0 {
            holding += 1;
        }
    }
    holding
}

/// Waits (up to `limit`) until every master has a replica in sync, so a failover has
/// somewhere to go, and every node of the first six says the cluster is ok.
pub async fn wait_for_replicas(limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let mut ready = true;
        for master in masters().await {
            let info: Option<String> =
                ask(master.port, redis::cmd("INFO").arg("replication")).await;
            ready &= info.is_some_and(|i| i.contains("state=online"));
        }
        for port in first_port()..first_port() + 6 {
            let info: Option<String> = ask(port, redis::cmd("CLUSTER").arg("INFO")).await;
            ready &= info.is_some_and(|i| i.contains("cluster_state:ok"));
        }
        if ready {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the Redis Cluster's masters have no replicas in sync");
}

/// kill -9 the node at `port`.
pub async fn kill_node(port: u16) {
    let info: String = ask(port, redis::cmd("INFO").arg("server"))
        .await
        .expect("the node's INFO");
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .expect("process_id")
        .trim()
        .to_owned();
    let killed = Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success(), "kill -9 {pid}");
}

/// Two tasks placing orders and four reading the product, its stock row and any `more` paths
/// (each reader goes round all of them from its own start), until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(
        app: Arc<TestApp>,
        (store, product, order): (Uuid, Uuid, Value),
        more: &[String],
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let mut reads = vec![
            format!("/products/{product}"),
            format!("/stores/{store}/inventory/{product}"),
        ];
        reads.extend_from_slice(more);
        let reads = Arc::new(reads);
        for task in 0..6 {
            let (app, stop, answers, order, reads) = (
                app.clone(),
                stop.clone(),
                answers.clone(),
                order.clone(),
                reads.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut next = task;
                while !stop.load(Ordering::Relaxed) {
                    let answer = if task < 2 {
                        timed_send(&app, Method::POST, "/orders", Some(&order)).await
                    } else {
                        next += 1;
                        timed_send(&app, Method::GET, &reads[next % reads.len()], None).await
                    };
                    answers.lock().await.push(answer);
                    tokio::time::sleep(Duration::from_millis(if task < 2 { 20 } else { 10 })).await;
                }
            }));
        }
        Load {
            stop,
            answers,
            tasks,
        }
    }

    /// See [`Report::hit_again_after`].
    pub async fn hit_again_after(&self, from: Instant, path: &str) -> Option<Instant> {
        hit_again_after(&self.answers.lock().await, from, path)
    }

    pub async fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("load task");
        }
        let answers = std::mem::take(&mut *self.answers.lock().await);
        Report { answers }
    }
}

/// When a read of `path` sent after its first bypass since `from` was answered from the cache.
fn hit_again_after(answers: &[Answer], from: Instant, path: &str) -> Option<Instant> {
    let of_path = || answers.iter().filter(|a| a.path == path);
    let first_bypass = of_path()
        .filter(|a| a.sent >= from && a.cache.as_deref() == Some("bypass"))
        .map(|a| a.sent)
        .min()?;
    of_path()
        .filter(|a| a.sent > first_bypass && a.cache.as_deref() == Some("hit"))
        .map(|a| a.at)
        .min()
}

pub struct Report {
    answers: Vec<Answer>,
}

impl Report {
    pub fn hit_again_after(&self, from: Instant, path: &str) -> Option<Instant> {
        hit_again_after(&self.answers, from, path)
    }

    fn reads(&self) -> impl Iterator<Item = &Answer> {
        self.answers.iter().filter(|a| !a.write)
    }

    fn writes(&self) -> impl Iterator<Item = &Answer> {
        self.answers.iter().filter(|a| a.write)
    }

    pub fn bypassed(&self) -> usize {
        self.bypassed_of(|_| true)
    }

    /// Reads of the paths `of` picks that bypassed the cache.
    pub fn bypassed_of(&self, of: impl Fn(&str) -> bool) -> usize {
        self.reads()
            .filter(|a| of(&a.path) && a.cache.as_deref() == Some("bypass"))
            .count()
    }

    /// Reads sent in `[from, to)` answered from the cache.
    pub fn hits_between(&self, from: Instant, to: Instant) -> usize {
        self.hits_of_between(|_| true, from, to)
    }

    /// Reads of the paths `of` picks, sent in `[from, to)`, answered from the cache.
    pub fn hits_of_between(&self, of: impl Fn(&str) -> bool, from: Instant, to: Instant) -> usize {
        self.reads()
            .filter(|a| of(&a.path) && a.sent >= from && a.sent < to)
            .filter(|a| a.cache.as_deref() == Some("hit"))
            .count()
    }

    pub fn orders_placed(&self) -> i64 {
        self.writes().filter(|a| a.status == 201).count() as i64
    }

    fn failed(&self) -> (usize, usize) {
        (
            self.reads().filter(|a| a.status != 200).count(),
            self.writes().filter(|a| a.status != 201).count(),
        )
    }

    pub fn summary(&self) -> String {
        let (failed_reads, failed_writes) = self.failed();
        format!(
            "requests {}, failed {} (reads {failed_reads} of {}, orders {failed_writes} of {}), \
             reads bypassing the cache {}, hits {}",
            self.answers.len(),
            failed_reads + failed_writes,
            self.reads().count(),
            self.writes().count(),
            self.bypassed(),
            self.reads()
                .filter(|a| a.cache.as_deref() == Some("hit"))
                .count(),
        )
    }

    pub fn assert_no_failure(&self) {
        let (failed_reads, failed_writes) = self.failed();
        assert_eq!(failed_reads, 0, "reads failed: {}", self.summary());
        assert_eq!(failed_writes, 0, "orders failed: {}", self.summary());
    }
}
