//! The service's own cache counters (`ims_cache_requests_total` on its `/metrics`), read at
//! the window's edges like the database's statistics: hit rates by the cache types the
//! targets name (products 85%, users 90%, orders 70%, categories 95%, dashboard 80%). The
//! answers' `X-Cache` headers give the key families a client reads; these counters add what
//! no answer shows, the sessions and profiles (`users`) every authenticated request reads.
//! A target whose `/metrics` cannot be read (behind a gateway that does not route it) has
//! no such figures.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// (cache type, outcome) → count, at one moment.
pub type Snapshot = BTreeMap<(String, String), u64>;

/// The counter's name in the exposition format.
const COUNTER: &str = "ims_cache_requests_total";

/// Each cache type's target hit rate, in the order reports list them; a type without one
/// (inventory) is reported without a verdict.
pub const TARGETS: [(&str, Option<f64>); 6] = [
    ("products", Some(0.85)),
    ("users", Some(0.90)),
    ("orders", Some(0.70)),
    ("categories", Some(0.95)),
    ("dashboard", Some(0.80)),
    ("inventory", None),
];

/// One cache type over the window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TypeRate {
    pub cache_type: String,
    pub hits: u64,
    pub misses: u64,
    pub bypasses: u64,
    /// hits / (hits + misses + bypasses); `None` when nothing of the type was read.
    pub hit_rate: Option<f64>,
    pub target: Option<f64>,
}

impl TypeRate {
    /// Whether the type met its target (`None`: no target, or nothing read).
    pub fn met(&self) -> Option<bool> {
        Some(self.hit_rate? >= self.target?)
    }
}

/// Reads `{base}/metrics` (the service's root, where `ims serve` exposes it); `None` when it
/// cannot be read or holds no cache counter.
pub async fn read(client: &reqwest::Client, base: &str) -> Option<Snapshot> {
    let response = client
        .get(format!("{}/metrics", base.trim_end_matches('/')))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let snapshot = parse(&response.text().await.ok()?);
    (!snapshot.is_empty()).then_some(snapshot)
}

/// The cache counters of a Prometheus text exposition: lines such as
/// `ims_cache_requests_total{cache_type="users",outcome="hit"} 68610`.
pub fn parse(text: &str) -> Snapshot {
    text.lines()
        .filter_map(|line| {
            let labels = line.strip_prefix(COUNTER)?.strip_prefix('{')?;
            let (labels, value) = labels.rsplit_once('}')?;
            let label = |name: &str| {
                labels.split(',').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    (key == name).then(|| value.trim_matches('"').to_owned())
                })
            };
            let count = value.trim().parse::<f64>().ok()?;
            // Counters are whole numbers, exposed as floats.
            Some(((label("cache_type")?, label("outcome")?), count as u64))
        })
        .collect()
}

/// The window's rates, one row per type of [`TARGETS`] and then any other type the service
/// counted.
pub fn delta(before: &Snapshot, after: &Snapshot) -> Vec<TypeRate> {
    let moved = |kind: &str, outcome: &str| {
        let key = (kind.to_owned(), outcome.to_owned());
        let end = after.get(&key).copied().unwrap_or(0);
        end.saturating_sub(before.get(&key).copied().unwrap_or(0))
    };
    let mut kinds: Vec<(String, Option<f64>)> = TARGETS
        .iter()
        .map(|(kind, target)| ((*kind).to_owned(), *target))
        .collect();
    for (kind, _) in after.keys() {
        if !kinds.iter().any(|(k, _)| k == kind) {
            kinds.push((kind.clone(), None));
        }
    }
    kinds
        .into_iter()
        .map(|(kind, target)| {
            let (hits, misses, bypasses) = (
                moved(&kind, "hit"),
                moved(&kind, "miss"),
                moved(&kind, "bypass"),
            );
            let total = hits + misses + bypasses;
            TypeRate {
                hit_rate: (total > 0).then(|| hits as f64 / total as f64),
                cache_type: kind,
                hits,
                misses,
                bypasses,
                target,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
# HELP ims_cache_requests_total Cached reads by cache type and outcome
# TYPE ims_cache_requests_total counter
ims_cache_requests_total{cache_type=\"users\",outcome=\"hit\"} 100
ims_cache_requests_total{cache_type=\"users\",outcome=\"miss\"} 10
ims_cache_requests_total{cache_type=\"orders\",outcome=\"hit\"} 5
ims_cache_requests_total_other{cache_type=\"users\",outcome=\"hit\"} 999
ims_http_requests_total{method=\"GET\"} 7
";

    const AFTER: &str = "\
ims_cache_requests_total{cache_type=\"users\",outcome=\"hit\"} 1090
ims_cache_requests_total{cache_type=\"users\",outcome=\"miss\"} 20
ims_cache_requests_total{cache_type=\"orders\",outcome=\"hit\"} 65
ims_cache_requests_total{cache_type=\"orders\",outcome=\"miss\"} 40
ims_cache_requests_total{cache_type=\"search\",outcome=\"hit\"} 3
";

    #[test]
    fn only_the_cache_counters_are_read() {
        let snapshot = parse(BEFORE);
        assert_eq!(snapshot.len(), 3);
        assert_eq!(snapshot[&("users".into(), "hit".into())], 100);
    }

    #[test]
    fn rates_are_of_the_window_and_judged_against_their_targets() {
        let rates = delta(&parse(BEFORE), &parse(AFTER));
        let of = |kind: &str| {
            rates
                .iter()
                .find(|r| r.cache_type == kind)
                .unwrap_or_else(|| panic!("{kind} in {rates:?}"))
        };
        let users = of("users");
        assert_eq!((users.hits, users.misses), (990, 10));
        assert_eq!(users.hit_rate, Some(0.99));
        assert_eq!(users.met(), Some(true));
        let orders = of("orders");
        assert_eq!(orders.hit_rate, Some(0.6));
        assert_eq!(orders.met(), Some(false), "60% is under the orders' 70%");
        assert_eq!(of("products").hit_rate, None, "nothing read");
        assert_eq!(of("products").met(), None);
        assert_eq!(
            of("search").target,
            None,
            "a type without a target is still listed"
        );
        assert_eq!(rates[0].cache_type, "products", "the targets' order first");
    }
}
