//! Logging in and out, tokens, throttling.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{assert_problem, send, TestApp, ADMIN_PASSWORD};

#[tokio::test]
async fn login_by_username_or_email_in_any_case() {
    let app = TestApp::spawn().await;
    for login in ["admin", "ADMIN", "Admin@Example.com"] {
        let (status, body) = send(
            app.request(Method::POST, "/auth/login", None)
                .json(&json!({ "login": login, "password": ADMIN_PASSWORD })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{login}: {body}");
        assert!(body["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("ims_")));
        assert!(body["expiresAt"].is_string());
        assert_eq!(body["user"]["username"], "admin");
        assert!(body["user"].get("passwordHash").is_none());
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = TestApp::spawn().await;
    let (s1, b1) = send(
        app.request(Method::POST, "/auth/login", None)
            .json(&json!({ "login": "admin", "password": "wrong-password-1" })),
    )
    .await;
    let (s2, b2) = send(
        app.request(Method::POST, "/auth/login", None)
            .json(&json!({ "login": "nobody", "password": "wrong-password-1" })),
    )
    .await;
    assert_problem(s1, &b1, StatusCode::UNAUTHORIZED);
    assert_problem(s2, &b2, StatusCode::UNAUTHORIZED);
    assert_eq!(b1, b2);
}

#[tokio::test]
async fn logout_revokes_the_token_at_once() {
    let app = TestApp::spawn().await;
    let token = app.login("admin", ADMIN_PASSWORD).await;
    let (status, me) = app.call_as(&token, Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "admin");
    let (status, _) = app
        .call_as(&token, Method::POST, "/auth/logout", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.call_as(&token, Method::GET, "/auth/me", None).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    // Other sessions of the same user are unaffected.
    let (status, _) = app.call(Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn missing_or_malformed_token_is_401() {
    let app = TestApp::spawn().await;
    let (status, body) = send(app.request(Method::GET, "/products", None)).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .call_as("ims_not-a-real-token", Method::GET, "/products", None)
        .await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = send(
        app.request(Method::GET, "/products", None)
            .header("authorization", "Basic abc"),
    )
    .await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED);
}
