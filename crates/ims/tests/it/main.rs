//! The integration tests of `ims`, black-box over HTTP against real PostgreSQL and Redis: one
//! test binary with a module per area, so the helpers in [`support`] live once and the test
//! build compiles and links one program instead of one per file (issue 19; the before and
//! after of the test build are in docs/tests.md).
//!
//! Tests are selected by module path: `scripts/test -E 'test(/^orders::/)'`. The failure
//! tests (`ha` and `ha_*`) are `#[ignore]`d and run alone (`.config/nextest.toml`, group
//! `cluster`; `scripts/test`'s cluster phase).

// A failed expect in a test is a failed test with its reason; clippy allows it only inside
// #[test] functions, not in the helpers the test modules share.
#![allow(clippy::expect_used)]

mod support;

mod archive;
mod audit;
mod auth;
mod cache;
mod catalog;
mod customers;
mod dashboard;
mod demo;
mod errors;
mod explain;
mod failover;
mod gateway;
mod gateway_roll;
mod gateway_tls;
mod generator;
mod ha;
mod ha_backup;
mod ha_monitor;
mod ha_partition;
mod ha_rcluster;
mod ha_redis;
mod ha_roll;
mod idempotency;
mod inventory;
mod metrics;
mod orders;
mod prescriptions;
mod public_catalog;
mod ratelimit;
mod schema;
mod stores;
mod users;
mod workshop;
