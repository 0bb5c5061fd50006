//! A write is visible on the very next read of everything it changed: `X-Cache: miss` (or a
//! hit moved forward), then `hit`, with the new values.

use super::*;

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

/// An order of two products moves both products' cached figures forward, by id and by sku,
/// and both of the store's rows: the figures come back from the order's own statement, one
/// per product and row, and each must land on its own key.
#[tokio::test]
async fn an_order_of_two_products_moves_both_products_figures_forward() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let second = product(app, s.category, "CACHE-02", 7_000).await;
    stock_in(app, s.store, second, 20).await;
    let paths = |product: Uuid, sku: &str| {
        [
            format!("/products/{product}"),
            format!("/products/sku/{sku}"),
            format!("/stores/{}/inventory/{product}", s.store),
        ]
    };
    let first_paths = paths(s.product, &s.sku);
    let second_paths = paths(second, "CACHE-02");
    for path in first_paths.iter().chain(&second_paths) {
        cache_it(app, token, path).await;
    }

    place_ok(
        app,
        token,
        s.store,
        s.customer,
        &[(s.product, 3), (second, 5)],
    )
    .await;

    for (paths, quantity, sold) in [(&first_paths, STOCK - 3, 3), (&second_paths, 15, 5)] {
        let [by_id, by_sku, row] = paths;
        for path in [by_id, by_sku] {
            let fresh = hit_afresh(app, token, path).await;
            assert_eq!(
                (fresh["quantity"].clone(), fresh["salesCount"].clone()),
                (json!(quantity), json!(sold)),
                "{path}: {fresh}"
            );
        }
        let fresh = hit_afresh(app, token, row).await;
        assert_eq!(fresh["quantity"], quantity, "{row}: {fresh}");
    }
}

/// A category's page stays cached across a sale (its order by name does not change), and its
/// hit shows the product's newest figures: each body is answered as stored with the figures
/// spliced in, the same bytes as the product's own read.
#[tokio::test]
async fn a_cached_category_page_shows_the_newest_figures_after_a_sale() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let page = format!("/categories/{}/products", s.category);
    let product = format!("/products/{}", s.product);
    let before = cache_it(app, token, &page).await;
    assert_eq!(
        item_with(&before, "id", s.product)
            .map(|p| (p["quantity"].clone(), p["salesCount"].clone())),
        Some((json!(STOCK), json!(0))),
        "{before}"
    );

    s.order(2).await;

    let after = hit_afresh(app, token, &page).await;
    let listed = item_with(&after, "id", s.product).expect("listed").clone();
    assert_eq!(
        (listed["quantity"].clone(), listed["salesCount"].clone()),
        (json!(STOCK - 2), json!(2)),
        "{after}"
    );
    let (_, own) = read(app, token, &product).await;
    assert_eq!(
        listed, own,
        "the listed product is the product as read alone"
    );
    assert_eq!(after["nextCursor"], before["nextCursor"]);
    assert_eq!(ids(items(&after)), ids(items(&before)));
}

