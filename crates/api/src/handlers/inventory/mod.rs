//! Stock: `GET /stores/{s}/inventory`, `GET /stores/{s}/inventory/{p}`, adjustments,
//! transfers between stores, and a row's movements.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::ids::{OrderId, ProductId, StoreId, TransferId, UserId};
use domain::inventory::{MovementKind, StockStatus};
use domain::user::Role;
use serde::{Deserialize, Serialize};
use storage::inventory::{MovementRecord, StockFilter, StockRecord};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::cached::{field_of, read_through, read_through_tallied, row_tally, Cached};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Path, Query};
use crate::pagination::{List, PageQuery, Sort};
use crate::state::AppState;
use cache::{keys, Tally, TallyOf};

use write::*;

mod write;

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
    #[schema(value_type = Uuid)]
    product_id: ProductId,
    #[schema(value_type = Uuid)]
    store_id: StoreId,
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
    #[schema(value_type = Uuid)]
    product_id: ProductId,
    #[schema(value_type = Uuid)]
    store_id: StoreId,
    delta: i32,
    #[schema(value_type = crate::schema::MovementKind)]
    kind: MovementKind,
    reason: Option<String>,
    #[schema(value_type = Option<Uuid>)]
    order_id: Option<OrderId>,
    #[schema(value_type = Option<Uuid>)]
    transfer_id: Option<TransferId>,
    #[schema(value_type = Option<Uuid>)]
    actor_id: Option<UserId>,
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
#[utoipa::path(get, path = "/api/v1/stores/{storeId}/inventory", tag = "inventory", security(("bearer" = [])), params(("storeId" = Uuid, Path), StockQuery),
    responses((status = 200, body = List<StockView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_store_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path(store_id): Path<StoreId>,
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
#[utoipa::path(get, path = "/api/v1/stores/{storeId}/inventory/{productId}", tag = "inventory", security(("bearer" = [])),
    params(("storeId" = Uuid, Path), ("productId" = Uuid, Path)),
    responses((status = 200, body = StockView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_stock(
    State(state): State<AppState>,
    auth: Auth,
    Path((store_id, product_id)): Path<(StoreId, ProductId)>,
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

/// A row's movements, newest first; they add up to its quantity.
#[utoipa::path(get, path = "/api/v1/stores/{storeId}/inventory/{productId}/movements", tag = "inventory", security(("bearer" = [])),
    params(("storeId" = Uuid, Path), ("productId" = Uuid, Path), PageQuery),
    responses((status = 200, body = List<MovementView>), (status = 403, body = Problem)))]
async fn list_movements(
    State(state): State<AppState>,
    auth: Auth,
    Path((store_id, product_id)): Path<(StoreId, ProductId)>,
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
