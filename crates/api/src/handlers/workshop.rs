//! Workshop jobs: `POST/GET /workshop/jobs`, `GET /workshop/jobs/{id}`,
//! `GET /workshop/jobs/number/{n}`, `GET /orders/{id}/jobs`, `PATCH /workshop/jobs/{id}/status`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::ids::{JobId, OrderId, PrescriptionId, StoreId, UserId};
use domain::user::Role;
use domain::workshop::{JobPriority, JobStatus};
use domain::{text, validate};
use serde::{Deserialize, Serialize};
use storage::idempotency::Done;
use storage::workshop::{JobChange, JobFilter, JobMove, JobRecord, NewJob};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Auth;
use crate::cached::{dashboard_keys, invalidate};
use crate::error::{ApiError, ApiResult, OrNotFound, Problem};
use crate::extract::{IdempotentBody, Path, Query};
use crate::idempotent::{key_of, replay, stored, stored_as};
use crate::lookup::visible_order;
use crate::pagination::{List, Sort};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs, create_job))
        .routes(routes!(get_job))
        .routes(routes!(get_job_by_number))
        .routes(routes!(list_order_jobs))
        .routes(routes!(change_job_status))
}

const CREATORS: &[Role] = &[Role::Manager, Role::Sales, Role::Technician];
const READERS: &[Role] = &[Role::Manager, Role::Sales, Role::Technician];
const WORKERS: &[Role] = &[Role::Manager, Role::Technician];

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobChangeView {
    #[schema(value_type = Option<crate::schema::JobStatus>)]
    from_status: Option<JobStatus>,
    #[schema(value_type = crate::schema::JobStatus)]
    to_status: JobStatus,
    note: String,
    #[schema(value_type = Option<Uuid>)]
    changed_by: Option<UserId>,
    changed_at: DateTime<Utc>,
}

impl From<JobChange> for JobChangeView {
    fn from(c: JobChange) -> Self {
        Self {
            from_status: c.from_status,
            to_status: c.to_status,
            note: c.note,
            changed_by: c.changed_by,
            changed_at: c.changed_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    #[schema(value_type = Uuid)]
    id: JobId,
    /// `JOB-<year>-<6+ digits>`.
    job_number: String,
    #[schema(value_type = Uuid)]
    order_id: OrderId,
    #[schema(value_type = Uuid)]
    store_id: StoreId,
    #[schema(value_type = Option<Uuid>)]
    prescription_id: Option<PrescriptionId>,
    #[schema(value_type = crate::schema::JobPriority)]
    priority: JobPriority,
    #[schema(value_type = crate::schema::JobStatus)]
    status: JobStatus,
    instructions: String,
    #[schema(value_type = Option<Uuid>)]
    created_by: Option<UserId>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    /// Every status change, oldest first (only on single-job reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<JobChangeView>>,
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> Self {
        Self {
            id: j.id,
            job_number: j.job_number,
            order_id: j.order_id,
            store_id: j.store_id,
            prescription_id: j.prescription_id,
            priority: j.priority,
            status: j.status,
            instructions: j.instructions,
            created_by: j.created_by,
            created_at: j.created_at,
            updated_at: j.updated_at,
            completed_at: j.completed_at,
            history: None,
        }
    }
}

async fn with_history(state: &AppState, job: JobRecord) -> ApiResult<JobView> {
    let history = storage::workshop::job_history(state.db.primary(), job.id).await?;
    Ok(job_view(job, history))
}

fn job_view(job: JobRecord, history: Vec<JobChange>) -> JobView {
    let mut view = JobView::from(job);
    view.history = Some(history.into_iter().map(JobChangeView::from).collect());
    view
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateJob {
    #[schema(value_type = Uuid)]
    order_id: OrderId,
    #[schema(value_type = Option<Uuid>)]
    prescription_id: Option<PrescriptionId>,
    #[schema(value_type = Option<crate::schema::JobPriority>)]
    priority: Option<JobPriority>,
    #[serde(default)]
    instructions: String,
}

/// Queues a fitting job for an order, in the order's store.
#[utoipa::path(post, path = "/api/v1/workshop/jobs", tag = "workshop", security(("bearer" = [])), request_body = CreateJob,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 201, body = JobView), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_job(
    State(state): State<AppState>,
    auth: Auth,
    request: IdempotentBody<CreateJob>,
) -> ApiResult<Response> {
    let key = key_of(&auth, &request);
    let body = request.body;
    auth.require(CREATORS)?;
    validate! {
        instructions = "instructions" => text::description(&body.instructions),
    }
    let store_id = match storage::workshop::order_store(state.db.primary(), body.order_id).await? {
        Some(store) if auth.require_store(store).is_ok() => store,
        _ => {
            return Err(domain::ValidationErrors::single("orderId", "no order with this id").into())
        }
    };
    let job = NewJob {
        order_id: body.order_id,
        prescription_id: body.prescription_id,
        priority: body.priority.unwrap_or(JobPriority::Normal),
        instructions,
        created_by: auth.user_id,
    };
    let created = match storage::workshop::insert_job(
        state.db.primary(),
        &job,
        store_id,
        key.as_ref(),
        |(job, history)| stored(job_view(job.clone(), history.clone())),
    )
    .await?
    {
        Done::New(created) => created,
        Done::Replay { status, body } => {
            // In case the first attempt committed and failed before this.
            invalidate(&state, dashboard_keys(&state, &[store_id]).await).await;
            return Ok(replay(status, body));
        }
    };
    invalidate(&state, dashboard_keys(&state, &[store_id]).await).await;
    let (job, history) = created;
    Ok((StatusCode::CREATED, Json(job_view(job, history))).into_response())
}

fn visible(auth: &Auth, job: JobRecord) -> ApiResult<JobRecord> {
    auth.require_store(job.store_id)
        .map_err(|_| ApiError::not_found("workshop job"))?;
    Ok(job)
}

/// One job with its history.
#[utoipa::path(get, path = "/api/v1/workshop/jobs/{id}", tag = "workshop", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = JobView), (status = 404, body = Problem)))]
async fn get_job(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<JobId>,
) -> ApiResult<Json<JobView>> {
    auth.require(READERS)?;
    let job = storage::workshop::job_by_id(&state.db.read(), id)
        .await
        .or_not_found("workshop job")?;
    Ok(Json(with_history(&state, visible(&auth, job)?).await?))
}

/// One job by its number, with its history.
#[utoipa::path(get, path = "/api/v1/workshop/jobs/number/{jobNumber}", tag = "workshop", security(("bearer" = [])),
    responses((status = 200, body = JobView), (status = 404, body = Problem)))]
