//! The ids the virtual users pick from, read once before the run: from the database when a
//! URL is given (`db`), otherwise from the service's list calls (`api`), so the tool also
//! works against a deployment where only HTTP is reachable. Both fill a [`RawSample`];
//! [`Sample::build`] ranks and skews it for one run (each run gets fresh workshop queues).

mod api;
mod db;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::mix::Mix;
use crate::zipf::Skewed;

pub use api::from_api;
pub use db::from_database;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProductRef {
    pub id: Uuid,
    pub sku: String,
    pub price: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffRef {
    pub login: String,
    pub roles: Vec<String>,
    pub store_ids: Vec<Uuid>,
}

impl StaffRef {
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// An open workshop job and the status the tool last saw it in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRef {
    pub id: Uuid,
    /// The job's order, for which its successor is queued once it completes.
    pub order_id: Uuid,
    pub status: String,
}

/// What sampling read, before ranking. Lists are hottest first where the source can tell.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawSample {
    pub stores: Vec<Uuid>,
    /// Categories with products, most products first.
    pub categories: Vec<Uuid>,
    /// Active products, best sellers first.
    pub products: Vec<ProductRef>,
    pub product_names: Vec<String>,
    /// (store, product) rows with stock to sell.
    pub stocked: Vec<(Uuid, Uuid)>,
    /// (store, customer), regular customers of a store first.
    pub customers: Vec<(Uuid, Uuid)>,
    /// (store, order), newest first.
    pub orders: Vec<(Uuid, Uuid)>,
    /// (store, job) of open jobs.
    pub jobs: Vec<(Uuid, JobRef)>,
    pub staff: Vec<StaffRef>,
}

/// One store's share of the sample.
#[derive(Debug)]
pub struct StoreSample {
    pub id: Uuid,
    /// Products with stock here, best sellers first.
    pub stocked: Skewed<Uuid>,
    pub customers: Skewed<Uuid>,
    pub orders: Skewed<Uuid>,
    /// Open jobs: a job is taken from the front, moved one step and put back at the end, so
    /// no two users move the same job at once (which would be a 409 of the tool's making).
    pub jobs: Mutex<VecDeque<JobRef>>,
    /// Active staff who may log in here (for the login operation).
    pub staff: Vec<String>,
    /// Which of `staff` are logging in right now: one person does not log in twice at once,
    /// and the service counts a login in flight against the account's throttle.
    pub logging_in: Mutex<HashSet<usize>>,
}

/// The ranked, skewed sample of one run.
#[derive(Debug)]
pub struct Sample {
    pub stores: Vec<StoreSample>,
    pub categories: Skewed<Uuid>,
    pub products: Skewed<ProductRef>,
    pub words: Skewed<String>,
    /// Active staff by login, for the sessions of the virtual users.
    pub accounts: Vec<StaffRef>,
}

impl Sample {
    pub fn build(raw: &RawSample, mix: &Mix) -> Result<Sample> {
        if raw.stores.is_empty() || raw.products.is_empty() {
            return Err(Error::Sample(
                "no stores or no active products: is the database seeded (ims seed --scale 1)?"
                    .into(),
            ));
        }
        let rank: HashMap<Uuid, usize> = raw
            .products
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, i))
            .collect();
        let skew = &mix.skew;
        let stores = raw
            .stores
            .iter()
            .map(|store| {
                // Only sampled (active) products: an inactive one is not for sale (422).
                let mut stocked: Vec<Uuid> = of_store(&raw.stocked, store);
                stocked.retain(|p| rank.contains_key(p));
                stocked.sort_by_key(|p| rank[p]);
                let jobs = raw
                    .jobs
                    .iter()
                    .filter(|(s, _)| s == store)
                    .map(|(_, j)| j.clone())
                    .collect();
                let staff = raw
                    .staff
                    .iter()
                    .filter(|s| s.store_ids.contains(store))
                    .map(|s| s.login.clone())
                    .collect();
                StoreSample {
                    id: *store,
                    stocked: Skewed::new(stocked, skew.products),
                    customers: Skewed::new(of_store(&raw.customers, store), skew.customers),
                    orders: Skewed::new(of_store(&raw.orders, store), skew.orders),
                    jobs: Mutex::new(jobs),
                    staff,
                    logging_in: Mutex::new(HashSet::new()),
                }
            })
            .collect();
        Ok(Sample {
            stores,
            categories: Skewed::new(raw.categories.clone(), skew.categories),
            products: Skewed::new(raw.products.clone(), skew.products),
            words: Skewed::new(search_words(&raw.product_names), skew.search_words),
            accounts: raw.staff.clone(),
        })
    }
}

fn of_store(pairs: &[(Uuid, Uuid)], store: &Uuid) -> Vec<Uuid> {
    pairs
        .iter()
        .filter(|(s, _)| s == store)
        .map(|(_, id)| *id)
        .collect()
}

/// The words people search for: the words of the sampled products' names (4 letters or
/// more, lower case), the most frequent first, so skewed picks favour common words.
pub fn search_words(names: &[String]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for name in names {
        for word in name.split(|c: char| !c.is_alphanumeric()) {
            if word.chars().count() >= 4 && word.chars().any(char::is_alphabetic) {
                *counts.entry(word.to_lowercase()).or_default() += 1;
            }
        }
    }
    let mut words: Vec<(String, usize)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    words.into_iter().map(|(w, _)| w).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_are_the_names_words_most_frequent_first() {
        let names = [
            "Ray-Ban Aviator Classic".to_string(),
            "Aviator Titanium 52".to_string(),
            "Acme 1.67 lens".to_string(),
        ];
        assert_eq!(
            search_words(&names),
            ["aviator", "acme", "classic", "lens", "titanium"]
        );
    }

    #[test]
    fn build_ranks_stock_by_sales_and_splits_by_store() {
        let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
        let products: Vec<ProductRef> = (0..3)
            .map(|i| ProductRef {
                id: Uuid::new_v4(),
                sku: format!("SKU-{i}"),
                price: 100,
            })
            .collect();
        let raw = RawSample {
            stores: vec![s1, s2],
            stocked: vec![
                (s1, products[2].id),
                (s1, products[0].id),
                (s2, products[1].id),
            ],
            products: products.clone(),
            staff: vec![StaffRef {
                login: "staff0001".into(),
                roles: vec!["manager".into()],
                store_ids: vec![s2],
            }],
            ..RawSample::default()
        };
        let sample = Sample::build(&raw, &Mix::default()).expect("valid");
        assert_eq!(
            sample.stores[0].stocked.items(),
            [products[0].id, products[2].id]
        );
        assert_eq!(sample.stores[1].stocked.items(), [products[1].id]);
        assert!(sample.stores[0].staff.is_empty());
        assert_eq!(sample.stores[1].staff, ["staff0001"]);

        let empty = RawSample::default();
        assert!(Sample::build(&empty, &Mix::default()).is_err());
    }
}
