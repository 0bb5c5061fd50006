//! The order lists: `GET /orders` and `GET /customers/{id}/orders` (cached per caller's
//! scope, and loaded back after a write that forgot it).

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, FixedOffset, Utc};
use domain::ids::{CustomerId, StoreId};
use domain::order::{Order, OrderStatus, PaymentStatus};
use serde::{Deserialize, Serialize};
use storage::orders::{Listed, OrderFilter};
use storage::After;

use super::{OrderView, READERS};
use crate::auth::Auth;
use crate::cached::{field_of, invalidate, read_through, Cached};
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{Path, Query};
use crate::lookup::archived_order;
use crate::pagination::{List, Sort};
use crate::raw::RawJson;
use crate::state::AppState;
use cache::keys;

#[derive(Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    #[param(value_type = Option<Uuid>)]
    customer_id: Option<CustomerId>,
    #[param(value_type = Option<Uuid>)]
    store_id: Option<StoreId>,
    #[param(value_type = Option<crate::schema::OrderStatus>)]
    status: Option<OrderStatus>,
    #[param(value_type = Option<crate::schema::PaymentStatus>)]
    payment_status: Option<PaymentStatus>,
    /// Created at or after (RFC 3339, its date as written from 1900-01-01 to 2200-12-31).
    // With its offset, so the range is checked on the date as written, as the document's
    // pattern reads it (`api::limits`), not on the UTC date a few hours away.
    from: Option<DateTime<FixedOffset>>,
    /// Created before (RFC 3339, its date as written from 1900-01-01 to 2200-12-31).
    to: Option<DateTime<FixedOffset>>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Whose orders a list shows: every store's (an admin's lists) or some stores' (the
/// caller's own). It is part of a cached list's variant, since what a caller sees depends
/// on their stores, and a variant can be read back into one (see [`warm_customer_orders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    All,
    /// Sorted, so that callers with the same stores share a variant.
    Stores(Vec<StoreId>),
}

impl Scope {
    fn of(auth: &Auth) -> Scope {
        if auth.is_admin() {
            return Scope::All;
        }
        let mut stores = auth.store_ids.clone();
        stores.sort_unstable();
        stores.dedup();
        Scope::Stores(stores)
    }

    /// The stores a query must keep to; `None`: all of them.
    fn visible(&self) -> Option<Vec<StoreId>> {
        match self {
            Scope::All => None,
            Scope::Stores(stores) => Some(stores.clone()),
        }
    }

    /// The scope that sees what any of `scopes` sees.
    fn union(scopes: &[Scope]) -> Scope {
        let mut stores = Vec::new();
        for scope in scopes {
            match scope {
                Scope::All => return Scope::All,
                Scope::Stores(some) => stores.extend_from_slice(some),
            }
        }
        stores.sort_unstable();
        stores.dedup();
        Scope::Stores(stores)
    }

    /// This scope's first page of `limit`, cut from the first page of the same list in a
    /// wider scope: the wider page holds this scope's newest orders down to its last one, so
    /// it serves when more than `limit` of them are in it, or when it is the whole list.
    /// `None` otherwise (the next wider page might hold more of this scope's).
    fn first_page_within(
        &self,
        wider: &storage::Page<Order>,
        limit: usize,
    ) -> Option<storage::Page<Order>> {
        let mut mine: Vec<Order> = wider
            .items
            .iter()
            .filter(|order| match self {
                Scope::All => true,
                Scope::Stores(stores) => stores.contains(&order.store_id),
            })
            .take(limit + 1)
            .cloned()
            .collect();
        if mine.len() > limit {
            mine.truncate(limit);
            let next = mine
                .last()
                .map(|last| After::Time(last.created_at, last.id.uuid()));
            return Some(storage::Page { items: mine, next });
        }
        wider.next.is_none().then_some(storage::Page {
            items: mine,
            next: None,
        })
    }

