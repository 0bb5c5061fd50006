//! One run, start to end: sample ids (unless given), log the sessions in (the stores' shared
//! ones, or each user its own during the ramp, by scenario), start the users,
//! tick the timeline and the progress line, read the database's and the processes' counters
//! at the measured window's edges, stop, and assemble the report.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::counters;
use crate::cpu;
use crate::dbstat::{self, DbWatch};
use crate::dbwait;
use crate::error::{Error, Result};
use crate::load::{self, Clock, Model, Shared, SharedParts};
use crate::mix::Mix;
use crate::progress::Progress;
use crate::report::{self, Connections, Measured, Meta, Report, Tick};
use crate::sample::{self, RawSample, Sample};
use crate::scenario::Scenario;
use crate::setup::{self, SetupClient};

/// Longest run accepted (warm-up plus measured): loops must end by themselves.
pub const MAX_RUN: Duration = Duration::from_secs(3600);
/// Longest the connections may take to open before the clock starts anyway.
const RAMP_LIMIT: Duration = Duration::from_secs(120);
/// Longest the `default` scenario's users may take to log in before the clock starts anyway
/// (10,000 argon2 logins take a couple of minutes on two cores).
const LOGIN_RAMP_LIMIT: Duration = Duration::from_secs(900);

pub use options::RunOptions;

mod options;

/// Reads the sample: from `database_url` when given, else over the API as `login`.
pub async fn sample_ids(opts: &RunOptions, database_url: Option<&str>) -> Result<RawSample> {
    match database_url {
        Some(url) => sample::from_database(url, &opts.mix.sample).await,
        None => {
            let (_, base) = opts.target()?;
            let client = SetupClient::new(&base)?
                .logged_in(&opts.login, &opts.password)
                .await?;
            sample::from_api(&client, &opts.mix.sample).await
        }
    }
}

/// Samples, then runs.
pub async fn run(opts: &RunOptions) -> Result<Report> {
    let raw = sample_ids(opts, opts.database_url.as_deref()).await?;
    run_with(opts, &raw).await
}

