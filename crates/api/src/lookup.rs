//! Finding an order a caller may act on: in PostgreSQL or, for an archived month, in the
//! archive; another store's order is not found. Orders and workshop jobs both start here.

use domain::ids::OrderId;
use domain::order::Order;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, OrNotFound};
use crate::state::AppState;

/// An order from PostgreSQL, or from the archive when its month is archived.
pub(crate) async fn find_order(
    state: &AppState,
    pool: &storage::PgPool,
    id: OrderId,
) -> ApiResult<Order> {
    match storage::orders::order_by_id(pool, id).await {
        Err(storage::Error::NotFound) => archived_order(state, pool, id).await,
        other => other.or_not_found("order"),
    }
}

/// The archived order `id` (404 when no archived month has it).
pub(crate) async fn archived_order(
    state: &AppState,
    pool: &storage::PgPool,
    id: OrderId,
) -> ApiResult<Order> {
    let Some(archive) = &state.settings.archive else {
        return Err(ApiError::not_found("order"));
    };
    archive
        .order(pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))
}

/// Loads an order the caller may change; other stores' orders are not found, and an
/// archived order is a 409 (archived months are read-only).
pub(crate) async fn visible_order(
    state: &AppState,
    auth: &Auth,
    id: OrderId,
    fresh: bool,
) -> ApiResult<Order> {
    let order = find_order(state, &state.db.read_fresh(fresh), id).await?;
    if auth.require_store(order.store_id).is_err() {
        return Err(ApiError::not_found("order"));
    }
    if order.archived {
        return Err(ApiError::Conflict {
            detail: format!(
                "order {} is archived (its month, {}, was moved to the archive) and is \
                 read-only",
                order.order_number,
                order.created_at.format("%Y-%m")
            ),
            errors: Vec::new(),
        });
    }
    Ok(order)
}
