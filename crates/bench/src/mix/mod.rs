//! The workload file: which operations the virtual users send and how often, how skewed the
//! picks are and how many ids are sampled, and which role of a store's staff sends each
//! operation. The default is `deploy/bench/mix.toml` and the `login-heavy` scenario's is
//! `deploy/bench/login-heavy.toml`, both compiled in so the binary works from any folder.
//! Building the requests is `ops`; when users log in is `scenario`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use pick::OpPicker;

mod pick;

/// The default mix, the same file operators copy and edit.
pub const DEFAULT_MIX: &str = include_str!("../../../../deploy/bench/mix.toml");
/// The mix as it was before sessions were modelled: the default one plus 3% logins.
pub const LOGIN_HEAVY_MIX: &str = include_str!("../../../../deploy/bench/login-heavy.toml");

/// The role of a store's staff member who sends an operation (the service's permissions:
/// a manager may do everything, sales staff read and sell, a technician works on jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Sales,
    Manager,
    Technician,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Sales, Role::Manager, Role::Technician];

    /// The role's position in [`Role::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The role's name in the service's accounts.
    pub fn name(self) -> &'static str {
        match self {
            Role::Sales => "sales",
            Role::Manager => "manager",
            Role::Technician => "technician",
        }
    }
}

/// One kind of request of the mix; the names are the keys of `[weights]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    BrowseCategory,
    Search,
    ProductById,
    ProductBySku,
    Stock,
    CustomerOrders,
    Order,
    Dashboard,
    Login,
    PlaceOrder,
    AdjustStock,
    WorkshopStatus,
    /// Queues a new job for an order: sent in place of a move once a job has completed (the
    /// workshop takes in work as fast as it finishes it), and on its own when weighted.
    QueueJob,
    UpdateProduct,
}

impl Op {
    pub const ALL: [Op; 14] = [
        Op::BrowseCategory,
        Op::Search,
        Op::ProductById,
        Op::ProductBySku,
        Op::Stock,
        Op::CustomerOrders,
        Op::Order,
        Op::Dashboard,
        Op::Login,
        Op::PlaceOrder,
        Op::AdjustStock,
        Op::WorkshopStatus,
        Op::QueueJob,
        Op::UpdateProduct,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::BrowseCategory => "browse_category",
            Op::Search => "search",
            Op::ProductById => "product_by_id",
            Op::ProductBySku => "product_by_sku",
            Op::Stock => "stock",
            Op::CustomerOrders => "customer_orders",
            Op::Order => "order",
            Op::Dashboard => "dashboard",
            Op::Login => "login",
            Op::PlaceOrder => "place_order",
            Op::AdjustStock => "adjust_stock",
            Op::WorkshopStatus => "workshop_status",
            Op::QueueJob => "queue_job",
            Op::UpdateProduct => "update_product",
        }
    }

    /// The route template, as the service's logs and metrics name it.
    pub fn route(self) -> &'static str {
        match self {
            Op::BrowseCategory => "GET /categories/{id}/products",
            Op::Search => "GET /products?q=",
            Op::ProductById => "GET /products/{id}",
            Op::ProductBySku => "GET /products/sku/{sku}",
            Op::Stock => "GET /stores/{s}/inventory/{p}",
            Op::CustomerOrders => "GET /customers/{id}/orders",
            Op::Order => "GET /orders/{id}",
            Op::Dashboard => "GET /dashboard/stats",
            Op::Login => "POST /auth/login",
            Op::PlaceOrder => "POST /orders",
            Op::AdjustStock => "POST /stores/{s}/inventory/{p}/adjustments",
            Op::WorkshopStatus => "PATCH /workshop/jobs/{id}/status",
            Op::QueueJob => "POST /workshop/jobs",
            Op::UpdateProduct => "PATCH /products/{id}",
        }
    }

    /// Who sends it: the dashboard, stock adjustments and product edits are a manager's, job
    /// moves a technician's, and reads, sales and logins a salesperson's.
    pub fn role(self) -> Role {
        match self {
            Op::Dashboard | Op::AdjustStock | Op::UpdateProduct => Role::Manager,
            Op::WorkshopStatus | Op::QueueJob => Role::Technician,
            _ => Role::Sales,
        }
    }

    /// The cache key family a read goes through (`cache::keys`), if any.
    pub fn cache_type(self) -> Option<&'static str> {
        match self {
            Op::BrowseCategory => Some("category:{id}:products"),
            Op::Search => Some("products search"),
            Op::ProductById => Some("product:{id}"),
            Op::ProductBySku => Some("product:sku:{sku}"),
            Op::Stock => Some("store:{id}:inventory"),
            Op::CustomerOrders => Some("customer:{id}:orders:recent"),
            Op::Order => Some("order:{id}"),
            Op::Dashboard => Some("dashboard:stats"),
            _ => None,
        }
    }
}

