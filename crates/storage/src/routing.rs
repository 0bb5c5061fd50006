//! Where a read goes on a cluster: the one place that decides it.
//!
//! Handlers say what a read needs by the pool they ask for: [`crate::Db::primary`] for writes
//! and for reads that must see the latest commit, [`crate::Db::read`] for everything that may
//! lag a little. This module picks the node behind `read()`: a standby that is up, within the
//! lag bound and has replayed the caller's last write (its consistency token), taken in turn so
//! the standbys share the load; the primary when none qualifies (MongoDB's
//! `secondaryPreferred`). A request's [`Route`], set by the HTTP layer for the request's task,
//! carries the token and the nodes a failed first attempt used, so a retry goes elsewhere.

use std::sync::{Arc, Mutex};

use crate::hosts::{NodeRole, Topology};

tokio::task_local! {
    static ROUTE: Arc<Mutex<Route>>;
}

/// A node a read was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Whichever host is the primary (the primary pool).
    Primary,
    /// The host at this index of the topology (a standby when it was picked).
    Host(usize),
}

/// What one request asks of its reads, and what they used.
#[derive(Debug, Default, Clone)]
pub struct Route {
    /// The caller's last write position: a standby behind it does not serve this request.
    pub min_lsn: Option<u64>,
    /// Nodes a first attempt failed on: the retry avoids them.
    pub avoid: Vec<Target>,
    /// Nodes this attempt read from.
    pub used: Vec<Target>,
}

impl Route {
    /// Before a retry: avoid every node the failed attempt read from.
    pub fn avoid_used(&mut self) {
        let used = std::mem::take(&mut self.used);
        self.avoid.extend(used);
    }
}

/// Runs `work` with `route` as its request's route (reads inside it consult and record it).
pub async fn scope<F: std::future::Future>(route: Arc<Mutex<Route>>, work: F) -> F::Output {
    ROUTE.scope(route, work).await
}

fn with_route<T>(f: impl FnOnce(&mut Route) -> T) -> Option<T> {
    ROUTE
        .try_with(|route| route.lock().ok().map(|mut r| f(&mut r)))
        .ok()
        .flatten()
}

/// Whether a standby could serve `route`'s next read now (as [`pick`] would choose one): one
/// that is up, readable and has replayed the route's token, and is not avoided; within the lag
/// bound unless the primary is avoided too. `false` means only the primary can serve it: after
/// a failover, a token the old primary gave may name WAL that no standby has replayed yet (or,
/// its WAL position being past the last commit, that no surviving node ever had), so only the
/// new primary, which has every acknowledged commit, can serve the read.
pub(crate) fn standby_serves(
    topology: &Topology,
    readable: &[bool],
    max_lag_secs: f64,
    route: &Route,
) -> bool {
    let min_lsn = route.min_lsn.unwrap_or(0);
    let lag_bound = !route.avoid.contains(&Target::Primary);
    (0..topology.nodes.len()).any(|i| {
        let node = &topology.nodes[i];
        readable.get(i).copied().unwrap_or(false)
            && node.role == NodeRole::Standby
            && (!lag_bound || node.lag_secs <= max_lag_secs)
            && node.lsn >= min_lsn
            && !route.avoid.contains(&Target::Host(i))
    })
}

/// The node for the next read. `turn` rotates among the standbys that qualify.
pub(crate) fn pick(
    topology: &Topology,
    readable: &[bool],
    max_lag_secs: f64,
    turn: usize,
) -> Target {
    let (min_lsn, avoid) =
        with_route(|r| (r.min_lsn.unwrap_or(0), r.avoid.clone())).unwrap_or_default();
    let standby_ok = |i: usize, lag_bound: bool| {
        let node = &topology.nodes[i];
        readable.get(i).copied().unwrap_or(false)
            && node.role == NodeRole::Standby
            && (!lag_bound || node.lag_secs <= max_lag_secs)
            && node.lsn >= min_lsn
            && !avoid.contains(&Target::Host(i))
    };
    let candidates: Vec<usize> = (0..topology.nodes.len())
        .filter(|i| standby_ok(*i, true))
        .collect();
    let target = if !candidates.is_empty() {
        Target::Host(candidates[turn % candidates.len()])
    } else if !avoid.contains(&Target::Primary) {
        Target::Primary
    } else {
        // The primary failed this request once: a standby past the lag bound is better than
        // the same dying node, as long as it has the caller's own writes.
        (0..topology.nodes.len())
            .find(|i| standby_ok(*i, false))
            .map_or(Target::Primary, Target::Host)
    };
    with_route(|r| r.used.push(target));
    target
}

