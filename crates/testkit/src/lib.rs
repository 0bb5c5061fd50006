//! Fresh, real PostgreSQL and Redis for every test, and the service spawned on port 0 against
//! them, so tests talk HTTP to the real thing like a client would. The service is assembled
//! by `ims::app::App`, as `ims serve` assembles it.
//!
//! Each test gets its own database, cloned from a template that is migrated once per set of
//! migrations (cloning takes milliseconds; migrating takes far longer). The servers are the
//! project's private test instances that `scripts/test` starts and names in
//! `IMS_TEST_DATABASE_URL` (an admin connection) and `IMS_TEST_REDIS_URL`.
//!
//! [`gateway`] starts the whole stack instead: nginx from the repository's template in front
//! of several `ims serve` processes.

// Test support: a failed expectation here is a failed test, with its reason (clippy.toml
// allows expect in tests, but this crate is a library the tests link).
#![allow(clippy::expect_used)]

mod database;
pub mod gateway;
pub mod nginx;
pub mod ports;
mod redis;

pub use database::{admin_options, fresh_database};
pub use redis::PrivateRedis;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// The password of the admin every test app starts with.
pub const ADMIN_PASSWORD: &str = "admin-password-123";

/// A running service on its own fresh database.
pub struct TestApp {
    /// e.g. `http://127.0.0.1:41234`
    pub address: String,
    pub client: reqwest::Client,
    pub db: storage::Db,
    /// A token of the admin `admin` (password [`ADMIN_PASSWORD`]).
    pub admin_token: String,
    pub admin_id: Uuid,
    pub database_name: String,
    /// The app's cache (for its counters).
    pub cache: cache::Cache,
}

/// The service's default settings with rate limits no test reaches: tests send hundreds of
/// requests a second from one address and one user. Tests of the limits set their own.
pub fn settings() -> api::Settings {
    api::Settings {
        tuning: api::Tuning {
            rate_limit: cache::Rate::new(1_000_000, 1_000_000),
            login_rate_limit: cache::Rate::new(1_000_000, 1_000_000),
            ..api::Tuning::default()
        },
        ..api::Settings::default()
    }
}

