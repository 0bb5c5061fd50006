//! Operator commands: apply migrations, load demo data, create or reset an administrator.

use domain::user::{Email, Password, Username};

use crate::config::Config;

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = storage::Db::connect(&config.db_config()?);
    db.migrate().await?;
    tracing::info!("migrations applied");
    db.close().await;
    Ok(())
}

pub async fn seed_demo(config: &Config) -> anyhow::Result<()> {
    let db = storage::Db::connect(&config.db_config()?);
    if storage::demo::load_demo_data(db.primary()).await? {
        tracing::info!("demo data loaded");
    } else {
        tracing::info!("database already has data; demo data not loaded again");
    }
    db.close().await;
    Ok(())
}

/// Creates the admin, or resets the existing one with this username or email.
pub async fn create_admin(
    config: &Config,
    username: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<()> {
    let username = Username::parse(username).map_err(|m| anyhow::anyhow!("--username {m}"))?;
    let email = Email::parse(email).map_err(|m| anyhow::anyhow!("--email {m}"))?;
    let password = Password::parse(password).map_err(|m| anyhow::anyhow!("--password {m}"))?;
    let hash = tokio::task::spawn_blocking(move || password.hash()).await?;
    let db = storage::Db::connect(&config.db_config()?);
    let user = storage::users::upsert_admin(db.primary(), &email, &username, &hash).await?;
    tracing::info!(user_id = %user.id, username = %user.username, "admin ready");
    db.close().await;
    Ok(())
}
