//! Helpers shared by the test modules: reading answers (`items`, `error_fields`, `get_ok`,
//! typed fields of JSON objects) and the operations' fixtures (customers, stocked products,
//! orders, stock rows and movements, the stock invariants).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{id_of, send, TestApp};
use uuid::Uuid;

use super::paging::walk;

/// The items of a list answer.
pub fn items(list: &Value) -> &Vec<Value> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list with items: {list}"))
}

/// The string `key` of each value, in order; panics naming the value that lacks it.
pub fn strings(values: &[Value], key: &str) -> Vec<String> {
    values
        .iter()
        .map(|v| {
            v[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} in {v}"))
                .to_owned()
        })
        .collect()
}

/// The `field`s named in a problem's `errors`, in the order served. Panics unless the body has
/// `errors` and every error names its field and says what to fix.
pub fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a problem with errors: {body}"))
        .iter()
        .map(|e| {
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "every error says what to fix: {body}"
            );
            e["field"]
                .as_str()
                .unwrap_or_else(|| panic!("every error names its field: {body}"))
                .to_owned()
        })
        .collect()
}

/// [`error_fields`] as a set, for problems that name several fields in no promised order.
pub fn error_field_set(body: &Value) -> BTreeSet<String> {
    error_fields(body).into_iter().collect()
}

/// A set of names, to compare with [`error_field_set`] and other sets of strings.
pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
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
