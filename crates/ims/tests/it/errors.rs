//! The contract's rules for bad input, across endpoints: problem documents with the right
//! status, request ids, body limits, login throttling, and never a 500.

use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use testkit::{TestApp, ADMIN_PASSWORD};
use uuid::Uuid;

const MIB: usize = 1024 * 1024;

/// A response as a client sees it.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends a request; asserts that it is not a server error and carries a request id.
async fn fetch(request: RequestBuilder) -> Answer {
    let answer = fetch_unchecked(request).await;
    let (status, body) = (answer.status, &answer.body);
    assert!(
        !status.is_server_error(),
        "bad input must never be a server error: {status} {body}"
    );
    assert!(
        answer
            .header("x-request-id")
            .is_some_and(|id| !id.is_empty()),
        "every response carries X-Request-Id: {status} {body}"
    );
    answer
}

/// Sends a request and reads the answer, asserting nothing.
async fn fetch_unchecked(request: RequestBuilder) -> Answer {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body read");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Asserts a complete problem document: status, media type, `status` and `detail`.
fn assert_problem(answer: &Answer, expected: StatusCode) {
    assert_eq!(answer.status, expected, "body: {}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json"),
        "{expected}: {}",
        answer.body
    );
    let body = &answer.body;
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(expected.as_u16())),
        "{body}"
    );
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(body["type"].is_string(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "the detail says what to fix: {body}"
    );
}

fn detail(answer: &Answer) -> &str {
    answer.body["detail"].as_str().unwrap_or_default()
}

/// A request with a raw body and an explicit content type (or none).
fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> RequestBuilder {
    let mut request = app.request(method, path, Some(&app.admin_token)).body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    request
}

fn json_body(app: &TestApp, method: Method, path: &str, body: &str) -> RequestBuilder {
    raw(app, method, path, Some("application/json"), body.to_owned())
}

async fn store_codes(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.call(Method::GET, "/stores?limit=100", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["code"].clone())
        .collect()
}

async fn customer_count(app: &TestApp) -> usize {
    let (status, body) = app.call(Method::GET, "/customers?limit=100", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().expect("items").len()
}

async fn login(app: &TestApp, login: &str, password: &str) -> Answer {
    fetch(
        app.request(Method::POST, "/auth/login", None)
            .json(&json!({ "login": login, "password": password })),
    )
    .await
}

#[tokio::test]
async fn malformed_json_is_400_problem_json() {
    let app = TestApp::spawn().await;
    for body in [
        r#"{"code": "AB-1", "name": "x""#,
        r#"{"code": "AB-1",}"#,
        "{code: 'AB-1'}",
        "",
        "not json at all",
        r#"{"code": "AB-1", "name": "A", "city": "B", "phone": "+912000000000"} trailing"#,
    ] {
        let answer = fetch(json_body(&app, Method::POST, "/stores", body)).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST);
    }
    let answer = fetch(
        app.request(Method::POST, "/auth/login", None)
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"login": "admin", "password": "#),
    )
    .await;
    assert_problem(&answer, StatusCode::BAD_REQUEST);
    let store_id = app.create_store("PUN-01").await;
    let answer = fetch(json_body(
        &app,
        Method::PATCH,
        &format!("/stores/{store_id}"),
        r#"{"name": "Half"#,
    ))
    .await;
    assert_problem(&answer, StatusCode::BAD_REQUEST);
    assert_eq!(store_codes(&app).await, [json!("PUN-01")]);
    let (_, store) = app
        .call(Method::GET, &format!("/stores/{store_id}"), None)
        .await;
    assert_eq!(store["name"], "Store PUN-01");
}

