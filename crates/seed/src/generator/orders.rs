//! Orders as plans: when each happens (sorted, so numbers follow time), who buys where, what
//! (a spectacles order is a frame plus lenses and goes to the workshop; others are sunglasses,
//! contact lenses, accessories or a frame alone), and the moments it moves through its states,
//! from which its status now follows. Rows are written by `order_rows`.

use rand::Rng;
use uuid::Uuid;

use super::categories::Kind;
use super::customers::CustomerPlan;
use super::products::{Popularity, Product};
use super::rng::{between, chance, stream, uuid_v7, GenRng, Stream, Weighted};
use super::time::{OrderClock, DAY, HOUR, MINUTE};

/// A moment that never comes.
pub(crate) const NEVER: i64 = i64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Pending,
    Confirmed,
    InWorkshop,
    Ready,
    Delivered,
    Cancelled,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Confirmed => "confirmed",
            Status::InWorkshop => "in_workshop",
            Status::Ready => "ready",
            Status::Delivered => "delivered",
            Status::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Line {
    pub product: u32,
    pub quantity: u16,
}

/// When an order reached each state (Unix ms, [`NEVER`] if it does not).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moments {
    pub confirmed: i64,
    pub workshop: i64,
    pub ready: i64,
    pub delivered: i64,
    pub cancelled: i64,
}

pub(crate) struct OrderPlan {
    pub id: Uuid,
    /// Whole milliseconds: the id's timestamp.
    pub created: i64,
    pub customer: u32,
    pub store: u32,
    lines: [Line; 4],
    line_count: u8,
    /// Spectacles: goes to the workshop and gets a job.
    pub job: bool,
    pub moments: Moments,
}

impl OrderPlan {
    pub(crate) fn lines(&self) -> &[Line] {
        &self.lines[..usize::from(self.line_count)]
    }

    /// The status at `now`: the last state reached.
    pub(crate) fn status(&self, now: i64) -> Status {
        let m = &self.moments;
        if m.cancelled <= now {
            Status::Cancelled
        } else if m.delivered <= now {
            Status::Delivered
        } else if m.ready <= now {
            Status::Ready
        } else if m.workshop <= now {
            Status::InWorkshop
        } else if m.confirmed <= now {
            Status::Confirmed
        } else {
            Status::Pending
        }
    }

    /// The time of the last status change at `now`.
    pub(crate) fn changed_at(&self, now: i64) -> i64 {
        let m = &self.moments;
        [
            self.created,
            m.confirmed,
            m.workshop,
            m.ready,
            m.delivered,
            m.cancelled,
        ]
        .into_iter()
        .filter(|t| *t <= now)
        .max()
        .unwrap_or(self.created)
    }
}

/// Everything the planner draws from.
pub(crate) struct Market<'a> {
    pub customers: &'a CustomerPlan,
    pub products: &'a [Product],
    pub stores: usize,
}

pub(crate) fn plan_orders(
    seed: u64,
    n: usize,
    jobs: usize,
    clock: &OrderClock,
    market: &Market<'_>,
) -> Vec<OrderPlan> {
    let mut times_rng = stream(seed, Stream::OrderTimes);
    let mut times: Vec<i64> = (0..n).map(|_| clock.sample(&mut times_rng)).collect();
    times.sort_unstable();
    let mut rng = stream(seed, Stream::OrderPlans);
    let popularity = Popularity::new(&mut rng, market.products);
    let store_weights = Weighted::zipf(market.stores, 1.0);
    let mut jobs_left = jobs;
    let mut orders = Vec::with_capacity(n);
    for (i, created) in times.into_iter().enumerate() {
        let customer = market.customers.loyalty.sample(&mut rng);
        let home = market.customers.customers[customer].home_store;
        let store = if chance(&mut rng, 0.85) {
            home
        } else {
            store_weights.sample(&mut rng) as u32
        };
        // Selection sampling: exactly `jobs` of the orders are spectacles.
        let job = rng.gen_range(0..n - i) < jobs_left;
        jobs_left -= usize::from(job);
        let (lines, line_count) = basket(&mut rng, &popularity, job);
        orders.push(OrderPlan {
            id: uuid_v7(&mut rng, created),
            created,
            customer: customer as u32,
            store,
            lines,
            line_count,
            job,
            moments: moments(&mut rng, created, job),
        });
    }
    orders
}

