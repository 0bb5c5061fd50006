//! Orders: placing them (stock taken for every line or none, never oversold), reading them
//! back whole, idempotent retries, the status machine, payments, lists and store scoping.

use std::collections::HashSet;

use crate::support::ops::*;
use crate::support::paging::walk;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, send, TestApp};
use tokio::task::JoinSet;
use uuid::Uuid;

/// A store with a category, a customer and a sales clerk.
struct Shop {
    app: TestApp,
    store: Uuid,
    category: Uuid,
    customer: Value,
    customer_id: Uuid,
    sales_id: Uuid,
    sales: String,
}

async fn shop() -> Shop {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN01").await;
    let category = app.create_category("Frames").await;
    let customer = customer(&app, "Asha Rao", "+91 98765 43210").await;
    let customer_id = id_of(&customer);
    let (sales_id, sales) = app.create_user("sales_a", &["sales"], &[store]).await;
    Shop {
        app,
        store,
        category,
        customer,
        customer_id,
        sales_id,
        sales,
    }
}

async fn pay_as(app: &TestApp, token: &str, order: Uuid, body: Value) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        &format!("/orders/{order}/payments"),
        Some(body),
    )
    .await
}

async fn order_json(app: &TestApp, order: Uuid) -> Value {
    get_ok(app, &app.admin_token, &format!("/orders/{order}")).await
}

/// The orders the admin sees, newest first, read page by page.
async fn all_orders(app: &TestApp) -> Vec<Value> {
    walk(app, &app.admin_token, "/orders", 100).await
}

// ------------------------------------------------------------------------------- placing

