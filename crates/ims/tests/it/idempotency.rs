//! `Idempotency-Key` on the writes that move money or stock, create things or move a workshop
//! job: a retry with the same key and body returns the first response and does nothing again;
//! another body with the key is a 409.

use crate::support::ops::{customer, i64_of, place_ok, product, stock_in, stock_quantity, uuid_of};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{send, TestApp};
use uuid::Uuid;

/// POSTs `body` to `path` as the admin with `key`; returns status, replay header and body.
async fn post_keyed(
    app: &TestApp,
    path: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, bool, Value) {
    send_keyed(app, Method::POST, path, key, body).await
}

/// Sends `body` to `path` as the admin with `key`; returns status, replay header and body.
async fn send_keyed(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, bool, Value) {
    let response = app
        .request(method, path, Some(&app.admin_token))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let body = response.json().await.unwrap_or(Value::Null);
    (status, replayed, body)
}

async fn setup(app: &TestApp) -> (Uuid, Uuid, Uuid) {
    let store = app.create_store("IDM-01").await;
    let category = app.create_category("Frames").await;
    let product = product(app, category, "ID-001", 100_000).await;
    (store, product, category)
}

#[tokio::test]
async fn a_retried_payment_is_recorded_once() {
    let app = TestApp::spawn().await;
    let (store, product, _) = setup(&app).await;
    stock_in(&app, store, product, 5).await;
    let buyer = uuid_of(&customer(&app, "Asha Rao", "+919811111111").await, "id");
    let order = place_ok(&app, &app.admin_token, store, buyer, &[(product, 2)]).await;
    let path = format!("/orders/{}/payments", uuid_of(&order, "id"));
    let payment = json!({ "amount": 50_000, "method": "upi" });

    let (first, replayed, body) = post_keyed(&app, &path, "pay-1", &payment).await;
    assert_eq!((first, replayed), (StatusCode::CREATED, false), "{body}");
    let (again, replayed, body_again) = post_keyed(&app, &path, "pay-1", &payment).await;
    assert_eq!((again, replayed), (StatusCode::CREATED, true));
    assert_eq!(body_again, body, "the first response, again");
    assert_eq!(i64_of(&body_again, "amountPaid"), 50_000);

    let (_, now) = app
        .call(
            Method::GET,
            &format!("/orders/{}", uuid_of(&order, "id")),
            None,
        )
        .await;
    assert_eq!(i64_of(&now, "amountPaid"), 50_000, "paid once: {now}");
    assert_eq!(now["payments"].as_array().map(Vec::len), Some(1));

    let (other, _, problem) = post_keyed(
        &app,
        &path,
        "pay-1",
        &json!({ "amount": 1, "method": "cash" }),
    )
    .await;
    assert_eq!(other, StatusCode::CONFLICT, "{problem}");
}

