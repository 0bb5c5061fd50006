//! Stock per store: listing and status, adjustments, transfers, the movement history and the
//! invariants (never negative; movements add up to the quantity; a product's quantity is the
//! sum over its stores) after a long random mix of operations.

use std::collections::HashSet;

use crate::support::ops::*;
use crate::support::paging::walk;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, TestApp};
use tokio::task::JoinSet;
use uuid::Uuid;

async fn transfer_as(
    app: &TestApp,
    token: &str,
    product: Uuid,
    from: Uuid,
    to: Uuid,
    quantity: i64,
) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::POST,
        "/inventory/transfers",
        Some(json!({ "productId": product, "fromStoreId": from, "toStoreId": to, "quantity": quantity })),
    )
    .await
}

fn product_ids(values: &[Value]) -> Vec<Uuid> {
    values.iter().map(|v| uuid_of(v, "productId")).collect()
}

// ------------------------------------------------------------------------------- reading

#[tokio::test]
async fn a_store_lists_its_stock_lowest_first_with_a_status_from_the_quantity() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN01").await;
    let other_store = app.create_store("MUM01").await;
    let category = app.create_category("Frames").await;
    let (_, sales) = app.create_user("sales_a", &["sales"], &[store]).await;

    // (sku, quantity): 0 is out of stock, up to the reorder level (5) is low, above is in stock.
    let wanted = [
        ("STK-F", 50),
        ("STK-A", 0),
        ("STK-E", 6),
        ("STK-C", 5),
        ("STK-B", 1),
        ("STK-D", 5),
    ];
    let mut products = Vec::new();
    for (sku, quantity) in wanted {
        let id = product(&app, category, sku, 1_000).await;
        if quantity == 0 {
            stock_in(&app, store, id, 3).await;
            let (status, body) = adjust_as(&app, &app.admin_token, store, id, -3, "damaged").await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        } else {
            stock_in(&app, store, id, quantity).await;
        }
        products.push((id, sku, quantity));
    }
    let never_stocked = product(&app, category, "STK-NONE", 1_000).await;
    let status_of = |quantity: i64| match quantity {
        0 => "out_of_stock",
        1..=5 => "low_stock",
        _ => "in_stock",
    };

    let list = walk(&app, &sales, &format!("/stores/{store}/inventory"), 100).await;
    assert_eq!(list.len(), 6, "only rows that exist: {list:?}");
    let quantities: Vec<i64> = list.iter().map(|r| i64_of(r, "quantity")).collect();
    assert_eq!(quantities, [0, 1, 5, 5, 6, 50], "lowest quantity first");
    for row in &list {
        let (_, sku, quantity) = products
            .iter()
            .find(|(id, _, _)| *id == uuid_of(row, "productId"))
            .expect("a known product");
        assert_eq!(row["sku"], *sku, "{row}");
        assert_eq!(row["name"], format!("Product {sku}"), "{row}");
        assert_eq!(row["storeId"], json!(store), "{row}");
        assert_eq!(row["quantity"], *quantity, "{row}");
        assert_eq!(row["reorderLevel"], 5, "{row}");
        assert_eq!(row["status"], status_of(*quantity), "{row}");
    }
    // Paging keeps the order, also through a run of equal quantities.
    let paged = walk(&app, &sales, &format!("/stores/{store}/inventory"), 2).await;
    assert_eq!(product_ids(&paged), product_ids(&list));

    let by_sku = |skus: &[&str]| -> HashSet<Uuid> {
        products
            .iter()
            .filter(|(_, sku, _)| skus.contains(sku))
            .map(|(id, _, _)| *id)
            .collect()
    };
    let filtered = |query: &'static str| {
        let sales = sales.clone();
        let app = &app;
        async move {
            let rows = walk(
                app,
                &sales,
                &format!("/stores/{store}/inventory?{query}"),
                100,
            )
            .await;
            let quantities: Vec<i64> = rows.iter().map(|r| i64_of(r, "quantity")).collect();
            assert!(
                quantities.is_sorted(),
                "{query}: lowest first: {quantities:?}"
            );
            product_ids(&rows).into_iter().collect::<HashSet<Uuid>>()
        }
    };
    assert_eq!(
        filtered("lowStock=true").await,
        by_sku(&["STK-A", "STK-B", "STK-C", "STK-D"])
    );
    assert_eq!(filtered("status=out_of_stock").await, by_sku(&["STK-A"]));
    assert_eq!(
        filtered("status=low_stock").await,
        by_sku(&["STK-B", "STK-C", "STK-D"])
    );
    assert_eq!(
        filtered("status=in_stock").await,
        by_sku(&["STK-E", "STK-F"])
    );
    assert_eq!(filtered("lowStock=false").await.len(), 6);
    for query in [
        "status=plenty",
        "lowStock=maybe",
        "limit=0",
        "cursor=nonsense",
    ] {
        let (status, body) = app
            .call_as(
                &sales,
                Method::GET,
                &format!("/stores/{store}/inventory?{query}"),
                None,
            )
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }

    // One row; a product the store never stocked has none.
    let (c_id, _, _) = products[3];
    let row = get_ok(&app, &sales, &format!("/stores/{store}/inventory/{c_id}")).await;
    assert_eq!(row["quantity"], 5);
    assert_eq!(row["status"], "low_stock");
    assert_eq!(row["sku"], "STK-C");
    let (status, body) = app
        .call_as(
            &sales,
            Method::GET,
            &format!("/stores/{store}/inventory/{never_stocked}"),
            None,
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);

    // Another store's stock is its own.
    assert!(walk(
        &app,
        &app.admin_token,
        &format!("/stores/{other_store}/inventory"),
        10
    )
    .await
    .is_empty());
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/stores/{other_store}/inventory/{c_id}"),
            None,
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
}