/// Runs the load of `opts` with ids already sampled.
pub async fn run_with(opts: &RunOptions, raw: &RawSample) -> Result<Report> {
    opts.check()?;
    let (target, base) = opts.target()?;
    let mut notes = Vec::new();
    notes.extend(crate::limits::raise_for(opts.model.connections()));
    let ids = Sample::build(raw, &opts.mix)?;
    let tokens = if opts.scenario.own_sessions() {
        Vec::new()
    } else {
        let client = SetupClient::new(&base)?;
        setup::sessions(&client, &ids, &opts.login, &opts.password).await?
    };
    let mut watch = match &opts.database_url {
        Some(url) => Some(DbWatch::connect(url).await?),
        None => None,
    };
    let cpu_targets = cpu::Targets {
        service_port: target.ip().is_loopback().then_some(target.port()),
        redis_port: opts.redis_port,
        database_port: opts.database_url.as_deref().and_then(database_port),
    };
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    let shared = Shared::new(SharedParts {
        users: opts.model.connections(),
        ids,
        tokens,
        mix: opts.mix.clone(),
        password: opts.password.clone(),
        target,
        source_addresses: opts.source_addresses,
        timeout: opts.timeout,
        seed: opts.seed,
        warmup: opts.warmup,
        duration: opts.duration,
        scenario: opts.scenario,
        shift: opts.shift,
        login_window: opts.login_window,
        admin: opts.login.clone(),
    });
    let users = load::start(opts.model, &shared);
    let ramp = ramp(&shared, opts.model.connections(), opts.progress).await;
    if ramp.0 < opts.model.connections() {
        notes.push(format!(
            "only {} of {} connections were open after the {} s the ramp may take",
            ramp.0,
            opts.model.connections(),
            RAMP_LIMIT.as_secs()
        ));
    }
    notes.push(format!(
        "connections opened in {:.1} s before the warm-up (not timed)",
        ramp.1.as_secs_f64()
    ));
    if opts.scenario == Scenario::Default {
        notes.push(login_ramp(&shared, opts.model.connections(), opts.progress).await);
    }
    let clock = shared.begin();
    let ticker = tokio::spawn(tick(shared.clone(), clock, opts.model, opts.progress));

    // The service's /metrics is at its root, beside /api/v1.
    let metrics_client = reqwest::Client::new();
    tokio::time::sleep_until(clock.measure_from).await;
    let db_before = match watch.as_mut() {
        Some(w) => Some(w.snapshot().await?),
        None => None,
    };
    let sampler = match &opts.database_url {
        Some(url) => Some(dbwait::Sampler::start(url).await),
        None => None,
    };
    let counters_before = counters::read(&metrics_client, &base).await;
    let cpu_before = cpu::read(&cpu_targets);
    let window_start = Instant::now();
    tokio::time::sleep_until(clock.end).await;
    let cpu_after = cpu::read(&cpu_targets);
    let secs = window_start.elapsed().as_secs_f64();
    // A diagnostic: a database that refuses it (or fails it) still gets its run, with a note.
    let db_waits = match sampler {
        Some(started) => match async { started?.finish().await }.await {
            Ok(waits) => Some(waits),
            Err(e) => {
                notes.push(format!("the database's waits were not sampled: {e}"));
                None
            }
        },
        None => None,
    };
    let counters_after = counters::read(&metrics_client, &base).await;
    let by_cache_type = match (&counters_before, &counters_after) {
        (Some(before), Some(after)) => Some(counters::delta(before, after)),
        _ => {
            notes.push(format!(
                "{base}/metrics could not be read: no hit rates by cache type"
            ));
            None
        }
    };
    let db = match (watch.as_mut(), db_before) {
        (Some(w), Some(before)) => Some(dbstat::delta(&before, &w.snapshot().await?, 12)),
        _ => None,
    };
    if let Some(w) = watch {
        w.close().await;
    }

    // Users stop by themselves within one request timeout of the end; past that, stop them.
    let deadline = clock.end + opts.timeout + Duration::from_secs(2);
    for user in users {
        let abort = user.abort_handle();
        if tokio::time::timeout_at(deadline, user).await.is_err() {
            abort.abort();
        }
    }
    let (timeline, min_held, max_held) = ticker
        .await
        .map_err(|e| Error::Service(format!("ticker: {e}")))?;
    let cpu = cpu_targets
        .service_port
        .map(|_| cpu::split(&cpu_before, &cpu_after, secs));
    let unsent = shared.unsent.load(Ordering::Relaxed);
    if unsent > 0 {
        notes.push(format!(
            "{unsent} requests were due but never sent: the open model's connections were all \
             waiting on answers (raise --connections, or the service is saturated)"
        ));
    }
    let meta = Meta {
        label: opts.label.clone(),
        target: base,
        model: opts.model,
        warmup_secs: opts.warmup.as_secs_f64(),
        duration_secs: opts.duration.as_secs_f64(),
        started_at,
        scenario: opts.scenario,
        mix: mix_shares(&opts.mix),
    };
    let measured = Measured {
        timeline,
        connections: Connections {
            wanted: opts.model.connections(),
            min_held,
            max_held,
            connect_failures: shared.connect_failures.load(Ordering::Relaxed),
        },
        unsent,
        db,
        db_waits,
        cpu,
        by_cache_type,
        notes,
    };
    Ok(report::assemble(meta, &shared.recorder.totals(), measured))
}

fn mix_shares(mix: &Mix) -> BTreeMap<String, f64> {
    mix.weights
        .shares()
        .into_iter()
        .filter(|(_, s)| *s > 0.0)
        .map(|(op, s)| (op.name().to_owned(), s))
        .collect()
}

/// The port of a PostgreSQL URL on this machine (none for a remote database).
fn database_port(url: &str) -> Option<u16> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    local.then(|| parsed.port().unwrap_or(5432))
}

