//! `ims-bench`: the load generator of IMS. Logged-in virtual users of the chain's stores send
//! a weighted, skewed mix of the API's reads and writes (closed model: N users; open model: a
//! fixed arrival rate), and the run is reported per endpoint with HDR percentiles, errors by
//! status, cache hits per key family, the database's work and the CPU split, as a table,
//! JSON, Markdown and an SVG chart. `--compare` runs the baseline and the optimized service
//! and prints the targets table (P95, P99, hit rate, ... against their targets). `docs/benchmarks.md` has the how-to and measured results.
//!
//! # Layout
//! - `mix`: the workload file (`deploy/bench/mix.toml`); `zipf`: skewed picks.
//! - `sample`: the ids to pick from, from the database or over HTTP; `setup`: set-up calls
//!   and the stores' shared sessions (`login-heavy`).
//! - `scenario`: the scenarios and when users log in; `session`: a user's own session.
//! - `ops`: an operation becomes a request; `http`: the users' own connections.
//! - `load`: the closed and open models; `record`: histograms and counts while running.
//! - `run`: one run end to end; `compare`: baseline against optimized.
//! - `dbstat`, `dbwait`, `cpu`, `counters`: the database's work and what its backends waited
//!   for, the processes' CPU and the service's cache counters by type; `limits`: the open-file limit.
//! - `report`: assembly, text tables, the SVG chart; `progress`: the live line; `cli`: flags.

pub mod cli;
pub mod compare;
pub mod counters;
pub mod cpu;
pub mod dbstat;
pub mod dbwait;
pub mod error;
pub mod http;
pub mod limits;
pub mod load;
pub mod mix;
pub mod ops;
pub mod progress;
pub mod record;
pub mod report;
pub mod run;
pub mod sample;
pub mod scenario;
pub mod session;
pub mod setup;
pub mod zipf;

pub use compare::Comparison;
pub use error::{Error, Result};
pub use load::Model;
pub use mix::Mix;
pub use report::Report;
pub use run::{run, run_with, sample_ids, RunOptions};
pub use scenario::Scenario;
