//! The catalogue: categories and products, their filters, search, sorting, pagination and
//! bestsellers.

use std::collections::{BTreeSet, HashSet};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, TestApp};
use uuid::Uuid;

use crate::support::ops::{error_field_set, error_fields, get_ok, items, set, strings};
use crate::support::paging::walk;

mod bestsellers;
mod categories;
mod filters;
mod products;
mod search;
mod sorting;

/// GET as the admin; asserts a problem with `expected`.
async fn get_problem(app: &TestApp, path: &str, expected: StatusCode) -> Value {
    let (status, body) = app.call(Method::GET, path, None).await;
    assert_problem(status, &body, expected);
    body
}

fn skus(list: &Value) -> Vec<String> {
    strings(items(list), "sku")
}

fn sku_set(list: &Value) -> BTreeSet<String> {
    skus(list).into_iter().collect()
}

fn names(list: &Value) -> Vec<String> {
    strings(items(list), "name")
}

fn product_body(sku: &str, name: &str, category: Uuid, price: i64) -> Value {
    json!({
        "sku": sku, "name": name, "description": "", "categoryId": category,
        "brand": "Acme", "price": price,
    })
}

/// POSTs a product as the admin; panics unless 201.
async fn post_product(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.call(Method::POST, "/products", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn add(app: &TestApp, sku: &str, name: &str, category: Uuid, price: i64) -> Value {
    post_product(app, product_body(sku, name, category, price)).await
}

/// A product with a description and brand of its own.
async fn add_described(
    app: &TestApp,
    sku: &str,
    name: &str,
    description: &str,
    brand: &str,
    category: Uuid,
) -> Value {
    post_product(
        app,
        json!({
            "sku": sku, "name": name, "description": description, "categoryId": category,
            "brand": brand, "price": 100_000,
        }),
    )
    .await
}

async fn set_sales(app: &TestApp, sku: &str, sales: i64) {
    let done = sqlx::query("UPDATE products SET sales_count = $1 WHERE sku = $2")
        .bind(sales)
        .bind(sku)
        .execute(app.db.primary())
        .await
        .expect("update sales_count");
    assert_eq!(done.rows_affected(), 1, "{sku}");
}

async fn set_quantity(app: &TestApp, sku: &str, quantity: i32) {
    let done = sqlx::query("UPDATE products SET quantity = $1 WHERE sku = $2")
        .bind(quantity)
        .bind(sku)
        .execute(app.db.primary())
        .await
        .expect("update quantity");
    assert_eq!(done.rows_affected(), 1, "{sku}");
}

fn assert_distinct(values: &[Value], what: &str) {
    let ids = strings(values, "id");
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{what}: duplicates in {ids:?}");
}
