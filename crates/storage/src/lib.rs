//! All SQL of IMS 2.0: connection pools, migrations and one repository module per table group.
//!
//! Every query is parameterized; functions are named for what they do. Callers above this
//! crate see records and [`Error`], never sqlx types beyond the pool handle.
//!
//! # Layout
//! - [`db`]: the primary and read pools, migrations, order partitions, readiness.
//! - [`error`]: the storage error, with unique and foreign-key violations named.
//! - [`page`]: keyset pagination positions shared by every list.
//! - [`users`], [`sessions`], [`throttle`]: accounts, bearer tokens, failed-login throttling.
//! - [`stores`], [`categories`], [`products`], [`customers`]: the chain's master data.
//! - [`demo`]: the small demo data set loaded by `ims seed`.

pub mod categories;
pub mod customers;
pub mod db;
pub mod demo;
pub mod error;
pub mod page;
pub mod products;
pub mod sessions;
pub mod stores;
pub mod throttle;
pub mod users;

pub use db::{Db, DbConfig};
pub use error::Error;
pub use page::{After, Page};

pub type Result<T, E = Error> = std::result::Result<T, E>;
