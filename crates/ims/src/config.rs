//! Configuration from the environment, in one typed struct. A missing or malformed setting
//! stops start-up with one line naming the variable. URLs may carry passwords, so they are
//! kept as secrets and never printed.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

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

/// `on` or `off`.
struct Switch(bool);

impl FromStr for Switch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" | "true" | "1" => Ok(Switch(true)),
            "off" | "false" | "0" => Ok(Switch(false)),
            _ => Err("must be on or off".into()),
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

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// A `file://` or `s3://` URL; default `.data/archive` under the working directory.
    fn archive_url(&self, var: &'static str) -> Result<String, ConfigError> {
        let Some(raw) = self.get(var) else {
            let dir = std::env::current_dir()
                .unwrap_or_else(|_| std::path::PathBuf::from("/"))
                .join(".data/archive");
            return Ok(format!("file://{}", dir.display()));
        };
        let raw = raw.trim().to_owned();
        if raw.starts_with("file:///") || raw.starts_with("s3://") {
            Ok(raw)
        } else {
            Err(ConfigError {
                var,
                message: format!("{raw:?} must be file:///absolute/dir or s3://bucket/prefix"),
            })
        }
    }

    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    fn parse<T: FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e| ConfigError {
                var,
                message: format!("invalid value {raw:?}: {e}"),
            }),
        }
    }

    fn millis(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        let ms: u64 = self.parse(var, default)?;
        if ms == 0 {
            return Err(ConfigError {
                var,
                message: "must be above 0".into(),
            });
        }
        Ok(Duration::from_millis(ms))
    }

    /// A rate from its two variables, each above 0.
    fn rate(
        &self,
        per_sec_var: &'static str,
        burst_var: &'static str,
        (per_sec, burst): (u32, u32),
    ) -> Result<cache::Rate, ConfigError> {
        let positive = |var: &'static str, default: u32| {
            let value: u32 = self.parse(var, default)?;
            std::num::NonZeroU32::new(value).ok_or(ConfigError {
                var,
                message: "must be above 0".into(),
            })
        };
        Ok(cache::Rate {
            per_second: positive(per_sec_var, per_sec)?,
            burst: positive(burst_var, burst)?,
        })
    }

    /// Comma-separated `host:port` (or `host`, on `default_port`), as `host:port`.
    fn addresses(&self, var: &'static str, default_port: u16) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let (host, port) = match s.rsplit_once(':') {
                    Some((host, port)) => (host, port.parse::<u16>().ok().filter(|p| *p > 0)),
                    None => (s, Some(default_port)),
                };
                match port {
                    Some(port) if !host.is_empty() && !host.contains('/') => {
                        Ok(format!("{host}:{port}"))
                    }
                    _ => Err(ConfigError {
                        var,
                        message: format!("{s:?} is not host:port"),
                    }),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .and_then(|list| match list.is_empty() {
                true => Err(ConfigError {
                    var,
                    message: "names no host:port".into(),
                }),
                false => Ok(list),
            })
    }

    /// Comma-separated addresses (`127.0.0.1`, `::1`) or CIDR blocks (`10.0.0.0/8`).
    fn networks(&self, var: &'static str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| ConfigError {
                        var,
                        message: format!("{s:?} is not an address or CIDR block"),
                    })
            })
            .collect()
    }

    /// A secret of at least `min_len` bytes, or `None` when unset. Never echoed.
    fn secret(
        &self,
        var: &'static str,
        min_len: usize,
    ) -> Result<Option<SecretString>, ConfigError> {
        match (self.0)(var) {
            None => Ok(None),
            Some(value) if value.len() >= min_len => Ok(Some(SecretString::from(value))),
            Some(_) => Err(ConfigError {
                var,
                message: format!(
                    "must be at least {min_len} characters (e.g. openssl rand -hex 32)"
                ),
            }),
        }
    }

    fn optional_url(
        &self,
        var: &'static str,
        schemes: &[&str],
    ) -> Result<Option<SecretString>, ConfigError> {
        let Some(url) = self.get(var) else {
            return Ok(None);
        };
        let scheme = url.split_once("://").map(|(s, _)| s);
        if !scheme.is_some_and(|s| schemes.contains(&s)) {
            // The value may hold a password: name the variable, never echo it.
            return Err(ConfigError {
                var,
                message: format!("must be a URL starting with {}://", schemes[0]),
            });
        }
        Ok(Some(SecretString::from(url)))
    }

    fn url(&self, var: &'static str, schemes: &[&str]) -> Result<SecretString, ConfigError> {
        self.optional_url(var, schemes)?.ok_or(ConfigError {
            var,
            message: format!("is required (for example {}://127.0.0.1/...)", schemes[0]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        ("IMS_DATABASE_URL", "postgres://u:secret@127.0.0.1/ims"),
        ("IMS_REDIS_URL", "redis://127.0.0.1:6379"),
    ];

    #[test]
    fn defaults() {
        let c = config(&BASE).expect("valid");
        assert_eq!(c.listen, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(c.db_pool_max, 100);
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(c.database_read_url.is_none());
        assert!(
            !format!("{c:?}").contains("secret"),
            "the password must never print"
        );
    }

    #[test]
    fn a_cursor_key_is_optional_but_never_short_or_printed() {
        assert!(config(&BASE).expect("valid").cursor_key.is_none());
        let key = "k3y-0f-the-whole-deployment-0123456789";
        let mut pairs = BASE.to_vec();
        pairs.push(("IMS_CURSOR_KEY", key));
        let c = config(&pairs).expect("valid");
        assert_eq!(c.cursor_key.as_ref().map(|k| k.expose_secret()), Some(key));
        assert!(!format!("{c:?}").contains(key));
        let mut pairs = BASE.to_vec();
        pairs.push(("IMS_CURSOR_KEY", "short"));
        let err = config(&pairs).expect_err("short key");
        assert_eq!(err.var, "IMS_CURSOR_KEY");
        assert!(!err.to_string().contains("short\""));
    }

    #[test]
    fn errors_name_the_variable() {
        let err = config(&[BASE[1]]).expect_err("missing db url");
        assert_eq!(err.var, "IMS_DATABASE_URL");
        let mut pairs = BASE.to_vec();
        pairs.push(("IMS_LISTEN", "not-an-address"));
        assert_eq!(config(&pairs).expect_err("bad listen").var, "IMS_LISTEN");
        let mut pairs = BASE.to_vec();
        pairs.push(("IMS_LOG_FORMAT", "xml"));
        let err = config(&pairs).expect_err("bad format");
        assert_eq!(
            err.to_string(),
            "IMS_LOG_FORMAT: invalid value \"xml\": must be text or json"
        );
        let err =
            config(&[("IMS_DATABASE_URL", "mysql://x:pw@h/db"), BASE[1]]).expect_err("scheme");
        assert!(!err.to_string().contains("pw"));
    }

    #[test]
    fn multi_host_urls_feed_the_followed_pools() {
        let mut pairs = vec![
            (
                "IMS_DATABASE_URL",
                "postgres://u:secret@127.0.0.1:1,127.0.0.1:2/ims?target_session_attrs=read-write",
            ),
            (
                "IMS_DATABASE_READ_URL",
                "postgres://u:secret@127.0.0.1:1,127.0.0.1:2/ims?target_session_attrs=prefer-standby",
            ),
            BASE[1],
        ];
        let db = config(&pairs).expect("valid").db_config().expect("db");
        assert_eq!(db.primary_hosts.len(), 2);
        assert_eq!(db.read_hosts.len(), 2);
        assert_eq!(db.read_max_lag, Duration::from_secs(1));
        pairs[0].1 = "postgres://u:secret@h1,h2/ims?target_session_attrs=prefer-standby";
        let err = config(&pairs)
            .expect("valid")
            .db_config()
            .expect_err("standby primary");
        assert_eq!(err.var, "IMS_DATABASE_URL");
        assert!(!err.to_string().contains("secret"));
        let single = config(&BASE).expect("valid").db_config().expect("db");
        assert!(single.primary_hosts.is_empty() && single.read.is_none());
    }

    #[test]
    fn redis_sentinels() {
        let c = config(&BASE).expect("valid");
        assert!(c.cache_config().sentinel.is_none());
        let pairs = [
            BASE[0],
            (
                "IMS_REDIS_SENTINELS",
                "127.0.0.1:26380, 10.0.0.2:26381,sentinel-3",
            ),
            ("IMS_REDIS_SENTINEL_MASTER", "ims"),
        ];
        let c = config(&pairs).expect("valid without IMS_REDIS_URL");
        let sentinel = c.cache_config().sentinel.expect("followed");
        assert_eq!(
            sentinel.sentinels,
            ["127.0.0.1:26380", "10.0.0.2:26381", "sentinel-3:26379"]
        );
        assert_eq!(sentinel.master, "ims");
        // The URL still brings the password and database number for the master.
        let mut with_url = pairs.to_vec();
        with_url.push(("IMS_REDIS_URL", "redis://:secret@ignored:1/3"));
        let c = config(&with_url).expect("valid");
        assert_eq!(c.cache_config().url, "redis://:secret@ignored:1/3");
        assert!(!format!("{c:?}").contains("secret"));
        let err = config(&pairs[..2]).expect_err("no master name");
        assert_eq!(err.var, "IMS_REDIS_SENTINEL_MASTER");
        let mut bad = pairs.to_vec();
        bad[1].1 = "127.0.0.1:26380,127.0.0.1:port";
        let err = config(&bad).expect_err("bad port");
        assert_eq!(err.var, "IMS_REDIS_SENTINELS");
        assert!(err.to_string().contains("127.0.0.1:port"));
        bad[1].1 = " , ";
        assert_eq!(config(&bad).expect_err("empty").var, "IMS_REDIS_SENTINELS");
        let err = config(&[BASE[0]]).expect_err("neither URL nor Sentinels");
        assert_eq!(err.var, "IMS_REDIS_URL");
    }

    #[test]
    fn redis_cluster() {
        let c = config(&BASE).expect("valid");
        assert!(c.cache_config().cluster.is_empty());
        let pairs = [
            BASE[0],
            (
                "IMS_REDIS_CLUSTER",
                "127.0.0.1:23822, 10.0.0.2:23823,redis-3",
            ),
        ];
        let c = config(&pairs).expect("valid without IMS_REDIS_URL");
        let cache = c.cache_config();
        assert_eq!(
            cache.cluster,
            ["127.0.0.1:23822", "10.0.0.2:23823", "redis-3:6379"]
        );
        assert!(cache.sentinel.is_none());
        let mut with_url = pairs.to_vec();
        with_url.push(("IMS_REDIS_URL", "redis://:secret@ignored:1"));
        let c = config(&with_url).expect("valid");
        assert_eq!(c.cache_config().url, "redis://:secret@ignored:1");
        assert!(!format!("{c:?}").contains("secret"));
        let mut bad = pairs.to_vec();
        bad[1].1 = "127.0.0.1:port";
        let err = config(&bad).expect_err("bad port");
        assert_eq!(err.var, "IMS_REDIS_CLUSTER");
        assert!(err.to_string().contains("127.0.0.1:port"));
        let mut both = pairs.to_vec();
        both.push(("IMS_REDIS_SENTINELS", "127.0.0.1:26380"));
        both.push(("IMS_REDIS_SENTINEL_MASTER", "ims"));
        assert_eq!(config(&both).expect_err("both").var, "IMS_REDIS_CLUSTER");
    }

    #[test]
    fn rate_limits_and_trusted_proxies() {
        let c = config(&BASE).expect("valid");
        assert_eq!(c.rate_limit, cache::Rate::new(100, 200));
        assert_eq!(c.login_rate_limit, cache::Rate::new(5, 10));
        assert!(c.trusted_proxies.is_empty());
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("IMS_RATE_LIMIT_PER_SEC", "50"),
            ("IMS_LOGIN_RATE_LIMIT_BURST", "3"),
            ("IMS_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1"),
        ]);
        let c = config(&pairs).expect("valid");
        assert_eq!(c.rate_limit, cache::Rate::new(50, 200));
        assert_eq!(c.login_rate_limit, cache::Rate::new(5, 3));
        let nets: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        let mut pairs = BASE.to_vec();
        pairs.push(("IMS_RATE_LIMIT_BURST", "0"));
        assert_eq!(
            config(&pairs).expect_err("zero").var,
            "IMS_RATE_LIMIT_BURST"
        );
        let mut pairs = BASE.to_vec();
        pairs.push(("IMS_TRUSTED_PROXIES", "gateway"));
        assert_eq!(config(&pairs).expect_err("bad").var, "IMS_TRUSTED_PROXIES");
    }
}
