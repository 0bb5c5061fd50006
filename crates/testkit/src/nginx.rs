//! nginx as the gateway tests run it: its configuration and the private CA's certificate
//! are made by `scripts/stack` itself (`scripts/stack cert`, `scripts/stack conf`), so the
//! template (`deploy/nginx/nginx.conf.template`) is filled in one place, the one operators
//! run; and a client that trusts that CA alone. The processes themselves are `gateway`'s.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository's root: its scripts and `deploy/` are used as they are.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Debian puts nginx in /usr/sbin, which a non-login PATH may lack.
pub(crate) fn nginx_bin() -> &'static str {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("nginx")
}

/// The gateway's settings a test's shell may hold, which would make the test's gateway
/// differ from the one it means to run.
const GATEWAY_SETTINGS: [&str; 6] = [
    "IMS_GATEWAY_TLS_CERT",
    "IMS_GATEWAY_TLS_KEY",
    "IMS_GATEWAY_TLS_TRUSTED",
    "IMS_GATEWAY_OCSP_STAPLING",
    "IMS_GATEWAY_PLAIN_HTTP",
    "IMS_GATEWAY_HSTS_MAX_AGE",
];

/// Runs `scripts/stack COMMAND` on the stack whose `IMS_DATA_DIR` is `data_dir`, with `envs`;
/// answers its standard output (its complaints go to the test's output).
fn stack(data_dir: &Path, command: &str, envs: &[(&str, String)]) -> String {
    let mut stack = Command::new(repo_root().join("scripts/stack"));
    stack.arg(command).env("IMS_DATA_DIR", data_dir);
    for name in GATEWAY_SETTINGS {
        stack.env_remove(name);
    }
    let output = stack
        .envs(envs.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/stack runs");
    assert!(
        output.status.success(),
        "scripts/stack {command} failed (is openssl installed?); its complaint is above"
    );
    String::from_utf8(output.stdout).expect("scripts/stack prints paths")
}

/// Makes the private CA and the certificate for 127.0.0.1 in `data_dir/stack/tls`, as
/// `scripts/stack` makes them for its gateway, and returns the CA's certificate.
pub(crate) fn make_certificate(data_dir: &Path) -> Vec<u8> {
    stack(data_dir, "cert", &[]);
    std::fs::read(data_dir.join("stack/tls/ca.pem")).expect("the CA's certificate")
}

/// Where the gateway listens, what it sends to, and its per-address flood shield.
#[derive(Debug, Clone)]
pub struct Site {
    /// Plain HTTP (redirects to HTTPS).
    pub plain_port: u16,
    /// HTTPS and HTTP/2.
    pub tls_port: u16,
    /// The instances, on 127.0.0.1.
    pub upstreams: Vec<u16>,
    /// Requests a second, their burst, connections (`IMS_GATEWAY_FLOOD_*`).
    pub flood: (u32, u32, u32),
}

/// Writes the gateway's configuration for `site` as `scripts/stack conf` writes it for a
/// stack in `data_dir` (its certificate from [`make_certificate`]); answers the file's path,
/// in the folder nginx is to run in.
pub fn write_config(data_dir: &Path, site: &Site) -> PathBuf {
    let upstreams: Vec<String> = site
        .upstreams
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    let (rate, burst, conn) = site.flood;
    let path = stack(
        data_dir,
        "conf",
        &[
            ("IMS_GATEWAY_PORT", site.plain_port.to_string()),
            ("IMS_GATEWAY_TLS_PORT", site.tls_port.to_string()),
            ("IMS_STACK_UPSTREAMS", upstreams.join(",")),
            ("IMS_GATEWAY_FLOOD_RATE", rate.to_string()),
            ("IMS_GATEWAY_FLOOD_BURST", burst.to_string()),
            ("IMS_GATEWAY_FLOOD_CONN", conn.to_string()),
        ],
    );
    PathBuf::from(path.trim_end())
}

/// A client that trusts `ca_pem` alone, as a client given the private CA would.
pub fn client_trusting(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).expect("a PEM certificate"))
        .build()
        .expect("a TLS client")
}
