//! Multi-host URLs: libpq's `postgres://u@h1:p1,h2:p2/db?target_session_attrs=…` split into
//! one connect option per host, as sqlx 0.8 takes only one. Who is primary is `topology`'s.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

/// libpq's `target_session_attrs`, the values the service honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSession {
    /// `any` (the default): whichever host answers first.
    Any,
    /// `read-write` / `primary`: only the node that accepts writes.
    ReadWrite,
    /// `prefer-standby` / `standby` / `read-only`: a standby within the lag bound, else the
    /// primary.
    PreferStandby,
}

/// A URL split into its hosts.
#[derive(Debug, Clone)]
pub struct Hosts {
    pub hosts: Vec<PgConnectOptions>,
    pub target: TargetSession,
}

/// Splits `postgres://[userinfo@]h1[:p1],h2[:p2],…[/db][?params]` into one option per host.
/// The error never repeats the URL (it may hold a password).
pub fn parse_hosts(url: &str) -> Result<Hosts, String> {
    let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hostlist) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut target = TargetSession::Any;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("target_session_attrs", value)) => {
                target = match value {
                    "any" => TargetSession::Any,
                    "read-write" | "primary" => TargetSession::ReadWrite,
                    "prefer-standby" | "standby" | "read-only" => TargetSession::PreferStandby,
                    other => return Err(format!("target_session_attrs={other} is not supported")),
                }
            }
            _ => kept.push(pair),
        }
    }
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let hosts = hostlist
        .split(',')
        .map(|host| {
            if host.is_empty() {
                return Err("an empty host in the host list".to_string());
            }
            PgConnectOptions::from_str(&format!("{scheme}://{userinfo}{host}{path}{query}"))
                .map_err(|e| format!("host {host}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Hosts { hosts, target })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_multi_host_url_keeping_user_database_and_params() {
        let hosts = parse_hosts(
            "postgres://app:secret@127.0.0.1:15431,127.0.0.1:15432,localhost/ims?sslmode=disable&target_session_attrs=read-write",
        )
        .expect("parses");
        assert_eq!(hosts.target, TargetSession::ReadWrite);
        let ports: Vec<u16> = hosts.hosts.iter().map(|h| h.get_port()).collect();
        assert_eq!(ports, [15431, 15432, 5432]);
        assert_eq!(hosts.hosts[2].get_host(), "localhost");
        for host in &hosts.hosts {
            assert_eq!(host.get_username(), "app");
            assert_eq!(host.get_database(), Some("ims"));
        }
    }

    #[test]
    fn a_single_host_url_is_one_host_of_any_session() {
        let hosts = parse_hosts("postgres://postgres@127.0.0.1:14321/postgres").expect("parses");
        assert_eq!(hosts.hosts.len(), 1);
        assert_eq!(hosts.target, TargetSession::Any);
        let standby = parse_hosts("postgres://u@a:1,b:2/db?target_session_attrs=prefer-standby")
            .expect("parses");
        assert_eq!(standby.target, TargetSession::PreferStandby);
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_the_password() {
        let err = parse_hosts("postgres://u:hunter2@a:1,,b/db").expect_err("empty host");
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_hosts("postgres://u:hunter2@a:1/db?target_session_attrs=bogus")
            .expect_err("unknown attrs");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