/// Up to four distinct products for an order of this kind.
fn basket(rng: &mut GenRng, popularity: &Popularity, job: bool) -> ([Line; 4], u8) {
    let mut lines = [Line::default(); 4];
    let mut count = 0u8;
    let mut add = |rng: &mut GenRng, kind: Kind, quantity: u16| {
        let product = popularity.sample(rng, kind) as u32;
        if count < 4
            && !lines[..usize::from(count)]
                .iter()
                .any(|l| l.product == product)
        {
            lines[usize::from(count)] = Line { product, quantity };
            count += 1;
        }
    };
    let roll: f64 = rng.gen();
    if job {
        add(rng, Kind::Frame, 1);
        add(rng, Kind::Lens, 1);
    } else if roll < 0.35 {
        let pairs = if chance(rng, 0.03) { 2 } else { 1 };
        add(rng, Kind::Sunglasses, pairs);
    } else if roll < 0.65 {
        let boxes = [1, 1, 1, 1, 2, 2, 2, 3, 4, 4][rng.gen_range(0..10)];
        add(rng, Kind::Contact, boxes);
        if chance(rng, 0.3) {
            add(rng, Kind::Contact, boxes); // the other eye's power
        }
    } else if roll < 0.80 {
        for _ in 0..rng.gen_range(1..=3) {
            let quantity = rng.gen_range(1..=2);
            add(rng, Kind::Accessory, quantity);
        }
    } else {
        add(rng, Kind::Frame, 1);
    }
    if chance(rng, 0.3) {
        add(rng, Kind::Accessory, 1);
    }
    if chance(rng, 0.08) {
        add(rng, Kind::Accessory, 1);
    }
    (lines, count)
}

/// The life of an order from `created`: spectacles wait for the workshop for days; most
/// other sales are over at the till in minutes, some are fetched from the warehouse.
fn moments(rng: &mut GenRng, created: i64, job: bool) -> Moments {
    let slow_confirm = chance(rng, 0.08);
    let confirmed = created
        + if slow_confirm {
            between(rng, HOUR, 2 * DAY)
        } else {
            between(rng, MINUTE, 20 * MINUTE)
        };
    let walk_out = !job && !slow_confirm && chance(rng, 0.87);
    let (workshop, ready, delivered) = if walk_out {
        let workshop = confirmed + between(rng, 10_000, 2 * MINUTE);
        let ready = workshop + between(rng, 10_000, 3 * MINUTE);
        (workshop, ready, ready + between(rng, 10_000, 3 * MINUTE))
    } else {
        let workshop = confirmed + between(rng, 30 * MINUTE, 2 * DAY);
        let ready = workshop + between(rng, 3 * HOUR, 4 * DAY);
        let collected = !chance(rng, 0.015);
        (
            workshop,
            ready,
            if collected {
                ready + between(rng, 2 * HOUR, 7 * DAY)
            } else {
                NEVER
            },
        )
    };
    if chance(rng, 0.055) {
        // Only pending or confirmed orders can be cancelled: before the workshop starts.
        let cancelled = (created + between(rng, 10 * MINUTE, 3 * DAY)).min(workshop - MINUTE);
        return Moments {
            confirmed: if confirmed < cancelled {
                confirmed
            } else {
                NEVER
            },
            workshop: NEVER,
            ready: NEVER,
            delivered: NEVER,
            cancelled: cancelled.max(created + MINUTE),
        };
    }
    Moments {
        confirmed,
        workshop,
        ready,
        delivered,
        cancelled: NEVER,
    }
}

/// Adds every line of an order that is not cancelled (now) to its product's `sales`.
pub(crate) fn count_sales(orders: &[OrderPlan], products: &mut [Product], now: i64) {
    for order in orders.iter().filter(|o| o.status(now) != Status::Cancelled) {
        for line in order.lines() {
            products[line.product as usize].sales += i64::from(line.quantity);
        }
    }
}
