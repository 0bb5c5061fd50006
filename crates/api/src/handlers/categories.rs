//! Product categories: `GET/POST /categories`, `PATCH /categories/{id}`,
//! `GET /categories/{id}/products`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::catalog::CategoryStatus;
use domain::ids::CategoryId;
use domain::user::Role;
use domain::validation::optional;
use domain::{text, validate, ValidationErrors};
use serde::{Deserialize, Serialize};
use storage::categories::{CategoryChanges, CategoryRecord, NewCategory};
use storage::idempotency::Done;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::cached::{invalidate, Cached};
use crate::error::{ApiResult, OrNotFound, Problem};
use crate::extract::{double_option, IdempotentBody, Nullable, Patch, Path, Query, Repeatable};
use crate::idempotent::{key_of, replay, stored};
use crate::listing::{cached_product_list, product_list, ProductQuery};
use crate::pagination::{List, Sort};
use crate::raw::RawList;
use crate::state::AppState;
use crate::views::ProductView;
use cache::keys;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_categories, create_category))
        .routes(routes!(update_category))
        .routes(routes!(list_category_products))
}

const EDITORS: &[Role] = &[Role::Manager];

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryView {
    #[schema(value_type = Uuid)]
    id: CategoryId,
    name: String,
    description: Option<String>,
    #[schema(value_type = Option<Uuid>)]
    parent_id: Option<CategoryId>,
    #[schema(value_type = crate::schema::CategoryStatus)]
    status: CategoryStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CategoryRecord> for CategoryView {
    fn from(c: CategoryRecord) -> Self {
        Self {
            id: c.id,
            name: c.name,
            description: c.description,
            parent_id: c.parent_id,
            status: c.status,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CategoryQuery {
    /// Default `active`.
    #[param(value_type = Option<crate::schema::CategoryStatus>)]
    status: Option<CategoryStatus>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Lists categories by name (the active ones unless `status` says otherwise).
#[utoipa::path(get, path = "/api/v1/categories", tag = "categories", security(("bearer" = [])), params(CategoryQuery),
    responses((status = 200, body = List<CategoryView>), (status = 400, body = Problem)))]
async fn list_categories(
    State(state): State<AppState>,
    _auth: Auth,
    Query(query): Query<CategoryQuery>,
) -> ApiResult<Json<List<CategoryView>>> {
    let (limit, after) = state
        .pager("categories", Sort::NAME)
        .request(query.limit, query.cursor.as_deref())?;
    let status = query.status.unwrap_or(CategoryStatus::Active);
    let page =
        storage::categories::list_categories(&state.db.read(), status, limit, after.as_ref())
            .await?;
    Ok(Json(
        state
            .pager("categories", Sort::NAME)
            .list(page, CategoryView::from),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCategory {
    /// Unique regardless of case.
    name: String,
    description: Option<String>,
    #[schema(value_type = Option<Uuid>)]
    parent_id: Option<CategoryId>,
    #[schema(value_type = Option<crate::schema::CategoryStatus>)]
    status: Option<CategoryStatus>,
}

/// Creates a category (admin, manager).
#[utoipa::path(post, path = "/api/v1/categories", tag = "categories", security(("bearer" = [])), request_body = CreateCategory,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = CategoryView), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn create_category(
    State(state): State<AppState>,
    auth: Auth,
    request: IdempotentBody<CreateCategory>,
) -> ApiResult<Response> {
    let key = key_of(&auth, &request);
    let body = request.body;
    auth.require(EDITORS)?;
    validate! {
        name = "name" => text::name(&body.name),
        description = "description" => optional(body.description.as_deref(), text::description),
    }
    let category = NewCategory {
        name,
        description,
        parent_id: body.parent_id,
        status: body.status.unwrap_or(CategoryStatus::Active),
    };
    let created = match storage::categories::insert_category(
        state.db.primary(),
        &category,
        key.as_ref(),
        |record| stored(CategoryView::from(record.clone())),
    )
    .await?
    {
        Done::New(created) => created,
        Done::Replay { status, body } => return Ok(replay(status, body)),
    };
    Ok((StatusCode::CREATED, Json(CategoryView::from(created))).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCategory {
    name: Option<String>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// `null` makes it a top-level category.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    parent_id: Option<Option<CategoryId>>,
    #[schema(value_type = Option<crate::schema::CategoryStatus>)]
    status: Option<CategoryStatus>,
}

impl Nullable for UpdateCategory {
    const NULLABLE: &'static [&'static str] = &["description", "parentId"];
}

/// Changes a category (admin, manager).
#[utoipa::path(patch, path = "/api/v1/categories/{id}", tag = "categories", security(("bearer" = [])), request_body = UpdateCategory,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CategoryView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_category(
    State(state): State<AppState>,
    auth: Auth,
    _retry: Repeatable,
    Path(id): Path<CategoryId>,
    Patch(body): Patch<UpdateCategory>,
) -> ApiResult<Json<CategoryView>> {
    auth.require(EDITORS)?;
    validate! {
        name = "name" => optional(body.name.as_deref(), text::name),
        description = "description" => optional(body.description.clone().flatten().as_deref(), text::description),
    }
    if let Some(Some(parent)) = body.parent_id {
        if storage::categories::would_cycle(state.db.primary(), id, parent).await? {
            return Err(ValidationErrors::single(
                "parentId",
                "a category cannot be placed under itself or one of its subcategories",
            )
            .into());
        }
    }
    let changes = CategoryChanges {
        name,
        description: body.description.map(|_| description),
        parent_id: body.parent_id,
        status: body.status,
    };
    let category = storage::categories::update_category(state.db.primary(), id, &changes)
        .await
        .or_not_found("category")?;
    invalidate(&state, vec![keys::category_products(id)]).await;
    Ok(Json(category.into()))
}

/// Products of one category, with the same filters and sorting as `GET /products`.
#[utoipa::path(get, path = "/api/v1/categories/{id}/products", tag = "categories", security(("bearer" = [])),
    params(("id" = Uuid, Path), ProductQuery),
    responses((status = 200, body = List<ProductView>), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn list_category_products(
    State(state): State<AppState>,
    _auth: Auth,
    Path(id): Path<CategoryId>,
    Query(query): Query<ProductQuery>,
) -> ApiResult<Cached<RawList<ProductView>>> {
    category_products(&state, id, query).await
}

/// A category's products through `category:{id}:products` (the query is the variant); also
/// what warming loads.
pub(crate) async fn category_products(
    state: &AppState,
    id: CategoryId,
    query: ProductQuery,
) -> ApiResult<Cached<RawList<ProductView>>> {
    let variant = query.variant();
    cached_product_list(state, &keys::category_products(id), &variant, || async {
        storage::categories::category_by_id(&state.db.read(), id)
            .await
            .or_not_found("category")?;
        product_list(state, query.clone(), Some(id)).await
    })
    .await
}
