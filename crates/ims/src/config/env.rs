//! Reading one variable: the parsers behind `Config::from_lookup`, each naming its variable in
//! the error and falling back to the default it is given.

use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

use super::ConfigError;

/// `on` or `off`.
pub(super) struct Switch(pub(super) bool);

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

pub(super) struct Env<'a>(pub(super) &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// A `file://` or `s3://` URL, or `default` when unset.
    pub(super) fn archive_url(
        &self,
        var: &'static str,
        default: String,
    ) -> Result<String, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
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

    pub(super) fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|v| !v.trim().is_empty())
    }

    pub(super) fn parse<T: FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
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

    pub(super) fn millis(
        &self,
        var: &'static str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
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
    pub(super) fn rate(
        &self,
        per_sec_var: &'static str,
        burst_var: &'static str,
        default: cache::Rate,
    ) -> Result<cache::Rate, ConfigError> {
        let (per_sec, burst) = (default.per_second.get(), default.burst.get());
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
    pub(super) fn addresses(
        &self,
        var: &'static str,
        default_port: u16,
    ) -> Result<Vec<String>, ConfigError> {
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
    pub(super) fn networks(&self, var: &'static str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
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
    pub(super) fn secret(
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

    pub(super) fn optional_url(
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

    pub(super) fn url(
        &self,
        var: &'static str,
        schemes: &[&str],
    ) -> Result<SecretString, ConfigError> {
        self.optional_url(var, schemes)?.ok_or(ConfigError {
            var,
            message: format!("is required (for example {}://127.0.0.1/...)", schemes[0]),
        })
    }
}
