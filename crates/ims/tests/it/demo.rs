//! The demo data set (`ims seed`, `scripts/run`): a small coherent chain in which every screen
//! of a client shows something real, read back through the API.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::support::ops::*;
use crate::support::paging::walk;
use serde_json::Value;
use testkit::TestApp;
use uuid::Uuid;

async fn loaded() -> TestApp {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    assert!(seed::demo::load_demo_data(app.db.primary())
        .await
        .expect("demo data loads"));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "the demo took {took:?}");
    app
}

/// The statuses of a list's items.
fn statuses(list: &[Value]) -> BTreeSet<String> {
    list.iter()
        .map(|v| str_of(v, "status").to_owned())
        .collect()
}

#[tokio::test]
async fn every_screen_shows_the_demo_chain() {
    let app = loaded().await;
    let token = app.admin_token.clone();

    // Dashboard: open orders and the workshop queue by status, the bestsellers.
    let stats = get_ok(&app, &token, "/dashboard/stats").await;
    let open: i64 = stats["openOrdersByStatus"]
        .as_object()
        .expect("open orders by status")
        .values()
        .filter_map(Value::as_i64)
        .sum();
    assert!(open > 0, "no open orders on the dashboard: {stats}");
    let queued: i64 = stats["workshopQueueByStatus"]
        .as_object()
        .expect("workshop queue by status")
        .values()
        .filter_map(Value::as_i64)
        .sum();
    assert!(queued > 0, "no workshop queue on the dashboard: {stats}");
    let top = stats["topProducts30Days"].as_array().expect("top products");
    assert!(!top.is_empty(), "no bestsellers on the dashboard: {stats}");

    // Orders in several statuses, each with what it was paid. (Pending lasts minutes in the
    // generated lifecycle, so whether any order is still pending depends on the hour the demo
    // is loaded at: at night, after the stores close, none is.)
    let mut present = BTreeSet::new();
    for status in [
        "pending",
        "confirmed",
        "in_workshop",
        "ready",
        "delivered",
        "cancelled",
    ] {
        let list = get_ok(&app, &token, &format!("/orders?status={status}&limit=100")).await;
        let orders = items(&list);
        if !orders.is_empty() {
            assert_eq!(statuses(orders), BTreeSet::from([status.to_owned()]));
            present.insert(status);
        }
    }
    assert!(present.len() >= 4, "orders in {present:?} only");
    for status in ["delivered", "cancelled"] {
        assert!(present.contains(status), "no {status} orders");
    }
    let delivered = get_ok(&app, &token, "/orders?status=delivered&limit=5").await;
    for order in items(&delivered) {
        assert_eq!(str_of(order, "paymentStatus"), "paid", "{order}");
        assert_eq!(
            i64_of(order, "amountPaid"),
            i64_of(order, "total"),
            "{order}"
        );
    }

    // The job queue (open jobs by default) and the finished ones, in several states.
    let queue = walk(&app, &token, "/workshop/jobs", 100).await;
    let open_states = statuses(&queue);
    assert!(open_states.len() >= 2, "open jobs in {open_states:?} only");
    for status in ["completed", "cancelled"] {
        let list = get_ok(&app, &token, &format!("/workshop/jobs?status={status}")).await;
        assert!(!items(&list).is_empty(), "no {status} jobs");
    }
    // A job has its history.
    let job = &queue[0];
    let job = get_ok(
        &app,
        &token,
        &format!("/workshop/jobs/{}", str_of(job, "id")),
    )
    .await;
    let history = job["history"].as_array().expect("a job's history");
    assert!(!history.is_empty(), "a job without history: {job}");

    // A customer's orders and prescriptions.
    let order = &items(&delivered)[0];
    let customer = uuid_of(order, "customerId");
    let theirs = get_ok(&app, &token, &format!("/customers/{customer}/orders")).await;
    assert!(!items(&theirs).is_empty(), "the customer has no orders");
    let with_prescription: Option<Uuid> =
        sqlx::query_scalar("SELECT customer_id FROM prescriptions ORDER BY customer_id LIMIT 1")
            .fetch_optional(app.db.primary())
            .await
            .expect("a prescription");
    let with_prescription = with_prescription.expect("customers with prescriptions");
    let prescriptions = get_ok(
        &app,
        &token,
        &format!("/customers/{with_prescription}/prescriptions"),
    )
    .await;
    assert!(!items(&prescriptions).is_empty(), "{prescriptions}");

    // A sold product's stock in a store is the sum of its movements, and every stock row and
    // product total agrees with its movements.
    let line = &order["items"][0];
    let (store, product) = (uuid_of(order, "storeId"), uuid_of(line, "productId"));
    let quantity = stock_quantity(&app, store, product).await;
    assert_eq!(quantity, movements_sum(&app, store, product).await);
    assert_stock_invariants(&app).await;

    // Loading again changes nothing.
    assert!(!seed::demo::load_demo_data(app.db.primary())
        .await
        .expect("a second load"));
}
