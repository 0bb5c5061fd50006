//! The whole generated chain in memory, planned in dependency order (stores and staff, the
//! catalogue, customers, stock, orders, tests, jobs), then written table by table in the
//! order foreign keys need. Planning is pure: the same seed, scale and `now` give the same
//! world, ids included.

use uuid::Uuid;

use super::categories::{emit_categories, plan_categories, Category};
use super::copy::{Sent, Sink};
use super::counts::Counts;
use super::customers::{emit_customers, finish_customers, plan_customers, Customer};
use super::inventory::{emit_inventory, emit_movements, movement_count, plan_stock, Stock};
use super::order_rows::{emit_order_keys, emit_orders, OrderContext};
use super::orders::{count_sales, plan_orders, Market, OrderPlan};
use super::prescriptions::{
    emit_prescriptions, note_first_seen, plan_prescriptions, PrescriptionPlan,
};
use super::products::{emit_products, plan_products, Product};
use super::stores::{emit_stores, emit_users, plan_stores, plan_users, Store, StoreStaff, User};
use super::time::{OrderClock, DAY};
use super::workshop::{emit_history, emit_jobs, history_count, plan_jobs, Job};

pub(crate) struct World {
    pub seed: u64,
    pub counts: Counts,
    /// The end of the generated history (Unix ms).
    pub now: i64,
    pub stores: Vec<Store>,
    pub categories: Vec<Category>,
    pub users: Vec<User>,
    pub staff: StoreStaff,
    pub products: Vec<Product>,
    pub stock: Stock,
    pub customers: Vec<Customer>,
    pub orders: Vec<OrderPlan>,
    pub prescriptions: PrescriptionPlan,
    pub jobs: Vec<Job>,
}

impl World {
    /// The chain whose history runs from `first_day` (days since the Unix epoch) to `now`.
    pub(crate) fn plan(seed: u64, counts: Counts, now: i64, first_day: i64) -> World {
        let today = now.div_euclid(DAY);
        let window_start = first_day * DAY;
        let stores = plan_stores(seed, counts.stores, window_start);
        let categories = plan_categories(seed, counts.categories, window_start);
        let (users, staff) = plan_users(seed, &counts, window_start, now);
        let mut products = plan_products(seed, counts.products, counts.categories, window_start);
        let stock = plan_stock(seed, &mut products, counts.stores);
        let plan = plan_customers(seed, counts.customers, counts.stores, today);
        let clock = OrderClock::new(first_day, now);
        let market = Market {
            customers: &plan,
            products: &products,
            stores: counts.stores,
        };
        let orders = plan_orders(seed, counts.orders, counts.jobs, &clock, &market);
        let mut customers = plan.customers;
        count_sales(&orders, &mut products, now);
        let prescriptions =
            plan_prescriptions(seed, counts.prescriptions, &orders, &customers, &clock, now);
        let mut first_seen = vec![i64::MAX; customers.len()];
        for order in &orders {
            let seen = &mut first_seen[order.customer as usize];
            *seen = (*seen).min(order.created);
        }
        note_first_seen(&prescriptions, &mut first_seen);
        finish_customers(seed, &mut customers, &first_seen, window_start, now);
        let jobs = plan_jobs(seed, &orders, &prescriptions, &products, &staff, now);
        World {
            seed,
            counts,
            now,
            stores,
            categories,
            users,
            staff,
            products,
            stock,
            customers,
            orders,
            prescriptions,
            jobs,
        }
    }

