//! The follower: a task that probes every host each round, points the primary pool at the
//! writable node on the newest timeline, fences a superseded one and publishes the topology
//! that reads are routed by (`crate::routing`).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::PgConnection;
use tokio::sync::watch;

use super::describe;
use super::fence::end_service_sessions;
use super::probe::probe_host;
use super::topology::{pick_primary, NodeRole, NodeState, Topology};

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
            if node.role == NodeRole::Superseded {
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
