//! The configuration read from maps of variables: defaults, every refusal named, no secret
//! printed.

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
    assert_eq!(c.http.listen, "127.0.0.1:8080".parse().expect("addr"));
    assert_eq!(c.db.max_connections, 100);
    assert!(c.db.generic_plans);
    assert_eq!(c.log.format, LogFormat::Text);
    assert!(c.db.read.is_none());
    assert!(
        !format!("{c:?}").contains("secret"),
        "the password must never print"
    );
}

#[test]
fn a_cursor_key_is_optional_but_never_short_or_printed() {
    assert!(config(&BASE).expect("valid").api.cursor_key.is_none());
    let key = "k3y-0f-the-whole-deployment-0123456789";
    let mut pairs = BASE.to_vec();
    pairs.push(("IMS_CURSOR_KEY", key));
    let c = config(&pairs).expect("valid");
    assert_eq!(
        c.api.cursor_key.as_ref().map(|k| k.expose_secret()),
        Some(key)
    );
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
    let err = config(&[("IMS_DATABASE_URL", "mysql://x:pw@h/db"), BASE[1]]).expect_err("scheme");
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
    let db = config(&pairs).expect("valid").db;
    assert_eq!(db.primary_hosts.len(), 2);
    assert_eq!(db.read_hosts.len(), 2);
    assert_eq!(db.read_max_lag, Duration::from_secs(1));
    pairs[0].1 = "postgres://u:secret@h1,h2/ims?target_session_attrs=prefer-standby";
    let err = config(&pairs).expect_err("standby primary");
    assert_eq!(err.var, "IMS_DATABASE_URL");
    assert!(!err.to_string().contains("secret"));
    let single = config(&BASE).expect("valid").db;
    assert!(single.primary_hosts.is_empty() && single.read.is_none());
}

#[test]
fn redis_sentinels() {
    let c = config(&BASE).expect("valid");
    assert!(c.redis.sentinel.is_none());
    let pairs = [
        BASE[0],
        (
            "IMS_REDIS_SENTINELS",
            "127.0.0.1:26380, 10.0.0.2:26381,sentinel-3",
        ),
        ("IMS_REDIS_SENTINEL_MASTER", "ims"),
    ];
    let c = config(&pairs).expect("valid without IMS_REDIS_URL");
    let sentinel = c.redis.sentinel.expect("followed");
    assert_eq!(
        sentinel.sentinels,
        ["127.0.0.1:26380", "10.0.0.2:26381", "sentinel-3:26379"]
    );
    assert_eq!(sentinel.master, "ims");
    // The URL still brings the password and database number for the master.
    let mut with_url = pairs.to_vec();
    with_url.push(("IMS_REDIS_URL", "redis://:secret@ignored:1/3"));
    let c = config(&with_url).expect("valid");
    assert_eq!(c.redis.url, "redis://:secret@ignored:1/3");
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
    assert!(c.redis.cluster.is_empty());
    let pairs = [
        BASE[0],
        (
            "IMS_REDIS_CLUSTER",
            "127.0.0.1:23822, 10.0.0.2:23823,redis-3",
        ),
    ];
    let c = config(&pairs).expect("valid without IMS_REDIS_URL");
    let cache = c.redis.clone();
    assert_eq!(
        cache.cluster,
        ["127.0.0.1:23822", "10.0.0.2:23823", "redis-3:6379"]
    );
    assert!(cache.sentinel.is_none());
    let mut with_url = pairs.to_vec();
    with_url.push(("IMS_REDIS_URL", "redis://:secret@ignored:1"));
    let c = config(&with_url).expect("valid");
    assert_eq!(c.redis.url, "redis://:secret@ignored:1");
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
    assert_eq!(c.api.tuning.rate_limit, cache::Rate::new(100, 200));
    assert_eq!(c.api.tuning.login_rate_limit, cache::Rate::new(5, 10));
    assert!(c.api.tuning.trusted_proxies.is_empty());
    let mut pairs = BASE.to_vec();
    pairs.extend([
        ("IMS_RATE_LIMIT_PER_SEC", "50"),
        ("IMS_LOGIN_RATE_LIMIT_BURST", "3"),
        ("IMS_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1"),
    ]);
    let c = config(&pairs).expect("valid");
    assert_eq!(c.api.tuning.rate_limit, cache::Rate::new(50, 200));
    assert_eq!(c.api.tuning.login_rate_limit, cache::Rate::new(5, 3));
    let nets: Vec<String> = c
        .api
        .tuning
        .trusted_proxies
        .iter()
        .map(|n| n.to_string())
        .collect();
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
