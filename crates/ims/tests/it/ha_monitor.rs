//! The monitoring stack, running (issue 18): `scripts/monitor` starts Prometheus, Alertmanager
//! and the exporters from Debian's packages, scraping the service under test; a failure makes
//! an alert that Alertmanager delivers to a webhook the test runs, and the dashboards render
//! with the scraped data.
//!
//! The stack runs with time compressed 60 times (IMS_MONITOR_TIME_SCALE=60: the production
//! rules with every `for:` and rate window divided by 60, scraped and evaluated every second),
//! so an alert with `for: 10m` fires after 10 s. Starting daemons and stopping Redis or a
//! cluster node is disruptive, so the tests are `#[ignore]`d and run with the failure tests
//! (their binary's name starts with `ha`); alone:
//!
//! ```sh
//! scripts/test -E 'test(/^ha_monitor::/)' --run-ignored all --no-capture
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::monitor::{host_port, test_postgres, Load, Stack, Targets, Webhook};
use crate::support::ops::{customer, order_body, product, stock_in};
use testkit::{id_of, PrivateRedis, TestApp};

/// A store with a stocked frame: the paths of two cached reads of it, and an order body.
async fn shop(app: &TestApp) -> (Vec<String>, serde_json::Value) {
    let store = app.create_store("MON01").await;
    let category = app.create_category("Frames").await;
    let frame = product(app, category, "MON-FRAME-1", 1_000).await;
    stock_in(app, store, frame, 100_000).await;
    let customer_id = id_of(&customer(app, "Asha Rao", "+91 98765 43210").await);
    (
        vec![
            format!("/products/{frame}"),
            format!("/stores/{store}/inventory/{frame}"),
        ],
        order_body(store, customer_id, &[(frame, 1)]),
    )
}

