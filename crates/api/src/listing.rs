//! Product lists cached as pages of ids, shown through each product's own `product:{id}` key.
//!
//! Why not cache whole pages: a product's body carries its stock and units sold, which every
//! sale changes. A page cached with bodies would be forgotten by any sale of any product on
//! it, and the hot products are on many pages, so lists would hardly ever hit. A page of ids
//! only changes when the list's membership or order does: a change of text, status or
//! category forgets the whole list key; a price change forgets only the variants filtered or
//! sorted by price; a sale only those filtered by stock or sorted by sales (see
//! [`cache::keys::variant`]), except rankings by sales, which are reloaded once older than
//! [`RANKED_MAX_AGE`] instead. The bodies are then read in one round trip for the whole page,
//! and the misses in one query.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use cache::{keys, Key, Outcome, Stale};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cached::Cached;
use crate::error::{ApiError, ApiResult};
use crate::handlers::products::ProductView;
use crate::pagination::List;
use crate::state::AppState;

/// How old the order of a ranking by sales ([`keys::variant::RANKED`]) may be: with a sale
/// every few milliseconds in a busy chain, forgetting it on each one made it a miss on almost
/// every read, while nobody browsing the best-selling frames notices an order half a minute
/// old (the units sold and stock shown are current).
pub(crate) const RANKED_MAX_AGE: Duration = Duration::from_secs(30);

/// What a list key holds for one variant.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdPage {
    ids: Vec<Uuid>,
    next_cursor: Option<String>,
    /// When the page was read from the database (milliseconds since the epoch); absent in
    /// pages cached before it was kept, which count as too old for a ranking.
    #[serde(default)]
    loaded_at_ms: Option<i64>,
}

impl IdPage {
    /// Whether a ranking's page is older than [`RANKED_MAX_AGE`].
    fn aged(&self, now_ms: i64) -> bool {
        let max_age = i64::try_from(RANKED_MAX_AGE.as_millis()).unwrap_or(i64::MAX);
        self.loaded_at_ms
            .is_none_or(|loaded| now_ms.saturating_sub(loaded) > max_age)
    }
}

/// The page of `variant` under `key`: its ids from the cache (or `load` on a miss), the
/// bodies through [`products_by_id`]. A hit only when the ids and every body came from Redis.
pub(crate) async fn cached_product_list<F, Fut>(
    state: &AppState,
    key: &Key,
    variant: &str,
    load: F,
) -> ApiResult<Cached<List<ProductView>>>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ApiResult<List<ProductView>>>,
{
    let mut loaded = None;
    let (mut page, mut outcome) = read_page(state, key, variant, &load, &mut loaded).await?;
    let ranked = variant.starts_with(keys::variant::RANKED);
    if ranked && outcome == Outcome::Hit && page.aged(Utc::now().timestamp_millis()) {
        // Forgotten first: the reload's write-back lands only on the versions its read saw,
        // and other readers stop taking the old order meanwhile.
        state
            .cache
            .invalidate(&[Stale::Variants {
                key: key.clone(),
                fields: vec![variant.to_owned()],
                prefixes: Vec::new(),
            }])
            .await;
        (page, outcome) = read_page(state, key, variant, &load, &mut loaded).await?;
    }
    // After a miss the page's bodies are read through their keys all the same (one cheap
    // query for those not cached), so they are cached too and the next read of the page is a
    // hit. They cannot be cached from the list's own query: that ran before their versions
    // were read, so a write in between could not stop its old values from landing.
    if let (Some(list), Outcome::Bypass) = (loaded, outcome) {
        state.cache.stats().record(key.kind, outcome);
        return Ok(Cached(list, outcome));
    }
    let (items, bodies) = products_by_id(state, &page.ids).await?;
    let outcome = match (outcome, bodies) {
        (Outcome::Hit, Outcome::Hit) => Outcome::Hit,
        (Outcome::Bypass, _) | (_, Outcome::Bypass) => Outcome::Bypass,
        _ => Outcome::Miss,
    };
    state.cache.stats().record(key.kind, outcome);
    Ok(Cached(
        List {
            items,
            next_cursor: page.next_cursor,
        },
        outcome,
    ))
}

/// The page of ids of `variant` through the cache; what a miss loaded is left in `loaded`.
async fn read_page<F, Fut>(
    state: &AppState,
    key: &Key,
    variant: &str,
    load: &F,
    loaded: &mut Option<List<ProductView>>,
) -> ApiResult<(IdPage, Outcome)>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ApiResult<List<ProductView>>>,
{
    state
        .cache
        .get_or_load_uncounted(key, variant, || async {
            let list = load().await?;
            let page = IdPage {
                ids: list.items.iter().map(ProductView::id).collect(),
                next_cursor: list.next_cursor.clone(),
                loaded_at_ms: Some(Utc::now().timestamp_millis()),
            };
            *loaded = Some(list);
            Ok::<_, ApiError>(page)
        })
        .await
}

/// The products `ids`, in that order, through their `product:{id}` keys (the same key and
/// variant as `GET /products/{id}`); the misses come from one query. A product that no
/// longer exists is left out.
pub(crate) async fn products_by_id(
    state: &AppState,
    ids: &[Uuid],
) -> ApiResult<(Vec<ProductView>, Outcome)> {
    let keys: Vec<Key> = ids.iter().map(|id| keys::product(*id)).collect();
    let (views, outcome) = state
        .cache
        .get_many_tallied(
            &keys,
            "",
            |missing| async move {
                let wanted: Vec<Uuid> = missing.iter().map(|&i| ids[i]).collect();
                let records = storage::products::products_by_ids(&state.db.read(), &wanted).await?;
                let mut by_id: HashMap<Uuid, _> = records.into_iter().map(|r| (r.id, r)).collect();
                Ok::<_, ApiError>(
                    missing
                        .into_iter()
                        .filter_map(|i| {
                            by_id.remove(&ids[i]).map(|r| {
                                let (view, tally) = ProductView::tallied(r);
                                (i, view, tally)
                            })
                        })
                        .collect(),
                )
            },
            ProductView::apply_tally,
        )
        .await?;
    Ok((views.into_iter().flatten().collect(), outcome))
}
