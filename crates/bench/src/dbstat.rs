//! The database's work during the measured window, from `pg_stat_statements` (statements
//! and their execution time) and `pg_stat_database` (transactions, block reads), read at the
//! window's start and end on a connection of the tool's own. Only the benchmarked database
//! counts: other databases of the cluster are filtered out.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};

use crate::error::{Error, Result};

/// One reading.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// queryid → (text, calls, total execution ms); empty without the extension.
    statements: HashMap<i64, (String, i64, f64)>,
    has_statements: bool,
    xacts: i64,
    blocks_read: i64,
    blocks_hit: i64,
}

/// A query's share of the window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopQuery {
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
}

/// The database's work over the window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DbWork {
    /// Statements executed (pg_stat_statements), `None` without the extension.
    pub statements: Option<i64>,
    /// Their execution time in ms.
    pub exec_ms: Option<f64>,
    /// Transactions committed or rolled back (flushed by backends about once a second, so
    /// the last second of the window may be missing).
    pub transactions: i64,
    pub blocks_read: i64,
    pub blocks_hit: i64,
    /// The costliest statements by total execution time.
    pub top: Vec<TopQuery>,
}

pub struct DbWatch {
    conn: PgConnection,
}

impl DbWatch {
    pub async fn connect(url: &str) -> Result<DbWatch> {
        let mut conn = connect(url).await?;
        // Needs the library preloaded (scripts/services does); without it, only the
        // statistics views that are always there are read.
        let _ = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&mut conn)
            .await;
        Ok(DbWatch { conn })
    }

    pub async fn snapshot(&mut self) -> Result<Snapshot> {
        let row = sqlx::query(
            "SELECT xact_commit + xact_rollback AS xacts, blks_read, blks_hit
             FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&mut self.conn)
        .await?;
        let mut snapshot = Snapshot {
            xacts: row.try_get("xacts")?,
            blocks_read: row.try_get("blks_read")?,
            blocks_hit: row.try_get("blks_hit")?,
            ..Snapshot::default()
        };
        let statements = sqlx::query(
            "SELECT queryid, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query,
                    calls, total_exec_time
             FROM pg_stat_statements
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND queryid IS NOT NULL AND query NOT LIKE '%pg_stat_%'",
        )
        .fetch_all(&mut self.conn)
        .await;
        if let Ok(rows) = statements {
            snapshot.has_statements = true;
            for row in rows {
                let id: i64 = row.try_get("queryid")?;
                let entry = (
                    row.try_get("query")?,
                    row.try_get("calls")?,
                    row.try_get("total_exec_time")?,
                );
                snapshot.statements.insert(id, entry);
            }
        }
        Ok(snapshot)
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// A connection of the tool's own to the database of `url`, its statements not logged (they
/// would be every reading).
pub async fn connect(url: &str) -> Result<PgConnection> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| Error::Config(format!("database URL: {e}")))?;
    Ok(PgConnection::connect_with(&options.disable_statement_logging()).await?)
}

/// The work between two readings, with the `top` costliest statements.
pub fn delta(before: &Snapshot, after: &Snapshot, top: usize) -> DbWork {
    let mut queries: Vec<TopQuery> = after
        .statements
        .iter()
        .filter_map(|(id, (text, calls, ms))| {
            let (c0, ms0) = before
                .statements
                .get(id)
                .map_or((0, 0.0), |(_, c, m)| (*c, *m));
            let calls = calls - c0;
            (calls > 0).then(|| TopQuery {
                query: text.clone(),
                calls,
                total_ms: ms - ms0,
                mean_ms: (ms - ms0) / calls as f64,
            })
        })
        .collect();
    let has = before.has_statements && after.has_statements;
    let statements = has.then(|| queries.iter().map(|q| q.calls).sum());
    let exec_ms = has.then(|| queries.iter().map(|q| q.total_ms).sum());
    queries.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    queries.truncate(top);
    DbWork {
        statements,
        exec_ms,
        transactions: after.xacts - before.xacts,
        blocks_read: after.blocks_read - before.blocks_read,
        blocks_hit: after.blocks_hit - before.blocks_hit,
        top: queries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_counts_only_the_window_and_ranks_by_time() {
        let mut before = Snapshot {
            has_statements: true,
            xacts: 10,
            ..Snapshot::default()
        };
        before.statements.insert(1, ("SELECT a".into(), 5, 50.0));
        let mut after = before.clone();
        after.xacts = 110;
        after.statements.insert(1, ("SELECT a".into(), 15, 70.0));
        after.statements.insert(2, ("SELECT b".into(), 4, 400.0));
        after.statements.insert(3, ("SELECT c".into(), 0, 0.0));
        let work = delta(&before, &after, 5);
        assert_eq!(work.statements, Some(14));
        assert_eq!(work.exec_ms, Some(420.0));
        assert_eq!(work.transactions, 100);
        assert_eq!(work.top[0].query, "SELECT b");
        assert_eq!(work.top[0].mean_ms, 100.0);
        assert_eq!(work.top[1].calls, 10);
        assert_eq!(work.top.len(), 2);

        let without = delta(&Snapshot::default(), &Snapshot::default(), 5);
        assert_eq!(without.statements, None);
    }
}
