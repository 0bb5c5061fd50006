//! Turns an operation of the mix into a request: which ids it picks (skewed, from the
//! virtual user's store) and which staff member's session sends it. What happens after the
//! answer (a workshop job goes back on its store's queue, or its successor joins it) is here
//! too.

use std::sync::Arc;

use bytes::Bytes;
use hyper::Method;
use rand::Rng;
use serde_json::json;

use crate::http::Outgoing;
use crate::mix::{Mix, Op};
use crate::sample::{JobRef, Sample, StoreSample};
use crate::setup::StoreTokens;

/// What a virtual user needs to plan its requests.
pub struct Ctx<'a> {
    pub sample: &'a Sample,
    pub mix: &'a Mix,
    pub store: &'a StoreSample,
    pub tokens: &'a StoreTokens,
    /// The password of the generated staff, for the login operation.
    pub password: &'a str,
}

/// A request and what to do with its answer.
pub struct Planned {
    pub op: Op,
    pub out: Outgoing,
    /// A workshop job taken off its queue, with the status it moves to (`queued` for a job
    /// being queued: its id is read from the answer).
    pub job: Option<(JobRef, &'static str)>,
    /// The store's staff member logging in (index into `staff`).
    pub login: Option<usize>,
}

/// Plans `op`; `None` when the sample has nothing for it in this store (no open job left, no
/// customers), and the caller picks again.
pub fn plan(mut op: Op, ctx: &Ctx<'_>, rng: &mut impl Rng) -> Option<Planned> {
    let store = ctx.store;
    let s = store.id;
    let get = |path: String, token: &Arc<str>| Outgoing {
        method: Method::GET,
        path,
        token: Some(token.clone()),
        body: None,
    };
    let send = |method: Method, path: String, token: &Arc<str>, body: serde_json::Value| Outgoing {
        method,
        path,
        token: Some(token.clone()),
        body: Some(Bytes::from(body.to_string())),
    };
    let sales = &ctx.tokens.sales;
    let manager = &ctx.tokens.manager;
    let mut job = None;
    let mut login_slot = None;
    let out = match op {
        Op::BrowseCategory => {
            let category = ctx.sample.categories.pick(rng.gen())?;
            let query = match rng.gen_range(0..20) {
                0..=13 => "",
                14..=16 => "?sort=price",
                _ => "?sort=-sales",
            };
            get(
                format!("/api/v1/categories/{category}/products{query}"),
                sales,
            )
        }
        Op::Search => {
            let word = ctx.sample.words.pick(rng.gen())?;
            let q = search_term(word, ctx.mix, rng);
            get(format!("/api/v1/products?q={}", percent_encode(&q)), sales)
        }
        Op::ProductById => {
            let p = ctx.sample.products.pick(rng.gen())?;
            get(format!("/api/v1/products/{}", p.id), sales)
        }
        Op::ProductBySku => {
            let p = ctx.sample.products.pick(rng.gen())?;
            get(
                format!("/api/v1/products/sku/{}", percent_encode(&p.sku)),
                sales,
            )
        }
        Op::Stock => {
            let p = store.stocked.pick(rng.gen())?;
            get(format!("/api/v1/stores/{s}/inventory/{p}"), sales)
        }
        Op::CustomerOrders => {
            let c = store.customers.pick(rng.gen())?;
            get(format!("/api/v1/customers/{c}/orders"), sales)
        }
        Op::Order => {
            let o = store.orders.pick(rng.gen())?;
            get(format!("/api/v1/orders/{o}"), sales)
        }
        Op::Dashboard => get(format!("/api/v1/dashboard/stats?storeId={s}"), manager),
        Op::Login => {
            let login = if store.staff.is_empty() {
                ctx.sample.accounts.first()?.login.as_str()
            } else {
                let i = free_staff(store, rng.gen_range(0..store.staff.len()))?;
                login_slot = Some(i);
                store.staff[i].as_str()
            };
            Outgoing {
                method: Method::POST,
                path: "/api/v1/auth/login".into(),
                token: None,
                body: Some(Bytes::from(
                    json!({ "login": login, "password": ctx.password }).to_string(),
                )),
            }
        }
        Op::PlaceOrder => {
            let customer = store.customers.pick(rng.gen())?;
            let first = *store.stocked.pick(rng.gen())?;
            let mut items = vec![json!({ "productId": first, "quantity": 1 })];
            if rng.gen_bool(0.3) {
                let second = *store.stocked.pick(rng.gen())?;
                if second != first {
                    items.push(json!({ "productId": second, "quantity": 1 }));
                }
            }
            let body = json!({ "storeId": s, "customerId": customer, "items": items });
            send(Method::POST, "/api/v1/orders".into(), sales, body)
        }
        Op::AdjustStock => {
            let p = store.stocked.pick(rng.gen())?;
            let body = json!({ "delta": rng.gen_range(5..=20), "reason": "ims-bench restock" });
            let path = format!("/api/v1/stores/{s}/inventory/{p}/adjustments");
            send(Method::POST, path, manager, body)
        }
        Op::WorkshopStatus => {
            let taken = store.jobs.lock().ok()?.pop_front()?;
            let technician = &ctx.tokens.technician;
            match next_job_step(&taken.status, rng) {
                JobStep::Move { to, note } => {
                    let path = format!("/api/v1/workshop/jobs/{}/status", taken.id);
                    let body = json!({ "status": to, "note": note });
                    job = Some((taken, to));
                    send(Method::PATCH, path, technician, body)
                }
                JobStep::QueueNext => {
                    op = Op::QueueJob;
                    let out = queue_job(taken.order_id, technician);
                    job = Some((taken, "queued"));
                    out
                }
            }
        }
        Op::QueueJob => {
            let order = *store.orders.pick(rng.gen())?;
            let placeholder = JobRef {
                id: uuid::Uuid::nil(),
                order_id: order,
                status: "completed".into(),
            };
            job = Some((placeholder, "queued"));
            queue_job(order, &ctx.tokens.technician)
        }
        Op::UpdateProduct => {
            // Uniform, not skewed: catalogue edits do not follow what sells.
            let items = ctx.sample.products.items();
            let p = &items[rng.gen_range(0..items.len())];
            // Up one rupee or back, so repeated runs leave prices where they were.
            let price = if rng.gen_bool(0.5) {
                p.price + 100
            } else {
                p.price
            };
            let body = json!({ "price": price });
            send(
                Method::PATCH,
                format!("/api/v1/products/{}", p.id),
                manager,
                body,
            )
        }
    };
    Some(Planned {
        op,
        out,
        job,
        login: login_slot,
    })
}

/// Takes the first staff member from `start` on who is not logging in already.
fn free_staff(store: &StoreSample, start: usize) -> Option<usize> {
    let mut busy = store.logging_in.lock().ok()?;
    let n = store.staff.len();
    let i = (0..n)
        .map(|k| (start + k) % n)
        .find(|i| !busy.contains(i))?;
    busy.insert(i);
    Some(i)
}

/// `POST /workshop/jobs` for `order`, as a technician queues the next job of an order.
fn queue_job(order: uuid::Uuid, technician: &Arc<str>) -> Outgoing {
    let body =
        json!({ "orderId": order, "priority": "normal", "instructions": "ims-bench: next job" });
    Outgoing {
        method: Method::POST,
        path: "/api/v1/workshop/jobs".into(),
        token: Some(technician.clone()),
        body: Some(Bytes::from(body.to_string())),
    }
}

impl Planned {
    /// Whether the answer's body is needed afterwards (a queued job's id).
    pub fn reads_answer(&self) -> bool {
        self.op == Op::QueueJob
    }
}

/// After the answer: a job moved on goes back at the end of its store's queue, and a queued
/// one joins it with the id in `answer`; a job whose move failed is dropped, since its status
/// is no longer known. A login frees its account.
pub fn settle(planned: Planned, store: &StoreSample, ok: bool, answer: &[u8]) {
    if let (Some(i), Ok(mut busy)) = (planned.login, store.logging_in.lock()) {
        busy.remove(&i);
    }
    let queued = planned.reads_answer();
    let Some((mut job, next)) = planned.job.filter(|_| ok) else {
        return;
    };
    if queued {
        match created_id(answer) {
            Some(id) => job.id = id,
            None => return,
        }
    }
    job.status = next.to_owned();
    if let Ok(mut queue) = store.jobs.lock() {
        queue.push_back(job);
    }
}

/// The `id` of a created resource's answer.
fn created_id(answer: &[u8]) -> Option<uuid::Uuid> {
    #[derive(serde::Deserialize)]
    struct Created {
        id: uuid::Uuid,
    }
    serde_json::from_slice::<Created>(answer).ok().map(|c| c.id)
}

/// One quality check in five sends the job back to work (the contract's rework).
const REWORK_SHARE: f64 = 0.2;

/// What a technician does next with a job in `status`.
#[derive(Debug, PartialEq, Eq)]
pub enum JobStep {
    Move {
        to: &'static str,
        note: &'static str,
    },
    /// The job is done (or was cancelled by someone else): the order's next job is queued in
    /// its place. So a long run keeps as many open jobs as it started with, and no job gathers
    /// the endless history that cycling it would (each move reads and returns the history).
    QueueNext,
}

/// A job goes forward through the contract's steps, with rework after one check in five.
pub fn next_job_step(status: &str, rng: &mut impl Rng) -> JobStep {
    let step = |to, note| JobStep::Move { to, note };
    match status {
        "queued" => step("in_progress", "ims-bench: started"),
        "in_progress" => step("quality_check", "ims-bench: fitted"),
        "quality_check" if rng.gen_bool(REWORK_SHARE) => step("in_progress", "ims-bench: rework"),
        "quality_check" => step("completed", "ims-bench: passed"),
        _ => JobStep::QueueNext,
    }
}

/// A search as people type it: the word, a prefix of it, or the word with two letters
/// swapped, in the mix's shares.
pub fn search_term(word: &str, mix: &Mix, rng: &mut impl Rng) -> String {
    let chars: Vec<char> = word.chars().collect();
    let u: f64 = rng.gen();
    if u < mix.search.prefix_share && chars.len() > 4 {
        let n = rng.gen_range(3..=5.min(chars.len() - 1));
        return chars[..n].iter().collect();
    }
    if u < mix.search.prefix_share + mix.search.typo_share && chars.len() >= 5 {
        let mut typo = chars.clone();
        let i = rng.gen_range(1..chars.len() - 2);
        typo.swap(i, i + 1);
        return typo.into_iter().collect();
    }
    word.to_owned()
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn jobs_go_forward_to_completion_and_are_then_replaced() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let to = |step| match step {
            JobStep::Move { to, .. } => to,
            JobStep::QueueNext => "queued next",
        };
        assert_eq!(to(next_job_step("queued", &mut rng)), "in_progress");
        assert_eq!(to(next_job_step("in_progress", &mut rng)), "quality_check");
        assert_eq!(next_job_step("completed", &mut rng), JobStep::QueueNext);
        assert_eq!(next_job_step("cancelled", &mut rng), JobStep::QueueNext);
        let reworked = (0..10_000)
            .filter(|_| to(next_job_step("quality_check", &mut rng)) == "in_progress")
            .count();
        assert!((1_800..2_200).contains(&reworked), "{reworked}");
    }