/// A WAL position as PostgreSQL prints it (`16/B374D848`).
pub fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// Parses [`format_lsn`]'s form; `None` for anything else.
pub fn parse_lsn(text: &str) -> Option<u64> {
    let (hi, lo) = text.trim().split_once('/')?;
    if hi.is_empty() || lo.is_empty() || hi.len() > 8 || lo.len() > 8 {
        return None;
    }
    let hi = u64::from_str_radix(hi, 16).ok()?;
    let lo = u64::from_str_radix(lo, 16).ok()?;
    Some((hi << 32) | lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::NodeState;

    fn node(role: NodeRole, lag_secs: f64, lsn: u64) -> NodeState {
        NodeState {
            role,
            lag_secs,
            lsn,
            timeline: 0,
        }
    }

    fn cluster() -> Topology {
        Topology {
            nodes: vec![
                node(NodeRole::Primary, 0.0, 500),
                node(NodeRole::Standby, 0.1, 490),
                node(NodeRole::Standby, 0.2, 400),
            ],
            primary: Some(0),
            generation: 0,
            round: 1,
        }
    }

    const ALL: [bool; 3] = [true, true, true];

    #[tokio::test]
    async fn reads_take_the_standbys_in_turn() {
        let t = cluster();
        let picks: Vec<Target> = (0..4).map(|turn| pick(&t, &ALL, 1.0, turn)).collect();
        use Target::Host;
        assert_eq!(picks, [Host(1), Host(2), Host(1), Host(2)]);
    }

    #[tokio::test]
    async fn a_lagging_or_dead_standby_takes_no_reads() {
        let mut t = cluster();
        t.nodes[1].lag_secs = 3.0;
        t.nodes[2].role = NodeRole::Down;
        assert_eq!(pick(&t, &ALL, 1.0, 0), Target::Primary);
    }

    #[tokio::test]
    async fn a_token_skips_standbys_that_have_not_replayed_it() {
        let t = cluster();
        let route = Arc::new(Mutex::new(Route {
            min_lsn: Some(450),
            ..Route::default()
        }));
        let picks = scope(route.clone(), async {
            (0..3)
                .map(|turn| pick(&t, &ALL, 1.0, turn))
                .collect::<Vec<_>>()
        })
        .await;
        assert_eq!(picks, [Target::Host(1); 3]);
        let route = Arc::new(Mutex::new(Route {
            min_lsn: Some(495),
            ..Route::default()
        }));
        let picked = scope(route.clone(), async { pick(&t, &ALL, 1.0, 0) }).await;
        assert_eq!(picked, Target::Primary, "no standby has the write yet");
        assert_eq!(route.lock().unwrap().used, [Target::Primary]);
    }

    #[tokio::test]
    async fn a_retry_avoids_the_node_that_failed() {
        let t = cluster();
        let route = Arc::new(Mutex::new(Route::default()));
        let first = scope(route.clone(), async { pick(&t, &ALL, 1.0, 0) }).await;
        assert_eq!(first, Target::Host(1));
        route.lock().unwrap().avoid_used();
        let second = scope(route.clone(), async { pick(&t, &ALL, 1.0, 0) }).await;
        assert_eq!(second, Target::Host(2));
        // Primary reads that failed go to a standby, even one past the lag bound.
        let mut lagging = cluster();
        lagging.nodes[1].lag_secs = 5.0;
        lagging.nodes[2].lag_secs = 5.0;
        let route = Arc::new(Mutex::new(Route {
            avoid: vec![Target::Primary],
            ..Route::default()
        }));
        let picked = scope(route, async { pick(&lagging, &ALL, 1.0, 0) }).await;
        assert_eq!(picked, Target::Host(1));
    }

    /// Issue 14 (a): a write acknowledged by a primary that then died carries a token at that
    /// primary's WAL position, which may be past anything the standbys replayed. A retry of the
    /// read with it must wait for the new primary: no standby can serve it, and the primary
    /// pool, avoided or not, is the only place the write is sure to be.
    #[tokio::test]
    async fn a_token_no_standby_has_replayed_needs_the_primary() {
        let mut t = cluster();
        // The primary died: the follower sees it down and no primary yet.
        t.nodes[0] = NodeState::DOWN;
        t.primary = None;
        let route = |min_lsn, avoid: Vec<Target>| Route {
            min_lsn: Some(min_lsn),
            avoid,
            ..Route::default()
        };
        // The old primary's position (500) is past both standbys (490, 400).
        assert!(!standby_serves(&t, &ALL, 1.0, &route(500, vec![])));
        assert!(!standby_serves(
            &t,
            &ALL,
            1.0,
            &route(500, vec![Target::Primary])
        ));
        // A token the first standby has replayed: it serves, unless the first attempt used it.
        assert!(standby_serves(&t, &ALL, 1.0, &route(450, vec![])));
        assert!(!standby_serves(
            &t,
            &ALL,
            1.0,
            &route(450, vec![Target::Host(1)])
        ));
        // Past the lag bound only when the primary failed this request already.
        t.nodes[1].lag_secs = 5.0;
        assert!(!standby_serves(&t, &ALL, 1.0, &route(450, vec![])));
        assert!(standby_serves(
            &t,
            &ALL,
            1.0,
            &route(450, vec![Target::Primary])
        ));
    }

    #[tokio::test]
    async fn hosts_outside_the_read_url_take_no_reads() {
        let t = cluster();
        assert_eq!(pick(&t, &[true, false, true], 1.0, 0), Target::Host(2));
    }

    #[test]
    fn lsns_round_trip_in_postgres_notation() {
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(parse_lsn("0/0"), Some(0));
        for bad in ["", "/", "1/", "x/1", "123456789/0", "1/2/3", "-1/0"] {
            assert_eq!(parse_lsn(bad), None, "{bad}");
        }
    }
}
