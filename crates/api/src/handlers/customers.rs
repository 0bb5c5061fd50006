//! Customers: `POST/GET /customers`, `GET/PATCH /customers/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use domain::customer::Phone;
use domain::ids::CustomerId;
use domain::user::{Email, Role};
use domain::validation::optional;
use domain::{text, validate};
use serde::{Deserialize, Serialize};
use storage::customers::{CustomerChanges, CustomerFilter, CustomerRecord, NewCustomer};
use storage::idempotency::Done;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{double_option, IdempotentBody, Nullable, Patch, Path, Query, Repeatable};
use crate::idempotent::{key_of, replay, stored};
use crate::pagination::{List, Sort};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_customers, create_customer))
        .routes(routes!(get_customer, update_customer))
}

/// Who works with customer records.
const STAFF: &[Role] = &[Role::Manager, Role::Sales, Role::Optometrist];

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView {
    #[schema(value_type = Uuid)]
    id: CustomerId,
    name: String,
    /// Normalized: digits with an optional leading `+`.
    phone: String,
    email: Option<String>,
    date_of_birth: Option<NaiveDate>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CustomerRecord> for CustomerView {
    fn from(c: CustomerRecord) -> Self {
        Self {
            id: c.id,
            name: c.name,
            phone: c.phone,
            email: c.email,
            date_of_birth: c.date_of_birth,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

fn date_of_birth(date: NaiveDate) -> Result<NaiveDate, String> {
    let today = Utc::now().date_naive();
    if date > today || date < domain::dates::EARLIEST {
        return Err("must be a date between 1900-01-01 and today".into());
    }
    Ok(date)
}

fn email(raw: &str) -> Result<String, String> {
    Email::parse(raw).map(|e| e.as_str().to_owned())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCustomer {
    name: String,
    phone: String,
    email: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "crate::extract::full_date::optional")]
    date_of_birth: Option<NaiveDate>,
}

/// Registers a customer.
#[utoipa::path(post, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])), request_body = CreateCustomer,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = CustomerView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
async fn create_customer(
    State(state): State<AppState>,
    auth: Auth,
    request: IdempotentBody<CreateCustomer>,
) -> ApiResult<Response> {
    let key = key_of(&auth, &request);
    let body = request.body;
    auth.require(STAFF)?;
    validate! {
        name = "name" => text::name(&body.name),
        phone = "phone" => Phone::parse(&body.phone),
        email = "email" => optional(body.email.as_deref(), email),
        date_of_birth = "dateOfBirth" => optional(body.date_of_birth, date_of_birth),
    }
    let customer = NewCustomer {
        name,
        phone,
        email,
        date_of_birth,
    };
    let created = match storage::customers::insert_customer(
        state.db.primary(),
        &customer,
        key.as_ref(),
        |record| stored(CustomerView::from(record.clone())),
    )
    .await?
    {
        Done::New(created) => created,
        Done::Replay { status, body } => return Ok(replay(status, body)),
    };
    Ok((StatusCode::CREATED, Json(CustomerView::from(created))).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerQuery {
    /// Exact phone number, in any common format.
    phone: Option<String>,
    /// Part of the name (at least 2 characters).
    q: Option<String>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Finds customers by phone or by part of their name, by name.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", security(("bearer" = [])), params(CustomerQuery),
    responses((status = 200, body = List<CustomerView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_customers(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<CustomerQuery>,
) -> ApiResult<Json<List<CustomerView>>> {
    auth.require(STAFF)?;
    let (limit, after) = state
        .pager("customers", Sort::NAME)
        .request(query.limit, query.cursor.as_deref())?;
    let phone = optional(query.phone.as_deref(), Phone::parse)
        .map_err(|m| ApiError::BadRequest(format!("phone {m}")))?;
    let name_contains = query
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if name_contains
        .as_ref()
        .is_some_and(|q| q.chars().count() < 2)
    {
        return Err(ApiError::BadRequest(
            "q must be at least 2 characters".into(),
        ));
    }
    let filter = CustomerFilter {
        phone,
        name_contains,
        limit,
        after,
    };
    let page = storage::customers::list_customers(&state.db.read(), &filter).await?;
    Ok(Json(
        state
            .pager("customers", Sort::NAME)
            .list(page, CustomerView::from),
    ))
}

/// One customer.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_customer(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CustomerId>,
) -> ApiResult<Json<CustomerView>> {
    auth.require(STAFF)?;
    let customer = storage::customers::customer_by_id(&state.db.read(), id)
        .await
        .or_not_found("customer")?;
    Ok(Json(customer.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateCustomer {
    name: Option<String>,
    phone: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::extract::full_date::nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    date_of_birth: Option<Option<NaiveDate>>,
}

impl Nullable for UpdateCustomer {
    const NULLABLE: &'static [&'static str] = &["email", "dateOfBirth"];
}

/// Changes a customer's details.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers", security(("bearer" = [])), request_body = UpdateCustomer,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
async fn update_customer(
    State(state): State<AppState>,
    auth: Auth,
    _retry: Repeatable,
    Path(id): Path<CustomerId>,
    Patch(body): Patch<UpdateCustomer>,
) -> ApiResult<Json<CustomerView>> {
    auth.require(STAFF)?;
    validate! {
        name = "name" => optional(body.name.as_deref(), text::name),
        phone = "phone" => optional(body.phone.as_deref(), Phone::parse),
        email = "email" => optional(body.email.clone(), |e| optional(e.as_deref(), email)),
        date_of_birth = "dateOfBirth" => optional(body.date_of_birth, |d| optional(d, date_of_birth)),
    }
    let changes = CustomerChanges {
        name,
        phone,
        email,
        date_of_birth,
    };
    let customer = storage::customers::update_customer(state.db.primary(), id, &changes)
        .await
        .or_not_found("customer")?;
    Ok(Json(customer.into()))
}