    /// Writes every table through `sink`, one phase each, parents before children.
    pub(crate) fn emit(&self, sink: &mut Sink, password_hash: &str) -> Sent {
        let small = self.stores.len() + self.categories.len() + self.users.len();
        sink.phase("stores, categories, users", small)?;
        emit_stores(sink, &self.stores)?;
        emit_categories(sink, &self.categories)?;
        emit_users(sink, &self.users, &self.stores, password_hash)?;
        sink.end_phase()?;

        sink.phase("products", self.products.len())?;
        let category_ids: Vec<Uuid> = self.categories.iter().map(|c| c.id).collect();
        emit_products(sink, &self.products, &category_ids)?;
        sink.end_phase()?;

        sink.phase("customers", self.customers.len())?;
        emit_customers(sink, &self.customers)?;
        sink.end_phase()?;

        sink.phase("inventory", self.counts.inventory())?;
        emit_inventory(sink, &self.stock, &self.products, &self.stores)?;
        sink.end_phase()?;

        sink.phase("inventory movements", movement_count(&self.stock))?;
        emit_movements(sink, &self.stock, &self.products, &self.stores)?;
        sink.end_phase()?;

        sink.phase("orders", self.orders.len())?;
        let context = OrderContext {
            seed: self.seed,
            now: self.now,
            stores: &self.stores,
            staff: &self.staff,
            customers: &self.customers,
            products: &self.products,
        };
        emit_orders(sink, &context, &self.orders)?;
        sink.end_phase()?;

        sink.phase("order keys", self.orders.len())?;
        emit_order_keys(sink, &self.orders)?;
        sink.end_phase()?;

        sink.phase("prescriptions", self.prescriptions.prescriptions.len())?;
        let today = self.now.div_euclid(DAY);
        emit_prescriptions(
            sink,
            self.seed,
            &self.prescriptions,
            &self.customers,
            &self.staff,
            today,
        )?;
        sink.end_phase()?;

        sink.phase("workshop jobs", self.jobs.len())?;
        emit_jobs(
            sink,
            &self.jobs,
            &self.orders,
            &self.prescriptions,
            &self.stores,
        )?;
        sink.end_phase()?;

        sink.phase("workshop job history", history_count(&self.jobs))?;
        emit_history(sink, &self.jobs)?;
        sink.end_phase()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use tokio::sync::mpsc;

    use super::*;
    use crate::generator::copy::Message;
    use crate::generator::orders::Status;
    use crate::generator::time::{add_months, days_from_civil, HOUR};
    use crate::generator::workshop::JobStatus;

    const NOW: i64 = 20_781 * DAY + 9 * HOUR; // 2026-11-24 09:00 UTC

    /// Every byte the world writes, table by table.
    fn rows(world: World) -> Vec<u8> {
        let (tx, mut rx) = mpsc::channel(4);
        let writer = std::thread::spawn(move || {
            let mut sink = Sink::new(tx);
            world.emit(&mut sink, "hash").is_ok()
        });
        let mut all = Vec::new();
        while let Some(message) = rx.blocking_recv() {
            match message {
                Message::Copy { statement, .. } => all.extend_from_slice(statement.as_bytes()),
                Message::Data(data, _) => all.extend_from_slice(&data),
                _ => {}
            }
        }
        assert!(writer.join().expect("no panic"));
        all
    }

    /// The first day of the default history: 24 months before `NOW`.
    fn two_years() -> i64 {
        add_months(NOW.div_euclid(DAY), -24)
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let counts = Counts::for_scale(0.002);
        let a = rows(World::plan(7, counts, NOW, two_years()));
        assert_eq!(a, rows(World::plan(7, counts, NOW, two_years())));
        let b = rows(World::plan(8, counts, NOW, two_years()));
        assert_ne!(a[..2000], b[..2000]);
        let text = String::from_utf8(a).expect("utf8");
        assert!(text.starts_with("COPY stores (id, code"));
        assert!(
            text.contains("\nCOPY orders_y2024m11 ("),
            "partitions by month"
        );
    }

    #[test]
    fn orders_age_like_a_real_shop_and_jobs_follow_them() {
        let counts = Counts::for_scale(0.05);
        let world = World::plan(42, counts, NOW, two_years());
        assert_eq!(world.orders.len(), counts.orders);
        assert!(world
            .orders
            .windows(2)
            .all(|w| w[0].created <= w[1].created));
        assert!(world.orders.iter().all(
            |o| o.created <= NOW && o.created >= days_from_civil(2024, 11, 24) * DAY - 6 * HOUR
        ));
        let old: Vec<Status> = world
            .orders
            .iter()
            .filter(|o| o.created < NOW - 60 * DAY)
            .map(|o| o.status(NOW))
            .collect();
        let share = |list: &[Status], s: Status| {
            list.iter().filter(|x| **x == s).count() as f64 / list.len() as f64
        };
        assert!(
            share(&old, Status::Delivered) > 0.9,
            "{}",
            share(&old, Status::Delivered)
        );
        assert!((0.03..0.08).contains(&share(&old, Status::Cancelled)));
        let recent: HashSet<&str> = world
            .orders
            .iter()
            .filter(|o| o.created > NOW - 3 * DAY)
            .map(|o| o.status(NOW).as_str())
            .collect();
        for s in ["pending", "confirmed", "in_workshop", "ready", "delivered"] {
            assert!(recent.contains(s), "recent orders include {s}: {recent:?}");
        }
        assert_eq!(world.jobs.len(), counts.jobs);
        for job in &world.jobs {
            let order = world.orders[job.order].status(NOW);
            let expected: &[JobStatus] = match order {
                Status::Pending | Status::Confirmed => &[JobStatus::Queued],
                Status::InWorkshop => &[JobStatus::InProgress, JobStatus::QualityCheck],
                Status::Ready | Status::Delivered => &[JobStatus::Completed],
                Status::Cancelled => &[JobStatus::Cancelled],
            };
            assert!(
                expected.contains(&job.status()),
                "{order:?} order, {:?} job",
                job.status()
            );
            assert!(job
                .steps
                .windows(2)
                .all(|w| w[0].at <= w[1].at && w[1].from == Some(w[0].to)));
            assert!(
                job.steps.iter().all(|s| s.at <= NOW)
                    && job.created >= world.orders[job.order].created
            );
        }
        let sold: i64 = world.products.iter().map(|p| p.sales).sum();
        let lines: i64 = world
            .orders
            .iter()
            .filter(|o| o.status(NOW) != Status::Cancelled)
            .flat_map(|o| o.lines().iter().map(|l| i64::from(l.quantity)))
            .sum();
        assert_eq!(sold, lines);
        let p = &world.prescriptions.prescriptions;
        assert_eq!(p.len(), counts.prescriptions);
        assert!(p
            .iter()
            .all(|p| p.test_day <= NOW / DAY
                && (p.status == "expired") == (p.expires_day < NOW / DAY)));
        assert!(
            p.iter().any(|p| p.status == "expired") && p.iter().any(|p| p.status == "superseded")
        );
    }
}
