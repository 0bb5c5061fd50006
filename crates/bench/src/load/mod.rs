//! The two load models. Closed: N virtual users, each on its own connection, send one
//! request after another (what "N concurrent users" means). Open: requests are due at a fixed
//! rate whatever the service does; each is timed from when it was due, not from when it could
//! be sent, so a slow answer that holds up the next request is not hidden (coordinated
//! omission). Users first open their connections and, in the `default` scenario, log in
//! (the ramp, not timed); then the warm-up, then the measured window, and they stop by
//! themselves. Logins on the clock (`session`) are sent between a user's requests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng as SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::OnceLock;

use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;

use crate::mix::{Mix, OpPicker};
use crate::record::Recorder;
use crate::sample::Sample as Ids;
use crate::scenario::{self, LoginPlan, Scenario, Seat};
use crate::session::{self, AccountLocks, Session};
use crate::setup::StoreTokens;

pub(crate) use request::Line;
use request::{logged_in, one_request};

mod request;

/// Connections being opened at once: more would overflow the server's accept backlog and
/// leave SYNs to be retried a second later, which is the tool's fault, not the service's.
const CONNECTING_AT_ONCE: usize = 128;
/// Ramp logins at once: the service hashes at most four per core and answers 503 after
/// three seconds of waiting for one, so more would only queue there.
const RAMP_LOGINS_AT_ONCE: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "model")]
pub enum Model {
    /// `users` virtual users, one connection each, pausing `think_ms` on average (drawn
    /// from an exponential distribution) between an answer and their next request.
    Closed {
        users: usize,
        #[serde(default)]
        think_ms: u64,
    },
    /// `rate` requests per second over up to `connections` connections.
    Open { rate: f64, connections: usize },
}

impl Model {
    pub fn connections(&self) -> usize {
        match self {
            Model::Closed { users, .. } => *users,
            Model::Open { connections, .. } => *connections,
        }
    }
}

/// Everything the users share.
pub struct Shared {
    pub ids: Ids,
    pub tokens: Vec<StoreTokens>,
    pub mix: Mix,
    pub picker: OpPicker,
    /// Where each user works, in the scenarios that give users sessions of their own.
    seats: Vec<Seat>,
    pub password: String,
    pub target: SocketAddr,
    pub source_addresses: usize,
    pub timeout: Duration,
    pub seed: u64,
    pub recorder: Recorder,
    /// Connections open now.
    pub open: AtomicUsize,
    pub connect_failures: AtomicU64,
    /// Open-model requests that were due but not sent before the end.
    pub unsent: AtomicU64,
    pub connecting: Semaphore,
    pub scenario: Scenario,
    shift: Duration,
    login_window: Duration,
    /// The administrator, the last fallback account of a user.
    admin: String,
    pub account_locks: AccountLocks,
    pub ramp_logins: Semaphore,
    /// Users whose ramp login is over (whatever its outcome), and how many failed.
    pub ramp_logins_done: AtomicUsize,
    pub ramp_login_failures: AtomicU64,
    warmup: Duration,
    duration: Duration,
    /// Set once every user is connected (or the ramp gave up); users wait for it.
    clock: OnceLock<Clock>,
    go: watch::Sender<bool>,
}

/// When the load starts, measuring starts, and everything stops.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: Instant,
    pub measure_from: Instant,
    pub end: Instant,
}

impl Shared {
    pub fn new(parts: SharedParts) -> Arc<Self> {
        let SharedParts {
            users,
            ids,
            tokens,
            mix,
            password,
            target,
            source_addresses,
            timeout,
            seed,
            warmup,
            duration,
            scenario,
            shift,
            login_window,
            admin,
        } = parts;
        let picker = mix.picker();
        let seats = if scenario.own_sessions() {
            scenario::seats(users, mix.role_shares(), ids.stores.len())
        } else {
            Vec::new()
        };
        let account_locks = AccountLocks::new(&ids, &admin);
        Arc::new(Shared {
            ids,
            tokens,
            picker,
            seats,
            mix,
            password,
            target,
            source_addresses,
            timeout,
            seed,
            recorder: Recorder::new(64),
            open: AtomicUsize::new(0),
            connect_failures: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            connecting: Semaphore::new(CONNECTING_AT_ONCE),
            scenario,
            shift,
            login_window,
            admin,
            account_locks,
            ramp_logins: Semaphore::new(RAMP_LOGINS_AT_ONCE),
            ramp_logins_done: AtomicUsize::new(0),
            ramp_login_failures: AtomicU64::new(0),
            warmup,
            duration,
            clock: OnceLock::new(),
            go: watch::Sender::new(false),
        })
    }

