//! Orders: `POST/GET /orders`, `GET /orders/{id}`, `GET /orders/number/{n}`,
//! `PATCH /orders/{id}/status`, `POST /orders/{id}/payments`, `GET /customers/{id}/orders`.
//! The lists are in `lists`, the order as clients see it in `view`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::ids::{CustomerId, OrderId, ProductId, StoreId};
use domain::order::{payment_amount, Line, NewOrder, Order, OrderStatus, PaymentMethod};
use domain::user::Role;
use domain::ValidationErrors;
use serde::Deserialize;
use storage::idempotency::Done;
use storage::orders::{NewPayment, Placed};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::cached::{
    dashboard_keys, order_keys, read_through, stock_keys, Cached, StockEffect, StoreFigures,
};
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{IdempotentBody, Path};
use crate::idempotent::{key_of, replay, stored, stored_as};
use crate::lookup::{find_order, visible_order};
use crate::raw::RawJson;
use crate::state::AppState;
use cache::{keys, Outcome};

use lists::*;
pub use view::OrderView;

mod lists;
mod view;

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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLineRequest {
    #[schema(value_type = Uuid)]
    product_id: ProductId,
    /// 1 to 1000.
    quantity: i32,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrder {
    #[schema(value_type = Uuid)]
    store_id: StoreId,
    #[schema(value_type = Uuid)]
    customer_id: CustomerId,
    /// 1 to 50 lines.
    items: Vec<OrderLineRequest>,
}

/// Places an order: takes the stock of every line from the store, or of none (409 naming the
/// short lines). With `Idempotency-Key`, a retry returns the first response and places nothing.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])), request_body = PlaceOrder,
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
    let render = |record: &Order| stored(OrderView::from(record.clone()));
    let placed = storage::orders::place_order(
        state.db.primary(),
        &order,
        auth.user_id,
        key.as_ref(),
        render,
    )
    .await?;
    // The stock figures the sales left, as the order's transaction saw them; a replay's are
    // not known, and are read again.
    let (placed, known) = match placed {
        Done::New(Placed { order, figures }) => (Done::New(order), Some(figures)),
        Done::Replay { status, body } => (Done::Replay { status, body }, None),
    };
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
    let mut products: Vec<ProductId> = body.items.iter().map(|i| i.product_id).collect();
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
            known,
        )
        .await?,
    );
    forget_and_warm(&state, &auth, body.customer_id, stale).await;
    Ok(match placed {
        Done::New(record) => (StatusCode::CREATED, Json(OrderView::from(record))).into_response(),
        Done::Replay { status, body } => replay(status, body),
    })
}

/// One whole order; an order of an archived month is read from the archive and carries
/// `"archived": true`.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = OrderView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<OrderId>,
) -> ApiResult<Response> {
    auth.require(READERS)?;
    let load = || async {
        let order = find_order(&state, &state.db.read(), id).await?;
        RawJson::of(&OrderView::from(order))
    };
    // Answered as stored: only its store is read out of it, for the check below.
    let Cached(mut order, mut outcome) = read_through(&state, &keys::order(id), "", load).await?;
    let store = match serde_json::from_str::<OrderStore>(order.get()) {
        Ok(store) => store,
        Err(_) => {
            // A body of another shape (cached by an older build): read from the database.
            (order, outcome) = (load().await?, Outcome::Bypass);
            serde_json::from_str::<OrderStore>(order.get())
                .map_err(|e| ApiError::Internal(e.into()))?
        }
    };
    // Other stores' orders are not found, cached or not.
    if auth.require_store(store.store_id).is_err() {
        return Err(ApiError::not_found("order"));
    }
    Ok(order.answer(outcome))
}

/// The one member of a cached [`OrderView`] its reader checks; the others are skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderStore {
    store_id: StoreId,
}

/// One whole order by its number; archived orders too, with `"archived": true`.
#[utoipa::path(get, path = "/api/v1/orders/number/{orderNumber}", tag = "orders", security(("bearer" = [])),
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOrderStatus {
    #[schema(value_type = crate::schema::OrderStatus)]
    status: OrderStatus,
}

/// Moves an order along `pending → confirmed → in_workshop → ready → delivered`, or cancels a
/// pending or confirmed one (its stock goes back to the store). With an `Idempotency-Key` (or
/// the key the failover middleware makes up), a retry returns the first answer instead of a
/// second change (which the order's new status would refuse with 409).
#[utoipa::path(patch, path = "/api/v1/orders/{id}/status", tag = "orders", security(("bearer" = [])), request_body = ChangeOrderStatus,
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn change_order_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<OrderId>,
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
        let products: Vec<ProductId> = order.items.iter().map(|i| i.product_id).collect();
        stale.extend(
            stock_keys(
                &state,
                &products,
                &[order.store_id],
                StockEffect::Sold,
                StoreFigures::Changed,
                None,
            )
            .await?,
        );
    } else {
        stale.extend(dashboard_keys(&state, &[order.store_id]).await);
    }
    forget_and_warm(&state, &auth, order.customer_id, stale).await;
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
    #[schema(value_type = crate::schema::PaymentMethod)]
    method: PaymentMethod,
}

/// Records a payment; the payment status follows from the sum paid.
#[utoipa::path(post, path = "/api/v1/orders/{id}/payments", tag = "orders", security(("bearer" = [])), request_body = AddPayment,
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn add_payment(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<OrderId>,
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
    let render = |record: &Order| stored(OrderView::from(record.clone()));
    let done = storage::orders::add_payment(state.db.primary(), id, &payment, key.as_ref(), render)
        .await
        .or_not_found("order")?;
    // A payment changes no dashboard figure (revenue counts orders as placed). Its keys are
    // forgotten after a replay too, in case the first attempt committed and failed before.
    let stale = order_keys(order.id, order.customer_id);
    forget_and_warm(&state, &auth, order.customer_id, stale).await;
    Ok(match done {
        Done::New(order) => (StatusCode::CREATED, Json(OrderView::from(order))).into_response(),
        Done::Replay { status, body } => replay(status, body),
    })
}
