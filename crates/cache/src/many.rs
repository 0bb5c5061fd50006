//! Reads of many keys at once (a page of products): one Redis round trip for all, the misses
//! loaded together and written back each under its own version.

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{store, Cache, Key, Outcome, Tally, TallyOf};

impl Cache {
    /// Reads `field` of each of `keys` in one Redis round trip; the misses are loaded
    /// together by `load`, given their positions, which answers the values it found (a
    /// value it leaves out stays `None`). Each loaded value is written back under its key's
    /// version, as [`Cache::get_or_load`] does; there is no single flight here, the keys
    /// being many and each load one cheap query for all misses. The outcome is a hit only
    /// when every key hit. Nothing is counted: the values are parts of an answer whose
    /// caller counts its outcome once ([`Stats::record`]).
    pub async fn get_many<T, E, F, Fut>(
        &self,
        keys: &[Key],
        field: &str,
        load: F,
    ) -> Result<(Vec<Option<T>>, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Vec<usize>) -> Fut,
        Fut: Future<Output = Result<Vec<(usize, T)>, E>>,
    {
        let untallied = |missing| async {
            load(missing)
                .await
                .map(|found| found.into_iter().map(|(i, v)| (i, v, None)).collect())
        };
        self.read_many(keys, field, untallied, None::<fn(&mut T, &Tally)>)
            .await
    }

    /// [`Cache::get_many`] for values with stock figures, as [`Cache::get_or_load_tallied`].
    pub async fn get_many_tallied<T, E, F, Fut>(
        &self,
        keys: &[Key],
        field: &str,
        load: F,
        apply: impl Fn(&mut T, &Tally),
    ) -> Result<(Vec<Option<T>>, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Vec<usize>) -> Fut,
        Fut: Future<Output = Result<Vec<(usize, T, Tally)>, E>>,
    {
        let tallied = |missing| async {
            load(missing).await.map(|found| {
                found
                    .into_iter()
                    .map(|(i, v, tally)| (i, v, Some(tally)))
                    .collect()
            })
        };
        self.read_many(keys, field, tallied, Some(apply)).await
    }

    async fn read_many<T, E, F, Fut>(
        &self,
        keys: &[Key],
        field: &str,
        load: F,
        apply: Option<impl Fn(&mut T, &Tally)>,
    ) -> Result<(Vec<Option<T>>, Outcome), E>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(Vec<usize>) -> Fut,
        Fut: Future<Output = Result<Vec<(usize, T, Option<Tally>)>, E>>,
    {
        if keys.is_empty() {
            // An empty page: nothing to read, no round trip.
            return Ok((Vec::new(), Outcome::Hit));
        }
        // Lists read products' bodies, whose figures are the key's.
        let tally_of = apply.is_some().then_some(TallyOf::Key);
        let mut values: Vec<Option<T>> = keys.iter().map(|_| None).collect();
        let mut versions: Vec<Option<String>> = vec![None; keys.len()];
        let mut missing = Vec::new();
        let bypass = match self.store.read_many(keys, field, tally_of).await {
            Ok(reads) => {
                for (i, read) in reads.into_iter().enumerate() {
                    match read {
                        store::Read::Hit(bytes, tally) => match serde_json::from_slice(&bytes) {
                            Ok(mut value) => {
                                if let (Some(apply), Some(tally)) = (&apply, tally) {
                                    apply(&mut value, &tally);
                                }
                                values[i] = Some(value);
                            }
                            Err(_) => missing.push(i),
                        },
                        store::Read::Miss { version } => {
                            versions[i] = Some(version);
                            missing.push(i);
                        }
                    }
                }
                false
            }
            Err(e) => {
                self.note_failure(&e);
                missing = (0..keys.len()).collect();
                true
            }
        };
        let outcome = if bypass {
            Outcome::Bypass
        } else if missing.is_empty() {
            Outcome::Hit
        } else {
            Outcome::Miss
        };
        if missing.is_empty() {
            return Ok((values, outcome));
        }
        let loaded = load(missing).await?;
        let mut writes = Vec::new();
        for (i, value, tally) in loaded {
            if i >= keys.len() {
                continue;
            }
            if let (Some(version), Ok(bytes)) = (versions[i].take(), serde_json::to_vec(&value)) {
                writes.push(async move {
                    self.store
                        .write(&keys[i], field, &bytes, version, tally.zip(tally_of), None)
                        .await
                });
            }
            values[i] = Some(value);
        }
        // Concurrent on the one multiplexed connection: the writes share round trips.
        for result in futures_util::future::join_all(writes).await {
            if let Err(e) = result {
                self.note_failure(&e);
                break;
            }
        }
        Ok((values, outcome))
    }
}
