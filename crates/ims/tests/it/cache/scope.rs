//! What a write leaves in the cache: only the keys and variants it changed are forgotten.

use super::*;

/// A second product in the shop's category and store, dearer than the first.
async fn second_product(s: &Shop) -> Uuid {
    let other = product(&s.app, s.category, "CACHE-02", 5 * PRICE).await;
    stock_in(&s.app, s.store, other, STOCK).await;
    other
}

/// The prefixes (`n:`, `p:`, `r:`, `s:`, `sp:`) of the cached variants of a list key.
async fn cached_kinds(app: &TestApp, key: &str) -> Vec<String> {
    let mut kinds: Vec<String> = cached_variants(app, key)
        .await
        .iter()
        .filter_map(|f| f.split_once(':').map(|(kind, _)| kind.to_owned()))
        .collect();
    kinds.dedup();
    kinds
}

#[tokio::test]
async fn a_sale_forgets_only_what_shows_the_sold_product_s_stock() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let by_name = format!("/categories/{}/products", s.category);
    let by_sales = format!("/categories/{}/products?sort=-sales", s.category);
    let only_other = format!("/categories/{}/products?minPrice={}", s.category, 4 * PRICE);
    let sold_row = format!("/stores/{}/inventory/{}", s.store, s.product);
    let other_row = format!("/stores/{}/inventory/{other}", s.store);
    for path in [&by_name, &by_sales, &only_other, &sold_row, &other_row] {
        cache_it(app, token, path).await;
    }
    let category_key = format!("category:{}:products", s.category);
    assert_eq!(cached_kinds(app, &category_key).await, ["n", "p", "r"]);

    s.order(2).await;

    // The pages by name and by price stand (they hold ids), and so does the ranking by sales
    // (reloaded by age, see the next test). The sold product's body stays, beside its stock
    // figures moved forward; so do both stock rows, each beside its own figures.
    assert_eq!(cached_kinds(app, &category_key).await, ["n", "p", "r"]);
    assert_eq!(
        cached_variants(app, &format!("product:{}", s.product)).await,
        ["", "#tally"]
    );
    let mut rows = vec![
        format!("#tally:item:{other}"),
        format!("#tally:item:{}", s.product),
        format!("item:{other}"),
        format!("item:{}", s.product),
    ];
    rows.sort();
    assert_eq!(
        cached_variants(app, &format!("store:{}:inventory", s.store)).await,
        rows
    );
    let page = hit_afresh(app, token, &by_name).await;
    let sold = item_with(&page, "id", s.product).expect("sold product listed");
    assert_eq!(sold["quantity"], STOCK - 2, "{page}");
    assert_eq!(sold["salesCount"], 2, "{page}");
    // The ranking keeps its order (the newer product first, as before the sale) with the
    // sold product's new figures.
    let page = hit_afresh(app, token, &by_sales).await;
    assert_eq!(ids(items(&page)), vec![other, s.product], "{page}");
    let sold = item_with(&page, "id", s.product).expect("listed");
    assert_eq!(sold["salesCount"], 2, "{page}");
    let (outcome, page) = read(app, token, &only_other).await;
    assert_eq!(outcome, "hit", "{page}");
    assert_eq!(ids(items(&page)), vec![other], "{page}");
    assert_eq!(read(app, token, &other_row).await.0, "hit");
    assert_eq!(
        hit_afresh(app, token, &sold_row).await["quantity"],
        STOCK - 2
    );
}

/// A ranking by sales is not forgotten by sales (it would hardly ever be read between two in
/// a busy store): it keeps its order, with current figures, until it is older than its
/// maximum age, and is then read afresh.
#[tokio::test]
async fn a_ranking_by_sales_is_reordered_once_it_is_old_enough() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let by_sales = format!("/categories/{}/products?sort=-sales", s.category);
    // Neither has sold yet: the newer product first.
    let page = cache_it(app, token, &by_sales).await;
    assert_eq!(ids(items(&page)), vec![other, s.product], "{page}");

    s.order(3).await;

    let page = hit_afresh(app, token, &by_sales).await;
    assert_eq!(ids(items(&page)), vec![other, s.product], "{page}");
    let sold = item_with(&page, "id", s.product).expect("listed");
    assert_eq!(sold["salesCount"], 3, "the figures are current: {page}");

    // Age the cached page past the maximum age (30 s), as time would.
    let key = cache::keys::redis_name(
        &format!("{}:", app.database_name),
        &format!("category:{}:products", s.category),
    );
    let field = cached_variants(app, &format!("category:{}:products", s.category))
        .await
        .into_iter()
        .find(|f| f.starts_with("r:"))
        .expect("the ranking is cached");
    let mut conn = test_redis().await;
    let cached: String = redis::cmd("HGET")
        .arg(&key)
        .arg(&field)
        .query_async(&mut conn)
        .await
        .expect("HGET");
    let mut cached: Value = serde_json::from_str(&cached).expect("a page");
    let loaded = cached["loadedAtMs"].as_i64().expect("loadedAtMs");
    cached["loadedAtMs"] = json!(loaded - 31_000);
    let _: i64 = redis::cmd("HSET")
        .arg(&key)
        .arg(&field)
        .arg(cached.to_string())
        .query_async(&mut conn)
        .await
        .expect("HSET");

    let page = miss_then_hit(app, token, &by_sales).await;
    assert_eq!(ids(items(&page)), vec![s.product, other], "{page}");
}

