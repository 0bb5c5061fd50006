//! Keeps this instance's memory layer (`local`) in step with every other instance's writes:
//! a subscription to the invalidation channel on the Redis the cache uses, whose messages
//! (key names, one per line) are forgotten locally.
//!
//! Redis Pub/Sub delivers nothing sent while a subscriber is away, so the layer is turned off
//! and emptied whenever the subscription is lost, and emptied again once it is back, before
//! it is turned on. Behind Sentinels a master switch resubscribes on the new master.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;

use crate::local::Local;
use crate::master::Connector;

/// How long to wait before subscribing again after a failure, and how often a live
/// subscription checks that the master has not moved.
const RETRY: Duration = Duration::from_millis(500);

/// Runs until the layer is dropped (the last clone of the cache).
pub(crate) async fn run(
    local: Weak<Local>,
    connector: Connector,
    channel: String,
    timeout: Duration,
) {
    loop {
        let Some(layer) = local.upgrade() else {
            return;
        };
        layer.reset(false);
        let switches = connector.switches();
        let subscribed = tokio::time::timeout(timeout.max(Duration::from_secs(1)), async {
            let client = connector.client().await?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, crate::Error>(pubsub)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cache invalidations: cannot subscribe yet");
                drop(layer);
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(_) => {
                drop(layer);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        // Anything published before the subscription took effect is lost: start empty.
        layer.reset(true);
        drop(layer);
        listen(&local, pubsub, &connector, switches).await;
        tracing::info!("cache invalidations: subscription lost; the memory layer is off");
    }
}

/// Applies messages until the subscription ends, the master moves or the layer is dropped.
async fn listen(
    local: &Weak<Local>,
    mut pubsub: redis::aio::PubSub,
    connector: &Connector,
    switches: u64,
) {
    let mut messages = pubsub.on_message();
    let mut check = tokio::time::interval(RETRY);
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { return };
                let Some(layer) = local.upgrade() else { return };
                let payload: String = message.get_payload().unwrap_or_default();
                forget(&layer, &payload);
            }
            _ = check.tick() => {
                if local.strong_count() == 0 || connector.switches() != switches {
                    return;
                }
            }
        }
    }
}

/// Forgets the keys a message names.
pub(crate) fn forget(layer: &Arc<Local>, payload: &str) {
    layer.forget(payload.lines().filter(|name| !name.is_empty()));
}
