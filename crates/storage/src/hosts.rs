//! Multi-host PostgreSQL URLs (libpq's `postgres://u@h1:p1,h2:p2,h3:p3/db?target_session_attrs=…`)
//! for a cluster whose primary moves.
//!
//! sqlx 0.8 takes one host per URL and ignores `target_session_attrs`, so the service does what
//! libpq would: it splits the URL into one connect option per host and a follower task
//! ([`spawn_follower`]) probes every host twice a second with `pg_is_in_recovery()`. The
//! primary pool is pointed at the node that is not in recovery ([`sqlx::Pool::set_connect_options`]),
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
use tokio::sync::watch;

/// The error with which the primary pool's `after_connect` refuses a connection that landed on
/// a standby (`crate::db`). Routine during start-up and failovers; the binary's telemetry keeps
/// sqlx from logging it as an error.
pub const STANDBY_REFUSED: &str = "connected to a standby; the primary pool wants the primary";

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

/// A host's role as the last probe saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Standby,
    /// Takes writes, but on an older timeline than the primary: an old primary cut off from
    /// the cluster by a partition, until its keeper demotes it. Its commits wait for standbys
    /// that no longer follow it, so it takes no requests at all.
    Superseded,
    /// No answer within a second.
    Down,
}

/// What the last probe saw of one host.
#[derive(Debug, Clone, Copy)]
pub struct NodeState {
    pub role: Role,
    /// Seconds the standby's replay trails its last received WAL (0 when caught up or primary).
    pub lag_secs: f64,
    /// WAL replayed (standby) or written (primary), as a byte position (`pg_lsn - '0/0'`).
    pub lsn: u64,
    /// The timeline a writable node writes on (0 for a standby): each promotion starts a new one.
    pub timeline: i64,
}

impl NodeState {
    pub(crate) const DOWN: NodeState = NodeState {
        role: Role::Down,
        lag_secs: 0.0,
        lsn: 0,
        timeline: 0,
    };
}

/// The cluster as the follower sees it, one entry per host in the order of the URL.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub nodes: Vec<NodeState>,
    /// The index of the host that accepts writes, if one answered the last round.
    pub primary: Option<usize>,
    /// How many times the primary has moved (a failover or switchover) since start-up.
    pub generation: u64,
    /// Probe rounds completed; a waiter knows a round saw the cluster after its failure.
    pub round: u64,
}

/// The pools a follower steers, with the options every pool connection gets on top of a host's.
pub(crate) struct Steered {
    /// The primary pool and the hosts it may point at.
    pub primary: Option<PgPool>,
    /// Every host, in the order of [`Topology::nodes`].
    pub hosts: Vec<PgConnectOptions>,
    /// Applied to a host's options before they go to a pool (application name, timeouts).
    pub decorate: Arc<dyn Fn(PgConnectOptions) -> PgConnectOptions + Send + Sync>,
    /// Where each round's view is published.
    pub topology: watch::Sender<Topology>,
    /// The follower stops when this pool closes (the service is shutting down).
    pub lifeline: PgPool,
}

/// Probes the hosts every `period`, re-points the primary pool and publishes the topology;
/// stops when the service's pools close.
pub(crate) fn spawn_follower(steered: Steered, period: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: multi-host URLs use their first host only");
        return;
    };
    runtime.spawn(follow(steered, period));
}

async fn follow(steered: Steered, period: Duration) {
    let hosts = &steered.hosts;
    let mut probes: Vec<Option<PgConnection>> = hosts.iter().map(|_| None).collect();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if steered.lifeline.is_closed() {
            return;
        }
        // All hosts at once: a hung host costs the round its one-second limit, not more.
        let seen: Vec<NodeState> = futures_util::future::join_all(
            hosts
                .iter()
                .zip(probes.iter_mut())
                .map(|(host, probe)| async move {
                    probe_host(host, probe).await.unwrap_or(NodeState::DOWN)
                }),
        )
        .await;
        let mut seen = seen;
        let primary = pick_primary(&mut seen);
        let previous = steered.topology.borrow().primary;
        let moved = primary.is_some() && primary != previous;
        if moved {
            let p = primary.unwrap_or_default();
            tracing::info!(host = %describe(&hosts[p]), "the primary is now this host");
            if let Some(pool) = &steered.primary {
                pool.set_connect_options((steered.decorate)(hosts[p].clone()));
            }
        }
        // Fence a superseded old primary off from this service: the primary pool's idle
        // connections to it would otherwise be reused (re-pointing the pool affects only new
        // ones), and every write on it waits for standbys that no longer follow it.
        for (node, probe) in seen.iter().zip(probes.iter_mut()) {
            if node.role == Role::Superseded {
                if let Some(conn) = probe.as_mut() {
                    end_service_sessions(conn).await;
                }
            }
        }
        steered.topology.send_modify(|t| {
            t.nodes = seen;
            // Between a dead primary and its successor there is none: writes wait for one.
            t.primary = primary;
            if moved {
                t.generation += 1;
            }
            t.round += 1;
        });
    }
}

