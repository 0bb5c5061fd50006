//! After a failed invalidation or a master switch, cached values may be stale: they are
//! purged before anything is read from where they are. On one server that is everything; on
//! a cluster, the masters whose keys could not be invalidated or that were just promoted
//! (their old master's last invalidations may not have reached them), while the keys of the
//! other masters stay cached.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Store;
use crate::breaker::Scope;
use crate::conn::{self, Conn};
use crate::Error;

/// What may hold stale values. Marks are numbered, so a mark made while a purge runs (the
/// purge may have scanned past the key already) outlives that purge.
#[derive(Default)]
pub(super) struct Dirty {
    /// The last mark of Redis as a whole, and the last one a purge of everything covered.
    whole_marked: AtomicU64,
    whole_purged: AtomicU64,
    /// Numbers the marks of masters.
    marks: AtomicU64,
    /// Dirty masters of a cluster, by address, each with its last mark.
    masters: Mutex<HashMap<Arc<str>, u64>>,
    /// Whether `masters` holds any: every request reads this, the map only when it does.
    any_master: AtomicBool,
}

/// A purge to run: everything, or some masters, with the marks it covers.
pub(super) struct Purge {
    whole: Option<u64>,
    masters: Vec<(Arc<str>, u64)>,
}

impl Dirty {
    /// What `scope` names may hold stale values. A cluster-wide step stands for everything.
    pub(super) fn mark(&self, scope: &Scope) {
        match scope {
            Scope::Whole | Scope::Cluster => {
                self.whole_marked.fetch_add(1, Ordering::AcqRel);
            }
            Scope::Masters(masters) => {
                let mut dirty = self.lock();
                for master in masters {
                    let mark = self.marks.fetch_add(1, Ordering::AcqRel) + 1;
                    dirty.insert(master.clone(), mark);
                }
                self.any_master.store(!dirty.is_empty(), Ordering::Release);
            }
        }
    }

    /// What must be purged before a step in `scope` reads, `None` when nothing: everything
    /// while Redis as a whole is dirty; on a cluster, the dirty masters the step talks to.
    /// Dirty masters that serve no slot any more (`current`: the slot map's masters, asked
    /// only when a master is dirty) are forgotten: their keys are on the replicas promoted in
    /// their place, which are purged for their promotion.
    pub(super) fn to_purge(
        &self,
        scope: &Scope,
        current: impl FnOnce() -> Option<Vec<Arc<str>>>,
    ) -> Option<Purge> {
        let whole = self.whole_marked.load(Ordering::Acquire);
        if whole > self.whole_purged.load(Ordering::Acquire) {
            let masters = self.lock().iter().map(|(m, n)| (m.clone(), *n)).collect();
            return Some(Purge {
                whole: Some(whole),
                masters,
            });
        }
        if !self.any_master.load(Ordering::Acquire) {
            return None;
        }
        let mut dirty = self.lock();
        if let Some(current) = current() {
            dirty.retain(|master, _| current.contains(master));
            self.any_master.store(!dirty.is_empty(), Ordering::Release);
        }
        let masters: Vec<(Arc<str>, u64)> = match scope {
            Scope::Cluster => return None,
            // A cluster's step whose masters are not known: all the dirty ones.
            Scope::Whole => dirty.iter().map(|(m, n)| (m.clone(), *n)).collect(),
            Scope::Masters(wanted) => wanted
                .iter()
                .filter_map(|m| dirty.get(m).map(|n| (m.clone(), *n)))
                .collect(),
        };
        (!masters.is_empty()).then_some(Purge {
            whole: None,
            masters,
        })
    }