#[tokio::test]
async fn wrong_json_types_are_400() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Frames").await;
    let store = app.create_store("PUN-01").await;
    let product = |price: Value| {
        json!({ "sku": "FR-001", "name": "Aviator", "categoryId": category, "brand": "Acme",
                "price": price })
    };
    let cases: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/stores".into(),
            json!({ "code": 123, "name": "A", "city": "B", "phone": "+912000000000" }),
        ),
        (
            Method::POST,
            "/stores".into(),
            json!({ "code": "AB-1", "name": ["A"], "city": "B", "phone": "+912000000000" }),
        ),
        (Method::POST, "/stores".into(), json!([])),
        (Method::POST, "/stores".into(), json!(null)),
        (Method::POST, "/stores".into(), json!("AB-1")),
        // Money is an integer of paise, never a float or a string.
        (Method::POST, "/products".into(), product(json!(1999.5))),
        (Method::POST, "/products".into(), product(json!("199900"))),
        (
            Method::POST,
            "/products".into(),
            json!({ "sku": "FR-001", "name": "Aviator", "categoryId": "frames", "brand": "Acme",
                    "price": 100 }),
        ),
        (
            Method::POST,
            "/customers".into(),
            json!({ "name": "Asha", "phone": "+919800000000", "dateOfBirth": "last May" }),
        ),
        (
            Method::POST,
            "/users".into(),
            json!({ "email": "a@example.com", "username": "asha", "password": "long-enough-pw",
                    "roles": "admin" }),
        ),
        (
            Method::PATCH,
            format!("/stores/{store}"),
            json!({ "name": 5 }),
        ),
        (
            Method::PATCH,
            format!("/users/{}", app.admin_id),
            json!({ "storeIds": ["not-a-uuid"] }),
        ),
        (
            Method::POST,
            "/auth/login".into(),
            json!({ "login": "admin", "password": 1234567890 }),
        ),
    ];
    for (method, path, body) in cases {
        let answer = fetch(
            app.request(method.clone(), &path, Some(&app.admin_token))
                .json(&body),
        )
        .await;
        assert_problem(&answer, StatusCode::BAD_REQUEST);
        assert!(
            !detail(&answer).is_empty(),
            "{method} {path} {body}: {}",
            answer.body
        );
    }
    // A number too big for any integer.
    let answer = fetch(json_body(
        &app,
        Method::POST,
        "/products",
        &format!(
            r#"{{"sku": "FR-001", "name": "Aviator", "categoryId": "{category}", "brand": "Acme",
                 "price": 99999999999999999999999}}"#
        ),
    ))
    .await;
    assert_problem(&answer, StatusCode::BAD_REQUEST);

    assert_eq!(store_codes(&app).await, [json!("PUN-01")]);
    let (_, products) = app.call(Method::GET, "/products", None).await;
    assert_eq!(products["items"], json!([]), "no product was created");
    assert_eq!(customer_count(&app).await, 0);
}

