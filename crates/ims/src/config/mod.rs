//! Configuration from the environment, in one typed struct. A missing or malformed setting
//! stops start-up with one line naming the variable. URLs may carry passwords, so they are
//! kept as secrets and never printed.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use env::{Env, Switch};

mod env;
#[cfg(test)]
mod tests;

/// Every setting of the service. Each field names its variable and default.
#[derive(Debug)]
pub struct Config {
    /// `IMS_DATABASE_URL` (required): the primary PostgreSQL, for writes and fresh reads. May
    /// name several hosts (`postgres://u@h1:p1,h2:p2/db?target_session_attrs=read-write`):
    /// the pool follows whichever is the primary.
    pub database_url: SecretString,
    /// `IMS_DATABASE_READ_URL` (optional): where reads that may lag go; the primary if unset.
    pub database_read_url: Option<SecretString>,
    /// `IMS_DB_POOL_MAX` (default 100, the plan's pool size): connections per pool.
    pub db_pool_max: u32,
    /// `IMS_DB_POOL_MIN` (default 10): connections kept open per pool.
    pub db_pool_min: u32,
    /// `IMS_DB_ACQUIRE_TIMEOUT_MS` (default 5000): wait for a free connection before a 503.
    pub db_acquire_timeout: Duration,
    /// `IMS_DB_STATEMENT_TIMEOUT_MS` (default 10000): the server-side cap on any statement.
    pub db_statement_timeout: Duration,
    /// `IMS_DB_READ_MAX_LAG_MS` (default 1000): a standby further behind takes no reads (with
    /// a multi-host `IMS_DATABASE_READ_URL`).
    pub db_read_max_lag: Duration,
    /// `IMS_REDIS_URL` (required without `IMS_REDIS_SENTINELS` or `IMS_REDIS_CLUSTER`): the
    /// cache. With Sentinels, only its user, password, database number and scheme (`rediss`
    /// for TLS) are used, for whichever server they name master; its host is ignored. With a
    /// cluster, only its user, password and scheme.
    pub redis_url: Option<SecretString>,
    /// `IMS_REDIS_SENTINELS` (default none): comma-separated `host:port` of Redis Sentinels
    /// (port default 26379). When set, the cache and the rate limit follow the master they
    /// name through failovers, and bypass Redis while it is being replaced.
    pub redis_sentinels: Vec<String>,
    /// `IMS_REDIS_CLUSTER` (default none; not with `IMS_REDIS_SENTINELS`): comma-separated
    /// `host:port` of some nodes of a Redis Cluster (port default 6379). When set, the cache
    /// and the rate limit use the cluster, which the client follows through failovers and
    /// slot moves (docs/operations.md).
    pub redis_cluster: Vec<String>,
    /// `IMS_REDIS_SENTINEL_MASTER` (required with `IMS_REDIS_SENTINELS`): the name the
    /// Sentinels monitor the master under (`sentinel monitor <name> ...`).
    pub redis_sentinel_master: Option<String>,
    /// `IMS_REDIS_TIMEOUT_MS` (default 250): after this the cache is bypassed for the request.
    pub redis_timeout: Duration,
    /// `IMS_CACHE` (default `on`): `off` serves every read from the database (a baseline
    /// for benchmarks; the answers are the same).
    pub cache_enabled: bool,
    /// `IMS_LISTEN` (default `127.0.0.1:8080`): the address the HTTP service binds.
    pub listen: SocketAddr,
    /// `IMS_LOG` (default `info`): a tracing filter such as `info,storage=debug`.
    pub log: String,
    /// `IMS_LOG_FORMAT` (default `text`): `text` for people, `json` for log shippers.
    pub log_format: LogFormat,
    /// `IMS_TOKEN_TTL_SECS` (default 43200, 12 hours): how long a login lasts.
    pub token_ttl: Duration,
    /// `IMS_BUSINESS_UTC_OFFSET` (default `+05:30`): the chain's local time as a UTC offset;
    /// the dashboard's "today" starts at its midnight.
    pub business_utc_offset: chrono::FixedOffset,
    /// `IMS_SHUTDOWN_GRACE_SECS` (default 30): how long in-flight requests may finish after
    /// SIGTERM before the process exits anyway.
    pub shutdown_grace: Duration,
    /// `IMS_RATE_LIMIT_PER_SEC` / `IMS_RATE_LIMIT_BURST` (default 100 / 200, the plan's):
    /// requests under `/api/v1` per client (a token's user, else the address), counted in
    /// Redis across all instances.
    pub rate_limit: cache::Rate,
    /// `IMS_LOGIN_RATE_LIMIT_PER_SEC` / `IMS_LOGIN_RATE_LIMIT_BURST` (default 5 / 10):
    /// `POST /auth/login` per client address.
    pub login_rate_limit: cache::Rate,
    /// `IMS_TRUSTED_PROXIES` (default none): comma-separated addresses or CIDR blocks of the
    /// gateways whose `X-Forwarded-For` names the client (e.g. `127.0.0.1,10.0.0.0/8`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `IMS_CURSOR_KEY` (default: a key kept in the database): the secret pagination cursors
    /// are signed with (HMAC-SHA256), at least 32 characters (e.g. `openssl rand -hex 32`).
    /// Every instance of a deployment must have the same one, since a client's next page may
    /// go to another instance; unset, the first instance makes one at random and stores it in
    /// the shared database (table `service_keys`), where every other instance finds it.
    /// Changing it invalidates the cursors given out before (clients start their list again).
    pub cursor_key: Option<SecretString>,
    /// `IMS_ARCHIVE_AFTER_MONTHS` (default 24; 0 turns the daily run off): the service
    /// archives, once a day, every month of orders older than this many months (with 24 in
    /// December 2026: November 2024 and before). `ims archive run --older-than` overrides it.
    pub archive_after_months: u32,
    /// `IMS_ARCHIVE_URL` (default `file://<working directory>/.data/archive`): the object
    /// store archived months are written to: `file:///absolute/dir`, or `s3://bucket/prefix`
    /// with the credentials and region in the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`; `AWS_ENDPOINT` for an S3-compatible server).
    pub archive_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("must be text or json".into()),
        }
    }
}

