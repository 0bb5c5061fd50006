//! Connection pools and schema management.
//!
//! Two pools from day one: `primary` takes writes and reads that must see them; `read` serves
//! everything else. They share a URL until `IMS_DATABASE_READ_URL` points reads at standbys, so
//! replicas can take reads later without touching a single query.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::watch;

use crate::hosts::Topology;
use crate::routing::Target;

use crate::Result;

/// The migrations compiled into the binary (`crates/storage/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How often the follower asks every host of a cluster for its role and lag.
const PROBE_PERIOD: Duration = Duration::from_millis(500);

/// How to reach PostgreSQL; built by the binary from its typed configuration.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub primary: PgConnectOptions,
    pub read: Option<PgConnectOptions>,
    pub max_connections: u32,
    pub min_connections: u32,
    /// How long a request waits for a free connection before it is answered 503.
    pub acquire_timeout: Duration,
    /// Server-side cap on any one statement, so a runaway query cannot hold a connection.
    pub statement_timeout: Duration,
    /// Every host of a multi-host `IMS_DATABASE_URL` (empty for one host): the primary pool
    /// follows whichever of them is the primary ([`crate::hosts`]).
    pub primary_hosts: Vec<PgConnectOptions>,
    /// Every host of a multi-host `IMS_DATABASE_READ_URL`: the read pool goes to the freshest
    /// standby among them within `read_max_lag`, else the primary.
    pub read_hosts: Vec<PgConnectOptions>,
    /// A standby further behind than this takes no reads.
    pub read_max_lag: Duration,
    /// Plan each prepared statement once per connection (`plan_cache_mode =
    /// force_generic_plan`, see [`decorate`]) rather than as PostgreSQL chooses.
    pub generic_plans: bool,
}

impl DbConfig {
    pub fn new(primary: PgConnectOptions) -> Self {
        Self {
            primary,
            read: None,
            max_connections: 100,
            min_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            primary_hosts: Vec::new(),
            read_hosts: Vec::new(),
            read_max_lag: Duration::from_secs(1),
            generic_plans: true,
        }
    }
}

/// Both pools. Cloning is cheap (the pools are reference counted).
#[derive(Clone, Debug)]
pub struct Db {
    primary: PgPool,
    read: PgPool,
    separate_read: bool,
    /// Set when the URLs name several hosts: the follower's view and a pool per readable host.
    cluster: Option<Arc<Cluster>>,
}

/// A multi-host deployment as the service sees it ([`crate::hosts`], [`crate::routing`]).
#[derive(Debug)]
struct Cluster {
    topology: watch::Receiver<Topology>,
    /// One pool per host of the topology; `None` for a host outside `IMS_DATABASE_READ_URL`.
    host_pools: Vec<Option<PgPool>>,
    readable: Vec<bool>,
    max_lag_secs: f64,
    turn: AtomicUsize,
}

impl Db {
    /// Opens the pools lazily: the service starts (and reports not-ready) while the database
    /// is still coming up, instead of crashing.
    pub fn connect(config: &DbConfig) -> Self {
        let follow_primary = config.primary_hosts.len() > 1;
        let spread_reads = config.read.is_some() && config.read_hosts.len() > 1;
        let primary = pool(config, config.primary.clone(), follow_primary);
        let read = match &config.read {
            Some(options) => pool(config, options.clone(), false),
            None => primary.clone(),
        };
        let mut cluster = None;
        if follow_primary || spread_reads {
            // Every host once, primary URL's first: the topology's indices.
            let mut hosts: Vec<PgConnectOptions> = Vec::new();
            for host in config.primary_hosts.iter().chain(&config.read_hosts) {
                if !hosts.iter().any(|h| crate::hosts::same_host(h, host)) {
                    hosts.push(host.clone());
                }
            }
            let readable: Vec<bool> = hosts
                .iter()
                .map(|h| {
                    spread_reads
                        && config
                            .read_hosts
                            .iter()
                            .any(|r| crate::hosts::same_host(h, r))
                })
                .collect();
            let host_pools = hosts
                .iter()
                .zip(&readable)
                .map(|(host, readable)| readable.then(|| pool(config, host.clone(), false)))
                .collect();
            let (sender, receiver) = watch::channel(Topology {
                nodes: vec![crate::hosts::NodeState::DOWN; hosts.len()],
                ..Topology::default()
            });
            let (statement_timeout, generic_plans) =
                (config.statement_timeout, config.generic_plans);
            crate::hosts::spawn_follower(
                crate::hosts::Steered {
                    primary: follow_primary.then(|| primary.clone()),
                    hosts,
                    decorate: Arc::new(move |o| decorate(o, statement_timeout, generic_plans)),
                    topology: sender,
                    lifeline: primary.clone(),
                },
                PROBE_PERIOD,
            );
            cluster = Some(Arc::new(Cluster {
                topology: receiver,
                host_pools,
                readable,
                max_lag_secs: config.read_max_lag.as_secs_f64(),
                turn: AtomicUsize::new(0),
            }));
        }
        Self {
            primary,
            read,
            separate_read: config.read.is_some(),
            cluster,
        }
    }