#[tokio::test]
async fn placing_an_order_copies_the_details_takes_the_stock_and_counts_the_sale() {
    let s = shop().await;
    let app = &s.app;
    let lens = product(app, s.category, "LENS-01", 150_000).await;
    let cloth = product(app, s.category, "CLOTH-01", 2_500).await;
    stock_in(app, s.store, lens, 10).await;
    stock_in(app, s.store, cloth, 20).await;

    let order = place_ok(
        app,
        &s.sales,
        s.store,
        s.customer_id,
        &[(lens, 2), (cloth, 3)],
    )
    .await;

    let number = str_of(&order, "orderNumber");
    assert!(is_number_like(number, "ORD"), "order number {number}");
    assert_eq!(order["storeId"], json!(s.store));
    assert_eq!(order["customerId"], json!(s.customer_id));
    assert_eq!(order["customerName"], "Asha Rao");
    assert_eq!(order["customerPhone"], s.customer["phone"]);
    assert_eq!(order["status"], "pending");
    assert_eq!(order["paymentStatus"], "unpaid");
    assert_eq!(order["createdBy"], json!(s.sales_id));
    let lines = order["items"].as_array().expect("items");
    assert_eq!(lines.len(), 2, "{order}");
    let expected = [
        (lens, "LENS-01", "Product LENS-01", 2, 150_000, 300_000),
        (cloth, "CLOTH-01", "Product CLOTH-01", 3, 2_500, 7_500),
    ];
    for (line, (id, sku, name, quantity, unit, total)) in lines.iter().zip(expected) {
        assert_eq!(line["productId"], json!(id), "{line}");
        assert_eq!(line["sku"], sku, "{line}");
        assert_eq!(line["name"], name, "{line}");
        assert_eq!(line["quantity"], quantity, "{line}");
        assert_eq!(line["unitPrice"], unit, "{line}");
        assert_eq!(line["lineTotal"], total, "{line}");
    }
    assert_eq!(order["total"], 307_500);
    assert_eq!(order["amountPaid"], 0);
    assert_eq!(order["amountDue"], 307_500);

    // The stock left the store, the products' totals and sales counters followed.
    assert_eq!(stock_quantity(app, s.store, lens).await, 8);
    assert_eq!(stock_quantity(app, s.store, cloth).await, 17);
    let lens_json = product_json(app, lens).await;
    assert_eq!(lens_json["quantity"], 8, "{lens_json}");
    assert_eq!(lens_json["salesCount"], 2, "{lens_json}");
    let cloth_json = product_json(app, cloth).await;
    assert_eq!(cloth_json["quantity"], 17, "{cloth_json}");
    assert_eq!(cloth_json["salesCount"], 3, "{cloth_json}");

    // The sale is a movement tied to the order and the clerk.
    let moves = movements(app, s.store, lens, 10).await;
    assert_eq!(moves.len(), 2, "{moves:?}");
    assert_eq!(moves[0]["kind"], "sale");
    assert_eq!(moves[0]["delta"], -2);
    assert_eq!(moves[0]["orderId"], order["id"]);
    assert_eq!(moves[0]["actorId"], json!(s.sales_id));

    // One read returns the whole order, by id and by number.
    let id = id_of(&order);
    let by_id = get_ok(app, &s.sales, &format!("/orders/{id}")).await;
    assert_eq!(by_id, order);
    let by_number = get_ok(app, &s.sales, &format!("/orders/number/{number}")).await;
    assert_eq!(by_number, order);

    // Later catalogue edits do not rewrite what was sold.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/products/{lens}"),
            Some(json!({ "name": "Renamed lens", "price": 999 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after_edit = get_ok(app, &s.sales, &format!("/orders/{id}")).await;
    assert_eq!(after_edit["items"], order["items"]);
    assert_eq!(after_edit["total"], 307_500);
}

#[tokio::test]
async fn unknown_orders_are_not_found() {
    let s = shop().await;
    let app = &s.app;
    for path in [
        format!("/orders/{}", Uuid::now_v7()),
        format!("/orders/{}", Uuid::new_v4()),
        "/orders/not-an-id".to_owned(),
        "/orders/number/ORD-2020-000001".to_owned(),
    ] {
        let (status, body) = app.call_as(&s.sales, Method::GET, &path, None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn a_short_line_refuses_the_whole_order_and_takes_nothing() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "FRAME-01", 50_000).await;
    let case = product(app, s.category, "CASE-01", 5_000).await;
    let unstocked = product(app, s.category, "NOSTOCK-1", 1_000).await;
    stock_in(app, s.store, frame, 5).await;
    stock_in(app, s.store, case, 1).await;

    let (status, body) = place_as(
        app,
        &s.sales,
        s.store,
        s.customer_id,
        &[(frame, 2), (case, 3)],
    )
    .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(error_fields(&body), ["items[1].quantity"], "{body}");

    // A product the store never stocked is short too.
    let (status, body) = place_as(
        app,
        &s.sales,
        s.store,
        s.customer_id,
        &[(frame, 1), (unstocked, 1)],
    )
    .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(error_fields(&body), ["items[1].quantity"], "{body}");

    // Both lines short: both named.
    let (status, body) = place_as(
        app,
        &s.sales,
        s.store,
        s.customer_id,
        &[(frame, 6), (case, 2)],
    )
    .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    let named: HashSet<String> = error_fields(&body).into_iter().collect();
    assert_eq!(
        named,
        HashSet::from([
            "items[0].quantity".to_owned(),
            "items[1].quantity".to_owned()
        ]),
        "{body}"
    );

    // Nothing was taken from the line that had enough, and no order exists.
    assert_eq!(stock_quantity(app, s.store, frame).await, 5);
    assert_eq!(stock_quantity(app, s.store, case).await, 1);
    for (product, quantity) in [(frame, 5), (case, 1)] {
        let p = product_json(app, product).await;
        assert_eq!(p["quantity"], quantity, "{p}");
        assert_eq!(p["salesCount"], 0, "{p}");
        let moves = movements(app, s.store, product, 10).await;
        assert_eq!(moves.len(), 1, "only the delivery: {moves:?}");
    }
    assert!(all_orders(app).await.is_empty());
}

// ------------------------------------------------------------------------------- the race

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_orders_for_ten_units_sell_exactly_ten() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "LAST-UNITS", 12_000).await;
    stock_in(app, s.store, frame, 10).await;
    let (_, manager) = app.create_user("manager_a", &["manager"], &[s.store]).await;
    let tokens = [s.sales.clone(), manager, app.admin_token.clone()];

    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let request = app
            .client
            .post(format!("{}/api/v1/orders", app.address))
            .bearer_auth(&tokens[i % tokens.len()])
            .json(&order_body(s.store, s.customer_id, &[(frame, 1)]));
        tasks.spawn(send(request));
    }
    let mut placed = Vec::new();
    let mut refused = 0;
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.expect("request task");
        match status {
            StatusCode::CREATED => placed.push(body),
            StatusCode::CONFLICT => {
                assert_eq!(error_fields(&body), ["items[0].quantity"], "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(placed.len(), 10, "exactly the 10 units in stock are sold");
    assert_eq!(refused, 40);

    let numbers: HashSet<&str> = placed.iter().map(|o| str_of(o, "orderNumber")).collect();
    assert_eq!(numbers.len(), 10, "order numbers are unique");

    let row = stock_row(app, s.store, frame).await;
    assert_eq!(row["quantity"], 0, "{row}");
    assert_eq!(row["status"], "out_of_stock", "{row}");
    let p = product_json(app, frame).await;
    assert_eq!(p["quantity"], 0, "{p}");
    assert_eq!(p["salesCount"], 10, "{p}");

    // The movements, read page by page, tell the same story.
    let moves = movements(app, s.store, frame, 4).await;
    assert_eq!(moves.len(), 11, "one delivery and ten sales");
    assert_eq!(moves.iter().map(|m| i64_of(m, "delta")).sum::<i64>(), 0);
    let sale_orders: HashSet<Uuid> = moves
        .iter()
        .filter(|m| m["kind"] == "sale")
        .map(|m| uuid_of(m, "orderId"))
        .collect();
    let placed_ids: HashSet<Uuid> = placed.iter().map(id_of).collect();
    assert_eq!(sale_orders, placed_ids);
    assert_eq!(all_orders(app).await.len(), 10);
    assert_stock_invariants(app).await;
}

// Orders for the same products at several stores, their lines in opposite orders, all at
// once: each store's stock rows are its own, but every order also moves its products' chain-wide
// totals and counts its sales (rows that reference the products). None may wait for another in
// a cycle, which PostgreSQL would end after a second by failing one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_for_the_same_products_at_several_stores_all_succeed() {
    let s = shop().await;
    let app = &s.app;
    let stores = [
        s.store,
        app.create_store("PUN02").await,
        app.create_store("PUN03").await,
        app.create_store("PUN04").await,
    ];
    let lenses = product(app, s.category, "SHARED-LENS", 4_000).await;
    let frame = product(app, s.category, "SHARED-FRAME", 9_000).await;
    for store in stores {
        stock_in(app, store, lenses, 100).await;
        stock_in(app, store, frame, 100).await;
    }

    let mut tasks = JoinSet::new();
    for i in 0..80 {
        let lines = if i % 2 == 0 {
            [(lenses, 1), (frame, 1)]
        } else {
            [(frame, 1), (lenses, 1)]
        };
        let request = app
            .client
            .post(format!("{}/api/v1/orders", app.address))
            .bearer_auth(&app.admin_token)
            .json(&order_body(stores[i % stores.len()], s.customer_id, &lines));
        tasks.spawn(send(request));
    }
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.expect("request task");
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for store in stores {
        assert_eq!(stock_row(app, store, lenses).await["quantity"], 80);
        assert_eq!(stock_row(app, store, frame).await["quantity"], 80);
    }
    assert_eq!(product_json(app, lenses).await["salesCount"], 80);
    assert_stock_invariants(app).await;
}

// An order PostgreSQL ends to break a deadlock (40P01) is placed again in a new transaction:
// the client gets its order, placed once. The deadlock is made by a trigger that fails the
// first order's insert (a sequence counts, as it is not rolled back with the transaction).
#[tokio::test]
async fn an_order_ended_by_a_deadlock_is_placed_again_once() {
    let s = shop().await;
    let app = &s.app;
    let lenses = product(app, s.category, "RETRIED-LENS", 4_000).await;
    stock_in(app, s.store, lenses, 10).await;
    for statement in [
        "CREATE SEQUENCE test_deadlocks",
        "CREATE FUNCTION test_deadlock_once() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('test_deadlocks') = 1 THEN
                 RAISE EXCEPTION 'deadlock detected (made by the test)' USING ERRCODE = '40P01';
             END IF;
             RETURN NULL;
         END $$",
        "CREATE TRIGGER test_deadlock_once AFTER INSERT ON orders
             FOR EACH ROW EXECUTE FUNCTION test_deadlock_once()",
    ] {
        sqlx::query(statement)
            .execute(app.db.primary())
            .await
            .expect("the deadlocking trigger");
    }

    let (status, order) = send(
        app.request(Method::POST, "/orders", Some(&app.admin_token))
            .json(&order_body(s.store, s.customer_id, &[(lenses, 2)])),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(all_orders(app).await.len(), 1);
    assert_eq!(stock_row(app, s.store, lenses).await["quantity"], 8);
    assert_eq!(
        app.metric("ims_db_conflict_retries_total{write=\"order\"}")
            .await,
        1.0
    );
    assert_stock_invariants(app).await;
}

// ------------------------------------------------------------------------------- idempotency

fn keyed(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::RequestBuilder {
    app.request(Method::POST, "/orders", Some(token))
        .header("Idempotency-Key", key)
        .json(body)
}

fn replayed(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        == Some("true")
}

#[tokio::test]
async fn a_retried_order_with_the_same_key_is_placed_once() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "KEYED-01", 40_000).await;
    stock_in(app, s.store, frame, 10).await;
    let body = order_body(s.store, s.customer_id, &[(frame, 1)]);

    let (status, headers, first) = send_full(keyed(app, &s.sales, "till-7-0001", &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!replayed(&headers), "a first answer is not a replay");

    let (status, headers, again) = send_full(keyed(app, &s.sales, "till-7-0001", &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert!(
        replayed(&headers),
        "idempotent-replayed: true expected: {headers:?}"
    );
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again, first, "the first response is returned again");

    assert_eq!(
        stock_quantity(app, s.store, frame).await,
        9,
        "stock taken once"
    );
    assert_eq!(product_json(app, frame).await["salesCount"], 1);
    assert_eq!(all_orders(app).await.len(), 1);

    // The same key with another body is refused and does nothing.
    let other = order_body(s.store, s.customer_id, &[(frame, 2)]);
    let (status, _, problem) = send_full(keyed(app, &s.sales, "till-7-0001", &other)).await;
    assert_problem(status, &problem, StatusCode::CONFLICT);
    assert_eq!(stock_quantity(app, s.store, frame).await, 9);
    assert_eq!(all_orders(app).await.len(), 1);

    // A new key is a new order.
    let (status, headers, second) = send_full(keyed(app, &s.sales, "till-7-0002", &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert!(!replayed(&headers));
    assert_ne!(second["id"], first["id"]);
    assert_eq!(stock_quantity(app, s.store, frame).await, 8);
}

#[tokio::test]
async fn a_key_whose_first_attempt_failed_can_be_retried() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "KEYED-02", 40_000).await;
    stock_in(app, s.store, frame, 1).await;
    let body = order_body(s.store, s.customer_id, &[(frame, 3)]);

    let (status, _, refused) = send_full(keyed(app, &s.sales, "retry-after-409", &body)).await;
    assert_problem(status, &refused, StatusCode::CONFLICT);
    stock_in(app, s.store, frame, 5).await;
    let (status, headers, placed) = send_full(keyed(app, &s.sales, "retry-after-409", &body)).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    assert!(
        !replayed(&headers),
        "nothing was done the first time, so nothing to replay"
    );
    assert_eq!(stock_quantity(app, s.store, frame).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_concurrent_requests_with_one_key_place_one_order() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "KEYED-03", 40_000).await;
    stock_in(app, s.store, frame, 10).await;
    let body = order_body(s.store, s.customer_id, &[(frame, 2)]);

    let mut tasks = JoinSet::new();
    for _ in 0..5 {
        tasks.spawn(send_full(keyed(app, &s.sales, "double-click", &body)));
    }
    let mut ids = HashSet::new();
    let mut replays = 0;
    while let Some(result) = tasks.join_next().await {
        let (status, headers, order) = result.expect("request task");
        assert_eq!(status, StatusCode::CREATED, "{order}");
        ids.insert(id_of(&order));
        if replayed(&headers) {
            replays += 1;
        }
    }
    assert_eq!(ids.len(), 1, "every request answers with the same order");
    assert_eq!(replays, 4, "all but the first are replays");
    assert_eq!(stock_quantity(app, s.store, frame).await, 8);
    assert_eq!(product_json(app, frame).await["salesCount"], 2);
    assert_eq!(all_orders(app).await.len(), 1);
}

// ------------------------------------------------------------------------------- status

#[tokio::test]
async fn the_status_machine_allows_the_contract_and_refuses_the_rest() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "STATUS-01", 10_000).await;
    stock_in(app, s.store, frame, 20).await;
    let one = [(frame, 1)];
    let place = || place_ok(app, &s.sales, s.store, s.customer_id, &one);

    // The whole happy path, by the clerk.
    let order = id_of(&place().await);
    for next in ["confirmed", "in_workshop", "ready", "delivered"] {
        let (status, body) = order_status_as(app, &s.sales, order, next).await;
        assert_eq!(status, StatusCode::OK, "-> {next}: {body}");
        assert_eq!(body["status"], next);
        assert_eq!(order_json(app, order).await["status"], next);
    }
    // A delivered order is final.
    for next in ["cancelled", "ready", "pending"] {
        let (status, body) = order_status_as(app, &s.sales, order, next).await;
        assert_problem(status, &body, StatusCode::CONFLICT);
    }
    assert_eq!(order_json(app, order).await["status"], "delivered");

    // Skipping steps is refused; a refused change leaves the order as it was.
    let pending = id_of(&place().await);
    for next in ["delivered", "ready", "in_workshop", "pending"] {
        let (status, body) = order_status_as(app, &s.sales, pending, next).await;
        assert_problem(status, &body, StatusCode::CONFLICT);
    }
    assert_eq!(order_json(app, pending).await["status"], "pending");

    // pending -> cancelled, and a cancelled order stays cancelled.
    set_order_status(app, pending, "cancelled").await;
    for next in ["pending", "confirmed", "cancelled"] {
        let (status, body) = order_status_as(app, &s.sales, pending, next).await;
        assert_problem(status, &body, StatusCode::CONFLICT);
    }

    // confirmed -> cancelled is allowed; in_workshop -> cancelled is not; ready cannot go back.
    let confirmed = id_of(&place().await);
    set_order_status(app, confirmed, "confirmed").await;
    set_order_status(app, confirmed, "cancelled").await;
    let in_workshop = id_of(&place().await);
    set_order_status(app, in_workshop, "confirmed").await;
    set_order_status(app, in_workshop, "in_workshop").await;
    let (status, body) = order_status_as(app, &s.sales, in_workshop, "cancelled").await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    set_order_status(app, in_workshop, "ready").await;
    let (status, body) = order_status_as(app, &s.sales, in_workshop, "in_workshop").await;
    assert_problem(status, &body, StatusCode::CONFLICT);

    // An unknown status is malformed; an unknown order is not found.
    let (status, body) = order_status_as(app, &s.sales, in_workshop, "shipped").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = order_status_as(app, &s.sales, Uuid::now_v7(), "confirmed").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancelling_returns_the_stock_and_the_sales_count() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "CANCEL-01", 10_000).await;
    let lens = product(app, s.category, "CANCEL-02", 20_000).await;
    stock_in(app, s.store, frame, 10).await;
    stock_in(app, s.store, lens, 4).await;

    let order = place_ok(
        app,
        &s.sales,
        s.store,
        s.customer_id,
        &[(frame, 3), (lens, 4)],
    )
    .await;
    let id = id_of(&order);
    assert_eq!(stock_quantity(app, s.store, frame).await, 7);
    assert_eq!(
        stock_row(app, s.store, lens).await["status"],
        "out_of_stock"
    );
    assert_eq!(product_json(app, frame).await["salesCount"], 3);

    set_order_status(app, id, "confirmed").await;
    let (status, cancelled) = order_status_as(app, &s.sales, id, "cancelled").await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");

    for (product, quantity) in [(frame, 10), (lens, 4)] {
        assert_eq!(stock_quantity(app, s.store, product).await, quantity);
        let p = product_json(app, product).await;
        assert_eq!(p["quantity"], quantity, "{p}");
        assert_eq!(p["salesCount"], 0, "{p}");
    }
    let moves = movements(app, s.store, frame, 10).await;
    assert_eq!(moves.len(), 3, "{moves:?}");
    assert_eq!(moves[0]["kind"], "cancellation");
    assert_eq!(moves[0]["delta"], 3);
    assert_eq!(moves[0]["orderId"], json!(id));
    assert_eq!(moves[0]["actorId"], json!(s.sales_id));
    assert_eq!(movements_sum(app, s.store, frame).await, 10);

    // Cancelling again is refused and returns nothing twice.
    let (status, body) = order_status_as(app, &s.sales, id, "cancelled").await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(stock_quantity(app, s.store, frame).await, 10);
    assert_eq!(product_json(app, frame).await["salesCount"], 0);
    assert_stock_invariants(app).await;
}

// ------------------------------------------------------------------------------- payments

#[tokio::test]
async fn payments_move_the_payment_status_and_never_exceed_the_total() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "PAY-01", 10_000).await;
    stock_in(app, s.store, frame, 10).await;
    let order = id_of(&place_ok(app, &s.sales, s.store, s.customer_id, &[(frame, 1)]).await);

    let (status, paid) = pay_as(
        app,
        &s.sales,
        order,
        json!({ "amount": 4_000, "method": "cash" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["paymentStatus"], "partially_paid");
    assert_eq!(paid["amountPaid"], 4_000);
    assert_eq!(paid["amountDue"], 6_000);
    let payments = paid["payments"].as_array().expect("payments");
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["amount"], 4_000);
    assert_eq!(payments[0]["method"], "cash");
    assert_eq!(payments[0]["recordedBy"], json!(s.sales_id));

    // More than is due: refused, nothing recorded.
    let (status, body) = pay_as(
        app,
        &s.sales,
        order,
        json!({ "amount": 6_001, "method": "card" }),
    )
    .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    // Zero or negative: invalid.
    for amount in [0, -100] {
        let (status, body) = pay_as(
            app,
            &s.sales,
            order,
            json!({ "amount": amount, "method": "card" }),
        )
        .await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&body), ["amount"], "{body}");
    }
    // An unknown method is malformed.
    let (status, body) = pay_as(
        app,
        &s.sales,
        order,
        json!({ "amount": 100, "method": "cheque" }),
    )
    .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST);
    let unchanged = order_json(app, order).await;
    assert_eq!(unchanged["amountPaid"], 4_000, "{unchanged}");
    assert_eq!(unchanged["payments"].as_array().map(Vec::len), Some(1));

    // The rest: paid.
    let (status, paid) = pay_as(
        app,
        &s.sales,
        order,
        json!({ "amount": 6_000, "method": "upi" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(paid["paymentStatus"], "paid");
    assert_eq!(paid["amountPaid"], 10_000);
    assert_eq!(paid["amountDue"], 0);
    assert_eq!(paid["payments"].as_array().map(Vec::len), Some(2));
    assert_eq!(order_json(app, order).await, paid);
    let (status, body) = pay_as(
        app,
        &s.sales,
        order,
        json!({ "amount": 1, "method": "cash" }),
    )
    .await;
    assert_problem(status, &body, StatusCode::CONFLICT);

    // A cancelled order takes no payments.
    let cancelled = id_of(&place_ok(app, &s.sales, s.store, s.customer_id, &[(frame, 1)]).await);
    set_order_status(app, cancelled, "cancelled").await;
    let (status, body) = pay_as(
        app,
        &s.sales,
        cancelled,
        json!({ "amount": 100, "method": "cash" }),
    )
    .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(order_json(app, cancelled).await["amountPaid"], 0);

    // Unknown order: 404.
    let (status, body) = pay_as(
        app,
        &s.sales,
        Uuid::now_v7(),
        json!({ "amount": 100, "method": "cash" }),
    )
    .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
}

// ------------------------------------------------------------------------------- lists

#[tokio::test]
async fn order_lists_filter_sort_newest_first_and_page_to_the_end() {
    let s = shop().await;
    let app = &s.app;
    let other = id_of(&customer(app, "Vikram Shah", "+91 99887 76655").await);
    let frame = product(app, s.category, "LIST-01", 1_000).await;
    stock_in(app, s.store, frame, 100).await;

    let mut placed = Vec::new();
    for i in 0..7 {
        let buyer = if i % 2 == 0 { s.customer_id } else { other };
        placed.push(place_ok(app, &s.sales, s.store, buyer, &[(frame, i + 1)]).await);
    }
    let id = |i: usize| id_of(&placed[i]);
    set_order_status(app, id(1), "confirmed").await;
    set_order_status(app, id(4), "confirmed").await;
    set_order_status(app, id(5), "cancelled").await;
    let (status, body) = pay_as(
        app,
        &s.sales,
        id(2),
        json!({ "amount": 3_000, "method": "card" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = pay_as(
        app,
        &s.sales,
        id(3),
        json!({ "amount": 1_000, "method": "cash" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let newest_first =
        |indexes: &[usize]| -> Vec<Uuid> { indexes.iter().rev().map(|&i| id(i)).collect() };
    let list = |query: &'static str| {
        let token = s.sales.clone();
        async move { ids(&walk(app, &token, &format!("/orders{query}"), 100).await) }
    };

    // Everything, newest first, the same whether read in pages of 3 or at once.
    let all = newest_first(&[0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(ids(&walk(app, &s.sales, "/orders", 3).await), all);
    assert_eq!(list("").await, all);
    let first_page = get_ok(app, &s.sales, "/orders?limit=3").await;
    assert_eq!(items(&first_page).len(), 3);
    assert!(first_page["nextCursor"].is_string());

    assert_eq!(list("?status=confirmed").await, newest_first(&[1, 4]));
    assert_eq!(list("?status=cancelled").await, newest_first(&[5]));
    assert_eq!(list("?paymentStatus=paid").await, newest_first(&[2]));
    assert_eq!(
        list("?paymentStatus=partially_paid").await,
        newest_first(&[3])
    );
    assert_eq!(
        list("?paymentStatus=unpaid").await,
        newest_first(&[0, 1, 4, 5, 6])
    );
    let mine = format!("?customerId={}", s.customer_id);
    assert_eq!(
        ids(&walk(app, &s.sales, &format!("/orders{mine}"), 2).await),
        newest_first(&[0, 2, 4, 6])
    );
    let mine_confirmed = format!("/orders?customerId={}&status=confirmed", s.customer_id);
    assert_eq!(
        ids(&walk(app, &s.sales, &mine_confirmed, 10).await),
        newest_first(&[4])
    );

    // Date ranges: from is inclusive, to exclusive.
    let at = |i: usize| str_of(&placed[i], "createdAt").to_owned();
    let range = |params: Vec<(&'static str, String)>| {
        let token = s.sales.clone();
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, body) = get_query(app, &token, "/orders", &params).await;
            assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
            ids(items(&body))
        }
    };
    assert_eq!(
        range(vec![("from", at(2)), ("to", at(5))]).await,
        newest_first(&[2, 3, 4])
    );
    assert_eq!(range(vec![("from", at(5))]).await, newest_first(&[5, 6]));
    assert_eq!(range(vec![("to", at(1))]).await, newest_first(&[0]));
    // An empty range holds no order (the document cannot relate two parameters, so it is
    // not an error).
    for (from, to) in [(at(3), at(3)), (at(4), at(2))] {
        assert_eq!(
            range(vec![("from", from), ("to", to)]).await,
            newest_first(&[])
        );
    }
    for query in [
        "?status=shipped",
        "?paymentStatus=free",
        "?from=yesterday",
        "?customerId=nobody",
        "?limit=0",
        "?limit=101",
        "?cursor=not-a-cursor",
    ] {
        let (status, body) = app
            .call_as(&s.sales, Method::GET, &format!("/orders{query}"), None)
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }

    // A customer's orders, most recent first.
    let history = walk(app, &s.sales, &format!("/customers/{other}/orders"), 2).await;
    assert_eq!(ids(&history), newest_first(&[1, 3, 5]));
    let (status, body) = app
        .call_as(
            &s.sales,
            Method::GET,
            &format!("/customers/{}/orders", Uuid::new_v4()),
            None,
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
}

// ------------------------------------------------------------------------------- validation

#[tokio::test]
async fn invalid_orders_name_the_field_and_change_nothing() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "VALID-01", 10_000).await;
    let retired = product(app, s.category, "RETIRED-01", 10_000).await;
    stock_in(app, s.store, frame, 10).await;
    stock_in(app, s.store, retired, 10).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/products/{retired}"),
            Some(json!({ "status": "inactive" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let cases: Vec<(Value, &[&str])> = vec![
        (
            order_body(s.store, s.customer_id, &[(retired, 1)]),
            &["items[0].productId"],
        ),
        (
            order_body(s.store, s.customer_id, &[(frame, 1), (retired, 1)]),
            &["items[1].productId"],
        ),
        (
            order_body(s.store, s.customer_id, &[(Uuid::new_v4(), 1)]),
            &["items[0].productId"],
        ),
        (
            order_body(s.store, Uuid::new_v4(), &[(frame, 1)]),
            &["customerId"],
        ),
        (order_body(s.store, s.customer_id, &[]), &["items"]),
        (
            order_body(s.store, s.customer_id, &[(frame, 0)]),
            &["items[0].quantity"],
        ),
        (
            order_body(s.store, s.customer_id, &[(frame, 1), (retired, -2)]),
            &["items[1].quantity"],
        ),
        (
            order_body(s.store, s.customer_id, &[(frame, 0), (retired, 0)]),
            &["items[0].quantity", "items[1].quantity"],
        ),
        (
            order_body(Uuid::new_v4(), s.customer_id, &[(frame, 1)]),
            &["storeId"],
        ),
    ];
    for (body, fields) in cases {
        // As the admin, so that the unknown store is a value problem rather than a permission one.
        let (status, problem) = app.call(Method::POST, "/orders", Some(body.clone())).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        let named: HashSet<String> = error_fields(&problem).into_iter().collect();
        let expected: HashSet<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(named, expected, "{body}: {problem}");
    }
    // Malformed bodies are 400.
    for body in [
        json!({ "storeId": s.store, "items": [{ "productId": frame, "quantity": 1 }] }),
        json!({ "storeId": s.store, "customerId": s.customer_id, "items": [{ "productId": frame, "quantity": "one" }] }),
    ] {
        let (status, problem) = app
            .call_as(&s.sales, Method::POST, "/orders", Some(body))
            .await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST);
    }

    assert_eq!(stock_quantity(app, s.store, frame).await, 10);
    assert_eq!(stock_quantity(app, s.store, retired).await, 10);
    assert_eq!(product_json(app, frame).await["salesCount"], 0);
    assert!(all_orders(app).await.is_empty());
}

// ------------------------------------------------------------------------------- roles

#[tokio::test]
async fn a_technician_reads_orders_but_cannot_place_or_change_them() {
    let s = shop().await;
    let app = &s.app;
    let frame = product(app, s.category, "TECH-01", 10_000).await;
    stock_in(app, s.store, frame, 10).await;
    let (_, technician) = app.create_user("tech_a", &["technician"], &[s.store]).await;
    let (_, optometrist) = app
        .create_user("opto_a", &["optometrist"], &[s.store])
        .await;

    let (status, body) = place_as(app, &technician, s.store, s.customer_id, &[(frame, 1)]).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = place_as(app, &optometrist, s.store, s.customer_id, &[(frame, 1)]).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    assert_eq!(stock_quantity(app, s.store, frame).await, 10);

    let order = place_ok(app, &s.sales, s.store, s.customer_id, &[(frame, 1)]).await;
    let id = id_of(&order);
    assert_eq!(
        get_ok(app, &technician, &format!("/orders/{id}")).await,
        order
    );
    let number = str_of(&order, "orderNumber");
    assert_eq!(
        get_ok(app, &technician, &format!("/orders/number/{number}")).await,
        order
    );
    assert_eq!(ids(items(&get_ok(app, &technician, "/orders").await)), [id]);
    let history = get_ok(
        app,
        &technician,
        &format!("/customers/{}/orders", s.customer_id),
    )
    .await;
    assert_eq!(ids(items(&history)), [id]);

    let (status, body) = order_status_as(app, &technician, id, "confirmed").await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = pay_as(
        app,
        &technician,
        id,
        json!({ "amount": 100, "method": "cash" }),
    )
    .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    let after = order_json(app, id).await;
    assert_eq!(after["status"], "pending");
    assert_eq!(after["amountPaid"], 0);
}

#[tokio::test]
async fn staff_see_and_sell_only_in_their_own_stores() {
    let s = shop().await;
    let app = &s.app;
    let store_b = app.create_store("MUM01").await;
    let frame = product(app, s.category, "SCOPE-01", 10_000).await;
    stock_in(app, s.store, frame, 10).await;
    stock_in(app, store_b, frame, 10).await;

    // Selling from another store's stock: 403, nothing taken.
    let (status, body) = place_as(app, &s.sales, store_b, s.customer_id, &[(frame, 1)]).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    assert_eq!(stock_quantity(app, store_b, frame).await, 10);

    let in_a = place_ok(app, &s.sales, s.store, s.customer_id, &[(frame, 1)]).await;
    let in_b = place_ok(app, &app.admin_token, store_b, s.customer_id, &[(frame, 2)]).await;
    let b = id_of(&in_b);

    // Another store's order does not exist for this clerk.
    let (status, body) = app
        .call_as(&s.sales, Method::GET, &format!("/orders/{b}"), None)
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
    let number = str_of(&in_b, "orderNumber");
    let (status, body) = app
        .call_as(
            &s.sales,
            Method::GET,
            &format!("/orders/number/{number}"),
            None,
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = order_status_as(app, &s.sales, b, "cancelled").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = pay_as(app, &s.sales, b, json!({ "amount": 100, "method": "cash" })).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
    let untouched = order_json(app, b).await;
    assert_eq!(untouched["status"], "pending");
    assert_eq!(untouched["amountPaid"], 0);
    assert_eq!(stock_quantity(app, store_b, frame).await, 8);

    // Lists show only the clerk's store; asking for another store explicitly is 403.
    assert_eq!(
        ids(&walk(app, &s.sales, "/orders", 10).await),
        [id_of(&in_a)]
    );
    let history = walk(
        app,
        &s.sales,
        &format!("/customers/{}/orders", s.customer_id),
        10,
    )
    .await;
    assert_eq!(ids(&history), [id_of(&in_a)]);
    let (status, body) = app
        .call_as(
            &s.sales,
            Method::GET,
            &format!("/orders?storeId={store_b}"),
            None,
        )
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    // The admin sees both.
    assert_eq!(ids(&all_orders(app).await), [b, id_of(&in_a)]);
    assert_eq!(
        ids(&walk(
            app,
            &app.admin_token,
            &format!("/orders?storeId={store_b}"),
            10
        )
        .await),
        [b]
    );
}
