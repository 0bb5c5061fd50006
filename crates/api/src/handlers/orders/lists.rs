//! The order lists: `GET /orders` and `GET /customers/{id}/orders` (cached per caller's
//! scope, and loaded back after a write that forgot it).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, FixedOffset, Utc};
use domain::order::{OrderStatus, PaymentStatus};
use serde::{Deserialize, Serialize};
use storage::orders::{Listed, OrderFilter};
use storage::After;
use uuid::Uuid;

use super::{OrderView, READERS};
use crate::auth::Auth;
use crate::cached::{field_of, read_through, Cached};
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{Path, Query};
use crate::lookup::archived_order;
use crate::pagination::{List, Sort};
use crate::state::AppState;
use cache::keys;

#[derive(Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    customer_id: Option<Uuid>,
    store_id: Option<Uuid>,
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

/// Scopes a filter to the stores the caller may see.
fn scoped(auth: &Auth, store_id: Option<Uuid>) -> ApiResult<(Option<Uuid>, Option<Vec<Uuid>>)> {
    if let Some(store) = store_id {
        auth.require_store(store)?;
    }
    let visible = (!auth.is_admin()).then(|| auth.store_ids.clone());
    Ok((store_id, visible))
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

/// A page of orders; `fresh` reads the primary, which has every committed write.
async fn order_list(
    state: &AppState,
    auth: &Auth,
    query: OrderQuery,
    customer: Option<Uuid>,
    fresh: bool,
) -> ApiResult<List<OrderView>> {
    let (limit, after) = page_of(state, &query)?;
    let (store_id, visible_stores) = scoped(auth, query.store_id)?;
    let filter = OrderFilter {
        customer_id: customer.or(query.customer_id),
        store_id,
        visible_stores,
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
    let page = storage::Page {
        items,
        next: page.next,
    };
    Ok(state
        .pager("orders", Sort::CREATED)
        .list(page, OrderView::from))
}

/// Lists orders, newest first, archived ones (`"archived": true`) among them.
#[utoipa::path(get, path = "/orders", tag = "orders", security(("bearer" = [])), params(OrderQuery),
    responses((status = 200, body = List<OrderView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub(super) async fn list_orders(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<OrderQuery>,
) -> ApiResult<Json<List<OrderView>>> {
    auth.require(READERS)?;
    Ok(Json(order_list(&state, &auth, query, None, false).await?))
}

/// A customer's orders, most recent first (in the stores the caller may see), with those of
/// archived months (`"archived": true`).
#[utoipa::path(get, path = "/customers/{id}/orders", tag = "customers", security(("bearer" = [])), params(OrderQuery),
    responses((status = 200, body = List<OrderView>), (status = 404, body = Problem)))]
pub(super) async fn list_customer_orders(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    Query(query): Query<OrderQuery>,
) -> ApiResult<Cached<List<OrderView>>> {
    auth.require(READERS)?;
    page_of(&state, &query)?;
    let field = customer_orders_variant(&auth, &query);
    read_through(&state, &keys::customer_recent_orders(id), &field, || {
        customer_orders(&state, &auth, id, query, false)
    })
    .await
}

/// The cache variant of a customer's orders: the query and the caller's scope (what a
/// caller sees depends on their stores).
fn customer_orders_variant(auth: &Auth, query: &OrderQuery) -> String {
    let scope = if auth.is_admin() {
        "all".to_owned()
    } else {
        let mut stores = auth.store_ids.clone();
        stores.sort();
        format!("{stores:?}")
    };
    format!("{}|{scope}", field_of(query))
}

/// A customer's orders as `auth` sees them; 404 for an unknown customer.
async fn customer_orders(
    state: &AppState,
    auth: &Auth,
    id: Uuid,
    query: OrderQuery,
    fresh: bool,
) -> ApiResult<List<OrderView>> {
    storage::customers::customer_by_id(&state.db.read_fresh(fresh), id)
        .await
        .or_not_found("customer")?;
    order_list(state, auth, query, Some(id), fresh).await
}

/// After a write forgot a customer's orders: loads the first page of them, as the writer
/// sees it, back into the cache. The till shows a customer's history around every sale, so
/// the page is read again at once (the `ims-bench` mix reads histories twice as often as it
/// places orders, and they hit 64% while each order forgot one). Read from the primary,
/// which has the write (a standby might not yet); in the background, so the write's answer
/// does not wait for it; not counted as a hit or a miss, being no client's read. A write
/// that commits meanwhile bumps the key's version and this write-back does not land.
pub(super) fn warm_customer_orders(state: &AppState, auth: &Auth, customer: Uuid) {
    let (state, auth) = (state.clone(), auth.clone());
    tokio::spawn(async move {
        let query = OrderQuery::default();
        let field = customer_orders_variant(&auth, &query);
        let loaded = state
            .cache
            .get_or_load_uncounted(&keys::customer_recent_orders(customer), &field, || {
                customer_orders(&state, &auth, customer, query, true)
            })
            .await;
        if let Err(e) = loaded {
            tracing::debug!(error = ?e, %customer, "could not warm a customer's orders");
        }
    });
}