    /// Writes, and reads that must see the caller's own writes.
    pub fn primary(&self) -> &PgPool {
        &self.primary
    }

    /// [`Db::primary`] when a read must see every committed write (`fresh`), else
    /// [`Db::read`].
    pub fn read_fresh(&self, fresh: bool) -> PgPool {
        if fresh {
            self.primary.clone()
        } else {
            self.read()
        }
    }

    /// Whether reads go to a pool of their own (`IMS_DATABASE_READ_URL`).
    pub fn has_separate_read_pool(&self) -> bool {
        self.separate_read
    }

    /// Reads that may lag a little behind the primary: on a cluster, a standby chosen by
    /// [`crate::routing`] (or the primary), else the read URL's pool.
    pub fn read(&self) -> PgPool {
        let Some(cluster) = self
            .cluster
            .as_deref()
            .filter(|c| c.readable.contains(&true))
        else {
            return self.read.clone();
        };
        let turn = cluster.turn.fetch_add(1, Ordering::Relaxed);
        let target = crate::routing::pick(
            &cluster.topology.borrow(),
            &cluster.readable,
            cluster.max_lag_secs,
            turn,
        );
        match target {
            Target::Host(i) => cluster.host_pools[i]
                .clone()
                .unwrap_or_else(|| self.primary.clone()),
            Target::Primary => self.primary.clone(),
        }
    }

    /// The pools to report in metrics: `(name, pool)`, one per readable host on a cluster.
    pub fn pools(&self) -> Vec<(String, PgPool)> {
        let mut pools = vec![("primary".to_owned(), self.primary.clone())];
        match self.cluster.as_deref() {
            Some(cluster) if cluster.readable.contains(&true) => {
                for (i, pool) in cluster.host_pools.iter().enumerate() {
                    if let Some(pool) = pool {
                        pools.push((format!("read-{}", i + 1), pool.clone()));
                    }
                }
            }
            _ if self.separate_read => pools.push(("read".to_owned(), self.read.clone())),
            _ => {}
        }
        pools
    }

    /// Whether this service follows a cluster (a multi-host URL), so a node can fail under a
    /// request and another can take over.
    pub fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// The follower's latest view of the cluster (`None` for a single host).
    pub fn topology(&self) -> Option<Topology> {
        self.cluster.as_ref().map(|c| c.topology.borrow().clone())
    }

    /// Whether reads may go to standbys, so a client needs a token to read its own writes.
    pub fn reads_on_standbys(&self) -> bool {
        self.cluster
            .as_deref()
            .is_some_and(|c| c.readable.contains(&true))
    }

    /// How long after a commit a standby taking reads may still not show it: the lag bound
    /// plus the follower's probe period (its view of the lag is that old), twice for safety.
    /// `None` when reads never go to a standby.
    pub fn stale_read_window(&self) -> Option<Duration> {
        self.reads_on_standbys().then(|| {
            let cluster = self.cluster.as_deref().map_or(0.0, |c| c.max_lag_secs);
            Duration::from_secs_f64(cluster) + 2 * PROBE_PERIOD
        })
    }

