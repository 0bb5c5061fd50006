//! Helpers shared by the test modules: reading answers (`items`, `error_fields`, ...), the
//! operations' fixtures (customers, stocked products, orders), paging, and the harnesses of
//! the clusters and the monitoring stack the failure tests drive, and the tests' own Redis
//! connections. What is about one area
//! only stays in that area's module.

pub mod cluster;
pub mod load;
pub mod monitor;
pub mod ops;
pub mod paging;
pub mod rcluster;
pub mod redis;

use std::path::PathBuf;

/// A header's value, when it is present and text.
pub fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The repository's root, where `scripts/` and `.data/` are.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The port in the environment variable `var`, else `default`: the same variables as the
/// scripts', so two checkouts can run their clusters and stacks side by side. A value that is
/// not a port stops the test naming the variable.
pub fn port_from_env(var: &str, default: u16) -> u16 {
    match std::env::var(var) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{var}='{v}' is not a port number")),
        Err(_) => default,
    }
}
