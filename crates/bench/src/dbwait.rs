//! What the benchmarked database's backends were doing during the window: `pg_stat_activity`
//! sampled every [`INTERVAL`] on a connection of the tool's own, each active backend counted
//! by its wait event (or `CPU` when it waits for none: running, or runnable and waiting for a
//! core, which the view cannot tell apart) and the start of its statement.
//!
//! Statement times (`dbstat`) say how long a statement took, not why: a mean that doubles
//! under load may be lock waits, commits waiting for the WAL's flush, or a machine with no
//! core free. Samples of the waits say which, and they cost the database one small query a
//! tenth of a second.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{Connection, PgConnection};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// How often the backends are sampled.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// Rows kept in the report's table.
const TOP: usize = 12;
/// Characters of a statement kept: enough to tell the mix's statements apart.
const STATEMENT_CHARS: i32 = 60;

/// One active backend in one sample: its wait (`Lock:transactionid`, `IO:WALSync`, `CPU`)
/// and the start of its statement.
pub type Seen = (String, String);

/// A wait and statement's share of the samples.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WaitRow {
    pub wait: String,
    pub statement: String,
    /// Backends seen so over all samples.
    pub seen: u64,
    /// Of all active backends seen.
    pub share: f64,
}

/// The window's samples, summed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Waits {
    pub samples: u64,
    pub interval_ms: u64,
    /// Backends active in a sample, on average.
    pub mean_active: f64,
    /// By kind of wait (`CPU`, `Lock`, `LWLock`, `IO`, `Client`, ...), share of all seen.
    pub by_kind: BTreeMap<String, f64>,
    /// The most seen waits and statements.
    pub top: Vec<WaitRow>,
}

/// Sums `samples` (one list of active backends per sample).
pub fn summarize(samples: &[Vec<Seen>], interval: Duration) -> Waits {
    let mut by_row: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut seen = 0u64;
    for (wait, statement) in samples.iter().flatten() {
        seen += 1;
        *by_row.entry((wait, statement)).or_default() += 1;
        let kind = wait.split_once(':').map_or(wait.as_str(), |(kind, _)| kind);
        *by_kind.entry(kind.to_owned()).or_default() += 1;
    }
    let share = |n: u64| {
        if seen == 0 {
            0.0
        } else {
            n as f64 / seen as f64
        }
    };
    let mut top: Vec<WaitRow> = by_row
        .into_iter()
        .map(|((wait, statement), n)| WaitRow {
            wait: wait.to_owned(),
            statement: statement.to_owned(),
            seen: n,
            share: share(n),
        })
        .collect();
    // Most seen first; ties in the map's order, so that a report reads the same every time.
    top.sort_by_key(|row| std::cmp::Reverse(row.seen));
    top.truncate(TOP);
    let samples_taken = samples.len() as u64;
    Waits {
        samples: samples_taken,
        interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
        mean_active: if samples_taken == 0 {
            0.0
        } else {
            seen as f64 / samples_taken as f64
        },
        by_kind: by_kind.into_iter().map(|(k, n)| (k, share(n))).collect(),
        top,
    }
}

/// Samples the database of `url` in the background until [`Sampler::finish`].
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<Vec<Vec<Seen>>>>,
}

impl Sampler {
    /// Connects, then samples every [`INTERVAL`] from now on.
    pub async fn start(url: &str) -> Result<Sampler> {
        let mut conn = crate::dbstat::connect(url).await?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut every = tokio::time::interval(INTERVAL);
            // A sample that came late (a busy machine) is not made up for by a burst.
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = every.tick() => samples.push(sample(&mut conn).await?),
                }
            }
            let _ = conn.close().await;
            Ok(samples)
        });
        Ok(Sampler { stop, task })
    }

    /// Stops sampling and sums the samples.
    pub async fn finish(self) -> Result<Waits> {
        let _ = self.stop.send(());
        let samples = self.task.await.map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "the wait sampler stopped: {e}"
            )))
        })??;
        Ok(summarize(&samples, INTERVAL))
    }
}

/// The active backends of the connection's database now, but this one.
async fn sample(conn: &mut PgConnection) -> Result<Vec<Seen>> {
    let rows: Vec<Seen> = sqlx::query_as(
        "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'),
                left(regexp_replace(coalesce(query, ''), '\\s+', ' ', 'g'), $1)
         FROM pg_stat_activity
         WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
    )
    .bind(STATEMENT_CHARS)
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(wait: &str, statement: &str) -> Seen {
        (wait.to_owned(), statement.to_owned())
    }

    #[test]
    fn samples_are_summed_by_wait_and_statement_and_by_kind() {
        let samples = vec![
            vec![
                seen("CPU", "SELECT a"),
                seen("Lock:transactionid", "INSERT b"),
            ],
            vec![],
            vec![
                seen("Lock:transactionid", "INSERT b"),
                seen("LWLock:WALWrite", "COMMIT"),
                seen("IO:WALSync", "COMMIT"),
                seen("Lock:tuple", "UPDATE c"),
            ],
        ];
        let waits = summarize(&samples, Duration::from_millis(100));
        assert_eq!(waits.samples, 3);
        assert_eq!(waits.interval_ms, 100);
        assert_eq!(waits.mean_active, 2.0);
        assert_eq!(waits.top[0].wait, "Lock:transactionid");
        assert_eq!(waits.top[0].statement, "INSERT b");
        assert_eq!(waits.top[0].seen, 2);
        assert!((waits.top[0].share - 2.0 / 6.0).abs() < 1e-9);
        assert_eq!(waits.top.len(), 5);
        assert!((waits.by_kind["Lock"] - 0.5).abs() < 1e-9);
        assert!((waits.by_kind["CPU"] - 1.0 / 6.0).abs() < 1e-9);
        assert_eq!(waits.by_kind.len(), 4);
    }

    #[test]
    fn no_sample_and_no_backend_leave_zeros_not_nans() {
        let none = summarize(&[], INTERVAL);
        assert_eq!((none.samples, none.mean_active), (0, 0.0));
        let idle = summarize(&[vec![], vec![]], INTERVAL);
        assert_eq!((idle.samples, idle.mean_active), (2, 0.0));
        assert!(idle.top.is_empty() && idle.by_kind.is_empty());
    }
}