    /// Starts the clock: warm-up from now, then the measured window. Called once the
    /// connections are open.
    pub fn begin(&self) -> Clock {
        let start = Instant::now();
        let clock = *self.clock.get_or_init(|| Clock {
            start,
            measure_from: start + self.warmup,
            end: start + self.warmup + self.duration,
        });
        self.go.send_replace(true);
        clock
    }

    /// User `user`'s own session, when the scenario gives users one (drawn from its
    /// random stream, which `login-heavy` leaves as it was).
    fn session_of(&self, user: usize, rng: &mut SmallRng) -> Option<Session> {
        let plan = match self.scenario {
            Scenario::LoginHeavy => return None,
            Scenario::Default => LoginPlan::steady(self.shift, rng.gen()),
            Scenario::OpeningHour => {
                LoginPlan::opening(self.warmup, self.login_window, self.shift, rng.gen())
            }
        };
        let seat = self.seat_of(user);
        Some(Session::new(
            user,
            seat,
            &self.mix,
            &self.ids,
            &self.admin,
            plan,
        ))
    }

    /// Where user `user` works: its seat in the own-session scenarios; in `login-heavy`, the
    /// stores in turn, as before.
    fn seat_of(&self, user: usize) -> Seat {
        let stores = self.ids.stores.len().max(1);
        self.seats.get(user).copied().unwrap_or(Seat {
            store: user % stores,
            turn: user / stores,
        })
    }

    /// Waits for [`Shared::begin`].
    async fn started(&self) -> Option<Clock> {
        let mut go = self.go.subscribe();
        go.wait_for(|started| *started).await.ok()?;
        self.clock.get().copied()
    }
}

pub struct SharedParts {
    /// Users (or connections, in the open model).
    pub users: usize,
    pub ids: Ids,
    pub tokens: Vec<StoreTokens>,
    pub mix: Mix,
    pub password: String,
    pub target: SocketAddr,
    pub source_addresses: usize,
    pub timeout: Duration,
    pub seed: u64,
    pub warmup: Duration,
    pub duration: Duration,
    pub scenario: Scenario,
    /// How long a session lasts before its user logs in again.
    pub shift: Duration,
    /// `opening-hour`: the logins spread over this from the measured window's start.
    pub login_window: Duration,
    pub admin: String,
}

/// Starts the users of `model`: each opens its connection and waits for [`Shared::begin`];
/// the handles finish by the clock's end plus one request timeout.
pub fn start(model: Model, shared: &Arc<Shared>) -> Vec<tokio::task::JoinHandle<()>> {
    let n = model.connections().max(1);
    (0..n)
        .map(|i| {
            let shared = shared.clone();
            tokio::spawn(async move {
                match model {
                    Model::Closed { think_ms, .. } => {
                        closed_user(i, Duration::from_millis(think_ms), &shared).await
                    }
                    Model::Open { rate, connections } => {
                        open_worker(i, connections.max(1), rate, &shared).await
                    }
                }
            })
        })
        .collect()
}

/// When the `k`-th request of worker `worker` (of `workers`) is due, from the start: the
/// workers interleave, so together they send request `i = k * workers + worker` at `i / rate`.
pub fn due_offset(worker: usize, k: u64, workers: usize, rate: f64) -> Duration {
    let i = k as f64 * workers as f64 + worker as f64;
    Duration::from_secs_f64(i / rate)
}

/// A pause with mean `mean`, exponentially distributed (users act independently), from `u`
/// uniform in [0, 1); capped at ten times the mean.
pub fn think_time(mean: Duration, u: f64) -> Duration {
    let factor = -(1.0 - u).max(f64::MIN_POSITIVE).ln();
    mean.mul_f64(factor.min(10.0))
}

/// What a user or worker holds once the clock has started: its random source, its
/// connection and, in a scenario with logins, its session (logged in at the ramp if its
/// plan says so).
struct Started {
    rng: SmallRng,
    line: Line,
    session: Option<Session>,
    clock: Clock,
}