    /// As written in a variant: `all`, or the store ids joined by commas.
    fn to_variant(&self) -> String {
        match self {
            Scope::All => "all".to_owned(),
            Scope::Stores(stores) => stores
                .iter()
                .map(StoreId::to_string)
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// The scope [`Scope::to_variant`] wrote; `None` for any other text.
    fn from_variant(text: &str) -> Option<Scope> {
        if text == "all" {
            return Some(Scope::All);
        }
        let stores: Vec<StoreId> = if text.is_empty() {
            Vec::new()
        } else {
            text.split(',')
                .map(|id| id.parse().ok())
                .collect::<Option<_>>()?
        };
        Some(Scope::Stores(stores))
    }
}

/// Checks that the caller may see the store a list asks for, if it asks for one.
fn check_store(auth: &Auth, store_id: Option<StoreId>) -> ApiResult<()> {
    match store_id {
        Some(store) => auth.require_store(store),
        None => Ok(()),
    }
}

/// Checks a list's parameters before anything is read: the page, and dates SQL can take.
fn page_of(state: &AppState, query: &OrderQuery) -> ApiResult<(i64, Option<After>)> {
    let page = state
        .pager("orders", Sort::CREATED)
        .request(query.limit, query.cursor.as_deref())?;
    for (name, value) in [("from", query.from), ("to", query.to)] {
        if let Some(Err(message)) = value.map(|t| domain::dates::date(t.date_naive())) {
            return Err(ApiError::bad_field(name, message));
        }
    }
    // `from` at or after `to` is a range no order lies in: an empty page, not an error (no
    // schema can relate two parameters, so the OpenAPI document could not say it).
    Ok(page)
}

/// The orders of a page in `scope`, as storage and the archive give them.
async fn order_rows(
    state: &AppState,
    scope: &Scope,
    query: OrderQuery,
    customer: Option<CustomerId>,
    fresh: bool,
) -> ApiResult<storage::Page<Order>> {
    let (limit, after) = page_of(state, &query)?;
    let filter = OrderFilter {
        customer_id: customer.or(query.customer_id),
        store_id: query.store_id,
        visible_stores: scope.visible(),
        status: query.status,
        payment_status: query.payment_status,
        from: query.from.map(|t| t.with_timezone(&Utc)),
        to: query.to.map(|t| t.with_timezone(&Utc)),
    };
    let pool = state.db.read_fresh(fresh);
    let page =
        storage::orders::list_orders_with_archived(&pool, &filter, limit, after.as_ref()).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for row in page.items {
        items.push(match row {
            Listed::Live(order) => *order,
            Listed::Archived { id, .. } => archived_order(state, &pool, id).await?,
        });
    }
    Ok(storage::Page {
        items,
        next: page.next,
    })
}

/// A page of orders in `scope` (whose store, if the query names one, the caller was checked
/// for); `fresh` reads the primary, which has every committed write.
async fn order_list(
    state: &AppState,
    scope: &Scope,
    query: OrderQuery,
    customer: Option<CustomerId>,
    fresh: bool,
) -> ApiResult<List<OrderView>> {
    let page = order_rows(state, scope, query, customer, fresh).await?;
    Ok(order_page(state, page))
}

/// Orders as a list answers them, with the page's cursor signed.
fn order_page(state: &AppState, page: storage::Page<Order>) -> List<OrderView> {
    state
        .pager("orders", Sort::CREATED)
        .list(page, OrderView::from)
}

/// Lists orders, newest first, archived ones (`"archived": true`) among them.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])), params(OrderQuery),
    responses((status = 200, body = List<OrderView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn list_orders(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<OrderQuery>,
) -> ApiResult<Json<List<OrderView>>> {
    auth.require(READERS)?;
    check_store(&auth, query.store_id)?;
    Ok(Json(
        order_list(&state, &Scope::of(&auth), query, None, false).await?,
    ))
}

/// A customer's orders, most recent first (in the stores the caller may see), with those of
/// archived months (`"archived": true`). A cached page is answered as stored, not decoded
/// (`RawJson`): nothing in it changes between the write-back and the answer.
#[utoipa::path(get, path = "/api/v1/customers/{id}/orders", tag = "customers", security(("bearer" = [])), params(("id" = Uuid, Path), OrderQuery),
    responses((status = 200, body = List<OrderView>), (status = 404, body = Problem)))]
pub(super) async fn list_customer_orders(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CustomerId>,
    Query(query): Query<OrderQuery>,
) -> ApiResult<Response> {
    auth.require(READERS)?;
    page_of(&state, &query)?;
    check_store(&auth, query.store_id)?;
    let scope = Scope::of(&auth);
    let field = customer_orders_variant(&scope, &query);
    let Cached(page, outcome) = read_through(
        &state,
        &keys::customer_recent_orders(id),
        &field,
        || async { RawJson::of(&customer_orders(&state, &scope, id, query, false).await?) },
    )
    .await?;
    Ok(page.answer(outcome))
}

/// The cache variant of a customer's orders: the query and the scope it was read in.
fn customer_orders_variant(scope: &Scope, query: &OrderQuery) -> String {
    format!("{}|{}", field_of(query), scope.to_variant())
}

/// A customer's orders in `scope`; 404 for an unknown customer.
async fn customer_orders(
    state: &AppState,
    scope: &Scope,
    id: CustomerId,
    query: OrderQuery,
    fresh: bool,
) -> ApiResult<List<OrderView>> {
    storage::customers::customer_by_id(&state.db.read_fresh(fresh), id)
        .await
        .or_not_found("customer")?;
    order_list(state, scope, query, Some(id), fresh).await
}

/// After an order write: forgets `stale` (the customer's history among it) and loads the
/// history's first page back in every scope it was cached in, read before it is forgotten,
/// and in the writer's ([`warm_customer_orders`]).
pub(super) async fn forget_and_warm(
    state: &AppState,
    auth: &Auth,
    customer: CustomerId,
    stale: Vec<cache::Stale>,
) {
    let cached = cached_customer_scopes(state, customer).await;
    invalidate(state, stale).await;
    warm_customer_orders(state, auth, customer, cached);
}

/// The first pages of a customer's orders cached right now, by the scope each was read in.
/// Pages of other queries (filters, later pages) are left to be read again when asked for.
async fn cached_customer_scopes(state: &AppState, customer: CustomerId) -> Vec<Scope> {
    let first_page = field_of(&OrderQuery::default());
    state
        .cache
        .variants(&keys::customer_recent_orders(customer))
        .await
        .iter()
        .filter_map(|variant| {
            let (query, scope) = variant.rsplit_once('|')?;
            (query == first_page).then(|| Scope::from_variant(scope))?
        })
        .collect()
}

/// After a write forgot a customer's orders: loads the first page of them back into the
/// cache in every scope it was cached in (`cached`, from [`cached_customer_scopes`]) and in
/// the writer's, from one read ([`warm_from_one_read`]); the writer's page is read alone if
/// that read cannot serve it. The till shows a customer's history around every sale, so the
/// page is read again at once, and by staff whose stores differ from the writer's: with the
/// writer's page alone, the `ims-bench` mix (histories read twice as often as orders are
/// placed, a third of the staff in two stores) hit 59% of histories; with every scope's
/// page, 87% (docs/benchmarks.md). Read from the primary, which has the write (a standby
/// might not yet); in the background, so the write's answer does not wait for it; not
/// counted as hits or misses, being no client's reads. A write that commits meanwhile bumps
/// the key's versions and these write-backs do not land.
fn warm_customer_orders(state: &AppState, auth: &Auth, customer: CustomerId, cached: Vec<Scope>) {
    let mut scopes = cached;
    let writer = Scope::of(auth);
    if !scopes.contains(&writer) {
        scopes.push(writer.clone());
    }
    let state = state.clone();
    tokio::spawn(async move {
        let served = warm_from_one_read(&state, customer, &scopes).await;
        if served.contains(&writer) {
            return;
        }
        // The writer's till reads the history again at once: its page is worth a read of its
        // own. Another scope the wide read could not serve is left to its next reader.
        let query = OrderQuery::default();
        let field = customer_orders_variant(&writer, &query);
        let loaded = state
            .cache
            .get_or_load_uncounted(&keys::customer_recent_orders(customer), &field, || {
                // The customer exists: the write just referred to it.
                order_list(&state, &writer, query, Some(customer), true)
            })
            .await;
        if let Err(e) = loaded {
            tracing::debug!(error = ?e, %customer, "could not warm a customer's orders");
        }
    });
}

/// How many of a customer's newest orders the warming reads for all the cached scopes at
/// once: the most a page may hold. Orders spread over the stores, so a scope of one store
/// needs several times its page of the customer's orders in all stores to find its own.
const WIDE_READ: i64 = crate::pagination::MAX_LIMIT;

/// How many of a customer's newest orders [`warm_from_one_read`] reads for `scopes` scopes
/// with pages of `page_limit`. One scope (the writer's alone, as after most sales) needs only
/// its own first page and one order more; reading the widest page there cost the statement
/// more than half its time in an `ims-bench` run of sales alone (docs/benchmarks.md). Several
/// scopes need the widest page, to find each one's newest orders among the others'.
fn read_size(scopes: usize, page_limit: i64) -> i64 {
    if scopes == 1 {
        // One more than the page: a scope's page is cut from a wider one only when more than
        // a page of its orders is in it, or all of them ([`Scope::first_page_within`]).
        (page_limit + 1).min(WIDE_READ)
    } else {
        WIDE_READ
    }
}

/// Caches the first page of every scope in `scopes` from one read of the customer's newest
/// orders in all of their stores together, cut per scope ([`Scope::first_page_within`]): one
/// statement instead of one per scope (three or four a sale in the `ims-bench` mix, where a
/// third of the staff work in two stores). Answers the scopes it served.
async fn warm_from_one_read(
    state: &AppState,
    customer: CustomerId,
    scopes: &[Scope],
) -> Vec<Scope> {
    let first_page = OrderQuery::default();
    let (page_limit, _) = match page_of(state, &first_page) {
        Ok(page) => page,
        Err(_) => return Vec::new(),
    };
    let limit = usize::try_from(page_limit).unwrap_or(0);
    let fields: Vec<String> = scopes
        .iter()
        .map(|scope| customer_orders_variant(scope, &first_page))
        .collect();
    let union = Scope::union(scopes);
    let wide = OrderQuery {
        limit: Some(read_size(scopes.len(), page_limit)),
        ..OrderQuery::default()
    };
    let loaded = state
        .cache
        .load_variants_uncounted(&keys::customer_recent_orders(customer), &fields, || async {
            let rows = order_rows(state, &union, wide, Some(customer), true).await?;
            Ok::<_, ApiError>(
                scopes
                    .iter()
                    .map(|scope| {
                        let page = scope.first_page_within(&rows, limit)?;
                        Some(order_page(state, page))
                    })
                    .collect(),
            )
        })
        .await;
    match loaded {
        Ok(pages) => scopes
            .iter()
            .zip(pages)
            .filter_map(|(scope, page)| page.is_some().then(|| scope.clone()))
            .collect(),
        Err(e) => {
            tracing::debug!(error = ?e, %customer, "could not warm a customer's orders");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_is_read_back_from_its_variant() {
        let (a, b) = (StoreId::generate(), StoreId::generate());
        for scope in [
            Scope::All,
            Scope::Stores(Vec::new()),
            Scope::Stores(vec![a]),
            Scope::Stores(vec![a, b]),
        ] {
            assert_eq!(Scope::from_variant(&scope.to_variant()), Some(scope));
        }
        assert_eq!(Scope::from_variant("[a, b]"), None);
        assert_eq!(Scope::from_variant(&format!("{a},x")), None);
    }

    fn order_at(store: StoreId, minute: i64) -> Order {
        let at = chrono::DateTime::from_timestamp(1_700_000_000 - minute * 60, 0).expect("a time");
        Order {
            id: domain::ids::OrderId::generate(),
            order_number: domain::order::order_number(2026, minute),
            store_id: store,
            customer_id: CustomerId::generate(),
            customer_name: "Asha".into(),
            customer_phone: "+919800000000".into(),
            items: Vec::new(),
            total: domain::money::Money::ZERO,
            amount_paid: domain::money::Money::ZERO,
            payments: Vec::new(),
            status: OrderStatus::Pending,
            payment_status: PaymentStatus::Paid,
            created_by: None,
            created_at: at,
            updated_at: at,
            archived: false,
        }
    }

    #[test]
    fn a_scope_s_first_page_is_cut_from_a_wider_page_only_when_it_is_all_there() {
        let (a, b, c) = (
            StoreId::generate(),
            StoreId::generate(),
            StoreId::generate(),
        );
        let scopes = [Scope::Stores(vec![b, a]), Scope::Stores(vec![c, a])];
        let mut union = vec![a, b, c];
        union.sort_unstable();
        assert_eq!(Scope::union(&scopes), Scope::Stores(union));
        assert_eq!(Scope::union(&[Scope::All, scopes[0].clone()]), Scope::All);

        // Newest first: a, b, c, a, a.
        let orders: Vec<Order> = [a, b, c, a, a]
            .into_iter()
            .enumerate()
            .map(|(i, store)| order_at(store, i as i64))
            .collect();
        let ids = |page: &storage::Page<Order>| page.items.iter().map(|o| o.id).collect::<Vec<_>>();
        let whole = storage::Page {
            items: orders.clone(),
            next: None,
        };
        let only_b = Scope::Stores(vec![b])
            .first_page_within(&whole, 2)
            .expect("whole");
        assert_eq!(ids(&only_b), [orders[1].id]);
        assert!(only_b.next.is_none());
        let a_and_c = scopes[1].first_page_within(&whole, 20).expect("whole");
        assert_eq!(ids(&a_and_c), [0, 2, 3, 4].map(|i| orders[i].id));

        // A wider page with more after it serves a scope with more than a page of its own in
        // it (its cursor at its own last order), and no other.
        let cut = storage::Page {
            items: orders.clone(),
            next: Some(After::Time(orders[4].created_at, orders[4].id.uuid())),
        };
        let only_a = Scope::Stores(vec![a])
            .first_page_within(&cut, 2)
            .expect("3 of a's");
        assert_eq!(ids(&only_a), [orders[0].id, orders[3].id]);
        assert_eq!(
            only_a.next,
            Some(After::Time(orders[3].created_at, orders[3].id.uuid()))
        );
        assert!(Scope::Stores(vec![a]).first_page_within(&cut, 3).is_none());
        assert!(Scope::Stores(vec![b]).first_page_within(&cut, 2).is_none());
        assert_eq!(
            ids(&Scope::All.first_page_within(&cut, 4).expect("all")).len(),
            4
        );
        assert!(Scope::All.first_page_within(&cut, 5).is_none());
    }

    #[test]
    fn one_scope_s_page_is_served_by_a_read_of_its_own_size() {
        let a = StoreId::generate();
        let orders: Vec<Order> = (0..30).map(|minute| order_at(a, minute)).collect();
        let limit = 20;
        let read = usize::try_from(read_size(1, limit)).expect("a size");
        // What `order_rows` answers for a customer with more orders than the read.
        let rows = storage::Page {
            items: orders[..read].to_vec(),
            next: Some(After::Time(
                orders[read - 1].created_at,
                orders[read - 1].id.uuid(),
            )),
        };
        let page = Scope::Stores(vec![a])
            .first_page_within(&rows, 20)
            .expect("served by one read");
        assert_eq!(page.items.len(), 20);
        assert_eq!(
            page.next,
            Some(After::Time(orders[19].created_at, orders[19].id.uuid()))
        );
        // Several scopes read the widest page, and no read is wider than it.
        assert_eq!(read_size(2, limit), WIDE_READ);
        assert_eq!(read_size(1, WIDE_READ), WIDE_READ);
    }
}