// ------------------------------------------------------------------------------- adjustments

#[tokio::test]
async fn adjustments_add_and_remove_units_with_a_reason_and_never_go_below_zero() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN01").await;
    let category = app.create_category("Frames").await;
    let (manager_id, manager) = app.create_user("manager_a", &["manager"], &[store]).await;
    let frame = product(&app, category, "ADJ-01", 1_000).await;

    // The first delivery creates the row.
    let (status, row) = adjust_as(&app, &manager, store, frame, 10, "delivery from supplier").await;
    assert_eq!(status, StatusCode::CREATED, "{row}");
    assert_eq!(row["quantity"], 10);
    assert_eq!(row["status"], "in_stock");
    assert_eq!(row["productId"], json!(frame));
    assert_eq!(row["storeId"], json!(store));
    let (status, row) = adjust_as(&app, &manager, store, frame, -4, "two broken, two lost").await;
    assert_eq!(status, StatusCode::CREATED, "{row}");
    assert_eq!(row["quantity"], 6);
    // The answer is the row whole (name, reorder level, time of the change), as read later.
    assert_eq!(row, stock_row(&app, store, frame).await);
    assert_eq!(product_json(&app, frame).await["quantity"], 6);

    let moves = movements(&app, store, frame, 1).await;
    assert_eq!(moves.len(), 2);
    assert_eq!(moves[0]["kind"], "adjustment");
    assert_eq!(moves[0]["delta"], -4);
    assert_eq!(moves[0]["reason"], "two broken, two lost");
    assert_eq!(moves[0]["actorId"], json!(manager_id));
    assert_eq!(moves[1]["delta"], 10);
    assert_eq!(moves[1]["reason"], "delivery from supplier");

    // Invalid values name their field.
    let cases: [(i64, &str, &[&str]); 5] = [
        (3, "", &["reason"]),
        (3, "   ", &["reason"]),
        (0, "recount", &["delta"]),
        (0, "", &["delta", "reason"]),
        (100_001, "typo", &["delta"]),
    ];
    for (delta, reason, fields) in cases {
        let (status, body) = adjust_as(&app, &manager, store, frame, delta, reason).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        let named: HashSet<String> = error_fields(&body).into_iter().collect();
        let expected: HashSet<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(named, expected, "delta {delta} reason {reason:?}: {body}");
    }
    // Below zero: refused, nothing changed.
    let (status, body) = adjust_as(&app, &manager, store, frame, -7, "count").await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(stock_row(&app, store, frame).await["quantity"], 6);
    assert_eq!(product_json(&app, frame).await["quantity"], 6);
    assert_eq!(movements(&app, store, frame, 10).await.len(), 2);

    // Taking the last units is fine; the row is then out of stock.
    let (status, row) = adjust_as(&app, &manager, store, frame, -6, "sold at the fair").await;
    assert_eq!(status, StatusCode::CREATED, "{row}");
    assert_eq!(row["quantity"], 0);
    assert_eq!(row["status"], "out_of_stock");

    // Removing from a row that does not exist creates nothing.
    let other = product(&app, category, "ADJ-02", 1_000).await;
    let (status, body) = adjust_as(&app, &manager, store, other, -1, "count").await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/stores/{store}/inventory/{other}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An unknown product or store is named by the path: 404 (the document says so), not a
    // 422 for a body field, and nothing is created.
    let ghost = Uuid::new_v4();
    let (status, body) = adjust_as(&app, &manager, store, ghost, 5, "delivery").await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/stores/{ghost}/inventory/{frame}/adjustments"),
            Some(json!({ "delta": 5, "reason": "delivery" })),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
    assert_stock_invariants(&app).await;
}

