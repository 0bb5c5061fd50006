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
use cache::CacheType;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, PrivateRedis, TestApp};
use tokio::task::JoinSet;
use uuid::Uuid;

// ------------------------------------------------------------------------------- helpers

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
async fn read(app: &TestApp, token: &str, path: &str) -> (String, Value) {
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

// ------------------------------------------------------------------- writes, then reads

#[tokio::test]
async fn a_product_update_is_read_afresh_by_sku() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let old_path = format!("/products/sku/{}", s.sku);
    let cached = cache_it(app, token, &old_path).await;
    assert_eq!(cached["name"], "Product CACHE-01", "{cached}");

    s.patch_product(json!({ "sku": "CACHE-01B", "name": "Aviator Gold", "price": 12_500 }))
        .await;

    let (status, body) = app.call(Method::GET, &old_path, None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
    let fresh = miss_then_hit(app, token, "/products/sku/CACHE-01B").await;
    assert_eq!(fresh["id"], s.product.to_string(), "{fresh}");
    assert_eq!(fresh["sku"], "CACHE-01B", "{fresh}");
    assert_eq!(fresh["name"], "Aviator Gold", "{fresh}");
    assert_eq!(fresh["price"], 12_500, "{fresh}");
    // The old sku stays gone (a 404 is not cached as anything else).
    let (status, body) = app.call(Method::GET, &old_path, None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_product_update_is_read_afresh_by_id() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let path = format!("/products/{}", s.product);
    let cached = cache_it(app, token, &path).await;
    assert_eq!(cached["price"], PRICE, "{cached}");

    s.patch_product(json!({ "name": "Aviator Gold", "price": 12_500 }))
        .await;

    let fresh = miss_then_hit(app, token, &path).await;
    assert_eq!(fresh["name"], "Aviator Gold", "{fresh}");
    assert_eq!(fresh["price"], 12_500, "{fresh}");
}

#[tokio::test]
async fn a_new_product_shows_in_its_cached_category_list() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let path = format!("/categories/{}/products", s.category);
    let before = cache_it(app, token, &path).await;
    assert_eq!(ids(items(&before)), vec![s.product], "{before}");

    let added = product(app, s.category, "CACHE-02", 5_000).await;

    let after = miss_then_hit(app, token, &path).await;
    let listed = ids(items(&after));
    assert!(
        listed.contains(&added) && listed.contains(&s.product),
        "the new product must be listed: {after}"
    );
}

#[tokio::test]
async fn a_category_update_is_read_afresh() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let path = format!("/categories/{}/products", s.category);
    cache_it(app, token, &path).await;

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/categories/{}", s.category),
            Some(json!({ "name": "Designer frames", "description": "Frames by designers" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Designer frames", "{body}");

    let after = miss_then_hit(app, token, &path).await;
    assert_eq!(ids(items(&after)), vec![s.product], "{after}");
}

#[tokio::test]
async fn a_stock_adjustment_is_read_afresh() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let list = format!("/stores/{}/inventory", s.store);
    let row = format!("/stores/{}/inventory/{}", s.store, s.product);
    let product = format!("/products/{}", s.product);
    let cached = cache_it(app, token, &list).await;
    assert_eq!(
        item_with(&cached, "productId", s.product).map(|r| r["quantity"].clone()),
        Some(json!(STOCK)),
        "{cached}"
    );
    let before = cache_it(app, token, &row).await;
    assert_eq!(before["quantity"], STOCK);

    let adjusted = stock_in(app, s.store, s.product, 5).await;

    let fresh = miss_then_hit(app, token, &list).await;
    assert_eq!(
        item_with(&fresh, "productId", s.product).map(|r| r["quantity"].clone()),
        Some(json!(STOCK + 5)),
        "{fresh}"
    );
    // The row stays cached with its figures moved forward: the same answer as the
    // adjustment's own, its time of change included.
    let row_now = hit_afresh(app, token, &row).await;
    assert_eq!(row_now["quantity"], STOCK + 5, "{row_now}");
    assert_eq!(row_now, adjusted, "the row as read is the row as adjusted");
    assert_ne!(row_now["updatedAt"], before["updatedAt"], "{row_now}");
    // Down to its reorder level and to nothing: the status follows the figures.
    stock_in(app, s.store, s.product, -(STOCK + 5) + 1).await;
    assert_eq!(hit_afresh(app, token, &row).await["status"], "low_stock");
    stock_in(app, s.store, s.product, -1).await;
    let empty = hit_afresh(app, token, &row).await;
    assert_eq!(
        (empty["quantity"].clone(), empty["status"].clone()),
        (json!(0), json!("out_of_stock"))
    );
    stock_in(app, s.store, s.product, STOCK + 5).await;
    assert_eq!(hit_afresh(app, token, &row).await["status"], "in_stock");

    // The product's total over all stores (checked last: GET /products/{id} is read through
    // the cache too).
    cache_it(app, token, &product).await;
    stock_in(app, s.store, s.product, 1).await;
    assert_eq!(
        hit_afresh(app, token, &product).await["quantity"],
        STOCK + 6
    );
}

#[tokio::test]
async fn a_transfer_is_read_afresh_in_both_stores() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let other = app.create_store("MUM01").await;
    stock_in(app, other, s.product, 2).await;
    let paths = |store: Uuid| {
        (
            format!("/stores/{store}/inventory"),
            format!("/stores/{store}/inventory/{}", s.product),
        )
    };
    let (from_list, from_row) = paths(s.store);
    let (to_list, to_row) = paths(other);
    for path in [&from_list, &from_row, &to_list, &to_row] {
        cache_it(app, token, path).await;
    }

    let (status, body) = app
        .call(
            Method::POST,
            "/inventory/transfers",
            Some(json!({
                "productId": s.product, "fromStoreId": s.store, "toStoreId": other, "quantity": 4
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    for (list, row, quantity) in [(&from_list, &from_row, 6), (&to_list, &to_row, 6)] {
        let fresh = miss_then_hit(app, token, list).await;
        assert_eq!(
            item_with(&fresh, "productId", s.product).map(|r| r["quantity"].clone()),
            Some(json!(quantity)),
            "{list}: {fresh}"
        );
        assert_eq!(
            hit_afresh(app, token, row).await["quantity"],
            quantity,
            "{row}"
        );
    }
}

#[tokio::test]
async fn a_placed_order_is_read_afresh_everywhere() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let bestsellers = "/products/bestsellers";
    let customer_orders = format!("/customers/{}/orders", s.customer);
    let chain = "/dashboard/stats";
    let store_stats = format!("/dashboard/stats?storeId={}", s.store);
    let row = format!("/stores/{}/inventory/{}", s.store, s.product);
    let before = cache_it(app, token, bestsellers).await;
    assert_eq!(
        item_with(&before, "id", s.product).map(|p| p["salesCount"].clone()),
        Some(json!(0)),
        "{before}"
    );
    assert!(items(&cache_it(app, token, &customer_orders).await).is_empty());
    assert_eq!(cache_it(app, token, chain).await["ordersToday"], 0);
    assert_eq!(cache_it(app, token, &store_stats).await["ordersToday"], 0);
    assert_eq!(cache_it(app, token, &row).await["quantity"], STOCK);

    let order = s.order(2).await;

    let fresh = miss_then_hit(app, token, bestsellers).await;
    assert_eq!(
        item_with(&fresh, "id", s.product).map(|p| p["salesCount"].clone()),
        Some(json!(2)),
        "{fresh}"
    );
    let orders = warmed_afresh(app, token, &customer_orders).await;
    assert_eq!(ids(items(&orders)), vec![order], "{orders}");
    // The chain's figures are forgotten; the store's are moved forward in the cache.
    let stats = miss_then_hit(app, token, chain).await;
    let store = hit_afresh(app, token, &store_stats).await;
    for (path, stats) in [(chain, stats), (store_stats.as_str(), store)] {
        assert_eq!(stats["ordersToday"], 1, "{path}: {stats}");
        assert_eq!(stats["revenueToday"], 2 * PRICE, "{path}: {stats}");
        assert_eq!(stats["openOrdersByStatus"]["pending"], 1, "{path}: {stats}");
        assert_eq!(
            stats["topProducts30Days"][0]["unitsSold"], 2,
            "{path}: {stats}"
        );
    }
    assert_eq!(hit_afresh(app, token, &row).await["quantity"], STOCK - 2);

    // The product's quantity and sales (GET /products/{id} is read through the cache too).
    let product = format!("/products/{}", s.product);
    cache_it(app, token, &product).await;
    s.order(1).await;
    let fresh = hit_afresh(app, token, &product).await;
    assert_eq!(fresh["quantity"], STOCK - 3, "{fresh}");
    assert_eq!(fresh["salesCount"], 3, "{fresh}");
}

/// An order forgets its customer's history and loads it back into the cache by itself (the
/// till shows it next): the next read is a hit with the new order, and the warming counted
/// neither a hit nor a miss.
#[tokio::test]
async fn an_order_loads_its_customer_s_history_back_into_the_cache() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let path = format!("/customers/{}/orders", s.customer);
    let key = format!("customer:{}:orders:recent", s.customer);
    assert!(items(&cache_it(app, token, &path).await).is_empty());
    let (hits, misses, _) = counters(app, CacheType::Orders);

    let order = s.order(1).await;

    // The answer came after the key was forgotten, so whatever is cached now is the warming's
    // (watched in Redis: a read through the API would load it itself).
    let mut warmed = false;
    for _ in 0..100 {
        if !cached_variants(app, &key).await.is_empty() {
            warmed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        warmed,
        "the customer's orders were not cached again within 5 s"
    );
    let (outcome, listed) = read(app, token, &path).await;
    assert_eq!(outcome, "hit", "{listed}");
    assert_eq!(ids(items(&listed)), vec![order], "{listed}");
    assert_eq!(
        counters(app, CacheType::Orders),
        (hits + 1, misses, 0),
        "only the client's read is counted"
    );
}

#[tokio::test]
async fn order_status_changes_and_cancellation_are_read_afresh() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(3).await;
    let order_path = format!("/orders/{order}");
    let customer_orders = format!("/customers/{}/orders", s.customer);
    let row = format!("/stores/{}/inventory/{}", s.store, s.product);
    let list = format!("/stores/{}/inventory", s.store);
    assert_eq!(cache_it(app, token, &order_path).await["status"], "pending");
    cache_it(app, token, &customer_orders).await;
    assert_eq!(cache_it(app, token, &row).await["quantity"], STOCK - 3);
    cache_it(app, token, &list).await;

    set_order_status(app, order, "confirmed").await;
    assert_eq!(
        miss_then_hit(app, token, &order_path).await["status"],
        "confirmed"
    );
    let listed = warmed_afresh(app, token, &customer_orders).await;
    assert_eq!(
        item_with(&listed, "id", order).map(|o| o["status"].clone()),
        Some(json!("confirmed")),
        "{listed}"
    );

    set_order_status(app, order, "cancelled").await;
    assert_eq!(
        miss_then_hit(app, token, &order_path).await["status"],
        "cancelled"
    );
    let listed = warmed_afresh(app, token, &customer_orders).await;
    assert_eq!(
        item_with(&listed, "id", order).map(|o| o["status"].clone()),
        Some(json!("cancelled")),
        "{listed}"
    );
    // The stock came back.
    assert_eq!(hit_afresh(app, token, &row).await["quantity"], STOCK);
    let fresh = miss_then_hit(app, token, &list).await;
    assert_eq!(
        item_with(&fresh, "productId", s.product).map(|r| r["quantity"].clone()),
        Some(json!(STOCK)),
        "{fresh}"
    );

    // The product's total (GET /products/{id} is read through the cache too).
    let product = format!("/products/{}", s.product);
    let second = s.order(4).await;
    assert_eq!(cache_it(app, token, &product).await["quantity"], STOCK - 4);
    set_order_status(app, second, "cancelled").await;
    assert_eq!(hit_afresh(app, token, &product).await["quantity"], STOCK);
}

#[tokio::test]
async fn a_payment_is_read_afresh() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let order_path = format!("/orders/{order}");
    let customer_orders = format!("/customers/{}/orders", s.customer);
    let cached = cache_it(app, token, &order_path).await;
    assert_eq!(cached["paymentStatus"], "unpaid", "{cached}");
    cache_it(app, token, &customer_orders).await;

    let (status, body) = app
        .call(
            Method::POST,
            &format!("/orders/{order}/payments"),
            Some(json!({ "amount": 4_000, "method": "cash" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let fresh = miss_then_hit(app, token, &order_path).await;
    assert_eq!(fresh["amountPaid"], 4_000, "{fresh}");
    assert_eq!(fresh["amountDue"], PRICE - 4_000, "{fresh}");
    assert_eq!(fresh["paymentStatus"], "partially_paid", "{fresh}");
    assert_eq!(fresh["payments"].as_array().map(Vec::len), Some(1));
    let listed = warmed_afresh(app, token, &customer_orders).await;
    assert_eq!(
        item_with(&listed, "id", order).map(|o| o["amountPaid"].clone()),
        Some(json!(4_000)),
        "{listed}"
    );
}

#[tokio::test]
async fn a_role_change_applies_to_a_cached_token_at_once() {
    let s = shop().await;
    let app = &s.app;
    let (clerk_id, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let stats = format!("/dashboard/stats?storeId={}", s.store);
    let me = cache_it(app, &clerk, "/auth/me").await;
    assert_eq!(me["roles"], json!(["sales"]), "{me}");
    let refused = get(app, &clerk, &stats).await;
    assert_problem(refused.status, &refused.body, StatusCode::FORBIDDEN);

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk_id}"),
            Some(json!({ "roles": ["manager"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, me) = read(app, &clerk, "/auth/me").await;
    assert_eq!(me["roles"], json!(["manager"]), "{me}");
    let allowed = get(app, &clerk, &stats).await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk_id}"),
            Some(json!({ "roles": ["sales"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refused = get(app, &clerk, &stats).await;
    assert_problem(refused.status, &refused.body, StatusCode::FORBIDDEN);
    let (_, me) = read(app, &clerk, "/auth/me").await;
    assert_eq!(me["roles"], json!(["sales"]), "{me}");
}

#[tokio::test]
async fn auth_me_is_a_miss_after_the_profile_changed() {
    let s = shop().await;
    let app = &s.app;
    let (clerk_id, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    cache_it(app, &clerk, "/auth/me").await;

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk_id}"),
            Some(json!({ "roles": ["sales", "technician"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let me = miss_then_hit(app, &clerk, "/auth/me").await;
    assert_eq!(me["roles"], json!(["sales", "technician"]), "{me}");
}

#[tokio::test]
async fn a_new_login_shows_in_auth_me_at_once() {
    let s = shop().await;
    let app = &s.app;
    let (_, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let me = cache_it(app, &clerk, "/auth/me").await;
    let first_login = me["lastLoginAt"].clone();
    assert!(first_login.is_string(), "{me}");

    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = app.login("clerk_a", "clerk_a-password").await;

    for token in [&clerk, &second] {
        let (_, me) = read(app, token, "/auth/me").await;
        assert!(me["lastLoginAt"].is_string(), "{me}");
        assert_ne!(
            me["lastLoginAt"], first_login,
            "GET /auth/me must show the new login at once: {me}"
        );
    }
}

#[tokio::test]
async fn a_workshop_job_status_change_is_read_afresh_on_the_dashboard() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let (status, job) = app
        .call(
            Method::POST,
            "/workshop/jobs",
            Some(json!({ "orderId": order })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let job = id_of(&job);
    let chain = "/dashboard/stats";
    let store_stats = format!("/dashboard/stats?storeId={}", s.store);
    for path in [chain, store_stats.as_str()] {
        let stats = cache_it(app, token, path).await;
        assert_eq!(
            stats["workshopQueueByStatus"]["queued"], 1,
            "{path}: {stats}"
        );
    }

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/workshop/jobs/{job}/status"),
            Some(json!({ "status": "in_progress", "note": "fitting" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let stats = miss_then_hit(app, token, chain).await;
    let store = hit_afresh(app, token, &store_stats).await;
    for (path, stats) in [(chain, stats), (store_stats.as_str(), store)] {
        let queue = &stats["workshopQueueByStatus"];
        assert_eq!(queue["queued"], 0, "{path}: {stats}");
        assert_eq!(queue["in_progress"], 1, "{path}: {stats}");
    }
}

#[tokio::test]
async fn a_product_moved_to_another_category_leaves_the_old_cached_list() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let other_category = app.create_category("Sunglasses").await;
    let stays = product(app, other_category, "CACHE-SUN", 8_000).await;
    let from = format!("/categories/{}/products", s.category);
    let to = format!("/categories/{other_category}/products");
    assert_eq!(
        ids(items(&cache_it(app, token, &from).await)),
        vec![s.product]
    );
    assert_eq!(ids(items(&cache_it(app, token, &to).await)), vec![stays]);

    s.patch_product(json!({ "categoryId": other_category }))
        .await;

    let old_list = miss_then_hit(app, token, &from).await;
    assert!(
        items(&old_list).is_empty(),
        "the moved product must leave its old category's list: {old_list}"
    );
    let new_list = miss_then_hit(app, token, &to).await;
    let listed = ids(items(&new_list));
    assert!(
        listed.contains(&s.product) && listed.contains(&stays),
        "the moved product must join its new category's list: {new_list}"
    );
}

// ------------------------------------------------------------- authentication and cache

#[tokio::test]
async fn authenticated_requests_do_not_query_sessions_once_cached() {
    let s = shop().await;
    let app = &s.app;
    enable_statement_stats(app).await;
    let (_, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let paths = [
        "/auth/me".to_owned(),
        format!("/products/sku/{}", s.sku),
        format!("/categories/{}/products", s.category),
        "/products?limit=5".to_owned(),
        format!("/stores/{}/inventory", s.store),
    ];

    // A new token's first request looks its session up once.
    let (first, token) = calls_during(app, &[SESSION_LOOKUP], |_| async move {
        let token = app.login("clerk_a", "clerk_a-password").await;
        let (status, body) = app.call_as(&token, Method::GET, "/auth/me", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        token
    })
    .await;
    assert_eq!(
        first,
        vec![1],
        "the first request of a new token looks its session up in the database once"
    );

    // Then neither the session nor the profile comes from the database again.
    let (status, body) = app.call_as(&clerk, Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (paths, token, clerk) = (&paths, &token, &clerk);
    let (repeated, ()) = calls_during(app, &[SESSION_LOOKUP, PROFILE_LOOKUP], |_| async move {
        for round in 0..4 {
            for path in paths {
                for token in [token, clerk] {
                    let (status, body) = app.call_as(token, Method::GET, path, None).await;
                    assert_eq!(status, StatusCode::OK, "round {round}, GET {path}: {body}");
                }
            }
        }
    })
    .await;
    assert_eq!(
        repeated,
        vec![0, 0],
        "40 requests with cached tokens queried (sessions, users by id) this many times"
    );
}

#[tokio::test]
async fn logout_stops_a_cached_token_at_once() {
    let s = shop().await;
    let app = &s.app;
    let (_, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let sku_path = format!("/products/sku/{}", s.sku);
    for path in ["/auth/me", sku_path.as_str(), "/auth/me"] {
        let answer = get(app, &clerk, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }

    let (status, body) = app
        .call_as(&clerk, Method::POST, "/auth/logout", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    for path in ["/auth/me", sku_path.as_str(), "/products"] {
        let answer = get(app, &clerk, path).await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED);
    }
    // The admin's own token is unaffected.
    let (status, _) = app.call(Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn suspending_a_user_stops_their_cached_token_at_once() {
    let s = shop().await;
    let app = &s.app;
    let (clerk_id, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let order_path = format!("/orders/{}", s.order(1).await);
    for path in ["/auth/me", order_path.as_str(), "/auth/me"] {
        let answer = get(app, &clerk, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk_id}"),
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for path in ["/auth/me", order_path.as_str(), "/products"] {
        let answer = get(app, &clerk, path).await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED);
    }

    // Reactivated, the old token stays void; a new login works.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk_id}"),
            Some(json!({ "status": "active" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = get(app, &clerk, "/auth/me").await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED);
    let fresh = app.login("clerk_a", "clerk_a-password").await;
    let answer = get(app, &fresh, "/auth/me").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn a_password_change_stops_old_cached_tokens() {
    let s = shop().await;
    let app = &s.app;
    let (clerk_id, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let second = app.login("clerk_a", "clerk_a-password").await;
    for token in [&clerk, &second, &clerk] {
        let answer = get(app, token, "/auth/me").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk_id}"),
            Some(json!({ "password": "a-brand-new-password" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for token in [&clerk, &second] {
        let answer = get(app, token, "/auth/me").await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED);
    }
    let fresh = app.login("clerk_a", "a-brand-new-password").await;
    let answer = get(app, &fresh, "/auth/me").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

// ------------------------------------------------------------------------------ stampede

/// Invalidates the product with a price change, then sends 50 concurrent GETs of `path`;
/// returns the calls of `pattern` meanwhile, after checking every answer has the new price.
async fn stampede(s: &Shop, path: &str, pattern: &str) -> i64 {
    let app = &s.app;
    enable_statement_stats(app).await;
    // Sessions and profiles cached first: only the product is missing.
    cache_it(app, s.token(), "/auth/me").await;
    let (deltas, ()) = calls_during(app, &[pattern], |attempt| async move {
        let price = 20_000 + i64::try_from(attempt).unwrap_or(0);
        s.patch_product(json!({ "price": price })).await;
        let caller = Caller::new(app, s.token());
        let mut requests = JoinSet::new();
        for _ in 0..50 {
            let caller = caller.clone();
            let path = path.to_owned();
            requests.spawn(async move { caller.send(Method::GET, &path, None).await });
        }
        while let Some(answer) = requests.join_next().await {
            let answer = answer.expect("request task");
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            assert_eq!(answer.body["price"], price, "{}", answer.body);
        }
    })
    .await;
    deltas[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_a_product_by_id_load_it_once() {
    let s = shop().await;
    let path = format!("/products/{}", s.product);
    let loads = stampede(&s, &path, PRODUCT_BY_ID).await;
    assert_eq!(
        loads, 1,
        "50 concurrent GET {path} after an update must read the product from the database once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_a_product_by_sku_load_it_once() {
    let s = shop().await;
    let path = format!("/products/sku/{}", s.sku);
    let loads = stampede(&s, &path, PRODUCT_BY_SKU).await;
    assert_eq!(
        loads, 1,
        "50 concurrent GET {path} after an update must read the product from the database once"
    );
}

// --------------------------------------------------------------------- Redis failures

/// A shop whose service caches in a Redis of the test's own.
async fn shop_with(redis: &PrivateRedis) -> Shop {
    shop_on(TestApp::spawn_custom(testkit::settings(), Some(redis.url())).await).await
}

/// What a request of the stream saw.
struct Seen {
    label: String,
    status: StatusCode,
    cache: Option<String>,
    read: bool,
    after_stop: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_redis_is_down_and_caching_resumes_after_a_restart() {
    let mut redis = PrivateRedis::start(&[]).await;
    let s = shop_with(&redis).await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let sku_path = format!("/products/sku/{}", s.sku);
    let order_path = format!("/orders/{order}");
    let row_path = format!("/stores/{}/inventory/{}", s.store, s.product);
    cache_it(app, token, &sku_path).await;
    cache_it(app, token, &order_path).await;

    let reads = vec![
        sku_path.clone(),
        order_path.clone(),
        "/dashboard/stats".to_owned(),
        "/products/bestsellers".to_owned(),
        format!("/categories/{}/products", s.category),
        row_path.clone(),
        format!("/customers/{}/orders", s.customer),
    ];
    let adjustment = format!("/stores/{}/inventory/{}/adjustments", s.store, s.product);
    let done = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let mut streams = JoinSet::new();
    for stream in 0..2usize {
        let caller = Caller::new(app, token);
        let (reads, adjustment) = (reads.clone(), adjustment.clone());
        let (done, stopped) = (done.clone(), stopped.clone());
        streams.spawn(async move {
            let mut seen = Vec::new();
            for n in 0..100usize {
                let after_stop = stopped.load(Ordering::SeqCst);
                let step = (n + stream * 3) % 10;
                let (label, answer, read) = if step == 9 {
                    let body = json!({ "delta": 1, "reason": "count" });
                    let answer = caller.send(Method::POST, &adjustment, Some(body)).await;
                    (format!("POST {adjustment}"), answer, false)
                } else {
                    let path = &reads[step % reads.len()];
                    let answer = caller.send(Method::GET, path, None).await;
                    (format!("GET {path}"), answer, true)
                };
                seen.push(Seen {
                    label,
                    status: answer.status,
                    cache: answer.cache,
                    read,
                    after_stop,
                });
                done.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        });
    }
    for _ in 0..3000 {
        if done.load(Ordering::SeqCst) >= 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    redis.stop();
    stopped.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    while let Some(stream) = streams.join_next().await {
        seen.extend(stream.expect("stream task"));
    }

    assert_eq!(seen.len(), 200);
    let failed: Vec<String> = seen
        .iter()
        .filter(|r| !r.status.is_success())
        .map(|r| format!("{} -> {}", r.label, r.status))
        .collect();
    assert!(
        failed.is_empty(),
        "every request must succeed with Redis down: {failed:?}"
    );
    let reads_after_stop: Vec<&Seen> = seen.iter().filter(|r| r.read && r.after_stop).collect();
    assert!(
        reads_after_stop.len() >= 40,
        "the stream went on after the stop ({} reads)",
        reads_after_stop.len()
    );
    let not_bypassed: Vec<String> = reads_after_stop
        .iter()
        .filter(|r| r.cache.as_deref() != Some("bypass"))
        .map(|r| format!("{} -> {:?}", r.label, r.cache))
        .collect();
    assert!(
        not_bypassed.is_empty(),
        "reads after Redis stopped must say X-Cache: bypass: {not_bypassed:?}"
    );
    let adjustments = i64::try_from(seen.iter().filter(|r| !r.read).count()).expect("count");

    // A write while Redis is down is seen at once, and still after Redis comes back.
    s.patch_product(json!({ "name": "Renamed while Redis was down" }))
        .await;
    let (outcome, body) = read(app, token, &sku_path).await;
    assert_eq!(outcome, "bypass");
    assert_eq!(body["name"], "Renamed while Redis was down", "{body}");

    redis.restart().await;
    let (outcome, body) = first_cached_read(app, token, &sku_path).await;
    assert_eq!(
        outcome, "miss",
        "the first cached read after Redis came back loads afresh"
    );
    assert_eq!(body["name"], "Renamed while Redis was down", "{body}");
    let (outcome, again) = read(app, token, &sku_path).await;
    assert_eq!(outcome, "hit", "caching resumed by itself");
    assert_eq!(again, body);

    let row = miss_then_hit(app, token, &row_path).await;
    assert_eq!(row["quantity"], STOCK - 1 + adjustments, "{row}");
    let fresh_order = miss_then_hit(app, token, &order_path).await;
    assert_eq!(fresh_order["id"], order.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_redis_is_frozen_and_nothing_stale_is_served_after() {
    let redis = PrivateRedis::start(&[]).await;
    let s = shop_with(&redis).await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let sku_path = format!("/products/sku/{}", s.sku);
    let order_path = format!("/orders/{order}");
    let row_path = format!("/stores/{}/inventory/{}", s.store, s.product);
    for path in [&sku_path, &order_path, &row_path] {
        cache_it(app, token, path).await;
    }

    redis.signal("STOP");
    for path in [&sku_path, &order_path, &row_path, &sku_path] {
        let (outcome, _) = read(app, token, path).await;
        assert_eq!(outcome, "bypass", "GET {path} with Redis frozen");
    }
    // Writes while Redis cannot be told to forget the old values.
    s.patch_product(json!({ "name": "Renamed while Redis was frozen" }))
        .await;
    stock_in(app, s.store, s.product, 5).await;
    let (outcome, body) = read(app, token, &sku_path).await;
    assert_eq!(outcome, "bypass");
    assert_eq!(body["name"], "Renamed while Redis was frozen", "{body}");
    let answer = get(app, token, "/dashboard/stats").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.cache.as_deref(), Some("bypass"));
    redis.signal("CONT");

    // Once Redis answers again, the values cached before the writes are not served.
    let (outcome, body) = first_cached_read(app, token, &sku_path).await;
    assert_eq!(
        body["name"], "Renamed while Redis was frozen",
        "a value cached before the write must not come back ({outcome}): {body}"
    );
    let (outcome, row) = first_cached_read(app, token, &row_path).await;
    assert_eq!(
        row["quantity"],
        STOCK - 1 + 5,
        "a stock row cached before the adjustment must not come back ({outcome}): {row}"
    );
    let (_, again) = read(app, token, &sku_path).await;
    assert_eq!(again, body);
    let (outcome, _) = read(app, token, &sku_path).await;
    assert_eq!(outcome, "hit", "caching resumed by itself");
}

#[tokio::test]
async fn a_full_redis_evicts_and_never_fails_a_request() {
    let redis =
        PrivateRedis::start(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]).await;
    let s = shop_with(&redis).await;
    let (app, token) = (&s.app, s.token());
    let notes = "n".repeat(1_500);
    let mut skus = vec![s.sku.clone()];
    for i in 0..120 {
        let sku = format!("FULL-{i:03}");
        let (status, body) = app
            .call(
                Method::POST,
                "/products",
                Some(json!({
                    "sku": sku, "name": format!("Frame {i}"), "categoryId": s.category,
                    "brand": "Acme", "price": 1_000 + i, "attributes": { "notes": notes },
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        skus.push(sku);
    }

    let mut paths: Vec<String> = skus
        .iter()
        .map(|sku| format!("/products/sku/{sku}"))
        .collect();
    for limit in 1..=100 {
        paths.push(format!("/categories/{}/products?limit={limit}", s.category));
        paths.push(format!("/products/bestsellers?limit={limit}"));
    }
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..2 {
        for path in &paths {
            let answer = get(app, token, path).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "round {round}, GET {path}: {}",
                answer.body
            );
            let outcome = answer.cache.unwrap_or_default();
            assert!(
                outcome == "hit" || outcome == "miss",
                "round {round}, GET {path}: a full cache evicts, it does not fail (X-Cache: \
                 {outcome:?})"
            );
            *outcomes.entry(outcome).or_default() += 1;
        }
    }

    let mut conn = redis::Client::open(redis.url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the private redis");
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .expect("INFO stats");
    let evicted: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("evicted_keys in INFO stats");
    assert!(
        evicted > 0,
        "the test must fill the cache (no key was evicted; outcomes {outcomes:?})"
    );
}

// --------------------------------------------------------------------- keys and counters

#[tokio::test]
async fn keys_and_ttls_follow_the_plan() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let started = Instant::now();
    let paths = [
        format!("/products/{}", s.product),
        format!("/products/sku/{}", s.sku),
        format!("/categories/{}/products", s.category),
        "/products/bestsellers".to_owned(),
        "/auth/me".to_owned(),
        format!("/orders/{order}"),
        format!("/customers/{}/orders", s.customer),
        format!("/stores/{}/inventory", s.store),
        "/dashboard/stats".to_owned(),
    ];
    for path in &paths {
        let answer = get(app, token, path).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path}: {}", answer.body);
    }
    // Time since the keys were written: how far below its lower bound a TTL may have fallen.
    let slack_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(0) + 5_000;

    let url = std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL (run scripts/test)");
    let mut conn = redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis");
    let prefix = format!("{}:", app.database_name);
    let minutes = |m: i64| m * 60_000;
    let plan: Vec<(String, Option<(i64, i64)>)> = vec![
        (format!("product:{}", s.product), Some((5, 15))),
        (format!("product:sku:{}", s.sku), Some((5, 15))),
        (format!("category:{}:products", s.category), Some((54, 66))),
        ("bestsellers".to_owned(), Some((5, 15))),
        (format!("user:{}:profile", app.admin_id), Some((27, 33))),
        (format!("order:{order}"), Some((5, 10))),
        (
            format!("customer:{}:orders:recent", s.customer),
            Some((5, 10)),
        ),
        ("dashboard:stats".to_owned(), Some((9, 11))),
        // Put in place by the order's write, not by a read.
        (format!("dashboard:stats:{}", s.store), Some((9, 11))),
        // Its TTL is short and not documented: only its name is checked.
        (format!("store:{}:inventory", s.store), None),
    ];
    let mut problems = Vec::new();
    for (name, range) in &plan {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(cache::keys::redis_name(&prefix, name))
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        match (ttl, range) {
            (-2, _) => problems.push(format!("{name}: no such key")),
            (-1, _) => problems.push(format!("{name}: no TTL")),
            (ttl, Some((min, max))) if ttl < minutes(*min) - slack_ms || ttl > minutes(*max) => {
                problems.push(format!(
                    "{name}: TTL {} s, expected {min}-{max} min",
                    ttl / 1000
                ));
            }
            _ => {}
        }
    }

    // No key under the app's prefix lives forever.
    let mut cursor: u64 = 0;
    let mut all = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        all.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for key in &all {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        if ttl == -1 {
            problems.push(format!("{key}: no TTL"));
        }
    }
    assert!(
        problems.is_empty(),
        "keys and TTLs differ from the documented ones: {problems:#?}\nkeys under {prefix}: {all:#?}"
    );
}

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

#[tokio::test]
async fn counters_count_hits_and_misses_per_cache_type() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let reads = [
        (CacheType::Products, format!("/products/sku/{}", s.sku)),
        (CacheType::Products, "/products/bestsellers".to_owned()),
        (
            CacheType::Categories,
            format!("/categories/{}/products", s.category),
        ),
        (CacheType::Orders, format!("/orders/{order}")),
        // Not the first page: the order above warmed that one (`warm_customer_orders`).
        (
            CacheType::Orders,
            format!("/customers/{}/orders?limit=5", s.customer),
        ),
        (
            CacheType::Inventory,
            format!("/stores/{}/inventory", s.store),
        ),
        (CacheType::Dashboard, "/dashboard/stats".to_owned()),
    ];
    for (kind, path) in &reads {
        let (hits, misses, _) = counters(app, *kind);
        let (outcome, _) = read(app, token, path).await;
        assert_eq!(outcome, "miss", "first GET {path}");
        assert_eq!(
            counters(app, *kind),
            (hits, misses + 1, 0),
            "{kind:?} counters after a miss of GET {path}"
        );
        let (outcome, _) = read(app, token, path).await;
        assert_eq!(outcome, "hit", "second GET {path}");
        assert_eq!(
            counters(app, *kind),
            (hits + 1, misses + 1, 0),
            "{kind:?} counters after a hit of GET {path}"
        );
    }
    // Authentication reads sessions and profiles through the cache.
    let (hits, misses, bypasses) = counters(app, CacheType::Users);
    assert!(
        hits > 0 && misses > 0 && bypasses == 0,
        "users counters: {hits} hits, {misses} misses, {bypasses} bypasses"
    );
    assert_eq!(app.cache.stats().errors(), 0, "no Redis errors");
}

// --------------------------------------------------- what a write leaves in the cache

/// A second product in the shop's category and store, dearer than the first.
async fn second_product(s: &Shop) -> Uuid {
    let other = product(&s.app, s.category, "CACHE-02", 5 * PRICE).await;
    stock_in(&s.app, s.store, other, STOCK).await;
    other
}

/// The variants (hash fields) cached under the key `key` of this app, sorted: what a
/// write left in Redis, seen directly (a read would put back what it forgot).
async fn cached_variants(app: &TestApp, key: &str) -> Vec<String> {
    let url = std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL (run scripts/test)");
    let mut conn = redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis");
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

/// The prefixes (`n:`, `p:`, `r:`, `s:`, `sp:`) of the cached variants of a list key.
async fn cached_kinds(app: &TestApp, key: &str) -> Vec<String> {
    let mut kinds: Vec<String> = cached_variants(app, key)
        .await
        .iter()
        .filter_map(|f| f.split_once(':').map(|(kind, _)| kind.to_owned()))
        .collect();
    kinds.dedup();
    kinds
}

#[tokio::test]
async fn a_sale_forgets_only_what_shows_the_sold_product_s_stock() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let by_name = format!("/categories/{}/products", s.category);
    let by_sales = format!("/categories/{}/products?sort=-sales", s.category);
    let only_other = format!("/categories/{}/products?minPrice={}", s.category, 4 * PRICE);
    let sold_row = format!("/stores/{}/inventory/{}", s.store, s.product);
    let other_row = format!("/stores/{}/inventory/{other}", s.store);
    for path in [&by_name, &by_sales, &only_other, &sold_row, &other_row] {
        cache_it(app, token, path).await;
    }
    let category_key = format!("category:{}:products", s.category);
    assert_eq!(cached_kinds(app, &category_key).await, ["n", "p", "r"]);

    s.order(2).await;

    // The pages by name and by price stand (they hold ids), and so does the ranking by sales
    // (reloaded by age, see the next test). The sold product's body stays, beside its stock
    // figures moved forward; so do both stock rows, each beside its own figures.
    assert_eq!(cached_kinds(app, &category_key).await, ["n", "p", "r"]);
    assert_eq!(
        cached_variants(app, &format!("product:{}", s.product)).await,
        ["", "#tally"]
    );
    let mut rows = vec![
        format!("#tally:item:{other}"),
        format!("#tally:item:{}", s.product),
        format!("item:{other}"),
        format!("item:{}", s.product),
    ];
    rows.sort();
    assert_eq!(
        cached_variants(app, &format!("store:{}:inventory", s.store)).await,
        rows
    );
    let page = hit_afresh(app, token, &by_name).await;
    let sold = item_with(&page, "id", s.product).expect("sold product listed");
    assert_eq!(sold["quantity"], STOCK - 2, "{page}");
    assert_eq!(sold["salesCount"], 2, "{page}");
    // The ranking keeps its order (the newer product first, as before the sale) with the
    // sold product's new figures.
    let page = hit_afresh(app, token, &by_sales).await;
    assert_eq!(ids(items(&page)), vec![other, s.product], "{page}");
    let sold = item_with(&page, "id", s.product).expect("listed");
    assert_eq!(sold["salesCount"], 2, "{page}");
    let (outcome, page) = read(app, token, &only_other).await;
    assert_eq!(outcome, "hit", "{page}");
    assert_eq!(ids(items(&page)), vec![other], "{page}");
    assert_eq!(read(app, token, &other_row).await.0, "hit");
    assert_eq!(
        hit_afresh(app, token, &sold_row).await["quantity"],
        STOCK - 2
    );
}

/// A ranking by sales is not forgotten by sales (it would hardly ever be read between two in
/// a busy store): it keeps its order, with current figures, until it is older than its
/// maximum age, and is then read afresh.
#[tokio::test]
async fn a_ranking_by_sales_is_reordered_once_it_is_old_enough() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let by_sales = format!("/categories/{}/products?sort=-sales", s.category);
    // Neither has sold yet: the newer product first.
    let page = cache_it(app, token, &by_sales).await;
    assert_eq!(ids(items(&page)), vec![other, s.product], "{page}");

    s.order(3).await;

    let page = hit_afresh(app, token, &by_sales).await;
    assert_eq!(ids(items(&page)), vec![other, s.product], "{page}");
    let sold = item_with(&page, "id", s.product).expect("listed");
    assert_eq!(sold["salesCount"], 3, "the figures are current: {page}");

    // Age the cached page past the maximum age (30 s), as time would.
    let key = cache::keys::redis_name(
        &format!("{}:", app.database_name),
        &format!("category:{}:products", s.category),
    );
    let field = cached_variants(app, &format!("category:{}:products", s.category))
        .await
        .into_iter()
        .find(|f| f.starts_with("r:"))
        .expect("the ranking is cached");
    let url = std::env::var("IMS_TEST_REDIS_URL").expect("IMS_TEST_REDIS_URL (run scripts/test)");
    let mut conn = redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis");
    let cached: String = redis::cmd("HGET")
        .arg(&key)
        .arg(&field)
        .query_async(&mut conn)
        .await
        .expect("HGET");
    let mut cached: Value = serde_json::from_str(&cached).expect("a page");
    let loaded = cached["loadedAtMs"].as_i64().expect("loadedAtMs");
    cached["loadedAtMs"] = json!(loaded - 31_000);
    let _: i64 = redis::cmd("HSET")
        .arg(&key)
        .arg(&field)
        .arg(cached.to_string())
        .query_async(&mut conn)
        .await
        .expect("HSET");

    let page = miss_then_hit(app, token, &by_sales).await;
    assert_eq!(ids(items(&page)), vec![s.product, other], "{page}");
}

/// A restock of a product in stock, or a transfer, changes no list (lists hold ids; the
/// quantities shown come from the products' tallies): the pages sorted by sales and filtered
/// by stock stay cached with the new figures. Stock that runs out or comes back changes the
/// lists filtered by stock, which are read afresh at once.
#[tokio::test]
async fn a_restock_keeps_lists_and_stock_crossing_zero_changes_them() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let by_sales = format!("/categories/{}/products?sort=-sales", s.category);
    let in_stock = format!("/categories/{}/products?inStock=true", s.category);
    let sold_out = format!("/categories/{}/products?inStock=false", s.category);
    let search = "/products?q=product&inStock=true";
    for path in [&by_sales, &in_stock, &sold_out] {
        cache_it(app, token, path).await;
    }
    cache_it(app, token, search).await;

    stock_in(app, s.store, other, 5).await;
    let page = hit_afresh(app, token, &in_stock).await;
    let restocked = item_with(&page, "id", other).expect("listed");
    assert_eq!(restocked["quantity"], STOCK + 5, "{page}");
    hit_afresh(app, token, &by_sales).await;
    hit_afresh(app, token, search).await;
    assert!(items(&hit_afresh(app, token, &sold_out).await).is_empty());

    // Out of stock: the lists filtered by stock change.
    stock_in(app, s.store, other, -(STOCK + 5)).await;
    let page = miss_then_hit(app, token, &in_stock).await;
    assert_eq!(ids(items(&page)), vec![s.product], "{page}");
    let page = miss_then_hit(app, token, &sold_out).await;
    assert_eq!(ids(items(&page)), vec![other], "{page}");
    // And back.
    stock_in(app, s.store, other, 1).await;
    let page = miss_then_hit(app, token, &in_stock).await;
    assert_eq!(ids(items(&page)).len(), 2, "{page}");
    assert!(items(&miss_then_hit(app, token, &sold_out).await).is_empty());
}

#[tokio::test]
async fn a_price_change_reorders_lists_by_price_and_keeps_pages_by_name() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let by_name = format!("/categories/{}/products", s.category);
    let by_price = format!("/categories/{}/products?sort=price", s.category);
    assert_eq!(
        ids(items(&cache_it(app, token, &by_price).await)),
        vec![s.product, other]
    );
    cache_it(app, token, &by_name).await;
    let category_key = format!("category:{}:products", s.category);
    assert_eq!(cached_kinds(app, &category_key).await, ["n", "p"]);

    s.patch_product(json!({ "price": 9 * PRICE })).await;

    assert_eq!(cached_kinds(app, &category_key).await, ["n"]);
    assert!(cached_variants(app, &format!("product:{}", s.product))
        .await
        .is_empty());
    let page = miss_then_hit(app, token, &by_name).await;
    let changed = item_with(&page, "id", s.product).expect("listed");
    assert_eq!(changed["price"], 9 * PRICE, "{page}");
    let page = miss_then_hit(app, token, &by_price).await;
    assert_eq!(ids(items(&page)), vec![other, s.product], "{page}");
}

#[tokio::test]
async fn searches_are_cached_and_a_renamed_product_is_found_by_its_new_name_at_once() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let old_word = "/products?q=product";
    let new_word = "/products?q=lorgnette";
    let found = cache_it(app, token, old_word).await;
    assert_eq!(items(&found).len(), 2, "{found}");
    assert!(items(&cache_it(app, token, new_word).await).is_empty());

    s.patch_product(json!({ "name": "Lorgnette Classic", "description": "gold" }))
        .await;

    let found = miss_then_hit(app, token, old_word).await;
    assert_eq!(ids(items(&found)), vec![other], "{found}");
    let found = miss_then_hit(app, token, new_word).await;
    assert_eq!(ids(items(&found)), vec![s.product], "{found}");
    assert_eq!(items(&found)[0]["name"], "Lorgnette Classic", "{found}");
}
