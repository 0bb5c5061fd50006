//! What a run is asked to do, and the checks it must pass before anything starts.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::load::Model;
use crate::mix::Mix;
use crate::scenario::Scenario;

use super::MAX_RUN;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Names the run in reports: `baseline`, `optimized`, `run`.
    pub label: String,
    /// The service, e.g. `http://127.0.0.1:8080` (plain HTTP).
    pub url: String,
    /// The service's database: ids are sampled from it and its statistics read.
    pub database_url: Option<String>,
    pub model: Model,
    pub warmup: Duration,
    pub duration: Duration,
    pub mix: Mix,
    /// Which sessions users have and when they log in (the mix is `mix`).
    pub scenario: Scenario,
    /// How long a user's session lasts before it logs in again (`default`, `opening-hour`).
    pub shift: Duration,
    /// `opening-hour`: users log in spread over this from the measured window's start.
    pub login_window: Duration,
    /// An administrator, for sampling over HTTP when there is no database URL.
    pub login: String,
    /// The password of that administrator and of the staff the users log in as.
    pub password: String,
    pub timeout: Duration,
    /// Loopback source addresses to spread connections over (0: the system's choice).
    pub source_addresses: usize,
    pub seed: u64,
    pub progress: bool,
    /// Redis's port, for its CPU share (same machine only).
    pub redis_port: Option<u16>,
}

impl RunOptions {
    pub fn target(&self) -> Result<(SocketAddr, String)> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| Error::Config(format!("--url {}: {e}", self.url)))?;
        if url.scheme() != "http" {
            return Err(Error::Config(format!(
                "--url {}: only plain http is supported (benchmark behind the TLS terminator)",
                self.url
            )));
        }
        let host = url.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let ip: IpAddr = match host.trim_matches(['[', ']']).parse() {
            Ok(ip) => ip,
            Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))?
                .next()
                .map(|a| a.ip())
                .ok_or_else(|| Error::Config(format!("--url: cannot resolve {host}")))?,
        };
        Ok((SocketAddr::new(ip, port), format!("http://{host}:{port}")))
    }

    pub(super) fn check(&self) -> Result<()> {
        if self.warmup + self.duration > MAX_RUN {
            return Err(Error::Config(format!(
                "warm-up plus duration must be at most {} s",
                MAX_RUN.as_secs()
            )));
        }
        if self.duration.is_zero() {
            return Err(Error::Config("--duration must be above 0".into()));
        }
        if self.shift < Duration::from_secs(1) {
            return Err(Error::Config("--shift-secs must be at least 1".into()));
        }
        if self.scenario == Scenario::OpeningHour && self.duration < self.login_window {
            return Err(Error::Config(format!(
                "opening-hour: --duration ({} s) must last at least --login-window-secs ({} s)",
                self.duration.as_secs(),
                self.login_window.as_secs()
            )));
        }
        match self.model {
            Model::Closed { users: 0, .. } => {
                Err(Error::Config("--users must be at least 1".into()))
            }
            Model::Open { rate, connections }
                if !(rate > 0.0 && rate.is_finite()) || connections == 0 =>
            {
                Err(Error::Config(
                    "--rate and --connections must be above 0".into(),
                ))
            }
            _ => Ok(()),
        }
    }
}
