//! All SQL of IMS 2.0: connection pools, migrations and one repository module per table group.
//!
//! Every query is parameterized; functions are named for what they do. Callers above this
//! crate see records and [`Error`], never sqlx types beyond the pool handle. Data for a
//! database (the generated chain, the demo set) and `ims explain` are the `seed` crate's.
//!
//! # Layout
//! - [`db`]: the primary and read pools, migrations, order partitions, readiness.
//! - [`hosts`]: multi-host URLs; the follower that finds the primary and watches the standbys.
//! - [`routing`]: which node a read goes to (standbys in turn, a client's token, retries).
//! - [`error`]: the storage error, with unique and foreign-key violations named.
//! - `names`: statuses, kinds and roles read from their text columns as domain values.
//! - [`page`]: keyset pagination positions shared by every list.
//! - [`users`], [`sessions`], [`throttle`]: accounts, bearer tokens, failed-login throttling.
//! - [`stores`], [`categories`], [`products`], [`customers`]: the chain's master data.
//! - [`orders`], [`inventory`], [`prescriptions`], [`workshop`], [`dashboard`]: operations.
//! - [`stock`]: the one code path that changes stock, keeping its invariants.
//! - [`service_keys`]: secrets the instances share (the cursor key when not configured).
//! - [`idempotency`]: replaying the first response to a retried request.
//! - [`monitoring`]: database health figures for the metrics endpoint; query timing.

pub mod categories;
pub mod customers;
pub mod dashboard;
pub mod db;
pub mod error;
pub mod hosts;
pub mod idempotency;
pub mod inventory;
pub mod monitoring;
mod names;
pub mod orders;
pub mod page;
pub mod prescriptions;
pub mod products;
pub mod routing;
pub mod service_keys;
pub mod sessions;
pub mod stock;
pub mod stores;
pub mod throttle;
pub mod users;
pub mod workshop;

pub use db::{Db, DbConfig};
pub use error::Error;
pub use page::{After, Page, PositionKind};
pub use sqlx::PgPool;

pub type Result<T, E = Error> = std::result::Result<T, E>;