/// A cached order is answered as stored, its store read out of it for the access check; a
/// body of another shape there (cached by an older build, without `storeId`) is neither
/// answered nor a 500: the order is read from the database.
#[tokio::test]
async fn a_cached_order_of_another_shape_is_read_from_the_database() {
    let s = shop().await;
    let (app, token) = (&s.app, s.token());
    let order = s.order(1).await;
    let path = format!("/orders/{order}");
    let cached = cache_it(app, token, &path).await;

    let key = cache::keys::redis_name(
        &format!("{}:", app.database_name),
        &format!("order:{order}"),
    );
    let mut conn = test_redis().await;
    let _: i64 = redis::cmd("HSET")
        .arg(&key)
        .arg("")
        .arg(json!({ "id": order, "status": "pending" }).to_string())
        .query_async(&mut conn)
        .await
        .expect("HSET");

    let (outcome, body) = read(app, token, &path).await;
    assert_eq!(outcome, "bypass", "{body}");
    assert_eq!(body, cached, "the order as the database has it");
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

/// Staff see a customer's orders in their own stores, so the history is cached once per
/// set of stores. An order forgets them all and loads back every one that was cached, not
/// only the writer's: the next read in each scope is a hit with the new order.
#[tokio::test]
async fn an_order_loads_the_customer_s_history_back_for_every_scope_it_was_cached_in() {
    let s = shop().await;
    let app = &s.app;
    let other = app.create_store("MUM01").await;
    let (_, one_store) = app.create_user("sales_one", &["sales"], &[s.store]).await;
    let (_, two_stores) = app
        .create_user("sales_two", &["sales"], &[s.store, other])
        .await;
    let path = format!("/customers/{}/orders", s.customer);
    let key = format!("customer:{}:orders:recent", s.customer);
    for token in [&one_store, &two_stores] {
        assert!(items(&cache_it(app, token, &path).await).is_empty());
    }
    assert_eq!(
        cached_variants(app, &key).await.len(),
        2,
        "one page per scope"
    );

    let order = s.order(1).await;

    // The readers' two pages and the writer's (the admin's), loaded back by the warming
    // (watched in Redis: a read through the API would load its own page itself).
    let cached = wait_for_pages(app, &key, 3).await;
    assert_eq!(
        cached.len(),
        3,
        "pages cached 5 s after the order: {cached:?}"
    );
    for token in [&one_store, &two_stores] {
        let (outcome, listed) = read(app, token, &path).await;
        assert_eq!(outcome, "hit", "{listed}");
        assert_eq!(ids(items(&listed)), vec![order], "{listed}");
    }
}

/// The pages loaded back after an order come from one read of the customer's newest orders in
/// every cached scope's stores, cut per scope: each scope's page holds its own stores' orders
/// only, and a page cut from it has a cursor that goes on where a read of its own would.
#[tokio::test]
async fn a_history_loaded_back_for_several_scopes_shows_each_its_own_stores() {
    let s = shop().await;
    let app = &s.app;
    // 22 orders of one unit.
    stock_in(app, s.store, s.product, 20).await;
    let other = app.create_store("MUM01").await;
    let (_, here) = app.create_user("sales_here", &["sales"], &[s.store]).await;
    let (_, elsewhere) = app
        .create_user("sales_elsewhere", &["sales"], &[other])
        .await;
    let path = format!("/customers/{}/orders", s.customer);
    let key = format!("customer:{}:orders:recent", s.customer);

    for round in 0..2 {
        // The first round's order fits in one page; the second round's history of 22 does not.
        if round == 1 {
            for _ in 0..20 {
                s.order(1).await;
            }
        }
        for token in [&here, &elsewhere] {
            cache_it(app, token, &path).await;
        }
        // One order at a time: an order placed while the last one's pages are being loaded
        // back finds none cached and loads the writer's alone.
        let last = s.order(1).await;
        let cached = wait_for_pages(app, &key, 3).await;
        assert_eq!(cached.len(), 3, "round {round}: pages cached: {cached:?}");

        let (outcome, mine) = read(app, &here, &path).await;
        assert_eq!(outcome, "hit", "round {round}: {mine}");
        assert_eq!(
            items(&mine).len(),
            if round == 0 { 1 } else { 20 },
            "{mine}"
        );
        assert_eq!(ids(&items(&mine)[..1]), vec![last]);
        assert_eq!(mine["nextCursor"].is_null(), round == 0, "{mine}");
        if let Some(cursor) = mine["nextCursor"].as_str() {
            let (_, rest) = read(app, &here, &format!("{path}?cursor={cursor}")).await;
            assert_eq!(items(&rest).len(), 2, "the 21st and 22nd orders: {rest}");
            assert!(rest["nextCursor"].is_null(), "{rest}");
        }
        let (outcome, theirs) = read(app, &elsewhere, &path).await;
        assert_eq!(outcome, "hit", "round {round}: {theirs}");
        assert!(
            items(&theirs).is_empty(),
            "another store's orders: {theirs}"
        );
        assert!(theirs["nextCursor"].is_null(), "{theirs}");
    }
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