async fn get_job_by_number(
    State(state): State<AppState>,
    auth: Auth,
    Path(number): Path<String>,
) -> ApiResult<Json<JobView>> {
    auth.require(READERS)?;
    let job = storage::workshop::job_by_number(&state.db.read(), &number)
        .await
        .or_not_found("workshop job")?;
    Ok(Json(with_history(&state, visible(&auth, job)?).await?))
}

/// The jobs of one order.
#[utoipa::path(get, path = "/api/v1/orders/{id}/jobs", tag = "workshop", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = List<JobView>), (status = 404, body = Problem)))]
async fn list_order_jobs(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<OrderId>,
) -> ApiResult<Json<List<JobView>>> {
    auth.require(READERS)?;
    visible_order(&state, &auth, id, false).await?;
    let jobs = storage::workshop::jobs_of_order(&state.db.read(), id).await?;
    Ok(Json(List {
        items: jobs.into_iter().map(JobView::from).collect(),
        next_cursor: None,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// Default: the open queue (queued, in_progress, quality_check).
    #[param(value_type = Option<crate::schema::JobStatus>)]
    status: Option<JobStatus>,
    #[param(value_type = Option<crate::schema::JobPriority>)]
    priority: Option<JobPriority>,
    /// 1 to 100, default 20.
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The queue: most urgent first, then oldest (in the stores the caller may see).
#[utoipa::path(get, path = "/api/v1/workshop/jobs", tag = "workshop", security(("bearer" = [])), params(JobQuery),
    responses((status = 200, body = List<JobView>), (status = 400, body = Problem)))]
async fn list_jobs(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<JobQuery>,
) -> ApiResult<Json<List<JobView>>> {
    auth.require(READERS)?;
    let (limit, after) = state
        .pager("jobs", Sort::QUEUE)
        .request(query.limit, query.cursor.as_deref())?;
    let filter = JobFilter {
        status: query.status,
        priority: query.priority,
        visible_stores: (!auth.is_admin()).then(|| auth.store_ids.clone()),
    };
    let page =
        storage::workshop::list_jobs(&state.db.read(), &filter, limit, after.as_ref()).await?;
    Ok(Json(
        state.pager("jobs", Sort::QUEUE).list(page, JobView::from),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeJobStatus {
    #[schema(value_type = crate::schema::JobStatus)]
    status: JobStatus,
    /// Why, for the history (required for rework and cancellation by convention, optional here).
    #[serde(default)]
    note: String,
}

/// Moves a job along its status machine; the change is kept with who, when and the note.
/// With an `Idempotency-Key` (or the key the failover middleware makes up), a retry returns
/// the first answer instead of a second move (which its new status would refuse with 409).
#[utoipa::path(patch, path = "/api/v1/workshop/jobs/{id}/status", tag = "workshop", security(("bearer" = [])),
    request_body = ChangeJobStatus,
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body within 24 h return the first response")),
    responses((status = 200, body = JobView), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn change_job_status(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<JobId>,
    request: IdempotentBody<ChangeJobStatus>,
) -> ApiResult<Response> {
    let key = key_of(&auth, &request);
    let body = request.body;
    auth.require(WORKERS)?;
    validate! {
        note = "note" => text::description(&body.note),
    }
    let job = storage::workshop::job_by_id(state.db.primary(), id)
        .await
        .or_not_found("workshop job")?;
    let store_id = visible(&auth, job)?.store_id;
    let change = JobMove {
        id,
        to: body.status,
        note: &note,
        actor: auth.user_id,
    };
    let moved = storage::workshop::change_job_status(
        state.db.primary(),
        &change,
        key.as_ref(),
        |(job, history)| stored_as(StatusCode::OK, job_view(job.clone(), history.clone())),
    )
    .await
    .or_not_found("workshop job")?;
    // A job never changes store, so on a replay too its store's figures are put in place
    // again, in case the first attempt committed but failed before doing so (a primary lost
    // at the commit).
    invalidate(&state, dashboard_keys(&state, &[store_id]).await).await;
    Ok(match moved {
        Done::New((job, history)) => Json(job_view(job, history)).into_response(),
        Done::Replay { status, body } => replay(status, body),
    })
}
