//! Stock: `GET /stores/{s}/inventory`, `GET /stores/{s}/inventory/{p}`, adjustments,
//! transfers between stores, and a row's movements.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::inventory::{adjustment_delta, transfer_quantity, MovementKind, StockStatus};
use domain::user::Role;
use domain::{text, validate};
use serde::{Deserialize, Serialize};
use storage::idempotency::Done;
use storage::inventory::{
    Adjustment, MovementRecord, StockFilter, StockRecord, Transfer, TransferRecord,
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Auth;
use crate::cached::{
    field_of, invalidate, read_through, read_through_tallied, row_tally, stock_keys, Cached,
    StockEffect, StoreFigures,
};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::IdempotentBody;
use crate::extract::{Path, Query};
use crate::idempotent::{key_of, replay, stored};
use crate::pagination::{List, PageQuery, Sort};
use crate::state::AppState;
use cache::{keys, Tally, TallyOf};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_store_stock))
        .routes(routes!(get_stock))
        .routes(routes!(adjust_stock))
        .routes(routes!(transfer_stock))
        .routes(routes!(list_movements))
}

const READERS: &[Role] = &[Role::Manager, Role::Sales, Role::Technician];
const KEEPERS: &[Role] = &[Role::Manager];

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockView {
    product_id: Uuid,
    store_id: Uuid,
    sku: String,
    name: String,
    quantity: i32,
    reorder_level: i32,
    #[schema(value_type = crate::schema::StockStatus)]
    status: StockStatus,
    updated_at: DateTime<Utc>,
}

impl StockView {
    /// Lays the newest figures the cache knows over a cached row.
    fn apply_tally(&mut self, tally: &Tally) {
        self.quantity = i32::try_from(tally.quantity).unwrap_or(self.quantity);
        self.status = StockStatus::of(tally.quantity, i64::from(self.reorder_level));
        if let Some(at) = DateTime::from_timestamp_micros(tally.changed_at_us) {
            self.updated_at = at;
        }
    }
}

