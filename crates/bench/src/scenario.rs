//! The scenarios (`--scenario`): which mix is sent and when each virtual user logs in. This
//! module is the pure part, the schedule and who each user is; the logins themselves go over
//! the user's own connection in `session`, and `load` runs them between the mix's requests.
//!
//! - `default`: every user is one staff member of its store with a session of its own. It
//!   logs in before the clock starts (the ramp) and again each time its session has lasted a
//!   shift. Stores' shifts do not all start at once: a user's first session is taken to have
//!   begun at a uniformly spread moment of the shift before, so re-logins arrive at the steady
//!   rate of users / shift, not all in one second a shift after the ramp.
//! - `login-heavy`: the mix as it was before (3% logins of a store's staff member), sent with
//!   the store's shared per-role sessions logged in once; kept so its figures reproduce.
//! - `opening-hour`: every user starts logged out and logs in at a uniformly random moment of
//!   the first `--login-window-secs` of the measured window, then sends the mix.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::mix::{Mix, Role};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    Default,
    LoginHeavy,
    OpeningHour,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Default => "default",
            Scenario::LoginHeavy => "login-heavy",
            Scenario::OpeningHour => "opening-hour",
        }
    }

    /// The built-in mix of the scenario (`--mix` replaces it).
    pub fn mix(self) -> Mix {
        match self {
            Scenario::LoginHeavy => Mix::login_heavy(),
            Scenario::Default | Scenario::OpeningHour => Mix::default(),
        }
    }

    /// Whether each user logs in itself (else the store's shared sessions are used).
    pub fn own_sessions(self) -> bool {
        self != Scenario::LoginHeavy
    }
}

/// When one user logs in, as offsets from the clock's start (the start of the warm-up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoginPlan {
    /// Logs in during the ramp, before the clock starts (not measured).
    pub at_ramp: bool,
    /// The first login on the clock.
    pub first: Duration,
    /// Then one every shift.
    pub shift: Duration,
}

impl LoginPlan {
    /// `default`: logged in at the ramp, `u` (uniform in [0, 1)) of the way through a shift;
    /// logs in again when that shift ends, then every shift.
    pub fn steady(shift: Duration, u: f64) -> Self {
        Self {
            at_ramp: true,
            first: shift.mul_f64(1.0 - u.clamp(0.0, 1.0)),
            shift,
        }
    }

    /// `opening-hour`: logged out until `u` of the way through the login window, which opens
    /// with the measured window (after the warm-up); then a login every shift.
    pub fn opening(warmup: Duration, window: Duration, shift: Duration, u: f64) -> Self {
        Self {
            at_ramp: false,
            first: warmup + window.mul_f64(u.clamp(0.0, 1.0)),
            shift,
        }
    }

    /// The `k`-th login on the clock (0 is the first).
    pub fn due(&self, k: u32) -> Duration {
        self.first.saturating_add(self.shift.saturating_mul(k))
    }

    /// How many logins fall due before `end` (from the clock's start).
    pub fn logins_before(&self, end: Duration) -> u32 {
        (0..).take_while(|k| self.due(*k) < end).count() as u32
    }
}

/// The role of user `user`, drawn so that the users' roles follow `shares` (the mix's
/// [`Mix::role_shares`]) however few they are: a golden-ratio sequence spreads them evenly,
/// and users of one store (every `stores`-th) get a mix of roles too.
pub fn role_of(user: usize, shares: [f64; 3]) -> Role {
    // The fractional parts of k·φ are as even as a sequence can be (three-distance theorem).
    let u = (user as f64 * 0.618_033_988_749_894_9).fract();
    let mut sum = 0.0;
    for (role, share) in Role::ALL.into_iter().zip(shares) {
        sum += share;
        if u < sum {
            return role;
        }
    }
    Role::Sales
}

/// Where a user of the own-session scenarios works: its store (an index into the sample's
/// stores) and its turn among that store's users of its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    pub store: usize,
    pub turn: usize,
}

/// Seats `users` users, of the roles [`role_of`] gives them, in `stores` stores: as many
/// stores take part as there are managers among the users (at least one, at most all), and
/// each role's users are dealt over those stores in turn. So every store that sells is
/// restocked: with users dealt over all stores regardless of role, 64 users of 50 stores had
/// six managers, and the other stores' best sellers ran out within minutes and answered 409
/// for every sale. A real chain's 64 staff on duty are a few whole stores, not one clerk in
/// each of fifty. A mix in which no manager sends anything uses every store; users too few
/// to include a manager work in one store.
pub fn seats(users: usize, shares: [f64; 3], stores: usize) -> Vec<Seat> {
    let stores = stores.max(1);
    let roles: Vec<Role> = (0..users).map(|user| role_of(user, shares)).collect();
    let managers = roles.iter().filter(|r| **r == Role::Manager).count();
    let open = if shares[Role::Manager.index()] <= 0.0 {
        stores
    } else {
        managers.clamp(1, stores)
    };
    let mut dealt = [0usize; 3];
    roles
        .iter()
        .map(|role| {
            let rank = &mut dealt[role.index()];
            let seat = Seat {
                store: *rank % open,
                turn: *rank / open,
            };
            *rank += 1;
            seat
        })
        .collect()
}