#[tokio::test]
async fn a_retried_adjustment_moves_stock_once_even_when_sent_concurrently() {
    let app = TestApp::spawn().await;
    let (store, product, _) = setup(&app).await;
    let path = format!("/stores/{store}/inventory/{product}/adjustments");
    let delivery = json!({ "delta": 7, "reason": "delivery note 42" });
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let request = app
            .request(Method::POST, &path, Some(&app.admin_token))
            .header("idempotency-key", "delivery-42")
            .json(&delivery);
        tasks.spawn(send(request));
    }
    let mut statuses = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.expect("task");
        assert_eq!(status, StatusCode::CREATED, "{body}");
        statuses.push(i64_of(&body, "quantity"));
    }
    assert!(
        statuses.iter().all(|q| *q == 7),
        "every answer is the first: {statuses:?}"
    );
    assert_eq!(
        stock_quantity(&app, store, product).await,
        7,
        "taken in once"
    );

    let (status, _, _) = post_keyed(
        &app,
        &path,
        "delivery-42",
        &json!({ "delta": 8, "reason": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_retried_transfer_moves_units_once() {
    let app = TestApp::spawn().await;
    let (from, product, _) = setup(&app).await;
    let to = app.create_store("IDM-02").await;
    stock_in(&app, from, product, 10).await;
    let transfer =
        json!({ "productId": product, "fromStoreId": from, "toStoreId": to, "quantity": 4 });
    let (first, _, body) = post_keyed(&app, "/inventory/transfers", "move-1", &transfer).await;
    assert_eq!(first, StatusCode::CREATED, "{body}");
    let (again, replayed, body_again) =
        post_keyed(&app, "/inventory/transfers", "move-1", &transfer).await;
    assert_eq!((again, replayed), (StatusCode::CREATED, true));
    assert_eq!(body_again["transferId"], body["transferId"]);
    assert_eq!(stock_quantity(&app, from, product).await, 6);
    assert_eq!(stock_quantity(&app, to, product).await, 4);
}

#[tokio::test]
async fn a_failed_write_does_not_use_up_its_key() {
    let app = TestApp::spawn().await;
    let (store, product, _) = setup(&app).await;
    let path = format!("/stores/{store}/inventory/{product}/adjustments");
    let removal = json!({ "delta": -3, "reason": "damaged" });
    let (short, _, _) = post_keyed(&app, &path, "fix-1", &removal).await;
    assert_eq!(short, StatusCode::CONFLICT, "no stock yet");
    stock_in(&app, store, product, 5).await;
    let (retried, replayed, body) = post_keyed(&app, &path, "fix-1", &removal).await;
    assert_eq!((retried, replayed), (StatusCode::CREATED, false), "{body}");
    assert_eq!(stock_quantity(&app, store, product).await, 2);
}

/// Keys starting `ims-retry-` are the service's own (made up to retry a write across a
/// failover, and purged after an hour): a client's is refused and nothing is done.
#[tokio::test]
async fn a_key_in_the_services_own_namespace_is_refused() {
    let app = TestApp::spawn().await;
    let (store, product, _) = setup(&app).await;
    let path = format!("/stores/{store}/inventory/{product}/adjustments");
    let adjustment = json!({ "delta": 5, "reason": "delivery note 43" });
    let (status, _, problem) = post_keyed(&app, &path, "ims-retry-123", &adjustment).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("ims-retry-"),
        "{problem}"
    );
    assert_eq!(
        stock_quantity(&app, store, product).await,
        0,
        "nothing moved"
    );
}

/// Rows in `table`.
async fn rows(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(app.db.primary())
        .await
        .expect("count")
}

/// Every write that creates something, retried with its key: the first answer again (marked
/// as a replay), one record, never a 409; the key with another body is a 409; a malformed key
/// is refused before anything is written.
#[tokio::test]
async fn every_create_replays_its_first_answer_for_a_retried_key() {
    let app = TestApp::spawn().await;
    let (store, product_id, _) = setup(&app).await;
    let customer_id = uuid_of(&customer(&app, "Asha Rao", "+919811111110").await, "id");
    stock_in(&app, store, product_id, 5).await;
    let order = place_ok(
        &app,
        &app.admin_token,
        store,
        customer_id,
        &[(product_id, 1)],
    )
    .await;
    let order = uuid_of(&order, "id");
    let category = app.create_category("Keyed").await;
    let today: String = sqlx::query_scalar("SELECT (now() AT TIME ZONE 'UTC')::date::text")
        .fetch_one(app.db.primary())
        .await
        .expect("today");
    let creates = [
        (
            "/users",
            "users",
            "email",
            json!({ "email": "keyed@example.com", "username": "keyed",
            "password": "a-long-Passphrase-91", "roles": ["sales"], "storeIds": [store] }),
        ),
        (
            "/stores",
            "stores",
            "name",
            json!({ "code": "KEY1", "name": "Keyed", "city": "Pune", "phone": "+912000000001" }),
        ),
        (
            "/categories",
            "categories",
            "name",
            json!({ "name": "Keyed twice" }),
        ),
        (
            "/products",
            "products",
            "name",
            json!({ "sku": "KEYED-1", "name": "Keyed frame", "description": "",
            "categoryId": category, "brand": "Acme", "price": 1000 }),
        ),
        (
            "/customers",
            "customers",
            "name",
            json!({ "name": "Keyed Customer", "phone": "+919811111111" }),
        ),
        (
            "/prescriptions",
            "prescriptions",
            "notes",
            json!({ "customerId": customer_id, "patientId": customer_id,
            "testDate": today, "rightEye": { "sphere": -1.0 }, "leftEye": { "sphere": -1.0 }, "notes": "" }),
        ),
        (
            "/workshop/jobs",
            "workshop_jobs",
            "instructions",
            json!({ "orderId": order, "priority": "high" }),
        ),
    ];
    for (path, table, field, body) in creates {
        let before = rows(&app, table).await;
        let key = format!("create-{table}");
        let (status, replayed, first) = post_keyed(&app, path, &key, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {first}");
        assert!(!replayed, "{path}: a first request is not a replay");
        let (status, replayed, again) = post_keyed(&app, path, &key, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{path} retried: {again}");
        assert!(replayed, "{path}: the retry must be marked as a replay");
        assert_eq!(first, again, "{path}: the retry gets the first answer");
        assert_eq!(rows(&app, table).await, before + 1, "{path}: one record");

        let mut other = body.clone();
        other[field] = json!("another@example.com");
        let (status, _, problem) = post_keyed(&app, path, &key, &other).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{path}: the key with another body must be refused: {problem}"
        );
        for bad in ["", "ims-retry-1", &"k".repeat(256)] {
            let (status, _, problem) = post_keyed(&app, path, bad, &body).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{path} key {bad:?}: {problem}"
            );
        }
        assert_eq!(rows(&app, table).await, before + 1, "{path}: nothing more");
    }
}

/// A job's move, an order's status change and a product's update are keyed too (the failover
/// middleware retries them with a key of its own after a lost primary): the retry gets the
/// first answer and the change is made once, where a second status change would be refused
/// as a move from the new status.
#[tokio::test]
async fn a_retried_status_change_or_product_update_is_made_once() {
    let app = TestApp::spawn().await;
    let (store, product_id, _) = setup(&app).await;
    let buyer = uuid_of(&customer(&app, "Asha Rao", "+919811111112").await, "id");
    stock_in(&app, store, product_id, 5).await;
    let order = place_ok(&app, &app.admin_token, store, buyer, &[(product_id, 1)]).await;
    let (status, _, job) = post_keyed(
        &app,
        "/workshop/jobs",
        "job-for-move",
        &json!({ "orderId": uuid_of(&order, "id"), "priority": "normal" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let (_, cached) = app.call(Method::GET, "/products/sku/ID-001", None).await;
    assert_eq!(cached["sku"], "ID-001", "{cached}");

    // (path, body, another body, the field the answer shows changed and its value)
    let updates = [
        (
            format!("/workshop/jobs/{}/status", uuid_of(&job, "id")),
            json!({ "status": "in_progress", "note": "on the bench" }),
            json!({ "status": "cancelled", "note": "" }),
            ("status", json!("in_progress")),
        ),
        (
            format!("/orders/{}/status", uuid_of(&order, "id")),
            json!({ "status": "confirmed" }),
            json!({ "status": "cancelled" }),
            ("status", json!("confirmed")),
        ),
        (
            format!("/products/{product_id}"),
            json!({ "sku": "ID-002", "price": 120_000 }),
            json!({ "price": 1 }),
            ("price", json!(120_000)),
        ),
    ];
    for (path, body, other, (field, value)) in updates {
        let key = format!("update-{path}");
        let (first, replayed, answer) = send_keyed(&app, Method::PATCH, &path, &key, &body).await;
        assert_eq!(
            (first, replayed),
            (StatusCode::OK, false),
            "{path}: {answer}"
        );
        assert_eq!(answer[field], value, "{path}: {answer}");
        let (again, replayed, answer_again) =
            send_keyed(&app, Method::PATCH, &path, &key, &body).await;
        assert_eq!(
            (again, replayed),
            (StatusCode::OK, true),
            "{path}: {answer_again}"
        );
        assert_eq!(
            answer_again, answer,
            "{path}: the first answer, again, as it was sent"
        );
        let (status, _, problem) = send_keyed(&app, Method::PATCH, &path, &key, &other).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{path}, another body: {problem}"
        );
    }

    // Made once: the job's history holds one move; without the key the same move or status
    // change is a second one, which the new status refuses.
    let history: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workshop_job_history WHERE job_id = $1")
            .bind(uuid_of(&job, "id"))
            .fetch_one(app.db.primary())
            .await
            .expect("history");
    assert_eq!(history, 2, "queued, then one move");
    let job_path = format!("/workshop/jobs/{}/status", uuid_of(&job, "id"));
    let order_path = format!("/orders/{}/status", uuid_of(&order, "id"));
    for (path, body) in [
        (job_path, json!({ "status": "in_progress", "note": "" })),
        (order_path, json!({ "status": "confirmed" })),
    ] {
        let (status, unkeyed) = app.call(Method::PATCH, &path, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{path}, a second change: {unkeyed}"
        );
    }
    let (gone, _) = app.call(Method::GET, "/products/sku/ID-001", None).await;
    assert_eq!(gone, StatusCode::NOT_FOUND, "the old sku is forgotten");
}
