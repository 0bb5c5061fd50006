//! Following the master a set of Sentinels monitors: asking them where it is (each alone,
//! under a timeout), and the watcher that asks them every [`WATCH_INTERVAL`] (see `master`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsMode};

use super::{Inner, Source, WATCH_INTERVAL};
use crate::{CacheConfig, Error, SentinelConfig};

pub(super) struct Followed {
    /// One crate `Sentinel` per Sentinel: the crate asks its list in order without a timeout,
    /// so one that hangs (rather than refusing) would stall every lookup behind it. Each is
    /// asked alone, under the caller's timeout, starting with `preferred`.
    pub(super) by_sentinel: Vec<tokio::sync::Mutex<Sentinel>>,
    /// The Sentinel to ask first: the next one after a failed lookup.
    pub(super) preferred: AtomicUsize,
    pub(super) sentinels: Vec<ConnectionInfo>,
    pub(super) master: String,
    /// Database, user, password and TLS for the master, from `IMS_REDIS_URL`.
    pub(super) node: SentinelNodeConnectionInfo,
    pub(super) watching: Once,
}

impl Followed {
    /// The Sentinels of `sentinel`, with the user, password, database and TLS of
    /// `IMS_REDIS_URL` for whichever master they name.
    pub(super) fn new(config: &CacheConfig, sentinel: &SentinelConfig) -> Result<Followed, Error> {
        let url = config.url.as_str().into_connection_info()?;
        let sentinels = sentinel
            .sentinels
            .iter()
            .map(|addr| format!("redis://{addr}").into_connection_info())
            .collect::<Result<Vec<_>, _>>()?;
        let tls_mode = match url.addr {
            ConnectionAddr::TcpTls { insecure: true, .. } => Some(TlsMode::Insecure),
            ConnectionAddr::TcpTls { .. } => Some(TlsMode::Secure),
            _ => None,
        };
        Ok(Followed {
            by_sentinel: sentinels
                .iter()
                .map(|info| Sentinel::build(vec![info.clone()]).map(tokio::sync::Mutex::new))
                .collect::<Result<_, _>>()?,
            preferred: AtomicUsize::new(0),
            sentinels,
            master: sentinel.master.clone(),
            node: SentinelNodeConnectionInfo {
                tls_mode,
                redis_connection_info: Some(url.redis),
            },
            watching: Once::new(),
        })
    }

    /// A client for the master, from the first Sentinel that names a live one. Each is given
    /// `timeout`; a failed one makes the next the first to ask from now on.
    pub(super) async fn master_client(&self, timeout: Duration) -> Result<redis::Client, Error> {
        let count = self.by_sentinel.len();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut last = Error::Timeout(timeout);
        for i in (0..count).map(|k| (start + k) % count) {
            // The next one first unless this one answers: the caller's own timeout may cancel
            // this lookup before ours fires.
            self.preferred.store((i + 1) % count, Ordering::Relaxed);
            let ask = async {
                let mut sentinel = self.by_sentinel[i].lock().await;
                sentinel
                    .async_master_for(&self.master, Some(&self.node))
                    .await
            };
            match tokio::time::timeout(timeout, ask).await {
                Ok(Ok(client)) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(client);
                }
                Ok(Err(e)) => last = Error::Redis(e),
                Err(_) => last = Error::Timeout(timeout),
            }
        }
        Err(last)
    }
}

/// Every [`WATCH_INTERVAL`]: where do the Sentinels say the master is? When that is not the
/// server connected to (or nothing is connected), connect to it now.
pub(super) async fn watch(inner: Weak<Inner>) {
    let mut sentinels: Vec<Option<MultiplexedConnection>> = Vec::new();
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let Source::Sentinels(followed) = &inner.source else {
            return;
        };
        sentinels.resize_with(followed.sentinels.len(), || None);
        let named = named_master(followed, &mut sentinels, inner.timeout).await;
        let (connected, addr) = {
            let state = inner.lock();
            (state.manager.is_some(), state.addr.clone())
        };
        let moved = named.is_some() && named != addr;
        if connected && !moved {
            continue;
        }
        let Ok(_one) = inner.connecting.try_lock() else {
            // A request is connecting right now.
            continue;
        };
        if moved {
            inner.lock().manager = None;
        }
        // Longer than a request may wait: nobody is waiting on this one.
        let timeout = inner.timeout.max(Duration::from_secs(1));
        match tokio::time::timeout(timeout, inner.connect()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "redis master not reachable yet"),
            Err(_) => tracing::debug!(?timeout, "redis master did not answer in time"),
        }
    }
}

/// The first answer of `SENTINEL GET-MASTER-ADDR-BY-NAME`, asking each Sentinel in turn on
/// its kept connection (the crate's `Sentinel` has no such call, and asking it for a client
/// would connect to the master every time).
async fn named_master(
    followed: &Followed,
    connections: &mut [Option<MultiplexedConnection>],
    timeout: Duration,
) -> Option<String> {
    for (info, slot) in followed.sentinels.iter().zip(connections.iter_mut()) {
        let ask = async {
            if slot.is_none() {
                let client = redis::Client::open(info.clone())?;
                *slot = Some(client.get_multiplexed_async_connection().await?);
            }
            let Some(conn) = slot.as_mut() else {
                return Ok(None);
            };
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(&followed.master)
                .query_async::<Option<(String, u16)>>(conn)
                .await
        };
        match tokio::time::timeout(timeout, ask).await {
            Ok(Ok(Some((host, port)))) => return Some(format!("{host}:{port}")),
            // This Sentinel does not know the set: ask the next.
            Ok(Ok(None)) => {}
            Ok(Err(_)) | Err(_) => *slot = None,
        }
    }
    None
}
