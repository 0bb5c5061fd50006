//! `POST /auth/login`, `POST /auth/logout`, `GET /auth/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use domain::user::UserStatus;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::{new_token, Auth};
use crate::cached::{invalidate, Cached};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ClientAddr, JsonBody};
use crate::state::AppState;
use crate::views::UserView;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address or username, in any case.
    login: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    expires_at: DateTime<Utc>,
    user: UserView,
}

const BAD_LOGIN: &str = "login or password is wrong";

/// Logs in by email or username. Unknown users, wrong passwords and suspended accounts get the
/// same 401 after the same work. Failures are throttled per account and address (5 in 15
/// minutes lock that pair, each lock twice as long as the one before) and per address (30),
/// answered 429 with Retry-After; the owner can still log in from another address.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(peer): ClientAddr,
    JsonBody(body): JsonBody<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let pool = state.db.primary();
    let address_key = format!(
        "address:{}",
        peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    );
    let found = storage::users::user_for_login(pool, body.login.trim()).await?;
    // Failures count per (account, address), so that guessing from one address cannot lock
    // the owner out from another, and per address (across accounts).
    let account_key = match &found {
        Some(record) => format!("user:{}|{address_key}", record.user.id),
        None => format!("login:{}|{address_key}", body.login.trim().to_lowercase()),
    };
    // Every attempt is counted before the password is checked (see throttle::begin_attempts).
    let locked = storage::throttle::begin_attempts(
        pool,
        (&account_key, state.settings.account_throttle),
        (&address_key, state.settings.address_throttle),
    )
    .await?;
    if let Some(until) = locked {
        let secs = (until - Utc::now()).num_seconds().max(1) as u64;
        return Err(ApiError::TooManyRequests {
            retry_after_secs: secs,
            detail: format!("too many failed logins; try again in {secs} seconds"),
        });
    }
    let attempt = PendingAttempt::new(&state, [account_key, address_key]);

    let stored_hash = found.as_ref().map_or_else(
        || domain::user::decoy_hash().to_owned(),
        |r| r.password_hash.clone(),
    );
    let password = body.password;
    let matches = state
        .password_checks
        .run(move || domain::user::verify_password(&password, &stored_hash))
        .await?;
    let [account_key, address_key] = attempt.checked();
    // A suspended account answers as a wrong password does, and its attempt stays counted:
    // a different answer for the right password would tell a guesser it was right.
    let Some(record) = found.filter(|r| matches && r.user.status == UserStatus::Active) else {
        return Err(ApiError::Unauthorized(BAD_LOGIN));
    };

    let (token, digest) = new_token();
    let ttl = chrono::Duration::from_std(state.settings.tuning.token_ttl)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let expires_at = Utc::now() + ttl;
    storage::sessions::start_session(
        pool,
        (&account_key, &address_key),
        &digest,
        record.user.id,
        expires_at,
    )
    .await?;
    // The profile shows the last login.
    invalidate(&state, vec![cache::keys::user_profile(record.user.id)]).await;
    tracing::info!(user_id = %record.user.id, "login");
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user: record.user.into(),
    }))
}

/// A counted login attempt whose password check has not finished. If the request ends first
/// (a 503 while waiting for a free core or a pool connection, a client that hung up and so
/// dropped the handler), the attempt is taken back on drop: overload must never lock an
/// account or a till's address for fifteen minutes.
struct PendingAttempt {
    db: storage::Db,
    keys: Option<[String; 2]>,
}

impl PendingAttempt {
    fn new(state: &AppState, keys: [String; 2]) -> Self {
        Self {
            db: state.db.clone(),
            keys: Some(keys),
        }
    }

    /// The password was checked: the attempt stands (or the caller takes it back itself).
    fn checked(mut self) -> [String; 2] {
        self.keys.take().unwrap_or_default()
    }
}

impl Drop for PendingAttempt {
    fn drop(&mut self) {
        let (Some(keys), Ok(runtime)) = (self.keys.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let db = self.db.clone();
        runtime.spawn(async move {
            if let Err(e) = storage::throttle::forgive(db.primary(), &keys).await {
                tracing::warn!(error = %e, "could not take back an unfinished login attempt");
            }
        });
    }
}

/// Revokes the token of this request; it stops working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(State(state): State<AppState>, auth: Auth) -> ApiResult<StatusCode> {
    storage::sessions::revoke_session(state.db.primary(), &auth.token_digest).await?;
    invalidate(&state, vec![cache::keys::session(&auth.token_digest)]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem)))]
async fn me(auth: Auth) -> ApiResult<Cached<UserView>> {
    // Authentication already read the profile (through the cache): answer with that read.
    Ok(Cached(auth.profile.user.clone(), auth.profile_outcome))
}
