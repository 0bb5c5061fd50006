//! Prescriptions: `POST/GET /prescriptions`, `GET /prescriptions/{id}`,
//! `GET /customers/{id}/prescriptions`. Every read is audited (who, when, which).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use domain::ids::{CustomerId, PrescriptionId, UserId};
use domain::prescription::{validity, Eye, EyeInput, PrescriptionStatus};
use domain::user::Role;
use domain::{text, ValidationErrors};
use serde::{Deserialize, Serialize};
use storage::idempotency::Done;
use storage::prescriptions::{NewPrescription, PrescriptionFilter, PrescriptionRecord};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{IdempotentBody, Path, Query};
use crate::idempotent::{key_of, replay, stored};
use crate::pagination::{List, Sort};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_prescriptions, create_prescription))
        .routes(routes!(get_prescription))
        .routes(routes!(list_customer_prescriptions))
}

const WRITERS: &[Role] = &[Role::Optometrist];
const READERS: &[Role] = &[Role::Optometrist, Role::Sales];

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrescriptionView {
    #[schema(value_type = Uuid)]
    id: PrescriptionId,
    #[schema(value_type = Uuid)]
    customer_id: CustomerId,
    #[schema(value_type = Uuid)]
    patient_id: CustomerId,
    test_date: NaiveDate,
    expires_at: NaiveDate,
    #[schema(value_type = crate::schema::Eye)]
    right_eye: Eye,
    #[schema(value_type = crate::schema::Eye)]
    left_eye: Eye,
    notes: String,
    #[schema(value_type = crate::schema::PrescriptionStatus)]
    status: PrescriptionStatus,
    #[schema(value_type = Option<Uuid>)]
    created_by: Option<UserId>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<PrescriptionRecord> for PrescriptionView {
    fn from(p: PrescriptionRecord) -> Self {
        Self {
            id: p.id,
            customer_id: p.customer_id,
            patient_id: p.patient_id,
            test_date: p.test_date,
            expires_at: p.expires_at,
            right_eye: p.right_eye.0,
            left_eye: p.left_eye.0,
            notes: p.notes,
            status: p.status,
            created_by: p.created_by,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePrescription {
    #[schema(value_type = Uuid)]
    customer_id: CustomerId,
    /// Whose eyes were tested: the customer or a family member (also a customer).
    #[schema(value_type = Uuid)]
    patient_id: CustomerId,
    /// From 1900-01-01, not in the future.
    #[serde(deserialize_with = "crate::extract::full_date::required")]
    test_date: NaiveDate,
    /// After testDate and not after 2200-12-31; two years after testDate by default.
    #[serde(default, deserialize_with = "crate::extract::full_date::optional")]
    expires_at: Option<NaiveDate>,
    #[schema(value_type = crate::schema::EyeInput)]
    right_eye: EyeInput,
    #[schema(value_type = crate::schema::EyeInput)]
    left_eye: EyeInput,
    #[serde(default)]
    notes: String,
}

/// Records an eye test. The patient's earlier prescriptions become `superseded`.
#[utoipa::path(post, path = "/api/v1/prescriptions", tag = "prescriptions", security(("bearer" = [])), request_body = CreatePrescription,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = PrescriptionView), (status = 400, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
async fn create_prescription(
    State(state): State<AppState>,
    auth: Auth,
    request: IdempotentBody<CreatePrescription>,
) -> ApiResult<Response> {
    let key = key_of(&auth, &request);
    let body = request.body;
    auth.require(WRITERS)?;
    let mut errors = Vec::new();
    let right = Eye::parse(&body.right_eye, "rightEye")
        .map_err(|e| errors.extend(e))
        .ok();
    let left = Eye::parse(&body.left_eye, "leftEye")
        .map_err(|e| errors.extend(e))
        .ok();
    let expires = validity(body.test_date, body.expires_at, Utc::now().date_naive())
        .map_err(|e| errors.extend(e))
        .ok();
    let notes = text::description(&body.notes)
        .map_err(|m| errors.push(domain::FieldError::new("notes", m)))
        .ok();
    let (Some(right_eye), Some(left_eye), Some(expires_at), Some(notes)) =
        (right, left, expires, notes)
    else {
        return Err(ValidationErrors(errors).into());
    };
    let prescription = NewPrescription {
        customer_id: body.customer_id,
        patient_id: body.patient_id,
        test_date: body.test_date,
        expires_at,
        right_eye,
        left_eye,
        notes,
        created_by: auth.user_id,
    };
    let created = match storage::prescriptions::insert_prescription(
        state.db.primary(),
        &prescription,
        key.as_ref(),
        |record| stored(PrescriptionView::from(record.clone())),
    )
    .await?
    {
        Done::New(created) => created,
        Done::Replay { status, body } => return Ok(replay(status, body)),
    };
    Ok((StatusCode::CREATED, Json(PrescriptionView::from(created))).into_response())
}

/// One prescription (the read is audited).
#[utoipa::path(get, path = "/api/v1/prescriptions/{id}", tag = "prescriptions", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PrescriptionView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn get_prescription(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<PrescriptionId>,
) -> ApiResult<Json<PrescriptionView>> {
    auth.require(READERS)?;
    // Read from the primary: the audit row is written in the same transaction.
    let record = storage::prescriptions::read_prescription(state.db.primary(), id, auth.user_id)
        .await
        .or_not_found("prescription")?;
    Ok(Json(record.into()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PrescriptionQuery {
    /// patientId or customerId is required.
    #[param(value_type = Option<Uuid>)]
    patient_id: Option<CustomerId>,
    #[param(value_type = Option<Uuid>)]
    customer_id: Option<CustomerId>,
    #[param(value_type = Option<crate::schema::PrescriptionStatus>)]
    status: Option<PrescriptionStatus>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn prescription_list(
    state: &AppState,
    auth: &Auth,
    filter: PrescriptionFilter,
    query: &PrescriptionQuery,
) -> ApiResult<List<PrescriptionView>> {
    let (limit, after) = state
        .pager("prescriptions", Sort::TEST_DATE)
        .request(query.limit, query.cursor.as_deref())?;
    let page = storage::prescriptions::list_prescriptions(
        state.db.primary(),
        &filter,
        limit,
        after.as_ref(),
        auth.user_id,
    )
    .await?;
    Ok(state
        .pager("prescriptions", Sort::TEST_DATE)
        .list(page, PrescriptionView::from))
}

/// A patient's or customer's prescriptions, newest test first (each read is audited).
#[utoipa::path(get, path = "/api/v1/prescriptions", tag = "prescriptions", security(("bearer" = [])), params(PrescriptionQuery),
    responses((status = 200, body = List<PrescriptionView>), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn list_prescriptions(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<PrescriptionQuery>,
) -> ApiResult<Json<List<PrescriptionView>>> {
    auth.require(READERS)?;
    if query.patient_id.is_none() && query.customer_id.is_none() {
        return Err(ApiError::BadRequest(
            "give patientId or customerId: prescriptions are listed per person".into(),
        ));
    }
    let filter = PrescriptionFilter {
        patient_id: query.patient_id,
        customer_id: query.customer_id,
        status: query.status,
    };
    Ok(Json(
        prescription_list(&state, &auth, filter, &query).await?,
    ))
}

/// The prescriptions a customer brought in, newest test first (each read is audited).
#[utoipa::path(get, path = "/api/v1/customers/{id}/prescriptions", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path), PrescriptionQuery),
    responses((status = 200, body = List<PrescriptionView>), (status = 404, body = Problem)))]
async fn list_customer_prescriptions(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<CustomerId>,
    Query(query): Query<PrescriptionQuery>,
) -> ApiResult<Json<List<PrescriptionView>>> {
    auth.require(READERS)?;
    storage::customers::customer_by_id(&state.db.read(), id)
        .await
        .or_not_found("customer")?;
    let filter = PrescriptionFilter {
        patient_id: query.patient_id,
        customer_id: Some(id),
        status: query.status,
    };
    Ok(Json(
        prescription_list(&state, &auth, filter, &query).await?,
    ))
}
