//! Product list filters: category, brand, status, price range, stock.

use super::*;

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
        let list = get_ok(&app, &app.admin_token, &format!("/products?{query}")).await;
        assert_eq!(sku_set(&list), set(&expected), "?{query}");
    }

    // A price range nothing lies in is an empty page (no schema can relate two parameters).
    let list = get_ok(
        &app,
        &app.admin_token,
        "/products?minPrice=600000&maxPrice=100",
    )
    .await;
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

    let list = get_ok(&app, &app.admin_token, "/products?inStock=true").await;
    assert_eq!(skus(&list), ["FR-001", "FR-003"]);
    let aviator = &items(&list)[0];
    assert_eq!(aviator["quantity"], 5);
    assert_eq!(aviator["inStock"], true);
    let list = get_ok(&app, &app.admin_token, "/products?inStock=false").await;
    assert_eq!(skus(&list), ["FR-002"]);
    assert_eq!(items(&list)[0]["inStock"], false);
    let list = get_ok(
        &app,
        &app.admin_token,
        "/products?inStock=true&maxPrice=400000",
    )
    .await;
    assert_eq!(skus(&list), ["FR-003"]);
    let one = get_ok(&app, &app.admin_token, "/products/sku/FR-003").await;
    assert_eq!(
        (one["quantity"].clone(), one["inStock"].clone()),
        (json!(1), json!(true))
    );
}
