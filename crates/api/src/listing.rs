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

use domain::ids::{CategoryId, ProductId};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use cache::{keys, Key, Outcome, Stale};
use chrono::Utc;
use domain::catalog::ProductStatus;
use serde::{Deserialize, Serialize};
use storage::products::{ProductFilter, ProductSort};

use crate::cached::{field_of, Cached};
use crate::error::{ApiError, ApiResult};
use crate::pagination::List;
use crate::pagination::Sort;
use crate::raw::{RawJson, RawList};
use crate::state::AppState;
use crate::views::ProductView;

/// How old the order of a ranking by sales ([`keys::variant::RANKED`]) may be: with a sale
/// every few milliseconds in a busy chain, forgetting it on each one made it a miss on almost
/// every read, while nobody browsing the best-selling frames notices an order half a minute
/// old (the units sold and stock shown are current).
pub(crate) const RANKED_MAX_AGE: Duration = Duration::from_secs(30);

/// What a list key holds for one variant.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdPage {
    ids: Vec<ProductId>,
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
/// bodies through [`products_by_id`], as they are stored. A hit only when the ids and every
/// body came from Redis.
pub(crate) async fn cached_product_list<F, Fut>(
    state: &AppState,
    key: &Key,
    variant: &str,
    load: F,
) -> ApiResult<Cached<RawList<ProductView>>>
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
        return Ok(Cached(RawList::of(&list)?, outcome));
    }
    let (items, bodies) = products_by_id(state, &page.ids).await?;
    let outcome = match (outcome, bodies) {
        (Outcome::Hit, Outcome::Hit) => Outcome::Hit,
        (Outcome::Bypass, _) | (_, Outcome::Bypass) => Outcome::Bypass,
        _ => Outcome::Miss,
    };
    state.cache.stats().record(key.kind, outcome);
    Ok(Cached(
        RawList {
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
/// variant as `GET /products/{id}`), each body as stored with its newest figures spliced in
/// (as `GET /products/{id}` answers it); the misses come from one query. A product that no
/// longer exists is left out.
pub(crate) async fn products_by_id(
    state: &AppState,
    ids: &[ProductId],
) -> ApiResult<(Vec<RawJson<ProductView>>, Outcome)> {
    let keys: Vec<Key> = ids.iter().map(|id| keys::product(*id)).collect();
    let (views, outcome) = state
        .cache
        .get_many_tallied(
            &keys,
            "",
            |missing| async move {
                let wanted: Vec<ProductId> = missing.iter().map(|&i| ids[i]).collect();
                let records = storage::products::products_by_ids(&state.db.read(), &wanted).await?;
                let mut by_id: HashMap<ProductId, _> =
                    records.into_iter().map(|r| (r.id, r)).collect();
                missing
                    .into_iter()
                    .filter_map(|i| {
                        by_id.remove(&ids[i]).map(|r| {
                            let (view, tally) = ProductView::tallied(r);
                            Ok((i, RawJson::of(&view)?, tally))
                        })
                    })
                    .collect::<ApiResult<Vec<_>>>()
            },
            RawJson::apply_tally,
        )
        .await?;
    Ok((views.into_iter().flatten().collect(), outcome))
}

/// How a product list is ordered. Without `sort`, a search ranks by relevance and a plain
/// list goes by name.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SortParam {
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "price")]
    Price,
    #[serde(rename = "-price")]
    PriceDesc,
    #[serde(rename = "-sales")]
    SalesDesc,
}

#[derive(Default, Clone, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Words of the name, brand or description; prefixes and small typos match too.
    pub(crate) q: Option<String>,
    #[param(value_type = Option<Uuid>)]
    pub(crate) category: Option<CategoryId>,
    brand: Option<String>,
    #[param(value_type = Option<crate::schema::ProductStatus>)]
    status: Option<ProductStatus>,
    /// Paise, 0 or more.
    min_price: Option<i64>,
    /// Paise, 0 or more.
    max_price: Option<i64>,
    in_stock: Option<bool>,
    sort: Option<SortParam>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

