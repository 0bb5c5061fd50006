//! Reads through the cache and the keys each write makes stale.
//!
//! A cached read answers with `X-Cache: hit | miss | bypass`. Writes call [`invalidate`] after
//! their transaction commits and before the response is sent, with every key that could now
//! be stale; the helpers here name those keys so each write path lists them the same way.

use std::future::Future;

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cache::{keys, Key, Outcome};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::state::AppState;

/// A JSON answer and how the cache served it.
pub struct Cached<T>(pub T, pub Outcome);

impl<T: Serialize> IntoResponse for Cached<T> {
    fn into_response(self) -> Response {
        let mut response = Json(self.0).into_response();
        response
            .headers_mut()
            .insert("x-cache", HeaderValue::from_static(self.1.as_str()));
        response
    }
}

/// Reads `key`'s variant `field` through the cache, loading with `load` on a miss.
pub async fn read_through<T, F, Fut>(
    state: &AppState,
    key: &Key,
    field: &str,
    load: F,
) -> ApiResult<Cached<T>>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<T>>,
{
    let (value, outcome) = state.cache.get_or_load(key, field, load).await?;
    Ok(Cached(value, outcome))
}

/// The variant name of a query: its canonical JSON.
pub fn field_of<Q: Serialize>(query: &Q) -> String {
    serde_json::to_string(query).unwrap_or_default()
}

/// Forgets `keys`; see [`cache::Cache::invalidate`].
pub async fn invalidate(state: &AppState, keys: Vec<Key>) {
    state.cache.invalidate(&keys).await;
}

/// Everything that shows a product's stock, price or name: the product by id and by sku, its
/// category's lists and the bestsellers.
pub async fn product_keys(state: &AppState, ids: &[Uuid]) -> ApiResult<Vec<Key>> {
    let products = storage::products::cache_identities(state.db.primary(), ids).await?;
    let mut out = vec![keys::bestsellers()];
    for (id, sku, category) in products {
        out.push(keys::product(id));
        out.push(keys::product_sku(&sku));
        out.push(keys::category_products(category));
    }
    Ok(out)
}

/// What a stock change in `stores` of `products` makes stale: the products (their totals), the
/// stores' stock lists, and the dashboards (low-stock counts).
pub async fn stock_keys(
    state: &AppState,
    products: &[Uuid],
    stores: &[Uuid],
) -> ApiResult<Vec<Key>> {
    let mut out = product_keys(state, products).await?;
    for store in stores {
        out.push(keys::store_inventory(*store));
        out.push(keys::dashboard(Some(*store)));
    }
    out.push(keys::dashboard(None));
    Ok(out)
}

/// What a change of an order (placement, status, payment) makes stale.
pub fn order_keys(order_id: Uuid, customer_id: Uuid, store_id: Uuid) -> Vec<Key> {
    vec![
        keys::order(order_id),
        keys::customer_recent_orders(customer_id),
        keys::dashboard(Some(store_id)),
        keys::dashboard(None),
    ]
}
