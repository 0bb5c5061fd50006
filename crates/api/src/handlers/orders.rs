//! Orders: `POST/GET /orders`, `GET /orders/{id}`, `GET /orders/number/{n}`,
//! `PATCH /orders/{id}/status`, `POST /orders/{id}/payments`, `GET /customers/{id}/orders`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, FixedOffset, Utc};
use domain::order::{payment_amount, Line, NewOrder, OrderStatus, PaymentMethod, PaymentStatus};
use domain::user::Role;
use domain::ValidationErrors;
use serde::{Deserialize, Serialize};
use storage::idempotency::Done;
use storage::orders::{Listed, NewPayment, OrderFilter, OrderRecord};
use storage::After;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Auth;
use crate::cached::{
    dashboard_keys, field_of, invalidate, order_keys, read_through, stock_keys, Cached,
    StockEffect, StoreFigures,
};
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{IdempotentBody, Path, Query};
use crate::idempotent::{key_of, replay, stored, stored_as};
use crate::lookup::{archived_order, find_order, visible_order};
use crate::pagination::{List, Sort};
use crate::state::AppState;
use cache::keys;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders, place_order))
        .routes(routes!(get_order))
        .routes(routes!(get_order_by_number))
        .routes(routes!(change_order_status))
        .routes(routes!(add_payment))
        .routes(routes!(list_customer_orders))
}

/// Who sells.
const SELLERS: &[Role] = &[Role::Manager, Role::Sales];
/// Who may read orders.
const READERS: &[Role] = &[Role::Manager, Role::Sales, Role::Technician];

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItemView {
    product_id: Uuid,
    sku: String,
    name: String,
    quantity: i32,
    /// Minor units, as sold.
    unit_price: i64,
    line_total: i64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    id: Uuid,
    amount: i64,
    method: PaymentMethod,
    paid_at: DateTime<Utc>,
    recorded_by: Option<Uuid>,
}

/// A whole order in one read: the customer and every line as they were when it was placed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    id: Uuid,
    /// `ORD-<year>-<6+ digits>`.
    order_number: String,
    store_id: Uuid,
    customer_id: Uuid,
    customer_name: String,
    customer_phone: String,
    items: Vec<OrderItemView>,
    total: i64,
    amount_paid: i64,
    amount_due: i64,
    payments: Vec<PaymentView>,
    status: OrderStatus,
    payment_status: PaymentStatus,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Present, and `true`, only for an order of an archived month (`ims archive`): it is
    /// read from the archive and read-only (a payment, status change or job for it is 409).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    archived: bool,
}

