//! Multi-host PostgreSQL URLs (libpq's `postgres://u@h1:p1,h2:p2,h3:p3/db?target_session_attrs=…`)
//! for a cluster whose primary moves.
//!
//! sqlx 0.8 takes one host per URL and ignores `target_session_attrs`, so the service does what
//! libpq would: it splits the URL into one connect option per host and a follower task
//! ([`spawn_follower`]) probes every host twice a second with `pg_is_in_recovery()`. The
//! primary pool is pointed at the node that takes writes, the newest timeline first when two
//! do (a partitioned old primary, `pick_primary`) ([`sqlx::Pool::set_connect_options`]),
//! and its `after_connect` refuses a standby, so a connection opened during a failover retries
//! (sqlx backs off until the acquire timeout) rather than writing to a read-only node. The read
//! pool is pointed at the freshest standby whose replay lag is within a bound, else the primary
//! (MongoDB's secondaryPreferred). Which queries may read there is decided by the callers of
//! [`crate::Db::read`], nowhere else.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Connection, PgConnection};

/// libpq's `target_session_attrs`, the values the service honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSession {
    /// `any` (the default): whichever host answers first.
    Any,
    /// `read-write` / `primary`: only the node that accepts writes.
    ReadWrite,
    /// `prefer-standby` / `standby` / `read-only`: a standby within the lag bound, else the
    /// primary.
    PreferStandby,
}

/// A URL split into its hosts.
#[derive(Debug, Clone)]
pub struct Hosts {
    pub hosts: Vec<PgConnectOptions>,
    pub target: TargetSession,
}

/// Splits `postgres://[userinfo@]h1[:p1],h2[:p2],…[/db][?params]` into one option per host.
/// The error never repeats the URL (it may hold a password).
pub fn parse_hosts(url: &str) -> Result<Hosts, String> {
    let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hostlist) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut target = TargetSession::Any;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("target_session_attrs", value)) => {
                target = match value {
                    "any" => TargetSession::Any,
                    "read-write" | "primary" => TargetSession::ReadWrite,
                    "prefer-standby" | "standby" | "read-only" => TargetSession::PreferStandby,
                    other => return Err(format!("target_session_attrs={other} is not supported")),
                }
            }
            _ => kept.push(pair),
        }
    }
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let hosts = hostlist
        .split(',')
        .map(|host| {
            if host.is_empty() {
                return Err("an empty host in the host list".to_string());
            }
            PgConnectOptions::from_str(&format!("{scheme}://{userinfo}{host}{path}{query}"))
                .map_err(|e| format!("host {host}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Hosts { hosts, target })
}

/// What one probe saw of a host.
#[derive(Debug, Clone, Copy)]
struct Seen {
    in_recovery: bool,
    /// `default_transaction_read_only`: pg_auto_failover sets it on a standby it has promoted
    /// while the old primary may still run (`stop_replication`), as libpq's `read-write`
    /// check would see.
    read_only: bool,
    /// The timeline a primary writes on (0 for a standby): each promotion starts a new one.
    timeline: i64,
    /// Seconds the standby's replay trails its last received WAL (0 when caught up).
    lag_secs: f64,
}

/// The host the primary pool should use: one that takes writes (not in recovery, not
/// read-only), the newest timeline first. Two can answer during a network partition: the
/// old primary, cut off from its standbys (its commits wait for them and are never
/// acknowledged), until its keeper demotes it, and the promoted standby; the first in the
/// list would keep the service writing to the old one (failure test (e)).
fn pick_primary(seen: &[Option<Seen>]) -> Option<usize> {
    seen.iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .filter(|(_, s)| !s.in_recovery && !s.read_only)
        // min_by_key keeps the first of equals: the host list's order breaks ties.
        .min_by_key(|(_, s)| std::cmp::Reverse(s.timeline))
        .map(|(i, _)| i)
}

/// The pools a follower steers, with the options every pool connection gets on top of a host's.
pub(crate) struct Steered {
    pub primary: Option<(PgPool, Vec<PgConnectOptions>)>,
    pub read: Option<(PgPool, Vec<PgConnectOptions>)>,
    /// Applied to a host's options before they go to a pool (application name, timeouts).
    pub decorate: Arc<dyn Fn(PgConnectOptions) -> PgConnectOptions + Send + Sync>,
    /// A standby further behind than this does not take reads.
    pub max_lag: Duration,
}

/// Probes the hosts every `period` and re-points the pools; stops when both pools are closed.
pub(crate) fn spawn_follower(steered: Steered, period: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: multi-host URLs use their first host only");
        return;
    };
    runtime.spawn(follow(steered, period));
}

async fn follow(steered: Steered, period: Duration) {
    let hosts: Vec<PgConnectOptions> = steered
        .primary
        .iter()
        .chain(steered.read.iter())
        .flat_map(|(_, hosts)| hosts.iter().cloned())
        .fold(Vec::new(), |mut all: Vec<PgConnectOptions>, h| {
            if !all.iter().any(|a| same_host(a, &h)) {
                all.push(h);
            }
            all
        });
    let mut probes: Vec<Option<PgConnection>> = hosts.iter().map(|_| None).collect();
    let mut current: (Option<usize>, Option<usize>) = (None, None);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let closed = |p: &Option<(PgPool, Vec<PgConnectOptions>)>| {
            p.as_ref().is_none_or(|(pool, _)| pool.is_closed())
        };
        if closed(&steered.primary) && closed(&steered.read) {
            return;
        }
        let mut seen = Vec::with_capacity(hosts.len());
        for (host, probe) in hosts.iter().zip(probes.iter_mut()) {
            seen.push(probe_host(host, probe).await);
        }
        let primary = pick_primary(&seen);
        let standby = seen
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i, s)))
            .filter(|(_, s)| s.in_recovery && s.lag_secs <= steered.max_lag.as_secs_f64())
            .min_by(|a, b| a.1.lag_secs.total_cmp(&b.1.lag_secs))
            .map(|(i, _)| i);
        if let (Some((pool, _)), Some(p)) = (&steered.primary, primary) {
            if current.0 != Some(p) {
                tracing::info!(host = %describe(&hosts[p]), "primary pool follows the primary");
                pool.set_connect_options((steered.decorate)(hosts[p].clone()));
                current.0 = Some(p);
            }
        }
        if let Some((pool, _)) = &steered.read {
            if let Some(r) = standby.or(primary) {
                if current.1 != Some(r) {
                    tracing::info!(host = %describe(&hosts[r]), "read pool moves");
                    pool.set_connect_options((steered.decorate)(hosts[r].clone()));
                    current.1 = Some(r);
                }
            }
        }
    }
}

