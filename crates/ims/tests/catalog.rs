//! The catalogue: categories and products, their filters, search, sorting, pagination and
//! bestsellers.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

use std::collections::{BTreeSet, HashSet};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, TestApp};
use uuid::Uuid;

// ------------------------------------------------------------------------------------ helpers

/// GET as the admin; panics unless 200.
async fn get_ok(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.call(Method::GET, path, None).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// GET as the admin; asserts a problem with `expected`.
async fn get_problem(app: &TestApp, path: &str, expected: StatusCode) -> Value {
    let (status, body) = app.call(Method::GET, path, None).await;
    assert_problem(status, &body, expected);
    body
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list with items: {list}"))
}

fn strings(values: &[Value], key: &str) -> Vec<String> {
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

fn skus(list: &Value) -> Vec<String> {
    strings(items(list), "sku")
}

fn sku_set(list: &Value) -> BTreeSet<String> {
    skus(list).into_iter().collect()
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|s| (*s).to_owned()).collect()
}

fn names(list: &Value) -> Vec<String> {
    strings(items(list), "name")
}

/// The `field`s named in a problem's `errors`.
fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| strings(errors, "field"))
        .unwrap_or_default()
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

/// Follows `nextCursor` from `path` (which carries its own query, limit included) to the last
/// page; checks every page but the last is full and the last says `nextCursor: null`.
async fn walk(app: &TestApp, path: &str, limit: usize) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let url = match &cursor {
            Some(c) => format!("{path}{separator}cursor={c}"),
            None => path.to_owned(),
        };
        let page = get_ok(app, &url).await;
        let page_items = items(&page);
        assert!(page_items.len() <= limit, "{url} gave too many: {page}");
        all.extend(page_items.iter().cloned());
        match &page["nextCursor"] {
            Value::String(next) => {
                assert_eq!(
                    page_items.len(),
                    limit,
                    "a page before the last is full: {page}"
                );
                cursor = Some(next.clone());
            }
            Value::Null => return all,
            other => panic!("nextCursor must be a string or null, got {other}"),
        }
    }
    panic!("{path}: pagination never ended");
}

fn assert_distinct(values: &[Value], what: &str) {
    let ids = strings(values, "id");
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{what}: duplicates in {ids:?}");
}

// --------------------------------------------------------------------------------- categories

