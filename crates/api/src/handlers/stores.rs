//! The chain's stores: `GET/POST /stores`, `GET/PATCH /stores/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::catalog::{StoreCode, StoreStatus};
use domain::customer::Phone;
use domain::ids::StoreId;
use domain::validation::optional;
use domain::{text, validate};
use serde::{Deserialize, Serialize};
use storage::idempotency::Done;
use storage::stores::{NewStore, StoreChanges, StoreRecord};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::error::{ApiResult, OrNotFound, Problem};
use crate::extract::{IdempotentBody, Nullable, Patch, Path, Query, Repeatable};
use crate::idempotent::{key_of, replay, stored};
use crate::pagination::{List, PageQuery, Sort};
use crate::state::AppState;
use domain::user::Role;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_stores, create_store))
        .routes(routes!(get_store, update_store))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoreView {
    #[schema(value_type = Uuid)]
    id: StoreId,
    code: String,
    name: String,
    city: String,
    phone: String,
    #[schema(value_type = crate::schema::StoreStatus)]
    status: StoreStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<StoreRecord> for StoreView {
    fn from(s: StoreRecord) -> Self {
        Self {
            id: s.id,
            code: s.code,
            name: s.name,
            city: s.city,
            phone: s.phone,
            status: s.status,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Lists every store of the chain, by code.
#[utoipa::path(get, path = "/api/v1/stores", tag = "stores", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = List<StoreView>), (status = 400, body = Problem)))]
async fn list_stores(
    State(state): State<AppState>,
    _auth: Auth,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<List<StoreView>>> {
    let (limit, after) = state
        .pager("stores", Sort::CODE)
        .request(query.limit, query.cursor.as_deref())?;
    let page = storage::stores::list_stores(&state.db.read(), limit, after.as_ref()).await?;
    Ok(Json(
        state
            .pager("stores", Sort::CODE)
            .list(page, StoreView::from),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStore {
    /// 2 to 16 letters, digits or '-'; stored upper case; unique.
    code: String,
    name: String,
    city: String,
    phone: String,
}

/// Opens a store (admin).
#[utoipa::path(post, path = "/api/v1/stores", tag = "stores", security(("bearer" = [])), request_body = CreateStore,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = StoreView), (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn create_store(
    State(state): State<AppState>,
    auth: Auth,
    request: IdempotentBody<CreateStore>,
) -> ApiResult<Response> {
    let key = key_of(&auth, &request);
    let body = request.body;
    auth.require_admin()?;
    validate! {
        code = "code" => StoreCode::parse(&body.code),
        name = "name" => text::name(&body.name),
        city = "city" => text::name(&body.city),
        phone = "phone" => Phone::parse(&body.phone),
    }
    let store = NewStore {
        code,
        name,
        city,
        phone: phone.as_str().to_owned(),
    };
    let created =
        match storage::stores::insert_store(state.db.primary(), &store, key.as_ref(), |record| {
            stored(StoreView::from(record.clone()))
        })
        .await?
        {
            Done::New(created) => created,
            Done::Replay { status, body } => return Ok(replay(status, body)),
        };
    Ok((StatusCode::CREATED, Json(StoreView::from(created))).into_response())
}

/// One store.
#[utoipa::path(get, path = "/api/v1/stores/{id}", tag = "stores", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = StoreView), (status = 404, body = Problem)))]
async fn get_store(
    State(state): State<AppState>,
    _auth: Auth,
    Path(id): Path<StoreId>,
) -> ApiResult<Json<StoreView>> {
    let store = storage::stores::store_by_id(&state.db.read(), id)
        .await
        .or_not_found("store")?;
    Ok(Json(store.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStore {
    name: Option<String>,
    city: Option<String>,
    phone: Option<String>,
    /// Admin only.
    #[schema(value_type = Option<crate::schema::StoreStatus>)]
    status: Option<StoreStatus>,
}

impl Nullable for UpdateStore {
    const NULLABLE: &'static [&'static str] = &[];
}

/// Changes a store: admins any store, managers their own (but not its status).
#[utoipa::path(patch, path = "/api/v1/stores/{id}", tag = "stores", security(("bearer" = [])), request_body = UpdateStore,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = StoreView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
async fn update_store(
    State(state): State<AppState>,
    auth: Auth,
    _retry: Repeatable,
    Path(id): Path<StoreId>,
    Patch(body): Patch<UpdateStore>,
) -> ApiResult<Json<StoreView>> {
    auth.require(&[Role::Manager])?;
    auth.require_store(id)?;
    if body.status.is_some() {
        auth.require_admin()?;
    }
    validate! {
        name = "name" => optional(body.name.as_deref(), text::name),
        city = "city" => optional(body.city.as_deref(), text::name),
        phone = "phone" => optional(body.phone.as_deref(), Phone::parse),
    }
    let changes = StoreChanges {
        name,
        city,
        phone: phone.map(|p| p.as_str().to_owned()),
        status: body.status,
    };
    let store = storage::stores::update_store(state.db.primary(), id, &changes)
        .await
        .or_not_found("store")?;
    Ok(Json(store.into()))
}
