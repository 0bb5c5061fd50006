//! Restarts without a failed request: `ims serve` finishes the request it holds when told to
//! stop (SIGTERM), and `scripts/stack roll` restarts every instance behind the gateway, each
//! drained first, while clients keep reading and placing orders through it.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::gateway::{Gateway, GatewayOptions};
use testkit::id_of;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

fn ims() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ims"))
}

async fn created(gateway: &Gateway, path: &str, body: Value) -> Uuid {
    let (status, body) = gateway.call(Method::POST, path, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    id_of(&body)
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish() {
    let mut gateway = Gateway::start(
        ims(),
        GatewayOptions {
            shutdown_grace_secs: 30,
            ..GatewayOptions::default()
        },
    )
    .await;
    let port = gateway.instances[0].port;
    let body = br#"{"code":"TERM1","name":"Store","city":"Pune","phone":"+912000000000"}"#;
    // Straight to the instance: the headers and half the body, so the request is in flight
    // (its handler waits for the rest) when the signal comes.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connected");
    let head = format!(
        "POST /api/v1/stores HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        gateway.admin_token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(&body[..10]).await.expect("half a body");
    // Let the handler start before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut child = gateway.terminate_instance(0).expect("running");
    // It takes no new connection meanwhile...
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "a stopping instance still accepts connections");
    assert!(
        child.try_wait().expect("status").is_none(),
        "it exited with a request in flight"
    );
    // ...but answers the one it holds, then exits cleanly.
    stream.write_all(&body[10..]).await.expect("the rest");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("an answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joined")
        .expect("exit status");
    assert!(exit.success(), "ims serve exited with {exit}");
    // The store was made (read through the other instance).
    let (status, stores) = gateway.call(Method::GET, "/stores", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(stores["items"]
        .as_array()
        .expect("items")
        .iter()
        .any(|s| s["code"] == "TERM1"));
}

/// What the clients saw during the roll.
#[derive(Default)]
struct Tally {
    ok: usize,
    failures: Vec<String>,
    orders: Vec<Uuid>,
}

#[tokio::test]
async fn a_roll_fails_no_request_and_loses_no_write() {
    let gateway = Gateway::start(ims(), GatewayOptions::default()).await;
    let store = created(
        &gateway,
        "/stores",
        json!({"code": "ROLL1", "name": "Store", "city": "Pune", "phone": "+912000000000"}),
    )
    .await;
    let category = created(&gateway, "/categories", json!({"name": "Frames"})).await;
    let product = created(
        &gateway,
        "/products",
        json!({"sku": "ROLL-1", "name": "Frame", "categoryId": category, "brand": "Acme",
               "price": 1000}),
    )
    .await;
    let (status, body) = gateway
        .call(
            Method::POST,
            &format!("/stores/{store}/inventory/{product}/adjustments"),
            Some(json!({"delta": 100_000, "reason": "received"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let customer = created(
        &gateway,
        "/customers",
        json!({"name": "Asha Rao", "phone": "+91 98765 43210"}),
    )
    .await;
    let pids_before: Vec<u32> = (0..2).map(|i| gateway.instance_pid(i)).collect();

    // Four clients: reads, and orders placed without an Idempotency-Key, which nginx never
    // sends twice; so a request the drain let fail would be counted, not hidden by a retry.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..4 {
        let (client, base, token, stop) = (
            gateway.client.clone(),
            format!("{}/api/v1", gateway.address),
            gateway.admin_token.clone(),
            stop.clone(),
        );
        clients.spawn(async move {
            let mut tally = Tally::default();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let request = if (i + c).is_multiple_of(3) {
                    client.post(format!("{base}/orders")).json(&json!({
                        "storeId": store, "customerId": customer,
                        "items": [{"productId": product, "quantity": 1}],
                    }))
                } else if i.is_multiple_of(2) {
                    client.get(format!("{base}/stores/{store}"))
                } else {
                    client.get(format!("{base}/products/{product}"))
                };
                match request.bearer_auth(&token).send().await {
                    Ok(response) => {
                        let status = response.status();
                        let body: Value = response.json().await.unwrap_or(Value::Null);
                        if !status.is_success() {
                            tally.failures.push(format!("{status}: {body}"));
                        } else {
                            tally.ok += 1;
                            if status == StatusCode::CREATED {
                                tally.orders.push(id_of(&body));
                            }
                        }
                    }
                    Err(e) => tally.failures.push(format!("{e:?}")),
                }
            }
            tally
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rolled, output) = gateway.roll(ims()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    while let Some(done) = clients.join_next().await {
        let t = done.expect("client");
        tally.ok += t.ok;
        tally.failures.extend(t.failures);
        tally.orders.extend(t.orders);
    }
    assert!(rolled.success(), "scripts/stack roll failed: {output}");
    let pids_after: Vec<u32> = (0..2).map(|i| gateway.instance_pid(i)).collect();
    for (before, after) in pids_before.iter().zip(&pids_after) {
        assert_ne!(before, after, "an instance was not restarted: {output}");
    }
    assert!(
        tally.failures.is_empty(),
        "{} of {} requests failed during the roll: {:?}",
        tally.failures.len(),
        tally.ok + tally.failures.len(),
        &tally.failures[..tally.failures.len().min(5)]
    );
    assert!(tally.orders.len() > 10, "the load hardly ran: {}", tally.ok);
    // Every acknowledged order is there, and took its stock.
    for order in &tally.orders {
        let (status, body) = gateway
            .call(Method::GET, &format!("/orders/{order}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "order {order}: {body}");
    }
    let (status, row) = gateway
        .call(
            Method::GET,
            &format!("/stores/{store}/inventory/{product}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{row}");
    assert_eq!(
        row["quantity"],
        json!(100_000 - tally.orders.len() as i64),
        "{row}"
    );
    // Both restarted instances serve through the gateway.
    let upstreams: std::collections::HashSet<String> = gateway
        .access_log()
        .iter()
        .rev()
        .take(100)
        .filter_map(|l| l["upstream_addr"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(upstreams.len(), 2, "{upstreams:?}");
}

#[tokio::test]
async fn a_roll_refuses_a_lone_instance_and_leaves_it_serving() {
    let gateway = Gateway::start(
        ims(),
        GatewayOptions {
            instances: 1,
            ..GatewayOptions::default()
        },
    )
    .await;
    let pid = gateway.instance_pid(0);
    let (rolled, output) = gateway.roll(ims()).await;
    assert!(
        !rolled.success(),
        "a roll of one instance went ahead: {output}"
    );
    assert!(output.contains("two instances or more"), "{output}");
    assert_eq!(gateway.instance_pid(0), pid);
    let (status, _) = gateway.call(Method::GET, "/stores", None).await;
    assert_eq!(status, StatusCode::OK);
}
