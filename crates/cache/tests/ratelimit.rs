//! The GCRA script against the real test Redis: the burst, then refusals with a wait; two
//! limiters (two instances) share one count; the script survives `SCRIPT FLUSH`.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

use std::time::Duration;

use cache::{CacheConfig, Rate, RateLimiter};
use uuid::Uuid;

fn config() -> CacheConfig {
    let url = std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL (run scripts/test)");
    let mut config = CacheConfig::new(url);
    config.prefix = format!("ratelimit-test-{}:", Uuid::new_v4().simple());
    config
}

/// Bursts of 5 at one a second: the 6th and later requests here would need seconds to pass.
const RATE: Rate = Rate::new(1, 5);

#[tokio::test]
async fn the_burst_passes_then_requests_wait() {
    let limiter = RateLimiter::new(&config()).expect("url");
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let decision = limiter.check("api:addr:a", RATE).await.expect("redis");
        assert!(decision.allowed);
        remaining.push(decision.remaining);
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    let refused = limiter.check("api:addr:a", RATE).await.expect("redis");
    assert!(!refused.allowed);
    assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1));
    assert!(refused.reset_after > Duration::from_secs(4));
    // Another client has its own bucket.
    assert!(
        limiter
            .check("api:addr:b", RATE)
            .await
            .expect("redis")
            .allowed
    );
}

#[tokio::test]
async fn two_limiters_share_one_count() {
    let config = config();
    let (one, two) = (
        RateLimiter::new(&config).expect("url"),
        RateLimiter::new(&config).expect("url"),
    );
    let mut allowed = 0;
    for i in 0..10 {
        let limiter = if i % 2 == 0 { &one } else { &two };
        if limiter
            .check("api:user:u", RATE)
            .await
            .expect("redis")
            .allowed
        {
            allowed += 1;
        }
    }
    assert!((5..=6).contains(&allowed), "{allowed} of 10 allowed");
}

#[tokio::test]
async fn a_flushed_script_is_sent_again() {
    let config = config();
    let limiter = RateLimiter::new(&config).expect("url");
    assert!(
        limiter
            .check("api:addr:f", RATE)
            .await
            .expect("redis")
            .allowed
    );
    let client = redis::Client::open(config.url.as_str()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .expect("flush");
    let after = limiter
        .check("api:addr:f", RATE)
        .await
        .expect("EVAL after NOSCRIPT");
    assert!(after.allowed);
    assert_eq!(after.remaining, 3);
}
