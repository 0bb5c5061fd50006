//! Products: created and found by id and sku, the 404, 409 and 422 answers, patched, and
//! who may change them.

use super::*;

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

    let by_id = get_ok(&app, &app.admin_token, &format!("/products/{id}")).await;
    assert_eq!(by_id, created);
    let by_sku = get_ok(&app, &app.admin_token, "/products/sku/RB-3025-001").await;
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
        get_ok(&app, &app.admin_token, "/products/sku/FR-001").await["name"],
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
    let list = get_ok(&app, &app.admin_token, "/products").await;
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
    let fields = error_field_set(&body);
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

    let list = get_ok(&app, &app.admin_token, "/products").await;
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
    let stored = get_ok(
        &app,
        &app.admin_token,
        &format!("/products/{}", id_of(&product)),
    )
    .await;
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
    get_ok(&app, &app.admin_token, &path).await;
    get_ok(&app, &app.admin_token, "/products/sku/FR-001").await;
    get_ok(
        &app,
        &app.admin_token,
        &format!("/categories/{frames}/products"),
    )
    .await;
    get_ok(
        &app,
        &app.admin_token,
        &format!("/categories/{sunglasses}/products"),
    )
    .await;

    let (status, body) = patch(json!({ "price": 550_000 })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["price"], 550_000);
    assert_eq!(body["cost"], 200_000, "an absent cost stays");
    assert_eq!(body["sku"], "FR-001");
    assert_eq!(body["name"], "Aviator");
    assert_eq!(
        get_ok(&app, &app.admin_token, &path).await["price"],
        550_000
    );

    let (status, body) = patch(json!({ "categoryId": sunglasses })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["categoryId"], sunglasses.to_string());
    let old = get_ok(
        &app,
        &app.admin_token,
        &format!("/categories/{frames}/products"),
    )
    .await;
    assert_eq!(skus(&old), ["FR-002"]);
    let new = get_ok(
        &app,
        &app.admin_token,
        &format!("/categories/{sunglasses}/products"),
    )
    .await;
    assert_eq!(skus(&new), ["FR-001"]);
    assert_eq!(
        skus(
            &get_ok(
                &app,
                &app.admin_token,
                &format!("/products?category={sunglasses}")
            )
            .await
        ),
        ["FR-001"]
    );

    let (status, body) = patch(json!({ "sku": "SG-001" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sku"], "SG-001");
    get_problem(&app, "/products/sku/FR-001", StatusCode::NOT_FOUND).await;
    let by_new = get_ok(&app, &app.admin_token, "/products/sku/SG-001").await;
    assert_eq!(id_of(&by_new), id);
    assert_eq!(by_new["price"], 550_000);

    let (status, body) = patch(json!({ "sku": "FR-002" })).await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(error_fields(&body), ["sku"], "{body}");
    let (status, body) = patch(json!({ "price": -5, "sku": "bad" })).await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = error_field_set(&body);
    assert_eq!(fields, set(&["price", "sku"]), "{body}");

    let (status, body) = patch(json!({ "cost": null })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["cost"].is_null(), "{body}");
    let stored = get_ok(&app, &app.admin_token, &path).await;
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
    let stored = get_ok(&app, &app.admin_token, &path).await;
    assert_eq!(stored["price"], 500_000);
    assert_eq!(
        skus(&get_ok(&app, &app.admin_token, "/products").await),
        ["FR-001"]
    );

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
