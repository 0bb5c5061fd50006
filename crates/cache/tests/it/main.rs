//! The cache crate against the real test Redis (`IMS_TEST_REDIS_URL`, started by
//! scripts/test): one test binary, a module per part, so the test build links once.
// The cache's futures (a Sentinel lookup inside a Redis call inside a load) nest deeper than
// rustc's default limit of 128 when it computes their layout.
#![recursion_limit = "256"]
// A failed expect in a test is a failed test with its reason; clippy allows it only inside
// #[test] functions, not in the helpers the test modules share.
#![allow(clippy::expect_used)]

mod ratelimit;
mod redis;