/// Ends the service's sessions (application name `ims`) on a superseded node; each request on
/// one fails as a lost node and is retried on the primary (api's `failover`). The service's
/// role may end its own sessions without further privileges.
async fn end_service_sessions(conn: &mut PgConnection) {
    let ended = tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'ims' AND datname = current_database()
               AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut *conn),
    )
    .await;
    match ended {
        Ok(Ok(n)) if n > 0 => tracing::warn!(
            sessions = n,
            "ended the service's sessions on a superseded primary"
        ),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not end sessions on a superseded primary"),
        Err(_) => tracing::warn!("ending sessions on a superseded primary timed out"),
    }
}

/// The host the primary pool should use: a writable one (the probe calls it `Primary`), the
/// newest timeline first. Two can answer during a network partition: the old primary, cut off
/// from its standbys (its commits wait for them and are never acknowledged) until its keeper
/// demotes it, and the promoted standby; the first in the list would keep the service writing
/// to the old one (failure test (e)). The other writable ones become `Superseded`.
fn pick_primary(seen: &mut [NodeState]) -> Option<usize> {
    let primary = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.role == Role::Primary)
        // min_by_key keeps the first of equals: the host list's order breaks ties.
        .min_by_key(|(_, s)| std::cmp::Reverse(s.timeline))
        .map(|(i, _)| i)?;
    // Only an older timeline is a superseded primary: two writable hosts on the same timeline
    // are one server under two names (or a cluster this service cannot tell apart), and
    // fencing one would end the service's sessions on the primary itself.
    let newest = seen[primary].timeline;
    for (i, node) in seen.iter_mut().enumerate() {
        if i != primary && node.role == Role::Primary && node.timeline < newest {
            node.role = Role::Superseded;
        }
    }
    Some(primary)
}

/// One probe on the host's kept connection, opened (within a second) when missing.
async fn probe_host(
    host: &PgConnectOptions,
    probe: &mut Option<PgConnection>,
) -> Option<NodeState> {
    const LIMIT: Duration = Duration::from_secs(1);
    if probe.is_none() {
        let options = host.clone().application_name("ims-follower");
        *probe = tokio::time::timeout(LIMIT, options.connect())
            .await
            .ok()
            .and_then(Result::ok);
    }
    let conn = probe.as_mut()?;
    // transaction_read_only as libpq's target_session_attrs=read-write checks it: a node being
    // promoted by pg_auto_failover is out of recovery but refuses writes until it is primary.
    let row: Option<(bool, bool, f64, i64, i64)> = tokio::time::timeout(
        LIMIT,
        sqlx::query_as(
            "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')::bool,
                    CASE WHEN NOT pg_is_in_recovery()
                           OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                         ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
                    END::float8,
                    (CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0')
                          ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::int8,
                    CASE WHEN pg_is_in_recovery() THEN 0
                         ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
                    END::int8",
        )
        .fetch_one(&mut *conn),
    )
    .await
    .ok()
    .and_then(Result::ok);
    match row {
        Some((in_recovery, read_only, lag_secs, lsn, timeline)) => Some(NodeState {
            // A read-only node that is out of recovery has every commit: it serves reads.
            role: if in_recovery || read_only {
                Role::Standby
            } else {
                Role::Primary
            },
            lag_secs,
            lsn: u64::try_from(lsn).unwrap_or_default(),
            timeline,
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

pub(crate) fn same_host(a: &PgConnectOptions, b: &PgConnectOptions) -> bool {
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
            "postgres://app:secret@127.0.0.1:15431,127.0.0.1:15432,localhost/ims?sslmode=disable&target_session_attrs=read-write",
        )
        .expect("parses");
        assert_eq!(hosts.target, TargetSession::ReadWrite);
        let ports: Vec<u16> = hosts.hosts.iter().map(|h| h.get_port()).collect();
        assert_eq!(ports, [15431, 15432, 5432]);
        assert_eq!(hosts.hosts[2].get_host(), "localhost");
        for host in &hosts.hosts {
            assert_eq!(host.get_username(), "app");
            assert_eq!(host.get_database(), Some("ims"));
        }
    }

    fn node(role: Role, timeline: i64) -> NodeState {
        NodeState {
            role,
            timeline,
            ..NodeState::DOWN
        }
    }

    #[test]
    fn the_primary_is_the_writable_node_on_the_newest_timeline() {
        use Role::*;
        // One primary: wherever it is in the list.
        let mut one = [node(Standby, 0), node(Down, 0), node(Primary, 3)];
        assert_eq!(pick_primary(&mut one), Some(2));
        // A partition: the old primary (timeline 3) still answers; the promoted one (4) wins
        // and the old one takes nothing.
        let mut split = [node(Primary, 3), node(Primary, 4)];
        assert_eq!(pick_primary(&mut split), Some(1));
        assert_eq!(split[0].role, Superseded);
        // Equals (one server under two names): the list's order, and nobody is fenced.
        let mut tie = [node(Primary, 2), node(Primary, 2)];
        assert_eq!(pick_primary(&mut tie), Some(0));
        assert_eq!(tie[1].role, Primary);
        let mut none = [node(Down, 0), node(Standby, 0)];
        assert_eq!(pick_primary(&mut none), None);
    }

    #[test]
    fn a_single_host_url_is_one_host_of_any_session() {
        let hosts = parse_hosts("postgres://postgres@127.0.0.1:14321/postgres").expect("parses");
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
