//! The HTTP service assembled from its parts: the database pools, the cache and the rate
//! limiter on Redis, the API's settings, and the router. `ims serve` and the tests
//! (`testkit`) both build it here, so a new part is wired in one place.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use api::{AppState, Settings};
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::extract::Request;
use axum::response::Response;
use axum::ServiceExt;
use secrecy::ExposeSecret;
use tower::Service;

use crate::config::Config;

/// The service, built but not yet serving. Nothing connects until first use: pools and the
/// cache connect on their first request, so the service starts (not ready) while a
/// dependency is down.
#[derive(Clone)]
pub struct App {
    state: AppState,
}

impl App {
    /// The service as `config` describes it. Without `IMS_CURSOR_KEY` its cursors are signed
    /// with a random key until [`App::with_cursor_key`] gives it the deployment's.
    pub fn build(config: &Config) -> anyhow::Result<App> {
        let api = &config.api;
        let settings = Settings {
            tuning: api.tuning.clone(),
            cursor_key: match &api.cursor_key {
                Some(key) => {
                    api::pagination::CursorKey::new(key.expose_secret().as_bytes().to_vec())
                        .context("IMS_CURSOR_KEY: too short")?
                }
                None => api::pagination::CursorKey::random(),
            },
            archive: Some(archive::ArchivedOrders::new(
                archive::Archive::open(&config.archive.url)
                    .map_err(|e| anyhow::anyhow!("IMS_ARCHIVE_URL: {e}"))?,
            )),
            ..Settings::default()
        };
        App::on(
            storage::Db::connect(&config.db),
            config.redis.clone(),
            settings,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.redis_vars()))
    }

    /// The service on `db` (already connected: a test's fresh database, or a cluster's
    /// pools), caching as `cache` says, with `settings`.
    pub fn on(
        db: storage::Db,
        cache: cache::CacheConfig,
        settings: Settings,
    ) -> Result<App, cache::Error> {
        let cache = cache::Cache::new(cache)?;
        let limiter = api::ratelimit::Limiter::new(cache.rate_limiter(), &settings);
        Ok(App {
            state: AppState::new(db, cache, settings, limiter),
        })
    }

    /// The same service signing its cursors with `key` (the deployment's shared one).
    pub fn with_cursor_key(self, key: api::pagination::CursorKey) -> App {
        let state = &self.state;
        let settings = Settings {
            cursor_key: key,
            ..state.settings.clone()
        };
        App {
            state: AppState::new(
                state.db.clone(),
                state.cache.clone(),
                settings,
                state.limiter.clone(),
            ),
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Refreshes the database and Redis figures of `/metrics` every `every`, until aborted.
    pub fn spawn_metrics(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        api::metrics::spawn_refresh(self.state.clone(), every)
    }

    /// The router as a service that knows each client's address (the rate limit counts
    /// anonymous clients by it).
    pub fn service(
        &self,
    ) -> IntoMakeServiceWithConnectInfo<
        impl Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
            + Clone
            + Send
            + Sync
            + 'static,
        SocketAddr,
    > {
        api::router(self.state.clone()).into_make_service_with_connect_info::<SocketAddr>()
    }
}
