//! Authentication reads sessions and profiles through the cache, yet a role change, logout,
//! suspension or password change applies to a cached token at once.

use super::*;

#[tokio::test]
async fn authenticated_requests_do_not_query_sessions_once_cached() {
    let s = shop().await;
    let app = &s.app;
    enable_statement_stats(app).await;
    let (_, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let paths = [
        "/auth/me".to_owned(),
        format!("/products/sku/{}", s.sku),
        format!("/categories/{}/products", s.category),
        "/products?limit=5".to_owned(),
        format!("/stores/{}/inventory", s.store),
    ];

    // A new token's first request looks its session up once.
    let (first, token) = calls_during(app, &[SESSION_LOOKUP], |_| async move {
        let token = app.login("clerk_a", "clerk_a-password").await;
        let (status, body) = app.call_as(&token, Method::GET, "/auth/me", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        token
    })
    .await;
    assert_eq!(
        first,
        vec![1],
        "the first request of a new token looks its session up in the database once"
    );

    // Then neither the session nor the profile comes from the database again.
    let (status, body) = app.call_as(&clerk, Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (paths, token, clerk) = (&paths, &token, &clerk);
    let (repeated, ()) = calls_during(app, &[SESSION_LOOKUP, PROFILE_LOOKUP], |_| async move {
        for round in 0..4 {
            for path in paths {
                for token in [token, clerk] {
                    let (status, body) = app.call_as(token, Method::GET, path, None).await;
                    assert_eq!(status, StatusCode::OK, "round {round}, GET {path}: {body}");
                }
            }
        }
    })
    .await;
    assert_eq!(
        repeated,
        vec![0, 0],
        "40 requests with cached tokens queried (sessions, users by id) this many times"
    );
}

#[tokio::test]
async fn logout_stops_a_cached_token_at_once() {
    let s = shop().await;
    let app = &s.app;
    let (_, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let sku_path = format!("/products/sku/{}", s.sku);
    for path in ["/auth/me", sku_path.as_str(), "/auth/me"] {
        let answer = get(app, &clerk, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }

    let (status, body) = app
        .call_as(&clerk, Method::POST, "/auth/logout", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    for path in ["/auth/me", sku_path.as_str(), "/products"] {
        let answer = get(app, &clerk, path).await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED);
    }
    // The admin's own token is unaffected.
    let (status, _) = app.call(Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn suspending_a_user_stops_their_cached_token_at_once() {
    let s = shop().await;
    let app = &s.app;
    let (clerk_id, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let order_path = format!("/orders/{}", s.order(1).await);
    for path in ["/auth/me", order_path.as_str(), "/auth/me"] {
        let answer = get(app, &clerk, path).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk_id}"),
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for path in ["/auth/me", order_path.as_str(), "/products"] {
        let answer = get(app, &clerk, path).await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED);
    }

    // Reactivated, the old token stays void; a new login works.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk_id}"),
            Some(json!({ "status": "active" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = get(app, &clerk, "/auth/me").await;
    assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED);
    let fresh = app.login("clerk_a", "clerk_a-password").await;
    let answer = get(app, &fresh, "/auth/me").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn a_password_change_stops_old_cached_tokens() {
    let s = shop().await;
    let app = &s.app;
    let (clerk_id, clerk) = app.create_user("clerk_a", &["sales"], &[s.store]).await;
    let second = app.login("clerk_a", "clerk_a-password").await;
    for token in [&clerk, &second, &clerk] {
        let answer = get(app, token, "/auth/me").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    }

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk_id}"),
            Some(json!({ "password": "a-brand-new-password" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for token in [&clerk, &second] {
        let answer = get(app, token, "/auth/me").await;
        assert_problem(answer.status, &answer.body, StatusCode::UNAUTHORIZED);
    }
    let fresh = app.login("clerk_a", "a-brand-new-password").await;
    let answer = get(app, &fresh, "/auth/me").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}
