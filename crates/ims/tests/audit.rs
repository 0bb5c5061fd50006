//! The outside audit's findings (issue 17), each as the behaviour a client can rely on now:
//! dates outside the accepted range, forged cursors, idempotent creates, PATCH semantics,
//! errors that name the field, and the headers every answer carries.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

#[allow(dead_code)] // this binary needs only base64url
mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{id_of, TestApp};
use uuid::Uuid;

/// Asserts a problem document with `status` that names `field` in `errors[]`.
fn assert_names(status: StatusCode, body: &Value, expected: StatusCode, field: &str) {
    assert_eq!(status, expected, "{body}");
    let named = body["errors"]
        .as_array()
        .is_some_and(|errors| errors.iter().any(|e| e["field"] == field));
    assert!(named, "errors[] must name {field}: {body}");
}

async fn customer(app: &TestApp, phone: &str) -> Uuid {
    let (status, body) = app
        .call(
            Method::POST,
            "/customers",
            Some(json!({ "name": "Asha Rao", "phone": phone })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    id_of(&body)
}

fn prescription(customer: Uuid, test_date: &str, expires_at: Option<&str>) -> Value {
    let mut body = json!({
        "customerId": customer, "patientId": customer, "testDate": test_date,
        "rightEye": { "sphere": -1.0 }, "leftEye": { "sphere": -1.25 }, "notes": "",
    });
    if let Some(expires) = expires_at {
        body["expiresAt"] = json!(expires);
    }
    body
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(app.db.primary())
        .await
        .expect("count")
}

// ---------------------------------------------------------------------- dates in range

#[tokio::test]
async fn order_list_dates_out_of_range_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    for (param, value) in [
        ("from", "-5000-01-01T00:00:00Z"),
        ("to", "+200000-01-01T00:00:00Z"),
        ("from", "1899-12-31T23:59:59Z"),
        // The date as written counts (as the document's pattern reads it), not the UTC date.
        ("from", "1899-12-31T23:30:00-01:00"),
        ("to", "2201-01-01T00:30:00+01:00"),
    ] {
        let value = value.replace('+', "%2B");
        for path in [
            format!("/orders?{param}={value}"),
            format!("/customers/{}/orders?{param}={value}", Uuid::new_v4()),
        ] {
            let (status, body) = app.call(Method::GET, &path, None).await;
            assert_names(status, &body, StatusCode::BAD_REQUEST, param);
        }
    }
    for query in [
        "from=1900-01-01T00:00:00Z",
        "from=1900-01-01T00:30:00%2B01:00",
        "to=2200-12-31T23:00:00-02:00",
    ] {
        let (status, body) = app
            .call(Method::GET, &format!("/orders?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
    }
}

#[tokio::test]
async fn prescription_dates_out_of_range_are_refused_naming_the_field_and_create_nothing() {
    let app = TestApp::spawn().await;
    let customer = customer(&app, "+919800000001").await;
    // A date that is not YYYY-MM-DD is malformed (400, as the document's `format: date` says);
    // one outside 1900-01-01..2200-12-31 is invalid (422).
    let bad = StatusCode::BAD_REQUEST;
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    for (test_date, expires, field, expected) in [
        ("-5000-01-01", None, "testDate", bad),
        ("0000-01-01", None, "testDate", invalid),
        ("1899-12-31", None, "testDate", invalid),
        ("2020-1-1", None, "testDate", bad),
        ("2020-01-01", Some("+262142-12-31"), "expiresAt", bad),
        ("2020-01-01", Some("2201-01-01"), "expiresAt", invalid),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/prescriptions",
                Some(prescription(customer, test_date, expires)),
            )
            .await;
        assert_names(status, &body, expected, field);
    }
    assert_eq!(count(&app, "prescriptions").await, 0);
}

#[tokio::test]
async fn a_cursor_holding_a_date_out_of_range_is_400_never_500() {
    let app = TestApp::spawn().await;
    let nil = Uuid::nil();
    let customer = Uuid::new_v4();
    for (path, sort, position) in [
        (
            "/orders".to_owned(),
            "created",
            json!({ "t": "time", "v": ["-5000-01-01T00:00:00Z", nil] }),
        ),
        (
            "/users".to_owned(),
            "created",
            json!({ "t": "time", "v": ["-5000-01-01T00:00:00Z", nil] }),
        ),
        (
            format!("/customers/{customer}/orders"),
            "created",
            json!({ "t": "time", "v": ["+200000-01-01T00:00:00Z", nil] }),
        ),
        (
            "/workshop/jobs".to_owned(),
            "queue",
            json!({ "t": "rankTime", "v": [1, "-5000-01-01T00:00:00Z", nil] }),
        ),
        (
            format!("/prescriptions?customerId={customer}"),
            "test",
            json!({ "t": "date", "v": ["-5000-01-01", nil] }),
        ),
    ] {
        let cursor = common::base64url(json!({ "s": sort, "a": position }).to_string().as_bytes());
        let separator = if path.contains('?') { '&' } else { '?' };
        let (status, body) = app
            .call(
                Method::GET,
                &format!("{path}{separator}cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
}

// ---------------------------------------------------------------------- signed cursors

#[tokio::test]
async fn cursors_are_tamper_evident_and_bound_to_their_list() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Frames").await;
    for sku in ["AUD-001", "AUD-002", "AUD-003"] {
        app.create_product(sku, &format!("Frame {sku}"), category, 1000)
            .await;
    }
    for phone in ["+919800000011", "+919800000012", "+919800000013"] {
        customer(&app, phone).await;
    }
    let (status, page) = app.call(Method::GET, "/products?limit=1", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let cursor = page["nextCursor"].as_str().expect("a next page").to_owned();
    let (status, next) = app
        .call(
            Method::GET,
            &format!("/products?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{next}");

    // The products list's cursor on another list sorted the same way (by name).
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/customers?limit=1&cursor={cursor}"),
            None,
        )
        .await;
    assert_names(status, &body, StatusCode::BAD_REQUEST, "cursor");

    // One character changed anywhere.
    for at in [0, cursor.len() / 2, cursor.len() - 1] {
        let mut altered = cursor.clone().into_bytes();
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).expect("ascii");
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/products?limit=1&cursor={altered}"),
                None,
            )
            .await;
        assert_names(status, &body, StatusCode::BAD_REQUEST, "cursor");
    }

    // A well-formed position the service never signed.
    let forged = json!({ "s": "name", "a": { "t": "text", "v": ["Frame AUD-001", Uuid::nil()] } });
    let forged = common::base64url(forged.to_string().as_bytes());
    for path in ["/products", "/customers"] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("{path}?limit=1&cursor={forged}"),
                None,
            )
            .await;
        assert_names(status, &body, StatusCode::BAD_REQUEST, "cursor");
    }
}

#[tokio::test]
async fn instances_on_one_database_share_one_cursor_key() {
    let app = TestApp::spawn().await;
    let first = storage::service_keys::shared_key(app.db.primary(), "cursor")
        .await
        .expect("key");
    let again = storage::service_keys::shared_key(app.db.primary(), "cursor")
        .await
        .expect("key");
    assert!(first.len() >= 32);
    assert_eq!(
        first, again,
        "a second instance must find the first one's key"
    );
}

// ---------------------------------------------------------------------- PATCH semantics

#[tokio::test]
async fn null_on_a_required_field_is_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Frames").await;
    let product = app.create_product("NUL-001", "Frame", category, 1000).await;
    let product_id = id_of(&product);
    let customer_id = customer(&app, "+919800000021").await;
    for (path, field) in [
        (format!("/products/{product_id}"), "name"),
        (format!("/products/{product_id}"), "price"),
        (format!("/customers/{customer_id}"), "phone"),
        (format!("/customers/{customer_id}"), "name"),
    ] {
        let (status, body) = app
            .call(Method::PATCH, &path, Some(json!({ field: null })))
            .await;
        assert_names(status, &body, StatusCode::UNPROCESSABLE_ENTITY, field);
    }
    let (_, after) = app
        .call(Method::GET, &format!("/products/{product_id}"), None)
        .await;
    assert_eq!(after["updatedAt"], product["updatedAt"], "{after}");
    assert_eq!(after["name"], "Frame");
    // Fields that null clears still take it.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/customers/{customer_id}"),
            Some(json!({ "email": null })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_patch_that_changes_nothing_leaves_updated_at_alone() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Frames").await;
    let product = app.create_product("NOP-001", "Frame", category, 1000).await;
    let id = id_of(&product);
    for change in [json!({}), json!({ "name": "Frame", "price": 1000 })] {
        let (status, body) = app
            .call(
                Method::PATCH,
                &format!("/products/{id}"),
                Some(change.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["updatedAt"], product["updatedAt"], "{change}: {body}");
    }
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({ "price": 1200 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(
        body["updatedAt"], product["updatedAt"],
        "a real change moves it"
    );
}

// ---------------------------------------------------------------------- errors name the field

#[tokio::test]
async fn wrong_types_missing_fields_and_bad_parameters_name_the_field() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Frames").await;
    let customer = customer(&app, "+919800000031").await;
    let product = |price: Value| {
        json!({ "sku": "FR-001", "name": "Aviator", "description": "", "categoryId": category,
                "brand": "Acme", "price": price })
    };
    let mut no_name = product(json!(1000));
    no_name.as_object_mut().expect("object").remove("name");
    let mut eye = prescription(customer, "2020-01-01", None);
    eye["rightEye"]["sphere"] = json!("minus two");
    let cases = [
        (
            Method::POST,
            "/products".to_owned(),
            product(json!("1899.00")),
            "price",
        ),
        (Method::POST, "/products".to_owned(), no_name, "name"),
        (
            Method::POST,
            "/prescriptions".to_owned(),
            eye,
            "rightEye.sphere",
        ),
        (
            Method::POST,
            "/orders".to_owned(),
            json!({ "storeId": Uuid::nil(), "customerId": customer,
                    "items": [{ "productId": Uuid::nil(), "quantity": "two" }] }),
            "items[0].quantity",
        ),
        (
            Method::POST,
            "/customers".to_owned(),
            json!({ "name": "Asha", "phone": "+919800000032", "loyaltyPoints": 10 }),
            "loyaltyPoints",
        ),
        (
            Method::PATCH,
            format!("/customers/{customer}"),
            json!({ "dateOfBirth": "last May" }),
            "dateOfBirth",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, problem) = app.call(method.clone(), &path, Some(body)).await;
        assert_names(status, &problem, StatusCode::BAD_REQUEST, field);
        let message = problem["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(!message.contains(" at line "), "{method} {path}: {problem}");
    }
    for (path, field) in [
        ("/products?minPrice=cheap", "minPrice"),
        ("/products?inStock=maybe", "inStock"),
        ("/stores?limit=twenty", "limit"),
        ("/orders?from=yesterday", "from"),
        ("/products?colour=red", "colour"),
    ] {
        let (status, problem) = app.call(Method::GET, path, None).await;
        assert_names(status, &problem, StatusCode::BAD_REQUEST, field);
    }
}

// ---------------------------------------------------------------------- refused input

#[tokio::test]
async fn negative_prices_and_nul_in_query_parameters_are_400() {
    let app = TestApp::spawn().await;
    for (path, field) in [
        ("/products?minPrice=-1", "minPrice"),
        ("/products?maxPrice=-100", "maxPrice"),
        ("/products?q=avi%00ator", "q"),
        ("/customers?q=as%00ha", "q"),
        ("/catalog/products?brand=Ac%00me", "brand"),
    ] {
        let (status, problem) = app.call(Method::GET, path, None).await;
        assert_names(status, &problem, StatusCode::BAD_REQUEST, field);
    }
}

#[tokio::test]
async fn product_attributes_are_bounded_in_size_and_depth() {
    let app = TestApp::spawn().await;
    let category = app.create_category("Frames").await;
    let mut deep = json!("bottom");
    for _ in 0..100 {
        deep = json!({ "level": deep });
    }
    let mut nested = json!("ok");
    for _ in 0..3 {
        nested = json!({ "level": nested });
    }
    for (sku, attributes, accepted) in [
        ("ATT-001", json!({ "material": "x".repeat(10_000) }), false),
        ("ATT-002", deep, false),
        ("ATT-003", json!({ "tags": ["a\u{0}b"] }), false),
        ("ATT-004", nested, true),
        (
            "ATT-005",
            json!({ "material": "titanium", "sizes": [50, 52] }),
            true,
        ),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/products",
                Some(json!({ "sku": sku, "name": "Frame", "description": "",
                    "categoryId": category, "brand": "Acme", "price": 1000,
                    "attributes": attributes })),
            )
            .await;
        if accepted {
            assert_eq!(status, StatusCode::CREATED, "{sku}: {body}");
        } else {
            assert_names(
                status,
                &body,
                StatusCode::UNPROCESSABLE_ENTITY,
                "attributes",
            );
        }
    }
    assert_eq!(count(&app, "products").await, 2);
}

#[tokio::test]
async fn a_body_with_a_content_encoding_is_415() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::POST, "/customers", Some(&app.admin_token))
        .header("content-encoding", "gzip")
        .json(&json!({ "name": "Asha", "phone": "+919800000041" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        response
            .headers()
            .get("accept-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("identity")
    );
    assert_eq!(count(&app, "customers").await, 0);
}

#[tokio::test]
async fn inventory_movement_ids_are_strings() {
    let app = TestApp::spawn().await;
    let store = app.create_store("MOV-01").await;
    let category = app.create_category("Frames").await;
    let product = id_of(&app.create_product("MOV-001", "Frame", category, 1000).await);
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/stores/{store}/inventory/{product}/adjustments"),
            Some(json!({ "delta": 3, "reason": "delivery" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, list) = app
        .call(
            Method::GET,
            &format!("/stores/{store}/inventory/{product}/movements"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let first = &list["items"][0];
    assert!(first["id"].is_string(), "{first}");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let (status, body) = testkit::send(
            app.request(Method::GET, "/auth/me", None)
                .header("authorization", format!("{scheme} {}", app.admin_token)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {body}");
    }
    let (status, _) = testkit::send(
        app.request(Method::GET, "/auth/me", None)
            .header("authorization", format!("Basic {}", app.admin_token)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------- headers

#[tokio::test]
async fn answers_carry_nosniff_and_private_answers_no_store() {
    let app = TestApp::spawn().await;
    for (path, token, cache_control) in [
        ("/auth/me", Some(app.admin_token.as_str()), "no-store"),
        ("/customers", Some(app.admin_token.as_str()), "no-store"),
        ("/customers", None, "no-store"),
        ("/no/such/thing", None, "no-store"),
        ("/catalog/categories", None, "public, max-age=300"),
    ] {
        let response = app
            .request(Method::GET, path, token)
            .send()
            .await
            .expect("sent");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header("cache-control").as_deref(),
            Some(cache_control),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_docs_page_cannot_be_framed_and_loads_only_its_own_code() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(format!("{}/api/v1/docs/", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("x-frame-options"), "DENY");
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

#[tokio::test]
async fn an_unreasonable_request_id_is_replaced_not_echoed() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(60 * 1024);
    for (sent, echoed) in [
        ("trace-123_abc", true),
        (huge.as_str(), false),
        ("has space", false),
        (&"y".repeat(129), false),
    ] {
        let response = app
            .request(Method::GET, "/auth/me", Some(&app.admin_token))
            .header("x-request-id", sent)
            .send()
            .await
            .expect("sent");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}",
            &sent[..sent.len().min(20)]
        );
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(!id.is_empty() && id.len() <= 128);
        assert_eq!(id == sent, echoed, "{}", &sent[..sent.len().min(20)]);
    }
}

// ---------------------------------------------------------------------- passwords

#[tokio::test]
async fn common_and_context_specific_passwords_are_refused() {
    let app = TestApp::spawn().await;
    for password in [
        "aaaaaaaaaa",
        "1234567890",
        "password12",
        "Welcome2024!",
        "weakling01",
    ] {
        let body = json!({ "email": "weakling@example.com", "username": "weakling01",
            "password": password, "roles": ["admin"] });
        let (status, problem) = app.call(Method::POST, "/users", Some(body)).await;
        assert_names(
            status,
            &problem,
            StatusCode::UNPROCESSABLE_ENTITY,
            "password",
        );
    }
    let (status, problem) = app
        .call(
            Method::PATCH,
            &format!("/users/{}", app.admin_id),
            Some(json!({ "password": "admin@example.com" })),
        )
        .await;
    assert_names(
        status,
        &problem,
        StatusCode::UNPROCESSABLE_ENTITY,
        "password",
    );
    assert_eq!(count(&app, "users").await, 1);
}
