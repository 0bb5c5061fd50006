//! Each test's own database: cloned from a template migrated once per set of migrations, on
//! the private test PostgreSQL that `scripts/test` names in `IMS_TEST_DATABASE_URL`.

use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use uuid::Uuid;

/// An admin connection's options to the test PostgreSQL.
pub fn admin_options() -> PgConnectOptions {
    let url = std::env::var("IMS_TEST_DATABASE_URL").expect(
        "IMS_TEST_DATABASE_URL is not set: run the suite with scripts/test, which starts the \
         private test PostgreSQL and Redis",
    );
    url.parse::<PgConnectOptions>()
        .expect("IMS_TEST_DATABASE_URL is a PostgreSQL URL")
        .disable_statement_logging()
}

/// The name of the template for the current migrations: a change to any migration makes a
/// new template instead of reusing a stale one.
fn template_name() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for migration in storage::db::MIGRATOR.iter() {
        for byte in migration.checksum.iter() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("ims_template_{hash:016x}")
}

/// Creates the migrated template once; concurrent test processes wait on an advisory lock.
async fn ensure_template(admin: &mut PgConnection) -> anyhow::Result<String> {
    let template = template_name();
    admin.execute("SELECT pg_advisory_lock(4242002)").await?;
    let result = async {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&template)
                .fetch_one(&mut *admin)
                .await?;
        if exists {
            return Ok(());
        }
        let building = format!("{template}_building");
        admin
            .execute(format!(r#"DROP DATABASE IF EXISTS "{building}""#).as_str())
            .await?;
        admin
            .execute(format!(r#"CREATE DATABASE "{building}""#).as_str())
            .await?;
        let db = storage::Db::connect(&storage::DbConfig {
            min_connections: 0,
            max_connections: 2,
            ..storage::DbConfig::new(admin_options().database(&building))
        });
        db.migrate().await.context("migrating the template")?;
        db.close().await;
        // A connection the migration used can still be on its way back to the closed pool
        // (on a multi-threaded runtime it is returned by a task of its own), and a rename
        // waits 5 s for each session in the database before failing with "being accessed by
        // other users": end whatever is left; nobody else uses a template being built.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&building)
        .execute(&mut *admin)
        .await?;
        let rename = format!(r#"ALTER DATABASE "{building}" RENAME TO "{template}""#);
        let mut attempts = 0;
        while let Err(e) = admin.execute(rename.as_str()).await {
            attempts += 1;
            if attempts >= 50 {
                return Err(e.into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::Ok(())
    }
    .await;
    admin.execute("SELECT pg_advisory_unlock(4242002)").await?;
    result.map(|()| template)
}

/// A fresh database cloned from the migrated template; returns its name.
pub async fn fresh_database() -> anyhow::Result<String> {
    let mut admin = PgConnection::connect_with(&admin_options())
        .await
        .context("connecting to the test PostgreSQL (is scripts/test running it?)")?;
    let template = ensure_template(&mut admin).await?;
    let name = format!("ims_test_{}", Uuid::new_v4().simple());
    admin
        .execute(format!(r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#).as_str())
        .await?;
    admin.close().await?;
    Ok(name)
}
