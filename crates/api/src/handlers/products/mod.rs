//! The catalogue: `GET/POST /products`, `GET/PATCH /products/{id}`,
//! `GET /products/sku/{sku}`, `GET /products/bestsellers`. The writes (and what they make
//! stale) are in `write`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::catalog::Sku;
use domain::ids::ProductId;
use domain::user::Role;
use serde::{Deserialize, Serialize};
use storage::products::ProductRecord;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::cached::{read_through_tallied, Cached};
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{Path, Query};
use crate::listing::{cached_bestsellers, cached_product_list, product_list, ProductQuery};
use crate::pagination::{check_limit, List};
use crate::raw::{RawJson, RawList};
use crate::state::AppState;
use crate::views::ProductView;
use cache::keys::{self};
use cache::{Tally, TallyOf};

use write::*;
pub use write::{CreateProduct, UpdateProduct};

mod write;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(bestsellers))
        .routes(routes!(get_product_by_sku))
        .routes(routes!(get_product, update_product))
}

/// Who may change the catalogue.
const EDITORS: &[Role] = &[Role::Manager];

/// Lists products with filters, search and sorting. A search is cached under
/// `products:search`, a list of one category under its `category:{id}:products`; other lists
/// are read from the database.
#[utoipa::path(get, path = "/api/v1/products", tag = "products", security(("bearer" = [])), params(ProductQuery),
    responses((status = 200, body = List<ProductView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_products(
    State(state): State<AppState>,
    _auth: Auth,
    Query(query): Query<ProductQuery>,
) -> ApiResult<Response> {
    let searching = query.q.as_deref().is_some_and(|q| !q.trim().is_empty());
    let key = match query.category {
        Some(category) => Some(keys::category_products(category)),
        None if searching => Some(keys::product_search()),
        None => None,
    };
    Ok(match key {
        Some(key) => {
            let variant = query.variant();
            cached_product_list(&state, &key, &variant, || {
                product_list(&state, query.clone(), None)
            })
            .await?
            .into_response()
        }
        None => Json(product_list(&state, query, None).await?).into_response(),
    })
}

/// One product.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ProductView), (status = 404, body = Problem)))]
async fn get_product(
    State(state): State<AppState>,
    _auth: Auth,
    Path(id): Path<ProductId>,
) -> ApiResult<Response> {
    let Cached(product, outcome) = read_through_tallied(
        &state,
        (&keys::product(id), "", TallyOf::Key),
        || async {
            let product = storage::products::product_by_id(&state.db.read(), id)
                .await
                .or_not_found("product")?;
            raw_tallied(product)
        },
        RawJson::apply_tally,
    )
    .await?;
    Ok(product.answer(outcome))
}

/// One product by its sku.
#[utoipa::path(get, path = "/api/v1/products/sku/{sku}", tag = "products", security(("bearer" = [])),
    responses((status = 200, body = ProductView), (status = 404, body = Problem)))]
async fn get_product_by_sku(
    State(state): State<AppState>,
    _auth: Auth,
    Path(sku): Path<String>,
) -> ApiResult<Response> {
    let missing = || ApiError::NotFound("no product with this sku".into());
    let sku = Sku::parse(&sku).map_err(|_| missing())?;
    let Cached(product, outcome) = read_through_tallied(
        &state,
        (&keys::product_sku(sku.as_str()), "", TallyOf::Key),
        || async {
            let product = storage::products::product_by_sku(&state.db.read(), &sku)
                .await
                .map_err(|e| match e {
                    storage::Error::NotFound => missing(),
                    other => other.into(),
                })?;
            raw_tallied(product)
        },
        RawJson::apply_tally,
    )
    .await?;
    Ok(product.answer(outcome))
}

/// A product's view as the cache keeps it, with its stock figures.
fn raw_tallied(product: ProductRecord) -> ApiResult<(RawJson<ProductView>, Tally)> {
    let (view, tally) = ProductView::tallied(product);
    Ok((RawJson::of(&view)?, tally))
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TopQuery {
    /// 1 to 100, default 10.
    limit: Option<i64>,
}

/// Active products by units sold, most first.
#[utoipa::path(get, path = "/api/v1/products/bestsellers", tag = "products", security(("bearer" = [])), params(TopQuery),
    responses((status = 200, body = List<ProductView>), (status = 400, body = Problem)))]
async fn bestsellers(
    State(state): State<AppState>,
    _auth: Auth,
    Query(query): Query<TopQuery>,
) -> ApiResult<Cached<RawList<ProductView>>> {
    let limit = check_limit(Some(query.limit.unwrap_or(10)))?;
    cached_bestsellers(&state, limit).await
}
