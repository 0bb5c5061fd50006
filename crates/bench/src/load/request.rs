//! One user's requests: its connection (opened again when the server closed it), a request
//! of the mix sent and recorded, and the logins due before it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng as SmallRng;
use rand::Rng;
use tokio::time::Instant;

use crate::http::{source_address, Answer, Conn};
use crate::mix::Op;
use crate::ops::{self, Ctx};
use crate::record::{Sample, STATUS_TIMEOUT, STATUS_TRANSPORT};
use crate::session::{self, Session};

use super::{Clock, Shared};

/// A user's connection, opened (again) when needed.
pub(crate) struct Line {
    conn: Option<Conn>,
    user: usize,
}

impl Line {
    /// A user's line, its connection not opened yet.
    pub(crate) fn new(user: usize) -> Self {
        Self { conn: None, user }
    }

    pub(crate) async fn get(&mut self, shared: &Shared) -> Option<&mut Conn> {
        if self.conn.as_ref().is_some_and(|c| !c.is_usable()) {
            self.drop_conn(shared);
        }
        if self.conn.is_none() {
            let _permit = shared.connecting.acquire().await.ok()?;
            let source = source_address(self.user, shared.source_addresses);
            let opened = tokio::time::timeout(shared.timeout, Conn::open(shared.target, source));
            match opened.await {
                Ok(Ok(conn)) => {
                    shared.open.fetch_add(1, Ordering::Relaxed);
                    self.conn = Some(conn);
                }
                _ => {
                    shared.connect_failures.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            }
        }
        self.conn.as_mut()
    }

    pub(crate) fn drop_conn(&mut self, shared: &Shared) {
        if self.conn.take().is_some() {
            shared.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Sends a planned request, keeping the answer's body only when settling needs it.
async fn exchange(
    conn: &mut Conn,
    planned: &ops::Planned,
) -> Result<(Answer, Bytes), hyper::Error> {
    if planned.reads_answer() {
        conn.send_reading(&planned.out).await
    } else {
        Ok((conn.send(&planned.out).await?, Bytes::new()))
    }
}

/// Sends one request of the mix on `line` and records it, timed from `due`: with the user's
/// own session and role when it has one, else with the store's shared sessions.
pub(super) async fn one_request(
    user: usize,
    (line, session): (&mut Line, Option<&Session>),
    rng: &mut SmallRng,
    (shared, clock): (&Shared, &Clock),
    due: Instant,
) {
    let store = &shared.ids.stores[shared.seat_of(user).store % shared.ids.stores.len()];
    let (tokens, picker) = match session {
        Some(s) => match &s.tokens {
            Some(tokens) => (tokens, &s.picker),
            None => return,
        },
        None => (&shared.tokens[user % shared.tokens.len()], &shared.picker),
    };
    let ctx = Ctx {
        sample: &shared.ids,
        mix: &shared.mix,
        store,
        tokens,
        password: &shared.password,
    };
    // A store may lack what an operation needs (no open jobs left); pick again, a few times,
    // then fall back to a product read, which every sample has.
    let planned = (0..4)
        .find_map(|_| ops::plan(picker.pick(rng.gen()), &ctx, rng))
        .or_else(|| ops::plan(Op::ProductById, &ctx, rng));
    let Some(planned) = planned else { return };
    let op = planned.op;
    let mut body = Bytes::new();
    let (status, cache) = match line.get(shared).await {
        None => (STATUS_TRANSPORT, crate::http::CacheSeen::None),
        Some(conn) => match tokio::time::timeout(shared.timeout, exchange(conn, &planned)).await {
            Ok(Ok((answer, read))) => {
                body = read;
                (answer.status, answer.cache)
            }
            Ok(Err(_)) => {
                line.drop_conn(shared);
                (STATUS_TRANSPORT, crate::http::CacheSeen::None)
            }
            Err(_) => {
                // The answer may still come; this connection is out of step now.
                line.drop_conn(shared);
                (STATUS_TIMEOUT, crate::http::CacheSeen::None)
            }
        },
    };
    let latency = Instant::now().saturating_duration_since(due);
    ops::settle(planned, store, (200..300).contains(&status), &body);
    shared.recorder.record(
        user,
        Sample {
            op,
            latency,
            status,
            cache,
            measured: due >= clock.measure_from && due < clock.end,
        },
    );
    if status == STATUS_TRANSPORT {
        // Do not spin on a refused connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Logs in whatever is due by now; true when the user has a session to send with (always,
/// for a user of the store's shared sessions). Waits for a logged-out user's next login, up
/// to `until`.
pub(super) async fn logged_in(
    user: usize,
    (line, session): (&mut Line, Option<&mut Session>),
    (shared, clock): (&Shared, &Clock),
    until: Instant,
) -> bool {
    let Some(session) = session else { return true };
    loop {
        let at = session.login_at(clock);
        let now = Instant::now();
        if now >= clock.end {
            return false;
        }
        if at <= now {
            session::log_in(user, line, session, shared, Some(clock)).await;
        } else if session.tokens.is_some() || at >= until.min(clock.end) {
            return session.tokens.is_some();
        } else {
            tokio::time::sleep_until(at).await;
        }
    }
}
