//! The dashboard: today's orders and revenue (cancelled ones excluded), open orders and the
//! workshop queue by status, low and out-of-stock rows, the top products of the last 30 days,
//! scoped to the stores the caller may see.

use crate::support::ops::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, TestApp};
use uuid::Uuid;

async fn stats(app: &TestApp, token: &str, query: &str) -> Value {
    get_ok(app, token, &format!("/dashboard/stats{query}")).await
}

/// A count in a by-status map; a missing key counts as 0.
fn count(map: &Value, key: &str) -> i64 {
    map.get(key).map_or(0, |v| {
        v.as_i64()
            .unwrap_or_else(|| panic!("{key} is a count in {map}"))
    })
}

async fn job(app: &TestApp, order: Uuid, steps: &[&str]) {
    let (status, created) = app
        .call(
            Method::POST,
            "/workshop/jobs",
            Some(json!({ "orderId": order })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = id_of(&created);
    for step in steps {
        let (status, body) = app
            .call(
                Method::PATCH,
                &format!("/workshop/jobs/{id}/status"),
                Some(json!({ "status": step })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// (productId, unitsSold, revenue) of the top products, in order.
fn top(stats: &Value) -> Vec<(Uuid, i64, i64)> {
    stats["topProducts30Days"]
        .as_array()
        .unwrap_or_else(|| panic!("topProducts30Days in {stats}"))
        .iter()
        .map(|t| {
            (
                uuid_of(t, "productId"),
                i64_of(t, "unitsSold"),
                i64_of(t, "revenue"),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_dashboard_sums_up_a_stores_day() {
    let app = TestApp::spawn().await;
    let store_a = app.create_store("PUN01").await;
    let store_b = app.create_store("MUM01").await;
    let category = app.create_category("Frames").await;
    let buyer = id_of(&customer(&app, "Asha Rao", "+919876543210").await);
    let (_, manager) = app.create_user("manager_a", &["manager"], &[store_a]).await;
    let (_, sales) = app.create_user("sales_a", &["sales"], &[store_a]).await;
    let (_, technician) = app.create_user("tech_a", &["technician"], &[store_a]).await;

    let p1 = product(&app, category, "DASH-01", 1_000).await;
    let p2 = product(&app, category, "DASH-02", 500).await;
    let p3 = product(&app, category, "DASH-03", 200).await;
    let p4 = product(&app, category, "DASH-04", 9_000).await;
    let p5 = product(&app, category, "DASH-05", 700).await;
    for (product, quantity) in [(p1, 20), (p2, 6), (p3, 3), (p4, 10), (p5, 5)] {
        stock_in(&app, store_a, product, quantity).await;
    }
    stock_in(&app, store_b, p1, 30).await;
    stock_in(&app, store_b, p2, 2).await;

    // An empty day first (and a figure a cache might keep).
    let empty = stats(&app, &manager, "").await;
    assert_eq!(empty["ordersToday"], 0, "{empty}");
    assert_eq!(empty["revenueToday"], 0, "{empty}");
    assert!(top(&empty).is_empty(), "{empty}");
    assert_eq!(
        empty["lowStockCount"], 2,
        "p3 (3) and p5 (5) are low, p2 (6) not yet: {empty}"
    );

    let o1 = id_of(&place_ok(&app, &sales, store_a, buyer, &[(p1, 3)]).await);
    place_ok(&app, &sales, store_a, buyer, &[(p2, 2), (p3, 1)]).await;
    let o3 = id_of(&place_ok(&app, &sales, store_a, buyer, &[(p1, 1)]).await);
    place_ok(&app, &sales, store_a, buyer, &[(p3, 2)]).await;
    let o5 = id_of(&place_ok(&app, &sales, store_a, buyer, &[(p1, 1)]).await);
    let o6 = id_of(&place_ok(&app, &sales, store_a, buyer, &[(p1, 1)]).await);
    let ob = id_of(&place_ok(&app, &app.admin_token, store_b, buyer, &[(p1, 10)]).await);
    set_order_status(&app, o3, "cancelled").await;
    for status in ["confirmed", "in_workshop"] {
        set_order_status(&app, o1, status).await;
    }
    for status in ["confirmed", "in_workshop", "ready"] {
        set_order_status(&app, o5, status).await;
    }
    for status in ["confirmed", "in_workshop", "ready", "delivered"] {
        set_order_status(&app, o6, status).await;
    }
    job(&app, o1, &[]).await;
    job(&app, o1, &["in_progress", "quality_check"]).await;
    job(&app, o5, &["in_progress"]).await;
    job(&app, o6, &["in_progress", "quality_check", "completed"]).await;
    job(&app, ob, &[]).await;

    // Store A as its manager sees it, with or without naming the store.
    let mine = stats(&app, &manager, "").await;
    let named = stats(&app, &manager, &format!("?storeId={store_a}")).await;
    assert_eq!(named["storeId"], json!(store_a));
    for view in [&mine, &named] {
        // o1 3000 + o2 1200 + o4 400 + o5 1000 + o6 1000; the cancelled o3 does not count.
        assert_eq!(view["ordersToday"], 5, "{view}");
        assert_eq!(view["revenueToday"], 6_600, "{view}");
        let open = &view["openOrdersByStatus"];
        assert_eq!(count(open, "pending"), 2, "{view}");
        assert_eq!(count(open, "confirmed"), 0, "{view}");
        assert_eq!(count(open, "in_workshop"), 1, "{view}");
        assert_eq!(count(open, "ready"), 1, "{view}");
        assert_eq!(count(open, "delivered"), 0, "delivered is not open: {view}");
        assert_eq!(count(open, "cancelled"), 0, "cancelled is not open: {view}");
        let queue = &view["workshopQueueByStatus"];
        assert_eq!(count(queue, "queued"), 1, "{view}");
        assert_eq!(count(queue, "in_progress"), 1, "{view}");
        assert_eq!(count(queue, "quality_check"), 1, "{view}");
        assert_eq!(
            count(queue, "completed"),
            0,
            "completed is not queued: {view}"
        );
        // p1 15 and p4 10 in stock; p2 4 and p5 5 low; p3 0 out.
        assert_eq!(view["lowStockCount"], 2, "{view}");
        assert_eq!(view["outOfStockCount"], 1, "{view}");
        assert_eq!(
            top(view),
            [(p1, 5, 5_000), (p3, 3, 600), (p2, 2, 1_000)],
            "{view}"
        );
        let first = &view["topProducts30Days"][0];
        assert_eq!(first["sku"], "DASH-01");
        assert_eq!(first["name"], "Product DASH-01");
    }

    // The admin sees the whole chain, or one store.
    let chain = stats(&app, &app.admin_token, "").await;
    assert_eq!(chain["ordersToday"], 6, "{chain}");
    assert_eq!(chain["revenueToday"], 16_600, "{chain}");
    assert_eq!(count(&chain["openOrdersByStatus"], "pending"), 3, "{chain}");
    assert_eq!(
        count(&chain["workshopQueueByStatus"], "queued"),
        2,
        "{chain}"
    );
    assert_eq!(chain["lowStockCount"], 3, "{chain}");
    assert_eq!(chain["outOfStockCount"], 1, "{chain}");
    assert_eq!(
        top(&chain),
        [(p1, 15, 15_000), (p3, 3, 600), (p2, 2, 1_000)],
        "{chain}"
    );
    let b = stats(&app, &app.admin_token, &format!("?storeId={store_b}")).await;
    assert_eq!(b["ordersToday"], 1, "{b}");
    assert_eq!(b["revenueToday"], 10_000, "{b}");
    assert_eq!(b["lowStockCount"], 1, "{b}");
    assert_eq!(b["outOfStockCount"], 0, "{b}");
    assert_eq!(top(&b), [(p1, 10, 10_000)], "{b}");
    assert_eq!(
        top(&stats(&app, &manager, "").await),
        top(&mine),
        "B's sales are not A's"
    );

    // A stock change shows at once.
    let (status, body) = adjust_as(&app, &manager, store_a, p3, 20, "delivery").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let after = stats(&app, &manager, "").await;
    assert_eq!(after["outOfStockCount"], 0, "{after}");
    assert_eq!(after["lowStockCount"], 2, "{after}");

    // Another store's figures are forbidden to this manager; other roles see no dashboard.
    let (status, problem) = app
        .call_as(
            &manager,
            Method::GET,
            &format!("/dashboard/stats?storeId={store_b}"),
            None,
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN);
    for token in [&sales, &technician] {
        for query in [String::new(), format!("?storeId={store_a}")] {
            let (status, problem) = app
                .call_as(
                    token,
                    Method::GET,
                    &format!("/dashboard/stats{query}"),
                    None,
                )
                .await;
            assert_problem(status, &problem, StatusCode::FORBIDDEN);
        }
    }
    let (status, problem) = app
        .call(Method::GET, "/dashboard/stats?storeId=nope", None)
        .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_manager_of_several_stores_sees_them_together_and_each_alone() {
    let app = TestApp::spawn().await;
    let store_a = app.create_store("PUN01").await;
    let store_b = app.create_store("MUM01").await;
    let store_c = app.create_store("DEL01").await;
    let category = app.create_category("Frames").await;
    let buyer = id_of(&customer(&app, "Asha Rao", "+919876543210").await);
    let (_, manager) = app
        .create_user("manager_ab", &["manager"], &[store_a, store_b])
        .await;
    let frame = product(&app, category, "DASH-10", 1_500).await;
    for store in [store_a, store_b, store_c] {
        stock_in(&app, store, frame, 50).await;
    }
    for (store, quantity) in [(store_a, 1), (store_b, 2), (store_c, 4)] {
        place_ok(&app, &app.admin_token, store, buyer, &[(frame, quantity)]).await;
    }

    let both = stats(&app, &manager, "").await;
    assert_eq!(both["ordersToday"], 2, "{both}");
    assert_eq!(both["revenueToday"], 4_500, "{both}");
    assert_eq!(top(&both), [(frame, 3, 4_500)], "{both}");
    let a = stats(&app, &manager, &format!("?storeId={store_a}")).await;
    assert_eq!(a["revenueToday"], 1_500, "{a}");
    let b = stats(&app, &manager, &format!("?storeId={store_b}")).await;
    assert_eq!(b["revenueToday"], 3_000, "{b}");
    let (status, problem) = app
        .call_as(
            &manager,
            Method::GET,
            &format!("/dashboard/stats?storeId={store_c}"),
            None,
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN);
}

/// The low- and out-of-stock counts the dashboard reads (appended by inventory's trigger,
/// folded by the hourly upkeep) always equal a count of the stock rows themselves, before
/// and after folding, and folding leaves one row per store and status.
#[tokio::test]
async fn low_stock_counts_match_the_stock_rows_before_and_after_folding() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN01").await;
    let category = app.create_category("Frames").await;
    let (_, manager) = app.create_user("manager_a", &["manager"], &[store]).await;
    let mut products = Vec::new();
    for (i, quantity) in [0, 3, 8, 20].into_iter().enumerate() {
        let p = product(&app, category, &format!("FOLD-0{i}"), 1_000).await;
        stock_in(&app, store, p, quantity.max(1)).await;
        if quantity == 0 {
            adjust_as(&app, &manager, store, p, -1, "count").await;
        }
        products.push(p);
    }
    // Rows moving in and out of low and out of stock.
    for (p, delta) in [(1, -3), (1, 9), (2, -4), (3, -20), (0, 2), (2, 6)] {
        let (status, body) = adjust_as(&app, &manager, store, products[p], delta, "count").await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let truth = "SELECT store_id::text, status, count(*)::bigint FROM inventory
                 WHERE status IN ('low_stock', 'out_of_stock') GROUP BY 1, 2 ORDER BY 1, 2";
    let fold = storage::dashboard::compact_inventory_status_counts(app.db.primary());
    let expected = kept_counts_match(&app, truth, "inventory_status_counts", fold).await;
    assert!(!expected.is_empty(), "the test moves rows into low stock");
}

/// The open orders' counts the dashboard reads (appended by the orders' trigger, folded by
/// the hourly upkeep) always equal a count of the orders themselves, before and after
/// folding, through placements, status changes and cancellations in two stores.
#[tokio::test]
async fn open_order_counts_match_the_orders_before_and_after_folding() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Frames").await;
    let customer = id_of(&customer(&app, "Asha Rao", "+919876543210").await);
    let mut placed = Vec::new();
    for code in ["PUN01", "MUM01"] {
        let store = app.create_store(code).await;
        let p = product(&app, category, &format!("OPEN-{code}"), 1_000).await;
        stock_in(&app, store, p, 50).await;
        for _ in 0..5 {
            let order = place_ok(&app, &app.admin_token, store, customer, &[(p, 1)]).await;
            placed.push(id_of(&order));
        }
    }
    // Orders of both stores moved along, cancelled and delivered.
    for (i, steps) in [
        &["confirmed"][..],
        &["confirmed", "in_workshop"],
        &["cancelled"],
        &["confirmed", "in_workshop", "ready", "delivered"],
        &["confirmed", "in_workshop", "ready"],
        &["confirmed", "cancelled"],
    ]
    .into_iter()
    .enumerate()
    {
        for status in steps {
            set_order_status(&app, placed[i * 3 % placed.len()], status).await;
        }
    }
    let truth = "SELECT store_id::text, status, count(*)::bigint FROM orders
                 WHERE status IN ('pending', 'confirmed', 'in_workshop', 'ready')
                 GROUP BY 1, 2 ORDER BY 1, 2";
    let fold = storage::dashboard::compact_order_status_counts(app.db.primary());
    let expected = kept_counts_match(&app, truth, "order_status_counts", fold).await;
    assert!(
        expected.iter().any(|(_, status, _)| status == "ready"),
        "the test moves orders through every open status: {expected:?}"
    );
}

/// The workshop queue's counts the dashboard reads (appended by the jobs' trigger, folded
/// by the upkeep) always equal a count of the jobs themselves, before and after folding,
/// through jobs made, moved along, sent back to rework and finished in two stores.
#[tokio::test]
async fn workshop_queue_counts_match_the_jobs_before_and_after_folding() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Lenses").await;
    let customer = id_of(&customer(&app, "Asha Rao", "+919876543210").await);
    for code in ["PUN01", "MUM01"] {
        let store = app.create_store(code).await;
        let p = product(&app, category, &format!("JOB-{code}"), 1_000).await;
        stock_in(&app, store, p, 50).await;
        for steps in [
            &[][..],
            &["in_progress"],
            &["in_progress", "quality_check"],
            &["in_progress", "quality_check", "in_progress"],
            &["in_progress", "quality_check", "completed"],
            &["cancelled"],
        ] {
            let order = place_ok(&app, &app.admin_token, store, customer, &[(p, 1)]).await;
            job(&app, id_of(&order), steps).await;
        }
    }
    let truth = "SELECT store_id::text, status, count(*)::bigint FROM workshop_jobs
                 WHERE status IN ('queued', 'in_progress', 'quality_check')
                 GROUP BY 1, 2 ORDER BY 1, 2";
    let fold = storage::dashboard::compact_workshop_queue_counts(app.db.primary());
    let expected = kept_counts_match(&app, truth, "workshop_queue_counts", fold).await;
    assert_eq!(
        expected.len(),
        6,
        "both stores have jobs in every queue status: {expected:?}"
    );
    // What the dashboard shows is those counts.
    let chain = stats(&app, &app.admin_token, "").await;
    for status in ["queued", "in_progress", "quality_check"] {
        let n: i64 = expected
            .iter()
            .filter(|(_, s, _)| s == status)
            .map(|(_, _, n)| n)
            .sum();
        assert_eq!(
            count(&chain["workshopQueueByStatus"], status),
            n,
            "{status}: {chain}"
        );
    }
}

/// The per-store, per-status counts that `table` keeps (appended by a trigger, folded by
/// the upkeep's `fold`) equal `truth`, a count of the rows themselves (`store_id::text`,
/// `status`, count, in that order), before and after `fold`; the fold leaves one row per
/// store and status. Returns the counts.
async fn kept_counts_match(
    app: &TestApp,
    truth: &str,
    table: &str,
    fold: impl std::future::Future<Output = storage::Result<u64>>,
) -> Vec<(String, String, i64)> {
    let rows = |sql: String| async move {
        sqlx::query_as::<_, (String, String, i64)>(&sql)
            .fetch_all(app.db.primary())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let kept = format!(
        "SELECT store_id::text, status, sum(n)::bigint FROM {table}
         GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2"
    );
    let expected = rows(truth.to_owned()).await;
    assert_eq!(
        rows(kept.clone()).await,
        expected,
        "appended counts in {table}"
    );
    fold.await.expect("fold");
    assert_eq!(rows(kept).await, expected, "folded counts in {table}");
    let left: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(app.db.primary())
        .await
        .expect("rows");
    assert_eq!(
        left,
        expected.len() as i64,
        "one row per store and status in {table}"
    );
    expected
}

/// (productId, unitsSold, revenue) of a storage-level top list.
fn top_of(stats: &storage::dashboard::DashboardStats) -> Vec<(Uuid, i64, i64)> {
    stats
        .top_products
        .iter()
        .map(|t| (t.product_id.uuid(), t.units_sold, t.revenue))
        .collect()
}

/// One store's top products and the chain's, from the running totals and (with the window
/// unset, as before the first upkeep) from the quarter hours: they must agree.
async fn tops_both_ways(
    app: &TestApp,
    store: Uuid,
    day_start: chrono::DateTime<chrono::Utc>,
) -> (Vec<(Uuid, i64, i64)>, Vec<(Uuid, i64, i64)>) {
    let pool = app.db.primary();
    let window: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT start FROM product_sales_window")
            .fetch_one(pool)
            .await
            .expect("window");
    assert_eq!(
        window,
        Some(day_start - chrono::Duration::days(30)),
        "the totals are kept for this day"
    );
    let kept = storage::dashboard::store_figures(pool, store.into(), day_start)
        .await
        .expect("figures");
    let kept_chain = storage::dashboard::dashboard_stats(pool, None, day_start)
        .await
        .expect("chain");
    sqlx::query("UPDATE product_sales_window SET start = NULL")
        .execute(pool)
        .await
        .expect("unset");
    let summed = storage::dashboard::store_figures(pool, store.into(), day_start)
        .await
        .expect("figures");
    let summed_chain = storage::dashboard::dashboard_stats(pool, None, day_start)
        .await
        .expect("chain");
    sqlx::query("UPDATE product_sales_window SET start = $1")
        .bind(window)
        .execute(pool)
        .await
        .expect("reset");
    assert_eq!(kept.seq, summed.seq);
    assert_eq!(top_of(&kept.stats), top_of(&summed.stats), "one store");
    assert_eq!(top_of(&kept_chain), top_of(&summed_chain), "the chain");
    (top_of(&kept.stats), top_of(&kept_chain))
}

/// The top products' running totals (migration 0011) equal the sums of the quarter hours in
/// the window: when first summed, after sales and cancellations, and after the window moves
/// on a day (the day that left subtracted) or jumps (summed afresh), with sales just inside
/// and just outside its edges.
#[tokio::test]
async fn running_top_products_equal_the_quarter_hours_as_the_window_moves() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN01").await;
    let other = app.create_store("MUM01").await;
    let category = app.create_category("Frames").await;
    let buyer = id_of(&customer(&app, "Asha Rao", "+919876543210").await);
    let mut products = Vec::new();
    for i in 0..12 {
        let p = product(&app, category, &format!("RUN-{i:02}"), 100 * (i + 1)).await;
        stock_in(&app, store, p, 50).await;
        products.push(p);
    }
    let offset = chrono::FixedOffset::east_opt(5 * 3600 + 30 * 60).expect("offset");
    let (_, day_start) = domain::dates::business_day(offset, chrono::Utc::now());
    let day = chrono::Duration::days(1);
    let quarter = chrono::Duration::minutes(15);
    // Earlier sales, written as the orders' trigger would have: before the window, on its
    // first and last quarter hours of the day that leaves it next, and inside.
    let earlier = [
        (0, day_start - day * 31, 40),
        (1, day_start - day * 30 - quarter, 35),
        (2, day_start - day * 30, 30),
        (3, day_start - day * 29 - quarter, 25),
        (4, day_start - day * 29, 9),
        (5, day_start - day * 10, 8),
        (6, day_start - day * 2, 7),
        (7, day_start - quarter, 6),
        (8, day_start, 5),
        (9, day_start - day * 30, 4),
        (10, day_start - day * 30, 3),
        (11, day_start - day * 5, 3),
    ];
    for (i, slot, units) in earlier {
        for s in [store, other] {
            sqlx::query(
                "INSERT INTO product_sales (store_id, slot, product_id, units, revenue)
                 VALUES ($1, $2, $3, $4, $4 * 100)",
            )
            .bind(s)
            .bind(slot)
            .bind(products[i])
            .bind(units)
            .execute(app.db.primary())
            .await
            .expect("sales");
        }
    }
    let pool = app.db.primary();
    assert!(
        storage::dashboard::set_product_sales_window(pool, day_start)
            .await
            .expect("window")
    );
    assert!(
        !storage::dashboard::set_product_sales_window(pool, day_start)
            .await
            .expect("window")
    );
    let (first, _) = tops_both_ways(&app, store, day_start).await;
    assert_eq!(first.len(), 10, "{first:?}");
    assert!(
        !first
            .iter()
            .any(|t| t.0 == products[0] || t.0 == products[1]),
        "{first:?}"
    );
    assert_eq!(
        first[0],
        (products[2], 30, 3000),
        "the window's first quarter hour counts"
    );

    // Sales and a cancellation through the API, kept by the trigger.
    let order = place_ok(
        &app,
        &app.admin_token,
        store,
        buyer,
        &[(products[11], 20), (products[0], 2)],
    )
    .await;
    place_ok(&app, &app.admin_token, store, buyer, &[(products[9], 1)]).await;
    let (now, _) = tops_both_ways(&app, store, day_start).await;
    assert_eq!(now[2], (products[11], 23, 300 + 20 * 1200), "{now:?}");
    set_order_status(&app, uuid_of(&order, "id"), "cancelled").await;
    let (now, _) = tops_both_ways(&app, store, day_start).await;
    assert_eq!(now[0], (products[2], 30, 3000), "{now:?}");
    assert!(!now.iter().any(|t| t.0 == products[0]), "{now:?}");

    // The next business day: the first day of the window leaves it.
    let next = day_start + day;
    assert!(storage::dashboard::set_product_sales_window(pool, next)
        .await
        .expect("window"));
    let (moved, _) = tops_both_ways(&app, store, next).await;
    assert!(
        !moved
            .iter()
            .any(|t| t.0 == products[2] || t.0 == products[3]),
        "{moved:?}"
    );
    assert_eq!(moved[0], (products[4], 9, 900), "{moved:?}");
    // Ten days on: summed afresh.
    let later = next + day * 10;
    assert!(storage::dashboard::set_product_sales_window(pool, later)
        .await
        .expect("window"));
    let (jumped, _) = tops_both_ways(&app, store, later).await;
    assert!(!jumped.iter().any(|t| t.0 == products[4]), "{jumped:?}");
    assert!(jumped.iter().any(|t| t.0 == products[5]), "{jumped:?}");
    // And back (a change of the business time zone): summed afresh too.
    assert!(
        storage::dashboard::set_product_sales_window(pool, day_start)
            .await
            .expect("window")
    );
    assert_eq!(tops_both_ways(&app, store, day_start).await.0, now);
}

/// How many times the service has read a store's figures from the database.
async fn figure_reads(app: &TestApp) -> f64 {
    app.metric("ims_db_query_duration_seconds_count{query=\"dashboard.store_figures\"}")
        .await
}

/// A restock that changes no stock row's status (low or out of stock) leaves the store's
/// figures as they were, so it does not read them again; one that does moves them forward at
/// once, and the dashboard shows it.
#[tokio::test]
async fn only_a_stock_change_that_moves_a_rows_status_reads_the_figures_again() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN02").await;
    let category = app.create_category("Frames").await;
    let (_, manager) = app.create_user("manager_r", &["manager"], &[store]).await;
    let p = product(&app, category, "RESTOCK-01", 1_000).await;
    stock_in(&app, store, p, 50).await;
    let before = stats(&app, &manager, "").await;
    assert_eq!(before["outOfStockCount"], 0, "{before}");
    let reads = figure_reads(&app).await;
    assert!(reads >= 1.0, "the first read loaded the figures");

    let (status, body) = adjust_as(&app, &manager, store, p, 5, "delivery").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        figure_reads(&app).await,
        reads,
        "an in-stock row stayed in stock"
    );
    assert_eq!(stats(&app, &manager, "").await, before);

    let (status, body) = adjust_as(&app, &manager, store, p, -55, "count").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        figure_reads(&app).await,
        reads + 1.0,
        "the row ran out of stock"
    );
    let after = stats(&app, &manager, "").await;
    assert_eq!(after["outOfStockCount"], 1, "{after}");
    assert_eq!(figure_reads(&app).await, reads + 1.0, "read from the cache");
}
