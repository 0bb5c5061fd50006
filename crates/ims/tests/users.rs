//! Staff accounts: `POST/GET /users`, `GET/PATCH /users/{id}` (admin only).

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, send, TestApp, ADMIN_PASSWORD};
use uuid::Uuid;

/// `POST /auth/login` without asserting the outcome.
async fn try_login(app: &TestApp, login: &str, password: &str) -> (StatusCode, Value) {
    send(
        app.request(Method::POST, "/auth/login", None)
            .json(&json!({ "login": login, "password": password })),
    )
    .await
}

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

/// The usernames of a list response's items.
fn usernames(body: &Value) -> BTreeSet<String> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_owned())
        .collect()
}

async fn user_count(app: &TestApp) -> usize {
    let (status, body) = app.call(Method::GET, "/users?limit=100", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().expect("items").len()
}

fn new_user(username: &str, roles: &[&str], stores: &[Uuid]) -> Value {
    json!({
        "email": format!("{username}@example.com"), "username": username,
        "password": "long-enough-password", "roles": roles, "storeIds": stores,
    })
}

#[tokio::test]
async fn every_role_but_admin_is_forbidden_and_no_token_is_401() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let before = user_count(&app).await;
    for role in ["manager", "sales", "optometrist", "technician"] {
        let (own_id, token) = app
            .create_user(&format!("{role}-user"), &[role], &[store])
            .await;

        let (status, body) = app.call_as(&token, Method::GET, "/users", None).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        let (status, body) = app
            .call_as(
                &token,
                Method::GET,
                &format!("/users/{}", app.admin_id),
                None,
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        let (status, body) = app
            .call_as(
                &token,
                Method::POST,
                "/users",
                Some(new_user(&format!("made-by-{role}"), &["admin"], &[])),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        // Nobody may promote themselves or suspend the admin.
        let (status, body) = app
            .call_as(
                &token,
                Method::PATCH,
                &format!("/users/{own_id}"),
                Some(json!({ "roles": ["admin"] })),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        let (status, body) = app
            .call_as(
                &token,
                Method::PATCH,
                &format!("/users/{}", app.admin_id),
                Some(json!({ "status": "suspended" })),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);

        let (status, me) = app
            .call(Method::GET, &format!("/users/{own_id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["roles"], json!([role]), "role unchanged");
    }
    // None of the refused writes changed anything.
    assert_eq!(user_count(&app).await, before + 4);
    let (status, admin) = app
        .call(Method::GET, &format!("/users/{}", app.admin_id), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin["status"], "active");

    let user_path = format!("/users/{}", app.admin_id);
    for (method, path, body) in [
        (Method::GET, "/users", None),
        (
            Method::POST,
            "/users",
            Some(new_user("anonymous", &["admin"], &[])),
        ),
        (Method::GET, user_path.as_str(), None),
        (
            Method::PATCH,
            user_path.as_str(),
            Some(json!({ "status": "suspended" })),
        ),
    ] {
        let mut request = app.request(method.clone(), path, None);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, body) = send(request).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(user_count(&app).await, before + 4);
}

#[tokio::test]
async fn create_user_returns_the_account_without_its_password() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let (status, created) = app
        .call(
            Method::POST,
            "/users",
            Some(json!({
                "email": "Anita.K@Example.com", "username": "anita.k",
                "password": "correct horse battery", "roles": ["sales", "optometrist"],
                "storeIds": [store],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id: Uuid = created["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id is a uuid");
    assert_eq!(created["email"], "Anita.K@Example.com");
    assert_eq!(created["username"], "anita.k");
    assert_eq!(created["roles"], json!(["sales", "optometrist"]));
    assert_eq!(created["storeIds"], json!([store]));
    assert_eq!(created["status"], "active");
    assert!(created["lastLoginAt"].is_null());
    assert!(created["createdAt"].is_string());
    let object = created.as_object().expect("an object");
    for key in object.keys() {
        assert!(
            !key.to_lowercase().contains("password"),
            "{key} must not be in the body: {created}"
        );
    }
    assert!(
        !created.to_string().contains("argon2"),
        "a password hash leaked: {created}"
    );

    let (status, fetched) = app.call(Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    // The new account can log in, by username or by email in any case.
    let token = app.login("anita.k", "correct horse battery").await;
    let (status, me) = app.call_as(&token, Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], created["id"]);
    app.login("anita.k@example.com", "correct horse battery")
        .await;

    // An admin needs no store; a user may be created suspended.
    let (status, body) = app
        .call(
            Method::POST,
            "/users",
            Some(json!({
                "email": "boss@example.com", "username": "boss", "password": "boss-password",
                "roles": ["admin"], "status": "suspended",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "suspended");
    assert_eq!(body["storeIds"], json!([]));
    // A suspended account cannot log in, and answers as a wrong password does.
    let (status, body) = try_login(&app, "boss", "boss-password").await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn email_and_username_are_unique_regardless_of_case() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/users",
            Some(json!({
                "email": "Ravi@Example.com", "username": "Ravi", "password": "ravi-password",
                "roles": ["admin"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let before = user_count(&app).await;

    for (email, username, field) in [
        ("rAVI@example.COM", "ravi2", "email"),
        ("ravi3@example.com", "RAVI", "username"),
        ("ravi4@example.com", "ravi", "username"),
        ("ADMIN@EXAMPLE.COM", "someone", "email"),
        ("someone@example.com", "Admin", "username"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/users",
                Some(json!({
                    "email": email, "username": username, "password": "another-password",
                    "roles": ["admin"],
                })),
            )
            .await;
        assert_problem(status, &body, StatusCode::CONFLICT);
        assert_eq!(
            body["errors"][0]["field"], field,
            "{email}/{username}: {body}"
        );
    }
    assert_eq!(
        user_count(&app).await,
        before,
        "a refused create stored nothing"
    );
}

#[tokio::test]
async fn invalid_fields_are_422_naming_every_bad_field() {
    let app = TestApp::spawn().await;
    let before = user_count(&app).await;

    let (status, body) = app
        .call(
            Method::POST,
            "/users",
            Some(json!({
                "email": "not-an-email", "username": "ab", "password": "short", "roles": ["admin"],
            })),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&body),
        fields(&["email", "username", "password"]),
        "{body}"
    );

    let bad: [(&str, &str, String, &str); 8] = [
        ("a@b", "valid-name", "long-enough-pw".into(), "email"),
        (
            "x y@example.com",
            "valid-name",
            "long-enough-pw".into(),
            "email",
        ),
        (
            "ok@example.com",
            "has space",
            "long-enough-pw".into(),
            "username",
        ),
        (
            "ok@example.com",
            &"u".repeat(33),
            "long-enough-pw".into(),
            "username",
        ),
        (
            "ok@example.com",
            "valid-name",
            "9-chars!!".into(),
            "password",
        ),
        ("ok@example.com", "valid-name", "p".repeat(129), "password"),
        // Lengths are characters, not bytes: nine characters in eighteen bytes.
        ("ok@example.com", "valid-name", "é".repeat(9), "password"),
        ("ok@example.com", "valid-name", " ".repeat(3), "password"),
    ];
    for (email, username, password, field) in &bad {
        let (status, body) = app
            .call(
                Method::POST,
                "/users",
                Some(json!({
                    "email": email, "username": username, "password": password, "roles": ["admin"],
                })),
            )
            .await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&body), fields(&[field]), "{body}");
    }
    assert_eq!(
        user_count(&app).await,
        before,
        "invalid input stored nothing"
    );

    // The bounds themselves are allowed: 10 and 128 characters, 3 and 32 for usernames.
    let long: String = "correct-horse-battery-staple-"
        .repeat(5)
        .chars()
        .take(128)
        .collect();
    for (username, password) in [
        ("abc".to_owned(), "Tr0ub4dor&".to_owned()),
        ("u".repeat(32), long),
        ("accents".to_owned(), "éàüöçñßøåæ".to_owned()),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/users",
                Some(json!({
                    "email": format!("{username}@example.com"), "username": username,
                    "password": password, "roles": ["admin"],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{username}: {body}");
        app.login(&username, &password).await;
    }
}

#[tokio::test]
async fn unknown_role_value_is_400() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let before = user_count(&app).await;
    for roles in [json!(["superuser"]), json!(["Admin"]), json!("admin")] {
        let (status, body) = app
            .call(
                Method::POST,
                "/users",
                Some(json!({
                    "email": "x@example.com", "username": "xavier",
                    "password": "long-enough-password", "roles": roles, "storeIds": [store],
                })),
            )
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }
    assert_eq!(user_count(&app).await, before);

    let (id, _) = app.create_user("sam", &["sales"], &[store]).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({ "roles": ["root"] })),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST);
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({ "status": "deleted" })),
        )
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST);
    let (_, sam) = app.call(Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(sam["roles"], json!(["sales"]));
    assert_eq!(sam["status"], "active");
}

#[tokio::test]
async fn non_admins_need_existing_stores() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let before = user_count(&app).await;

    // No storeIds at all, and an empty list.
    for body in [
        json!({ "email": "m@example.com", "username": "mona", "password": "long-enough-password",
                "roles": ["manager"] }),
        new_user("mona", &["manager"], &[]),
        new_user("mona", &["sales", "technician"], &[]),
    ] {
        let (status, body) = app.call(Method::POST, "/users", Some(body)).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&body), fields(&["storeIds"]), "{body}");
    }

    let unknown = Uuid::new_v4();
    let (status, body) = app
        .call(
            Method::POST,
            "/users",
            Some(new_user("mona", &["manager"], &[store, unknown])),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), fields(&["storeIds"]), "{body}");

    let (status, body) = app
        .call(
            Method::POST,
            "/users",
            Some(new_user("mona", &[], &[store])),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), fields(&["roles"]), "{body}");
    assert_eq!(user_count(&app).await, before, "nothing was created");

    // The same rules hold when a PATCH would break them.
    let (id, _) = app.create_user("mona", &["manager"], &[store]).await;
    let path = format!("/users/{id}");
    for (patch, field) in [
        (json!({ "storeIds": [] }), "storeIds"),
        (json!({ "storeIds": [unknown] }), "storeIds"),
        (json!({ "roles": [] }), "roles"),
    ] {
        let (status, body) = app.call(Method::PATCH, &path, Some(patch)).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&body), fields(&[field]), "{body}");
    }
    let (_, mona) = app.call(Method::GET, &path, None).await;
    assert_eq!(mona["roles"], json!(["manager"]));
    assert_eq!(mona["storeIds"], json!([store]));
}

#[tokio::test]
async fn list_filters_by_status_and_role() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    app.create_user("manny", &["manager"], &[store]).await;
    app.create_user("sally", &["sales"], &[store]).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/users",
            Some(json!({
                "email": "sid@example.com", "username": "sid", "password": "sid-password",
                "roles": ["sales", "optometrist"], "storeIds": [store], "status": "suspended",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (tech, _) = app.create_user("tess", &["technician"], &[store]).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{tech}"),
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "suspended");

    for (query, expected) in [
        ("", &["admin", "manny", "sally", "sid", "tess"][..]),
        ("?status=suspended", &["sid", "tess"][..]),
        ("?status=active", &["admin", "manny", "sally"][..]),
        ("?role=sales", &["sally", "sid"][..]),
        ("?role=optometrist", &["sid"][..]),
        ("?role=admin", &["admin"][..]),
        ("?role=sales&status=active", &["sally"][..]),
        ("?role=manager&status=suspended", &[][..]),
    ] {
        let (status, body) = app.call(Method::GET, &format!("/users{query}"), None).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(usernames(&body), fields(expected), "{query}");
        assert!(body["nextCursor"].is_null(), "{query}: {body}");
    }

    for query in ["?status=deleted", "?role=root", "?role=", "?status=Active"] {
        let (status, body) = app.call(Method::GET, &format!("/users{query}"), None).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn pagination_walks_every_user_once_newest_first() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let mut expected = vec!["admin".to_owned()];
    for (i, role) in ["sales", "manager", "sales", "technician", "sales", "sales"]
        .iter()
        .enumerate()
    {
        let name = format!("user-{i}");
        let (status, body) = app
            .call(
                Method::POST,
                "/users",
                Some(new_user(&name, &[role], &[store])),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        expected.push(name);
    }

    let all = common::walk_pages(&app, "/users", 2).await;
    let seen: Vec<String> = all
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_owned())
        .collect();
    for user in &all {
        let keys = user.as_object().expect("an object").keys();
        assert!(
            keys.into_iter()
                .all(|k| !k.to_lowercase().contains("password")),
            "{user}"
        );
    }
    // Newest first: the reverse of creation.
    expected.reverse();
    assert_eq!(seen, expected);

    // A cursor keeps the filter's company: four sales users, two full pages, no third.
    let sales = common::walk_pages(&app, "/users?role=sales", 2).await;
    let names: BTreeSet<String> = sales
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_owned())
        .collect();
    assert_eq!(names, fields(&["user-0", "user-2", "user-4", "user-5"]));

    let one = common::walk_pages(&app, "/users", 100).await;
    assert_eq!(one.len(), 7);
}

#[tokio::test]
async fn bad_cursor_and_limit_are_400() {
    let app = TestApp::spawn().await;
    for query in [
        "?cursor=garbage!",
        "?cursor=bm90IGpzb24",          // base64 of "not json"
        "?cursor=eyJzIjoiY3JlYXRlZCJ9", // {"s":"created"} without a position
        "?limit=0",
        "?limit=101",
        "?limit=1000",
        "?limit=-1",
        "?limit=ten",
    ] {
        let (status, body) = app.call(Method::GET, &format!("/users{query}"), None).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }

    // A cursor of another list (stores page by code) is refused, not misread.
    for code in ["AA-1", "BB-2"] {
        app.create_store(code).await;
    }
    let (status, stores) = app.call(Method::GET, "/stores?limit=1", None).await;
    assert_eq!(status, StatusCode::OK);
    let cursor = stores["nextCursor"].as_str().expect("a next page");
    let (status, body) = app
        .call(Method::GET, &format!("/users?cursor={cursor}"), None)
        .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST);

    for limit in [1, 100] {
        let (status, body) = app
            .call(Method::GET, &format!("/users?limit={limit}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "limit={limit}: {body}");
    }
}

#[tokio::test]
async fn a_tampered_cursor_is_400_never_500() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    for name in ["ana", "ben", "cai"] {
        app.create_user(name, &["sales"], &[store]).await;
    }
    // Well-formed encodings of positions that do not fit the list's order.
    let mut answers = Vec::new();
    for (json, cursor) in common::forged_cursors("created", "time") {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/users?limit=2&cursor={cursor}"),
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

#[tokio::test]
async fn suspending_stops_tokens_at_once_and_reactivating_allows_login_again() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let (id, token) = app.create_user("sunil", &["sales"], &[store]).await;
    let (other_id, other_token) = app.create_user("sara", &["sales"], &[store]).await;
    let (status, _) = app.call_as(&token, Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "suspended");

    for path in ["/auth/me", "/stores"] {
        let (status, body) = app.call_as(&token, Method::GET, path, None).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    }
    // The right password gets the same 401 as a wrong one: nobody learns that it was right,
    // nor that the account is suspended.
    let (status, right) = try_login(&app, "sunil", "sunil-password").await;
    assert_problem(status, &right, StatusCode::UNAUTHORIZED);
    assert!(right.get("token").is_none());
    let (status, wrong) = try_login(&app, "sunil", "wrong-password-1").await;
    assert_problem(status, &wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(right, wrong);
    // Other users are untouched.
    let (status, _) = app
        .call_as(&other_token, Method::GET, "/auth/me", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, sara) = app
        .call(Method::GET, &format!("/users/{other_id}"), None)
        .await;
    assert_eq!(sara["status"], "active");

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({ "status": "active" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    let new_token = app.login("sunil", "sunil-password").await;
    let (status, me) = app.call_as(&new_token, Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "sunil");
    // The token revoked by the suspension stays revoked.
    let (status, body) = app.call_as(&token, Method::GET, "/auth/me", None).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn changing_the_password_revokes_old_tokens() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let (id, first) = app.create_user("priya", &["optometrist"], &[store]).await;
    let second = app.login("priya", "priya-password").await;
    let path = format!("/users/{id}");

    // An invalid new password changes nothing.
    let (status, body) = app
        .call(Method::PATCH, &path, Some(json!({ "password": "short" })))
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body), fields(&["password"]));
    let (status, _) = app.call_as(&first, Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK, "a refused change revoked nothing");

    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "password": "a-brand-new-password" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("password").is_none() && body.get("passwordHash").is_none());
    assert_eq!(body["status"], "active");

    for token in [&first, &second] {
        let (status, body) = app.call_as(token, Method::GET, "/auth/me", None).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = try_login(&app, "priya", "priya-password").await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    let token = app.login("priya", "a-brand-new-password").await;
    let (status, _) = app.call_as(&token, Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
    // The admin who changed it keeps working.
    let (status, _) = app.call(Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn role_changes_apply_to_existing_tokens_at_once() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let (id, token) = app.create_user("ravi", &["sales"], &[store]).await;
    let path = format!("/users/{id}");

    let (status, _) = app.call_as(&token, Method::GET, "/users", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .call(Method::PATCH, &path, Some(json!({ "roles": ["admin"] })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["roles"], json!(["admin"]));
    let (status, _) = app.call_as(&token, Method::GET, "/users", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "promotion applies to the live token"
    );

    let (status, body) = app
        .call(Method::PATCH, &path, Some(json!({ "roles": ["sales"] })))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.call_as(&token, Method::GET, "/users", None).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admins_cannot_suspend_or_demote_themselves_but_another_admin_can() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let me = format!("/users/{}", app.admin_id);

    let (status, body) = app
        .call(Method::PATCH, &me, Some(json!({ "status": "suspended" })))
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT);
    assert_eq!(body["errors"][0]["field"], "status", "{body}");
    let (status, body) = app
        .call(
            Method::PATCH,
            &me,
            Some(json!({ "roles": ["manager"], "storeIds": [store] })),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT);

    let (status, admin) = app.call(Method::GET, &me, None).await;
    assert_eq!(status, StatusCode::OK, "the admin's token still works");
    assert_eq!(admin["status"], "active");
    assert_eq!(admin["roles"], json!(["admin"]));
    assert_eq!(admin["storeIds"], json!([]));
    app.login("admin", ADMIN_PASSWORD).await;

    // Another admin may do it.
    let (_, second) = app.create_user("deputy", &["admin"], &[]).await;
    let (status, body) = app
        .call_as(
            &second,
            Method::PATCH,
            &me,
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.call(Method::GET, "/auth/me", None).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_or_malformed_user_id_is_404() {
    let app = TestApp::spawn().await;
    for id in [Uuid::new_v4().to_string(), "not-a-uuid".into(), "42".into()] {
        let path = format!("/users/{id}");
        let (status, body) = app.call(Method::GET, &path, None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = app
            .call(Method::PATCH, &path, Some(json!({ "status": "suspended" })))
            .await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
    }
}
