//! Forgetting stale keys in Redis and telling every instance's memory layer, and marking
//! dirty what could not be forgotten.

use super::Store;
use crate::breaker::Scope;
use crate::keys::{Key, Stale};
use crate::Error;

impl Store {
    /// The channel on which invalidations of locally held keys are published.
    pub(crate) fn channel(&self) -> String {
        format!("{}ims:invalidate", self.config.prefix)
    }

    /// Forgets `stale` in Redis and publishes, to every instance's memory layer, the names
    /// of those keys of the types it holds (`held`). One script for all on a single server;
    /// on a cluster one per key, all at once, since a script's keys must share a slot (each
    /// publishes the names of its own key: a message published on any node reaches every
    /// node's subscribers). What could not be forgotten is marked dirty, to be purged before
    /// it is read again: on a cluster, the masters of the keys whose script failed or was
    /// skipped (their breaker open), while the other keys are forgotten as usual.
    pub(crate) async fn invalidate(&self, stale: &[Stale], held: &[&str]) -> Result<(), Error> {
        if !self.connector.is_cluster() {
            let result = self.invalidate_all(stale, held).await;
            if result.is_err() {
                self.dirty.mark(&Scope::Whole);
            }
            return result;
        }
        let mut by_key: Vec<(&Key, Vec<&Stale>)> = Vec::new();
        for item in stale {
            let key = item.key();
            match by_key.iter_mut().find(|(k, _)| k.name == key.name) {
                Some((_, items)) => items.push(item),
                None => by_key.push((key, vec![item])),
            }
        }
        let runs = by_key.iter().map(|(key, items)| async move {
            let message = if held.contains(&key.name.as_str()) {
                key.name.as_str()
            } else {
                ""
            };
            let scope = self.scope_of(&[key]);
            let result = async {
                let (mut conn, generation) = self.connection(&scope).await?;
                let invocation = self.invalidation(items, message);
                self.guard(generation, &scope, async {
                    let _: i64 = invocation.invoke_async(&mut conn).await?;
                    Ok(())
                })
                .await
            }
            .await;
            if result.is_err() {
                self.dirty.mark(&scope);
            }
            result
        });
        let results = futures_util::future::join_all(runs).await;
        results.into_iter().collect()
    }

    /// One script for every key of `stale`, on one server.
    async fn invalidate_all(&self, stale: &[Stale], held: &[&str]) -> Result<(), Error> {
        let (mut conn, generation) = self.connection(&Scope::Whole).await?;
        let all: Vec<&Stale> = stale.iter().collect();
        let invocation = self.invalidation(&all, &held.join("\n"));
        self.guard(generation, &Scope::Whole, async {
            let _: i64 = invocation.invoke_async(&mut conn).await?;
            Ok(())
        })
        .await
    }
}
