//! Who is calling: bearer tokens, the authenticated-user extractor, role and store checks.
//!
//! Tokens are 256 random bits; only their SHA-256 is stored, and every request re-checks the
//! session and the user's status, so a logout or a suspension stops a token at once.

use domain::ids::{StoreId, UserId};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::user::{Role, UserStatus};
use rand::RngCore;
use sha2::{Digest, Sha256};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::views::UserView;

/// A new random token (`ims_` + 43 URL-safe characters) and the digest stored for it.
pub fn new_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = format!("ims_{}", URL_SAFE_NO_PAD.encode(bytes));
    let digest = token_digest(&token);
    (token, digest)
}

pub fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The authenticated caller. Extracting it is what makes an endpoint require a token.
#[derive(Debug, Clone)]
pub struct Auth {
    pub user_id: UserId,
    pub username: String,
    pub roles: Vec<Role>,
    pub store_ids: Vec<StoreId>,
    /// The digest of the token this request came with (logout revokes it).
    pub token_digest: Vec<u8>,
    /// The caller's profile as authentication read it, and how the cache served it.
    pub profile: Arc<Profile>,
    pub profile_outcome: cache::Outcome,
}

/// A session as the cache keeps it (under the token's digest, never the token).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CachedSession {
    user_id: UserId,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A user as authentication and `GET /auth/me` need it, cached as `user:{id}:profile`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(flatten)]
    pub user: UserView,
    /// Sessions created at or before this are void.
    pub sessions_valid_after: DateTime<Utc>,
}

impl Profile {
    pub fn new(record: storage::users::UserRecord) -> Self {
        let sessions_valid_after = record.sessions_valid_after;
        Self {
            user: record.into(),
            sessions_valid_after,
        }
    }
}

/// The user's profile through the cache.
pub async fn profile(
    state: &AppState,
    user_id: UserId,
) -> ApiResult<(Arc<Profile>, cache::Outcome)> {
    let key = cache::keys::user_profile(user_id);
    state
        .cache
        .get_or_load_shared(&key, "", || async {
            let record = storage::users::user_by_id(state.db.primary(), user_id).await?;
            Ok(Profile::new(record))
        })
        .await
}

const INVALID_TOKEN: &str = "the token is invalid, expired or revoked: log in again";

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    /// Checks the token through the cache (session, then profile): no database query while
    /// both are cached, and still refused at once after a logout (the session key is
    /// forgotten) or a suspension or password change (the profile key is forgotten and the
    /// reloaded profile voids older sessions).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The rate limit middleware already checked this request's token (a second
        // extraction, if any, checks it again).
        if let Some(auth) = parts.extensions.remove::<Auth>() {
            return Ok(auth);
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "send Authorization: Bearer <token> from POST /api/v1/auth/login",
            ))?;
        let token = header
            .to_str()
            .ok()
            .and_then(bearer_token)
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be 'Bearer <token>'",
            ))?;
        let digest = token_digest(token);
        let key = cache::keys::session(&digest);
        let (session, _) = state
            .cache
            .get_or_load_shared(&key, "", || async {
                storage::sessions::session_for_token(state.db.primary(), &digest)
                    .await?
                    .map(|s| CachedSession {
                        user_id: s.user_id,
                        created_at: s.created_at,
                        expires_at: s.expires_at,
                    })
                    .ok_or(ApiError::Unauthorized(INVALID_TOKEN))
            })
            .await?;
        if session.expires_at <= Utc::now() {
            return Err(ApiError::Unauthorized(INVALID_TOKEN));
        }
        let (profile, profile_outcome) =
            profile(state, session.user_id).await.map_err(|e| match e {
                ApiError::NotFound(_) => ApiError::Unauthorized(INVALID_TOKEN),
                other => other,
            })?;
        if profile.user.status != UserStatus::Active
            || session.created_at <= profile.sessions_valid_after
        {
            return Err(ApiError::Unauthorized(INVALID_TOKEN));
        }
        tracing::Span::current().record("user_id", tracing::field::display(session.user_id));
        Ok(Auth {
            user_id: session.user_id,
            username: profile.user.username.clone(),
            roles: profile.user.roles.clone(),
            store_ids: profile.user.store_ids.clone(),
            token_digest: digest,
            profile,
            profile_outcome,
        })
    }
}

impl Auth {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }

    /// Allows admins and anyone holding one of `roles`; otherwise 403 naming who may.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.is_admin() || roles.iter().any(|r| self.roles.contains(r)) {
            return Ok(());
        }
        let allowed: Vec<&str> = std::iter::once(Role::Admin)
            .chain(roles.iter().copied())
            .map(Role::as_str)
            .collect();
        Err(ApiError::Forbidden(format!(
            "this needs one of the roles: {}",
            allowed.join(", ")
        )))
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require(&[])
    }

    /// Admins see every store; everyone else only the stores they belong to.
    pub fn require_store(&self, store_id: StoreId) -> Result<(), ApiError> {
        if self.is_admin() || self.store_ids.contains(&store_id) {
            return Ok(());
        }
        Err(ApiError::Forbidden(
            "you do not belong to this store".into(),
        ))
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110, section 11.1), so `bearer` and `BEARER` are accepted too.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