/// serde reads a struct from an array of its fields in order; a body is an object (found by
/// schemathesis: `[null, null]` was a PATCH that answered 200).
#[tokio::test]
async fn a_body_that_is_an_array_of_the_fields_is_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let answer = fetch(
        app.request(Method::POST, "/customers", Some(&app.admin_token))
            .json(&json!(["Asha", "+919800000000", null, null])),
    )
    .await;
    assert_problem(&answer, StatusCode::BAD_REQUEST);
    assert_eq!(customer_count(&app).await, 0, "no customer was created");

    let (status, created) = app
        .call(
            Method::POST,
            "/customers",
            Some(json!({ "name": "Asha", "phone": "+919800000000" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/customers/{}", created["id"].as_str().expect("id"));
    for body in [json!([null, null]), json!(["Ravi", "+919811111111"])] {
        let answer = fetch(
            app.request(Method::PATCH, &path, Some(&app.admin_token))
                .json(&body),
        )
        .await;
        assert_problem(&answer, StatusCode::BAD_REQUEST);
    }
    let (_, now) = app.call(Method::GET, &path, None).await;
    assert_eq!(now["name"], "Asha", "{now}");
    assert_eq!(
        now["updatedAt"], created["updatedAt"],
        "nothing changed: {now}"
    );
}

/// JSON Schema's `integer` (what the OpenAPI document says of money and counts) is any number
/// with a zero fraction: `189900.0` and `1.899e5` are the integer 189900, as a schema-driven
/// client may send them. Found by schemathesis (scripts/fuzz).
#[tokio::test]
async fn integers_may_be_written_with_a_zero_fraction() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Frames").await;
    for (sku, price) in [("FR-001", "189900.0"), ("FR-002", "1.899e5")] {
        let answer = fetch(json_body(
            &app,
            Method::POST,
            "/products",
            &format!(
                r#"{{"sku": "{sku}", "name": "Aviator", "categoryId": "{category}",
                     "brand": "Acme", "price": {price}}}"#
            ),
        ))
        .await;
        assert_eq!(
            answer.status,
            StatusCode::CREATED,
            "{price}: {}",
            answer.body
        );
        assert_eq!(answer.body["price"], json!(189900), "{price}");
    }
    // A fraction is still no integer, and names its field.
    let answer = fetch(json_body(
        &app,
        Method::POST,
        "/products",
        &format!(
            r#"{{"sku": "FR-003", "name": "Aviator", "categoryId": "{category}",
                 "brand": "Acme", "price": 189900.5}}"#
        ),
    ))
    .await;
    assert_problem(&answer, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body["errors"][0]["field"], "price",
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn unknown_enum_values_are_400_in_body_and_query() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let category = app.create_category("Frames").await;
    let cases: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/users".into(),
            json!({ "email": "a@example.com", "username": "asha", "password": "long-enough-pw",
                    "roles": ["root"], "storeIds": [store] }),
        ),
        (
            Method::POST,
            "/users".into(),
            json!({ "email": "a@example.com", "username": "asha", "password": "long-enough-pw",
                    "roles": ["admin"], "status": "banned" }),
        ),
        (
            Method::PATCH,
            format!("/stores/{store}"),
            json!({ "status": "demolished" }),
        ),
        (
            Method::POST,
            "/products".into(),
            json!({ "sku": "FR-001", "name": "Aviator", "categoryId": category, "brand": "Acme",
                    "price": 100, "status": "gone" }),
        ),
        (
            Method::POST,
            "/categories".into(),
            json!({ "name": "Lenses", "status": "hidden" }),
        ),
    ];
    for (method, path, body) in cases {
        let answer = fetch(
            app.request(method.clone(), &path, Some(&app.admin_token))
                .json(&body),
        )
        .await;
        assert_problem(&answer, StatusCode::BAD_REQUEST);
    }
    for path in [
        "/users?status=deleted",
        "/users?role=root",
        "/products?status=gone",
        "/products?sort=cheapest",
        "/products?sort=-name",
        "/categories?status=hidden",
        // Wrong types in the query are malformed too.
        "/products?inStock=maybe",
        "/products?minPrice=cheap",
        "/products?category=frames",
        "/stores?limit=twenty",
    ] {
        let answer = fetch(app.request(Method::GET, path, Some(&app.admin_token))).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST);
    }
    let (_, s) = app
        .call(Method::GET, &format!("/stores/{store}"), None)
        .await;
    assert_eq!(s["status"], "active");
}