/// Which of `candidates` (the store's accounts with the role) the user with `turn` logs in
/// as: users of a store take its accounts in turn, so they spread over them as evenly as
/// they can.
pub fn account_of(turn: usize, candidates: usize) -> usize {
    if candidates == 0 {
        return 0;
    }
    turn % candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn steady_users_log_in_again_when_their_shift_ends_spread_over_the_shift() {
        let shift = 8 * HOUR;
        let plan = LoginPlan::steady(shift, 0.25);
        assert!(plan.at_ramp);
        assert_eq!(plan.due(0), 6 * HOUR);
        assert_eq!(plan.due(1), 14 * HOUR);
        assert_eq!(plan.due(2), 22 * HOUR);
        // A user just at the start of its shift waits a whole shift; none is due at once.
        assert_eq!(LoginPlan::steady(shift, 0.0).due(0), shift);
        assert!(LoginPlan::steady(shift, 0.999_999).due(0) > Duration::ZERO);

        // 10,000 users with evenly spread phases: a 60 s window sees users × 60 / shift.
        let n = 10_000;
        let window = Duration::from_secs(60);
        let logins: u32 = (0..n)
            .map(|i| LoginPlan::steady(shift, (i as f64 + 0.5) / n as f64).logins_before(window))
            .sum();
        assert_eq!(logins, 21, "10,000 × 60 s / 8 h = 20.8");
        // A short shift brings each user back every shift.
        let short = LoginPlan::steady(Duration::from_secs(10), 0.5);
        assert_eq!(short.logins_before(Duration::from_secs(30)), 3);
    }

    #[test]
    fn opening_hour_logins_spread_over_the_window_after_the_warm_up() {
        let (warmup, window) = (Duration::from_secs(20), Duration::from_secs(600));
        let plan = LoginPlan::opening(warmup, window, 8 * HOUR, 0.5);
        assert!(!plan.at_ramp);
        assert_eq!(plan.due(0), Duration::from_secs(320));
        assert_eq!(plan.due(1), Duration::from_secs(320) + 8 * HOUR);

        // Uniform draws land uniformly: each minute of the window gets a tenth of the users.
        let n = 10_000;
        let mut per_minute = [0usize; 10];
        for i in 0..n {
            let due =
                LoginPlan::opening(warmup, window, 8 * HOUR, (i as f64 + 0.5) / n as f64).due(0);
            assert!(due >= warmup && due < warmup + window);
            per_minute[((due - warmup).as_secs() / 60) as usize] += 1;
        }
        assert_eq!(per_minute, [1_000; 10]);
    }

    #[test]
    fn roles_follow_the_mix_even_for_few_users() {
        let shares = Mix::default().role_shares();
        let count = |n: usize, role: Role| (0..n).filter(|i| role_of(*i, shares) == role).count();
        let n = 10_000;
        for (role, share) in Role::ALL.into_iter().zip(shares) {
            let expected = share * n as f64;
            assert!((count(n, role) as f64 - expected).abs() < 10.0, "{role:?}");
        }
        // Fifty users (one per store at scale 1) still include managers and a technician.
        assert!(
            (3..=6).contains(&count(50, Role::Manager)),
            "{}",
            count(50, Role::Manager)
        );
        assert!(count(50, Role::Technician) >= 1);
        // Users of one store (every 50th) are not all of one role either.
        let store: Vec<Role> = (0..200)
            .step_by(50)
            .chain((200..10_000).step_by(50))
            .map(|i| role_of(i, shares))
            .collect();
        assert!(store.contains(&Role::Manager) && store.contains(&Role::Sales));
    }

    #[test]
    fn users_of_a_store_take_its_accounts_in_turn() {
        let picks: Vec<usize> = (0..4).map(|turn| account_of(turn, 2)).collect();
        assert_eq!(picks, [0, 1, 0, 1]);
        assert_eq!(account_of(7, 0), 0);
    }

    #[test]
    fn every_store_that_sells_has_a_manager_to_restock_it() {
        let shares = Mix::default().role_shares();
        for (users, stores) in [(64, 50), (8, 50), (500, 50), (10_000, 50), (64, 3)] {
            let seats = seats(users, shares, stores);
            assert_eq!(seats.len(), users);
            let with = |role: Role| -> std::collections::BTreeSet<usize> {
                (0..users)
                    .filter(|u| role_of(*u, shares) == role)
                    .map(|u| seats[u].store)
                    .collect()
            };
            let (managers, sellers) = (with(Role::Manager), with(Role::Sales));
            let managing = (0..users)
                .filter(|u| role_of(*u, shares) == Role::Manager)
                .count();
            if managing == 0 {
                let all: std::collections::BTreeSet<usize> =
                    seats.iter().map(|s| s.store).collect();
                assert_eq!(all.len(), 1, "{users} users without a manager: one store");
                continue;
            }
            assert!(
                sellers.is_subset(&managers),
                "{users} users in {stores} stores: sales in {sellers:?}, managers in {managers:?}"
            );
            assert_eq!(managers.len(), managing.min(stores), "{users} in {stores}");
        }
        // 10,000 users fill all fifty stores, each role spread evenly over them.
        let seats = seats(10_000, shares, 50);
        let mut sales = [0usize; 50];
        for (u, seat) in seats.iter().enumerate() {
            if role_of(u, shares) == Role::Sales {
                sales[seat.store] += 1;
            }
        }
        let (least, most) = (sales.iter().min(), sales.iter().max());
        assert!(
            most.zip(least).is_some_and(|(m, l)| m - l <= 1),
            "{sales:?}"
        );
    }

    #[test]
    fn a_mix_without_managers_uses_every_store() {
        let seats = seats(100, [1.0, 0.0, 0.0], 50);
        let stores: std::collections::BTreeSet<usize> = seats.iter().map(|s| s.store).collect();
        assert_eq!(stores.len(), 50);
        assert_eq!(seats[0], Seat { store: 0, turn: 0 });
        assert_eq!(seats[50], Seat { store: 0, turn: 1 });
    }
}
