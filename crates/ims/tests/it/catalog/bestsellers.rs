//! Best sellers: active products by units sold.

use super::*;

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

    let top = get_ok(&app, &app.admin_token, "/products/bestsellers").await;
    assert_eq!(skus(&top), ["BS-B", "BS-G", "BS-A", "BS-C", "BS-E"]);
    assert_eq!(items(&top)[0]["salesCount"], 200);
    assert!(top["nextCursor"].is_null());

    let top = get_ok(&app, &app.admin_token, "/products/bestsellers?limit=2").await;
    assert_eq!(skus(&top), ["BS-B", "BS-G"]);
    let top = get_ok(&app, &app.admin_token, "/products/bestsellers?limit=1").await;
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
    let top = get_ok(&app, &app.admin_token, "/products/bestsellers").await;
    let expected: Vec<String> = (0..10).map(|i| format!("BS-{i:02}")).collect();
    assert_eq!(skus(&top), expected);
}