/// A request to `{address}/api/v1{path}` with `token` as bearer, if any: the service's own
/// address, or a gateway's.
pub(crate) fn api_request(
    client: &reqwest::Client,
    address: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> RequestBuilder {
    let builder = client.request(method, format!("{address}/api/v1{path}"));
    match token {
        Some(token) => builder.bearer_auth(token),
        None => builder,
    }
}

impl TestApp {
    /// Starts the service on a fresh database, with an admin logged in.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(settings()).await
    }

    pub async fn spawn_with(settings: api::Settings) -> TestApp {
        Self::spawn_custom(settings, None).await
    }

    /// Starts the service with `settings`, caching in the Redis at `redis_url` (default: the
    /// shared test Redis, under a key prefix of the app's own).
    pub async fn spawn_custom(settings: api::Settings, redis_url: Option<String>) -> TestApp {
        let database_name = fresh_database().await.expect("fresh test database");
        let db = storage::Db::connect(&storage::DbConfig {
            min_connections: 0,
            max_connections: 10,
            // The machines are shared and noisy: a first connection to a fresh database has
            // taken over the service's 5 s there (tests of timeouts set their own).
            acquire_timeout: Duration::from_secs(15),
            ..storage::DbConfig::new(admin_options().database(&database_name))
        });
        let redis_url = redis_url.unwrap_or_else(|| {
            std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL (run scripts/test)")
        });
        Self::spawn_on(settings, db, database_name, redis_url).await
    }

    /// Starts the service on `db` (migrated; `database_name` names it and the cache prefix),
    /// caching in the Redis at `redis_url`: for tests on other servers (the HA cluster).
    pub async fn spawn_on(
        settings: api::Settings,
        db: storage::Db,
        database_name: String,
        redis_url: String,
    ) -> TestApp {
        let cache_config = cache::CacheConfig::new(redis_url);
        Self::spawn_on_cache(settings, db, database_name, cache_config).await
    }

    /// As [`TestApp::spawn_on`] with the cache's settings given (a Redis behind Sentinels);
    /// the key prefix is set to the app's own.
    pub async fn spawn_on_cache(
        settings: api::Settings,
        db: storage::Db,
        database_name: String,
        mut cache_config: cache::CacheConfig,
    ) -> TestApp {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info,sqlx=warn")
                .try_init();
        }
        db.ensure_order_partitions(3)
            .await
            .expect("order partitions");
        // One Redis serves every test: each app gets its own key prefix.
        cache_config.prefix = format!("{database_name}:");
        let app = ims::app::App::on(db.clone(), cache_config, settings).expect("redis url");
        let cache = app.state().cache.clone();
        // Database and Redis figures for /metrics, refreshed often so a test sees them soon.
        app.spawn_metrics(Duration::from_millis(500));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let address = format!("http://{}", listener.local_addr().expect("local addr"));
        let service = app.service();
        tokio::spawn(async move { axum::serve(listener, service).await });

        let hash = domain::user::Password::parse(ADMIN_PASSWORD)
            .expect("valid")
            .hash();
        let admin = storage::users::upsert_admin(
            db.primary(),
            &domain::user::Email::parse("admin@example.com").expect("valid"),
            &domain::user::Username::parse("admin").expect("valid"),
            &hash,
        )
        .await
        .expect("admin user");
        let mut app = TestApp {
            address,
            client: reqwest::Client::new(),
            db,
            admin_token: String::new(),
            admin_id: admin.id.uuid(),
            database_name,
            cache,
        };
        app.admin_token = app.login("admin", ADMIN_PASSWORD).await;
        app
    }

    /// A request to `/api/v1{path}` with `token` as bearer, if any.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        api_request(&self.client, &self.address, method, path, token)
    }

    /// The text of `/metrics`; panics when the service does not answer.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// The value of a series in `/metrics`, named with its labels (e.g.
    /// `ims_redis_master_switches_total{client="cache"}`); 0 when it is absent.
    pub async fn metric(&self, series: &str) -> f64 {
        sample(&self.metrics_text().await, series).unwrap_or(0.0)
    }

    /// Sends a request as the admin and returns status and JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(&self.admin_token.clone(), method, path, body)
            .await
    }

    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path, Some(token));
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// Logs in and returns the token; panics unless the login succeeds.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let (status, body) = send(
            self.request(Method::POST, "/auth/login", None)
                .json(&json!({ "login": login, "password": password })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "login of {login} failed: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// Creates a store and returns its id.
    pub async fn create_store(&self, code: &str) -> Uuid {
        let (status, body) = self
            .call(Method::POST, "/stores", Some(json!({
                "code": code, "name": format!("Store {code}"), "city": "Pune", "phone": "+912000000000"
            })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        id_of(&body)
    }

    /// Creates a user with `roles` in `stores` and returns (id, token).
    pub async fn create_user(
        &self,
        username: &str,
        roles: &[&str],
        stores: &[Uuid],
    ) -> (Uuid, String) {
        let password = format!("{username}-password");
        let (status, body) = self
            .call(
                Method::POST,
                "/users",
                Some(json!({
                    "email": format!("{username}@example.com"), "username": username,
                    "password": password, "roles": roles, "storeIds": stores,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (id_of(&body), self.login(username, &password).await)
    }

    /// Creates a category and returns its id.
    pub async fn create_category(&self, name: &str) -> Uuid {
        let (status, body) = self
            .call(Method::POST, "/categories", Some(json!({ "name": name })))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        id_of(&body)
    }

    /// Creates a product and returns its JSON.
    pub async fn create_product(&self, sku: &str, name: &str, category: Uuid, price: i64) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/products",
                Some(json!({
                    "sku": sku, "name": name, "description": format!("{name} for testing"),
                    "categoryId": category, "brand": "Acme", "price": price,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

/// Sends a request and returns its status and JSON body (`Null` for an empty body).
pub async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let bytes = response.bytes().await.expect("body read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, body)
}

/// The value of `series` (its name with its labels, as rendered) in a `/metrics` text; `None`
/// when it is absent.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

pub fn id_of(body: &Value) -> Uuid {
    body["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("body has an id")
}

/// Asserts a problem+json answer with `status`; returns the body for further checks.
pub fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "unexpected status; body: {body}");
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(expected.as_u16())),
        "problem body: {body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "problem needs a detail: {body}"
    );
}
