//! A virtual user's own session (the `default` and `opening-hour` scenarios): who the user
//! is (one staff account of its store, with one role), its token, and its logins over its
//! own connection. When it logs in is `scenario`'s [`LoginPlan`]; `load` calls
//! [`log_in`] between the mix's requests. The `login-heavy` scenario has no `Session`: its
//! users send with the store's shared sessions of `setup`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use serde_json::json;
use tokio::time::Instant;

use crate::http::{CacheSeen, Outgoing};
use crate::load::{Clock, Line, Shared};
use crate::mix::{Mix, OpPicker, Role};
use crate::record::{Sample, STATUS_TIMEOUT, STATUS_TRANSPORT};
use crate::sample::{Sample as Ids, StaffRef};
use crate::scenario::{account_of, role_of, LoginPlan, Seat};
use crate::setup::StoreTokens;

/// A failed login is tried again after this.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One lock per account: several users may share an account (a scale-1 chain has 500 staff
/// for 10,000 users), and the service counts a login in flight against the account's throttle
/// (six at once would lock it for 15 minutes), so a user waits for the account's other
/// logins to finish, untimed: two people never type into one account at once.
pub struct AccountLocks(HashMap<String, tokio::sync::Mutex<()>>);

impl AccountLocks {
    pub fn new(ids: &Ids, admin: &str) -> Self {
        let logins = ids.accounts.iter().map(|a| a.login.clone());
        let map = logins
            .chain(std::iter::once(admin.to_owned()))
            .map(|login| (login, tokio::sync::Mutex::new(())))
            .collect();
        Self(map)
    }
}

/// The account a user seated at `seat` logs in as: one of its store's accounts with its role
/// (users of a store take them in turn), else the store's manager, else `admin` (as `setup`
/// does).
pub fn account_for(seat: Seat, role: Role, ids: &Ids, admin: &str) -> String {
    let store = ids.stores[seat.store % ids.stores.len().max(1)].id;
    let of = |role: Role| -> Vec<&StaffRef> {
        ids.accounts
            .iter()
            .filter(|a| a.has(role.name()) && a.store_ids.contains(&store))
            .collect()
    };
    let mut candidates = of(role);
    if candidates.is_empty() {
        candidates = of(Role::Manager);
    }
    match candidates.get(account_of(seat.turn, candidates.len())) {
        Some(account) => account.login.clone(),
        None => admin.to_owned(),
    }
}

/// One user's session.
pub struct Session {
    pub login: String,
    pub plan: LoginPlan,
    /// The user's requests, all of its role.
    pub picker: OpPicker,
    /// The user's token in every role's place (it only sends its role's operations).
    pub tokens: Option<StoreTokens>,
    /// Scheduled logins done so far.
    done: u32,
    /// After a failed login, when to try again.
    retry: Option<Instant>,
}

impl Session {
    pub fn new(
        user: usize,
        seat: Seat,
        mix: &Mix,
        ids: &Ids,
        admin: &str,
        plan: LoginPlan,
    ) -> Self {
        let role = role_of(user, mix.role_shares());
        Self {
            login: account_for(seat, role, ids, admin),
            plan,
            picker: mix.picker_for(role),
            tokens: None,
            done: 0,
            retry: None,
        }
    }

    /// When the next login is due: a retry, at once if the ramp's login failed, or the next
    /// one its [`LoginPlan`] schedules.
    pub fn login_at(&self, clock: &Clock) -> Instant {
        match self.retry {
            Some(at) => at,
            None if self.tokens.is_none() && self.plan.at_ramp => clock.start,
            None => clock.start + self.plan.due(self.done),
        }
    }

    /// After a login sent at `sent`: a token starts a session and counts off every scheduled
    /// login due by then; a failure is tried again shortly.
    fn finish(&mut self, token: Option<Arc<str>>, sent: Instant, clock: Option<&Clock>) {
        let Some(token) = token else {
            self.retry = Some(Instant::now() + RETRY_AFTER);
            return;
        };
        self.retry = None;
        self.tokens = Some(StoreTokens {
            manager: token.clone(),
            sales: token.clone(),
            technician: token,
        });
        if let Some(clock) = clock {
            while clock.start + self.plan.due(self.done) <= sent {
                self.done += 1;
            }
        }
    }
}

fn token_of(body: &Bytes) -> Option<Arc<str>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value["token"].as_str().map(Arc::from)
}

/// Logs `session` in over the user's connection. On the clock the login is recorded like any
/// request of the mix, timed from when it is sent (after the account's lock); during the ramp
/// (`clock` none) it is counted in the ramp's figures only.
pub(crate) async fn log_in(
    user: usize,
    line: &mut Line,
    session: &mut Session,
    shared: &Shared,
    clock: Option<&Clock>,
) {
    let out = Outgoing {
        method: Method::POST,
        path: "/api/v1/auth/login".into(),
        token: None,
        body: Some(Bytes::from(
            json!({ "login": session.login, "password": shared.password }).to_string(),
        )),
    };
    let _account = match shared.account_locks.0.get(&session.login) {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let sent = Instant::now();
    let (status, token) = match line.get(shared).await {
        None => (STATUS_TRANSPORT, None),
        Some(conn) => match tokio::time::timeout(shared.timeout, conn.send_reading(&out)).await {
            Ok(Ok((answer, body))) => (answer.status, token_of(&body)),
            Ok(Err(_)) => {
                line.drop_conn(shared);
                (STATUS_TRANSPORT, None)
            }
            Err(_) => {
                line.drop_conn(shared);
                (STATUS_TIMEOUT, None)
            }
        },
    };
    let latency = Instant::now().saturating_duration_since(sent);
    let token = token.filter(|_| (200..300).contains(&status));
    if clock.is_none() && token.is_none() {
        shared.ramp_login_failures.fetch_add(1, Ordering::Relaxed);
    }
    session.finish(token, sent, clock);
    if let Some(clock) = clock {
        shared.recorder.record(
            user,
            Sample {
                op: crate::mix::Op::Login,
                latency,
                status,
                cache: CacheSeen::None,
                measured: sent >= clock.measure_from && sent < clock.end,
            },
        );
    }
}

/// The ramp's login of a `default` user: a few at once (each is an argon2 hash on the
/// service), before the clock starts.
pub(crate) async fn ramp_login(
    user: usize,
    line: &mut Line,
    session: &mut Session,
    shared: &Shared,
) {
    if let Ok(_permit) = shared.ramp_logins.acquire().await {
        log_in(user, line, session, shared, None).await;
    }
    shared.ramp_logins_done.fetch_add(1, Ordering::Relaxed);
}
