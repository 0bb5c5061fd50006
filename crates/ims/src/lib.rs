//! The `ims` binary's library: configuration, telemetry, and one module per subcommand.
//! `main` only parses the command line and calls in here.
//!
//! # Layout
//! - [`config`]: the typed configuration read from `IMS_*` environment variables, a part
//!   per concern.
//! - [`app`]: the service assembled from its parts, as `serve` and the tests build it.
//! - [`telemetry`]: structured logging, set up once.
//! - [`serve`]: start-up, background upkeep and graceful shutdown of the HTTP service.
//! - [`explain`]: the hot queries' plans as a table, failing on bad ones.
//! - [`admin`]: the operator commands (migrate, seed, create an admin).
//! - [`archive`]: `ims archive` and the service's daily archival run.

// Spawning the cache warming checks its future is `Send`, and that future nests the cache's,
// sqlx's and the handlers' futures deeper than rustc's default limit of 128 (as in `api`).
#![recursion_limit = "256"]

pub mod admin;
pub mod app;
pub mod archive;
pub mod config;
pub mod explain;
pub mod serve;
pub mod telemetry;