impl From<OrderRecord> for OrderView {
    fn from(o: OrderRecord) -> Self {
        Self {
            id: o.id,
            order_number: o.order_number,
            store_id: o.store_id,
            customer_id: o.customer_id,
            customer_name: o.customer_name,
            customer_phone: o.customer_phone,
            items: o
                .items
                .0
                .into_iter()
                .map(|i| OrderItemView {
                    product_id: i.product_id,
                    sku: i.sku,
                    name: i.name,
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                    line_total: i.line_total,
                })
                .collect(),
            amount_due: o.total - o.amount_paid,
            total: o.total,
            amount_paid: o.amount_paid,
            payments: o
                .payments
                .0
                .into_iter()
                .map(|p| PaymentView {
                    id: p.id,
                    amount: p.amount,
                    method: p.method,
                    paid_at: p.paid_at,
                    recorded_by: p.recorded_by,
                })
                .collect(),
            status: o.status,
            payment_status: o.payment_status,
            created_by: o.created_by,
            created_at: o.created_at,
            updated_at: o.updated_at,
            archived: o.archived,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLineRequest {
    product_id: Uuid,
    /// 1 to 1000.
    quantity: i32,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrder {
    store_id: Uuid,
    customer_id: Uuid,
    /// 1 to 50 lines.
    items: Vec<OrderLineRequest>,
}

/// Places an order: takes the stock of every line from the store, or of none (409 naming the
/// short lines). With `Idempotency-Key`, a retry returns the first response and places nothing.
#[utoipa::path(post, path = "/orders", tag = "orders", security(("bearer" = [])), request_body = PlaceOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: same key and body within 24 h return the first response")),
    responses((status = 201, body = OrderView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn place_order(
    State(state): State<AppState>,
    auth: Auth,
    request: IdempotentBody<PlaceOrder>,
) -> ApiResult<Response> {
    auth.require(SELLERS)?;
    let body = &request.body;
    auth.require_store(body.store_id)?;
    let lines = body
        .items
        .iter()
        .map(|l| Line {
            product_id: l.product_id,
            quantity: l.quantity,
        })
        .collect();
    let order = NewOrder::parse(body.store_id, body.customer_id, lines)?;
    let key = key_of(&auth, &request);
    let render = |record: &OrderRecord| stored(OrderView::from(record.clone()));
    let placed = storage::orders::place_order(
        state.db.primary(),
        &order,
        auth.user_id,
        key.as_ref(),
        render,
    )
    .await?;
    // The order's id; the request names its store, customer and products.
    let order_id = match &placed {
        Done::New(record) => {
            tracing::info!(order_id = %record.id, order_number = %record.order_number, "order placed");
            Some(record.id)
        }
        // After a replay too, in case the first attempt committed and failed before this (a
        // primary lost at the commit).
        Done::Replay { body, .. } => body
            .get("id")
            .and_then(serde_json::Value::as_str)
            .and_then(|id| id.parse().ok()),
    };
    let mut products: Vec<Uuid> = body.items.iter().map(|i| i.product_id).collect();
    products.sort_unstable();
    products.dedup();
    let mut stale = match order_id {
        Some(id) => order_keys(id, body.customer_id),
        None => vec![keys::customer_recent_orders(body.customer_id).into()],
    };
    stale.extend(
        stock_keys(
            &state,
            &products,
            &[body.store_id],
            StockEffect::Sold,
            StoreFigures::Changed,
        )
        .await?,
    );
    invalidate(&state, stale).await;
    warm_customer_orders(&state, &auth, body.customer_id);
    Ok(match placed {
        Done::New(record) => (StatusCode::CREATED, Json(OrderView::from(record))).into_response(),
        Done::Replay { status, body } => replay(status, body),
    })
}

/// One whole order; an order of an archived month is read from the archive and carries
/// `"archived": true`.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
) -> ApiResult<Cached<OrderView>> {
    auth.require(READERS)?;
    let order: Cached<OrderView> = read_through(&state, &keys::order(id), "", || async {
        let order = find_order(&state, &state.db.read(), id).await?;
        Ok(OrderView::from(order))
    })
    .await?;
    // Other stores' orders are not found, cached or not.
    if auth.require_store(order.0.store_id).is_err() {
        return Err(ApiError::not_found("order"));
    }
    Ok(order)
}

/// One whole order by its number; archived orders too, with `"archived": true`.
#[utoipa::path(get, path = "/orders/number/{orderNumber}", tag = "orders", security(("bearer" = [])),
    responses((status = 200, body = OrderView), (status = 404, body = Problem)))]
async fn get_order_by_number(
    State(state): State<AppState>,
    auth: Auth,
    Path(number): Path<String>,
) -> ApiResult<Json<OrderView>> {
    auth.require(READERS)?;
    let missing = || ApiError::NotFound("no order with this number".into());
    let pool = state.db.read();
    let order = match storage::orders::order_by_number(&pool, &number).await {
        Ok(order) => order,
        Err(storage::Error::NotFound) => match &state.settings.archive {
            Some(archive) => archive
                .order_by_number(&pool, &number)
                .await?
                .ok_or_else(missing)?,
            None => return Err(missing()),
        },
        Err(other) => return Err(other.into()),
    };
    auth.require_store(order.store_id).map_err(|_| missing())?;
    Ok(Json(order.into()))
}

#[derive(Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    customer_id: Option<Uuid>,
    store_id: Option<Uuid>,
    status: Option<OrderStatus>,
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
async fn list_orders(
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
async fn list_customer_orders(
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
fn warm_customer_orders(state: &AppState, auth: &Auth, customer: Uuid) {
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOrderStatus {
    status: OrderStatus,
}

/// Moves an order along `pending → confirmed → in_workshop → ready → delivered`, or cancels a
/// pending or confirmed one (its stock goes back to the store). With an `Idempotency-Key` (or
/// the key the failover middleware makes up), a retry returns the first answer instead of a
/// second change (which the order's new status would refuse with 409).
#[utoipa::path(patch, path = "/orders/{id}/status", tag = "orders", security(("bearer" = [])), request_body = ChangeOrderStatus,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn change_order_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    request: IdempotentBody<ChangeOrderStatus>,
) -> ApiResult<Response> {
    auth.require(SELLERS)?;
    let key = key_of(&auth, &request);
    let next = request.body.status;
    // The order as it was: its id, customer, store and lines, which the change does not alter,
    // say what it makes stale, on a replay as well.
    let order = visible_order(&state, &auth, id, true).await?;
    let done = storage::orders::change_order_status(
        state.db.primary(),
        id,
        next,
        auth.user_id,
        key.as_ref(),
        |record| stored_as(StatusCode::OK, OrderView::from(record.clone())),
    )
    .await
    .or_not_found("order")?;
    // Also after a replay: the first attempt may have committed and failed before this (a
    // primary lost at the commit).
    let mut stale = order_keys(order.id, order.customer_id);
    if next == OrderStatus::Cancelled {
        let products: Vec<Uuid> = order.items.iter().map(|i| i.product_id).collect();
        stale.extend(
            stock_keys(
                &state,
                &products,
                &[order.store_id],
                StockEffect::Sold,
                StoreFigures::Changed,
            )
            .await?,
        );
    } else {
        stale.extend(dashboard_keys(&state, &[order.store_id]).await);
    }
    invalidate(&state, stale).await;
    warm_customer_orders(&state, &auth, order.customer_id);
    Ok(match done {
        Done::New(order) => Json(OrderView::from(order)).into_response(),
        Done::Replay { status, body } => replay(status, body),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPayment {
    /// Minor units, above 0 and at most the amount due.
    amount: i64,
    method: PaymentMethod,
}

/// Records a payment; the payment status follows from the sum paid.
#[utoipa::path(post, path = "/orders/{id}/payments", tag = "orders", security(("bearer" = [])), request_body = AddPayment,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn add_payment(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<Uuid>,
    request: IdempotentBody<AddPayment>,
) -> ApiResult<Response> {
    auth.require(SELLERS)?;
    let body = &request.body;
    let amount = payment_amount(body.amount)
        .map_err(|message| ValidationErrors::single("amount", message))?;
    let order = visible_order(&state, &auth, id, true).await?;
    let payment = NewPayment {
        amount,
        method: body.method,
        recorded_by: auth.user_id,
    };
    let key = key_of(&auth, &request);
    let render = |record: &OrderRecord| stored(OrderView::from(record.clone()));
    let done = storage::orders::add_payment(state.db.primary(), id, &payment, key.as_ref(), render)
        .await
        .or_not_found("order")?;
    // A payment changes no dashboard figure (revenue counts orders as placed). Its keys are
    // forgotten after a replay too, in case the first attempt committed and failed before.
    invalidate(&state, order_keys(order.id, order.customer_id)).await;
    warm_customer_orders(&state, &auth, order.customer_id);
    Ok(match done {
        Done::New(order) => (StatusCode::CREATED, Json(OrderView::from(order))).into_response(),
        Done::Replay { status, body } => replay(status, body),
    })
}
