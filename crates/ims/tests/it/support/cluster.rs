//! The local high-availability cluster (`scripts/cluster`, scripts/lib/cluster.sh) as the
//! failure tests (`tests/it/ha*.rs`) drive it: start it, find and kill its nodes, and run the
//! service on it. Ports come from the same variables as the scripts' (IMS_CLUSTER_PG_PORT,
//! IMS_CLUSTER_REDIS_PORT, IMS_CLUSTER_SENTINEL_PORT), so two checkouts can run two clusters.
//!
//! Two variants ([`Net`]): the loopback cluster (`scripts/cluster up`, [`LOOPBACK`]) and the
//! one with every node in a network namespace of its own (`scripts/cluster --netns up`; the
//! `_on` functions), which test (e) partitions. [`Cluster`] drives either through the
//! script's public commands (up, addresses, kill, switchover, partition, heal, logs).
//!
//! The tests sharing this cluster run one at a time (`.config/nextest.toml`, group `cluster`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use testkit::TestApp;

use super::{port_from_env, repo_root};
use uuid::Uuid;

/// The monitor's port; the nodes listen on the next three.
pub fn monitor_port() -> u16 {
    port_from_env("IMS_CLUSTER_PG_PORT", 15430)
}

/// The three PostgreSQL nodes' ports, node1 first.
pub fn nodes() -> [u16; 3] {
    let monitor = monitor_port();
    [monitor + 1, monitor + 2, monitor + 3]
}

/// The two Redis servers (the first master, its replica).
pub fn redis_ports() -> [u16; 2] {
    let first = port_from_env("IMS_CLUSTER_REDIS_PORT", 23805);
    [first, first + 1]
}

/// The three Sentinels.
pub fn sentinel_ports() -> [u16; 3] {
    let first = port_from_env("IMS_CLUSTER_SENTINEL_PORT", 26380);
    [first, first + 1, first + 2]
}

/// Which cluster: on 127.0.0.1, or each node in its own network namespace
/// (IMS_CLUSTER_NETNS=1 in scripts/lib/cluster.sh: other addresses, data in `.data/cluster-netns`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    Loopback,
    Namespaces,
}

/// One of the two clusters, driven through the public commands of `scripts/cluster` (the
/// same code an operator runs), never through the library's private functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cluster(pub Net);

/// The cluster on 127.0.0.1 (`scripts/cluster up`).
pub const LOOPBACK: Cluster = Cluster(Net::Loopback);