#[tokio::test]
async fn unknown_body_fields_are_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::POST,
            "/stores".into(),
            json!({ "code": "AB-1", "name": "A", "city": "B", "phone": "+912000000000",
                    "colour": "red" }),
            "colour",
        ),
        (
            Method::POST,
            "/customers".into(),
            json!({ "name": "Asha", "phone": "+919800000000", "loyaltyPoints": 10 }),
            "loyaltyPoints",
        ),
        (
            Method::PATCH,
            format!("/users/{}", app.admin_id),
            json!({ "isAdmin": true }),
            "isAdmin",
        ),
        (
            Method::PATCH,
            format!("/stores/{store}"),
            json!({ "name": "Renamed", "code": "XX-9" }),
            "code",
        ),
        (
            Method::POST,
            "/auth/login".into(),
            json!({ "login": "admin", "password": ADMIN_PASSWORD, "rememberMe": true }),
            "rememberMe",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = fetch(
            app.request(method.clone(), &path, Some(&app.admin_token))
                .json(&body),
        )
        .await;
        assert_problem(&answer, StatusCode::BAD_REQUEST);
        assert!(
            detail(&answer).contains(field),
            "the detail names {field}: {}",
            answer.body
        );
    }
    assert_eq!(store_codes(&app).await, [json!("PUN-01")]);
    let (_, s) = app
        .call(Method::GET, &format!("/stores/{store}"), None)
        .await;
    assert_eq!(s["name"], "Store PUN-01");
    assert_eq!(customer_count(&app).await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::spawn().await;
    let valid = r#"{"code": "AB-1", "name": "A", "city": "B", "phone": "+912000000000"}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let answer = fetch(raw(&app, Method::POST, "/stores", content_type, valid)).await;
        assert_problem(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let answer = fetch(
        app.request(Method::POST, "/auth/login", None)
            .header(CONTENT_TYPE, "text/plain")
            .body(format!(
                r#"{{"login": "admin", "password": "{ADMIN_PASSWORD}"}}"#
            )),
    )
    .await;
    assert_problem(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer.body.get("token").is_none());
    assert!(store_codes(&app).await.is_empty(), "nothing was created");

    // JSON with a charset parameter is JSON.
    let answer = fetch(raw(
        &app,
        Method::POST,
        "/stores",
        Some("application/json; charset=utf-8"),
        valid,
    ))
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

/// A `POST /customers` body of exactly `size` bytes whose name is far too long (so a body
/// the service reads is answered 422).
fn customer_body_of(size: usize) -> String {
    let head = r#"{"phone": "+919800000000", "name": ""#;
    let tail = r#""}"#;
    let body = format!("{head}{}{tail}", "n".repeat(size - head.len() - tail.len()));
    assert_eq!(body.len(), size);
    body
}

#[tokio::test]
async fn a_body_over_one_mib_is_413() {
    let app = TestApp::spawn().await;
    for size in [MIB + 1, 2 * MIB] {
        let answer = fetch(json_body(
            &app,
            Method::POST,
            "/customers",
            &customer_body_of(size),
        ))
        .await;
        assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE);
    }
    // Exactly 1 MiB is read (and found invalid), not refused for its size.
    let answer = fetch(json_body(
        &app,
        Method::POST,
        "/customers",
        &customer_body_of(MIB),
    ))
    .await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["errors"][0]["field"], "name", "{}", answer.body);
    assert_eq!(customer_count(&app).await, 0);

    // The same limit applies where no token is needed.
    let login_body = format!(r#"{{"login": "admin", "password": "{}"}}"#, "p".repeat(MIB));
    let answer = fetch(
        app.request(Method::POST, "/auth/login", None)
            .header(CONTENT_TYPE, "application/json")
            .body(login_body),
    )
    .await;
    assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    for path in [
        "/api/v1/nothing-here".to_owned(),
        "/api/v1/stores/{id}/nothing".replace("{id}", &store.to_string()),
        "/api/v2/stores".into(),
        "/nothing".into(),
        "/".into(),
    ] {
        for token in [Some(app.admin_token.as_str()), None] {
            let mut request = app.client.get(format!("{}{path}", app.address));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let answer = fetch(request).await;
            assert_problem(&answer, StatusCode::NOT_FOUND);
        }
    }
}

#[tokio::test]
async fn wrong_methods_are_405_problems() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    for (method, path) in [
        (Method::DELETE, "/api/v1/stores".to_owned()),
        (Method::PUT, format!("/api/v1/stores/{store}")),
        (Method::DELETE, format!("/api/v1/users/{}", app.admin_id)),
        (Method::GET, "/api/v1/auth/login".into()),
        (Method::PUT, "/api/v1/auth/login".into()),
        (Method::POST, "/health/live".into()),
    ] {
        let answer = fetch(
            app.client
                .request(method.clone(), format!("{}{path}", app.address))
                .bearer_auth(&app.admin_token)
                .json(&json!({})),
        )
        .await;
        assert_problem(&answer, StatusCode::METHOD_NOT_ALLOWED);
    }
    assert_eq!(store_codes(&app).await, [json!("PUN-01")]);
}