/// Redis stopped under cached reads: the service bypasses the cache, the hit rate falls, and
/// IMSCacheHitRateLow (`for: 10m`, here 10 s) reaches the webhook; the redis exporter reports
/// the server down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts the monitoring stack and stops Redis: run with --run-ignored all"]
async fn stopping_redis_delivers_the_cache_alert_to_a_webhook() {
    let mut redis = PrivateRedis::start(&[]).await;
    let app = Arc::new(TestApp::spawn_custom(testkit::settings(), Some(redis.url())).await);
    let (paths, _) = shop(&app).await;
    let webhook = Webhook::start().await;
    let instance = host_port(&app.address);
    let redis_addr = format!("127.0.0.1:{}", redis.port);
    let stack = Stack::up(
        &Targets {
            ims: vec![instance.clone()],
            postgres: vec![test_postgres()],
            redis: vec![redis_addr.clone()],
            ..Targets::default()
        },
        &webhook,
    );
    let load = Load::start(&app, &paths, None);

    // A healthy cache first: the hit rate is recorded and high, and nothing alerts.
    let healthy = format!(r#"instance:ims_cache_hit:ratio_rate10m{{instance="{instance}"}} > 0.9"#);
    assert!(
        stack
            .wait_for(&healthy, Duration::from_secs(60))
            .await
            .is_some(),
        "Prometheus never saw a high hit rate for {instance}:\n{}",
        stack.status()
    );
    let redis_up = format!(r#"redis_up{{instance="{redis_addr}"}}"#);
    assert_eq!(
        stack.wait_for(&redis_up, Duration::from_secs(10)).await,
        Some(1.0)
    );
    assert!(
        !webhook.fired("IMSCacheHitRateLow") && !webhook.fired("IMSRedisDown"),
        "alerts before the failure: {:?}",
        webhook.all()
    );

    let stopped_at = Instant::now();
    redis.stop();
    let alert = webhook
        .wait_for(
            "IMSCacheHitRateLow",
            &[("instance", instance.as_str())],
            Duration::from_secs(120),
        )
        .await;
    let redis_down = stack
        .wait_for(&format!("{redis_up} == 0"), Duration::from_secs(10))
        .await;
    let server_alert = webhook
        .wait_for(
            "IMSRedisDown",
            &[("instance", redis_addr.as_str())],
            Duration::from_secs(30),
        )
        .await;
    let (sent, failed) = load.finish().await;
    eprintln!(
        "monitor: Redis stopped; IMSCacheHitRateLow delivered after {:.1} s (time scale 60); \
         {sent} reads, {failed} failed",
        alert
            .as_ref()
            .map_or(f64::NAN, |a| (a.at - stopped_at).as_secs_f64()),
    );

    let alert = alert.unwrap_or_else(|| {
        panic!(
            "no IMSCacheHitRateLow at the webhook within 120 s; received {:?}\n{}",
            webhook.all(),
            stack.status()
        )
    });
    assert_eq!(alert.labels["severity"], "ticket");
    assert_eq!(alert.labels["job"], "ims");
    assert_eq!(
        alert.annotations["runbook"],
        "docs/monitoring.md#imscachehitratelow"
    );
    assert_eq!(
        redis_down,
        Some(0.0),
        "the redis exporter did not see Redis down"
    );
    assert!(
        server_alert.is_some(),
        "no IMSRedisDown for {redis_addr}: {:?}",
        webhook.all()
    );
    assert_eq!(
        failed, 0,
        "reads failed while Redis was down (the cache must be bypassed)"
    );
}

/// A cluster standby killed under reads and orders: the service's follower loses the host,
/// and IMSDatabaseNodeDown (`for: 2m`, here 2 s) for that host reaches the webhook; the
/// postgres exporter of the node reports it down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts the monitoring stack and kills a cluster node: run with --run-ignored all"]
async fn killing_a_standby_under_load_delivers_the_node_down_alert() {
    use crate::support::cluster::{
        app_on_cluster, drop_database, in_recovery, monitor_port, redis_ports, sentinel_ports,
        LOOPBACK,
    };
    let app = Arc::new(app_on_cluster().await);
    let (paths, order) = shop(&app).await;
    let addrs = LOOPBACK.nodes();
    let webhook = Webhook::start().await;
    let instance = host_port(&app.address);
    let mut postgres = vec![format!("monitor=127.0.0.1:{}", monitor_port())];
    postgres.extend(
        addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("node{}={a}", i + 1)),
    );
    let stack = Stack::up(
        &Targets {
            ims: vec![instance.clone()],
            postgres,
            redis: redis_ports()
                .iter()
                .map(|p| format!("127.0.0.1:{p}"))
                .collect(),
            sentinels: sentinel_ports()
                .iter()
                .map(|p| format!("127.0.0.1:{p}"))
                .collect(),
            ..Targets::default()
        },
        &webhook,
    );
    let load = Load::start(&app, &paths, Some(order));

    let all_up = format!(r#"count(ims_db_node_up{{instance="{instance}"}} == 1) == 3"#);
    assert!(
        stack
            .wait_for(&all_up, Duration::from_secs(60))
            .await
            .is_some(),
        "Prometheus never saw the service reach all three nodes:\n{}",
        stack.status()
    );
    let mut standby = None;
    for (i, addr) in addrs.iter().enumerate() {
        if in_recovery(addr).await == Some(true) {
            standby = Some(i);
        }
    }
    let standby = standby.expect("the cluster has a standby");
    let host = (standby + 1).to_string();
    let victim = addrs[standby].clone();
    assert!(
        !webhook.fired("IMSDatabaseNodeDown") && !webhook.fired("IMSPostgresDown"),
        "alerts before the failure: {:?}",
        webhook.all()
    );

    let killed_at = Instant::now();
    LOOPBACK.kill_port(victim.port);
    let alert = webhook
        .wait_for(
            "IMSDatabaseNodeDown",
            &[("instance", instance.as_str()), ("host", host.as_str())],
            Duration::from_secs(120),
        )
        .await;
    let exporter_down = stack
        .wait_for(
            &format!(r#"pg_up{{instance="{victim}"}} == 0"#),
            Duration::from_secs(10),
        )
        .await;
    let server_alert = webhook
        .wait_for(
            "IMSPostgresDown",
            &[("instance", victim.to_string().as_str())],
            Duration::from_secs(30),
        )
        .await;
    let (sent, failed) = load.finish().await;
    eprintln!(
        "monitor: standby node{host} ({victim}) killed; IMSDatabaseNodeDown delivered after \
         {:.1} s (time scale 60); {sent} requests, {failed} failed",
        alert
            .as_ref()
            .map_or(f64::NAN, |a| (a.at - killed_at).as_secs_f64()),
    );
    let status = stack.status();
    drop(stack);
    // The node back as a standby, for the next test on the cluster.
    LOOPBACK.up();
    drop_database(&app).await;

    let alert = alert.unwrap_or_else(|| {
        panic!(
            "no IMSDatabaseNodeDown for host {host} at the webhook within 120 s; received {:?}\n{status}",
            webhook.all()
        )
    });
    assert_eq!(alert.labels["severity"], "ticket");
    assert_eq!(
        alert.annotations["runbook"],
        "docs/monitoring.md#imsdatabasenodedown"
    );
    assert_eq!(
        exporter_down,
        Some(0.0),
        "the postgres exporter did not see {victim} down"
    );
    assert!(server_alert.is_some(), "no IMSPostgresDown for {victim}");
}

/// The loopback cluster's backups and WAL archive as the monitor sees them: a differential
/// backup by `scripts/backup` shows as the newest backup, ended between the command's start
/// and end; the primary's order partitions ahead equal the real ones (and the standbys report
/// none); an `archive_command` that fails on the primary makes `pg_stat_archiver_failed_count`
/// grow and IMSWalArchiveFailing (`for: 5m`, here 5 s) reach the webhook. `scripts/cluster
/// up` sets the archive command back at the end, also when the test fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts the monitoring stack, backs up the cluster and breaks its WAL archive: run with --run-ignored all"]
async fn a_backup_and_a_failing_wal_archive_show_in_the_monitor() {
    use crate::support::cluster::{
        app_on_cluster, drop_database, node_at, primary_index, LOOPBACK,
    };
    use sqlx::{Connection, Executor, PgConnection};

    let app = app_on_cluster().await;
    let addrs = LOOPBACK.nodes();
    let webhook = Webhook::start().await;
    let db = app.database_name.clone();
    let stack = Stack::up(
        &Targets {
            // Each node's exporter in the test's database, where its order partitions are.
            postgres: addrs
                .iter()
                .enumerate()
                .map(|(i, a)| format!("node{}={a}/{db}", i + 1))
                .collect(),
            ..Targets::default()
        },
        &webhook,
    );
    let _restore = ArchiveRestored;

    // A backup: its end time, as the textfile collector passes it on.
    let before = unix_now();
    let out = std::process::Command::new("scripts/backup")
        .args(["cluster", "diff"])
        .env("IMS_CLUSTER_NETNS", "")
        .env("IMS_BACKUP_METRICS_DIR", stack.textfile_dir())
        .current_dir(crate::support::repo_root())
        .output()
        .expect("scripts/backup runs");
    assert!(
        out.status.success(),
        "scripts/backup cluster diff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = unix_now();
    // The stack started with the repository's earlier backups: wait for this one.
    let diff =
        r#"max(ims_backup_last_success_timestamp_seconds{instance_name="cluster",type="diff"})"#;
    let Some(newest) = stack
        .wait_for(
            &format!("{diff} >= {}", before.floor()),
            Duration::from_secs(30),
        )
        .await
    else {
        panic!(
            "Prometheus shows no differential backup ended after {before}: {:?}\n{}",
            stack.query(diff).await,
            stack.status()
        );
    };
    assert!(
        newest <= after,
        "the newest backup ended at {newest}, after the command returned at {after}"
    );
    assert_eq!(
        stack
            .wait_for(
                r#"ims_backup_status{instance_name="cluster"}"#,
                Duration::from_secs(5)
            )
            .await,
        Some(0.0)
    );

    // The primary's partitions ahead, and none from the standbys.
    let primary = addrs[primary_index(&addrs).await.expect("a primary")].clone();
    let mut conn = PgConnection::connect_with(&node_at(&primary).database(&db))
        .await
        .expect("connect to the primary");
    let real: i64 = sqlx::query_scalar(PARTITIONS_AHEAD)
        .fetch_one(&mut conn)
        .await
        .expect("partitions counted");
    let ahead = format!(r#"pg_ims_order_partitions_ahead{{instance="{primary}"}} == {real}"#);
    assert!(
        stack
            .wait_for(&ahead, Duration::from_secs(30))
            .await
            .is_some(),
        "Prometheus never saw {real} partitions ahead on {primary}: {:?}",
        stack.query("pg_ims_order_partitions_ahead").await
    );
    assert_eq!(stack.query("pg_ims_order_partitions_ahead").await.len(), 1);
    let archiving = format!(r#"pg_ims_archiver_archiving{{instance="{primary}"}}"#);
    assert_eq!(
        stack.wait_for(&archiving, Duration::from_secs(10)).await,
        Some(1.0)
    );
    assert!(!webhook.fired("IMSWalArchiveFailing") && !webhook.fired("IMSBackupTooOld"));

    // archive_command fails from now on; a write and a WAL switch give it a segment to fail.
    conn.execute("ALTER SYSTEM SET archive_command = 'false'")
        .await
        .expect("archive_command set");
    conn.execute("SELECT pg_reload_conf()")
        .await
        .expect("reload");
    tokio::time::sleep(Duration::from_millis(500)).await;
    conn.execute("CREATE TABLE archive_probe AS SELECT 1 AS x; SELECT pg_switch_wal()")
        .await
        .expect("a WAL switch");
    let failed = format!(r#"pg_stat_archiver_failed_count{{instance="{primary}"}} > 0"#);
    let failures = stack.wait_for(&failed, Duration::from_secs(60)).await;
    let alert = webhook
        .wait_for(
            "IMSWalArchiveFailing",
            &[("instance", primary.to_string().as_str())],
            Duration::from_secs(90),
        )
        .await;
    let status = stack.status();
    drop(stack);
    drop(conn);
    drop_database(&app).await;
    assert!(
        failures.is_some(),
        "no failed archive_command counted on {primary}\n{status}"
    );
    let alert = alert.unwrap_or_else(|| {
        panic!(
            "no IMSWalArchiveFailing for {primary}; received {:?}\n{status}",
            webhook.all()
        )
    });
    assert_eq!(alert.labels["severity"], "ticket");
    eprintln!(
        "monitor: backup ended at {newest} (command ran {before}..{after}); {real} partitions \
         ahead; {} failed archive attempts",
        failures.unwrap_or_default()
    );
}

/// Partitions of `orders` named for each of the next 24 months that exist: counted by name,
/// not from their bounds as the exporter's query does.
const PARTITIONS_AHEAD: &str = "SELECT count(*) FROM generate_series(1, 24) AS m \
    WHERE to_regclass(to_char(date_trunc('month', now()) + make_interval(months => m), \
    '\"orders_y\"YYYY\"m\"MM')) IS NOT NULL";

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

/// `scripts/cluster up` when dropped: it applies every node's archive settings again
/// (scripts/lib/backup.sh), undoing the test's broken archive_command.
struct ArchiveRestored;

impl Drop for ArchiveRestored {
    fn drop(&mut self) {
        crate::support::cluster::LOOPBACK.up();
    }
}

/// Each dashboard renders with the scraped data of a service under load: its instance, its
/// numbers, the servers behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts the monitoring stack: run with --run-ignored all"]
async fn the_dashboards_render_with_the_scraped_data() {
    let app = Arc::new(TestApp::spawn().await);
    let (paths, _) = shop(&app).await;
    let webhook = Webhook::start().await;
    let instance = host_port(&app.address);
    let redis = host_port(
        std::env::var("IMS_TEST_REDIS_URL")
            .expect("IMS_TEST_REDIS_URL (scripts/test)")
            .trim_start_matches("redis://"),
    );
    let postgres = test_postgres();
    let stack = Stack::up(
        &Targets {
            ims: vec![instance.clone()],
            // The exporter in the test's database, where the order partitions are.
            postgres: vec![format!("{postgres}/{}", app.database_name)],
            redis: vec![redis.clone()],
            ..Targets::default()
        },
        &webhook,
    );
    let load = Load::start(&app, &paths, None);
    for expr in [
        format!(r#"instance:ims_http_requests:rate5m{{instance="{instance}"}} > 0"#),
        format!(r#"instance:ims_cache_hit:ratio_rate10m{{instance="{instance}"}}"#),
        format!(r#"pg_up{{instance="{postgres}"}}"#),
        format!(r#"redis_up{{instance="{redis}"}}"#),
        "rate(node_cpu_seconds_total[5s])".to_owned(),
    ] {
        assert!(
            stack
                .wait_for(&expr, Duration::from_secs(60))
                .await
                .is_some(),
            "no data for {expr}:\n{}",
            stack.status()
        );
    }
    partitions_and_archiver_are_scraped(&app, &stack, &postgres).await;
    let node_exporter = format!(
        "127.0.0.1:{}",
        crate::support::monitor::node_exporter_port()
    );
    let pages: [(&str, Vec<&str>); 7] = [
        ("ims", vec![&instance, &postgres, &redis]),
        ("ims-api", vec![&instance, "/api/v1/products/{id}"]),
        ("ims-cache", vec![&instance, &redis, "product"]),
        ("ims-database", vec![&instance, &postgres, "primary"]),
        ("ims-replication", vec![&postgres]),
        ("ims-backups", vec![&postgres, &app.database_name]),
        ("ims-system", vec![&node_exporter, &instance]),
    ];
    let client = reqwest::Client::new();
    for (page, expected) in &pages {
        let url = format!("{}/consoles/{page}.html", stack.prometheus());
        let response = client.get(&url).send().await.expect("the page answers");
        assert_eq!(response.status().as_u16(), 200, "{url}");
        let body = response.text().await.expect("the page's text");
        assert!(
            !body.contains("error executing template") && !body.contains("<no value>"),
            "{url} failed to render:\n{body}"
        );
        for text in expected {
            assert!(body.contains(*text), "{url} does not show {text}:\n{body}");
        }
        // Values, not only labels: a rendered number links to its graph.
        assert!(
            body.contains("/graph?g0.expr=")
                && body.matches(r#"">-</a>"#).count() < body.matches("/graph?g0.expr=").count(),
            "{url} shows no values:\n{body}"
        );
    }
    let (_, failed) = load.finish().await;
    assert_eq!(failed, 0);
    screenshots(&stack, &pages);
}

/// The postgres exporter's extra queries on the test PostgreSQL: the order partitions ready
/// ahead in the test's database equal the partitions that exist for the months after this one
/// (counted by name here, not from their bounds as the exporter does), before and after two
/// more months are made; the WAL archiver's series are there, saying this server does not
/// archive (the test instance runs with archive_mode off).
async fn partitions_and_archiver_are_scraped(app: &TestApp, stack: &Stack, postgres: &str) {
    let db = &app.database_name;
    for months_ahead in [3_i32, 5] {
        sqlx::query("SELECT ensure_order_partitions(now()::date, $1)")
            .bind(months_ahead)
            .execute(app.db.primary())
            .await
            .expect("order partitions made");
        let real: i64 = sqlx::query_scalar(PARTITIONS_AHEAD)
            .fetch_one(app.db.primary())
            .await
            .expect("partitions counted");
        assert_eq!(real, i64::from(months_ahead));
        let expr = format!(
            r#"pg_ims_order_partitions_ahead{{instance="{postgres}",datname="{db}"}} == {real}"#
        );
        assert!(
            stack
                .wait_for(&expr, Duration::from_secs(60))
                .await
                .is_some(),
            "Prometheus never saw {real} partitions ahead in {db}: {:?}\n{}",
            stack.query("pg_ims_order_partitions_ahead").await,
            stack.status()
        );
    }
    for (expr, value) in [
        (
            format!(r#"pg_ims_archiver_archiving{{instance="{postgres}"}}"#),
            0.0,
        ),
        (
            format!(r#"pg_stat_archiver_failed_count{{instance="{postgres}"}}"#),
            0.0,
        ),
        (
            format!(r#"pg_ims_archiver_ready_segments{{instance="{postgres}"}}"#),
            0.0,
        ),
    ] {
        assert_eq!(
            stack.wait_for(&expr, Duration::from_secs(30)).await,
            Some(value),
            "{expr}"
        );
    }
}

/// Each dashboard as a browser draws it (graphs included), by Debian's headless Chromium: the
/// DOM after its scripts ran must hold what the page shows (`expected`) and a drawn graph, and
/// the screenshot, kept in `.data/monitor-test/screenshots/` as the run's artifact, must not be
/// a blank page. `scripts/test` installs `chromium` for the failure tests; without it this fails.
fn screenshots(stack: &Stack, pages: &[(&str, Vec<&str>)]) {
    let chromium = which_chromium()
        .expect("no chromium on PATH: scripts/test installs it (apt-get install chromium)");
    let dir = stack.dir().join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    let browse = |what: &str, url: &str| {
        std::process::Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(["--window-size=1400,1800", "--virtual-time-budget=5000"])
            .arg(what)
            .arg(url)
            .output()
            .expect("chromium runs")
    };
    for (page, expected) in pages {
        let url = format!("{}/consoles/{page}.html", stack.prometheus());
        let dom = browse("--dump-dom", &url);
        let dom_text = String::from_utf8_lossy(&dom.stdout);
        assert!(
            dom.status.success() && !dom_text.contains("error executing template"),
            "{url} in Chromium: {}\n{dom_text}",
            String::from_utf8_lossy(&dom.stderr)
        );
        for text in expected {
            assert!(
                dom_text.contains(*text),
                "{url} in Chromium does not show {text}"
            );
        }
        // The console library's graphs are drawn by script into SVG: a page whose scripts
        // failed shows its tables but no graph. Only where the graphs have series here: the
        // overview has none, and a lone test server has no standbys or backups to draw.
        let graphed = ["ims-api", "ims-cache", "ims-database", "ims-system"].contains(page);
        assert!(
            !graphed || dom_text.contains("<svg"),
            "{url} in Chromium drew no graph"
        );
        let file = dir.join(format!("{page}.png"));
        let _ = std::fs::remove_file(&file);
        let out = browse(&format!("--screenshot={}", file.display()), &url);
        let size = std::fs::metadata(&file).map_or(0, |m| m.len());
        // A blank 1400x1800 page is a few kilobytes; one with tables and graphs far more.
        assert!(
            out.status.success() && size > 30_000,
            "screenshot of {page}: {size} bytes, {}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("monitor: screenshot {} ({size} bytes)", file.display());
    }
}

fn which_chromium() -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file())
        .ok_or(())
}

/// `scripts/monitor up` while `scripts/redis-cluster` runs finds every node of the Redis
/// Cluster, masters and replicas, and scrapes each through the redis exporter: each node's
/// `redis_up` is 1 in Prometheus, with its role, in the redis job the cache alerts and the
/// cache dashboard read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts the Redis Cluster and the monitoring stack: run with --run-ignored all"]
async fn every_redis_cluster_node_is_scraped() {
    tokio::task::spawn_blocking(|| crate::support::rcluster::rcluster("up"))
        .await
        .expect("scripts/redis-cluster up");
    let webhook = Webhook::start().await;
    let targets = Targets {
        discover_redis_cluster: true,
        ..Targets::default()
    };
    let stack = Stack::up(&targets, &webhook);
    let nodes: Vec<String> = (0..6)
        .map(|i| format!("127.0.0.1:{}", crate::support::rcluster::first_port() + i))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (up, roles) = loop {
        let up = stack
            .query(r#"redis_up{job="redis", name=~"rcluster-node.*"}"#)
            .await;
        let roles = stack
            .query(r#"redis_instance_info{job="redis", name=~"rcluster-node.*"}"#)
            .await;
        let all_up = nodes.iter().all(|node| {
            up.iter()
                .any(|(labels, value)| labels.get("instance") == Some(node) && *value == 1.0)
        });
        if all_up || Instant::now() > deadline {
            break (up, roles);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for node in &nodes {
        assert!(
            up.iter()
                .any(|(labels, value)| labels.get("instance") == Some(node) && *value == 1.0),
            "redis_up of {node} is not 1 in Prometheus: {up:?}\n{}",
            stack.status()
        );
    }
    let role_of = |role: &str| {
        roles
            .iter()
            .filter(|(labels, _)| labels.get("role").map(String::as_str) == Some(role))
            .count()
    };
    assert!(role_of("master") >= 3, "three masters scraped: {roles:?}");
    assert!(role_of("slave") >= 3, "three replicas scraped: {roles:?}");
}
