//! Configuration from the environment, in one typed struct with a part per concern: the
//! database (`storage::DbConfig`), Redis (`cache::CacheConfig`), what the API's handlers and
//! middleware use ([`ApiConfig`]), HTTP serving, the archive and the logs. Each part's
//! defaults live with it: [`Config::new`] takes them from `storage`, `cache` and
//! `api::Tuning`, and the variables only override them. A missing or malformed setting
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

/// Every setting of the service, by concern. The fields' docs name the variables.
pub struct Config {
    /// `IMS_DATABASE_URL` (required): the primary PostgreSQL, for writes and fresh reads. May
    /// name several hosts (`postgres://u@h1:p1,h2:p2/db?target_session_attrs=read-write`):
    /// the pool follows whichever is the primary. `IMS_DATABASE_READ_URL` (optional): where
    /// reads that may lag go; the primary if unset. `IMS_DB_POOL_MAX` (default 100, the
    /// plan's pool size) and `IMS_DB_POOL_MIN` (10): connections per pool;
    /// `IMS_DB_ACQUIRE_TIMEOUT_MS` (5000): the wait for a free connection before a 503;
    /// `IMS_DB_STATEMENT_TIMEOUT_MS` (10000): the server-side cap on any statement;
    /// `IMS_DB_READ_MAX_LAG_MS` (1000): a standby further behind takes no reads (with a
    /// multi-host `IMS_DATABASE_READ_URL`). `IMS_DB_GENERIC_PLANS` (default `on`): each
    /// prepared statement is planned once per connection (`plan_cache_mode =
    /// force_generic_plan`); `off` leaves the choice to PostgreSQL, which re-plans the hot
    /// statements at every execution (docs/benchmarks.md).
    pub db: storage::DbConfig,
    /// `IMS_REDIS_URL` (required without `IMS_REDIS_SENTINELS` or `IMS_REDIS_CLUSTER`): the
    /// cache. With Sentinels, only its user, password, database number and scheme (`rediss`
    /// for TLS) are used, for whichever server they name master; its host is ignored. With a
    /// cluster, only its user, password and scheme.
    ///
    /// `IMS_REDIS_SENTINELS` (default none): comma-separated `host:port` of Redis Sentinels
    /// (port default 26379), with `IMS_REDIS_SENTINEL_MASTER`, the name they monitor the
    /// master under: the cache and the rate limit follow that master through failovers.
    /// `IMS_REDIS_CLUSTER` (default none; not with Sentinels): comma-separated `host:port` of
    /// some nodes of a Redis Cluster (port default 6379), followed through failovers and slot
    /// moves (docs/operations.md). `IMS_REDIS_TIMEOUT_MS` (default 250): after this the cache
    /// is bypassed for the request. `IMS_CACHE` (default `on`): `off` serves every read from
    /// the database (a baseline for benchmarks; the answers are the same).
    pub redis: cache::CacheConfig,
    pub api: ApiConfig,
    pub http: HttpConfig,
    pub archive: ArchiveConfig,
    pub log: LogConfig,
}

/// What the API's handlers and middleware use.
pub struct ApiConfig {
    /// `IMS_TOKEN_TTL_SECS` (default 43200, 12 hours): how long a login lasts.
    /// `IMS_BUSINESS_UTC_OFFSET` (default `+05:30`): the chain's local time as a UTC offset;
    /// the dashboard's "today" starts at its midnight.
    /// `IMS_RATE_LIMIT_PER_SEC` / `IMS_RATE_LIMIT_BURST` (default 100 / 200): requests under
    /// `/api/v1` per client (a token's user, else the address), counted in Redis across all
    /// instances.
    /// `IMS_LOGIN_RATE_LIMIT_PER_SEC` / `IMS_LOGIN_RATE_LIMIT_BURST` (default 5 / 10):
    /// `POST /auth/login` per client address.
    /// `IMS_TRUSTED_PROXIES` (default none): comma-separated addresses or CIDR blocks of the
    /// gateways whose `X-Forwarded-For` names the client (e.g. `127.0.0.1,10.0.0.0/8`).
    /// The defaults are [`api::Tuning`]'s.
    pub tuning: api::Tuning,
    /// `IMS_CURSOR_KEY` (default: a key kept in the database): the secret pagination cursors
    /// are signed with (HMAC-SHA256), at least 32 characters (e.g. `openssl rand -hex 32`).
    /// Every instance of a deployment must have the same one, since a client's next page may
    /// go to another instance; unset, the first instance makes one at random and stores it in
    /// the shared database (table `service_keys`), where every other instance finds it.
    /// Changing it invalidates the cursors given out before (clients start their list again).
    pub cursor_key: Option<SecretString>,
}