impl ProductQuery {
    /// This query's variant name in a list key: what its answer depends on beyond the list's
    /// membership and text (see [`keys::variant`]), then its canonical JSON.
    pub(crate) fn variant(&self) -> String {
        let by_sales = matches!(self.sort, Some(SortParam::SalesDesc));
        let by_price = matches!(self.sort, Some(SortParam::Price | SortParam::PriceDesc));
        let price = by_price || self.min_price.is_some() || self.max_price.is_some();
        if by_sales && self.in_stock.is_none() && !price {
            return format!("{}{}", keys::variant::RANKED, field_of(self));
        }
        let stock = by_sales || self.in_stock.is_some();
        format!("{}{}", keys::variant::prefix(stock, price), field_of(self))
    }
}

/// The search words of `q`: `None` without one, or when it has no letter or digit.
pub(crate) fn search_of(q: Option<&str>) -> Option<storage::products::SearchTerms> {
    // A q without a letter or digit has no word to search for: like a blank one, it is no
    // search (the OpenAPI document cannot say "at least one letter", so it may not be a 400).
    q.and_then(storage::products::search_terms)
}

/// The order of a product list and its cursor tag: `sort` if given, else relevance for a
/// search and name for a plain list.
pub(crate) fn sort_of(sort: Option<SortParam>, searching: bool) -> (ProductSort, Sort) {
    match (sort, searching) {
        (Some(SortParam::Name), _) | (None, false) => (ProductSort::Name, Sort::NAME),
        (Some(SortParam::Price), _) => (ProductSort::Price, Sort::PRICE),
        (Some(SortParam::PriceDesc), _) => (ProductSort::PriceDesc, Sort::PRICE_DESC),
        (Some(SortParam::SalesDesc), _) => (ProductSort::SalesDesc, Sort::SALES_DESC),
        (None, true) => (ProductSort::Relevance, Sort::RELEVANCE),
    }
}

/// Runs a product list for `GET /products` and `GET /categories/{id}/products`.
pub(crate) async fn product_list(
    state: &AppState,
    query: ProductQuery,
    category: Option<CategoryId>,
) -> ApiResult<List<ProductView>> {
    let search = search_of(query.q.as_deref());
    for (name, price) in [("minPrice", query.min_price), ("maxPrice", query.max_price)] {
        if price.is_some_and(|p| p < 0) {
            return Err(ApiError::bad_field(name, "must be 0 or more (paise)"));
        }
    }
    // minPrice above maxPrice is a range nothing lies in: an empty page, not an error (no
    // schema can relate two parameters).
    let (sort, tag) = sort_of(query.sort, search.is_some());
    let (limit, after) = state
        .pager("products", tag)
        .request(query.limit, query.cursor.as_deref())?;
    let filter = ProductFilter {
        search,
        category_id: category.or(query.category),
        brand: query.brand,
        status: query.status,
        min_price: query.min_price,
        max_price: query.max_price,
        in_stock: query.in_stock,
    };
    let page =
        storage::products::list_products(&state.db.read(), &filter, sort, limit, after.as_ref())
            .await?;
    Ok(state.pager("products", tag).list(page, ProductView::from))
}

/// The top `limit` sellers through `bestsellers` (the limit is the variant; ids only, the
/// bodies through their own keys); also what warming loads.
pub(crate) async fn cached_bestsellers(
    state: &AppState,
    limit: i64,
) -> ApiResult<Cached<RawList<ProductView>>> {
    cached_product_list(state, &keys::bestsellers(), &limit.to_string(), || async {
        let products = storage::products::bestsellers(&state.db.read(), limit).await?;
        Ok(List {
            items: products.into_iter().map(ProductView::from).collect(),
            next_cursor: None,
        })
    })
    .await
}
