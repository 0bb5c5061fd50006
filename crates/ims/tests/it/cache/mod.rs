//! The Redis cache-aside layer, seen from outside: a write is visible on the very next read
//! (`X-Cache: miss`, then `hit`), authentication reads sessions and profiles through the cache
//! yet a logout, suspension or password change stops a token at once, concurrent misses load
//! once, Redis down, frozen or full never fails a request, and keys and TTLs are the ones
//! documented (README, "The cache").

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::ops::*;
use crate::support::redis::test_redis;
use cache::CacheType;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, PrivateRedis, TestApp};
use tokio::task::JoinSet;
use uuid::Uuid;

mod auth;
mod fresh;
mod keys;
mod redis_faults;
mod scope;
mod stampede;

/// One answer: its status, its `X-Cache` header (if any) and its JSON body.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    cache: Option<String>,
    body: Value,
}

/// A cloneable caller with a token, for requests from spawned tasks.
#[derive(Clone)]
struct Caller {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Caller {
    fn new(app: &TestApp, token: &str) -> Self {
        Self {
            client: app.client.clone(),
            base: format!("{}/api/v1", app.address),
            token: token.to_owned(),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, headers, body) = send_full(request).await;
        let cache = headers
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Answer {
            status,
            cache,
            body,
        }
    }
}

async fn get(app: &TestApp, token: &str, path: &str) -> Answer {
    Caller::new(app, token).send(Method::GET, path, None).await
}

/// A GET that must answer 200 and say how the cache served it; returns (X-Cache, body).
pub(crate) async fn read(app: &TestApp, token: &str, path: &str) -> (String, Value) {
    let answer = get(app, token, path).await;
    assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.body);
    let outcome = answer.cache.unwrap_or_else(|| {
        panic!(
            "GET {path} answered without an X-Cache header, so it is not read through the \
             cache: {}",
            answer.body
        )
    });
    assert!(
        ["hit", "miss", "bypass"].contains(&outcome.as_str()),
        "GET {path}: X-Cache must be hit, miss or bypass, got {outcome:?}"
    );
    (outcome, answer.body)
}

/// Reads `path` until it is cached: a second read in a row must be a hit with the same body.
async fn cache_it(app: &TestApp, token: &str, path: &str) -> Value {
    let (_, first) = read(app, token, path).await;
    let (outcome, second) = read(app, token, path).await;
    assert_eq!(
        outcome, "hit",
        "a second GET {path} in a row must be served from the cache"
    );
    assert_eq!(first, second, "GET {path}: the cached answer differs");
    second
}

/// The first read of `path` after a write: loaded afresh (`miss`, the write forgot the key),
/// then served from the cache (`hit`) with the same body. Returns the body.
async fn miss_then_hit(app: &TestApp, token: &str, path: &str) -> Value {
    let (outcome, fresh) = read(app, token, path).await;
    assert_eq!(
        outcome, "miss",
        "the first GET {path} after a write must be loaded afresh (the write must forget the \
         cached value); body: {fresh}"
    );
    let (outcome, again) = read(app, token, path).await;
    assert_eq!(
        outcome, "hit",
        "the second GET {path} after a write must be served from the cache"
    );
    assert_eq!(fresh, again, "GET {path}: the cached answer differs");
    fresh
}

/// The first reads of a customer's orders after a write that forgot them. The write also
/// loads them back into the cache in the background (warming), so the first read is a miss
/// or, once the warming landed, a hit; either way it shows the write, and the second read
/// is a hit with the same answer. Returns the body.
async fn warmed_afresh(app: &TestApp, token: &str, path: &str) -> Value {
    let (outcome, fresh) = read(app, token, path).await;
    assert!(
        outcome == "miss" || outcome == "hit",
        "GET {path} after a write: {outcome}"
    );
    let (outcome, again) = read(app, token, path).await;
    assert_eq!(outcome, "hit", "the second GET {path} after a write");
    assert_eq!(fresh, again, "GET {path}: the cached answer differs");
    fresh
}

/// The first read of `path` after a stock change, whose figures the write moved forward in
/// the cache instead of forgetting the body: a hit, with the new figures. Returns the body.
async fn hit_afresh(app: &TestApp, token: &str, path: &str) -> Value {
    let (outcome, fresh) = read(app, token, path).await;
    assert_eq!(
        outcome, "hit",
        "the first GET {path} after a write must still be served from the cache, with the \
         new figures; body: {fresh}"
    );
    fresh
}

/// The item of a list answer whose `field` is `id`.
fn item_with<'a>(list: &'a Value, field: &str, id: Uuid) -> Option<&'a Value> {
    items(list)
        .iter()
        .find(|item| item[field].as_str() == Some(id.to_string().as_str()))
}

