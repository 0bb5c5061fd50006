//! The monitoring stack (`scripts/monitor`, scripts/lib/monitor.sh) as the monitor tests
//! (`tests/it/ha_monitor.rs`) drive it: a webhook receiver of the test's own that Alertmanager
//! posts to, the stack started on the test's ports with time compressed 60 times (a minute
//! of the rules lasts a second), and queries to its Prometheus.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use reqwest::Method;
use serde_json::Value;
use testkit::TestApp;

use super::{port_from_env, repo_root};

/// The test stack's ports: apart from `scripts/monitor`'s defaults (19090, 19093, 19100,
/// 19121, 19187...), so a developer's stack may run beside the test. IMS_TEST_PROMETHEUS_PORT,
/// IMS_TEST_ALERTMANAGER_PORT, IMS_TEST_NODE_EXPORTER_PORT, IMS_TEST_REDIS_EXPORTER_PORT and
/// IMS_TEST_POSTGRES_EXPORTER_PORT move them (two checkouts testing at once).
pub fn prometheus_port() -> u16 {
    port_from_env("IMS_TEST_PROMETHEUS_PORT", 18090)
}
pub fn alertmanager_port() -> u16 {
    port_from_env("IMS_TEST_ALERTMANAGER_PORT", 18093)
}
pub fn node_exporter_port() -> u16 {
    port_from_env("IMS_TEST_NODE_EXPORTER_PORT", 18100)
}
pub fn redis_exporter_port() -> u16 {
    port_from_env("IMS_TEST_REDIS_EXPORTER_PORT", 18121)
}
pub fn postgres_exporter_port() -> u16 {
    port_from_env("IMS_TEST_POSTGRES_EXPORTER_PORT", 18187)
}

/// One alert as Alertmanager's webhook delivered it.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub at: Instant,
    /// `firing` or `resolved`.
    pub status: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// An HTTP listener on a free port that keeps every alert Alertmanager posts to it.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    received: Arc<Mutex<Vec<Delivered>>>,
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn receive(State(received): State<Arc<Mutex<Vec<Delivered>>>>, Json(body): Json<Value>) {
    let at = Instant::now();
    let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
    let mut received = received.lock().expect("not poisoned");
    for alert in alerts {
        received.push(Delivered {
            at,
            status: alert["status"].as_str().unwrap_or_default().to_owned(),
            labels: string_map(&alert["labels"]),
            annotations: string_map(&alert["annotations"]),
        });
    }
}

impl Webhook {
    pub async fn start() -> Webhook {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/alerts", post(receive))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook");
        let url = format!(
            "http://{}/alerts",
            listener.local_addr().expect("local addr")
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Webhook { url, received }
    }

    pub fn all(&self) -> Vec<Delivered> {
        self.received.lock().expect("not poisoned").clone()
    }

    /// Whether an alert named `alertname` has been delivered firing.
    pub fn fired(&self, alertname: &str) -> bool {
        self.all().iter().any(|a| {
            a.status == "firing" && a.labels.get("alertname").map(String::as_str) == Some(alertname)
        })
    }

