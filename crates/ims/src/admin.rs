//! Operator commands: apply migrations, load demo or generated data, create or reset an
//! administrator.

use domain::user::{Email, Password, Username};

use crate::config::Config;

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = storage::Db::connect(&config.db);
    db.migrate().await?;
    tracing::info!("migrations applied");
    db.close().await;
    Ok(())
}

pub async fn seed_demo(config: &Config) -> anyhow::Result<()> {
    let db = storage::Db::connect(&config.db);
    let loaded = seed::demo::load_demo_data(db.primary()).await;
    db.close().await;
    if loaded? {
        let counts = seed::demo::DEMO_COUNTS;
        tracing::info!(
            stores = counts.stores,
            products = counts.products,
            customers = counts.customers,
            orders = counts.orders,
            jobs = counts.jobs,
            "demo data loaded (staff accounts staff0001.. share the password {})",
            seed::generator::STAFF_PASSWORD
        );
    } else {
        tracing::info!("database already has data; demo data not loaded again");
    }
    Ok(())
}

/// Generates a realistic chain at `scale` (see `seed::generator`) and prints what it
/// loaded: rows per table, time per phase, and the accounts' password.
pub async fn seed_generated(
    config: &Config,
    scale: f64,
    seed: u64,
    force: bool,
    months: u32,
) -> anyhow::Result<()> {
    let db = storage::Db::connect(&config.db);
    let options = seed::generator::Options {
        force,
        history_months: Some(months),
        ..seed::generator::Options::new(scale, seed)
    };
    let result = seed::generator::generate(db.primary(), &options).await;
    db.close().await;
    let summary = result?;
    println!(
        "generated chain: scale {scale}, seed {seed}, history up to {}",
        options.now.to_rfc3339()
    );
    println!("\n{:<28} {:>12}", "table", "rows");
    for (table, rows) in &summary.report.tables {
        println!("{table:<28} {rows:>12}");
    }
    println!("\n{:<28} {:>12}", "phase", "seconds");
    for (phase, took) in &summary.report.phases {
        println!("{phase:<28} {:>12.2}", took.as_secs_f64());
    }
    println!("{:<28} {:>12.2}", "total", summary.elapsed.as_secs_f64());
    println!(
        "\naccounts admin01.., staff0001.. share the password {}",
        seed::generator::STAFF_PASSWORD
    );
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
    let password = Password::parse_for(password, &[username.as_str(), email.as_str()])
        .map_err(|m| anyhow::anyhow!("--password {m}"))?;
    let hash = tokio::task::spawn_blocking(move || password.hash()).await?;
    let db = storage::Db::connect(&config.db);
    let user = storage::users::upsert_admin(db.primary(), &email, &username, &hash).await?;
    // A reset voids the admin's sessions; a running service must not keep its cached profile.
    let cache = cache::Cache::new(config.redis.clone())?;
    cache
        .invalidate(&[cache::keys::user_profile(user.id)])
        .await;
    tracing::info!(user_id = %user.id, username = %user.username, "admin ready");
    db.close().await;
    Ok(())
}

/// `ims cache warm`: loads the start-of-day reads into Redis.
pub async fn warm_cache(config: &Config) -> anyhow::Result<()> {
    let app = crate::app::App::build(config)?;
    let state = app.state();
    state
        .cache
        .ping()
        .await
        .map_err(|e| anyhow::anyhow!("IMS_REDIS_URL: Redis is unavailable: {e}"))?;
    let warmed = api::warm::warm_cache(state).await?;
    tracing::info!(keys = warmed.keys, elapsed = ?warmed.elapsed, "cache warmed");
    state.db.close().await;
    Ok(())
}
