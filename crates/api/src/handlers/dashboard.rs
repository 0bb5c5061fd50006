//! `GET /dashboard/stats?storeId=`: today's orders and revenue, open orders and the workshop
//! queue by status, low stock, and the top products of the last 30 days.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, TimeZone, Utc};
use domain::user::Role;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Auth;
use crate::cached::{read_through, Cached};
use crate::error::{ApiResult, Problem};
use crate::extract::Query;
use crate::state::AppState;
use cache::keys;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard_stats))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopProductView {
    product_id: Uuid,
    sku: String,
    name: String,
    units_sold: i64,
    revenue: i64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardView {
    /// The store the figures are for; `null` for every store the caller may see.
    store_id: Option<Uuid>,
    orders_today: i64,
    /// Minor units; cancelled orders excluded.
    revenue_today: i64,
    open_orders_by_status: BTreeMap<String, i64>,
    workshop_queue_by_status: BTreeMap<String, i64>,
    low_stock_count: i64,
    out_of_stock_count: i64,
    top_products_30_days: Vec<TopProductView>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    store_id: Option<Uuid>,
}

/// The figures a store manager opens the day with.
#[utoipa::path(get, path = "/dashboard/stats", tag = "dashboard", security(("bearer" = [])), params(DashboardQuery),
    responses((status = 200, body = DashboardView), (status = 403, body = Problem)))]
async fn dashboard_stats(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<DashboardQuery>,
) -> ApiResult<Cached<DashboardView>> {
    auth.require(&[Role::Manager])?;
    let stores: Option<Vec<Uuid>> = match query.store_id {
        Some(store) => {
            auth.require_store(store)?;
            Some(vec![store])
        }
        None if auth.is_admin() => None,
        None => Some(auth.store_ids.clone()),
    };
    cached_dashboard(&state, query.store_id, stores).await
}

/// The figures for `stores` (`None`: the whole chain) through the dashboard keys; also what
/// warming loads.
pub(crate) async fn cached_dashboard(
    state: &AppState,
    store_id: Option<Uuid>,
    stores: Option<Vec<Uuid>>,
) -> ApiResult<Cached<DashboardView>> {
    let offset = state.settings.business_offset;
    let today = Utc::now().with_timezone(&offset).date_naive();
    let day_start = offset
        .from_local_datetime(&today.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    // One store has a key of its own; the chain and multi-store scopes share the chain's key.
    // The day is part of the variant, so yesterday's figures are never today's.
    let key = match stores.as_deref() {
        Some([store]) => keys::dashboard(Some(*store)),
        _ => keys::dashboard(None),
    };
    let field = format!("{today}|{store_id:?}|{stores:?}");
    read_through(state, &key, &field, || {
        load(state, store_id, stores.as_deref(), day_start)
    })
    .await
}

async fn load(
    state: &AppState,
    store_id: Option<Uuid>,
    stores: Option<&[Uuid]>,
    day_start: DateTime<Utc>,
) -> ApiResult<DashboardView> {
    let stats = storage::dashboard::dashboard_stats(&state.db.read(), stores, day_start).await?;
    Ok(DashboardView {
        store_id,
        orders_today: stats.orders_today,
        revenue_today: stats.revenue_today,
        open_orders_by_status: stats.open_orders_by_status.into_iter().collect(),
        workshop_queue_by_status: stats.workshop_queue_by_status.into_iter().collect(),
        low_stock_count: stats.low_stock_count,
        out_of_stock_count: stats.out_of_stock_count,
        top_products_30_days: stats
            .top_products
            .into_iter()
            .map(|t| TopProductView {
                product_id: t.product_id,
                sku: t.sku,
                name: t.name,
                units_sold: t.units_sold,
                revenue: t.revenue,
            })
            .collect(),
    })
}
