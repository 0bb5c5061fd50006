//! The public catalogue (`/api/v1/catalog/...`): no token, active products only, public
//! fields only, cacheable for five minutes, and the contract's 400 and 404.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, send, TestApp};
use uuid::Uuid;

const PUBLIC_FIELDS: [&str; 9] = [
    "attributes",
    "brand",
    "categoryId",
    "description",
    "id",
    "inStock",
    "name",
    "price",
    "sku",
];

/// GET without a token: status, Cache-Control and body.
async fn get_public(app: &TestApp, path: &str) -> (StatusCode, Option<String>, Value) {
    let response = app
        .request(Method::GET, path, None)
        .send()
        .await
        .expect("sent");
    let cache_control = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, cache_control, body)
}

async fn get_ok(app: &TestApp, path: &str) -> Value {
    let (status, cache_control, body) = get_public(app, path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    assert_eq!(
        cache_control.as_deref(),
        Some("public, max-age=300"),
        "{path}"
    );
    body
}

fn skus(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|p| p["sku"].as_str().expect("sku").to_owned())
        .collect()
}

fn fields(product: &Value) -> BTreeSet<String> {
    product
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

/// A category with an active frame (with a cost and stock), a cheaper active frame of another
/// brand, and an inactive one; returns (category, active ids, inactive id).
async fn shop(app: &TestApp) -> (Uuid, [Uuid; 2], Uuid) {
    let category = app.create_category("Frames").await;
    let mut ids = Vec::new();
    for (sku, name, brand, price, status) in [
        ("PUB-AVIATOR", "Aviator frame", "Rayban", 500_000, "active"),
        ("PUB-ROUND", "Round frame", "Titan", 200_000, "active"),
        ("PUB-OLD", "Old frame", "Rayban", 100_000, "inactive"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/products",
                Some(json!({
                    "sku": sku, "name": name, "description": "a frame", "categoryId": category,
                    "brand": brand, "price": price, "cost": 90_000, "status": status,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(id_of(&body));
    }
    let store = app.create_store("PUB1").await;
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/stores/{store}/inventory/{}/adjustments", ids[0]),
            Some(json!({"delta": 4, "reason": "delivery"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (category, [ids[0], ids[1]], ids[2])
}

#[tokio::test]
async fn lists_active_products_with_public_fields_only() {
    let app = TestApp::spawn().await;
    let (category, [aviator, _], _) = shop(&app).await;
    let list = get_ok(&app, "/catalog/products").await;
    assert_eq!(skus(&list), ["PUB-AVIATOR", "PUB-ROUND"]);
    for product in list["items"].as_array().expect("items") {
        assert_eq!(
            fields(product),
            PUBLIC_FIELDS.iter().map(|s| s.to_string()).collect(),
            "{product}"
        );
    }
    assert_eq!(list["items"][0]["inStock"], true);
    assert_eq!(list["items"][1]["inStock"], false);
    assert_eq!(list["items"][0]["id"], json!(aviator));

    let cheap_first = get_ok(&app, "/catalog/products?sort=price").await;
    assert_eq!(skus(&cheap_first), ["PUB-ROUND", "PUB-AVIATOR"]);
    let rayban = get_ok(&app, "/catalog/products?brand=Rayban").await;
    assert_eq!(skus(&rayban), ["PUB-AVIATOR"]);
    let search = get_ok(&app, "/catalog/products?q=aviatr").await;
    assert_eq!(skus(&search), ["PUB-AVIATOR"]);
    let in_category = get_ok(&app, &format!("/catalog/products?category={category}")).await;
    assert_eq!(skus(&in_category).len(), 2);
    let other = get_ok(
        &app,
        &format!("/catalog/products?category={}", Uuid::new_v4()),
    )
    .await;
    assert!(skus(&other).is_empty());
    let page = get_ok(&app, "/catalog/products?limit=1").await;
    let cursor = page["nextCursor"].as_str().expect("a next page");
    let rest = get_ok(&app, &format!("/catalog/products?limit=1&cursor={cursor}")).await;
    assert_eq!(skus(&rest), ["PUB-ROUND"]);
}

#[tokio::test]
async fn one_product_is_public_only_while_active() {
    let app = TestApp::spawn().await;
    let (_, [aviator, _], inactive) = shop(&app).await;
    let product = get_ok(&app, &format!("/catalog/products/{aviator}")).await;
    assert_eq!(product["sku"], "PUB-AVIATOR");
    assert!(product.get("cost").is_none() && product.get("quantity").is_none());
    assert_eq!(product["inStock"], true);
    for path in [
        format!("/catalog/products/{inactive}"),
        format!("/catalog/products/{}", Uuid::new_v4()),
        "/catalog/products/not-an-id".to_owned(),
    ] {
        let (status, _, body) = get_public(&app, &path).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
    }
    // Deactivated later: gone from the catalogue at once (its cached variant is forgotten).
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/products/{aviator}"),
            Some(json!({"status": "discontinued"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = get_public(&app, &format!("/catalog/products/{aviator}")).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn categories_and_bestsellers() {
    let app = TestApp::spawn().await;
    let (category, _, _) = shop(&app).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/categories",
            Some(json!({"name": "Archived", "status": "inactive"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let categories = get_ok(&app, "/catalog/categories").await;
    let items = categories["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{categories}");
    assert_eq!(items[0]["id"], json!(category));
    assert_eq!(
        fields(&items[0]),
        ["description", "id", "name", "parentId"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    let best = get_ok(&app, "/catalog/bestsellers?limit=5").await;
    let best_skus: BTreeSet<String> = skus(&best).into_iter().collect();
    assert_eq!(
        best_skus,
        ["PUB-AVIATOR", "PUB-ROUND"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    );
    assert!(best["items"][0].get("salesCount").is_none());
}

#[tokio::test]
async fn bad_queries_are_400() {
    let app = TestApp::spawn().await;
    for path in [
        "/catalog/products?status=inactive",
        "/catalog/products?sort=cost",
        "/catalog/products?limit=0",
        "/catalog/products?limit=101",
        "/catalog/products?category=frames",
        "/catalog/products?cursor=bogus",
        "/catalog/categories?status=inactive",
        "/catalog/bestsellers?limit=500",
    ] {
        let (status, cache_control, body) = get_public(&app, path).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(
            cache_control.as_deref(),
            Some("no-store"),
            "{path}: errors are not cacheable"
        );
    }
    // Writes are not part of the catalogue.
    let (status, body) = send(app.request(Method::POST, "/catalog/products", None)).await;
    assert_problem(status, &body, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_catalogue_is_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let (status, _, doc) = get_public(&app, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/catalog/products",
        "/catalog/products/{id}",
        "/catalog/categories",
        "/catalog/bestsellers",
    ] {
        let operation = &doc["paths"][path]["get"];
        assert!(operation.is_object(), "{path} is documented");
        assert!(operation.get("security").is_none(), "{path} needs no token");
    }
}
