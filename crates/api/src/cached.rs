//! Reads through the cache and the keys each write makes stale, the dashboards' figures
//! included (read through their keys, and put in place fresh by the writes that change them).
//!
//! A cached read answers with `X-Cache: hit | miss | bypass`. Writes call [`invalidate`] after
//! their transaction commits and before the response is sent, with every key that could now
//! be stale; the helpers here name those keys so each write path lists them the same way.

use domain::ids::{CategoryId, CustomerId, OrderId, ProductId, StoreId};
use std::future::Future;

use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cache::{keys, Key, Outcome, Stale, Tally, TallyOf};
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use storage::stock::StockFigures;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::views::dashboard::{view_of, DashboardView};
pub use crate::views::tally_of;

/// How the cache served an answer: `hit`, `miss` or `bypass`.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// A JSON answer and how the cache served it.
pub struct Cached<T>(pub T, pub Outcome);

impl<T: Serialize> IntoResponse for Cached<T> {
    fn into_response(self) -> Response {
        let mut response = Json(self.0).into_response();
        response
            .headers_mut()
            .insert(X_CACHE, HeaderValue::from_static(self.1.as_str()));
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

/// [`read_through`] for a value with stock figures (a product body, a stock row): `load`
/// answers the value and its figures, kept where `of` says, and the newest figures are laid
/// over a cached value by `apply` (see [`cache::Tally`]).
pub async fn read_through_tallied<T, F, Fut>(
    state: &AppState,
    at: (&Key, &str, TallyOf),
    load: F,
    apply: impl Fn(&mut T, &Tally),
) -> ApiResult<Cached<T>>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<(T, Tally)>>,
{
    let (value, outcome) = state.cache.get_or_load_tallied(at, load, apply).await?;
    Ok(Cached(value, outcome))
}

/// The variant name of a query: its canonical JSON.
pub fn field_of<Q: Serialize>(query: &Q) -> String {
    serde_json::to_string(query).unwrap_or_default()
}

/// Forgets `stale` (keys, or some of their variants); see [`cache::Cache::invalidate`].
///
/// With reads on standbys, a read that misses right after this may load from a standby that
/// has not replayed the write yet and cache the old value. Forgetting the keys again once every
/// standby that takes reads must have replayed it bounds how long such a value can live.
pub async fn invalidate<S>(state: &AppState, stale: Vec<S>)
where
    S: Clone + Into<Stale> + Send + Sync + 'static,
{
    state.cache.invalidate(&stale).await;
    if let Some(window) = state.db.stale_read_window() {
        let cache = state.cache.clone();
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            cache.invalidate(&stale).await;
        });
    }
}

/// What a stock change did besides moving figures, for the lists that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockEffect {
    /// Units sold or given back (a sale, its cancellation): the bestsellers, the lists sorted
    /// by sales and, as stock may have run out, those filtered by stock.
    Sold,
    /// A product's chain-wide quantity went from zero to more or back (an adjustment): the
    /// lists filtered by stock.
    CrossedZero,
    /// Neither (a restock of a product in stock, a transfer, which keeps the total): lists
    /// hold ids and show figures from the products' tallies, so none changes.
    FiguresOnly,
}

/// Whether a stock change moved its stores' dashboard figures: a sale always does (today's
/// sales); a restock or a transfer only when a stock row came or changed its status (low or
/// out of stock), which most do not. Unchanged figures are not read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFigures {
    Changed,
    Unchanged,
}

/// What a stock change in `stores` of `products` makes stale: the products' stock figures
/// by id and sku (moved forward to the committed ones: `known`, as the change's statement
/// returned them, or else read here after the commit, as after a replay, whose first
/// attempt's figures are not known; their bodies stay cached); the list variants that filter
/// by stock or sort by sales when `effect` changed them (lists hold ids, so no other variant
/// changes); the bestsellers after a sale;
/// the figures of the stores' rows of these products (moved forward the same way) and the
/// stores' stock lists (not their other rows); the stores' dashboards (low-stock counts,
/// sales), moved forward to their new figures when `figures` changed.
pub async fn stock_keys(
    state: &AppState,
    products: &[ProductId],
    stores: &[StoreId],
    effect: StockEffect,
    figures: StoreFigures,
    known: Option<StockFigures>,
) -> ApiResult<Vec<Stale>> {
    let StockFigures {
        products: identities,
        rows,
    } = match known {
        Some(known) => known,
        None => {
            let primary = state.db.primary();
            let (products, rows) = tokio::try_join!(
                storage::products::cache_identities(primary, products),
                storage::inventory::row_figures(primary, stores, products),
            )?;
            StockFigures { products, rows }
        }
    };
    let mut out: Vec<Stale> = Vec::new();
    let mut categories: Vec<CategoryId> = Vec::new();
    for product in identities {
        let tally = tally_of(product.stock_seq, product.quantity, product.sales_count);
        out.push(Stale::Tally {
            key: keys::product(product.id),
            variant: None,
            tally,
        });
        out.push(Stale::Tally {
            key: keys::product_sku(&product.sku),
            variant: None,
            tally,
        });
        if !categories.contains(&product.category_id) {
            categories.push(product.category_id);
        }
    }
    if effect != StockEffect::FiguresOnly {
        for category in categories {
            out.push(Stale::prefixed(
                keys::category_products(category),
                keys::variant::AFTER_STOCK_CHANGE,
            ));
        }
        out.push(Stale::prefixed(
            keys::product_search(),
            keys::variant::AFTER_STOCK_CHANGE,
        ));
    }
    if effect == StockEffect::Sold {
        out.push(keys::bestsellers().into());
    }
    for row in rows {
        out.push(Stale::Tally {
            key: keys::store_inventory(row.store_id),
            variant: Some(keys::variant::stock_item(row.product_id)),
            tally: row_tally(row.stock_seq, row.quantity, row.updated_at),
        });
    }
    for store in stores {
        out.push(Stale::prefixed(
            keys::store_inventory(*store),
            &[keys::variant::STOCK_LIST],
        ));
    }
    if figures == StoreFigures::Changed {
        out.extend(fresh_figures(state, stores).await);
    }
    Ok(out)
}