/// Waits until `wanted` connections are open (or [`RAMP_LIMIT`]); returns how many and how
/// long it took.
async fn ramp(shared: &Shared, wanted: usize, progress: bool) -> (usize, Duration) {
    let started = Instant::now();
    let mut last_note = started;
    loop {
        let open = shared.open.load(Ordering::Relaxed);
        let failed = shared.connect_failures.load(Ordering::Relaxed);
        // Every user has tried once when opened plus failed attempts reach `wanted`.
        if open + failed as usize >= wanted || started.elapsed() >= RAMP_LIMIT {
            return (open, started.elapsed());
        }
        if progress && last_note.elapsed() >= Duration::from_secs(5) {
            eprintln!("connecting: {open} of {wanted} open ({failed} attempts failed)");
            last_note = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every user's ramp login is over (or [`LOGIN_RAMP_LIMIT`]); returns the note
/// for the report.
async fn login_ramp(shared: &Shared, users: usize, progress: bool) -> String {
    let started = Instant::now();
    let mut last_note = started;
    loop {
        let done = shared.ramp_logins_done.load(Ordering::Relaxed);
        let failed = shared.ramp_login_failures.load(Ordering::Relaxed);
        let secs = started.elapsed().as_secs_f64();
        if done >= users {
            return format!(
                "{users} users logged in, each itself, in {secs:.1} s before the warm-up                  (not timed; {failed} failed and log in on the clock)"
            );
        }
        if started.elapsed() >= LOGIN_RAMP_LIMIT {
            return format!(
                "only {done} of {users} users had logged in after {secs:.0} s; the rest log in                  on the clock ({failed} failed)"
            );
        }
        if progress && last_note.elapsed() >= Duration::from_secs(5) {
            eprintln!("logging in: {done} of {users} users ({failed} failed)");
            last_note = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every second until the end: a timeline point, the progress line, and the fewest and most
/// connections held inside the measured window.
async fn tick(
    shared: Arc<Shared>,
    clock: Clock,
    model: Model,
    progress: bool,
) -> (Vec<Tick>, usize, usize) {
    let progress = Progress::new(progress);
    let mut interval =
        tokio::time::interval_at(clock.start + Duration::from_secs(1), Duration::from_secs(1));
    let (mut timeline, mut min_held, mut max_held) = (Vec::new(), usize::MAX, 0);
    let total = (clock.end - clock.start).as_secs();
    for second in 1u32.. {
        let now = interval.tick().await;
        let window = shared.recorder.take_window();
        let connections = shared.open.load(Ordering::Relaxed);
        let measured = now > clock.measure_from && now <= clock.end + Duration::from_millis(500);
        // Strictly inside the window: at its end users close their connections.
        if now > clock.measure_from && now + Duration::from_millis(100) < clock.end {
            min_held = min_held.min(connections);
            max_held = max_held.max(connections);
        }
        let h = &window.latency;
        let q = |quantile| {
            if h.is_empty() {
                0.0
            } else {
                report::ms(h.value_at_quantile(quantile))
            }
        };
        let point = Tick {
            second,
            measured,
            requests: h.len(),
            errors: window.errors,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            connections,
        };
        let phase = if now <= clock.measure_from {
            "warm-up"
        } else {
            "measuring"
        };
        let wanted = match model {
            Model::Closed { users, .. } => format!("{users} users"),
            Model::Open { rate, .. } => format!("{rate:.0}/s due"),
        };
        progress.update(
            second,
            &format!(
                "{phase} {second}/{total}s  {wanted}  {} answers/s  P50 {:.1} ms  P99 {:.1} ms  errors {}  connections {}",
                point.requests, point.p50_ms, point.p99_ms, point.errors, connections
            ),
        );
        if now <= clock.end + Duration::from_millis(500) {
            timeline.push(point);
        } else {
            break;
        }
    }
    progress.finish();
    (
        timeline,
        if min_held == usize::MAX { 0 } else { min_held },
        max_held,
    )
}