    /// The first firing alert named `alertname` whose labels include `labels`, waiting up to
    /// `limit` for it.
    pub async fn wait_for(
        &self,
        alertname: &str,
        labels: &[(&str, &str)],
        limit: Duration,
    ) -> Option<Delivered> {
        let deadline = Instant::now() + limit;
        loop {
            let found = self.all().into_iter().find(|a| {
                a.status == "firing"
                    && a.labels.get("alertname").map(String::as_str) == Some(alertname)
                    && labels
                        .iter()
                        .all(|(k, v)| a.labels.get(*k).map(String::as_str) == Some(*v))
            });
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// What the stack scrapes: `host:port` lists, as `scripts/monitor`'s IMS_MONITOR_*_TARGETS.
#[derive(Default)]
pub struct Targets {
    pub ims: Vec<String>,
    pub postgres: Vec<String>,
    pub redis: Vec<String>,
    pub sentinels: Vec<String>,
    /// Let `scripts/monitor` find the Redis Cluster's nodes (every node of
    /// `scripts/redis-cluster` while any runs); otherwise none is scraped, even if one runs.
    pub discover_redis_cluster: bool,
}

/// The monitoring stack of a test, on the test's ports and folder; `scripts/monitor down`
/// when dropped (also when the test fails).
pub struct Stack {
    envs: Vec<(String, String)>,
    dir: PathBuf,
}

impl Stack {
    /// `scripts/monitor up` scraping `targets`, alerts to `webhook`, time scale 60.
    pub fn up(targets: &Targets, webhook: &Webhook) -> Stack {
        let data = std::env::var("IMS_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join(".data"));
        let dir = data.join("monitor-test");
        let envs = vec![
            ("IMS_MONITOR_DIR", dir.display().to_string()),
            ("IMS_PROMETHEUS_PORT", prometheus_port().to_string()),
            ("IMS_ALERTMANAGER_PORT", alertmanager_port().to_string()),
            ("IMS_NODE_EXPORTER_PORT", node_exporter_port().to_string()),
            ("IMS_REDIS_EXPORTER_PORT", redis_exporter_port().to_string()),
            (
                "IMS_POSTGRES_EXPORTER_PORT",
                postgres_exporter_port().to_string(),
            ),
            ("IMS_MONITOR_TIME_SCALE", "60".to_string()),
            ("IMS_MONITOR_WEBHOOK_URL", webhook.url.clone()),
            ("IMS_MONITOR_IMS_TARGETS", targets.ims.join(",")),
            ("IMS_MONITOR_PG_TARGETS", targets.postgres.join(",")),
            ("IMS_MONITOR_REDIS_TARGETS", targets.redis.join(",")),
            ("IMS_MONITOR_SENTINEL_TARGETS", targets.sentinels.join(",")),
        ];
        let mut envs = envs;
        if !targets.discover_redis_cluster {
            envs.push(("IMS_MONITOR_REDIS_CLUSTER_TARGETS", String::new()));
        }
        let stack = Stack {
            envs: envs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            dir,
        };
        // A clean start: no daemon left by an interrupted test, no series or alerts of an
        // earlier test's service.
        let _ = stack.run("down");
        for old in ["prometheus/data", "alertmanager/data"] {
            let _ = std::fs::remove_dir_all(stack.dir.join(old));
        }
        let out = stack.run("up");
        assert!(
            out.status.success(),
            "scripts/monitor up failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        stack
    }

    fn run(&self, action: &str) -> std::process::Output {
        Command::new("scripts/monitor")
            .arg(action)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .current_dir(repo_root())
            .output()
            .expect("scripts/monitor runs")
    }

    /// `scripts/monitor status`'s output.
    pub fn status(&self) -> String {
        String::from_utf8_lossy(&self.run("status").stdout).into_owned()
    }

    /// The stack's folder (IMS_MONITOR_DIR): configuration, data, logs.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Where the stack's node exporter reads textfiles: `scripts/backup` writes its metrics
    /// there when given it as IMS_BACKUP_METRICS_DIR.
    pub fn textfile_dir(&self) -> PathBuf {
        self.dir.join("textfile")
    }

    pub fn prometheus(&self) -> String {
        format!("http://127.0.0.1:{}", prometheus_port())
    }

    /// The instant vector of `expr`: each series' labels and value.
    pub async fn query(&self, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let Ok(response) = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.prometheus()))
            .query(&[("query", expr)])
            .timeout(Duration::from_secs(5))
            .send()
            .await
        else {
            return Vec::new();
        };
        let body: Value = response.json().await.unwrap_or(Value::Null);
        body["data"]["result"]
            .as_array()
            .map(|series| {
                series
                    .iter()
                    .map(|s| {
                        let value = s["value"][1]
                            .as_str()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(f64::NAN);
                        (string_map(&s["metric"]), value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits up to `limit` until `expr` has a series; returns its first value.
    pub async fn wait_for(&self, expr: &str, limit: Duration) -> Option<f64> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some((_, value)) = self.query(expr).await.first() {
                return Some(*value);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let out = self.run("down");
        if !out.status.success() {
            eprintln!(
                "scripts/monitor down failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// `host:port` of an `http://host:port` address.
pub fn host_port(address: &str) -> String {
    address.trim_start_matches("http://").to_owned()
}

/// `host:port` of the test PostgreSQL (IMS_TEST_DATABASE_URL).
pub fn test_postgres() -> String {
    let url = std::env::var("IMS_TEST_DATABASE_URL").expect("IMS_TEST_DATABASE_URL (scripts/test)");
    let after_at = url.rsplit_once('@').map_or(url.as_str(), |(_, rest)| rest);
    after_at.split('/').next().unwrap_or(after_at).to_owned()
}

/// Requests sent in the background until finished: cached reads of `paths`, and `order` placed
/// now and then when given. Counts the answers that were not 2xx.
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(app: &Arc<TestApp>, paths: &[String], order: Option<serde_json::Value>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for path in paths {
            let (app, stop, sent, failed, path) = (
                app.clone(),
                stop.clone(),
                sent.clone(),
                failed.clone(),
                path.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let ok = app
                        .request(Method::GET, &path, Some(&app.admin_token))
                        .timeout(Duration::from_secs(15))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
        if let Some(order) = order {
            let (app, stop, sent, failed) =
                (app.clone(), stop.clone(), sent.clone(), failed.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let ok = app
                        .request(Method::POST, "/orders", Some(&app.admin_token))
                        .json(&order)
                        .timeout(Duration::from_secs(35))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }));
        }
        Load {
            stop,
            sent,
            failed,
            tasks,
        }
    }

    /// Stops the load; returns (requests sent, not answered 2xx).
    pub async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("load task");
        }
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}