/// A stock row's figures as the cache keeps them beside the row: its product's stock
/// sequence (every change of any of the product's rows moves it on), quantity and the time
/// of its last change.
pub fn row_tally(stock_seq: i64, quantity: i32, updated_at: DateTime<Utc>) -> Tally {
    Tally {
        seq: stock_seq,
        quantity: i64::from(quantity),
        sold: 0,
        changed_at_us: updated_at.timestamp_micros(),
    }
}

/// What a change of an order (placement, status, payment) makes stale besides its store's
/// figures ([`stock_keys`] or [`dashboard_keys`]): the order and the customer's recent
/// orders.
pub fn order_keys(order_id: OrderId, customer_id: CustomerId) -> Vec<Stale> {
    vec![
        keys::order(order_id).into(),
        keys::customer_recent_orders(customer_id).into(),
    ]
}

/// What a change of the dashboards' figures in `stores` (an order, a workshop job) makes
/// stale: see [`fresh_figures`].
pub async fn dashboard_keys(state: &AppState, stores: &[StoreId]) -> Vec<Stale> {
    fresh_figures(state, stores).await
}

/// The figures for `stores` (`None`: the whole chain) through the dashboard keys; also what
/// warming loads.
///
/// One store's figures are versioned (`storage::dashboard::StoreFigures::seq`): a write in
/// the store puts its new figures in place ([`fresh_figures`]) instead of forgetting them,
/// so they are read from Redis until the day ends. The chain's and multi-store scopes'
/// figures are forgotten by every write (a version of the whole chain would be one counter
/// that every write in every store updates).
pub(crate) async fn cached_dashboard(
    state: &AppState,
    store_id: Option<StoreId>,
    stores: Option<Vec<StoreId>>,
) -> ApiResult<Cached<DashboardView>> {
    let (today, day_start) = business_day(state);
    if let Some([store]) = stores.as_deref() {
        let store = *store;
        let (mut view, outcome) = state
            .cache
            .get_or_load_versioned(
                &keys::dashboard(Some(store)),
                &today.to_string(),
                || async {
                    let figures =
                        storage::dashboard::store_figures(&state.db.read(), store, day_start)
                            .await?;
                    Ok::<_, ApiError>((view_of(None, figures.stats), figures.seq))
                },
            )
            .await?;
        view.store_id = store_id;
        return Ok(Cached(view, outcome));
    }
    // The day is part of the variant, so yesterday's figures are never today's.
    let field = format!("{today}|{store_id:?}|{stores:?}");
    read_through(state, &keys::dashboard(None), &field, || async {
        let stats =
            storage::dashboard::dashboard_stats(&state.db.read(), stores.as_deref(), day_start)
                .await?;
        Ok(view_of(store_id, stats))
    })
    .await
}

/// What a write that changed figures of `stores` leaves for the dashboards: each store's
/// new figures, read from the primary after the commit, put in place unless newer ones are
/// cached; the chain's forgotten. A store whose figures cannot be read is forgotten: the
/// write has committed, and its answer must not be an error.
pub(crate) async fn fresh_figures(state: &AppState, stores: &[StoreId]) -> Vec<Stale> {
    let (today, day_start) = business_day(state);
    let field = today.to_string();
    let primary = state.db.primary();
    // One store, or two for a transfer: one statement each.
    let mut out = Vec::with_capacity(stores.len() + 1);
    for store in stores {
        let key = keys::dashboard(Some(*store));
        let fresh = match storage::dashboard::store_figures(primary, *store, day_start).await {
            // A view that cannot be encoded (never: numbers and strings) is forgotten.
            Ok(figures) => Stale::newer(
                key.clone(),
                &field,
                figures.seq,
                &view_of(None, figures.stats),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not read a store's new figures; forgetting them");
                None
            }
        };
        out.push(fresh.unwrap_or(Stale::Key(key)));
    }
    out.push(keys::dashboard(None).into());
    out
}

/// Today in the chain's business time zone, and when it began.
fn business_day(state: &AppState) -> (NaiveDate, DateTime<Utc>) {
    domain::dates::business_day(state.settings.tuning.business_offset, Utc::now())
}
