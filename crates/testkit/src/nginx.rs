//! nginx as the gateway tests run it: the repository's template
//! (`deploy/nginx/nginx.conf.template`) filled in as `scripts/stack` fills it, the private CA
//! and certificate made by `scripts/lib/tls.sh`, and a client that trusts that CA alone. The
//! processes themselves are `gateway`'s.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The template, as the repository has it when the tests were built.
const TEMPLATE: &str = include_str!("../../../deploy/nginx/nginx.conf.template");

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

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

/// Where nginx listens and with which certificate.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Plain HTTP, e.g. `127.0.0.1:8088`.
    pub plain: String,
    /// HTTPS, e.g. `127.0.0.1:8443`.
    pub tls: String,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The template filled in for `prefix`, `listen`, the instances' ports and the flood shield,
/// as `scripts/stack` fills it with a development certificate (no OCSP stapling).
pub fn render_config(
    prefix: &Path,
    listen: &Listen,
    ports: &[u16],
    (rate, burst, conn): (u32, u32, u32),
) -> String {
    let upstreams: Vec<String> = ports
        .iter()
        .map(|p| format!("server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;"))
        .collect();
    let user = if is_root() {
        "user nobody nogroup;"
    } else {
        ""
    };
    let tls_port = listen.tls.rsplit_once(':').map_or("443", |(_, p)| p);
    let dhparam = repo_root().join("deploy/nginx/ffdhe2048.pem");
    TEMPLATE
        .replace("{{PREFIX}}", &prefix.display().to_string())
        .replace("{{LISTEN}}", &listen.plain)
        .replace("{{LISTEN_TLS}}", &listen.tls)
        .replace("{{HTTPS_PORT}}", &format!(":{tls_port}"))
        .replace("{{PLAIN_REDIRECT}}", "1")
        .replace("{{TLS_CERT}}", &listen.cert.display().to_string())
        .replace("{{TLS_KEY}}", &listen.key.display().to_string())
        .replace("{{DHPARAM}}", &dhparam.display().to_string())
        .replace("{{HSTS_MAX_AGE}}", "63072000")
        .replace("{{STAPLING}}", "")
        .replace("{{UPSTREAMS}}", &upstreams.join("\n        "))
        .replace("{{USER}}", user)
        .replace("{{FLOOD_RATE}}", &rate.to_string())
        .replace("{{FLOOD_BURST}}", &burst.to_string())
        .replace("{{FLOOD_CONN}}", &conn.to_string())
}

/// Makes the private CA and the certificate for 127.0.0.1 in `dir` with the script
/// `scripts/stack` uses, and returns the CA's certificate.
pub(crate) fn make_certificate(dir: &Path) -> Vec<u8> {
    let status = Command::new("bash")
        .arg("-c")
        .arg("source \"$0/scripts/lib/tls.sh\" && ims_dev_cert \"$1\"")
        .arg(repo_root())
        .arg(dir)
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "ims_dev_cert failed (is openssl installed?)"
    );
    std::fs::read(dir.join("ca.pem")).expect("the CA's certificate")
}

/// A client that trusts `ca_pem` alone, as a client given the private CA would.
pub fn client_trusting(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).expect("a PEM certificate"))
        .build()
        .expect("a TLS client")
}