    /// After a request failed on a dying node: waits (at most `limit`) until a probe round
    /// that began after now has found a primary — the same one alive or its successor.
    /// `false` when none appeared in time (or this is no cluster).
    pub async fn await_primary(&self, limit: Duration) -> bool {
        let Some(cluster) = self.cluster.as_deref() else {
            return false;
        };
        let mut topology = cluster.topology.clone();
        // The round under way may have begun before the failure: wait for the one after it.
        let after = topology.borrow().round + 1;
        tokio::time::timeout(
            limit,
            topology.wait_for(|t| t.round > after && t.primary.is_some()),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    /// Whether a standby could take `route`'s next read now; `false` when only the primary
    /// can ([`crate::routing::standby_serves`]), or this is no cluster spreading reads.
    pub fn standby_serves(&self, route: &crate::routing::Route) -> bool {
        self.cluster.as_deref().is_some_and(|c| {
            crate::routing::standby_serves(&c.topology.borrow(), &c.readable, c.max_lag_secs, route)
        })
    }

    /// Waits (at most `limit`) for a probe round that began after now: the standbys' replay
    /// positions are then no older than this call.
    pub async fn await_probe_round(&self, limit: Duration) {
        let Some(cluster) = self.cluster.as_deref() else {
            return;
        };
        let mut topology = cluster.topology.clone();
        let after = topology.borrow().round + 1;
        let _ = tokio::time::timeout(limit, topology.wait_for(|t| t.round > after)).await;
    }

    /// The primary's WAL position now: after a commit, at or past it. A standby that has
    /// replayed this far shows the commit ([`crate::routing::Route::min_lsn`]).
    pub async fn write_position(&self) -> Result<u64> {
        let lsn: i64 = sqlx::query_scalar("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::int8")
            .fetch_one(&self.primary)
            .await?;
        Ok(u64::try_from(lsn).unwrap_or_default())
    }

    /// Applies pending migrations, then makes sure the next months' order partitions exist.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.primary)
            .await
            .map_err(|e| crate::Error::Database(e.into()))?;
        self.ensure_order_partitions(3).await?;
        Ok(())
    }

    /// Creates order partitions from this month to `months_ahead` months ahead; returns how
    /// many were new. Run at start-up and daily, so no insert ever finds its month missing.
    pub async fn ensure_order_partitions(&self, months_ahead: i32) -> Result<i32> {
        let created: i32 = sqlx::query_scalar("SELECT ensure_order_partitions(now()::date, $1)")
            .bind(months_ahead)
            .fetch_one(&self.primary)
            .await?;
        Ok(created)
    }

    /// Readiness: the primary and the read pool can run a query now.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.primary).await?;
        sqlx::query("SELECT 1").execute(&self.read()).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.primary.close().await;
        self.read.close().await;
        if let Some(cluster) = &self.cluster {
            for pool in cluster.host_pools.iter().flatten() {
                pool.close().await;
            }
        }
    }
}

/// The options every pool connection gets on top of its host's.
/// Every connection's settings: its name, the statement timeout, and (with `generic_plans`)
/// generic plans.
///
/// Why generic plans: with `plan_cache_mode = auto` PostgreSQL keeps planning a prepared
/// statement afresh at every execution when its generic plan looks dearer than the custom
/// ones, and it does for the hot statements here: an array parameter (`= ANY($1)`,
/// `unnest($1::uuid[])`: the stock step, the price lookup) is estimated at ten or more
/// elements where a custom plan sees the one or two it gets, and a statement on the orders
/// table is costed over every monthly partition where a custom plan keeps one. Under the
/// `ims-bench` mix every stock step, price lookup, search and order read was planned again
/// (`pg_stat_statements.plans` equal to `calls`), 0.1-0.3 ms each: about a quarter of
/// PostgreSQL's CPU (docs/benchmarks.md). A generic plan is made once per connection and
/// prunes partitions when it starts (initial pruning), so the order reads still touch one.
fn decorate(
    options: PgConnectOptions,
    statement_timeout: Duration,
    generic_plans: bool,
) -> PgConnectOptions {
    let statement_timeout = statement_timeout.as_millis().to_string();
    let plan_cache_mode = if generic_plans {
        "force_generic_plan"
    } else {
        "auto"
    };
    options.application_name("ims").options([
        ("statement_timeout", statement_timeout.as_str()),
        ("plan_cache_mode", plan_cache_mode),
    ])
}

/// `read_write_only`: the pool of a multi-host primary URL refuses a connection to a standby
/// (during a failover the follower may not have moved the pool yet); sqlx then backs off and
/// connects again, to wherever the follower points by then, until the acquire timeout.
fn pool(config: &DbConfig, options: PgConnectOptions, read_write_only: bool) -> PgPool {
    let mut pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(config.min_connections.min(config.max_connections))
        .acquire_timeout(config.acquire_timeout);
    // sqlx's test before handing out a connection (`test_before_acquire`, a ping: one round
    // trip before every statement run on the pool and every transaction) stays on. It is
    // what replaces a connection PostgreSQL ended (a switchover, `pg_terminate_backend`)
    // before a request uses it; handing out connections used within the last second without
    // it failed unkeyed writes and first attempts that `failover` tests expect to be
    // replaced or retried (docs/benchmarks.md, fifteenth session, has what it costs).
    if read_write_only {
        pool = pool.after_connect(|conn, _meta| {
            Box::pin(async move {
                // As libpq's target_session_attrs=read-write: a node being promoted is out of
                // recovery but still read-only.
                let read_only: bool = sqlx::query_scalar(
                    "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::bool",
                )
                .fetch_one(&mut *conn)
                .await?;
                if read_only {
                    // Expected, not an error: sqlx logs it at ERROR, which the binary's
                    // telemetry filters out (`ims::telemetry`); here it is for debugging.
                    tracing::debug!("refused a standby for the primary pool; sqlx connects again");
                    return Err(sqlx::Error::Protocol(crate::hosts::STANDBY_REFUSED.into()));
                }
                Ok(())
            })
        });
    }
    pool.connect_lazy_with(decorate(
        options,
        config.statement_timeout,
        config.generic_plans,
    ))
}
