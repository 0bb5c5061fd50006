//! The public catalogue the web shop shows: `GET /catalog/products`, `/catalog/products/{id}`,
//! `/catalog/categories` and `/catalog/bestsellers`. No token; active products only, and only
//! their public fields (no cost, no per-store stock: just `inStock`). Every answer says
//! `Cache-Control: public, max-age=300`, so the gateway (and browsers) may keep it for five
//! minutes. The staff's catalogue, with everything, is `products` and `categories`.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use domain::catalog::{CategoryStatus, ProductStatus};
use domain::ids::{CategoryId, ProductId};
use serde::{Deserialize, Serialize};
use storage::categories::CategoryRecord;
use storage::products::{ProductFilter, ProductRecord};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::cached::{read_through, read_through_tallied, tally_of, Cached};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{Path, Query};
use crate::listing::{search_of, sort_of, SortParam};
use crate::pagination::{check_limit, List, Sort};
use crate::raw::{FiguresFirst, RawJson};
use crate::state::AppState;
use cache::{keys, Tally, TallyOf};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_catalog_products))
        .routes(routes!(get_catalog_product))
        .routes(routes!(list_catalog_categories))
        .routes(routes!(catalog_bestsellers))
}

/// What anyone may see of a product.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicProduct {
    /// Whether any store has it. First: a cached body gets the newest by rewriting its first
    /// bytes (`crate::raw`).
    in_stock: bool,
    #[schema(value_type = Uuid)]
    id: ProductId,
    sku: String,
    name: String,
    description: String,
    #[schema(value_type = Uuid)]
    category_id: CategoryId,
    brand: String,
    /// Minor units (paise).
    price: i64,
    attributes: serde_json::Value,
}

/// The figure a [`PublicProduct`] writes first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicFigures {
    in_stock: bool,
}

impl FiguresFirst for PublicProduct {
    type Figures = PublicFigures;

    fn figures(tally: &Tally) -> Option<PublicFigures> {
        Some(PublicFigures {
            in_stock: tally.quantity > 0,
        })
    }

    fn apply_tally(&mut self, tally: &Tally) {
        self.in_stock = tally.quantity > 0;
    }
}

impl From<ProductRecord> for PublicProduct {
    fn from(p: ProductRecord) -> Self {
        Self {
            id: p.id,
            sku: p.sku,
            name: p.name,
            description: p.description,
            category_id: p.category_id,
            brand: p.brand,
            price: p.price,
            attributes: p.attributes,
            in_stock: p.quantity > 0,
        }
    }
}

/// What anyone may see of a category.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicCategory {
    #[schema(value_type = Uuid)]
    id: CategoryId,
    name: String,
    description: Option<String>,
    #[schema(value_type = Option<Uuid>)]
    parent_id: Option<CategoryId>,
}

impl From<CategoryRecord> for PublicCategory {
    fn from(c: CategoryRecord) -> Self {
        Self {
            id: c.id,
            name: c.name,
            description: c.description,
            parent_id: c.parent_id,
        }
    }
}

/// A catalogue answer: JSON that anyone may cache for five minutes.
pub struct Public<T>(T);

impl<T: IntoResponse> IntoResponse for Public<T> {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        );
        response
    }
}

#[derive(Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Words of the name, brand or description; prefixes and small typos match too.
    q: Option<String>,
    #[param(value_type = Option<Uuid>)]
    category: Option<CategoryId>,
    brand: Option<String>,
    /// `name`, `price`, `-price` or `-sales`; a search ranks by relevance without it.
    sort: Option<SortParam>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Active products, with search, filters and sorting.
#[utoipa::path(get, path = "/api/v1/catalog/products", tag = "catalog", params(CatalogQuery),
    responses((status = 200, body = List<PublicProduct>), (status = 400, body = Problem)))]
async fn list_catalog_products(
    State(state): State<AppState>,
    Query(query): Query<CatalogQuery>,
) -> ApiResult<Public<axum::Json<List<PublicProduct>>>> {
    let search = search_of(query.q.as_deref());
    let (sort, tag) = sort_of(query.sort, search.is_some());
    let (limit, after) = state
        .pager("catalog-products", tag)
        .request(query.limit, query.cursor.as_deref())?;
    let filter = ProductFilter {
        search,
        category_id: query.category,
        brand: query.brand,
        status: Some(ProductStatus::Active),
        ..ProductFilter::default()
    };
    let page =
        storage::products::list_products(&state.db.read(), &filter, sort, limit, after.as_ref())
            .await?;
    Ok(Public(axum::Json(
        state
            .pager("catalog-products", tag)
            .list(page, PublicProduct::from),
    )))
}

/// One active product.
#[utoipa::path(get, path = "/api/v1/catalog/products/{id}", tag = "catalog",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PublicProduct), (status = 404, body = Problem)))]
async fn get_catalog_product(
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
) -> ApiResult<Public<Response>> {
    let missing = || ApiError::NotFound("no product with this id in the catalogue".into());
    // The public variant of the product's key: forgotten with it on every change.
    let Cached(product, outcome) = read_through_tallied(
        &state,
        (&keys::product(id), "public", TallyOf::Key),
        || async {
            match storage::products::product_by_id(&state.db.read(), id).await {
                Ok(p) if p.status == ProductStatus::Active => {
                    let tally = tally_of(p.stock_seq, p.quantity, p.sales_count);
                    Ok((RawJson::of(&PublicProduct::from(p))?, tally))
                }
                Ok(_) | Err(storage::Error::NotFound) => Err(missing()),
                Err(other) => Err(other.into()),
            }
        },
        RawJson::apply_tally,
    )
    .await?;
    Ok(Public(product.answer(outcome)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CategoriesQuery {
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Active categories by name.
#[utoipa::path(get, path = "/api/v1/catalog/categories", tag = "catalog", params(CategoriesQuery),
    responses((status = 200, body = List<PublicCategory>), (status = 400, body = Problem)))]
async fn list_catalog_categories(
    State(state): State<AppState>,
    Query(query): Query<CategoriesQuery>,
) -> ApiResult<Public<axum::Json<List<PublicCategory>>>> {
    let (limit, after) = state
        .pager("catalog-categories", Sort::NAME)
        .request(query.limit, query.cursor.as_deref())?;
    let page = storage::categories::list_categories(
        &state.db.read(),
        CategoryStatus::Active,
        limit,
        after.as_ref(),
    )
    .await?;
    Ok(Public(axum::Json(
        state
            .pager("catalog-categories", Sort::NAME)
            .list(page, PublicCategory::from),
    )))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BestsellersQuery {
    /// 1 to 100, default 10.
    limit: Option<i64>,
}

/// Active products by units sold, most first.
#[utoipa::path(get, path = "/api/v1/catalog/bestsellers", tag = "catalog", params(BestsellersQuery),
    responses((status = 200, body = List<PublicProduct>), (status = 400, body = Problem)))]
async fn catalog_bestsellers(
    State(state): State<AppState>,
    Query(query): Query<BestsellersQuery>,
) -> ApiResult<Public<Cached<List<PublicProduct>>>> {
    let limit = check_limit(Some(query.limit.unwrap_or(10)))?;
    let field = format!("public:{limit}");
    let cached = read_through(&state, &keys::bestsellers(), &field, || async {
        let products = storage::products::bestsellers(&state.db.read(), limit).await?;
        Ok(List {
            items: products.into_iter().map(PublicProduct::from).collect(),
            next_cursor: None,
        })
    })
    .await?;
    Ok(Public(cached))
}
