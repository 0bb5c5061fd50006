//! Helpers shared by the operations tests (orders, inventory, prescriptions, workshop,
//! dashboard): customers, stocked products, orders, paging with any token, error fields.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{id_of, send, TestApp};
use uuid::Uuid;

/// The items of a list answer.
pub fn items(list: &Value) -> &Vec<Value> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list with items: {list}"))
}

/// The `field`s named in a problem's `errors`.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A string field of a JSON object, panicking with context when absent.
pub fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {value}"))
}

pub fn i64_of(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is an integer in {value}"))
}

pub fn uuid_of(value: &Value, key: &str) -> Uuid {
    str_of(value, key)
        .parse()
        .unwrap_or_else(|_| panic!("{key} is a uuid in {value}"))
}

/// `PREFIX-<4 digits>-<6 or more digits>`, e.g. `ORD-2026-000042`.
pub fn is_number_like(number: &str, prefix: &str) -> bool {
    let Some(rest) = number
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    let Some((year, sequence)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && sequence.len() >= 6
        && sequence.bytes().all(|b| b.is_ascii_digit())
}

/// GET as `token`; panics unless 200.
pub async fn get_ok(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, body) = app.call_as(token, Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// GET with properly encoded query parameters as `token`.
pub async fn get_query(
    app: &TestApp,
    token: &str,
    path: &str,
    params: &[(&str, &str)],
) -> (StatusCode, Value) {
    send(app.request(Method::GET, path, Some(token)).query(params)).await
}

/// Reads a list page by page (`limit` per page) as `token`, following `nextCursor` to the
/// end, and returns every item in the order served. Checks on the way that every page but
/// the last is full, that no page after the first is empty and that nothing is served twice.
pub async fn walk(app: &TestApp, token: &str, path: &str, limit: usize) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for page_number in 1..=200 {
        let limit_text = limit.to_string();
        let mut params = vec![("limit", limit_text.as_str())];
        if let Some(c) = &cursor {
            params.push(("cursor", c.as_str()));
        }
        // `query` appends to a query string already in `path`.
        let (status, body) = send(app.request(Method::GET, path, Some(token)).query(&params)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "page {page_number} of {path}: {body}"
        );
        let page = items(&body).clone();
        assert!(
            page.len() <= limit,
            "page {page_number} of {path} over the limit"
        );
        assert!(
            !page.is_empty() || (page_number == 1 && body["nextCursor"].is_null()),
            "page {page_number} of {path} is empty: {body}"
        );
        for item in &page {
            let key = match &item["id"] {
                Value::Null => item.to_string(),
                id => id.to_string(),
            };
            assert!(seen.insert(key.clone()), "{key} served twice by {path}");
        }
        all.extend(page.iter().cloned());
        match &body["nextCursor"] {
            Value::Null => return all,
            Value::String(next) => {
                assert_eq!(page.len(), limit, "a page before the last is not full");
                cursor = Some(next.clone());
            }
            other => panic!("nextCursor must be a string or null, got {other}"),
        }
    }
    panic!("{path} did not end within 200 pages");
}

/// Registers a customer; returns its JSON.
pub async fn customer(app: &TestApp, name: &str, phone: &str) -> Value {
    let (status, body) = app
        .call(
            Method::POST,
            "/customers",
            Some(json!({ "name": name, "phone": phone })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Creates a product (as the admin) and returns its id.
pub async fn product(app: &TestApp, category: Uuid, sku: &str, price: i64) -> Uuid {
    id_of(
        &app.create_product(sku, &format!("Product {sku}"), category, price)
            .await,
    )
}

/// `POST /stores/{store}/inventory/{product}/adjustments` as `token`.
pub async fn adjust_as(
    app: &TestApp,
    token: &str,
    store: Uuid,
    product: Uuid,
    delta: i64,
    reason: &str,
) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        &format!("/stores/{store}/inventory/{product}/adjustments"),
        Some(json!({ "delta": delta, "reason": reason })),
    )
    .await
}

/// Adds `quantity` units of `product` to `store` as the admin (a delivery); panics unless 201.
pub async fn stock_in(app: &TestApp, store: Uuid, product: Uuid, quantity: i64) -> Value {
    let (status, body) =
        adjust_as(app, &app.admin_token, store, product, quantity, "delivery").await;
    assert_eq!(status, StatusCode::CREATED, "stock in: {body}");
    body
}

/// An order body for `store` and `customer` with `(product, quantity)` lines.
pub fn order_body(store: Uuid, customer: Uuid, lines: &[(Uuid, i64)]) -> Value {
    json!({
        "storeId": store,
        "customerId": customer,
        "items": lines
            .iter()
            .map(|(product, quantity)| json!({ "productId": product, "quantity": quantity }))
            .collect::<Vec<_>>(),
    })
}

/// `POST /orders` as `token`.
pub async fn place_as(
    app: &TestApp,
    token: &str,
    store: Uuid,
    customer: Uuid,
    lines: &[(Uuid, i64)],
) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        "/orders",
        Some(order_body(store, customer, lines)),
    )
    .await
}