/// A product's `updatedAt` is when its catalogue entry last changed: a stock move changes its
/// figures, not that time (the cache keeps the body apart from the figures, so a moving time
/// would differ between a cached read and one from the database); an edit moves it.
#[tokio::test]
async fn stock_moves_leave_a_products_updated_at_and_edits_move_it() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN01").await;
    let category = app.create_category("Frames").await;
    let frame = product(&app, category, "TCH-01", 1_000).await;
    let in_database = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
            "SELECT updated_at FROM products WHERE id = $1",
        )
        .bind(frame)
        .fetch_one(app.db.primary())
        .await
        .expect("the product's row")
    };
    let created = in_database().await;
    let served = product_json(&app, frame).await["updatedAt"].clone();

    for (delta, reason) in [(10, "delivery"), (-3, "two broken, one lost")] {
        let (status, row) = adjust_as(&app, &app.admin_token, store, frame, delta, reason).await;
        assert_eq!(status, StatusCode::CREATED, "{row}");
    }
    let after_moves = product_json(&app, frame).await;
    assert_eq!(after_moves["quantity"], 7, "{after_moves}");
    assert_eq!(after_moves["updatedAt"], served, "{after_moves}");
    assert_eq!(
        in_database().await,
        created,
        "the row's updated_at after two stock moves"
    );

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/products/{frame}"),
            Some(json!({ "price": 1_100 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let edited = in_database().await;
    assert!(
        edited > created,
        "an edit moves updated_at: {created} -> {edited}"
    );
    let read = product_json(&app, frame).await;
    assert_ne!(read["updatedAt"], served, "{read}");
    assert_eq!(read["quantity"], 7, "{read}");
}

// ------------------------------------------------------------------------------- transfers

#[tokio::test]
async fn transfers_move_units_between_stores_all_or_nothing() {
    let app = TestApp::spawn().await;
    let store_a = app.create_store("PUN01").await;
    let store_b = app.create_store("MUM01").await;
    let category = app.create_category("Frames").await;
    let (both_id, both) = app
        .create_user("manager_ab", &["manager"], &[store_a, store_b])
        .await;
    let (_, only_a) = app.create_user("manager_a", &["manager"], &[store_a]).await;
    let (_, sales) = app
        .create_user("sales_ab", &["sales"], &[store_a, store_b])
        .await;
    let frame = product(&app, category, "XFER-01", 1_000).await;
    stock_in(&app, store_a, frame, 10).await;

    // B has no row yet: the transfer creates it.
    let (status, moved) = transfer_as(&app, &both, frame, store_a, store_b, 4).await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    let transfer_id = uuid_of(&moved, "transferId");
    assert_eq!(moved["from"]["quantity"], 6, "{moved}");
    assert_eq!(moved["from"]["storeId"], json!(store_a));
    assert_eq!(moved["to"]["quantity"], 4, "{moved}");
    assert_eq!(moved["to"]["storeId"], json!(store_b));
    assert_eq!(stock_quantity(&app, store_a, frame).await, 6);
    assert_eq!(stock_quantity(&app, store_b, frame).await, 4);
    assert_eq!(
        product_json(&app, frame).await["quantity"],
        10,
        "the chain still has 10"
    );

    let out = movements(&app, store_a, frame, 10).await;
    let into = movements(&app, store_b, frame, 10).await;
    assert_eq!(out.len(), 2);
    assert_eq!(into.len(), 1);
    assert_eq!(out[0]["kind"], "transfer_out");
    assert_eq!(out[0]["delta"], -4);
    assert_eq!(into[0]["kind"], "transfer_in");
    assert_eq!(into[0]["delta"], 4);
    assert_eq!(uuid_of(&out[0], "transferId"), transfer_id);
    assert_eq!(uuid_of(&into[0], "transferId"), transfer_id);
    assert_eq!(out[0]["actorId"], json!(both_id));

    // Refusals change nothing.
    let (status, body) = transfer_as(&app, &both, frame, store_a, store_b, 7).await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(error_fields(&body), ["quantity"], "{body}");
    let (status, body) = transfer_as(&app, &both, frame, store_a, store_a, 1).await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), ["toStoreId"], "{body}");
    for quantity in [0, -2] {
        let (status, body) = transfer_as(&app, &both, frame, store_a, store_b, quantity).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&body), ["quantity"], "{body}");
    }
    // A manager of only one of the two stores may not move stock between them.
    for (from, to) in [(store_a, store_b), (store_b, store_a)] {
        let (status, body) = transfer_as(&app, &only_a, frame, from, to, 1).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
    }
    // Sales staff do not move stock.
    let (status, body) = transfer_as(&app, &sales, frame, store_a, store_b, 1).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);

    assert_eq!(stock_quantity(&app, store_a, frame).await, 6);
    assert_eq!(stock_quantity(&app, store_b, frame).await, 4);
    assert_eq!(movements(&app, store_a, frame, 10).await.len(), 2);
    assert_eq!(movements(&app, store_b, frame, 10).await.len(), 1);

    // Everything B has can go back.
    let (status, moved) = transfer_as(&app, &both, frame, store_b, store_a, 4).await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    assert_eq!(moved["from"]["quantity"], 0);
    assert_eq!(moved["from"]["status"], "out_of_stock");
    assert_eq!(moved["to"]["quantity"], 10);
    // Both rows whole, as read later.
    assert_eq!(moved["from"], stock_row(&app, store_b, frame).await);
    assert_eq!(moved["to"], stock_row(&app, store_a, frame).await);
    assert_ne!(uuid_of(&moved, "transferId"), transfer_id);
    assert_eq!(product_json(&app, frame).await["quantity"], 10);
    assert_stock_invariants(&app).await;
}

