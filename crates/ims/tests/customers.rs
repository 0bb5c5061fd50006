//! Customers: registering, validation, finding them at the till by phone or name, changing them.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, send, TestApp};
use uuid::Uuid;

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.call(Method::POST, "/customers", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn customer(app: &TestApp, name: &str, phone: &str) -> Value {
    create(app, json!({ "name": name, "phone": phone })).await
}

/// `GET /customers` with properly encoded query parameters (a phone's `+` must survive).
async fn find(app: &TestApp, params: &[(&str, &str)]) -> (StatusCode, Value) {
    send(
        app.request(Method::GET, "/customers", Some(&app.admin_token))
            .query(params),
    )
    .await
}

async fn find_ok(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let (status, body) = find(app, params).await;
    assert_eq!(status, StatusCode::OK, "{params:?}: {body}");
    body
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list with items: {list}"))
}

fn names(list: &Value) -> Vec<String> {
    items(list)
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_owned())
        .collect()
}

fn error_fields(body: &Value) -> HashSet<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn fields(names: &[&str]) -> HashSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// A date `days` from today (UTC), as `YYYY-MM-DD`.
async fn utc_date(app: &TestApp, days: i32) -> String {
    sqlx::query_scalar("SELECT ((now() AT TIME ZONE 'UTC')::date + $1)::text")
        .bind(days)
        .fetch_one(app.db.primary())
        .await
        .expect("date")
}

async fn customer_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(app.db.primary())
        .await
        .expect("count")
}

#[tokio::test]
async fn a_new_customer_gets_a_normalized_phone() {
    let app = TestApp::spawn().await;
    let created = create(
        &app,
        json!({
            "name": "Asha Rao", "phone": "+91 98200-00001", "email": "asha@example.com",
            "dateOfBirth": "1990-05-17",
        }),
    )
    .await;
    let id = id_of(&created);
    assert_eq!(created["name"], "Asha Rao");
    assert_eq!(created["phone"], "+919820000001");
    assert_eq!(created["email"], "asha@example.com");
    assert_eq!(created["dateOfBirth"], "1990-05-17");
    assert!(created["createdAt"].is_string() && created["updatedAt"].is_string());
    assert!(created.get("date_of_birth").is_none(), "{created}");

    let (status, stored) = app
        .call(Method::GET, &format!("/customers/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored, created);

    let minimal = customer(&app, "  Ravi Kumar  ", "(022) 2345 6789").await;
    assert_eq!(minimal["name"], "Ravi Kumar");
    assert_eq!(minimal["phone"], "02223456789");
    assert!(minimal["email"].is_null(), "{minimal}");
    assert!(minimal["dateOfBirth"].is_null(), "{minimal}");

    // Born today is fine.
    let today = utc_date(&app, 0).await;
    let baby = create(
        &app,
        json!({ "name": "New Born", "phone": "9820000003", "dateOfBirth": today }),
    )
    .await;
    assert_eq!(baby["dateOfBirth"], today.as_str());
}

#[tokio::test]
async fn invalid_customer_fields_are_422_naming_each_field() {
    let app = TestApp::spawn().await;
    let tomorrow = utc_date(&app, 1).await;

    let (status, body) = app
        .call(
            Method::POST,
            "/customers",
            Some(json!({
                "name": " ", "phone": "call me", "email": "not-an-email", "dateOfBirth": tomorrow,
            })),
        )
        .await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&body),
        fields(&["name", "phone", "email", "dateOfBirth"]),
        "{body}"
    );

    let cases = [
        ("phone", json!("12345")),
        ("phone", json!("++91 98200 00001")),
        ("phone", json!("+91 98200 0000a")),
        ("phone", json!("1234567890123456")),
        ("email", json!("asha@example")),
        ("email", json!("asha example.com")),
        ("email", json!("@example.com")),
        ("dateOfBirth", json!(tomorrow)),
        ("dateOfBirth", json!("2999-01-01")),
        ("dateOfBirth", json!("1899-12-31")),
    ];
    for (field, value) in cases {
        let mut body = json!({ "name": "Asha Rao", "phone": "+91 98200-00001" });
        body[field] = value.clone();
        let (status, problem) = app.call(Method::POST, "/customers", Some(body)).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            error_fields(&problem),
            fields(&[field]),
            "{field}={value}: {problem}"
        );
    }
    assert_eq!(customer_count(&app).await, 0, "nothing was stored");
}

#[tokio::test]
async fn a_date_of_birth_in_another_format_is_400() {
    let app = TestApp::spawn().await;
    for date in [
        json!("17/05/1990"),
        json!("May 17, 1990"),
        json!("1990-05-17T00:00:00Z"),
        json!(19_900_517),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/customers",
                Some(json!({ "name": "Asha Rao", "phone": "9820000001", "dateOfBirth": date })),
            )
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }
    assert_eq!(customer_count(&app).await, 0, "nothing was stored");
}