/// Places an order as `token`; panics unless 201. Returns the order.
pub async fn place_ok(
    app: &TestApp,
    token: &str,
    store: Uuid,
    customer: Uuid,
    lines: &[(Uuid, i64)],
) -> Value {
    let (status, body) = place_as(app, token, store, customer, lines).await;
    assert_eq!(status, StatusCode::CREATED, "placing {lines:?}: {body}");
    body
}

/// `PATCH /orders/{id}/status` as `token`.
pub async fn order_status_as(
    app: &TestApp,
    token: &str,
    order: Uuid,
    status: &str,
) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::PATCH,
        &format!("/orders/{order}/status"),
        Some(json!({ "status": status })),
    )
    .await
}

/// Moves an order to `status` as the admin; panics unless 200.
pub async fn set_order_status(app: &TestApp, order: Uuid, status: &str) -> Value {
    let (code, body) = order_status_as(app, &app.admin_token, order, status).await;
    assert_eq!(code, StatusCode::OK, "order {order} -> {status}: {body}");
    assert_eq!(body["status"], status, "{body}");
    body
}

/// The stock row of `product` in `store` as the admin; panics unless 200.
pub async fn stock_row(app: &TestApp, store: Uuid, product: Uuid) -> Value {
    get_ok(
        app,
        &app.admin_token,
        &format!("/stores/{store}/inventory/{product}"),
    )
    .await
}

/// The quantity of `product` in `store` (0 when the store has no row for it).
pub async fn stock_quantity(app: &TestApp, store: Uuid, product: Uuid) -> i64 {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/stores/{store}/inventory/{product}"),
            None,
        )
        .await;
    match status {
        StatusCode::OK => i64_of(&body, "quantity"),
        StatusCode::NOT_FOUND => 0,
        other => panic!("stock row of {product} in {store}: {other} {body}"),
    }
}

/// Every movement of a row, newest first, read page by page as the admin.
pub async fn movements(app: &TestApp, store: Uuid, product: Uuid, limit: usize) -> Vec<Value> {
    walk(
        app,
        &app.admin_token,
        &format!("/stores/{store}/inventory/{product}/movements"),
        limit,
    )
    .await
}

/// The sum of a row's movements' deltas, read through the API.
pub async fn movements_sum(app: &TestApp, store: Uuid, product: Uuid) -> i64 {
    movements(app, store, product, 100)
        .await
        .iter()
        .map(|m| i64_of(m, "delta"))
        .sum()
}

/// A product as the admin sees it (its total `quantity` and `salesCount`).
pub async fn product_json(app: &TestApp, product: Uuid) -> Value {
    get_ok(app, &app.admin_token, &format!("/products/{product}")).await
}

/// Checks, in SQL, the stock invariants over the whole database: every row's movements add
/// up to its quantity, no row is negative, and every product's total is the sum over its
/// stores' rows. Returns the rows as (product, store, quantity).
pub async fn assert_stock_invariants(app: &TestApp) -> Vec<(Uuid, Uuid, i64)> {
    let rows: Vec<(Uuid, Uuid, i32, i64)> = sqlx::query_as(
        "SELECT product_id, store_id, quantity,
                (SELECT coalesce(sum(delta), 0) FROM inventory_movements m
                  WHERE m.product_id = i.product_id AND m.store_id = i.store_id)::bigint
         FROM inventory i ORDER BY product_id, store_id",
    )
    .fetch_all(app.db.primary())
    .await
    .expect("inventory rows");
    for (product, store, quantity, sum) in &rows {
        assert!(
            *quantity >= 0,
            "row {product}/{store} is negative: {quantity}"
        );
        assert_eq!(
            i64::from(*quantity),
            *sum,
            "row {product}/{store}: quantity {quantity} but its movements add up to {sum}"
        );
    }
    let products: Vec<(Uuid, i32, i64)> = sqlx::query_as(
        "SELECT p.id, p.quantity,
                (SELECT coalesce(sum(i.quantity), 0) FROM inventory i WHERE i.product_id = p.id)::bigint
         FROM products p",
    )
    .fetch_all(app.db.primary())
    .await
    .expect("product totals");
    for (product, total, sum) in &products {
        assert_eq!(
            i64::from(*total),
            *sum,
            "product {product}: quantity {total} but its stores hold {sum}"
        );
    }
    rows.into_iter()
        .map(|(p, s, q, _)| (p, s, i64::from(q)))
        .collect()
}

/// Sends a request and returns its status, headers and JSON body (`Null` when empty).
pub async fn send_full(
    request: reqwest::RequestBuilder,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, body)
}

/// The ids of a list of JSON objects, in order.
pub fn ids(values: &[Value]) -> Vec<Uuid> {
    values.iter().map(|v| uuid_of(v, "id")).collect()
}
