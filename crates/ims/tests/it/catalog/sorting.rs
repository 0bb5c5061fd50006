//! Product lists sorted by price, name and units sold, every sort paged with its own
//! cursors, and cursors of another sort or garbage refused.

use super::*;

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
        order(get_ok(&app, &app.admin_token, "/products?sort=price").await),
        ["P-3", "P-1", "P-4", "P-2"]
    );
    assert_eq!(
        order(get_ok(&app, &app.admin_token, "/products?sort=-price").await),
        ["P-2", "P-4", "P-1", "P-3"]
    );
    assert_eq!(
        order(get_ok(&app, &app.admin_token, "/products?sort=name").await),
        ["P-2", "P-4", "P-1", "P-3"]
    );
    // A plain list goes by name.
    assert_eq!(
        order(get_ok(&app, &app.admin_token, "/products").await),
        ["P-2", "P-4", "P-1", "P-3"]
    );
    let by_sales = get_ok(&app, &app.admin_token, "/products?sort=-sales").await;
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
        products.push(get_ok(app, &app.admin_token, &format!("/products/sku/{sku}")).await);
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
        let walked = walk(&app, &app.admin_token, &format!("/products?sort={sort}"), 2).await;
        assert_distinct(&walked, sort);
        assert_eq!(
            strings(&walked, "id"),
            sorted_ids(&products, sort),
            "sort={sort}: every product once, in order"
        );
        let whole = get_ok(
            &app,
            &app.admin_token,
            &format!("/products?sort={sort}&limit=100"),
        )
        .await;
        assert_eq!(strings(items(&whole), "id"), strings(&walked, "id"));
        assert!(whole["nextCursor"].is_null());
    }
    // No sort: by name.
    let walked = walk(&app, &app.admin_token, "/products", 2).await;
    assert_eq!(strings(&walked, "id"), sorted_ids(&products, "name"));
    // A page size that divides the total exactly still ends with null.
    let walked = walk(&app, &app.admin_token, "/products?sort=price", 7).await;
    assert_eq!(walked.len(), 7);
    // Filters hold on every page.
    let walked = walk(
        &app,
        &app.admin_token,
        "/products?sort=-price&minPrice=100000",
        2,
    )
    .await;
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

    let first = get_ok(&app, &app.admin_token, "/products?sort=price&limit=1").await;
    assert_eq!(skus(&first), ["FR-003"]);
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = get_ok(
        &app,
        &app.admin_token,
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
    let found = get_ok(&app, &app.admin_token, "/products?q=aviator&limit=1").await;
    let search_cursor = found["nextCursor"].as_str().expect("a second match");
    get_problem(
        &app,
        &format!("/products?sort=price&cursor={search_cursor}"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    get_ok(
        &app,
        &app.admin_token,
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
    assert_eq!(
        items(&get_ok(&app, &app.admin_token, "/products?limit=100").await).len(),
        3
    );
}