// ------------------------------------------------------------------------------- invariants

/// An order placed during the random mix and not cancelled yet: id, store index, and
/// lines as (product index, quantity).
type OpenOrder = (Uuid, usize, Vec<(usize, i64)>);

/// The operations of the random mix.
enum Op {
    Order,
    Cancel,
    Adjust,
    Transfer,
}

/// A fixed-seed linear congruential generator: the same "random" mix on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> usize {
        usize::try_from(self.next() % n).expect("small")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn movements_add_up_after_a_random_mix_of_operations() {
    let app = TestApp::spawn().await;
    let stores = [
        app.create_store("PUN01").await,
        app.create_store("MUM01").await,
    ];
    let category = app.create_category("Frames").await;
    let (_, manager) = app.create_user("manager_ab", &["manager"], &stores).await;
    let buyer = id_of(&customer(&app, "Asha Rao", "+919876543210").await);
    let mut products = Vec::new();
    for sku in ["MIX-01", "MIX-02", "MIX-03"] {
        products.push(product(&app, category, sku, 1_000).await);
    }
    // The model: what every row must hold, and each product's units sold.
    let mut model = [[0i64; 2]; 3];
    let mut sold = [0i64; 3];
    for (p, product) in products.iter().enumerate() {
        for (s, store) in stores.iter().enumerate() {
            stock_in(&app, *store, *product, 8).await;
            model[p][s] = 8;
        }
    }
    let mut open_orders: Vec<OpenOrder> = Vec::new();
    let mut rng = Lcg(20_260_101);
    let mut outcomes = [0usize; 2]; // [done, refused]

    for step in 0..60 {
        let op = match rng.below(10) {
            0..=3 => Op::Order,
            4 | 5 if !open_orders.is_empty() => Op::Cancel,
            4..=7 => Op::Adjust,
            _ => Op::Transfer,
        };
        match op {
            Op::Order => {
                let s = rng.below(2);
                let first = rng.below(3);
                let mut lines = vec![(first, 1 + rng.below(4) as i64)];
                if rng.below(2) == 1 {
                    lines.push(((first + 1 + rng.below(2)) % 3, 1 + rng.below(4) as i64));
                }
                let request: Vec<(Uuid, i64)> =
                    lines.iter().map(|(p, q)| (products[*p], *q)).collect();
                let (status, body) = place_as(&app, &manager, stores[s], buyer, &request).await;
                let fits = lines.iter().all(|(p, q)| model[*p][s] >= *q);
                if fits {
                    assert_eq!(
                        status,
                        StatusCode::CREATED,
                        "step {step}: order {lines:?}: {body}"
                    );
                    for (p, q) in &lines {
                        model[*p][s] -= q;
                        sold[*p] += q;
                    }
                    open_orders.push((id_of(&body), s, lines));
                    outcomes[0] += 1;
                } else {
                    assert_problem(status, &body, StatusCode::CONFLICT);
                    outcomes[1] += 1;
                }
            }
            Op::Cancel => {
                let (order, s, lines) = open_orders.remove(rng.below(open_orders.len() as u64));
                let (status, body) = order_status_as(&app, &manager, order, "cancelled").await;
                assert_eq!(status, StatusCode::OK, "step {step}: cancel: {body}");
                for (p, q) in &lines {
                    model[*p][s] += q;
                    sold[*p] -= q;
                }
                outcomes[0] += 1;
            }
            Op::Adjust => {
                let (p, s) = (rng.below(3), rng.below(2));
                let delta = match rng.below(14) as i64 - 5 {
                    0 => 1,
                    d => d,
                };
                let (status, body) =
                    adjust_as(&app, &manager, stores[s], products[p], delta, "count").await;
                if model[p][s] + delta >= 0 {
                    assert_eq!(
                        status,
                        StatusCode::CREATED,
                        "step {step}: adjust {delta}: {body}"
                    );
                    model[p][s] += delta;
                    outcomes[0] += 1;
                } else {
                    assert_problem(status, &body, StatusCode::CONFLICT);
                    outcomes[1] += 1;
                }
            }
            Op::Transfer => {
                let (p, from) = (rng.below(3), rng.below(2));
                let quantity = 1 + rng.below(6) as i64;
                let (status, body) = transfer_as(
                    &app,
                    &manager,
                    products[p],
                    stores[from],
                    stores[1 - from],
                    quantity,
                )
                .await;
                if model[p][from] >= quantity {
                    assert_eq!(status, StatusCode::CREATED, "step {step}: transfer: {body}");
                    model[p][from] -= quantity;
                    model[p][1 - from] += quantity;
                    outcomes[0] += 1;
                } else {
                    assert_problem(status, &body, StatusCode::CONFLICT);
                    outcomes[1] += 1;
                }
            }
        }
    }
    assert!(
        outcomes[0] >= 30 && outcomes[1] >= 3,
        "a real mix: {outcomes:?}"
    );

    // SQL: every row's movements add up to it, totals are sums, nothing negative; and the
    // rows hold exactly what the model says.
    let rows = assert_stock_invariants(&app).await;
    assert_eq!(rows.len(), 6);
    for (p, product) in products.iter().enumerate() {
        for (s, store) in stores.iter().enumerate() {
            let row = rows
                .iter()
                .find(|(rp, rs, _)| rp == product && rs == store)
                .expect("a row per product and store");
            assert_eq!(row.2, model[p][s], "product {p} store {s}");
            assert_eq!(movements_sum(&app, *store, *product).await, model[p][s]);
        }
        let json = product_json(&app, *product).await;
        assert_eq!(json["quantity"], model[p][0] + model[p][1], "{json}");
        assert_eq!(json["salesCount"], sold[p], "{json}");
    }

    // The same invariants hold after a burst of concurrent operations.
    const DELTAS: [i64; 6] = [-3, -2, -1, 1, 2, 3];
    let mut tasks = JoinSet::new();
    for i in 0..30 {
        let (p, s) = (rng.below(3), rng.below(2));
        let request = match i % 3 {
            0 => app
                .request(Method::POST, "/orders", Some(&manager))
                .json(&order_body(
                    stores[s],
                    buyer,
                    &[(products[p], 1 + rng.below(3) as i64)],
                )),
            1 => app
                .request(Method::POST, "/inventory/transfers", Some(&manager))
                .json(&json!({ "productId": products[p], "fromStoreId": stores[s],
                               "toStoreId": stores[1 - s], "quantity": 1 + rng.below(4) })),
            _ => app
                .request(
                    Method::POST,
                    &format!(
                        "/stores/{}/inventory/{}/adjustments",
                        stores[s], products[p]
                    ),
                    Some(&manager),
                )
                .json(&json!({ "delta": DELTAS[rng.below(6)], "reason": "burst" })),
        };
        tasks.spawn(testkit::send(request));
    }
    for (order, _, _) in open_orders.drain(..).take(5) {
        let request = app
            .request(
                Method::PATCH,
                &format!("/orders/{order}/status"),
                Some(&manager),
            )
            .json(&json!({ "status": "cancelled" }));
        tasks.spawn(testkit::send(request));
    }
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.expect("request task");
        assert!(
            [StatusCode::OK, StatusCode::CREATED, StatusCode::CONFLICT].contains(&status),
            "concurrent operation: {status} {body}"
        );
    }
    for (product, _, quantity) in assert_stock_invariants(&app).await {
        assert!(quantity >= 0, "{product}");
    }
}

