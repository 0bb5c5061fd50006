//! `POST .../adjustments` and `POST /inventory/transfers`: the stock changes, each kept as
//! movements, and the keys each makes stale.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::ids::{ProductId, StoreId, TransferId};
use domain::inventory::{adjustment_delta, transfer_quantity};
use domain::{text, validate};
use serde::{Deserialize, Serialize};
use storage::idempotency::Done;
use storage::inventory::{Adjustment, StockRecord, Transfer, TransferRecord};

use crate::auth::Auth;
use crate::cached::{invalidate, stock_keys, StockEffect, StoreFigures};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::IdempotentBody;
use crate::extract::Path;
use crate::idempotent::{key_of, replay, stored};
use crate::state::AppState;

use super::{no_stock_row, StockView, KEEPERS};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustStock {
    /// Units to add (positive) or remove (negative); never below zero in total.
    delta: i32,
    /// Why: a delivery, a count, damage, ...
    reason: String,
}

/// Adds or removes units with a reason; the change is kept as a movement.
#[utoipa::path(post, path = "/api/v1/stores/{storeId}/inventory/{productId}/adjustments", tag = "inventory",
    security(("bearer" = [])), request_body = AdjustStock,
    params(("storeId" = Uuid, Path), ("productId" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = StockView), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub(super) async fn adjust_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path((store_id, product_id)): Path<(StoreId, ProductId)>,
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
    let (effect, figures, known) = match &done {
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
            Some(adjusted.figures.clone()),
        ),
        Done::Replay { .. } => (StockEffect::CrossedZero, StoreFigures::Changed, None),
    };
    invalidate(
        &state,
        stock_keys(&state, &[product_id], &[store_id], effect, figures, known).await?,
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
    #[schema(value_type = Uuid)]
    product_id: ProductId,
    #[schema(value_type = Uuid)]
    from_store_id: StoreId,
    #[schema(value_type = Uuid)]
    to_store_id: StoreId,
    /// 1 to 100000 units.
    quantity: i32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransferView {
    #[schema(value_type = Uuid)]
    transfer_id: TransferId,
    from: StockView,
    to: StockView,
}

/// Moves units from one store to another; both rows change or neither.
#[utoipa::path(post, path = "/api/v1/inventory/transfers", tag = "inventory", security(("bearer" = [])), request_body = TransferStock,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = TransferView), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
pub(super) async fn transfer_stock(
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
            match &done {
                Done::New(record) => Some(record.figures.clone()),
                Done::Replay { .. } => None,
            },
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