/// Serving HTTP.
#[derive(Debug)]
pub struct HttpConfig {
    /// `IMS_LISTEN` (default `127.0.0.1:8080`): the address the HTTP service binds.
    pub listen: SocketAddr,
    /// `IMS_SHUTDOWN_GRACE_SECS` (default 30): how long in-flight requests may finish after
    /// SIGTERM before the process exits anyway.
    pub shutdown_grace: Duration,
}

/// Old months of orders in cold storage.
#[derive(Debug)]
pub struct ArchiveConfig {
    /// `IMS_ARCHIVE_AFTER_MONTHS` (default 24; 0 turns the daily run off): the service
    /// archives, once a day, every month of orders older than this many months (with 24 in
    /// December 2026: November 2024 and before). `ims archive run --older-than` overrides it.
    pub after_months: u32,
    /// `IMS_ARCHIVE_URL` (default `file://<working directory>/.data/archive`): the object
    /// store archived months are written to: `file:///absolute/dir`, or `s3://bucket/prefix`
    /// with the credentials and region in the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`; `AWS_ENDPOINT` for an S3-compatible server).
    pub url: String,
}

/// The logs.
#[derive(Debug)]
pub struct LogConfig {
    /// `IMS_LOG` (default `info`): a tracing filter such as `info,storage=debug`.
    pub filter: String,
    /// `IMS_LOG_FORMAT` (default `text`): `text` for people, `json` for log shippers.
    pub format: LogFormat,
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
    /// The service on `db` and `redis` with every other setting at its default.
    pub fn new(db: storage::DbConfig, redis: cache::CacheConfig) -> Self {
        let archive_dir = std::env::current_dir()
            .unwrap_or_else(|_| std::path::PathBuf::from("/"))
            .join(".data/archive");
        Config {
            db,
            redis,
            api: ApiConfig {
                tuning: api::Tuning::default(),
                cursor_key: None,
            },
            http: HttpConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                shutdown_grace: Duration::from_secs(30),
            },
            archive: ArchiveConfig {
                after_months: 24,
                url: format!("file://{}", archive_dir.display()),
            },
            log: LogConfig {
                filter: "info".into(),
                format: LogFormat::Text,
            },
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let mut config = Config::new(db_urls(&env)?, redis_servers(&env)?);
        let db = &mut config.db;
        db.max_connections = env.parse("IMS_DB_POOL_MAX", db.max_connections)?;
        db.min_connections = env.parse("IMS_DB_POOL_MIN", db.min_connections)?;
        db.acquire_timeout = env.millis("IMS_DB_ACQUIRE_TIMEOUT_MS", db.acquire_timeout)?;
        db.statement_timeout = env.millis("IMS_DB_STATEMENT_TIMEOUT_MS", db.statement_timeout)?;
        db.read_max_lag = env.millis("IMS_DB_READ_MAX_LAG_MS", db.read_max_lag)?;
        db.generic_plans = env
            .parse::<Switch>("IMS_DB_GENERIC_PLANS", Switch(db.generic_plans))?
            .0;

        let redis = &mut config.redis;
        redis.timeout = env.millis("IMS_REDIS_TIMEOUT_MS", redis.timeout)?;
        redis.enabled = env.parse::<Switch>("IMS_CACHE", Switch(redis.enabled))?.0;

        let tuning = &mut config.api.tuning;
        tuning.token_ttl =
            Duration::from_secs(env.parse("IMS_TOKEN_TTL_SECS", tuning.token_ttl.as_secs())?);
        tuning.business_offset = env.parse("IMS_BUSINESS_UTC_OFFSET", tuning.business_offset)?;
        tuning.rate_limit = env.rate(
            "IMS_RATE_LIMIT_PER_SEC",
            "IMS_RATE_LIMIT_BURST",
            tuning.rate_limit,
        )?;
        tuning.login_rate_limit = env.rate(
            "IMS_LOGIN_RATE_LIMIT_PER_SEC",
            "IMS_LOGIN_RATE_LIMIT_BURST",
            tuning.login_rate_limit,
        )?;
        tuning.trusted_proxies = env.networks("IMS_TRUSTED_PROXIES")?;
        config.api.cursor_key =
            env.secret("IMS_CURSOR_KEY", api::pagination::CursorKey::MIN_LEN)?;

        let http = &mut config.http;
        http.listen = env.parse("IMS_LISTEN", http.listen)?;
        http.shutdown_grace = Duration::from_secs(
            env.parse("IMS_SHUTDOWN_GRACE_SECS", http.shutdown_grace.as_secs())?,
        );

        let archive = &mut config.archive;
        archive.after_months = env.parse("IMS_ARCHIVE_AFTER_MONTHS", archive.after_months)?;
        archive.url = env.archive_url("IMS_ARCHIVE_URL", std::mem::take(&mut archive.url))?;

        let log = &mut config.log;
        if let Some(filter) = env.get("IMS_LOG") {
            log.filter = filter;
        }
        log.format = env.parse("IMS_LOG_FORMAT", log.format)?;
        Ok(config)
    }

