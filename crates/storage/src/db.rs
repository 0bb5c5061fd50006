//! Connection pools and schema management.
//!
//! Two pools from day one: `primary` takes writes and reads that must see them; `read` serves
//! everything else. They share a URL until `IMS_DATABASE_READ_URL` points reads at standbys, so
//! replicas can take reads later without touching a single query.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::Result;

/// The migrations compiled into the binary (`crates/storage/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

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
        }
    }
}

/// Both pools. Cloning is cheap (the pools are reference counted).
#[derive(Clone, Debug)]
pub struct Db {
    primary: PgPool,
    read: PgPool,
    separate_read: bool,
}

impl Db {
    /// Opens both pools lazily: the service starts (and reports not-ready) while the database
    /// is still coming up, instead of crashing.
    pub fn connect(config: &DbConfig) -> Self {
        let follow_primary = config.primary_hosts.len() > 1;
        let follow_read = config.read.is_some() && config.read_hosts.len() > 1;
        let primary = pool(config, config.primary.clone(), follow_primary);
        let read = match &config.read {
            Some(options) => pool(config, options.clone(), false),
            None => primary.clone(),
        };
        if follow_primary || follow_read {
            let statement_timeout = config.statement_timeout;
            crate::hosts::spawn_follower(
                crate::hosts::Steered {
                    primary: follow_primary
                        .then(|| (primary.clone(), config.primary_hosts.clone())),
                    read: follow_read.then(|| (read.clone(), config.read_hosts.clone())),
                    decorate: std::sync::Arc::new(move |o| decorate(o, statement_timeout)),
                    max_lag: config.read_max_lag,
                },
                Duration::from_millis(500),
            );
        }
        Self {
            primary,
            read,
            separate_read: config.read.is_some(),
        }
    }

    /// Writes, and reads that must see the caller's own writes.
    pub fn primary(&self) -> &PgPool {
        &self.primary
    }

    /// Whether reads go to a pool of their own (`IMS_DATABASE_READ_URL`).
    pub fn has_separate_read_pool(&self) -> bool {
        self.separate_read
    }

    /// Reads that may lag a little behind the primary.
    pub fn read(&self) -> &PgPool {
        &self.read
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

    /// Readiness: both pools can run a query now.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.primary).await?;
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.primary.close().await;
        self.read.close().await;
    }
}

/// The options every pool connection gets on top of its host's.
fn decorate(options: PgConnectOptions, statement_timeout: Duration) -> PgConnectOptions {
    let statement_timeout = statement_timeout.as_millis().to_string();
    options
        .application_name("ims")
        .options([("statement_timeout", statement_timeout.as_str())])
}

/// `read_write_only`: the pool of a multi-host primary URL refuses a connection to a standby
/// (during a failover the follower may not have moved the pool yet); sqlx then backs off and
/// connects again, to wherever the follower points by then, until the acquire timeout.
fn pool(config: &DbConfig, options: PgConnectOptions, read_write_only: bool) -> PgPool {
    let mut pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(config.min_connections.min(config.max_connections))
        .acquire_timeout(config.acquire_timeout);
    if read_write_only {
        pool = pool.after_connect(|conn, _meta| {
            Box::pin(async move {
                let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                    .fetch_one(&mut *conn)
                    .await?;
                if in_recovery {
                    return Err(sqlx::Error::Protocol(
                        "connected to a standby; the primary pool wants the primary".into(),
                    ));
                }
                Ok(())
            })
        });
    }
    pool.connect_lazy_with(decorate(options, config.statement_timeout))
}
