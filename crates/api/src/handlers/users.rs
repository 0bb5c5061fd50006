//! Staff accounts (admin only): `POST/GET /users`, `GET/PATCH /users/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::ids::{StoreId, UserId};
use domain::user::{Email, Password, Role, UserStatus, Username};
use domain::{validate, ValidationErrors};
use serde::Deserialize;
use storage::idempotency::Done;
use storage::users::{UserChanges, UserFilter};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::cached::invalidate;
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{IdempotentBody, Nullable, Patch, Path, Query, Repeatable};
use crate::idempotent::{key_of, replay, stored};
use crate::pagination::{List, Sort};
use crate::state::AppState;
use crate::views::UserView;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    username: String,
    /// 10 to 128 characters.
    password: String,
    #[schema(value_type = Vec<crate::schema::Role>)]
    roles: Vec<Role>,
    /// Required (at least one) for every role but admin.
    #[serde(default)]
    #[schema(value_type = Vec<Uuid>)]
    store_ids: Vec<StoreId>,
    #[schema(value_type = Option<crate::schema::UserStatus>)]
    status: Option<UserStatus>,
}

/// Every role but admin works in at least one store.
fn check_roles(roles: &[Role], store_ids: &[StoreId]) -> Result<(), ValidationErrors> {
    if roles.is_empty() {
        return Err(ValidationErrors::single(
            "roles",
            "must name at least one role",
        ));
    }
    if !roles.contains(&Role::Admin) && store_ids.is_empty() {
        return Err(ValidationErrors::single(
            "storeIds",
            "must name at least one store for users who are not admins",
        ));
    }
    Ok(())
}

async fn check_stores_exist(state: &AppState, store_ids: &[StoreId]) -> ApiResult<()> {
    let missing = storage::users::missing_stores(state.db.primary(), store_ids).await?;
    if let Some(id) = missing.first() {
        return Err(ValidationErrors::single("storeIds", format!("no store with id {id}")).into());
    }
    Ok(())
}

/// Creates a staff account.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])), request_body = CreateUser,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = UserView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(state): State<AppState>,
    auth: Auth,
    request: IdempotentBody<CreateUser>,
) -> ApiResult<Response> {
    let key = key_of(&auth, &request);
    let body = request.body;
    auth.require_admin()?;
    validate! {
        email = "email" => Email::parse(&body.email),
        username = "username" => Username::parse(&body.username),
        password = "password" => Password::parse_for(&body.password, &[&body.username, &body.email]),
    }
    check_roles(&body.roles, &body.store_ids)?;
    check_stores_exist(&state, &body.store_ids).await?;
    let password_hash = state.password_checks.run(move || password.hash()).await?;
    let user = storage::users::NewUser {
        email,
        username,
        password_hash,
        roles: dedup(body.roles),
        store_ids: dedup(body.store_ids),
        status: body.status.unwrap_or(UserStatus::Active),
    };
    let created =
        match storage::users::insert_user(state.db.primary(), &user, key.as_ref(), |record| {
            stored(UserView::from(record.clone()))
        })
        .await?
        {
            Done::New(created) => created,
            Done::Replay { status, body } => return Ok(replay(status, body)),
        };
    tracing::info!(user_id = %created.id, by = %auth.user_id, "user created");
    Ok((StatusCode::CREATED, Json(UserView::from(created))).into_response())
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    #[param(value_type = Option<crate::schema::UserStatus>)]
    status: Option<UserStatus>,
    #[param(value_type = Option<crate::schema::Role>)]
    role: Option<Role>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Lists staff accounts, newest first.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])), params(UserQuery),
    responses((status = 200, body = List<UserView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_users(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<UserQuery>,
) -> ApiResult<Json<List<UserView>>> {
    auth.require_admin()?;
    let (limit, after) = state
        .pager("users", Sort::CREATED)
        .request(query.limit, query.cursor.as_deref())?;
    let filter = UserFilter {
        status: query.status,
        role: query.role,
        limit,
        after,
    };
    let page = storage::users::list_users(&state.db.read(), &filter).await?;
    Ok(Json(
        state
            .pager("users", Sort::CREATED)
            .list(page, UserView::from),
    ))
}

/// One staff account.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_user(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<UserId>,
) -> ApiResult<Json<UserView>> {
    auth.require_admin()?;
    let user = storage::users::user_by_id(&state.db.read(), id)
        .await
        .or_not_found("user")?;
    Ok(Json(user.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUser {
    /// Suspending revokes every token of the user at once.
    #[schema(value_type = Option<crate::schema::UserStatus>)]
    status: Option<UserStatus>,
    #[schema(value_type = Option<Vec<crate::schema::Role>>)]
    roles: Option<Vec<Role>>,
    #[schema(value_type = Option<Vec<Uuid>>)]
    store_ids: Option<Vec<StoreId>>,
    /// A new password (10 to 128 characters); revokes the user's tokens.
    password: Option<String>,
}

impl Nullable for UpdateUser {
    const NULLABLE: &'static [&'static str] = &[];
}

/// Changes a staff account's status, roles, stores or password.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])), request_body = UpdateUser,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_user(
    State(state): State<AppState>,
    auth: Auth,
    _retry: Repeatable,
    Path(id): Path<UserId>,
    Patch(body): Patch<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    auth.require_admin()?;
    let current = storage::users::user_by_id(state.db.primary(), id)
        .await
        .or_not_found("user")?;
    let context = [current.username.as_str(), current.email.as_str()];
    let password = domain::validation::optional(body.password.as_deref(), |p| {
        Password::parse_for(p, &context)
    })
    .map_err(|m| ValidationErrors::single("password", m))?;
    let roles = body.roles.map(dedup);
    if id == auth.user_id
        && (body.status == Some(UserStatus::Suspended)
            || roles.as_ref().is_some_and(|r| !r.contains(&Role::Admin)))
    {
        return Err(ApiError::conflict(
            "status",
            "you cannot suspend yourself or remove your own admin role; ask another admin",
        ));
    }
    check_roles(
        roles.as_deref().unwrap_or(&current.roles),
        body.store_ids.as_deref().unwrap_or(&current.store_ids),
    )?;
    if let Some(store_ids) = &body.store_ids {
        check_stores_exist(&state, store_ids).await?;
    }
    let password_hash = match password {
        Some(p) => Some(state.password_checks.run(move || p.hash()).await?),
        None => None,
    };
    let changes = UserChanges {
        status: body.status,
        roles,
        store_ids: body.store_ids.map(dedup),
        password_hash,
    };
    let user = storage::users::update_user(state.db.primary(), id, &changes)
        .await
        .or_not_found("user")?;
    invalidate(&state, vec![cache::keys::user_profile(id)]).await;
    tracing::info!(user_id = %id, by = %auth.user_id, "user updated");
    Ok(Json(user.into()))
}
