//! Data for an IMS database and the judging of its plans: the tools around the service, not
//! the service. `storage` is the data layer the service runs on; this crate fills a database
//! and checks it, using storage's error type and the very statements its repositories run.
//! Its SQL is bulk loading (COPY, the DDL around it) and `EXPLAIN`, never a request's.
//!
//! # Layout
//! - [`generator`]: a realistic chain of any scale, generated and bulk-loaded (`ims seed
//!   --scale`, the benchmark's and the tests' data).
//! - [`demo`]: the small demo data set loaded by `ims seed` (`scripts/run`).
//! - [`explain`]: plans of the hot queries, judged (`ims explain`).

pub mod demo;
pub mod explain;
pub mod generator;