/// A restock of a product in stock, or a transfer, changes no list (lists hold ids; the
/// quantities shown come from the products' tallies): the pages sorted by sales and filtered
/// by stock stay cached with the new figures. Stock that runs out or comes back changes the
/// lists filtered by stock, which are read afresh at once.
#[tokio::test]
async fn a_restock_keeps_lists_and_stock_crossing_zero_changes_them() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let by_sales = format!("/categories/{}/products?sort=-sales", s.category);
    let in_stock = format!("/categories/{}/products?inStock=true", s.category);
    let sold_out = format!("/categories/{}/products?inStock=false", s.category);
    let search = "/products?q=product&inStock=true";
    for path in [&by_sales, &in_stock, &sold_out] {
        cache_it(app, token, path).await;
    }
    cache_it(app, token, search).await;

    stock_in(app, s.store, other, 5).await;
    let page = hit_afresh(app, token, &in_stock).await;
    let restocked = item_with(&page, "id", other).expect("listed");
    assert_eq!(restocked["quantity"], STOCK + 5, "{page}");
    hit_afresh(app, token, &by_sales).await;
    hit_afresh(app, token, search).await;
    assert!(items(&hit_afresh(app, token, &sold_out).await).is_empty());

    // Out of stock: the lists filtered by stock change.
    stock_in(app, s.store, other, -(STOCK + 5)).await;
    let page = miss_then_hit(app, token, &in_stock).await;
    assert_eq!(ids(items(&page)), vec![s.product], "{page}");
    let page = miss_then_hit(app, token, &sold_out).await;
    assert_eq!(ids(items(&page)), vec![other], "{page}");
    // And back.
    stock_in(app, s.store, other, 1).await;
    let page = miss_then_hit(app, token, &in_stock).await;
    assert_eq!(ids(items(&page)).len(), 2, "{page}");
    assert!(items(&miss_then_hit(app, token, &sold_out).await).is_empty());
}

#[tokio::test]
async fn a_price_change_reorders_lists_by_price_and_keeps_pages_by_name() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let by_name = format!("/categories/{}/products", s.category);
    let by_price = format!("/categories/{}/products?sort=price", s.category);
    assert_eq!(
        ids(items(&cache_it(app, token, &by_price).await)),
        vec![s.product, other]
    );
    cache_it(app, token, &by_name).await;
    let category_key = format!("category:{}:products", s.category);
    assert_eq!(cached_kinds(app, &category_key).await, ["n", "p"]);

    s.patch_product(json!({ "price": 9 * PRICE })).await;

    assert_eq!(cached_kinds(app, &category_key).await, ["n"]);
    assert!(cached_variants(app, &format!("product:{}", s.product))
        .await
        .is_empty());
    let page = miss_then_hit(app, token, &by_name).await;
    let changed = item_with(&page, "id", s.product).expect("listed");
    assert_eq!(changed["price"], 9 * PRICE, "{page}");
    let page = miss_then_hit(app, token, &by_price).await;
    assert_eq!(ids(items(&page)), vec![other, s.product], "{page}");
}

#[tokio::test]
async fn searches_are_cached_and_a_renamed_product_is_found_by_its_new_name_at_once() {
    let s = shop().await;
    let other = second_product(&s).await;
    let (app, token) = (&s.app, s.token());
    let old_word = "/products?q=product";
    let new_word = "/products?q=lorgnette";
    let found = cache_it(app, token, old_word).await;
    assert_eq!(items(&found).len(), 2, "{found}");
    assert!(items(&cache_it(app, token, new_word).await).is_empty());

    s.patch_product(json!({ "name": "Lorgnette Classic", "description": "gold" }))
        .await;

    let found = miss_then_hit(app, token, old_word).await;
    assert_eq!(ids(items(&found)), vec![other], "{found}");
    let found = miss_then_hit(app, token, new_word).await;
    assert_eq!(ids(items(&found)), vec![s.product], "{found}");
    assert_eq!(items(&found)[0]["name"], "Lorgnette Classic", "{found}");
}
