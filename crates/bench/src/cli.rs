//! The command line: flags to [`RunOptions`], then one run or `--compare`, and the reports
//! printed and written. Every flag has an `IMS_BENCH_*` variable too.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::compare::Comparison;
use crate::error::{Error, Result};
use crate::load::Model;
use crate::mix::Mix;
use crate::report::text;
use crate::run::{run_with, sample_ids, RunOptions};
use crate::scenario::Scenario;

/// Load-tests IMS with a realistic, skewed mix and reports rates, latency percentiles,
/// errors, cache hits and the database's work. See docs/benchmarks.md.
#[derive(Debug, Parser)]
#[command(name = "ims-bench", version)]
pub struct Args {
    /// The service (the optimized one with --compare).
    #[arg(long, env = "IMS_BENCH_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The service's database: ids are sampled from it (else over the API) and its
    /// pg_stat_statements and backends' CPU are reported.
    #[arg(long, env = "IMS_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Also run the baseline at --baseline-url and print the targets table.
    #[arg(long)]
    pub compare: bool,
    /// The baseline service (IMS_CACHE=off, database with only primary keys and unique
    /// constraints); see scripts/bench.
    #[arg(long, env = "IMS_BENCH_BASELINE_URL")]
    pub baseline_url: Option<String>,
    #[arg(long, env = "IMS_BENCH_BASELINE_DATABASE_URL")]
    pub baseline_database_url: Option<String>,
    /// Closed model: this many virtual users, one connection each.
    #[arg(long, env = "IMS_BENCH_USERS", default_value_t = 100)]
    pub users: usize,
    /// Closed model: each user's mean pause between an answer and its next request (ms);
    /// N users thinking Z seconds offer at most N / Z requests/s.
    #[arg(long, env = "IMS_BENCH_THINK_MS", default_value_t = 0)]
    pub think_ms: u64,
    /// Open model: requests per second due, whatever the answers take (replaces --users).
    #[arg(long, env = "IMS_BENCH_RATE")]
    pub rate: Option<f64>,
    /// Open model: connections to send them over (default: the rate, at most 10,000).
    #[arg(long, env = "IMS_BENCH_CONNECTIONS")]
    pub connections: Option<usize>,
    /// Seconds of load before measuring (connections open, caches and pools fill).
    #[arg(long, env = "IMS_BENCH_WARMUP", default_value_t = 10)]
    pub warmup: u64,
    /// Seconds measured.
    #[arg(long, env = "IMS_BENCH_DURATION", default_value_t = 30)]
    pub duration: u64,
    /// The workload file (default: the scenario's, built in: deploy/bench/mix.toml, or
    /// deploy/bench/login-heavy.toml for login-heavy).
    #[arg(long, env = "IMS_BENCH_MIX")]
    pub mix: Option<PathBuf>,
    /// default: each user logs in itself before the run and again every --shift-secs;
    /// login-heavy: the old mix, 3% logins, users share their store's sessions;
    /// opening-hour: users log in spread over --login-window-secs of the measured window.
    #[arg(long, env = "IMS_BENCH_SCENARIO", value_enum, default_value_t = Scenario::Default)]
    pub scenario: Scenario,
    /// How long a user's session lasts before it logs in again (seconds; 8 hours).
    #[arg(long, env = "IMS_BENCH_SHIFT_SECS", default_value_t = 8 * 3600)]
    pub shift_secs: u64,
    /// opening-hour: the logins are spread over this many seconds from the start of the
    /// measured window (--duration must be at least this).
    #[arg(long, env = "IMS_BENCH_LOGIN_WINDOW_SECS", default_value_t = 600)]
    pub login_window_secs: u64,
    /// An administrator, for sampling over HTTP (no --database-url).
    #[arg(long, env = "IMS_BENCH_LOGIN", default_value = "admin01")]
    pub login: String,
    /// The password of that administrator and of the staff the users log in as (the
    /// generator's `staff-password-1` by default).
    #[arg(
        long,
        env = "IMS_BENCH_PASSWORD",
        default_value = "staff-password-1",
        hide_default_value = true
    )]
    pub password: String,
    /// Seconds before a request counts as a timeout.
    #[arg(long, env = "IMS_BENCH_TIMEOUT", default_value_t = 30)]
    pub timeout: u64,
    /// Loopback source addresses to spread connections over (default: one per 16
    /// connections; 0: the system's). Only for a service on this machine.
    #[arg(long, env = "IMS_BENCH_SOURCE_ADDRESSES")]
    pub source_addresses: Option<usize>,
    /// Redis's port, for its CPU share (same machine).
    #[arg(long, env = "IMS_BENCH_REDIS_PORT")]
    pub redis_port: Option<u16>,
    /// Where the reports go (default: bench-results/<time>).
    #[arg(long, env = "IMS_BENCH_OUT")]
    pub out: Option<PathBuf>,
    #[arg(long, env = "IMS_BENCH_SEED", default_value_t = 42)]
    pub seed: u64,
    /// No live progress line.
    #[arg(long)]
    pub quiet: bool,
}

