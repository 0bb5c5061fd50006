//! Multi-host PostgreSQL URLs (libpq's `postgres://u@h1:p1,h2:p2,h3:p3/db?target_session_attrs=…`)
//! for a cluster whose primary moves.
//!
//! sqlx 0.8 takes one host per URL and ignores `target_session_attrs`, so the service does what
//! libpq would: it splits the URL into one connect option per host and a follower task
//! ([`spawn_follower`]) probes every host twice a second with `pg_is_in_recovery()`. The
//! primary pool is pointed at the node that is not in recovery ([`sqlx::Pool::set_connect_options`]),
//! and its `after_connect` refuses a standby, so a connection opened during a failover retries
//! (sqlx backs off until the acquire timeout) rather than writing to a read-only node. The read
//! pool is pointed at the freshest standby whose replay lag is within a bound, else the primary
//! (MongoDB's secondaryPreferred). Which queries may read there is decided by the callers of
//! [`crate::Db::read`], nowhere else.
//!
//! # Layout
//! - [`url`]: the multi-host URL, split into one connect option per host.
//! - [`topology`]: what the probes saw, and which writable node is the primary.
//! - `probe`: one probe of one host on its kept connection.
//! - `follower`: the task that probes every round, re-points the primary pool and publishes.
//! - `fence`: ending the service's sessions on a superseded old primary.

mod fence;
mod follower;
mod probe;
pub mod topology;
pub mod url;

use sqlx::postgres::PgConnectOptions;

pub(crate) use follower::{spawn_follower, Steered};
pub use topology::{NodeRole, NodeState, Topology};
pub use url::{parse_hosts, Hosts, TargetSession};

/// The error with which the primary pool's `after_connect` refuses a connection that landed on
/// a standby (`crate::db`). Routine during start-up and failovers; the binary's telemetry keeps
/// sqlx from logging it as an error.
pub const STANDBY_REFUSED: &str = "connected to a standby; the primary pool wants the primary";

pub(crate) fn same_host(a: &PgConnectOptions, b: &PgConnectOptions) -> bool {
    a.get_host() == b.get_host() && a.get_port() == b.get_port()
}

/// Host and port only: never the user or password.
fn describe(host: &PgConnectOptions) -> String {
    format!("{}:{}", host.get_host(), host.get_port())
}