    /// `purge` ran to its end: what it covers is clean unless marked again since.
    fn purged(&self, purge: &Purge) {
        if let Some(whole) = purge.whole {
            self.whole_purged.fetch_max(whole, Ordering::AcqRel);
        }
        let mut dirty = self.lock();
        for (master, mark) in &purge.masters {
            if dirty.get(master) == Some(mark) {
                dirty.remove(master);
            }
        }
        self.any_master.store(!dirty.is_empty(), Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, u64>> {
        // Nothing panics while holding it; a poisoned map is still a valid one.
        self.masters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store {
    /// Forgets every key under the prefix that `purge` covers: on one server all of them; on
    /// a cluster those of every live master, or of the dirty masters named (bumping nothing:
    /// versions of purged keys restart at "no version", which no in-flight reader that saw a
    /// number can match).
    pub(super) async fn purge(
        &self,
        mut conn: Conn,
        generation: u64,
        purge: Purge,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let scope = self.connector.scope_of_any();
        let nodes = match &mut conn {
            Conn::Single(_) => vec![None],
            // A failed master is left out: its replica took over its slots, and it rejoins
            // as a replica of that one, with its data.
            Conn::Cluster(cluster) if purge.whole.is_some() => self
                .guard(generation, &scope, async {
                    Ok(conn::cluster_nodes(cluster).await?)
                })
                .await?
                .into_iter()
                .filter(|n| n.master && !n.failing)
                .map(|n| Some(Arc::from(n.address())))
                .collect(),
            Conn::Cluster(_) => purge
                .masters
                .iter()
                .map(|(master, _)| Some(master.clone()))
                .collect(),
        };
        let mut purged = 0usize;
        for node in &nodes {
            purged += self.purge_node(&mut conn, generation, node).await?;
        }
        self.dirty.purged(&purge);
        let masters: Vec<&str> = purge.masters.iter().map(|(m, _)| &**m).collect();
        tracing::info!(
            purged,
            whole = purge.whole.is_some(),
            ?masters,
            elapsed = ?started.elapsed(),
            "cache purged after a failed invalidation or a master switch"
        );
        Ok(())
    }

    /// Purges the keys of one server (`None`: the one `conn` goes to; else the cluster node
    /// at that `host:port`, as the breakers name masters). A failure opens the breaker of the
    /// node purged (of Redis, on one server).
    async fn purge_node(
        &self,
        conn: &mut Conn,
        generation: u64,
        node: &Option<Arc<str>>,
    ) -> Result<usize, Error> {
        let scope = match node {
            Some(address) => Scope::Masters(vec![address.clone()]),
            None => Scope::Whole,
        };
        let pattern = format!("{}*", self.config.prefix);
        let mut cursor: u64 = 0;
        let mut purged = 0usize;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<String>) = self
                .guard(generation, &scope, async {
                    Ok(match (&mut *conn, node) {
                        (Conn::Cluster(cluster), Some(address)) => {
                            redis::from_redis_value(&conn::on_node(cluster, &scan, address).await?)?
                        }
                        (conn, _) => scan.query_async(conn).await?,
                    })
                })
                .await?;
            // Versions stay (see above): `{key}#v` and its `#v#g:`/`#v#f:` counters.
            let data: Vec<&String> = keys
                .iter()
                .filter(|k| !k.ends_with("#v") && !k.contains("#v#"))
                .collect();
            if !data.is_empty() {
                purged += data.len();
                // On a cluster redis-rs splits a multi-key UNLINK by slot.
                self.guard(generation, &scope, async {
                    Ok(redis::cmd("UNLINK")
                        .arg(&data)
                        .query_async::<i64>(&mut *conn)
                        .await
                        .map(|_| ())?)
                })
                .await?;
            }
            if next == 0 {
                return Ok(purged);
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masters(names: &[&str]) -> Scope {
        Scope::Masters(names.iter().map(|n| Arc::from(*n)).collect())
    }

    fn named(purge: &Purge) -> Vec<&str> {
        purge.masters.iter().map(|(m, _)| &**m).collect()
    }

    #[test]
    fn a_dirty_master_is_purged_before_its_keys_are_read_and_no_other() {
        let dirty = Dirty::default();
        assert!(dirty.to_purge(&masters(&["a:1"]), || None).is_none());
        dirty.mark(&masters(&["a:1"]));
        assert!(dirty.to_purge(&masters(&["b:2"]), || None).is_none());
        assert!(dirty.to_purge(&Scope::Cluster, || None).is_none());
        let purge = dirty
            .to_purge(&masters(&["b:2", "a:1"]), || None)
            .expect("a:1 is dirty");
        assert_eq!(named(&purge), ["a:1"]);
        assert_eq!(purge.whole, None);
        dirty.purged(&purge);
        assert!(dirty.to_purge(&masters(&["a:1"]), || None).is_none());
    }

    #[test]
    fn a_mark_made_during_a_purge_outlives_it() {
        let dirty = Dirty::default();
        dirty.mark(&masters(&["a:1"]));
        dirty.mark(&Scope::Whole);
        let purge = dirty
            .to_purge(&Scope::Cluster, || None)
            .expect("all is dirty");
        assert!(purge.whole.is_some());
        dirty.mark(&Scope::Whole);
        dirty.mark(&masters(&["a:1"]));
        dirty.purged(&purge);
        assert!(dirty.to_purge(&Scope::Cluster, || None).is_some());
        let again = dirty
            .to_purge(&Scope::Whole, || None)
            .expect("marked again");
        dirty.purged(&again);
        assert!(dirty.to_purge(&masters(&["a:1"]), || None).is_none());
    }

    #[test]
    fn a_master_serving_no_slot_any_more_is_forgotten() {
        let dirty = Dirty::default();
        dirty.mark(&masters(&["a:1"]));
        let now = || Some(vec![Arc::from("b:2")]);
        assert!(dirty.to_purge(&masters(&["a:1"]), now).is_none());
        assert!(!dirty.any_master.load(Ordering::Acquire));
    }
}