/// The start both models share: connect before the clock starts (so connection set-up is not
/// timed as a request), take a session, log in at the ramp, and wait for the clock. `None`
/// when the run ends before it starts.
async fn start_one(i: usize, shared: &Shared) -> Option<Started> {
    let mut rng = SmallRng::seed_from_u64(shared.seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
    let mut line = Line::new(i);
    let _ = line.get(shared).await;
    let mut session = shared.session_of(i, &mut rng);
    if let Some(s) = session.as_mut().filter(|s| s.plan.at_ramp) {
        session::ramp_login(i, &mut line, s, shared).await;
    }
    let clock = shared.started().await?;
    Some(Started {
        rng,
        line,
        session,
        clock,
    })
}

async fn closed_user(user: usize, think: Duration, shared: &Shared) {
    let Some(Started {
        mut rng,
        mut line,
        mut session,
        clock,
    }) = start_one(user, shared).await
    else {
        return;
    };
    if !think.is_zero() && shared.scenario != Scenario::OpeningHour {
        // Users arrive spread over a think time, not all in the first millisecond (at
        // opening hour they arrive with their logins).
        let first = think_time(think, rng.gen());
        tokio::time::sleep_until((Instant::now() + first).min(clock.end)).await;
    }
    while Instant::now() < clock.end {
        if !logged_in(
            user,
            (&mut line, session.as_mut()),
            (shared, &clock),
            clock.end,
        )
        .await
        {
            // Logged out with no login due before the end.
            tokio::time::sleep_until(clock.end).await;
            continue;
        }
        let sent = Instant::now();
        one_request(
            user,
            (&mut line, session.as_ref()),
            &mut rng,
            (shared, &clock),
            sent,
        )
        .await;
        if !think.is_zero() {
            let pause = think_time(think, rng.gen());
            tokio::time::sleep_until((Instant::now() + pause).min(clock.end)).await;
        }
    }
    line.drop_conn(shared);
}

async fn open_worker(worker: usize, workers: usize, rate: f64, shared: &Shared) {
    let Some(Started {
        mut rng,
        mut line,
        mut session,
        clock,
    }) = start_one(worker, shared).await
    else {
        return;
    };
    for k in 0.. {
        let due = clock.start + due_offset(worker, k, workers, rate);
        if due >= clock.end {
            break;
        }
        if Instant::now() >= clock.end {
            // Due before the end but never sent: the service (or this machine) fell behind.
            let left = (clock.end - due).as_secs_f64() * rate / workers as f64;
            shared
                .unsent
                .fetch_add(left.ceil() as u64, Ordering::Relaxed);
            break;
        }
        // Logins due before this request go first; a user not logged in yet (opening hour)
        // sends nothing, so the rate builds up as users arrive.
        let session_now = session.as_mut();
        if !logged_in(worker, (&mut line, session_now), (shared, &clock), due).await {
            continue;
        }
        tokio::time::sleep_until(due).await;
        one_request(
            worker,
            (&mut line, session.as_ref()),
            &mut rng,
            (shared, &clock),
            due,
        )
        .await;
    }
    // Hold the connection to the end, as the closed model does, even when this worker has
    // nothing more due.
    tokio::time::sleep_until(clock.end).await;
    line.drop_conn(shared);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_together_send_at_the_rate_in_order() {
        let (workers, rate) = (7, 350.0);
        let mut due: Vec<(Duration, usize)> = Vec::new();
        for w in 0..workers {
            for k in 0..50 {
                due.push((due_offset(w, k, workers, rate), w));
            }
        }
        due.sort();
        for (i, (at, worker)) in due.iter().enumerate() {
            let expected = i as f64 / rate;
            assert!((at.as_secs_f64() - expected).abs() < 1e-9, "request {i}");
            assert_eq!(*worker, i % workers);
        }
        // 350 workers-requests in the first second, whatever the number of workers.
        let first_second = due.iter().filter(|(at, _)| at.as_secs_f64() < 1.0).count();
        assert_eq!(first_second, 350);
    }

    #[test]
    fn think_times_average_the_mean_and_stay_bounded() {
        let mean = Duration::from_millis(1000);
        let n = 100_000;
        let total: f64 = (0..n)
            .map(|i| think_time(mean, (i as f64 + 0.5) / n as f64).as_secs_f64())
            .sum();
        assert!(
            (total / n as f64 - 1.0).abs() < 0.01,
            "{}",
            total / n as f64
        );
        assert_eq!(think_time(mean, 0.0), Duration::ZERO);
        assert!(think_time(mean, 0.999_999_999_9) <= mean * 10);
    }

    #[test]
    fn each_worker_is_spaced_by_workers_over_rate() {
        let gap = due_offset(3, 11, 10, 100.0) - due_offset(3, 10, 10, 100.0);
        assert!((gap.as_secs_f64() - 0.1).abs() < 1e-12);
    }
}