    #[test]
    fn a_queued_job_takes_the_id_of_the_answer() {
        let id = "0190b3d4-7c1e-7a3b-9f00-000000000001";
        let answer = format!(r#"{{"id":"{id}","jobNumber":"JOB-2026-000001"}}"#);
        assert_eq!(
            created_id(answer.as_bytes()).map(|u| u.to_string()),
            Some(id.into())
        );
        assert_eq!(created_id(b"{\"error\":{}}"), None);
        assert_eq!(created_id(b""), None);
    }

    #[test]
    fn search_terms_are_words_prefixes_or_typos_in_the_mix_shares() {
        let mix = Mix::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (mut whole, mut prefix, mut typo) = (0, 0, 0);
        for _ in 0..10_000 {
            let term = search_term("titanium", &mix, &mut rng);
            if term == "titanium" {
                whole += 1;
            } else if "titanium".starts_with(&term) {
                assert!((3..=5).contains(&term.len()));
                prefix += 1;
            } else {
                assert_eq!(term.len(), 8);
                typo += 1;
            }
        }
        assert!((1_800..2_200).contains(&prefix), "{prefix}");
        assert!((800..1_200).contains(&typo), "{typo}");
        assert!(whole > 6_000);
        // Short words stay whole rather than becoming one or two letters.
        assert_eq!(search_term("lens", &mix, &mut rng), "lens");
    }

    #[test]
    fn percent_encoding_keeps_unreserved_characters() {
        assert_eq!(percent_encode("ray-ban_1.5~"), "ray-ban_1.5~");
        assert_eq!(percent_encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
    }
}