impl From<StockRecord> for StockView {
    fn from(r: StockRecord) -> Self {
        Self {
            product_id: r.product_id,
            store_id: r.store_id,
            sku: r.sku,
            name: r.name,
            quantity: r.quantity,
            reorder_level: r.reorder_level,
            status: r.status,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MovementView {
    /// Opaque, as every id (the contract); today the decimal of a sequence.
    id: String,
    product_id: Uuid,
    store_id: Uuid,
    delta: i32,
    #[schema(value_type = crate::schema::MovementKind)]
    kind: MovementKind,
    reason: Option<String>,
    order_id: Option<Uuid>,
    transfer_id: Option<Uuid>,
    actor_id: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl From<MovementRecord> for MovementView {
    fn from(m: MovementRecord) -> Self {
        Self {
            id: m.id.to_string(),
            product_id: m.product_id,
            store_id: m.store_id,
            delta: m.delta,
            kind: m.kind,
            reason: m.reason,
            order_id: m.order_id,
            transfer_id: m.transfer_id,
            actor_id: m.actor_id,
            created_at: m.created_at,
        }
    }
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StockQuery {
    #[param(value_type = Option<crate::schema::StockStatus>)]
    status: Option<StockStatus>,
    /// Only rows that are low or out of stock.
    low_stock: Option<bool>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A store's stock, lowest quantities first.
#[utoipa::path(get, path = "/stores/{storeId}/inventory", tag = "inventory", security(("bearer" = [])), params(StockQuery),
    responses((status = 200, body = List<StockView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_store_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path(store_id): Path<Uuid>,
    Query(query): Query<StockQuery>,
) -> ApiResult<Cached<List<StockView>>> {
    auth.require(READERS)?;
    auth.require_store(store_id)?;
    let (limit, after) = state
        .pager("inventory", Sort::QUANTITY)
        .request(query.limit, query.cursor.as_deref())?;
    // Every list shows quantities: any stock change in the store forgets the `list:` variants.
    let field = format!("{}{}", keys::variant::STOCK_LIST, field_of(&query));
    read_through(&state, &keys::store_inventory(store_id), &field, || async {
        let filter = StockFilter {
            store_id,
            status: query.status,
            low_stock: query.low_stock.unwrap_or(false),
        };
        let page =
            storage::inventory::list_store_stock(&state.db.read(), &filter, limit, after.as_ref())
                .await?;
        Ok(state
            .pager("inventory", Sort::QUANTITY)
            .list(page, StockView::from))
    })
    .await
}

fn no_stock_row() -> impl Fn(storage::Error) -> ApiError {
    |e| match e {
        storage::Error::NotFound => {
            ApiError::NotFound("this store has no stock row for this product".into())
        }
        // The store and product are named by the path: one that does not exist is a 404 for
        // the resource, not a 422 for a field of the body.
        storage::Error::MissingReference { .. } => {
            ApiError::NotFound("no such store or product".into())
        }
        other => other.into(),
    }
}

/// One product's stock in one store.
#[utoipa::path(get, path = "/stores/{storeId}/inventory/{productId}", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, body = StockView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path((store_id, product_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Cached<StockView>> {
    auth.require(READERS)?;
    auth.require_store(store_id)?;
    // One row is a variant of the store's stock key with figures of its own: a change of
    // this product's stock in the store moves them forward and leaves the row (and the
    // store's other rows) cached.
    let field = keys::variant::stock_item(product_id);
    read_through_tallied(
        &state,
        (&keys::store_inventory(store_id), &field, TallyOf::Variant),
        || async {
            let row = storage::inventory::stock_row(&state.db.read(), store_id, product_id)
                .await
                .map_err(no_stock_row())?;
            let tally = row_tally(row.stock_seq, row.quantity, row.updated_at);
            Ok((StockView::from(row), tally))
        },
        StockView::apply_tally,
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustStock {
    /// Units to add (positive) or remove (negative); never below zero in total.
    delta: i32,
    /// Why: a delivery, a count, damage, ...
    reason: String,
}

/// Adds or removes units with a reason; the change is kept as a movement.
#[utoipa::path(post, path = "/stores/{storeId}/inventory/{productId}/adjustments", tag = "inventory",
    security(("bearer" = [])), request_body = AdjustStock,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = StockView), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn adjust_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path((store_id, product_id)): Path<(Uuid, Uuid)>,
    request: IdempotentBody<AdjustStock>,
) -> ApiResult<Response> {
    auth.require(KEEPERS)?;
    auth.require_store(store_id)?;
    let body = &request.body;
    validate! {
        delta = "delta" => adjustment_delta(body.delta),
        reason = "reason" => text::bounded(&body.reason, 1, 500),
    }
    let adjustment = Adjustment {
        store_id,
        product_id,
        delta,
        reason: &reason,
        actor: auth.user_id,
    };
    let key = key_of(&auth, &request);
    let render = |row: &StockRecord| stored(StockView::from(row.clone()));
    let done =
        storage::inventory::adjust_stock(state.db.primary(), &adjustment, key.as_ref(), render)
            .await
            .map_err(|e| match e {
                storage::Error::InsufficientStock(lines) => ApiError::Conflict {
                    detail: format!(
                        "only {} in stock; nothing was changed",
                        lines.first().map_or(0, |l| l.available)
                    ),
                    errors: vec![domain::FieldError::new(
                        "delta",
                        "would take the stock below zero",
                    )],
                },
                other => no_stock_row()(other),
            })?;
    // After a replay as well, in case the first attempt committed and failed before this (a
    // primary lost at the commit): then what it changed is not known, so everything it could
    // have changed is.
    let (effect, figures) = match &done {
        Done::New(adjusted) => (
            if adjusted.crossed_zero {
                StockEffect::CrossedZero
            } else {
                StockEffect::FiguresOnly
            },
            if adjusted.changed_status {
                StoreFigures::Changed
            } else {
                StoreFigures::Unchanged
            },
        ),
        Done::Replay { .. } => (StockEffect::CrossedZero, StoreFigures::Changed),
    };
    invalidate(
        &state,
        stock_keys(&state, &[product_id], &[store_id], effect, figures).await?,
    )
    .await;
    Ok(match done {
        Done::New(adjusted) => {
            (StatusCode::CREATED, Json(StockView::from(adjusted.row))).into_response()
        }
        Done::Replay { status, body } => replay(status, body),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferStock {
    product_id: Uuid,
    from_store_id: Uuid,
    to_store_id: Uuid,
    /// 1 to 100000 units.
    quantity: i32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    transfer_id: Uuid,
    from: StockView,
    to: StockView,
}

/// Moves units from one store to another; both rows change or neither.
#[utoipa::path(post, path = "/inventory/transfers", tag = "inventory", security(("bearer" = [])), request_body = TransferStock,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = TransferView), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn transfer_stock(
    State(state): State<AppState>,
    auth: Auth,
    request: IdempotentBody<TransferStock>,
) -> ApiResult<Response> {
    auth.require(KEEPERS)?;
    let body = &request.body;
    // A transfer changes both stores' stock, so the caller must belong to both.
    auth.require_store(body.from_store_id)?;
    auth.require_store(body.to_store_id)?;
    validate! {
        quantity = "quantity" => transfer_quantity(body.quantity),
    }
    let transfer = Transfer {
        product_id: body.product_id,
        from: body.from_store_id,
        to: body.to_store_id,
        quantity,
        actor: auth.user_id,
    };
    let key = key_of(&auth, &request);
    let render = |record: &TransferRecord| stored(TransferView::from(record));
    let done =
        storage::inventory::transfer_stock(state.db.primary(), &transfer, key.as_ref(), render)
            .await
            .map_err(|e| match e {
                storage::Error::InsufficientStock(lines) => ApiError::Conflict {
                    detail: format!(
                        "the source store has only {} in stock; nothing was moved",
                        lines.first().map_or(0, |l| l.available)
                    ),
                    errors: vec![domain::FieldError::new(
                        "quantity",
                        "more than the source store has",
                    )],
                },
                other => other.into(),
            })?;
    // After a replay as well, in case the first attempt committed and failed before this.
    let stores = [body.from_store_id, body.to_store_id];
    invalidate(
        &state,
        // A transfer keeps the product's chain-wide quantity.
        stock_keys(
            &state,
            &[body.product_id],
            &stores,
            StockEffect::FiguresOnly,
            StoreFigures::Changed,
        )
        .await?,
    )
    .await;
    Ok(match done {
        Done::New(record) => {
            (StatusCode::CREATED, Json(TransferView::from(&record))).into_response()
        }
        Done::Replay { status, body } => replay(status, body),
    })
}

impl From<&TransferRecord> for TransferView {
    fn from(r: &TransferRecord) -> Self {
        Self {
            transfer_id: r.transfer_id,
            from: r.from.clone().into(),
            to: r.to.clone().into(),
        }
    }
}

/// A row's movements, newest first; they add up to its quantity.
#[utoipa::path(get, path = "/stores/{storeId}/inventory/{productId}/movements", tag = "inventory", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = List<MovementView>), (status = 403, body = Problem)))]
async fn list_movements(
    State(state): State<AppState>,
    auth: Auth,
    Path((store_id, product_id)): Path<(Uuid, Uuid)>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<MovementView>>> {
    auth.require(READERS)?;
    auth.require_store(store_id)?;
    let (limit, after) = state
        .pager("movements", Sort::MOVEMENT)
        .request(query.limit, query.cursor.as_deref())?;
    let page = storage::inventory::list_movements(
        &state.db.read(),
        store_id,
        product_id,
        limit,
        after.as_ref(),
    )
    .await?;
    Ok(Json(
        state
            .pager("movements", Sort::MOVEMENT)
            .list(page, MovementView::from),
    ))
}