/// A configuration problem, printed as one line naming the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        Ok(Config {
            database_url: env.url("IMS_DATABASE_URL", &["postgres", "postgresql"])?,
            database_read_url: env
                .optional_url("IMS_DATABASE_READ_URL", &["postgres", "postgresql"])?,
            db_pool_max: env.parse("IMS_DB_POOL_MAX", 100)?,
            db_pool_min: env.parse("IMS_DB_POOL_MIN", 10)?,
            db_acquire_timeout: env.millis("IMS_DB_ACQUIRE_TIMEOUT_MS", 5000)?,
            db_statement_timeout: env.millis("IMS_DB_STATEMENT_TIMEOUT_MS", 10_000)?,
            db_read_max_lag: env.millis("IMS_DB_READ_MAX_LAG_MS", 1000)?,
            redis_url: match (env.get("IMS_REDIS_SENTINELS"), env.get("IMS_REDIS_CLUSTER")) {
                (None, None) => Some(env.url("IMS_REDIS_URL", &["redis", "rediss"])?),
                _ => env.optional_url("IMS_REDIS_URL", &["redis", "rediss"])?,
            },
            redis_sentinels: env.addresses("IMS_REDIS_SENTINELS", 26379)?,
            redis_cluster: match env.get("IMS_REDIS_SENTINELS") {
                Some(_) if env.get("IMS_REDIS_CLUSTER").is_some() => {
                    return Err(ConfigError {
                        var: "IMS_REDIS_CLUSTER",
                        message: "cannot be set with IMS_REDIS_SENTINELS (choose one)".into(),
                    })
                }
                _ => env.addresses("IMS_REDIS_CLUSTER", 6379)?,
            },
            redis_sentinel_master: match env.get("IMS_REDIS_SENTINELS") {
                None => None,
                Some(_) => Some(env.get("IMS_REDIS_SENTINEL_MASTER").ok_or(ConfigError {
                    var: "IMS_REDIS_SENTINEL_MASTER",
                    message: "is required with IMS_REDIS_SENTINELS (the monitored name)".into(),
                })?),
            },
            redis_timeout: env.millis("IMS_REDIS_TIMEOUT_MS", 250)?,
            cache_enabled: env.parse::<Switch>("IMS_CACHE", Switch(true))?.0,
            listen: env.parse("IMS_LISTEN", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            log: env.get("IMS_LOG").unwrap_or_else(|| "info".into()),
            log_format: env.parse("IMS_LOG_FORMAT", LogFormat::Text)?,
            token_ttl: Duration::from_secs(env.parse("IMS_TOKEN_TTL_SECS", 43_200)?),
            shutdown_grace: Duration::from_secs(env.parse("IMS_SHUTDOWN_GRACE_SECS", 30)?),
            rate_limit: env.rate("IMS_RATE_LIMIT_PER_SEC", "IMS_RATE_LIMIT_BURST", (100, 200))?,
            login_rate_limit: env.rate(
                "IMS_LOGIN_RATE_LIMIT_PER_SEC",
                "IMS_LOGIN_RATE_LIMIT_BURST",
                (5, 10),
            )?,
            trusted_proxies: env.networks("IMS_TRUSTED_PROXIES")?,
            cursor_key: env.secret("IMS_CURSOR_KEY", api::pagination::CursorKey::MIN_LEN)?,
            archive_after_months: env.parse("IMS_ARCHIVE_AFTER_MONTHS", 24)?,
            archive_url: env.archive_url("IMS_ARCHIVE_URL")?,
            business_utc_offset: env.parse(
                "IMS_BUSINESS_UTC_OFFSET",
                api::state::DEFAULT_BUSINESS_OFFSET,
            )?,
        })
    }

    /// The cache settings for the cache layer.
    pub fn cache_config(&self) -> cache::CacheConfig {
        // Without a URL there are Sentinels or a cluster (checked at load): they supply the
        // host.
        let url = self
            .redis_url
            .as_ref()
            .map_or("redis://127.0.0.1", |url| url.expose_secret());
        let mut cache = cache::CacheConfig::new(url);
        cache.sentinel = self
            .redis_sentinel_master
            .as_ref()
            .map(|master| cache::SentinelConfig {
                sentinels: self.redis_sentinels.clone(),
                master: master.clone(),
            });
        cache.cluster = self.redis_cluster.clone();
        cache.timeout = self.redis_timeout;
        cache.enabled = self.cache_enabled;
        cache
    }

    /// The database settings for the storage layer.
    pub fn db_config(&self) -> Result<storage::DbConfig, ConfigError> {
        // A URL may name several hosts (a cluster): see storage::hosts.
        let parse = |var: &'static str, url: &SecretString| {
            storage::hosts::parse_hosts(url.expose_secret()).map_err(|e| ConfigError {
                var,
                message: format!("not a valid PostgreSQL URL ({e})"),
            })
        };
        let primary = parse("IMS_DATABASE_URL", &self.database_url)?;
        if primary.target == storage::hosts::TargetSession::PreferStandby {
            return Err(ConfigError {
                var: "IMS_DATABASE_URL",
                message: "the primary URL takes target_session_attrs=read-write (or none)".into(),
            });
        }
        let read = self
            .database_read_url
            .as_ref()
            .map(|url| parse("IMS_DATABASE_READ_URL", url))
            .transpose()?;
        let mut db = storage::DbConfig::new(primary.hosts[0].clone());
        if primary.hosts.len() > 1 {
            db.primary_hosts = primary.hosts;
        }
        if let Some(read) = read {
            db.read = Some(read.hosts[0].clone());
            if read.hosts.len() > 1 {
                db.read_hosts = read.hosts;
            }
        }
        db.max_connections = self.db_pool_max;
        db.min_connections = self.db_pool_min;
        db.acquire_timeout = self.db_acquire_timeout;
        db.statement_timeout = self.db_statement_timeout;
        db.read_max_lag = self.db_read_max_lag;
        Ok(db)
    }
}
