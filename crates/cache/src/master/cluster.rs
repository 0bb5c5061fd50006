//! A Redis Cluster: its client, and the watcher that reads `CLUSTER NODES` for the slot map
//! and the promotions (see `master`).

use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Once, Weak};
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use super::{Inner, WATCH_INTERVAL};
use crate::conn::{self, Conn};
use crate::slots::SlotMap;
use crate::{CacheConfig, Error};

pub(super) struct Clustered {
    pub(super) client: ClusterClient,
    /// One plain client per configured node, for a subscription (`subscriber`).
    pub(super) nodes: Vec<redis::Client>,
    /// The node the next subscription goes to: each attempt tries the next one.
    pub(super) next: AtomicUsize,
    pub(super) watching: Once,
}

/// The cluster's client: the configured nodes with the user, password and TLS of
/// `IMS_REDIS_URL` (its host is ignored; a cluster has database 0 only).
pub(super) fn clustered(config: &CacheConfig) -> Result<Clustered, Error> {
    let url = config.url.as_str().into_connection_info()?;
    let nodes = config
        .cluster
        .iter()
        .map(|addr| {
            let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
                redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "a cluster node is host:port",
                    addr.clone(),
                ))
            })?;
            let port = port.parse::<u16>().map_err(|_| {
                redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "a cluster node's port is a number",
                    addr.clone(),
                ))
            })?;
            let host = host.to_owned();
            let addr = match &url.addr {
                ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure: *insecure,
                    tls_params: None,
                },
                _ => ConnectionAddr::Tcp(host, port),
            };
            let mut redis = url.redis.clone();
            redis.db = 0;
            Ok(ConnectionInfo { addr, redis })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let client = ClusterClientBuilder::new(nodes.clone())
        .connection_timeout(config.timeout)
        .response_timeout(config.timeout)
        .build()?;
    Ok(Clustered {
        client,
        nodes: nodes
            .into_iter()
            .map(redis::Client::open)
            .collect::<Result<_, _>>()?,
        next: AtomicUsize::new(0),
        watching: Once::new(),
    })
}

/// On a cluster, at once and then every [`WATCH_INTERVAL`]: the slot map, and has a replica
/// been promoted since the last look? Counts it as a switch (see the module's note). A node
/// that answers nothing is skipped.
pub(super) async fn watch_cluster(inner: Weak<Inner>) {
    let mut replicas: HashSet<String> = HashSet::new();
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let Some(Conn::Cluster(mut conn)) = inner.lock().manager.clone() else {
            continue;
        };
        let timeout = inner.timeout.max(Duration::from_secs(1));
        let Ok(Ok(nodes)) = tokio::time::timeout(timeout, conn::cluster_nodes(&mut conn)).await
        else {
            continue;
        };
        inner
            .slot_map
            .store(Some(Arc::new(SlotMap::from_nodes(&nodes))));
        for node in nodes
            .iter()
            .filter(|n| n.master && n.serving() && !n.failing)
        {
            if replicas.contains(&node.id) {
                inner.count_promotion(&node.address());
            }
        }
        replicas = nodes
            .into_iter()
            .filter(|n| !n.master)
            .map(|n| n.id)
            .collect();
    }
}