/// The whole workload file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default = "Mix::empty")]
pub struct Mix {
    pub weights: Weights,
    pub skew: Skew,
    pub search: SearchShape,
    pub sample: SampleSize,
}

/// Relative weights, one per [`Op`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Weights {
    pub browse_category: f64,
    pub search: f64,
    pub product_by_id: f64,
    pub product_by_sku: f64,
    pub stock: f64,
    pub customer_orders: f64,
    pub order: f64,
    pub dashboard: f64,
    pub login: f64,
    pub place_order: f64,
    pub adjust_stock: f64,
    pub workshop_status: f64,
    pub queue_job: f64,
    pub update_product: f64,
}

/// Zipf exponents of the picks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Skew {
    pub products: f64,
    pub customers: f64,
    pub orders: f64,
    pub categories: f64,
    pub search_words: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchShape {
    pub prefix_share: f64,
    pub typo_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SampleSize {
    pub products: usize,
    pub customers_per_store: usize,
    pub orders_per_store: usize,
    pub jobs_per_store: usize,
}

impl Default for Weights {
    /// All zero: a file's `[weights]` names exactly what it wants sent.
    fn default() -> Self {
        Weights::from_fn(|_| 0.0)
    }
}

impl Default for Skew {
    fn default() -> Self {
        Self {
            products: 1.0,
            customers: 0.8,
            orders: 1.0,
            categories: 0.6,
            search_words: 1.0,
        }
    }
}

impl Default for SearchShape {
    fn default() -> Self {
        Self {
            prefix_share: 0.2,
            typo_share: 0.1,
        }
    }
}

impl Default for SampleSize {
    fn default() -> Self {
        Self {
            products: 5000,
            customers_per_store: 1000,
            orders_per_store: 1000,
            jobs_per_store: 200,
        }
    }
}

impl Default for Mix {
    /// The default file's mix (a file without `[weights]` gets these weights too).
    fn default() -> Self {
        // The file is part of the binary and covered by a test; an error here is a build bug.
        Mix::parse(DEFAULT_MIX).unwrap_or_else(|e| panic!("deploy/bench/mix.toml: {e}"))
    }
}

impl Mix {
    /// The `login-heavy` scenario's mix (`deploy/bench/login-heavy.toml`).
    pub fn login_heavy() -> Self {
        // Compiled in and covered by a test, as the default.
        Mix::parse(LOGIN_HEAVY_MIX).unwrap_or_else(|e| panic!("deploy/bench/login-heavy.toml: {e}"))
    }
}

impl Mix {
    /// What a file starts from before its own keys: no weights, default everything else.
    fn empty() -> Self {
        Self {
            weights: Weights::default(),
            skew: Skew::default(),
            search: SearchShape::default(),
            sample: SampleSize::default(),
        }
    }
}

impl Weights {
    fn from_fn(f: impl Fn(Op) -> f64) -> Self {
        Self {
            browse_category: f(Op::BrowseCategory),
            search: f(Op::Search),
            product_by_id: f(Op::ProductById),
            product_by_sku: f(Op::ProductBySku),
            stock: f(Op::Stock),
            customer_orders: f(Op::CustomerOrders),
            order: f(Op::Order),
            dashboard: f(Op::Dashboard),
            login: f(Op::Login),
            place_order: f(Op::PlaceOrder),
            adjust_stock: f(Op::AdjustStock),
            workshop_status: f(Op::WorkshopStatus),
            queue_job: f(Op::QueueJob),
            update_product: f(Op::UpdateProduct),
        }
    }

    pub fn get(&self, op: Op) -> f64 {
        match op {
            Op::BrowseCategory => self.browse_category,
            Op::Search => self.search,
            Op::ProductById => self.product_by_id,
            Op::ProductBySku => self.product_by_sku,
            Op::Stock => self.stock,
            Op::CustomerOrders => self.customer_orders,
            Op::Order => self.order,
            Op::Dashboard => self.dashboard,
            Op::Login => self.login,
            Op::PlaceOrder => self.place_order,
            Op::AdjustStock => self.adjust_stock,
            Op::WorkshopStatus => self.workshop_status,
            Op::QueueJob => self.queue_job,
            Op::UpdateProduct => self.update_product,
        }
    }

    fn total(&self) -> f64 {
        Op::ALL.iter().map(|op| self.get(*op)).sum()
    }

    /// Each operation's share of the mix, 0 to 1.
    pub fn shares(&self) -> Vec<(Op, f64)> {
        let total = self.total();
        Op::ALL
            .iter()
            .map(|op| (*op, self.get(*op) / total))
            .collect()
    }
}

impl Mix {
    /// Parses and checks a mix file. A file that leaves out `[weights]` keeps the default
    /// weights; one that has it sends only what it names.
    pub fn parse(text: &str) -> Result<Mix> {
        let value: toml::Table =
            toml::from_str(text).map_err(|e| Error::Config(format!("mix file: {e}")))?;
        let has_weights = value.contains_key("weights");
        let mut mix: Mix =
            toml::from_str(text).map_err(|e| Error::Config(format!("mix file: {e}")))?;
        if !has_weights {
            mix.weights = Mix::parse(DEFAULT_MIX)?.weights;
        }
        mix.check()?;
        Ok(mix)
    }

    fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(format!("mix file: {what}")));
        for op in Op::ALL {
            let w = self.weights.get(op);
            if !(w.is_finite() && w >= 0.0) {
                return bad(format!("weights.{} must be 0 or more, not {w}", op.name()));
            }
        }
        if self.weights.total() <= 0.0 {
            return bad("[weights] must give at least one operation a weight above 0".into());
        }
        let skews = [
            ("products", self.skew.products),
            ("customers", self.skew.customers),
            ("orders", self.skew.orders),
            ("categories", self.skew.categories),
            ("search_words", self.skew.search_words),
        ];
        for (name, s) in skews {
            if !(s.is_finite() && (0.0..=5.0).contains(&s)) {
                return bad(format!("skew.{name} must be from 0 to 5, not {s}"));
            }
        }
        let (p, t) = (self.search.prefix_share, self.search.typo_share);
        if !(p >= 0.0 && t >= 0.0 && p + t <= 1.0) {
            return bad(
                "search.prefix_share and typo_share must be 0 or more and add up to at most 1"
                    .into(),
            );
        }
        if self.sample.products == 0 {
            return bad("sample.products must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_heavy_file_is_the_issues_mix() {
        let mix = Mix::login_heavy();
        let shares: std::collections::HashMap<Op, f64> = mix.weights.shares().into_iter().collect();
        let pct = |ops: &[Op]| ops.iter().map(|op| shares[op]).sum::<f64>() * 100.0;
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(pct(&[Op::BrowseCategory, Op::Search]), 35.0));
        assert!(close(pct(&[Op::ProductById, Op::ProductBySku]), 20.0));
        assert!(close(pct(&[Op::Stock]), 10.0));
        assert!(close(pct(&[Op::CustomerOrders]), 10.0));
        assert!(close(pct(&[Op::Order]), 5.0));
        assert!(close(pct(&[Op::Dashboard]), 5.0));
        assert!(close(pct(&[Op::Login]), 3.0));
        assert!(close(pct(&[Op::PlaceOrder]), 5.0));
        assert!(close(
            pct(&[Op::AdjustStock, Op::WorkshopStatus, Op::UpdateProduct]),
            7.0
        ));
        assert_eq!(mix.sample.products, 5000);
    }

    #[test]
    fn the_default_file_is_the_issues_mix_without_logins() {
        let (default, heavy) = (Mix::default(), Mix::login_heavy());
        assert_eq!(default.weights.login, 0.0);
        for op in Op::ALL.into_iter().filter(|op| *op != Op::Login) {
            assert_eq!(
                default.weights.get(op),
                heavy.weights.get(op),
                "{}",
                op.name()
            );
        }
        assert_eq!(
            (&default.skew, &default.search),
            (&heavy.skew, &heavy.search)
        );
        assert_eq!(default.sample, heavy.sample);
    }

    #[test]
    fn role_pickers_split_the_mix_by_who_sends_each_operation() {
        let mix = Mix::default();
        let [sales, manager, technician] = mix.role_shares();
        assert!((sales + manager + technician - 1.0).abs() < 1e-9);
        assert!((manager - 9.5 / 97.0).abs() < 1e-9, "{manager}");
        assert!((technician - 2.5 / 97.0).abs() < 1e-9);
        for role in Role::ALL {
            let picker = mix.picker_for(role);
            for i in 0..1000 {
                assert_eq!(picker.pick((i as f64 + 0.5) / 1000.0).role(), role);
            }
        }
        // Within a role the weights keep their proportions: dashboard 5 of the manager's 9.5.
        let manager = mix.picker_for(Role::Manager);
        let dashboards = (0..9500)
            .filter(|i| manager.pick((*i as f64 + 0.5) / 9500.0) == Op::Dashboard)
            .count();
        assert_eq!(dashboards, 5000);
    }

    #[test]
    fn a_file_names_only_what_it_sends_and_keeps_other_defaults() {
        let mix =
            Mix::parse("[weights]\nsearch = 3\nlogin = 1\n[skew]\nproducts = 0\n").expect("valid");
        let picker = mix.picker();
        assert_eq!(picker.pick(0.0), Op::Search);
        assert_eq!(picker.pick(0.74), Op::Search);
        assert_eq!(picker.pick(0.75), Op::Login);
        assert_eq!(picker.pick(0.999_999), Op::Login);
        assert_eq!(mix.skew.products, 0.0);
        assert_eq!(mix.skew.orders, 1.0);

        let no_weights = Mix::parse("[search]\ntypo_share = 0\n").expect("valid");
        assert_eq!(no_weights.weights, Mix::default().weights);
        assert_eq!(no_weights.search.typo_share, 0.0);
    }

    #[test]
    fn picks_follow_the_weights() {
        let picker = Mix::login_heavy().picker();
        let n = 100_000;
        let mut counts = std::collections::HashMap::new();
        for i in 0..n {
            let u = (i as f64 + 0.5) / n as f64;
            *counts.entry(picker.pick(u)).or_insert(0usize) += 1;
        }
        assert_eq!(counts[&Op::BrowseCategory], 20_000);
        assert_eq!(counts[&Op::Login], 3_000);
        assert_eq!(counts[&Op::UpdateProduct], 500);
        // Every weighted operation is picked; a job is queued only in place of a move.
        assert_eq!(counts.len(), Op::ALL.len() - 1);
        assert!(!counts.contains_key(&Op::QueueJob));
    }

    #[test]
    fn bad_files_are_refused_with_the_field_named() {
        let err = |text: &str| Mix::parse(text).expect_err("invalid").to_string();
        assert!(err("[weights]\nsearch = -1\n").contains("weights.search"));
        assert!(err("[weights]\nsearch = 0\n").contains("at least one"));
        assert!(err("[weights]\nbrowse = 1\n").contains("unknown field"));
        assert!(err("[skew]\nproducts = 9\n").contains("skew.products"));
        assert!(err("[search]\nprefix_share = 0.8\ntypo_share = 0.5\n").contains("prefix_share"));
        assert!(err("[weights\n").contains("mix file"));
    }
}
