//! The dashboard's figures as clients see them (`GET /dashboard/stats`), as cached per store.

use domain::ids::{ProductId, StoreId};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use storage::dashboard::DashboardStats;

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopProductView {
    #[schema(value_type = Uuid)]
    product_id: ProductId,
    sku: String,
    name: String,
    units_sold: i64,
    revenue: i64,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardView {
    /// The store the figures are for; `null` for every store the caller may see.
    #[schema(value_type = Option<Uuid>)]
    pub(crate) store_id: Option<StoreId>,
    orders_today: i64,
    /// Minor units; cancelled orders excluded.
    revenue_today: i64,
    open_orders_by_status: BTreeMap<String, i64>,
    workshop_queue_by_status: BTreeMap<String, i64>,
    low_stock_count: i64,
    out_of_stock_count: i64,
    top_products_30_days: Vec<TopProductView>,
}

/// The view of `stats`, for `store_id` (`None`: every store the caller may see).
pub(crate) fn view_of(store_id: Option<StoreId>, stats: DashboardStats) -> DashboardView {
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