/// Reads `path` until an answer is no longer a bypass (Redis is used again), for at most 20 s.
async fn first_cached_read(app: &TestApp, token: &str, path: &str) -> (String, Value) {
    for _ in 0..200 {
        let (outcome, body) = read(app, token, path).await;
        if outcome != "bypass" {
            return (outcome, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("GET {path} still bypasses the cache 20 s after Redis came back");
}

/// A store with one stocked product, its category and a customer.
struct Shop {
    app: TestApp,
    store: Uuid,
    category: Uuid,
    customer: Uuid,
    product: Uuid,
    sku: String,
}

const PRICE: i64 = 10_000;
const STOCK: i64 = 10;

async fn shop_on(app: TestApp) -> Shop {
    let store = app.create_store("PUN01").await;
    let category = app.create_category("Frames").await;
    let sku = "CACHE-01".to_owned();
    let product = product(&app, category, &sku, PRICE).await;
    stock_in(&app, store, product, STOCK).await;
    let customer = id_of(&customer(&app, "Asha Rao", "+919876543210").await);
    Shop {
        app,
        store,
        category,
        customer,
        product,
        sku,
    }
}

async fn shop() -> Shop {
    shop_on(TestApp::spawn().await).await
}

impl Shop {
    fn token(&self) -> &str {
        &self.app.admin_token
    }

    /// Places an order of `quantity` units of the product as the admin; returns its id.
    async fn order(&self, quantity: i64) -> Uuid {
        id_of(
            &place_ok(
                &self.app,
                self.token(),
                self.store,
                self.customer,
                &[(self.product, quantity)],
            )
            .await,
        )
    }

    async fn patch_product(&self, body: Value) -> Value {
        let (status, updated) = self
            .app
            .call(
                Method::PATCH,
                &format!("/products/{}", self.product),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "PATCH product: {updated}");
        updated
    }
}

/// Turns on statement statistics in the test's database (the server preloads the library).
async fn enable_statement_stats(app: &TestApp) {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(app.db.primary())
        .await
        .expect("pg_stat_statements can be created in the test database");
}

/// How often statements whose text matches `pattern` ran in this test's database, and how
/// often pg_stat_statements has had to forget entries so far.
async fn statement_calls(app: &TestApp, pattern: &str) -> (i64, i64) {
    let calls: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements s
           JOIN pg_database d ON d.oid = s.dbid
          WHERE d.datname = current_database() AND s.query ILIKE $1
            AND s.query NOT ILIKE '%FOR UPDATE%'",
    )
    .bind(pattern)
    .fetch_one(app.db.primary())
    .await
    .expect("pg_stat_statements");
    let deallocations: i64 = sqlx::query_scalar("SELECT dealloc FROM pg_stat_statements_info")
        .fetch_one(app.db.primary())
        .await
        .expect("pg_stat_statements_info");
    (calls, deallocations)
}

/// Runs `work(attempt)` and returns how many more times statements matching each of
/// `patterns` ran in this database meanwhile, with the work's result. When full,
/// pg_stat_statements forgets its least used entries (the whole suite's databases fill it):
/// a measurement during which it did so is repeated, a few times at most.
async fn calls_during<T, F, Fut>(app: &TestApp, patterns: &[&str], mut work: F) -> (Vec<i64>, T)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = T>,
{
    for attempt in 0..5 {
        let mut before = Vec::new();
        for pattern in patterns {
            before.push(statement_calls(app, pattern).await);
        }
        let result = work(attempt).await;
        let mut deltas = Vec::new();
        let mut clean = true;
        for (pattern, (calls_before, dealloc_before)) in patterns.iter().zip(&before) {
            let (calls_after, dealloc_after) = statement_calls(app, pattern).await;
            clean &= dealloc_after == *dealloc_before;
            deltas.push(calls_after - calls_before);
        }
        if clean {
            return (deltas, result);
        }
    }
    panic!("pg_stat_statements kept forgetting entries during every measurement");
}

const SESSION_LOOKUP: &str = "%FROM sessions%";
const PROFILE_LOOKUP: &str = "%FROM users WHERE id = $1%";
const PRODUCT_BY_ID: &str = "%FROM products WHERE id = $1%";
const PRODUCT_BY_SKU: &str = "%FROM products WHERE sku = $1%";

fn counters(app: &TestApp, kind: CacheType) -> (u64, u64, u64) {
    let stats = app
        .cache
        .stats()
        .snapshot()
        .into_iter()
        .find(|t| t.kind == kind)
        .unwrap_or_else(|| panic!("counters for {kind:?}"));
    (stats.hits, stats.misses, stats.bypasses)
}

/// The variants (hash fields) cached under the key `key` of this app, sorted: what a
/// write left in Redis, seen directly (a read would put back what it forgot).
async fn cached_variants(app: &TestApp, key: &str) -> Vec<String> {
    let mut conn = test_redis().await;
    let mut fields: Vec<String> = redis::cmd("HKEYS")
        .arg(cache::keys::redis_name(
            &format!("{}:", app.database_name),
            key,
        ))
        .query_async(&mut conn)
        .await
        .expect("HKEYS");
    fields.sort();
    fields
}

/// Waits until `key` holds `n` cached pages (the warming runs after the write's answer).
pub(crate) async fn wait_for_pages(app: &TestApp, key: &str, n: usize) -> Vec<String> {
    let mut cached = Vec::new();
    for _ in 0..100 {
        cached = cached_variants(app, key).await;
        if cached.len() == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cached
}
