//! Prescriptions: most come from the eye test before a spectacles order (the patient is the
//! buyer or a family member), tested up to two weeks earlier; each expires two years after its
//! test and is `expired` once past that, else `active` for the patient's latest test and
//! `superseded` for older ones. The eye values themselves come from `eyes`.

use std::collections::HashMap;

use rand::Rng;
use uuid::Uuid;

use super::copy::{Sent, Sink};
use super::customers::Customer;
use super::eyes::write_eyes;
use super::orders::OrderPlan;
use super::rng::{between, chance, pick, stream, uuid_v7, GenRng, Stream};
use super::stores::StoreStaff;
use super::time::{add_months, OrderClock, DAY, MINUTE};

pub(crate) struct Prescription {
    pub id: Uuid,
    pub customer: u32,
    pub patient: u32,
    pub store: u32,
    pub created: i64,
    pub test_day: i64,
    pub expires_day: i64,
    pub status: &'static str,
}

pub(crate) struct PrescriptionPlan {
    pub prescriptions: Vec<Prescription>,
    /// The prescription of each job (by job ordinal, in order of the orders), if any.
    pub of_job: Vec<Option<u32>>,
}

/// Who the patient is when `customer` buys: usually themselves, sometimes family.
fn patient_of(rng: &mut GenRng, customer: usize, customers: &[Customer], child_of: &[u32]) -> u32 {
    let family = customers[customer].family;
    if family as usize != customer && chance(rng, 0.5) {
        family
    } else if child_of[customer] != u32::MAX && chance(rng, 0.3) {
        child_of[customer]
    } else {
        customer as u32
    }
}

pub(crate) fn plan_prescriptions(
    seed: u64,
    n: usize,
    orders: &[OrderPlan],
    customers: &[Customer],
    clock: &OrderClock,
    now: i64,
) -> PrescriptionPlan {
    let mut rng = stream(seed, Stream::Prescriptions);
    let mut child_of = vec![u32::MAX; customers.len()];
    for (i, c) in customers.iter().enumerate() {
        if c.family as usize != i {
            child_of[c.family as usize] = i as u32;
        }
    }
    let jobs: Vec<&OrderPlan> = orders.iter().filter(|o| o.job).collect();
    // Most tests lead to a spectacles order; the rest are older tests (1–3 years before the
    // history starts) of customers who buy, so some have expired.
    let linked = (n * 85 / 100).max(1).min(jobs.len());
    let mut prescriptions = Vec::with_capacity(n);
    let mut of_job = vec![None; jobs.len()];
    let mut left = linked;
    for (k, order) in jobs.iter().enumerate() {
        if rng.gen_range(0..jobs.len() - k) >= left {
            continue;
        }
        left -= 1;
        let created = if chance(&mut rng, 0.7) {
            order.created - between(&mut rng, 10 * MINUTE, 60 * MINUTE)
        } else {
            order.created - between(&mut rng, DAY, 14 * DAY)
        };
        let customer = order.customer as usize;
        let patient = patient_of(&mut rng, customer, customers, &child_of);
        of_job[k] = Some(prescriptions.len() as u32);
        prescriptions.push(draft(
            &mut rng,
            customer as u32,
            patient,
            order.store,
            created,
        ));
    }
    while prescriptions.len() < n {
        let order = &orders[rng.gen_range(0..orders.len())];
        let customer = order.customer as usize;
        let patient = patient_of(&mut rng, customer, customers, &child_of);
        let created = clock.sample(&mut rng) - between(&mut rng, 365, 3 * 365) * DAY;
        let store = customers[customer].home_store;
        prescriptions.push(draft(&mut rng, customer as u32, patient, store, created));
    }
    set_statuses(&mut prescriptions, now.div_euclid(DAY));
    PrescriptionPlan {
        prescriptions,
        of_job,
    }
}

fn draft(rng: &mut GenRng, customer: u32, patient: u32, store: u32, created: i64) -> Prescription {
    let test_day = created.div_euclid(DAY);
    Prescription {
        id: uuid_v7(rng, created),
        customer,
        patient,
        store,
        created,
        test_day,
        expires_day: add_months(test_day, 24),
        status: "active",
    }
}

/// `expired` past expiry; otherwise the latest test of each patient is `active`, older ones
/// `superseded`.
fn set_statuses(prescriptions: &mut [Prescription], today: i64) {
    let mut latest: HashMap<u32, (i64, usize)> = HashMap::new();
    for (i, p) in prescriptions.iter().enumerate() {
        let entry = latest.entry(p.patient).or_insert((p.created, i));
        if (p.created, i) > *entry {
            *entry = (p.created, i);
        }
    }
    for (i, p) in prescriptions.iter_mut().enumerate() {
        p.status = if p.expires_day < today {
            "expired"
        } else if latest.get(&p.patient).is_some_and(|(_, last)| *last == i) {
            "active"
        } else {
            "superseded"
        };
    }
}

const NOTES: &[&str] = &[
    "",
    "",
    "",
    "",
    "",
    "Computer use: blue-cut lenses recommended.",
    "Review in 12 months.",
    "Night driving: anti-glare coating advised.",
    "First progressive pair; adaptation explained.",
    "Myopia progressing; review in 6 months.",
    "Dry eyes: lubricating drops advised.",
];

pub(crate) fn emit_prescriptions(
    sink: &mut Sink,
    seed: u64,
    plan: &PrescriptionPlan,
    customers: &[Customer],
    staff: &StoreStaff,
    today: i64,
) -> Sent {
    sink.copy(
        "prescriptions",
        "prescriptions",
        "id, customer_id, patient_id, test_date, expires_at, right_eye, left_eye, notes, status, \
         created_by, created_at, updated_at",
        true,
    )?;
    let mut rng = stream(seed, Stream::Eyes);
    let (mut right, mut left) = (Vec::with_capacity(128), Vec::with_capacity(128));
    for p in &plan.prescriptions {
        let patient = &customers[p.patient as usize];
        let years_ago = u8::try_from((today - p.test_day) / 365).unwrap_or(u8::MAX);
        let age = patient.age.saturating_sub(years_ago);
        write_eyes(
            &mut rng,
            seed,
            p.patient,
            age,
            p.test_day,
            (&mut right, &mut left),
        );
        let optometrist = staff.optometrist(&mut rng, p.store as usize).copied();
        let note = *pick(&mut rng, NOTES);
        sink.row(|r| {
            r.uuid(&p.id)
                .uuid(&customers[p.customer as usize].id)
                .uuid(&patient.id)
                .date(p.test_day)
                .date(p.expires_day)
                .raw(&right)
                .raw(&left)
                .text(note)
                .text(p.status)
                .opt_uuid(optometrist.as_ref())
                .timestamp(p.created)
                .timestamp(p.created);
        })?;
    }
    sink.end_copy()
}

/// The earliest moment each customer was seen as buyer or patient of a test.
pub(crate) fn note_first_seen(plan: &PrescriptionPlan, first_seen: &mut [i64]) {
    for p in &plan.prescriptions {
        for who in [p.customer, p.patient] {
            let seen = &mut first_seen[who as usize];
            *seen = (*seen).min(p.created);
        }
    }
}