#[tokio::test]
async fn staff_but_not_technicians_work_with_customers() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let existing = customer(&app, "Asha Rao", "9820000001").await;
    let existing_path = format!("/customers/{}", id_of(&existing));

    for (i, role) in ["manager", "sales", "optometrist"].into_iter().enumerate() {
        let (_, token) = app
            .create_user(&format!("{role}1"), &[role], &[store])
            .await;
        let (status, body) = app
            .call_as(
                &token,
                Method::POST,
                "/customers",
                Some(json!({ "name": format!("Customer of {role}"), "phone": format!("982000010{i}") })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{role}: {body}");
        let (status, body) = app.call_as(&token, Method::GET, &existing_path, None).await;
        assert_eq!(status, StatusCode::OK, "{role}: {body}");
        let (status, body) = app
            .call_as(&token, Method::GET, "/customers?q=rao", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{role}: {body}");
        assert_eq!(names(&body), ["Asha Rao"]);
        let (status, body) = app
            .call_as(
                &token,
                Method::PATCH,
                &existing_path,
                Some(json!({ "email": format!("{role}@example.com") })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{role}: {body}");
    }

    let (_, technician) = app
        .create_user("technician1", &["technician"], &[store])
        .await;
    let before = customer_count(&app).await;
    let (status, body) = app
        .call_as(
            &technician,
            Method::POST,
            "/customers",
            Some(json!({ "name": "Not Allowed", "phone": "9820000999" })),
        )
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    for path in [existing_path.as_str(), "/customers", "/customers?q=rao"] {
        let (status, body) = app.call_as(&technician, Method::GET, path, None).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
    }
    let (status, body) = app
        .call_as(
            &technician,
            Method::PATCH,
            &existing_path,
            Some(json!({ "name": "Changed" })),
        )
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN);
    assert_eq!(customer_count(&app).await, before);
    let (_, stored) = app.call(Method::GET, &existing_path, None).await;
    assert_eq!(stored["name"], "Asha Rao");
}

#[tokio::test]
async fn unknown_customers_are_404() {
    let app = TestApp::spawn().await;
    for path in [
        format!("/customers/{}", Uuid::new_v4()),
        "/customers/not-an-id".to_owned(),
    ] {
        let (status, body) = app.call(Method::GET, &path, None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = app
            .call(Method::PATCH, &path, Some(json!({ "name": "Ghost" })))
            .await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn customers_are_found_by_phone_typed_in_any_format() {
    let app = TestApp::spawn().await;
    customer(&app, "Asha Rao", "+91 98200-00001").await;
    // A family shares one phone.
    customer(&app, "Ravi Rao", "+919820000001").await;
    customer(&app, "Meera Iyer", "+91 98200 00002").await;
    customer(&app, "Office", "(022) 2345 6789").await;

    for typed in [
        "+919820000001",
        "+91 98200 00001",
        "+91-98200-00001",
        " +91 (98200) 00001 ",
        "+91.98200.00001",
    ] {
        let list = find_ok(&app, &[("phone", typed)]).await;
        assert_eq!(names(&list), ["Asha Rao", "Ravi Rao"], "phone={typed:?}");
    }
    let list = find_ok(&app, &[("phone", "+91 98200 00002")]).await;
    assert_eq!(names(&list), ["Meera Iyer"]);
    let list = find_ok(&app, &[("phone", "022-2345-6789")]).await;
    assert_eq!(names(&list), ["Office"]);
    let list = find_ok(&app, &[("phone", "+91 98200 00009")]).await;
    assert!(items(&list).is_empty(), "{list}");
    // Phone and name together.
    let list = find_ok(&app, &[("phone", "+919820000001"), ("q", "ravi")]).await;
    assert_eq!(names(&list), ["Ravi Rao"]);

    let (status, body) = find(&app, &[("phone", "call me")]).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn customers_are_found_by_part_of_their_name() {
    let app = TestApp::spawn().await;
    for (i, name) in [
        "Asha Rao",
        "RAVI RAO",
        "Meera Iyer",
        "Shop 100% Kumar",
        "Shop 1000 Kumar",
        "Dev_Kumar",
        "DevaKumar",
    ]
    .into_iter()
    .enumerate()
    {
        customer(&app, name, &format!("98200000{i:02}")).await;
    }

    let cases: [(&str, &[&str]); 9] = [
        ("rao", &["Asha Rao", "RAVI RAO"]),
        ("RaO", &["Asha Rao", "RAVI RAO"]),
        ("sha r", &["Asha Rao"]),
        ("  iyer  ", &["Meera Iyer"]),
        // `%` and `_` are letters here, not wildcards.
        ("0%", &["Shop 100% Kumar"]),
        ("100% k", &["Shop 100% Kumar"]),
        ("v_k", &["Dev_Kumar"]),
        ("%%", &[]),
        ("__", &[]),
    ];
    for (q, expected) in cases {
        let list = find_ok(&app, &[("q", q)]).await;
        assert_eq!(names(&list), expected, "q={q:?}");
    }

    for q in ["a", " a ", "%"] {
        let (status, body) = find(&app, &[("q", q)]).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }
    // Without filters: everyone, by name.
    let all = find_ok(&app, &[]).await;
    assert_eq!(items(&all).len(), 7);
}

#[tokio::test]
async fn customer_lists_page_by_name() {
    let app = TestApp::spawn().await;
    let mut expected = Vec::new();
    for (i, name) in ["Esha", "Bala", "Anil", "Dipa", "Chetan", "Anil"]
        .into_iter()
        .enumerate()
    {
        let created = customer(&app, name, &format!("98200000{i:02}")).await;
        expected.push((
            name.to_owned(),
            created["id"].as_str().expect("id").to_owned(),
        ));
    }
    expected.sort();

    let mut walked: Vec<(String, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut params = vec![("limit", "2".to_owned())];
        if let Some(c) = &cursor {
            params.push(("cursor", c.clone()));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = find_ok(&app, &params).await;
        for c in items(&page) {
            walked.push((
                c["name"].as_str().expect("name").to_owned(),
                c["id"].as_str().expect("id").to_owned(),
            ));
        }
        match page["nextCursor"].as_str() {
            Some(next) => {
                assert_eq!(items(&page).len(), 2, "{page}");
                cursor = Some(next.to_owned());
            }
            None => {
                assert!(page["nextCursor"].is_null(), "{page}");
                cursor = None;
                break;
            }
        }
    }
    assert!(cursor.is_none(), "pagination ended");
    assert_eq!(walked, expected, "every customer once, by name then id");

    // A page of a name search pages too.
    let first = find_ok(&app, &[("q", "an"), ("limit", "1")]).await;
    assert_eq!(names(&first), ["Anil"]);
    let next = first["nextCursor"].as_str().expect("more");
    let second = find_ok(&app, &[("q", "an"), ("limit", "1"), ("cursor", next)]).await;
    assert_eq!(names(&second), ["Anil"]);
    assert_ne!(items(&first)[0]["id"], items(&second)[0]["id"]);
    let next = second["nextCursor"].as_str().expect("more");
    let third = find_ok(&app, &[("q", "an"), ("limit", "1"), ("cursor", next)]).await;
    assert_eq!(names(&third), ["Chetan"]);
    assert!(third["nextCursor"].is_null(), "{third}");

    for (key, value) in [
        ("cursor", "garbage!!"),
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "two"),
    ] {
        let (status, body) = find(&app, &[(key, value)]).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn patching_a_customer_changes_only_what_is_sent() {
    let app = TestApp::spawn().await;
    let created = create(
        &app,
        json!({
            "name": "Asha Rao", "phone": "+91 98200-00001", "email": "asha@example.com",
            "dateOfBirth": "1990-05-17",
        }),
    )
    .await;
    let path = format!("/customers/{}", id_of(&created));
    let patch = |body: Value| {
        let (app, path) = (&app, &path);
        async move { app.call(Method::PATCH, path, Some(body)).await }
    };

    let (status, body) = patch(json!({ "phone": "+91 98200 00005", "name": "Asha R. Rao" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["phone"], "+919820000005");
    assert_eq!(body["name"], "Asha R. Rao");
    assert_eq!(body["email"], "asha@example.com", "absent fields stay");
    assert_eq!(body["dateOfBirth"], "1990-05-17");

    let (status, body) = patch(json!({ "email": null })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["email"].is_null(), "{body}");
    assert_eq!(body["dateOfBirth"], "1990-05-17");
    let (status, body) = patch(json!({ "dateOfBirth": null })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["dateOfBirth"].is_null(), "{body}");

    let (status, stored) = app.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        stored["email"].is_null() && stored["dateOfBirth"].is_null(),
        "{stored}"
    );
    assert_eq!(stored["phone"], "+919820000005");
    assert_eq!(stored["name"], "Asha R. Rao");

    // Found under the new phone, not the old one.
    let list = find_ok(&app, &[("phone", "+91 98200 00005")]).await;
    assert_eq!(names(&list), ["Asha R. Rao"]);
    let list = find_ok(&app, &[("phone", "+91 98200 00001")]).await;
    assert!(items(&list).is_empty(), "{list}");

    let tomorrow = utc_date(&app, 1).await;
    let (status, body) =
        patch(json!({ "email": "nope", "phone": "123", "dateOfBirth": tomorrow })).await;
    assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&body),
        fields(&["email", "phone", "dateOfBirth"]),
        "{body}"
    );
    let (_, after) = app.call(Method::GET, &path, None).await;
    assert_eq!(after, stored, "refused changes change nothing");
}
