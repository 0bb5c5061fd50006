//! Workshop jobs, one per spectacles order: its number, priority, instructions naming the
//! frame and lenses, and its history — every status change with who and when — replayed
//! from the order's own moments, so a job is completed exactly when its order became ready,
//! cancelled when the order was, and in the queue or on the bench while the order waits.

use rand::Rng;
use uuid::Uuid;

use super::categories::Kind;
use super::copy::{Sent, Sink};
use super::orders::{OrderPlan, NEVER};
use super::prescriptions::PrescriptionPlan;
use super::products::Product;
use super::rng::{between, chance, pick, stream, uuid_v7, GenRng, Stream};
use super::stores::{Store, StoreStaff};
use super::time::{push_date, year_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobStatus {
    Queued,
    InProgress,
    QualityCheck,
    Completed,
    Cancelled,
}

impl JobStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::InProgress => "in_progress",
            JobStatus::QualityCheck => "quality_check",
            JobStatus::Completed => "completed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

pub(crate) struct Step {
    pub from: Option<JobStatus>,
    pub to: JobStatus,
    pub at: i64,
    pub note: &'static str,
    pub by: Option<Uuid>,
}

pub(crate) struct Job {
    pub id: Uuid,
    pub number: String,
    pub order: usize,
    pub prescription: Option<u32>,
    pub priority: &'static str,
    pub instructions: String,
    pub created_by: Option<Uuid>,
    pub created: i64,
    pub steps: Vec<Step>,
}

impl Job {
    pub(crate) fn status(&self) -> JobStatus {
        self.steps.last().map_or(JobStatus::Queued, |s| s.to)
    }
}

const EXTRAS: &[&str] = &[
    "",
    "",
    "",
    " Customer prefers thin edges.",
    " Tint: grey 20%.",
    " Match the fitting height of the old pair.",
    " Customer travelling: deliver on time.",
    " Polish edges.",
];

fn instructions(
    rng: &mut GenRng,
    order: &OrderPlan,
    products: &[Product],
    tested: Option<i64>,
) -> String {
    let name_of = |kind: Kind| {
        order
            .lines()
            .iter()
            .map(|l| &products[l.product as usize])
            .find(|p| p.kind == kind)
            .map(|p| p.name.as_str())
    };
    let mut text = match (name_of(Kind::Lens), name_of(Kind::Frame)) {
        (Some(lens), Some(frame)) => format!("Fit {lens} into {frame}."),
        (Some(lens), None) => format!("Fit {lens} into the customer's own frame."),
        (None, Some(frame)) => format!("Glaze {frame} with demo-free clear lenses."),
        (None, None) => "Adjust and clean the customer's spectacles.".to_owned(),
    };
    if let Some(day) = tested {
        let mut date = Vec::new();
        push_date(&mut date, day);
        text.push_str(&format!(
            " Per the prescription of {}.",
            String::from_utf8_lossy(&date)
        ));
    }
    let extra = *pick(rng, EXTRAS);
    text.push_str(extra);
    text
}

/// Plans every job and its history up to `now`.
pub(crate) fn plan_jobs(
    seed: u64,
    orders: &[OrderPlan],
    prescriptions: &PrescriptionPlan,
    products: &[Product],
    staff: &StoreStaff,
    now: i64,
) -> Vec<Job> {
    let mut rng = stream(seed, Stream::Jobs);
    let mut jobs = Vec::with_capacity(prescriptions.of_job.len());
    for (index, order) in orders.iter().enumerate().filter(|(_, o)| o.job) {
        let k = jobs.len();
        let store = order.store as usize;
        let created = (order.created + between(&mut rng, 30_000, 60_000)).min(now);
        let prescription = prescriptions.of_job.get(k).copied().flatten();
        let tested = prescription.map(|p| prescriptions.prescriptions[p as usize].test_day);
        let priority = match rng.gen_range(0..100) {
            0..=11 => "low",
            12..=71 => "normal",
            72..=91 => "high",
            _ => "urgent",
        };
        let seller = staff.seller(&mut rng, store).copied();
        let technician = staff.technician(&mut rng, store).copied();
        let steps = history(&mut rng, order, created, now, seller, technician);
        jobs.push(Job {
            id: uuid_v7(&mut rng, created),
            number: format!("JOB-{}-{:06}", year_of(created), k + 1),
            order: index,
            prescription,
            priority,
            instructions: instructions(&mut rng, order, products, tested),
            created_by: seller,
            created,
            steps,
        });
    }
    jobs
}

/// The status changes of the job of `order` up to `now`.
fn history(
    rng: &mut GenRng,
    order: &OrderPlan,
    created: i64,
    now: i64,
    seller: Option<Uuid>,
    technician: Option<Uuid>,
) -> Vec<Step> {
    use JobStatus::*;
    let m = &order.moments;
    let mut planned = vec![(None, Queued, created, "", seller)];
    if m.cancelled != NEVER {
        planned.push((
            Some(Queued),
            Cancelled,
            m.cancelled.max(created),
            "Order cancelled by the customer.",
            seller,
        ));
    } else {
        let (start, done) = (m.workshop, m.ready);
        let span = (done - start).max(2);
        let check = start + span * rng.gen_range(55..85) / 100;
        planned.push((Some(Queued), InProgress, start, "", technician));
        planned.push((
            Some(InProgress),
            QualityCheck,
            check,
            "Edged and mounted.",
            technician,
        ));
        if chance(rng, 0.08) {
            let redo = check + (done - check) * 3 / 10;
            let recheck = check + (done - check) * 6 / 10;
            planned.push((
                Some(QualityCheck),
                InProgress,
                redo,
                "Axis off by 3 degrees: re-edge.",
                technician,
            ));
            planned.push((
                Some(InProgress),
                QualityCheck,
                recheck,
                "Re-edged.",
                technician,
            ));
        }
        let last = planned.last().map_or(check, |s| s.2);
        planned.push((
            Some(QualityCheck),
            Completed,
            done.max(last),
            "Passed QC.",
            technician,
        ));
    }
    planned
        .into_iter()
        .filter(|s| s.2 <= now)
        .map(|(from, to, at, note, by)| Step {
            from,
            to,
            at,
            note,
            by,
        })
        .collect()
}

pub(crate) fn emit_jobs(
    sink: &mut Sink,
    jobs: &[Job],
    orders: &[OrderPlan],
    prescriptions: &PrescriptionPlan,
    stores: &[Store],
) -> Sent {
    sink.copy(
        "workshop_jobs",
        "workshop_jobs",
        "id, job_number, order_id, store_id, prescription_id, priority, status, instructions, \
         created_by, created_at, updated_at, completed_at",
        true,
    )?;
    for job in jobs {
        let order = &orders[job.order];
        let status = job.status();
        let updated = job.steps.last().map_or(job.created, |s| s.at);
        let prescription = job
            .prescription
            .map(|p| &prescriptions.prescriptions[p as usize].id);
        sink.row(|r| {
            r.uuid(&job.id)
                .text(&job.number)
                .uuid(&order.id)
                .uuid(&stores[order.store as usize].id)
                .opt_uuid(prescription)
                .text(job.priority)
                .text(status.as_str())
                .text(&job.instructions)
                .opt_uuid(job.created_by.as_ref())
                .timestamp(job.created)
                .timestamp(updated)
                .opt_timestamp((status == JobStatus::Completed).then_some(updated));
        })?;
    }
    sink.end_copy()
}

pub(crate) fn emit_history(sink: &mut Sink, jobs: &[Job]) -> Sent {
    sink.copy(
        "workshop_job_history",
        "workshop_job_history",
        "job_id, from_status, to_status, note, changed_by, changed_at",
        true,
    )?;
    for job in jobs {
        for step in &job.steps {
            sink.row(|r| {
                r.uuid(&job.id)
                    .opt_text(step.from.map(JobStatus::as_str))
                    .text(step.to.as_str())
                    .text(step.note)
                    .opt_uuid(step.by.as_ref())
                    .timestamp(step.at);
            })?;
        }
    }
    sink.end_copy()
}

pub(crate) fn history_count(jobs: &[Job]) -> usize {
    jobs.iter().map(|j| j.steps.len()).sum()
}
