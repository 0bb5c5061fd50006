//! Fencing: a superseded old primary (cut off by a partition, still taking writes that will
//! never be acknowledged) gets no more of the service's work. Deciding that a node is
//! superseded is `topology`'s; this only ends the sessions.

use std::time::Duration;

use sqlx::PgConnection;

/// Ends the service's sessions (application name `ims`) on a superseded node; each request on
/// one fails as a lost node and is retried on the primary (api's `failover`). The service's
/// role may end its own sessions without further privileges.
pub(super) async fn end_service_sessions(conn: &mut PgConnection) {
    let ended = tokio::time::timeout(
        Duration::from_secs(1),
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name = 'ims' AND datname = current_database()
               AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut *conn),
    )
    .await;
    match ended {
        Ok(Ok(n)) if n > 0 => tracing::warn!(
            sessions = n,
            "ended the service's sessions on a superseded primary"
        ),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not end sessions on a superseded primary"),
        Err(_) => tracing::warn!("ending sessions on a superseded primary timed out"),
    }
}
