//! A staff account as clients see it: `GET /users/...`, and the `user` of a login answer and
//! of the authenticated caller's cached profile.

use chrono::{DateTime, Utc};
use domain::ids::{StoreId, UserId};
use domain::user::{Role, UserStatus};
use serde::{Deserialize, Serialize};
use storage::users::UserRecord;

/// A staff account as clients see it (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    #[schema(value_type = Uuid)]
    pub id: UserId,
    email: String,
    pub username: String,
    #[schema(value_type = Vec<crate::schema::Role>)]
    pub roles: Vec<Role>,
    #[schema(value_type = Vec<Uuid>)]
    pub store_ids: Vec<StoreId>,
    #[schema(value_type = crate::schema::UserStatus)]
    pub status: UserStatus,
    last_login_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            email: u.email,
            username: u.username,
            roles: u.roles,
            store_ids: u.store_ids,
            status: u.status,
            last_login_at: u.last_login_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}
