//! `GET /dashboard/stats?storeId=`: today's orders and revenue, open orders and the workshop
//! queue by status, low stock, and the top products of the last 30 days.

use axum::extract::State;
use domain::ids::StoreId;
use domain::user::Role;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::cached::{cached_dashboard, Cached};
use crate::error::{ApiResult, Problem};
use crate::extract::Query;
use crate::state::AppState;
use crate::views::dashboard::DashboardView;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard_stats))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    #[param(value_type = Option<Uuid>)]
    store_id: Option<StoreId>,
}

/// The figures a store manager opens the day with.
#[utoipa::path(get, path = "/api/v1/dashboard/stats", tag = "dashboard", security(("bearer" = [])), params(DashboardQuery),
    responses((status = 200, body = DashboardView), (status = 403, body = Problem)))]
async fn dashboard_stats(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<DashboardQuery>,
) -> ApiResult<Cached<DashboardView>> {
    auth.require(&[Role::Manager])?;
    let stores: Option<Vec<StoreId>> = match query.store_id {
        Some(store) => {
            auth.require_store(store)?;
            Some(vec![store])
        }
        None if auth.is_admin() => None,
        None => Some(auth.store_ids.clone()),
    };
    cached_dashboard(&state, query.store_id, stores).await
}