#[tokio::test]
async fn categories_list_active_ones_by_default_and_others_on_request() {
    let app = TestApp::spawn().await;
    app.create_category("Frames").await;
    let lenses = app.create_category("Lenses").await;
    app.create_category("Contact Lenses").await;
    let (status, accessories) = app
        .call(
            Method::POST,
            "/categories",
            Some(json!({ "name": "Accessories", "description": "Cases and cloths", "status": "inactive" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{accessories}");
    assert_eq!(accessories["status"], "inactive");
    assert_eq!(accessories["description"], "Cases and cloths");
    assert!(accessories["parentId"].is_null(), "{accessories}");
    assert!(accessories["createdAt"].is_string(), "{accessories}");

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/categories/{lenses}"),
            Some(json!({ "status": "inactive" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "inactive");

    let active = get_ok(&app, "/categories").await;
    assert_eq!(names(&active), ["Contact Lenses", "Frames"]);
    assert!(active["nextCursor"].is_null());
    let active = get_ok(&app, "/categories?status=active").await;
    assert_eq!(names(&active), ["Contact Lenses", "Frames"]);
    let inactive = get_ok(&app, "/categories?status=inactive").await;
    assert_eq!(names(&inactive), ["Accessories", "Lenses"]);

    get_problem(&app, "/categories?status=deleted", StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn only_admins_and_managers_create_and_change_categories() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let (_, manager) = app.create_user("manager1", &["manager"], &[store]).await;
    let (status, body) = app
        .call_as(
            &manager,
            Method::POST,
            "/categories",
            Some(json!({ "name": "Frames" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let frames = id_of(&body);
    let (status, body) = app
        .call_as(
            &manager,
            Method::PATCH,
            &format!("/categories/{frames}"),
            Some(json!({ "description": "Spectacle frames" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["description"], "Spectacle frames");

    for role in ["sales", "technician", "optometrist"] {
        let (_, token) = app
            .create_user(&format!("{role}1"), &[role], &[store])
            .await;
        let (status, body) = app
            .call_as(
                &token,
                Method::POST,
                "/categories",
                Some(json!({ "name": format!("By {role}") })),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        let (status, body) = app
            .call_as(
                &token,
                Method::PATCH,
                &format!("/categories/{frames}"),
                Some(json!({ "name": format!("Renamed by {role}") })),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        // Everyone reads the chain-wide categories.
        let (status, list) = app.call_as(&token, Method::GET, "/categories", None).await;
        assert_eq!(status, StatusCode::OK, "{role}: {list}");
        assert_eq!(names(&list), ["Frames"], "{role} changed nothing");
    }
    let inactive = get_ok(&app, "/categories?status=inactive").await;
    assert!(items(&inactive).is_empty(), "{inactive}");
}

#[tokio::test]
async fn category_names_are_unique_regardless_of_case() {
    let app = TestApp::spawn().await;
    app.create_category("Sunglasses").await;
    let other = app.create_category("Frames").await;

    let (status, body) = app
        .call(
            Method::POST,
            "/categories",
            Some(json!({ "name": "SUNGLASSES" })),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(error_fields(&body), ["name"], "{body}");

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/categories/{other}"),
            Some(json!({ "name": "sunglasses" })),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(error_fields(&body), ["name"], "{body}");

    let (status, body) = app
        .call(Method::POST, "/categories", Some(json!({ "name": "  " })))
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["name"], "{body}");

    let list = get_ok(&app, "/categories").await;
    assert_eq!(names(&list), ["Frames", "Sunglasses"]);
}

#[tokio::test]
async fn categories_are_renamed_deactivated_and_nested_without_cycles() {
    let app = TestApp::spawn().await;
    let a = app.create_category("Eyewear").await;
    let b = app.create_category("Frames").await;
    let c = app.create_category("Metal Frames").await;
    let patch = |id: Uuid, body: Value| {
        let app = &app;
        async move {
            app.call(Method::PATCH, &format!("/categories/{id}"), Some(body))
                .await
        }
    };

    // a > b > c
    let (status, body) = patch(b, json!({ "parentId": a })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["parentId"], a.to_string());
    let (status, body) = patch(c, json!({ "parentId": b })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["parentId"], b.to_string());

    // Under itself, its child or its grandchild: each would close a loop.
    for parent in [a, b, c] {
        let (status, body) = patch(a, json!({ "parentId": parent })).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&body), ["parentId"], "{body}");
    }
    let (status, body) = patch(b, json!({ "parentId": c })).await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["parentId"], "{body}");

    // A parent that does not exist.
    let (status, body) = patch(a, json!({ "parentId": Uuid::new_v4() })).await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["parentId"], "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/categories",
            Some(json!({ "name": "Orphans", "parentId": Uuid::new_v4() })),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["parentId"], "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/categories",
            Some(json!({ "name": "Rimless Frames", "parentId": b })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["parentId"], b.to_string());

    // Nothing above changed the tree.
    let list = get_ok(&app, "/categories").await;
    let parent_of = |list: &Value, name: &str| -> Value {
        items(list)
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {list}"))["parentId"]
            .clone()
    };
    assert_eq!(parent_of(&list, "Eyewear"), Value::Null);
    assert_eq!(parent_of(&list, "Frames"), json!(a));
    assert_eq!(parent_of(&list, "Metal Frames"), json!(b));
    assert!(!names(&list).contains(&"Orphans".to_owned()), "{list}");

    // Rename, move to the top, deactivate.
    let (status, body) = patch(a, json!({ "name": "Optical Eyewear" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Optical Eyewear");
    let (status, body) = patch(c, json!({ "parentId": null })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["parentId"].is_null(), "{body}");
    assert_eq!(body["name"], "Metal Frames", "other fields stay");
    // Now a may go under c (c is no longer below a).
    let (status, body) = patch(a, json!({ "parentId": c })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = patch(b, json!({ "status": "inactive" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "inactive");

    let list = get_ok(&app, "/categories").await;
    assert_eq!(
        names(&list),
        ["Metal Frames", "Optical Eyewear", "Rimless Frames"]
    );
    let list = get_ok(&app, "/categories?status=inactive").await;
    assert_eq!(names(&list), ["Frames"]);

    let (status, body) = patch(Uuid::new_v4(), json!({ "name": "Ghost" })).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn category_products_lists_only_that_categorys_products() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    let lenses = app.create_category("Lenses").await;
    let empty = app.create_category("Cases").await;
    add(&app, "FR-001", "Aviator", frames, 500_000).await;
    add(&app, "FR-002", "Wayfarer", frames, 400_000).await;
    add(&app, "LN-001", "Single Vision", lenses, 200_000).await;

    let list = get_ok(&app, &format!("/categories/{frames}/products")).await;
    assert_eq!(skus(&list), ["FR-001", "FR-002"]);
    assert!(items(&list)
        .iter()
        .all(|p| p["categoryId"] == frames.to_string()));
    let list = get_ok(&app, &format!("/categories/{lenses}/products")).await;
    assert_eq!(skus(&list), ["LN-001"]);
    let list = get_ok(&app, &format!("/categories/{empty}/products")).await;
    assert!(items(&list).is_empty(), "{list}");
    assert!(list["nextCursor"].is_null());
    // Filters and sorting work here as on /products.
    let list = get_ok(
        &app,
        &format!("/categories/{frames}/products?sort=-price&maxPrice=450000"),
    )
    .await;
    assert_eq!(skus(&list), ["FR-002"]);

    get_problem(
        &app,
        &format!("/categories/{}/products", Uuid::new_v4()),
        StatusCode::NOT_FOUND,
    )
    .await;
    get_problem(&app, "/categories/frames/products", StatusCode::NOT_FOUND).await;
}

// ----------------------------------------------------------------------------------- products

#[tokio::test]
async fn a_created_product_is_echoed_in_camel_case_and_found_by_id_and_sku() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    let (status, created) = app
        .call(
            Method::POST,
            "/products",
            Some(json!({
                "sku": "RB-3025-001", "name": "Aviator Classic",
                "description": "Gold metal frame, green G-15 lenses",
                "categoryId": frames, "brand": "Ray-Ban", "price": 750_000, "cost": 300_000,
                "attributes": { "frameSize": "58-14-135", "material": "metal" },
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = id_of(&created);
    assert_eq!(created["sku"], "RB-3025-001");
    assert_eq!(created["name"], "Aviator Classic");
    assert_eq!(
        created["description"],
        "Gold metal frame, green G-15 lenses"
    );
    assert_eq!(created["categoryId"], frames.to_string());
    assert_eq!(created["brand"], "Ray-Ban");
    assert_eq!(created["price"], 750_000);
    assert_eq!(created["cost"], 300_000);
    assert_eq!(created["status"], "active");
    assert_eq!(
        created["attributes"],
        json!({ "frameSize": "58-14-135", "material": "metal" })
    );
    assert_eq!(created["quantity"], 0);
    assert_eq!(created["inStock"], false);
    assert_eq!(created["salesCount"], 0);
    assert!(created["createdAt"].is_string() && created["updatedAt"].is_string());
    for snake in [
        "category_id",
        "in_stock",
        "sales_count",
        "created_at",
        "updated_at",
    ] {
        assert!(created.get(snake).is_none(), "{snake} in {created}");
    }

    let by_id = get_ok(&app, &format!("/products/{id}")).await;
    assert_eq!(by_id, created);
    let by_sku = get_ok(&app, "/products/sku/RB-3025-001").await;
    assert_eq!(by_sku, created);

    // Defaults: no cost, empty attributes, empty description.
    let (status, plain) = app
        .call(
            Method::POST,
            "/products",
            Some(json!({ "sku": "AB1", "name": "Plain", "categoryId": frames, "brand": "Acme", "price": 0 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plain}");
    assert!(plain["cost"].is_null(), "{plain}");
    assert_eq!(plain["attributes"], json!({}));
    assert_eq!(plain["description"], "");
    assert_eq!(plain["price"], 0);
}

#[tokio::test]
async fn unknown_and_malformed_products_are_404() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    add(&app, "FR-001", "Aviator", frames, 500_000).await;

    get_problem(
        &app,
        &format!("/products/{}", Uuid::new_v4()),
        StatusCode::NOT_FOUND,
    )
    .await;
    get_problem(&app, "/products/not-a-uuid", StatusCode::NOT_FOUND).await;
    get_problem(&app, "/products/sku/FR-999", StatusCode::NOT_FOUND).await;
    // A sku that cannot exist (lower case, leading dash, too short) is simply not found.
    for sku in ["fr-001", "-FR-001", "FR", "FR%20001"] {
        get_problem(&app, &format!("/products/sku/{sku}"), StatusCode::NOT_FOUND).await;
    }
    assert_eq!(
        get_ok(&app, "/products/sku/FR-001").await["name"],
        "Aviator"
    );
}

#[tokio::test]
async fn a_duplicate_sku_is_409_naming_sku() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    add(&app, "FR-001", "Aviator", frames, 500_000).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/products",
            Some(product_body("FR-001", "Another Aviator", frames, 1)),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(error_fields(&body), ["sku"], "{body}");
    let list = get_ok(&app, "/products").await;
    assert_eq!(names(&list), ["Aviator"]);
}

#[tokio::test]
async fn invalid_product_fields_are_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;

    let (status, body) = app
        .call(
            Method::POST,
            "/products",
            Some(json!({
                "sku": "bad sku", "name": "Aviator", "categoryId": frames, "brand": "Acme",
                "price": -1, "attributes": [1, 2],
            })),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: BTreeSet<String> = error_fields(&body).into_iter().collect();
    assert_eq!(fields, set(&["attributes", "price", "sku"]), "{body}");
    assert!(body["errors"].as_array().is_some_and(|e| e
        .iter()
        .all(|e| e["message"].as_str().is_some_and(|m| !m.is_empty()))));

    let cases = [
        ("sku", json!("-AB-1")),
        ("sku", json!("ab-123")),
        ("sku", json!("A".repeat(33))),
        ("price", json!(1_000_000_001_i64)),
        ("attributes", json!("frame size 52")),
        ("attributes", json!(null)),
        ("name", json!("")),
        ("brand", json!("")),
    ];
    for (field, value) in cases {
        let mut product = product_body("GOOD-1", "Aviator", frames, 1_000);
        product[field] = value.clone();
        let (status, body) = app.call(Method::POST, "/products", Some(product)).await;
        if field == "attributes" && value.is_null() {
            // null is not an object: either refused as invalid or as malformed, never stored.
            assert!(
                status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
                "{status} {body}"
            );
            continue;
        }
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&body), [field], "{field}={value}: {body}");
    }

    // Money is integer minor units: a float is malformed.
    let mut product = product_body("GOOD-1", "Aviator", frames, 1_000);
    product["price"] = json!(10.5);
    let (status, body) = app.call(Method::POST, "/products", Some(product)).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST);

    let list = get_ok(&app, "/products").await;
    assert!(items(&list).is_empty(), "nothing was stored: {list}");
}

#[tokio::test]
async fn an_unknown_category_is_422_naming_category_id() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/products",
            Some(product_body("FR-001", "Aviator", Uuid::new_v4(), 1_000)),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["categoryId"], "{body}");

    let product = add(&app, "FR-001", "Aviator", frames, 1_000).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/products/{}", id_of(&product)),
            Some(json!({ "categoryId": Uuid::new_v4() })),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["categoryId"], "{body}");
    let stored = get_ok(&app, &format!("/products/{}", id_of(&product))).await;
    assert_eq!(stored["categoryId"], frames.to_string());
}

#[tokio::test]
async fn patching_a_product_changes_price_category_sku_and_cost() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    let sunglasses = app.create_category("Sunglasses").await;
    let mut body = product_body("FR-001", "Aviator", frames, 500_000);
    body["cost"] = json!(200_000);
    let product = post_product(&app, body).await;
    let id = id_of(&product);
    add(&app, "FR-002", "Wayfarer", frames, 400_000).await;
    let path = format!("/products/{id}");
    let patch = |body: Value| {
        let (app, path) = (&app, &path);
        async move { app.call(Method::PATCH, path, Some(body)).await }
    };

    // Read everything once first, so a stale cache would show below.
    get_ok(&app, &path).await;
    get_ok(&app, "/products/sku/FR-001").await;
    get_ok(&app, &format!("/categories/{frames}/products")).await;
    get_ok(&app, &format!("/categories/{sunglasses}/products")).await;

    let (status, body) = patch(json!({ "price": 550_000 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["price"], 550_000);
    assert_eq!(body["cost"], 200_000, "an absent cost stays");
    assert_eq!(body["sku"], "FR-001");
    assert_eq!(body["name"], "Aviator");
    assert_eq!(get_ok(&app, &path).await["price"], 550_000);

    let (status, body) = patch(json!({ "categoryId": sunglasses })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["categoryId"], sunglasses.to_string());
    let old = get_ok(&app, &format!("/categories/{frames}/products")).await;
    assert_eq!(skus(&old), ["FR-002"]);
    let new = get_ok(&app, &format!("/categories/{sunglasses}/products")).await;
    assert_eq!(skus(&new), ["FR-001"]);
    assert_eq!(
        skus(&get_ok(&app, &format!("/products?category={sunglasses}")).await),
        ["FR-001"]
    );

    let (status, body) = patch(json!({ "sku": "SG-001" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sku"], "SG-001");
    get_problem(&app, "/products/sku/FR-001", StatusCode::NOT_FOUND).await;
    let by_new = get_ok(&app, "/products/sku/SG-001").await;
    assert_eq!(id_of(&by_new), id);
    assert_eq!(by_new["price"], 550_000);

    let (status, body) = patch(json!({ "sku": "FR-002" })).await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(error_fields(&body), ["sku"], "{body}");
    let (status, body) = patch(json!({ "price": -5, "sku": "bad" })).await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: BTreeSet<String> = error_fields(&body).into_iter().collect();
    assert_eq!(fields, set(&["price", "sku"]), "{body}");

    let (status, body) = patch(json!({ "cost": null })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["cost"].is_null(), "{body}");
    let stored = get_ok(&app, &path).await;
    assert!(stored["cost"].is_null(), "{stored}");
    assert_eq!(stored["sku"], "SG-001");
    assert_eq!(stored["price"], 550_000);
    assert_eq!(stored["categoryId"], sunglasses.to_string());

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/products/{}", Uuid::new_v4()),
            Some(json!({ "price": 1 })),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sales_and_technicians_read_products_but_cannot_change_them() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let frames = app.create_category("Frames").await;
    let product = add(&app, "FR-001", "Aviator", frames, 500_000).await;
    let path = format!("/products/{}", id_of(&product));

    for (i, role) in ["sales", "technician"].into_iter().enumerate() {
        let (_, token) = app
            .create_user(&format!("{role}1"), &[role], &[store])
            .await;
        let (status, list) = app.call_as(&token, Method::GET, "/products", None).await;
        assert_eq!(status, StatusCode::OK, "{role}: {list}");
        assert_eq!(skus(&list), ["FR-001"]);
        let (status, one) = app.call_as(&token, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{role}: {one}");
        let (status, one) = app
            .call_as(&token, Method::GET, "/products/sku/FR-001", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{role}: {one}");

        let (status, body) = app
            .call_as(
                &token,
                Method::POST,
                "/products",
                Some(product_body(&format!("NEW-00{i}"), "New", frames, 1)),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        let (status, body) = app
            .call_as(&token, Method::PATCH, &path, Some(json!({ "price": 1 })))
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
    }
    let stored = get_ok(&app, &path).await;
    assert_eq!(stored["price"], 500_000);
    assert_eq!(skus(&get_ok(&app, "/products").await), ["FR-001"]);

    let (_, manager) = app.create_user("manager1", &["manager"], &[store]).await;
    let (status, body) = app
        .call_as(
            &manager,
            Method::POST,
            "/products",
            Some(product_body("FR-002", "Wayfarer", frames, 1)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .call_as(
            &manager,
            Method::PATCH,
            &path,
            Some(json!({ "price": 450_000 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["price"], 450_000);
}

// ------------------------------------------------------------------------------------ filters

#[tokio::test]
async fn products_filter_by_category_brand_status_and_price() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    let lenses = app.create_category("Lenses").await;
    let make = |sku: &str, category: Uuid, brand: &str, price: i64, status: &str| {
        json!({
            "sku": sku, "name": format!("Product {sku}"), "categoryId": category,
            "brand": brand, "price": price, "status": status,
        })
    };
    post_product(&app, make("A-001", frames, "Ray-Ban", 500_000, "active")).await;
    post_product(&app, make("B-001", frames, "Oakley", 300_000, "active")).await;
    post_product(&app, make("C-001", lenses, "Zeiss", 150_000, "active")).await;
    post_product(&app, make("D-001", lenses, "Ray-Ban", 800_000, "inactive")).await;
    post_product(
        &app,
        make("E-001", frames, "Titan", 100_000, "discontinued"),
    )
    .await;

    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            String::new(),
            vec!["A-001", "B-001", "C-001", "D-001", "E-001"],
        ),
        (
            format!("category={frames}"),
            vec!["A-001", "B-001", "E-001"],
        ),
        (format!("category={lenses}"), vec!["C-001", "D-001"]),
        ("brand=Ray-Ban".into(), vec!["A-001", "D-001"]),
        (format!("brand=Ray-Ban&category={lenses}"), vec!["D-001"]),
        ("brand=Nobody".into(), vec![]),
        ("status=active".into(), vec!["A-001", "B-001", "C-001"]),
        ("status=inactive".into(), vec!["D-001"]),
        ("status=discontinued".into(), vec!["E-001"]),
        // Bounds are inclusive.
        (
            "minPrice=150000&maxPrice=500000".into(),
            vec!["A-001", "B-001", "C-001"],
        ),
        ("minPrice=500001".into(), vec!["D-001"]),
        ("maxPrice=100000".into(), vec!["E-001"]),
        ("minPrice=300000&maxPrice=300000".into(), vec!["B-001"]),
        (
            format!("category={frames}&status=active&minPrice=400000"),
            vec!["A-001"],
        ),
    ];
    for (query, expected) in cases {
        let list = get_ok(&app, &format!("/products?{query}")).await;
        assert_eq!(sku_set(&list), set(&expected), "?{query}");
    }

    // A price range nothing lies in is an empty page (no schema can relate two parameters).
    let list = get_ok(&app, "/products?minPrice=600000&maxPrice=100").await;
    assert_eq!(sku_set(&list), set(&[]), "minPrice above maxPrice");
    for bad in [
        "minPrice=abc",
        "status=deleted",
        "category=frames",
        "inStock=maybe",
        "colour=red",
    ] {
        get_problem(&app, &format!("/products?{bad}"), StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn in_stock_filter_follows_the_quantity() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    add(&app, "FR-001", "Aviator", frames, 500_000).await;
    add(&app, "FR-002", "Wayfarer", frames, 400_000).await;
    add(&app, "FR-003", "Round", frames, 300_000).await;
    set_quantity(&app, "FR-001", 5).await;
    set_quantity(&app, "FR-003", 1).await;

    let list = get_ok(&app, "/products?inStock=true").await;
    assert_eq!(skus(&list), ["FR-001", "FR-003"]);
    let aviator = &items(&list)[0];
    assert_eq!(aviator["quantity"], 5);
    assert_eq!(aviator["inStock"], true);
    let list = get_ok(&app, "/products?inStock=false").await;
    assert_eq!(skus(&list), ["FR-002"]);
    assert_eq!(items(&list)[0]["inStock"], false);
    let list = get_ok(&app, "/products?inStock=true&maxPrice=400000").await;
    assert_eq!(skus(&list), ["FR-003"]);
    let one = get_ok(&app, "/products/sku/FR-003").await;
    assert_eq!(
        (one["quantity"].clone(), one["inStock"].clone()),
        (json!(1), json!(true))
    );
}

// ------------------------------------------------------------------------------------ sorting

#[tokio::test]
async fn products_sort_by_price_name_and_sales() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    add(&app, "P-1", "Cat Eye", frames, 300_000).await;
    add(&app, "P-2", "Aviator", frames, 900_000).await;
    add(&app, "P-3", "Round", frames, 100_000).await;
    add(&app, "P-4", "Browline", frames, 500_000).await;
    set_sales(&app, "P-1", 10).await;
    set_sales(&app, "P-2", 3).await;
    set_sales(&app, "P-3", 40).await;
    set_sales(&app, "P-4", 0).await;

    let order = |list: Value| skus(&list);
    assert_eq!(
        order(get_ok(&app, "/products?sort=price").await),
        ["P-3", "P-1", "P-4", "P-2"]
    );
    assert_eq!(
        order(get_ok(&app, "/products?sort=-price").await),
        ["P-2", "P-4", "P-1", "P-3"]
    );
    assert_eq!(
        order(get_ok(&app, "/products?sort=name").await),
        ["P-2", "P-4", "P-1", "P-3"]
    );
    // A plain list goes by name.
    assert_eq!(
        order(get_ok(&app, "/products").await),
        ["P-2", "P-4", "P-1", "P-3"]
    );
    let by_sales = get_ok(&app, "/products?sort=-sales").await;
    assert_eq!(skus(&by_sales), ["P-3", "P-1", "P-2", "P-4"]);
    assert_eq!(items(&by_sales)[0]["salesCount"], 40);

    for bad in ["cost", "-name", "sales", "PRICE"] {
        get_problem(
            &app,
            &format!("/products?sort={bad}"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

/// Seven products with ties in every sort key, so pages must break ties by id.
async fn tied_catalogue(app: &TestApp) -> Vec<Value> {
    let frames = app.create_category("Frames").await;
    let specs: [(&str, &str, i64, i64); 7] = [
        ("T-1", "Oval", 200_000, 5),
        ("T-2", "Aviator", 100_000, 5),
        ("T-3", "Oval", 200_000, 9),
        ("T-4", "Round", 300_000, 0),
        ("T-5", "Aviator", 200_000, 5),
        ("T-6", "Square", 100_000, 9),
        ("T-7", "Oval", 50_000, 0),
    ];
    let mut products = Vec::new();
    for (sku, name, price, sales) in specs {
        add(app, sku, name, frames, price).await;
        set_sales(app, sku, sales).await;
    }
    for (sku, ..) in specs {
        products.push(get_ok(app, &format!("/products/sku/{sku}")).await);
    }
    products
}

fn sorted_ids(products: &[Value], sort: &str) -> Vec<String> {
    let mut products: Vec<&Value> = products.iter().collect();
    let id = |p: &Value| p["id"].as_str().expect("id").to_owned();
    let int = |p: &Value, key: &str| p[key].as_i64().expect("number");
    match sort {
        "name" => products.sort_by_key(|p| (p["name"].as_str().expect("name").to_owned(), id(p))),
        "price" => products.sort_by_key(|p| (int(p, "price"), id(p))),
        "-price" => {
            products.sort_by_key(|p| (int(p, "price"), id(p)));
            products.reverse();
        }
        "-sales" => {
            products.sort_by_key(|p| (int(p, "salesCount"), id(p)));
            products.reverse();
        }
        other => panic!("no sort {other}"),
    }
    products.into_iter().map(id).collect()
}

#[tokio::test]
async fn every_sort_pages_through_all_products_two_at_a_time() {
    let app = TestApp::spawn().await;
    let products = tied_catalogue(&app).await;

    for sort in ["name", "price", "-price", "-sales"] {
        let walked = walk(&app, &format!("/products?sort={sort}&limit=2"), 2).await;
        assert_distinct(&walked, sort);
        assert_eq!(
            strings(&walked, "id"),
            sorted_ids(&products, sort),
            "sort={sort}: every product once, in order"
        );
        let whole = get_ok(&app, &format!("/products?sort={sort}&limit=100")).await;
        assert_eq!(strings(items(&whole), "id"), strings(&walked, "id"));
        assert!(whole["nextCursor"].is_null());
    }
    // No sort: by name.
    let walked = walk(&app, "/products?limit=2", 2).await;
    assert_eq!(strings(&walked, "id"), sorted_ids(&products, "name"));
    // A page size that divides the total exactly still ends with null.
    let walked = walk(&app, "/products?sort=price&limit=7", 7).await;
    assert_eq!(walked.len(), 7);
    // Filters hold on every page.
    let walked = walk(&app, "/products?sort=-price&limit=2&minPrice=100000", 2).await;
    let expected: Vec<String> = sorted_ids(&products, "-price")
        .into_iter()
        .filter(|id| {
            products
                .iter()
                .any(|p| p["id"] == id.as_str() && p["price"].as_i64() >= Some(100_000))
        })
        .collect();
    assert_eq!(strings(&walked, "id"), expected);
}

#[tokio::test]
async fn cursors_belong_to_their_sort_and_garbage_is_refused() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    add(&app, "FR-001", "Aviator Gold", frames, 500_000).await;
    add(&app, "FR-002", "Aviator Silver", frames, 400_000).await;
    add(&app, "FR-003", "Round", frames, 300_000).await;

    let first = get_ok(&app, "/products?sort=price&limit=1").await;
    assert_eq!(skus(&first), ["FR-003"]);
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = get_ok(
        &app,
        &format!("/products?sort=price&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(skus(&next), ["FR-002"]);

    get_problem(
        &app,
        &format!("/products?sort=name&limit=1&cursor={cursor}"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    get_problem(
        &app,
        &format!("/products?limit=1&cursor={cursor}"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    get_problem(
        &app,
        &format!("/products?sort=-price&limit=1&cursor={cursor}"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // A search cursor pages by relevance and does not fit a sorted list either.
    let found = get_ok(&app, "/products?q=aviator&limit=1").await;
    let search_cursor = found["nextCursor"].as_str().expect("a second match");
    get_problem(
        &app,
        &format!("/products?sort=price&cursor={search_cursor}"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    get_ok(
        &app,
        &format!("/products?q=aviator&limit=1&cursor={search_cursor}"),
    )
    .await;

    for garbage in ["garbage!!", "AAAA", "eyJzIjoicHJpY2UifQ", "%00"] {
        get_problem(
            &app,
            &format!("/products?sort=price&cursor={garbage}"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    for limit in ["0", "101", "-1", "ten"] {
        get_problem(
            &app,
            &format!("/products?limit={limit}"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    assert_eq!(items(&get_ok(&app, "/products?limit=100").await).len(), 3);
}

// ------------------------------------------------------------------------------------- search

async fn search(app: &TestApp, q: &str) -> Value {
    get_ok(app, &format!("/products?q={q}&limit=100")).await
}

#[tokio::test]
async fn search_finds_words_prefixes_and_typos() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    let lenses = app.create_category("Lenses").await;
    add_described(
        &app,
        "SG-001",
        "Classic Aviator Sunglasses",
        "Gold metal frame with green lenses",
        "Ray-Ban",
        frames,
    )
    .await;
    add_described(
        &app,
        "FR-001",
        "Round Wayfarer",
        "Acetate frame in tortoiseshell",
        "Vogue",
        frames,
    )
    .await;
    add_described(
        &app,
        "LN-001",
        "Progressive Lens 1.67",
        "Thin high-index lens for reading and distance",
        "Zeiss",
        lenses,
    )
    .await;
    add_described(
        &app,
        "CL-001",
        "Daily Contact Lenses",
        "Pack of 30 soft lenses",
        "Acuvue",
        lenses,
    )
    .await;

    let cases: [(&str, &[&str]); 18] = [
        // A whole word of the name, in any case.
        ("aviator", &["SG-001"]),
        ("AVIATOR", &["SG-001"]),
        ("wayfarer", &["FR-001"]),
        // A word of the description only.
        ("tortoiseshell", &["FR-001"]),
        ("acetate", &["FR-001"]),
        // Prefixes.
        ("aviat", &["SG-001"]),
        ("progr", &["LN-001"]),
        // Misspelled words of the name: a letter missing, wrong or doubled.
        ("aviatr", &["SG-001"]),
        ("aviater", &["SG-001"]),
        ("sunglases", &["SG-001"]),
        ("progresive", &["LN-001"]),
        ("classic%20aviatr", &["SG-001"]),
        // Swapped letters, the commonest typo of all.
        ("avaitor", &["SG-001"]),
        ("wyafarer", &["FR-001"]),
        // Every word must match the same product: no product is both.
        ("tortoiseshell%20aviator", &[]),
        // The brand, and words across fields all present.
        ("ray-ban", &["SG-001"]),
        ("gold%20aviator", &["SG-001"]),
        ("xyzzy", &[]),
    ];
    for (q, expected) in cases {
        let found = search(&app, q).await;
        assert_eq!(sku_set(&found), set(expected), "q={q}: {found}");
    }
    let found = search(&app, "lenses").await;
    assert!(
        sku_set(&found).is_superset(&set(&["CL-001", "SG-001"])),
        "{found}"
    );
    // Search combines with filters.
    let found = get_ok(&app, &format!("/products?q=lens&category={frames}")).await;
    assert_eq!(sku_set(&found), set(&["SG-001"]), "{found}");

    // A q without a letter or digit has no word to search for: like a blank one, it lists
    // everything (no schema can say "at least one letter", so it may not be refused).
    let everything = sku_set(&get_ok(&app, "/products").await);
    for q in ["!!!", "%26%7C%21%3A*()", "-", "%27%22", "%20"] {
        let found = get_ok(&app, &format!("/products?q={q}")).await;
        assert_eq!(sku_set(&found), everything, "q={q}");
    }
}

#[tokio::test]
async fn search_ranks_name_matches_above_description_matches() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    // Created first, so an id tie-break alone would put them first.
    add_described(
        &app,
        "DS-001",
        "Round Metal Frame",
        "Shaped like a classic aviator",
        "Acme",
        frames,
    )
    .await;
    add_described(
        &app,
        "DS-002",
        "Square Acetate Frame",
        "Bolder than an aviator",
        "Acme",
        frames,
    )
    .await;
    add_described(
        &app,
        "NM-001",
        "Titanium Aviator",
        "Lightweight and strong",
        "Acme",
        frames,
    )
    .await;
    add_described(&app, "XX-001", "Cat Eye", "Retro", "Acme", frames).await;

    let found = search(&app, "aviator").await;
    let order = skus(&found);
    assert_eq!(order.len(), 3, "{found}");
    assert_eq!(order[0], "NM-001", "the name match first: {order:?}");
    assert_eq!(
        order[1..].iter().cloned().collect::<BTreeSet<_>>(),
        set(&["DS-001", "DS-002"])
    );
    // A misspelled name word still finds the product.
    assert!(skus(&search(&app, "titanum").await).contains(&"NM-001".to_owned()));
}

#[tokio::test]
async fn search_pages_one_at_a_time_through_all_matches() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    for (sku, name, description) in [
        ("AV-001", "Aviator Gold", "Metal"),
        ("AV-002", "Round Frame", "Like an aviator"),
        ("AV-003", "Aviator Silver", "Metal aviator frame"),
        ("AV-004", "Aviater Kids", "Small"),
        ("AV-005", "Pilot Aviator", "Polarised"),
        ("NO-001", "Cat Eye", "Retro"),
        ("NO-002", "Wayfarer", "Acetate"),
    ] {
        add_described(&app, sku, name, description, "Acme", frames).await;
    }
    let whole = search(&app, "aviator").await;
    assert!(whole["nextCursor"].is_null());
    let whole_ids = strings(items(&whole), "id");
    assert_eq!(
        sku_set(&whole),
        set(&["AV-001", "AV-002", "AV-003", "AV-004", "AV-005"]),
        "{whole}"
    );

    let walked = walk(&app, "/products?q=aviator&limit=1", 1).await;
    assert_distinct(&walked, "search");
    assert_eq!(
        strings(&walked, "id"),
        whole_ids,
        "same matches in the same order"
    );

    let walked = walk(&app, "/products?q=aviator&limit=2", 2).await;
    assert_eq!(strings(&walked, "id"), whole_ids);

    // An explicit sort orders the matches instead of relevance, and pages too.
    let walked = walk(&app, "/products?q=aviator&sort=name&limit=2", 2).await;
    let names: Vec<String> = strings(&walked, "name");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(walked.len(), 5);
}

// -------------------------------------------------------------------------------- bestsellers

#[tokio::test]
async fn bestsellers_rank_active_products_by_units_sold() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    for (sku, sales, status) in [
        ("BS-A", 50, "active"),
        ("BS-B", 200, "active"),
        ("BS-C", 10, "active"),
        ("BS-D", 500, "inactive"),
        ("BS-E", 0, "active"),
        ("BS-F", 1000, "discontinued"),
        ("BS-G", 120, "active"),
    ] {
        let mut body = product_body(sku, &format!("Product {sku}"), frames, 1_000);
        body["status"] = json!(status);
        post_product(&app, body).await;
        set_sales(&app, sku, sales).await;
    }

    let top = get_ok(&app, "/products/bestsellers").await;
    assert_eq!(skus(&top), ["BS-B", "BS-G", "BS-A", "BS-C", "BS-E"]);
    assert_eq!(items(&top)[0]["salesCount"], 200);
    assert!(top["nextCursor"].is_null());

    let top = get_ok(&app, "/products/bestsellers?limit=2").await;
    assert_eq!(skus(&top), ["BS-B", "BS-G"]);
    let top = get_ok(&app, "/products/bestsellers?limit=1").await;
    assert_eq!(skus(&top), ["BS-B"]);

    for bad in ["1000", "0", "-3", "many"] {
        get_problem(
            &app,
            &format!("/products/bestsellers?limit={bad}"),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

#[tokio::test]
async fn bestsellers_default_to_ten() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    for i in 0..12_i64 {
        let sku = format!("BS-{i:02}");
        add(&app, &sku, &format!("Product {i}"), frames, 1_000).await;
        set_sales(&app, &sku, 100 - i).await;
    }
    let top = get_ok(&app, "/products/bestsellers").await;
    let expected: Vec<String> = (0..10).map(|i| format!("BS-{i:02}")).collect();
    assert_eq!(skus(&top), expected);
}