impl Args {
    fn model(&self) -> Model {
        match self.rate {
            Some(rate) => Model::Open {
                rate,
                connections: self
                    .connections
                    .unwrap_or_else(|| (rate.ceil() as usize).clamp(16, 10_000)),
            },
            None => Model::Closed {
                users: self.users,
                think_ms: self.think_ms,
            },
        }
    }

    pub fn options(
        &self,
        label: &str,
        url: &str,
        database_url: Option<String>,
    ) -> Result<RunOptions> {
        let mix = match &self.mix {
            Some(path) => Mix::parse(
                &std::fs::read_to_string(path)
                    .map_err(|e| Error::Config(format!("--mix {}: {e}", path.display())))?,
            )?,
            None => self.scenario.mix(),
        };
        let model = self.model();
        let (target, _) = RunOptions {
            label: String::new(),
            url: url.to_owned(),
            database_url: None,
            model,
            warmup: Duration::ZERO,
            duration: Duration::ZERO,
            mix: mix.clone(),
            scenario: self.scenario,
            shift: Duration::ZERO,
            login_window: Duration::ZERO,
            login: String::new(),
            password: String::new(),
            timeout: Duration::ZERO,
            source_addresses: 0,
            seed: 0,
            progress: false,
            redis_port: None,
        }
        .target()?;
        let spread = if target.ip().is_loopback() {
            self.source_addresses
                .unwrap_or_else(|| model.connections().div_ceil(16).clamp(1, 4096))
        } else {
            0
        };
        Ok(RunOptions {
            label: label.into(),
            url: url.into(),
            database_url,
            model,
            warmup: Duration::from_secs(self.warmup),
            duration: Duration::from_secs(self.duration),
            mix,
            scenario: self.scenario,
            shift: Duration::from_secs(self.shift_secs),
            login_window: Duration::from_secs(self.login_window_secs),
            login: self.login.clone(),
            password: self.password.clone(),
            timeout: Duration::from_secs(self.timeout.max(1)),
            source_addresses: spread,
            seed: self.seed,
            progress: !self.quiet,
            redis_port: self.redis_port,
        })
    }
}

/// Runs what the flags say; prints the tables and writes the reports.
pub async fn execute(args: Args) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("bench-results").join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
    });
    let optimized = args.options(
        if args.compare { "optimized" } else { "run" },
        &args.url,
        args.database_url.clone(),
    )?;
    eprintln!(
        "ims-bench: sampling ids from {}",
        if optimized.database_url.is_some() {
            "the database"
        } else {
            "the API"
        }
    );
    let raw = sample_ids(&optimized, optimized.database_url.as_deref()).await?;
    eprintln!(
        "ims-bench: {} stores, {} products, {} stocked rows, {} customers, {} orders, {} open jobs, {} staff",
        raw.stores.len(), raw.products.len(), raw.stocked.len(), raw.customers.len(),
        raw.orders.len(), raw.jobs.len(), raw.staff.len()
    );
    if !args.compare {
        let report = run_with(&optimized, &raw).await?;
        println!("{}", text::terminal(&report));
        report.write(&out, "report")?;
        eprintln!("ims-bench: reports in {}", out.display());
        return Ok(());
    }
    let baseline_url = args.baseline_url.clone().ok_or_else(|| {
        Error::Config("--compare needs --baseline-url (see scripts/bench)".into())
    })?;
    let baseline_opts = args.options(
        "baseline",
        &baseline_url,
        args.baseline_database_url.clone(),
    )?;
    eprintln!("ims-bench: baseline at {baseline_url}");
    let baseline = run_with(&baseline_opts, &raw).await?;
    println!("{}", text::terminal(&baseline));
    // Let the first run's connections close before the second opens as many.
    tokio::time::sleep(Duration::from_secs(5)).await;
    eprintln!("ims-bench: optimized at {}", args.url);
    let optimized = run_with(&optimized, &raw).await?;
    println!("{}", text::terminal(&optimized));
    let comparison = Comparison {
        baseline,
        optimized,
    };
    println!("{}", comparison.terminal());
    comparison.write(&out)?;
    eprintln!("ims-bench: reports in {}", out.display());
    Ok(())
}
