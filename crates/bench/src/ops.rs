//! Turns an operation of the mix into a request: which ids it picks (skewed, from the
//! virtual user's store) and which staff member's session sends it. What happens after the
//! answer (a workshop job goes back on its store's queue) is here too.

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
    /// A workshop job taken off its queue, with the status it moves to.
    pub job: Option<(JobRef, &'static str)>,
    /// The store's staff member logging in (index into `staff`).
    pub login: Option<usize>,
}

/// Plans `op`; `None` when the sample has nothing for it in this store (no open job left, no
/// customers), and the caller picks again.
pub fn plan(op: Op, ctx: &Ctx<'_>, rng: &mut impl Rng) -> Option<Planned> {
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
            let (next, note) = next_job_status(&taken.status);
            let path = format!("/api/v1/workshop/jobs/{}/status", taken.id);
            let body = json!({ "status": next, "note": note });
            job = Some((taken, next));
            send(Method::PATCH, path, &ctx.tokens.technician, body)
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

/// After the answer: a job moved on goes back at the end of its store's queue; one whose
/// move failed is dropped, since its status is no longer known. A login frees its account.
pub fn settle(planned: Planned, store: &StoreSample, ok: bool) {
    if let (Some(i), Ok(mut busy)) = (planned.login, store.logging_in.lock()) {
        busy.remove(&i);
    }
    if let (Some((mut job, next)), true) = (planned.job, ok) {
        job.status = next.to_owned();
        if let Ok(mut queue) = store.jobs.lock() {
            queue.push_back(job);
        }
    }
}

/// The next status of an open job, and the note: jobs cycle between work and quality check
/// (rework) so a long run never runs out of open jobs.
pub fn next_job_status(status: &str) -> (&'static str, &'static str) {
    match status {
        "queued" => ("in_progress", "ims-bench: started"),
        "in_progress" => ("quality_check", "ims-bench: fitted"),
        _ => ("in_progress", "ims-bench: rework"),
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
    fn jobs_cycle_without_ever_completing() {
        assert_eq!(next_job_status("queued").0, "in_progress");
        assert_eq!(next_job_status("in_progress").0, "quality_check");
        assert_eq!(next_job_status("quality_check").0, "in_progress");
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
