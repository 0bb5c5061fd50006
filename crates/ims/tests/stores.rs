//! The chain's stores: `GET/POST /stores`, `GET/PATCH /stores/{id}`.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, send, TestApp};
use uuid::Uuid;

/// The fields named in a problem's `errors`.
fn error_fields(body: &Value) -> BTreeSet<String> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("problem has no errors: {body}"))
        .iter()
        .map(|e| {
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "every error says what to fix: {body}"
            );
            e["field"].as_str().expect("field is a string").to_owned()
        })
        .collect()
}

fn fields(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn codes(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|s| s["code"].as_str().expect("code").to_owned())
        .collect()
}

async fn all_codes(app: &TestApp) -> Vec<String> {
    codes(&common::walk_pages(app, "/stores", 100).await)
}

async fn get_store(app: &TestApp, id: Uuid) -> Value {
    let (status, body) = app.call(Method::GET, &format!("/stores/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn every_role_lists_and_reads_every_store() {
    let app = TestApp::spawn().await;
    let pune = app.create_store("PUN-01").await;
    let mumbai = app.create_store("MUM-01").await;
    for role in ["manager", "sales", "optometrist", "technician"] {
        let (_, token) = app
            .create_user(&format!("{role}-user"), &[role], &[pune])
            .await;
        let (status, body) = app.call_as(&token, Method::GET, "/stores", None).await;
        assert_eq!(status, StatusCode::OK, "{role}: {body}");
        let items = body["items"].as_array().expect("items");
        assert_eq!(codes(items), ["MUM-01", "PUN-01"], "{role}");
        assert!(body["nextCursor"].is_null());
        // A store the user does not belong to is still readable.
        let (status, body) = app
            .call_as(&token, Method::GET, &format!("/stores/{mumbai}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{role}: {body}");
        assert_eq!(body["code"], "MUM-01");
    }

    let (status, body) = send(app.request(Method::GET, "/stores", None)).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = send(app.request(Method::GET, &format!("/stores/{pune}"), None)).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admin_creates_a_store_with_its_code_upper_cased() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .call(
            Method::POST,
            "/stores",
            Some(json!({
                "code": " pun-01 ", "name": "  Pune Camp ", "city": "Pune",
                "phone": "+91 20 1234-5678",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id: Uuid = created["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id is a uuid");
    assert_eq!(created["code"], "PUN-01");
    assert_eq!(created["name"], "Pune Camp");
    assert_eq!(created["city"], "Pune");
    assert_eq!(created["phone"], "+912012345678");
    assert_eq!(created["status"], "active");
    assert!(created["createdAt"].is_string());

    assert_eq!(get_store(&app, id).await, created);
    assert_eq!(all_codes(&app).await, ["PUN-01"]);
}

#[tokio::test]
async fn only_admins_create_stores() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    for role in ["manager", "sales", "optometrist", "technician"] {
        let (_, token) = app
            .create_user(&format!("{role}-user"), &[role], &[store])
            .await;
        let (status, body) = app
            .call_as(
                &token,
                Method::POST,
                "/stores",
                Some(json!({ "code": "NEW-1", "name": "New", "city": "Goa", "phone": "+918320000000" })),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
    }
    let (status, body) =
        send(app.request(Method::POST, "/stores", None).json(
            &json!({ "code": "NEW-1", "name": "New", "city": "Goa", "phone": "+918320000000" }),
        ))
        .await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    assert_eq!(all_codes(&app).await, ["PUN-01"], "nothing was created");
}

#[tokio::test]
async fn duplicate_code_is_409_regardless_of_case() {
    let app = TestApp::spawn().await;
    let first = app.create_store("BLR-1").await;
    for code in ["BLR-1", "blr-1", " Blr-1 "] {
        let (status, body) = app
            .call(
                Method::POST,
                "/stores",
                Some(json!({ "code": code, "name": "Other", "city": "Bengaluru", "phone": "+918000000000" })),
            )
            .await;
        assert_problem(status, &body, StatusCode::CONFLICT);
        assert_eq!(body["errors"][0]["field"], "code", "{body}");
    }
    assert_eq!(all_codes(&app).await, ["BLR-1"]);
    assert_eq!(get_store(&app, first).await["name"], "Store BLR-1");
}

#[tokio::test]
async fn invalid_store_fields_are_422_naming_every_bad_field() {
    let app = TestApp::spawn().await;
    let valid = json!({ "code": "OK-1", "name": "Fine", "city": "Pune", "phone": "+912000000000" });
    let with = |field: &str, value: &str| {
        let mut body = valid.clone();
        body[field] = json!(value);
        body
    };
    for (body, field) in [
        (with("code", "x"), "code"),
        (with("code", "AB_C"), "code"),
        (with("code", "has space"), "code"),
        (with("code", &"A".repeat(17)), "code"),
        (with("code", ""), "code"),
        (with("phone", "call me"), "phone"),
        (with("phone", "123456"), "phone"),
        (with("phone", &"1".repeat(16)), "phone"),
        (with("name", "   "), "name"),
        (with("city", ""), "city"),
        (with("name", &"n".repeat(201)), "name"),
    ] {
        let (status, problem) = app.call(Method::POST, "/stores", Some(body.clone())).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            error_fields(&problem),
            fields(&[field]),
            "{body}: {problem}"
        );
    }

    let (status, problem) = app
        .call(
            Method::POST,
            "/stores",
            Some(json!({ "code": "?", "name": "", "city": " ", "phone": "phone" })),
        )
        .await;
    assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem),
        fields(&["code", "name", "city", "phone"])
    );

    // A missing field is a malformed request.
    let (status, problem) = app
        .call(
            Method::POST,
            "/stores",
            Some(json!({ "code": "OK-1", "name": "Fine", "city": "Pune" })),
        )
        .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST);

    assert!(all_codes(&app).await.is_empty(), "nothing was created");
    // The bounds are allowed.
    for code in ["AB", "ABCDEFGHIJKLMN16"] {
        let (status, body) = app
            .call(Method::POST, "/stores", Some(with("code", code)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{code}: {body}");
    }
}

#[tokio::test]
async fn unknown_or_malformed_store_id_is_404() {
    let app = TestApp::spawn().await;
    for id in [Uuid::new_v4().to_string(), "PUN-01".into()] {
        let path = format!("/stores/{id}");
        let (status, body) = app.call(Method::GET, &path, None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = app
            .call(Method::PATCH, &path, Some(json!({ "name": "Nowhere" })))
            .await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn admin_changes_any_store() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let before = get_store(&app, store).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/stores/{store}"),
            Some(
                json!({ "name": "Pune Central", "city": "Pimpri", "phone": "020 2612 3456",
                         "status": "closed" }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Pune Central");
    assert_eq!(body["city"], "Pimpri");
    assert_eq!(body["phone"], "02026123456");
    assert_eq!(body["status"], "closed");
    assert_eq!(body["code"], "PUN-01");
    assert_eq!(body["id"], before["id"]);
    assert_eq!(body["createdAt"], before["createdAt"]);
    assert_eq!(get_store(&app, store).await, body);

    // Fields left out stay as they are.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/stores/{store}"),
            Some(json!({ "status": "active" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Pune Central");
    assert_eq!(body["status"], "active");

    // The code cannot be changed; invalid values are 422 and change nothing.
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/stores/{store}"),
            Some(json!({ "code": "NEW-1" })),
        )
        .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST);
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/stores/{store}"),
            Some(json!({ "name": "", "phone": "nope" })),
        )
        .await;
    assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem), fields(&["name", "phone"]));
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/stores/{store}"),
            Some(json!({ "status": "demolished" })),
        )
        .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST);
    assert_eq!(get_store(&app, store).await, body);
}

#[tokio::test]
async fn a_manager_changes_their_own_store_but_not_its_status() {
    let app = TestApp::spawn().await;
    let own = app.create_store("PUN-01").await;
    let other = app.create_store("MUM-01").await;
    let (_, manager) = app.create_user("manisha", &["manager"], &[own]).await;

    let (status, body) = app
        .call_as(
            &manager,
            Method::PATCH,
            &format!("/stores/{own}"),
            Some(
                json!({ "name": "Pune FC Road", "city": "Pune City", "phone": "+91 20 5555 0000" }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Pune FC Road");
    assert_eq!(body["city"], "Pune City");
    assert_eq!(body["phone"], "+912055550000");
    let changed = get_store(&app, own).await;
    assert_eq!(changed, body);

    // Status is the admin's; the whole request is refused, the name too.
    for patch in [
        json!({ "status": "closed" }),
        json!({ "status": "active" }),
        json!({ "name": "Sneaky", "status": "closed" }),
    ] {
        let (status, problem) = app
            .call_as(
                &manager,
                Method::PATCH,
                &format!("/stores/{own}"),
                Some(patch),
            )
            .await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN);
    }
    assert_eq!(get_store(&app, own).await, changed);

    // Invalid values from a manager are 422 like anyone's.
    let (status, problem) = app
        .call_as(
            &manager,
            Method::PATCH,
            &format!("/stores/{own}"),
            Some(json!({ "phone": "12" })),
        )
        .await;
    assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem), fields(&["phone"]));

    // Another store is not theirs.
    let untouched = get_store(&app, other).await;
    let (status, problem) = app
        .call_as(
            &manager,
            Method::PATCH,
            &format!("/stores/{other}"),
            Some(json!({ "name": "Taken over" })),
        )
        .await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN);
    assert_eq!(get_store(&app, other).await, untouched);
}

#[tokio::test]
async fn other_roles_cannot_change_stores() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let before = get_store(&app, store).await;
    for role in ["sales", "optometrist", "technician"] {
        let (_, token) = app
            .create_user(&format!("{role}-user"), &[role], &[store])
            .await;
        let (status, problem) = app
            .call_as(
                &token,
                Method::PATCH,
                &format!("/stores/{store}"),
                Some(json!({ "name": "Mine now" })),
            )
            .await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN);
    }
    let (status, problem) = send(
        app.request(Method::PATCH, &format!("/stores/{store}"), None)
            .json(&json!({ "name": "Mine now" })),
    )
    .await;
    assert_problem(status, &problem, StatusCode::UNAUTHORIZED);
    assert_eq!(get_store(&app, store).await, before);
}

#[tokio::test]
async fn stores_page_by_code_to_the_last_page() {
    let app = TestApp::spawn().await;
    for code in ["DEL-4", "AMD-1", "CHE-3", "GOA-5", "BLR-2"] {
        app.create_store(code).await;
    }
    let all = common::walk_pages(&app, "/stores", 2).await;
    assert_eq!(codes(&all), ["AMD-1", "BLR-2", "CHE-3", "DEL-4", "GOA-5"]);

    // Exactly full pages end without an empty extra page.
    app.create_store("HYD-6").await;
    let all = common::walk_pages(&app, "/stores", 3).await;
    assert_eq!(all.len(), 6);

    for query in [
        "?cursor=not-a-cursor",
        "?limit=0",
        "?limit=101",
        "?colour=red",
    ] {
        let (status, body) = app
            .call(Method::GET, &format!("/stores{query}"), None)
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn a_tampered_cursor_is_400_never_500() {
    let app = TestApp::spawn().await;
    for code in ["AMD-1", "BLR-2", "CHE-3"] {
        app.create_store(code).await;
    }
    // Well-formed encodings of positions that do not fit the list's order.
    let mut answers = Vec::new();
    for (json, cursor) in common::forged_cursors("code", "text") {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/stores?limit=2&cursor={cursor}"),
                None,
            )
            .await;
        answers.push((json, status, body));
    }
    let wrong: Vec<String> = answers
        .iter()
        .filter(|(_, status, _)| *status != StatusCode::BAD_REQUEST)
        .map(|(json, status, _)| format!("{json} -> {status}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "expected 400 for every forged cursor: {wrong:?}"
    );
    for (_, status, body) in &answers {
        assert_problem(*status, body, StatusCode::BAD_REQUEST);
    }
}
