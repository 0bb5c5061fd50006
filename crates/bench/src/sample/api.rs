//! Sampling over HTTP, for deployments whose database the operator cannot reach: the same
//! lists read through the API's list calls as an administrator. Rankings are what the API
//! offers: products by sales, orders newest first; customers in the order their orders come.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{JobRef, ProductRef, RawSample, StaffRef};
use crate::error::{Error, Result};
use crate::mix::SampleSize;
use crate::setup::SetupClient;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Id {
    id: Uuid,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Product {
    id: Uuid,
    sku: String,
    name: String,
    price: i64,
    category_id: Uuid,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stock {
    product_id: Uuid,
    quantity: i32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    id: Uuid,
    customer_id: Uuid,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Job {
    id: Uuid,
    store_id: Uuid,
    order_id: Uuid,
    status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    username: String,
    roles: Vec<String>,
    store_ids: Vec<Uuid>,
}

/// Reads the sample through the API as the administrator `client` is logged in as.
pub async fn from_api(client: &SetupClient, size: &SampleSize) -> Result<RawSample> {
    let mut raw = RawSample {
        stores: pages::<Id>(client, "/stores?", usize::MAX)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect(),
        ..RawSample::default()
    };
    let products = pages::<Product>(
        client,
        "/products?status=active&sort=-sales&",
        size.products,
    )
    .await?;
    let mut per_category: Vec<(Uuid, usize)> = Vec::new();
    for p in products {
        match per_category.iter_mut().find(|(c, _)| *c == p.category_id) {
            Some((_, n)) => *n += 1,
            None => per_category.push((p.category_id, 1)),
        }
        raw.product_names.push(p.name);
        raw.products.push(ProductRef {
            id: p.id,
            sku: p.sku,
            price: p.price,
        });
    }
    per_category.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    raw.categories = per_category.into_iter().map(|(c, _)| c).collect();

    for store in raw.stores.clone() {
        let stock = pages::<Stock>(
            client,
            &format!("/stores/{store}/inventory?status=in_stock&"),
            size.products.min(2000),
        )
        .await?;
        raw.stocked.extend(
            stock
                .into_iter()
                .filter(|s| s.quantity >= 10)
                .map(|s| (store, s.product_id)),
        );
        let orders = pages::<Order>(
            client,
            &format!("/orders?storeId={store}&"),
            size.orders_per_store.max(size.customers_per_store),
        )
        .await?;
        let mut customers: Vec<Uuid> = Vec::new();
        for o in &orders {
            if !customers.contains(&o.customer_id) && customers.len() < size.customers_per_store {
                customers.push(o.customer_id);
            }
        }
        raw.customers
            .extend(customers.into_iter().map(|c| (store, c)));
        raw.orders.extend(
            orders
                .into_iter()
                .take(size.orders_per_store)
                .map(|o| (store, o.id)),
        );
    }
    let jobs_total = size.jobs_per_store.saturating_mul(raw.stores.len());
    for status in ["queued", "in_progress", "quality_check"] {
        let jobs = pages::<Job>(
            client,
            &format!("/workshop/jobs?status={status}&"),
            jobs_total,
        )
        .await?;
        raw.jobs.extend(jobs.into_iter().map(|j| {
            (
                j.store_id,
                JobRef {
                    id: j.id,
                    order_id: j.order_id,
                    status: j.status,
                },
            )
        }));
    }
    raw.staff = pages::<User>(client, "/users?status=active&", usize::MAX)
        .await?
        .into_iter()
        .map(|u| StaffRef {
            login: u.username,
            roles: u.roles,
            store_ids: u.store_ids,
        })
        .collect();
    Ok(raw)
}

/// Up to `max` items of a cursor-paginated list; `path` ends in `?` or `&`.
async fn pages<T: DeserializeOwned>(
    client: &SetupClient,
    path: &str,
    max: usize,
) -> Result<Vec<T>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    // A bound on pages as well as items: a list that never ends must not hang the start.
    for _ in 0..1000 {
        let mut url = format!("{path}limit=100");
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.push_str(c);
        }
        let value: Value = client.get_json(&url).await?;
        let page: Page<T> = serde_json::from_value(value)
            .map_err(|e| Error::Service(format!("GET {url}: unexpected body: {e}")))?;
        items.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() || items.len() >= max {
            break;
        }
    }
    items.truncate(max);
    Ok(items)
}
