//! One probe of one host: is it in recovery, does it take writes, how far has it replayed and
//! on which timeline, over a connection kept between rounds and dropped when the host fails.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use super::topology::{NodeRole, NodeState};

/// One probe on the host's kept connection, opened (within a second) when missing.
pub(super) async fn probe_host(
    host: &PgConnectOptions,
    probe: &mut Option<PgConnection>,
) -> Option<NodeState> {
    const LIMIT: Duration = Duration::from_secs(1);
    if probe.is_none() {
        let options = host.clone().application_name("ims-follower");
        *probe = tokio::time::timeout(LIMIT, options.connect())
            .await
            .ok()
            .and_then(Result::ok);
    }
    let conn = probe.as_mut()?;
    // transaction_read_only as libpq's target_session_attrs=read-write checks it: a node being
    // promoted by pg_auto_failover is out of recovery but refuses writes until it is primary.
    let row: Option<(bool, bool, f64, i64, i64)> = tokio::time::timeout(
        LIMIT,
        sqlx::query_as(
            "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')::bool,
                    CASE WHEN NOT pg_is_in_recovery()
                           OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                         ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
                    END::float8,
                    (CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0')
                          ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::int8,
                    CASE WHEN pg_is_in_recovery() THEN 0
                         ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
                    END::int8",
        )
        .fetch_one(&mut *conn),
    )
    .await
    .ok()
    .and_then(Result::ok);
    match row {
        Some((in_recovery, read_only, lag_secs, lsn, timeline)) => Some(NodeState {
            // A read-only node that is out of recovery has every commit: it serves reads.
            role: if in_recovery || read_only {
                NodeRole::Standby
            } else {
                NodeRole::Primary
            },
            lag_secs,
            lsn: u64::try_from(lsn).unwrap_or_default(),
            timeline,
        }),
        None => {
            // A dead or hung host: drop the connection, reopen on the next round.
            if let Some(conn) = probe.take() {
                let _ = tokio::time::timeout(LIMIT, conn.close()).await;
            }
            None
        }
    }
}
