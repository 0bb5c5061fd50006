//! Concurrent misses of one key load it from the database once.

use super::*;

/// Invalidates the product with a price change, then sends 50 concurrent GETs of `path`;
/// returns the calls of `pattern` meanwhile, after checking every answer has the new price.
async fn stampede(s: &Shop, path: &str, pattern: &str) -> i64 {
    let app = &s.app;
    enable_statement_stats(app).await;
    // Sessions and profiles cached first: only the product is missing.
    cache_it(app, s.token(), "/auth/me").await;
    let (deltas, ()) = calls_during(app, &[pattern], |attempt| async move {
        let price = 20_000 + i64::try_from(attempt).unwrap_or(0);
        s.patch_product(json!({ "price": price })).await;
        let caller = Caller::new(app, s.token());
        let mut requests = JoinSet::new();
        for _ in 0..50 {
            let caller = caller.clone();
            let path = path.to_owned();
            requests.spawn(async move { caller.send(Method::GET, &path, None).await });
        }
        while let Some(answer) = requests.join_next().await {
            let answer = answer.expect("request task");
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            assert_eq!(answer.body["price"], price, "{}", answer.body);
        }
    })
    .await;
    deltas[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_a_product_by_id_load_it_once() {
    let s = shop().await;
    let path = format!("/products/{}", s.product);
    let loads = stampede(&s, &path, PRODUCT_BY_ID).await;
    assert_eq!(
        loads, 1,
        "50 concurrent GET {path} after an update must read the product from the database once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_a_product_by_sku_load_it_once() {
    let s = shop().await;
    let path = format!("/products/sku/{}", s.sku);
    let loads = stampede(&s, &path, PRODUCT_BY_SKU).await;
    assert_eq!(
        loads, 1,
        "50 concurrent GET {path} after an update must read the product from the database once"
    );
}