impl Cluster {
    /// Runs `scripts/cluster [--netns] args...`; its output, panicking on failure.
    fn run(self, args: &[&str]) -> String {
        let mut command = Command::new(repo_root().join("scripts/cluster"));
        // Set either way, so an IMS_CLUSTER_NETNS in the caller's environment does not switch
        // the loopback tests over.
        match self.0 {
            Net::Loopback => command.env("IMS_CLUSTER_NETNS", ""),
            Net::Namespaces => command.arg("--netns").env("IMS_CLUSTER_NETNS", "1"),
        };
        let out = command
            .args(args)
            .current_dir(repo_root())
            .output()
            .expect("scripts/cluster runs");
        assert!(
            out.status.success(),
            "scripts/cluster {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Starts whatever part of it is not running (installing what is missing).
    pub fn up(self) {
        self.run(&["ensure"]);
    }

    /// Every member's name (`monitor`, `node1`...) and address.
    fn members(self) -> Vec<(String, Addr)> {
        self.run(&["addrs"])
            .lines()
            .map(|line| {
                let mut fields = line.split_whitespace();
                let name = fields.next().expect("a name").to_owned();
                let host = fields.next().expect("a host").to_owned();
                let port = fields.next().expect("a port").parse().expect("a port");
                (name, Addr { host, port })
            })
            .collect()
    }

    /// node1..3's addresses, node1 first.
    pub fn nodes(self) -> Vec<Addr> {
        self.members()
            .into_iter()
            .filter(|(name, _)| name != "monitor")
            .map(|(_, addr)| addr)
            .collect()
    }

    /// The pg_auto_failover monitor's address.
    pub fn monitor(self) -> Addr {
        self.members()
            .into_iter()
            .find(|(name, _)| name == "monitor")
            .map(|(_, addr)| addr)
            .expect("the cluster has a monitor")
    }

    /// SIGKILL to nodeN's keeper and postmaster (N from 1).
    pub fn kill(self, n: usize) {
        self.run(&["kill", &n.to_string()]);
    }

    /// [`Cluster::kill`] of the node whose PostgreSQL listens on `port`.
    pub fn kill_port(self, port: u16) {
        let n = self
            .nodes()
            .iter()
            .position(|addr| addr.port == port)
            .unwrap_or_else(|| panic!("no node of the cluster listens on {port}"));
        self.kill(n + 1);
    }

    /// A planned switchover; returns once the monitor reports the new primary.
    pub fn switchover(self) {
        self.run(&["switchover"]);
    }

    /// Cuts nodeN off from the monitor and the other nodes (the namespaced cluster only).
    pub fn partition(self, n: usize) {
        self.run(&["partition", &n.to_string()]);
    }

    /// Undoes the partitions of `nodes` (all of them when empty).
    pub fn heal(self, nodes: &[usize]) {
        let nodes: Vec<String> = nodes.iter().map(usize::to_string).collect();
        let mut args = vec!["heal"];
        args.extend(nodes.iter().map(String::as_str));
        self.run(&args);
    }

    /// nodeN's keeper log.
    pub fn log(self, n: usize) -> PathBuf {
        PathBuf::from(self.run(&["log", &n.to_string()]))
    }

    /// The cluster's data folder.
    pub fn dir(self) -> PathBuf {
        PathBuf::from(self.run(&["dir"]))
    }
}

/// A node's address as the service reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The names of the nodes the monitor has assigned `primary` or `wait_primary` (the states in
/// which a node takes writes; the goal, which the node reaches and then reports), `None` when
/// it does not answer within a second.
pub async fn monitor_primaries(monitor: &Addr) -> Option<Vec<String>> {
    let attempt = async {
        let mut conn =
            PgConnection::connect_with(&node_at(monitor).database("pg_auto_failover")).await?;
        sqlx::query_scalar::<_, String>(
            "SELECT nodename::text FROM pgautofailover.node
             WHERE goalstate IN ('primary', 'wait_primary')",
        )
        .fetch_all(&mut conn)
        .await
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .and_then(Result::ok)
}

pub fn node_at(addr: &Addr) -> PgConnectOptions {
    PgConnectOptions::new()
        .host(&addr.host)
        .port(addr.port)
        .username("postgres")
        .disable_statement_logging()
}

/// `Some(true)` for a standby, `Some(false)` for a primary, `None` when it does not answer
/// within a second.
pub async fn in_recovery(addr: &Addr) -> Option<bool> {
    let attempt = async {
        let mut conn = PgConnection::connect_with(&node_at(addr).database("postgres")).await?;
        sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
            .fetch_one(&mut conn)
            .await
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .and_then(Result::ok)
}

/// The index (0 = node1) of the first node that is not in recovery.
pub async fn primary_index(addrs: &[Addr]) -> Option<usize> {
    for (i, addr) in addrs.iter().enumerate() {
        if in_recovery(addr).await == Some(false) {
            return Some(i);
        }
    }
    None
}

pub fn node(port: u16) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("postgres")
        .disable_statement_logging()
}

/// The port of the node that is not in recovery, asking each with a short timeout.
pub async fn primary_port() -> Option<u16> {
    for port in nodes() {
        let attempt = async {
            let mut conn = PgConnection::connect_with(&node(port).database("postgres")).await?;
            let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                .fetch_one(&mut conn)
                .await?;
            Ok::<_, sqlx::Error>(standby)
        };
        if let Ok(Ok(false)) = tokio::time::timeout(Duration::from_secs(1), attempt).await {
            return Some(port);
        }
    }
    None
}

/// The cluster up, a fresh migrated database on it, and the service on it: writes through the
/// multi-host primary URL, reads on the standbys (prefer-standby over all three nodes).
pub async fn app_on_cluster() -> TestApp {
    app_on_cluster_with(testkit::settings(), None).await
}

/// As [`app_on_cluster`], with the given settings and cache (`None`: the test Redis).
pub async fn app_on_cluster_with(settings: api::Settings, redis_url: Option<String>) -> TestApp {
    app_on(Net::Loopback, settings, redis_url).await
}

/// The cluster's Redis as the service sees it when it follows the master through the three
/// Sentinels (the key prefix is set by the app).
pub fn sentinel_cache_config() -> cache::CacheConfig {
    let mut config = cache::CacheConfig::new("redis://127.0.0.1");
    config.sentinel = Some(cache::SentinelConfig {
        sentinels: sentinel_ports()
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect(),
        master: redis_master_name(),
    });
    config
}

/// The Sentinels' name of the cluster's Redis master set (IMS_CLUSTER_REDIS_MASTER).
pub fn redis_master_name() -> String {
    "ims".into()
}

/// As [`app_on_cluster_with`], on the given variant of the cluster.
pub async fn app_on(net: Net, settings: api::Settings, redis_url: Option<String>) -> TestApp {
    let redis = redis_url.unwrap_or_else(|| {
        std::env::var("IMS_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:23791".into())
    });
    app_on_cached(net, settings, cache::CacheConfig::new(redis)).await
}

/// As [`app_on_cluster_with`], with the cache's settings given (e.g. [`sentinel_cache_config`]).
pub async fn app_on_cluster_cached(
    settings: api::Settings,
    cache_config: cache::CacheConfig,
) -> TestApp {
    app_on_cached(Net::Loopback, settings, cache_config).await
}

async fn app_on_cached(
    net: Net,
    settings: api::Settings,
    cache_config: cache::CacheConfig,
) -> TestApp {
    Cluster(net).up();
    let addrs = Cluster(net).nodes();
    let primary = &addrs[primary_index(&addrs)
        .await
        .expect("the cluster has a primary")];
    let name = format!("ims_ha_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect_with(&node_at(primary).database("postgres"))
        .await
        .expect("connect to the primary");
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create the test database");
    let hosts: Vec<PgConnectOptions> = addrs.iter().map(|a| node_at(a).database(&name)).collect();
    let db = storage::Db::connect(&storage::DbConfig {
        min_connections: 0,
        max_connections: 20,
        acquire_timeout: Duration::from_secs(3),
        primary_hosts: hosts.clone(),
        read: Some(node_at(primary).database(&name)),
        read_hosts: hosts,
        // The primary first: a standby may not have replayed CREATE DATABASE yet (a commit
        // waits for one standby to flush it, not for every standby to apply it).
        ..storage::DbConfig::new(node_at(primary).database(&name))
    });
    db.migrate().await.expect("migrate on the cluster");
    TestApp::spawn_on_cache(settings, db, name, cache_config).await
}

/// Drops the test's database on whichever node is the primary now.
pub async fn drop_database(app: &TestApp) {
    drop_database_on(Net::Loopback, app).await;
}

pub async fn drop_database_on(net: Net, app: &TestApp) {
    let name = app.database_name.clone();
    app.db.close().await;
    let addrs = Cluster(net).nodes();
    let primary = &addrs[primary_index(&addrs).await.expect("a primary")];
    let mut admin = PgConnection::connect_with(&node_at(primary).database("postgres"))
        .await
        .expect("connect to the primary");
    let _ = admin
        .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
        .await;
}

/// One request as the admin with a 35 s limit, past the 30 s the service gives any request (no
/// request may wait forever during a failover): the status (0 when no answer came) and the body.
pub async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = app
        .request(method, path, Some(&app.admin_token))
        .timeout(Duration::from_secs(35));
    if let Some(body) = body {
        req = req.json(body);
    }
    match req.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let body = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
        Err(_) => (0, Value::Null),
    }
}

/// The 201 that ends the longest pause between 201s (`arrivals`) after `from`, as time since
/// `from`, and that pause: a failure test's "writes again".
pub fn longest_pause(
    arrivals: impl Iterator<Item = std::time::Instant>,
    from: std::time::Instant,
) -> Option<(Duration, Duration)> {
    let mut arrivals: Vec<std::time::Instant> = arrivals.filter(|at| *at > from).collect();
    arrivals.sort();
    let mut previous = from;
    let mut longest: Option<(Duration, std::time::Instant)> = None;
    for at in arrivals {
        if longest.is_none_or(|(gap, _)| at - previous > gap) {
            longest = Some((at - previous, at));
        }
        previous = at;
    }
    longest.map(|(gap, at)| (at - from, gap))
}