    /// The variables that name where Redis is, for an error about it.
    pub fn redis_vars(&self) -> &'static str {
        if self.redis.sentinel.is_some() {
            "IMS_REDIS_URL or IMS_REDIS_SENTINELS"
        } else if !self.redis.cluster.is_empty() {
            "IMS_REDIS_URL or IMS_REDIS_CLUSTER"
        } else {
            "IMS_REDIS_URL"
        }
    }
}

/// The pools' servers from `IMS_DATABASE_URL` and `IMS_DATABASE_READ_URL`; a URL may name
/// several hosts (a cluster): see `storage::hosts`.
fn db_urls(env: &Env<'_>) -> Result<storage::DbConfig, ConfigError> {
    let parse = |var: &'static str, url: &SecretString| {
        storage::hosts::parse_hosts(url.expose_secret()).map_err(|e| ConfigError {
            var,
            message: format!("not a valid PostgreSQL URL ({e})"),
        })
    };
    let schemes = ["postgres", "postgresql"];
    let primary = parse("IMS_DATABASE_URL", &env.url("IMS_DATABASE_URL", &schemes)?)?;
    if primary.target == storage::hosts::TargetSession::PreferStandby {
        return Err(ConfigError {
            var: "IMS_DATABASE_URL",
            message: "the primary URL takes target_session_attrs=read-write (or none)".into(),
        });
    }
    let read = env
        .optional_url("IMS_DATABASE_READ_URL", &schemes)?
        .map(|url| parse("IMS_DATABASE_READ_URL", &url))
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
    Ok(db)
}

/// Where Redis is: `IMS_REDIS_URL`, or Sentinels, or a cluster (which one is checked here).
fn redis_servers(env: &Env<'_>) -> Result<cache::CacheConfig, ConfigError> {
    let schemes = ["redis", "rediss"];
    let sentinels = env.addresses("IMS_REDIS_SENTINELS", 26379)?;
    let cluster = env.addresses("IMS_REDIS_CLUSTER", 6379)?;
    if !sentinels.is_empty() && !cluster.is_empty() {
        return Err(ConfigError {
            var: "IMS_REDIS_CLUSTER",
            message: "cannot be set with IMS_REDIS_SENTINELS (choose one)".into(),
        });
    }
    let url = if sentinels.is_empty() && cluster.is_empty() {
        Some(env.url("IMS_REDIS_URL", &schemes)?)
    } else {
        env.optional_url("IMS_REDIS_URL", &schemes)?
    };
    // Without a URL there are Sentinels or a cluster: they supply the host.
    let mut redis = cache::CacheConfig::new(
        url.as_ref()
            .map_or("redis://127.0.0.1", |url| url.expose_secret()),
    );
    if !sentinels.is_empty() {
        redis.sentinel = Some(cache::SentinelConfig {
            sentinels,
            master: env.get("IMS_REDIS_SENTINEL_MASTER").ok_or(ConfigError {
                var: "IMS_REDIS_SENTINEL_MASTER",
                message: "is required with IMS_REDIS_SENTINELS (the monitored name)".into(),
            })?,
        });
    }
    redis.cluster = cluster;
    Ok(redis)
}

/// Everything but the secrets: URLs and keys may hold passwords.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let server = |o: &sqlx::postgres::PgConnectOptions| {
            format!(
                "{}:{}/{}",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or_default()
            )
        };
        let db = &self.db;
        f.debug_struct("Config")
            .field("db.primary", &server(&db.primary))
            .field("db.read", &db.read.as_ref().map(server))
            .field("db.pool", &(db.min_connections, db.max_connections))
            .field("redis.sentinel", &self.redis.sentinel)
            .field("redis.cluster", &self.redis.cluster)
            .field("redis.timeout", &self.redis.timeout)
            .field("redis.enabled", &self.redis.enabled)
            .field("api.tuning", &self.api.tuning)
            .field("http", &self.http)
            .field("archive.after_months", &self.archive.after_months)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}
