//! `GET /dashboard/stats?storeId=`: today's orders and revenue, open orders and the workshop
//! queue by status, low stock, and the top products of the last 30 days.

use std::collections::BTreeMap;

use axum::extract::State;
use cache::{keys, Stale};
use chrono::{DateTime, NaiveDate, Utc};
use domain::user::Role;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Auth;
use crate::cached::{read_through, Cached};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::Query;
use crate::state::AppState;
use storage::dashboard::DashboardStats;

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
///
/// One store's figures are versioned (`storage::dashboard::StoreFigures::seq`): a write in
/// the store puts its new figures in place ([`fresh_figures`]) instead of forgetting them,
/// so they are read from Redis until the day ends. The chain's and multi-store scopes'
/// figures are forgotten by every write (a version of the whole chain would be one counter
/// that every write in every store updates).
pub(crate) async fn cached_dashboard(
    state: &AppState,
    store_id: Option<Uuid>,
    stores: Option<Vec<Uuid>>,
) -> ApiResult<Cached<DashboardView>> {
    let (today, day_start) = business_day(state);
    if let Some([store]) = stores.as_deref() {
        let store = *store;
        let (mut view, outcome) = state
            .cache
            .get_or_load_versioned(
                &keys::dashboard(Some(store)),
                &today.to_string(),
                || async {
                    let figures =
                        storage::dashboard::store_figures(&state.db.read(), store, day_start)
                            .await?;
                    Ok::<_, ApiError>((view_of(None, figures.stats), figures.seq))
                },
            )
            .await?;
        view.store_id = store_id;
        return Ok(Cached(view, outcome));
    }
    // The day is part of the variant, so yesterday's figures are never today's.
    let field = format!("{today}|{store_id:?}|{stores:?}");
    read_through(state, &keys::dashboard(None), &field, || async {
        let stats =
            storage::dashboard::dashboard_stats(&state.db.read(), stores.as_deref(), day_start)
                .await?;
        Ok(view_of(store_id, stats))
    })
    .await
}

/// What a write that changed figures of `stores` leaves for the dashboards: each store's
/// new figures, read from the primary after the commit, put in place unless newer ones are
/// cached; the chain's forgotten. A store whose figures cannot be read is forgotten: the
/// write has committed, and its answer must not be an error.
pub(crate) async fn fresh_figures(state: &AppState, stores: &[Uuid]) -> Vec<Stale> {
    let (today, day_start) = business_day(state);
    let field = today.to_string();
    let primary = state.db.primary();
    // One store, or two for a transfer: one statement each.
    let mut out = Vec::with_capacity(stores.len() + 1);
    for store in stores {
        let key = keys::dashboard(Some(*store));
        let fresh = match storage::dashboard::store_figures(primary, *store, day_start).await {
            // A view that cannot be encoded (never: numbers and strings) is forgotten.
            Ok(figures) => Stale::newer(
                key.clone(),
                &field,
                figures.seq,
                &view_of(None, figures.stats),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not read a store's new figures; forgetting them");
                None
            }
        };
        out.push(fresh.unwrap_or(Stale::Key(key)));
    }
    out.push(keys::dashboard(None).into());
    out
}

/// Today in the chain's business time zone, and when it began.
fn business_day(state: &AppState) -> (NaiveDate, DateTime<Utc>) {
    domain::dates::business_day(state.settings.business_offset, Utc::now())
}

fn view_of(store_id: Option<Uuid>, stats: DashboardStats) -> DashboardView {
    DashboardView {
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
    }
}