// ------------------------------------------------------------------------------- roles

#[tokio::test]
async fn staff_read_and_change_only_what_their_role_and_stores_allow() {
    let app = TestApp::spawn().await;
    let store_a = app.create_store("PUN01").await;
    let store_b = app.create_store("MUM01").await;
    let category = app.create_category("Frames").await;
    let (_, sales) = app.create_user("sales_a", &["sales"], &[store_a]).await;
    let (_, technician) = app.create_user("tech_a", &["technician"], &[store_a]).await;
    let (_, optometrist) = app
        .create_user("opto_a", &["optometrist"], &[store_a])
        .await;
    let (_, manager) = app.create_user("manager_a", &["manager"], &[store_a]).await;
    let frame = product(&app, category, "ROLE-01", 1_000).await;
    stock_in(&app, store_a, frame, 5).await;
    stock_in(&app, store_b, frame, 5).await;

    let reads = |store: Uuid| {
        [
            format!("/stores/{store}/inventory"),
            format!("/stores/{store}/inventory/{frame}"),
            format!("/stores/{store}/inventory/{frame}/movements"),
        ]
    };
    // Sales, technicians and managers read their store's stock.
    for token in [&sales, &technician, &manager] {
        for path in reads(store_a) {
            get_ok(&app, token, &path).await;
        }
    }
    // Optometrists do not; nobody reads another store's stock.
    for path in reads(store_a) {
        let (status, body) = app.call_as(&optometrist, Method::GET, &path, None).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
    }
    for token in [&sales, &technician, &manager] {
        for path in reads(store_b) {
            let (status, body) = app.call_as(token, Method::GET, &path, None).await;
            assert_problem(status, &body, StatusCode::FORBIDDEN);
        }
    }

    // Only managers (and admins) adjust, and only in their own stores.
    for token in [&sales, &technician, &optometrist] {
        let (status, body) = adjust_as(&app, token, store_a, frame, 1, "found one").await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
    }
    let (status, body) = adjust_as(&app, &manager, store_b, frame, 1, "found one").await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    let (status, body) = adjust_as(&app, &manager, store_a, frame, 1, "found one").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    assert_eq!(stock_quantity(&app, store_a, frame).await, 6);
    assert_eq!(stock_quantity(&app, store_b, frame).await, 5);
}
