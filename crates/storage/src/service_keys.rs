//! Secrets the instances of the service share through the database (migration 0008): made
//! once, at random, by the first instance that asks, then read by every other.

use rand::RngCore;
use sqlx::PgPool;

use crate::Result;

/// The key named `name` (32 random bytes), made if this is the first time it is asked for.
/// Concurrent first calls agree: the insert that loses the race does nothing, and both read
/// the row that won.
pub async fn shared_key(pool: &PgPool, name: &str) -> Result<Vec<u8>> {
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    sqlx::query(
        "INSERT INTO service_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(&fresh[..])
    .execute(pool)
    .await?;
    let key: Vec<u8> = sqlx::query_scalar("SELECT key FROM service_keys WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok(key)
}
