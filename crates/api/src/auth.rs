//! Who is calling: bearer tokens, the authenticated-user extractor, role and store checks.
//!
//! Tokens are 256 random bits; only their SHA-256 is stored, and every request re-checks the
//! session and the user's status, so a logout or a suspension stops a token at once.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::user::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

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
    pub user_id: Uuid,
    pub username: String,
    pub roles: Vec<Role>,
    pub store_ids: Vec<Uuid>,
    /// The digest of the token this request came with (logout revokes it).
    pub token_digest: Vec<u8>,
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized(
                "send Authorization: Bearer <token> from POST /api/v1/auth/login",
            ))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be 'Bearer <token>'",
            ))?;
        let digest = token_digest(token);
        let principal = storage::sessions::principal_for_token(state.db.primary(), &digest)
            .await?
            .ok_or(ApiError::Unauthorized(
                "the token is invalid, expired or revoked: log in again",
            ))?;
        Ok(Auth {
            user_id: principal.user_id,
            username: principal.username,
            roles: principal
                .roles
                .iter()
                .filter_map(|r| Role::from_name(r))
                .collect(),
            store_ids: principal.store_ids,
            token_digest: digest,
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
        let allowed: Vec<&str> = std::iter::once("admin")
            .chain(roles.iter().map(|r| r.as_str()))
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
    pub fn require_store(&self, store_id: Uuid) -> Result<(), ApiError> {
        if self.is_admin() || self.store_ids.contains(&store_id) {
            return Ok(());
        }
        Err(ApiError::Forbidden(
            "you do not belong to this store".into(),
        ))
    }
}
