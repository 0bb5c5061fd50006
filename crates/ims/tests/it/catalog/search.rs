//! Full-text search: words, prefixes and typos, name matches ranked above description
//! matches, and paging through every match.

use super::*;

async fn search(app: &TestApp, q: &str) -> Value {
    get_ok(app, &app.admin_token, &format!("/products?q={q}&limit=100")).await
}

#[tokio::test]
async fn search_finds_words_prefixes_and_typos() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    let lenses = app.create_category("Lenses").await;
    add_described(
        &app,
        "SG-001",
        "Classic Aviator Sunglasses",
        "Gold metal frame with green lenses",
        "Ray-Ban",
        frames,
    )
    .await;
    add_described(
        &app,
        "FR-001",
        "Round Wayfarer",
        "Acetate frame in tortoiseshell",
        "Vogue",
        frames,
    )
    .await;
    add_described(
        &app,
        "LN-001",
        "Progressive Lens 1.67",
        "Thin high-index lens for reading and distance",
        "Zeiss",
        lenses,
    )
    .await;
    add_described(
        &app,
        "CL-001",
        "Daily Contact Lenses",
        "Pack of 30 soft lenses",
        "Acuvue",
        lenses,
    )
    .await;

    let cases: [(&str, &[&str]); 18] = [
        // A whole word of the name, in any case.
        ("aviator", &["SG-001"]),
        ("AVIATOR", &["SG-001"]),
        ("wayfarer", &["FR-001"]),
        // A word of the description only.
        ("tortoiseshell", &["FR-001"]),
        ("acetate", &["FR-001"]),
        // Prefixes.
        ("aviat", &["SG-001"]),
        ("progr", &["LN-001"]),
        // Misspelled words of the name: a letter missing, wrong or doubled.
        ("aviatr", &["SG-001"]),
        ("aviater", &["SG-001"]),
        ("sunglases", &["SG-001"]),
        ("progresive", &["LN-001"]),
        ("classic%20aviatr", &["SG-001"]),
        // Swapped letters, the commonest typo of all.
        ("avaitor", &["SG-001"]),
        ("wyafarer", &["FR-001"]),
        // Every word must match the same product: no product is both.
        ("tortoiseshell%20aviator", &[]),
        // The brand, and words across fields all present.
        ("ray-ban", &["SG-001"]),
        ("gold%20aviator", &["SG-001"]),
        ("xyzzy", &[]),
    ];
    for (q, expected) in cases {
        let found = search(&app, q).await;
        assert_eq!(sku_set(&found), set(expected), "q={q}: {found}");
    }
    let found = search(&app, "lenses").await;
    assert!(
        sku_set(&found).is_superset(&set(&["CL-001", "SG-001"])),
        "{found}"
    );
    // Search combines with filters.
    let found = get_ok(
        &app,
        &app.admin_token,
        &format!("/products?q=lens&category={frames}"),
    )
    .await;
    assert_eq!(sku_set(&found), set(&["SG-001"]), "{found}");

    // A q without a letter or digit has no word to search for: like a blank one, it lists
    // everything (no schema can say "at least one letter", so it may not be refused).
    let everything = sku_set(&get_ok(&app, &app.admin_token, "/products").await);
    for q in ["!!!", "%26%7C%21%3A*()", "-", "%27%22", "%20"] {
        let found = get_ok(&app, &app.admin_token, &format!("/products?q={q}")).await;
        assert_eq!(sku_set(&found), everything, "q={q}");
    }
}

#[tokio::test]
async fn search_ranks_name_matches_above_description_matches() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    // Created first, so an id tie-break alone would put them first.
    add_described(
        &app,
        "DS-001",
        "Round Metal Frame",
        "Shaped like a classic aviator",
        "Acme",
        frames,
    )
    .await;
    add_described(
        &app,
        "DS-002",
        "Square Acetate Frame",
        "Bolder than an aviator",
        "Acme",
        frames,
    )
    .await;
    add_described(
        &app,
        "NM-001",
        "Titanium Aviator",
        "Lightweight and strong",
        "Acme",
        frames,
    )
    .await;
    add_described(&app, "XX-001", "Cat Eye", "Retro", "Acme", frames).await;

    let found = search(&app, "aviator").await;
    let order = skus(&found);
    assert_eq!(order.len(), 3, "{found}");
    assert_eq!(order[0], "NM-001", "the name match first: {order:?}");
    assert_eq!(
        order[1..].iter().cloned().collect::<BTreeSet<_>>(),
        set(&["DS-001", "DS-002"])
    );
    // A misspelled name word still finds the product.
    assert!(skus(&search(&app, "titanum").await).contains(&"NM-001".to_owned()));
}

#[tokio::test]
async fn search_pages_one_at_a_time_through_all_matches() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    for (sku, name, description) in [
        ("AV-001", "Aviator Gold", "Metal"),
        ("AV-002", "Round Frame", "Like an aviator"),
        ("AV-003", "Aviator Silver", "Metal aviator frame"),
        ("AV-004", "Aviater Kids", "Small"),
        ("AV-005", "Pilot Aviator", "Polarised"),
        ("NO-001", "Cat Eye", "Retro"),
        ("NO-002", "Wayfarer", "Acetate"),
    ] {
        add_described(&app, sku, name, description, "Acme", frames).await;
    }
    let whole = search(&app, "aviator").await;
    assert!(whole["nextCursor"].is_null());
    let whole_ids = strings(items(&whole), "id");
    assert_eq!(
        sku_set(&whole),
        set(&["AV-001", "AV-002", "AV-003", "AV-004", "AV-005"]),
        "{whole}"
    );

    let walked = walk(&app, &app.admin_token, "/products?q=aviator", 1).await;
    assert_distinct(&walked, "search");
    assert_eq!(
        strings(&walked, "id"),
        whole_ids,
        "same matches in the same order"
    );

    let walked = walk(&app, &app.admin_token, "/products?q=aviator", 2).await;
    assert_eq!(strings(&walked, "id"), whole_ids);

    // An explicit sort orders the matches instead of relevance, and pages too.
    let walked = walk(&app, &app.admin_token, "/products?q=aviator&sort=name", 2).await;
    let names: Vec<String> = strings(&walked, "name");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(walked.len(), 5);
}