#[tokio::test]
async fn wrong_method_answer_names_the_allowed_methods() {
    // RFC 9110 §15.5.6: a 405 response MUST carry Allow.
    let app = TestApp::spawn().await;
    let answer = fetch(
        app.client
            .delete(format!("{}/api/v1/stores", app.address))
            .bearer_auth(&app.admin_token),
    )
    .await;
    assert_problem(&answer, StatusCode::METHOD_NOT_ALLOWED);
    let allow = answer.header("allow").unwrap_or_default().to_uppercase();
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "Allow header: {allow:?}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_clients() {
    let app = TestApp::spawn().await;
    let base = &app.address;
    let token = app.admin_token.as_str();
    let requests: Vec<(RequestBuilder, StatusCode)> = vec![
        (
            app.client.get(format!("{base}/health/live")),
            StatusCode::OK,
        ),
        (
            app.client
                .get(format!("{base}/api/v1/stores"))
                .bearer_auth(token),
            StatusCode::OK,
        ),
        (
            app.client.get(format!("{base}/api/v1/stores")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            app.client
                .get(format!("{base}/api/v1/stores/{}", Uuid::new_v4()))
                .bearer_auth(token),
            StatusCode::NOT_FOUND,
        ),
        (
            app.client.get(format!("{base}/nowhere")),
            StatusCode::NOT_FOUND,
        ),
        (
            app.client
                .delete(format!("{base}/api/v1/stores"))
                .bearer_auth(token),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            json_body(&app, Method::POST, "/stores", "{"),
            StatusCode::BAD_REQUEST,
        ),
        (
            raw(&app, Method::POST, "/stores", None, "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            json_body(&app, Method::POST, "/customers", &customer_body_of(MIB + 1)),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            app.client
                .post(format!("{base}/api/v1/stores"))
                .bearer_auth(token)
                .json(&json!({ "code": "x", "name": "A", "city": "B", "phone": "+912000000000" })),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    let mut generated = std::collections::HashSet::new();
    for (i, (request, expected)) in requests.into_iter().enumerate() {
        let echoed = format!("client-trace-{i}");
        let (Some(plain), Some(traced)) = (
            request.try_clone(),
            request
                .try_clone()
                .map(|r| r.header("x-request-id", &echoed)),
        ) else {
            panic!("request {i} cannot be cloned");
        };
        let answer = fetch(plain).await;
        assert_eq!(answer.status, expected, "request {i}: {}", answer.body);
        let id = answer.header("x-request-id").expect("checked by fetch");
        assert!(generated.insert(id.to_owned()), "request id {id} reused");

        let answer = fetch(traced).await;
        assert_eq!(answer.status, expected, "request {i}: {}", answer.body);
        assert_eq!(answer.header("x-request-id"), Some(echoed.as_str()));
    }
}

fn retry_after(answer: &Answer) -> u64 {
    let value = answer
        .headers
        .get(RETRY_AFTER)
        .unwrap_or_else(|| panic!("429 needs Retry-After: {}", answer.body))
        .to_str()
        .expect("ascii");
    let secs: u64 = value
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is seconds: {value}"));
    assert!((1..=15 * 60).contains(&secs), "Retry-After {secs}");
    secs
}

/// A login from `address`, as the gateway (a trusted proxy) names it in X-Forwarded-For.
async fn login_from(app: &TestApp, address: &str, login: &str, password: &str) -> Answer {
    fetch(
        app.request(Method::POST, "/auth/login", None)
            .header("x-forwarded-for", address)
            .json(&json!({ "login": login, "password": password })),
    )
    .await
}

/// The service behind a gateway on 127.0.0.1, whose X-Forwarded-For it believes, so a test
/// can log in from several client addresses; `lock` is a lock-out's first length.
async fn behind_a_gateway(lock: chrono::Duration) -> TestApp {
    let mut settings = testkit::settings();
    settings.tuning.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    settings.account_throttle.lock_for = lock;
    TestApp::spawn_with(settings).await
}

#[tokio::test]
async fn five_failed_logins_lock_the_account_only_from_that_address() {
    let app = behind_a_gateway(chrono::Duration::minutes(15)).await;
    let store = app.create_store("PUN-01").await;
    app.create_user("clerk", &["sales"], &[store]).await;
    let (attacker, owner) = ("198.51.100.7", "203.0.113.20");

    // Failures count per account (whichever name it is addressed by) and address.
    for login_name in ["admin", "ADMIN", "admin@example.com", "Admin", "admin"] {
        let answer = login_from(&app, attacker, login_name, "wrong-password-1").await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED);
    }
    // From that address the account is locked, even for the right password: brute force
    // gets five guesses per 15 minutes.
    for (login_name, password) in [
        ("admin", ADMIN_PASSWORD),
        ("admin@example.com", ADMIN_PASSWORD),
        ("admin", "wrong-password-1"),
    ] {
        let answer = login_from(&app, attacker, login_name, password).await;
        assert_problem(&answer, StatusCode::TOO_MANY_REQUESTS);
        retry_after(&answer);
        assert!(answer.body.get("token").is_none());
    }

    // The owner, from another address, is not locked out by the attacker.
    let answer = login_from(&app, owner, "admin", ADMIN_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // Another account logs in from the attacker's address; live tokens still work.
    let answer = login_from(&app, attacker, "clerk", "clerk-password").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let (status, _) = app.call(Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn each_lock_out_lasts_longer_than_the_one_before() {
    let app = behind_a_gateway(chrono::Duration::seconds(2)).await;
    let address = "198.51.100.8";
    for _ in 0..5 {
        let answer = login_from(&app, address, "admin", "wrong-password-1").await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED);
    }
    let first = login_from(&app, address, "admin", "wrong-password-1").await;
    assert_problem(&first, StatusCode::TOO_MANY_REQUESTS);
    let first = retry_after(&first);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // The lock is over, but the guesser's next failure locks again, for twice as long.
    let second = login_from(&app, address, "admin", "wrong-password-1").await;
    assert_problem(&second, StatusCode::TOO_MANY_REQUESTS);
    let second = retry_after(&second);
    assert!(second > first, "first lock {first} s, second {second} s");
}

#[tokio::test]
async fn a_suspended_account_answers_as_a_wrong_password_does() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let (clerk, _) = app.create_user("clerk", &["sales"], &[store]).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/users/{clerk}"),
            Some(json!({ "status": "suspended" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let right = login(&app, "clerk", "clerk-password").await;
    let wrong = login(&app, "clerk", "wrong-password-1").await;
    assert_problem(&right, StatusCode::UNAUTHORIZED);
    assert_problem(&wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(right.body, wrong.body, "the right password must not show");
}

#[tokio::test]
async fn unknown_accounts_are_throttled_like_real_ones() {
    // Otherwise the throttle would tell which login names exist.
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let answer = login(&app, "ghost", "wrong-password-1").await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED);
    }
    let answer = login(&app, "GHOST", "wrong-password-1").await;
    assert_problem(&answer, StatusCode::TOO_MANY_REQUESTS);
    retry_after(&answer);
    let answer = login(&app, "ghost-two", "wrong-password-1").await;
    assert_problem(&answer, StatusCode::UNAUTHORIZED);
    let answer = login(&app, "admin", ADMIN_PASSWORD).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn a_flood_of_failed_logins_from_one_address_is_throttled() {
    let app = TestApp::spawn().await;
    // One failure each for thirty names: no single account reaches its limit.
    for i in 0..30 {
        let answer = login(&app, &format!("intruder-{i}"), "wrong-password-1").await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED);
    }
    let answer = login(&app, "intruder-new", "wrong-password-1").await;
    assert_problem(&answer, StatusCode::TOO_MANY_REQUESTS);
    retry_after(&answer);
    let answer = login(&app, "someone-else", "another-password").await;
    assert_problem(&answer, StatusCode::TOO_MANY_REQUESTS);
    // Tokens already issued keep working.
    let (status, _) = app.call(Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn parallel_failed_logins_cannot_outrun_the_throttle() {
    // An attacker sends guesses at once instead of one after another: still only five
    // failures per account are let through before the lock.
    let app = TestApp::spawn().await;
    let guesses: Vec<_> = (0..12)
        .map(|i| {
            let request = app
                .request(Method::POST, "/auth/login", None)
                .json(&json!({ "login": "admin", "password": format!("wrong-password-{i}") }));
            tokio::spawn(fetch(request))
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.expect("request task").status);
    }
    let let_through = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        let_through <= 5,
        "{let_through} of 12 parallel guesses were checked: {statuses:?}"
    );
    let answer = login(&app, "admin", ADMIN_PASSWORD).await;
    assert_problem(&answer, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn nul_characters_in_input_are_refused_never_a_500() {
    // PostgreSQL text cannot hold U+0000; the service must refuse it instead of failing.
    let app = TestApp::spawn().await;
    let token = app.admin_token.as_str();
    let cases: Vec<(&str, RequestBuilder)> = vec![
        (
            "login",
            app.request(Method::POST, "/auth/login", None)
                .json(&json!({ "login": "ad\u{0}min", "password": "wrong-password-1" })),
        ),
        (
            "user email",
            app.request(Method::POST, "/users", Some(token))
                .json(&json!({
                    "email": "nul\u{0}@example.com", "username": "nully",
                    "password": "long-enough-password", "roles": ["admin"],
                })),
        ),
        (
            "customer email",
            app.request(Method::POST, "/customers", Some(token))
                .json(&json!({
                    "name": "Asha", "phone": "+919800000000", "email": "a\u{0}b@example.com",
                })),
        ),
        (
            "brand filter",
            app.request(Method::GET, "/products?brand=Ac%00me", Some(token)),
        ),
        (
            "customer search",
            app.request(Method::GET, "/customers?q=as%00ha", Some(token)),
        ),
    ];
    let mut answers = Vec::new();
    for (case, request) in cases {
        answers.push((case, fetch_unchecked(request).await));
    }
    let server_errors: Vec<String> = answers
        .iter()
        .filter(|(_, a)| a.status.is_server_error())
        .map(|(case, a)| format!("{case}: {}", a.status))
        .collect();
    assert!(server_errors.is_empty(), "server errors: {server_errors:?}");

    for (case, answer) in &answers {
        match *case {
            // No such account: the usual answer for a wrong login, or a refusal.
            "login" => assert!(answer.status.is_client_error(), "{}", answer.body),
            "user email" | "customer email" => {
                assert_problem(answer, StatusCode::UNPROCESSABLE_ENTITY);
                assert_eq!(
                    answer.body["errors"][0]["field"], "email",
                    "{}",
                    answer.body
                );
            }
            // In a filter it matches nothing, or is refused.
            _ if answer.status == StatusCode::OK => {
                assert_eq!(answer.body["items"], json!([]), "{case}");
            }
            _ => assert_problem(answer, StatusCode::BAD_REQUEST),
        }
    }
    assert_eq!(customer_count(&app).await, 0);
}

/// An overloaded database that cancels a statement at `IMS_DB_STATEMENT_TIMEOUT_MS` is a
/// dependency that could not answer in time: 503 with `Retry-After`, never a 500.
#[tokio::test]
async fn a_statement_past_its_timeout_is_503_not_500() {
    use axum::response::IntoResponse;
    let name = testkit::fresh_database().await.expect("fresh database");
    let url = std::env::var("IMS_TEST_DATABASE_URL").expect("run the tests with scripts/test");
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("a PostgreSQL URL");
    let db = storage::Db::connect(&storage::DbConfig {
        min_connections: 0,
        max_connections: 1,
        statement_timeout: std::time::Duration::from_millis(50),
        ..storage::DbConfig::new(options.database(&name))
    });
    let cancelled = sqlx::query("SELECT pg_sleep(5)")
        .execute(db.primary())
        .await
        .expect_err("the statement runs past its timeout");
    let error = storage::Error::from(cancelled);
    assert!(matches!(error, storage::Error::Unavailable(_)), "{error:?}");
    let response = api::error::ApiError::from(error).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
}