/// One probe on the host's kept connection, opened (within a second) when missing.
async fn probe_host(host: &PgConnectOptions, probe: &mut Option<PgConnection>) -> Option<Seen> {
    const LIMIT: Duration = Duration::from_secs(1);
    if probe.is_none() {
        let options = host.clone().application_name("ims-follower");
        *probe = tokio::time::timeout(LIMIT, options.connect())
            .await
            .ok()
            .and_then(Result::ok);
    }
    let conn = probe.as_mut()?;
    let row: Option<(bool, bool, i64, f64)> = tokio::time::timeout(
        LIMIT,
        sqlx::query_as(
            "SELECT pg_is_in_recovery(),
                    current_setting('default_transaction_read_only')::bool,
                    CASE WHEN pg_is_in_recovery() THEN 0
                         ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
                    END::int8,
                    CASE WHEN NOT pg_is_in_recovery()
                           OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                         ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
                    END::float8",
        )
        .fetch_one(&mut *conn),
    )
    .await
    .ok()
    .and_then(Result::ok);
    match row {
        Some((in_recovery, read_only, timeline, lag_secs)) => Some(Seen {
            in_recovery,
            read_only,
            timeline,
            lag_secs,
        }),
        None => {
            // A dead or hung host: drop the connection, reopen on the next round.
            if let Some(conn) = probe.take() {
                let _ = tokio::time::timeout(LIMIT, conn.close()).await;
            }
            None
        }
    }
}

fn same_host(a: &PgConnectOptions, b: &PgConnectOptions) -> bool {
    a.get_host() == b.get_host() && a.get_port() == b.get_port()
}

/// Host and port only: never the user or password.
fn describe(host: &PgConnectOptions) -> String {
    format!("{}:{}", host.get_host(), host.get_port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_multi_host_url_keeping_user_database_and_params() {
        let hosts = parse_hosts(
            "postgres://app:secret@127.0.0.1:55431,127.0.0.1:55432,localhost/ims?sslmode=disable&target_session_attrs=read-write",
        )
        .expect("parses");
        assert_eq!(hosts.target, TargetSession::ReadWrite);
        let ports: Vec<u16> = hosts.hosts.iter().map(|h| h.get_port()).collect();
        assert_eq!(ports, [55431, 55432, 5432]);
        assert_eq!(hosts.hosts[2].get_host(), "localhost");
        for host in &hosts.hosts {
            assert_eq!(host.get_username(), "app");
            assert_eq!(host.get_database(), Some("ims"));
        }
    }

    fn seen(in_recovery: bool, read_only: bool, timeline: i64) -> Option<Seen> {
        Some(Seen {
            in_recovery,
            read_only,
            timeline,
            lag_secs: 0.0,
        })
    }

    #[test]
    fn the_primary_is_the_writable_node_on_the_newest_timeline() {
        // One primary: wherever it is in the list.
        assert_eq!(
            pick_primary(&[seen(true, false, 0), None, seen(false, false, 3)]),
            Some(2)
        );
        // A partition: the old primary (timeline 3) still answers; the promoted one (4) wins.
        assert_eq!(
            pick_primary(&[seen(false, false, 3), seen(false, false, 4)]),
            Some(1)
        );
        // Promoted but held read-only (stop_replication): not yet.
        assert_eq!(
            pick_primary(&[seen(true, false, 0), seen(false, true, 4)]),
            None
        );
        // Equals: the list's order.
        assert_eq!(
            pick_primary(&[seen(false, false, 2), seen(false, false, 2)]),
            Some(0)
        );
        assert_eq!(pick_primary(&[None, seen(true, false, 0)]), None);
    }

    #[test]
    fn a_single_host_url_is_one_host_of_any_session() {
        let hosts = parse_hosts("postgres://postgres@127.0.0.1:54321/postgres").expect("parses");
        assert_eq!(hosts.hosts.len(), 1);
        assert_eq!(hosts.target, TargetSession::Any);
        let standby = parse_hosts("postgres://u@a:1,b:2/db?target_session_attrs=prefer-standby")
            .expect("parses");
        assert_eq!(standby.target, TargetSession::PreferStandby);
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_the_password() {
        let err = parse_hosts("postgres://u:hunter2@a:1,,b/db").expect_err("empty host");
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_hosts("postgres://u:hunter2@a:1/db?target_session_attrs=bogus")
            .expect_err("unknown attrs");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
