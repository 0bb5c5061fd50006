//! Prescriptions: who may write and read them, the optical rules (each broken rule named),
//! dates, lists newest test first, superseding, and the audit trail of every read.

// A failed expect in a test is a failed test with its reason; clippy.toml allows it only
// inside #[test] functions, not in these files' helpers.
#![allow(clippy::expect_used)]

mod ops_common;

use std::collections::HashSet;

use ops_common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use testkit::{assert_problem, id_of, TestApp};
use uuid::Uuid;

/// Today plus `offset` days, as the service sees today (UTC), `YYYY-MM-DD`.
async fn day(app: &TestApp, offset: i32) -> String {
    sqlx::query_scalar("SELECT ((now() AT TIME ZONE 'UTC')::date + $1::int)::text")
        .bind(offset)
        .fetch_one(app.db.primary())
        .await
        .expect("date")
}

async fn two_years_after(app: &TestApp, date: &str) -> String {
    sqlx::query_scalar("SELECT ($1::date + interval '2 years')::date::text")
        .bind(date)
        .fetch_one(app.db.primary())
        .await
        .expect("date")
}

fn right_eye() -> Value {
    json!({ "sphere": -2.25, "cylinder": -0.5, "axis": 90, "add": 1.5, "pd": 31.5 })
}

fn left_eye() -> Value {
    json!({ "sphere": -1.75 })
}

fn body(customer: Uuid, patient: Uuid, test_date: &str) -> Value {
    json!({
        "customerId": customer, "patientId": patient, "testDate": test_date,
        "rightEye": right_eye(), "leftEye": left_eye(), "notes": "first visit",
    })
}

async fn create_as(app: &TestApp, token: &str, body: &Value) -> (StatusCode, Value) {
    app.call_as(token, Method::POST, "/prescriptions", Some(body.clone()))
        .await
}

async fn create_ok(app: &TestApp, token: &str, body: &Value) -> Value {
    let (status, created) = create_as(app, token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{body}: {created}");
    created
}

/// A store, a customer (who is also the patient) and an optometrist.
struct Clinic {
    app: TestApp,
    store: Uuid,
    customer: Uuid,
    optometrist_id: Uuid,
    optometrist: String,
}

async fn clinic() -> Clinic {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN01").await;
    let customer = id_of(&customer(&app, "Asha Rao", "+919876543210").await);
    let (optometrist_id, optometrist) = app.create_user("opto_a", &["optometrist"], &[store]).await;
    Clinic {
        app,
        store,
        customer,
        optometrist_id,
        optometrist,
    }
}

fn f64_at(value: &Value, pointer: &str) -> Option<f64> {
    value.pointer(pointer).and_then(Value::as_f64)
}

async fn prescription_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM prescriptions")
        .fetch_one(app.db.primary())
        .await
        .expect("count")
}

// ------------------------------------------------------------------------------- creating

#[tokio::test]
async fn an_optometrist_records_a_prescription_that_expires_two_years_later_by_default() {
    let c = clinic().await;
    let app = &c.app;
    let test_date = day(app, -30).await;
    let created = create_ok(
        app,
        &c.optometrist,
        &body(c.customer, c.customer, &test_date),
    )
    .await;

    assert_eq!(created["customerId"], json!(c.customer));
    assert_eq!(created["patientId"], json!(c.customer));
    assert_eq!(created["testDate"], test_date);
    assert_eq!(created["expiresAt"], two_years_after(app, &test_date).await);
    assert_eq!(created["status"], "active");
    assert_eq!(created["notes"], "first visit");
    assert_eq!(created["createdBy"], json!(c.optometrist_id));
    assert_eq!(f64_at(&created, "/rightEye/sphere"), Some(-2.25));
    assert_eq!(f64_at(&created, "/rightEye/cylinder"), Some(-0.5));
    assert_eq!(created["rightEye"]["axis"], 90);
    assert_eq!(f64_at(&created, "/rightEye/add"), Some(1.5));
    assert_eq!(f64_at(&created, "/rightEye/pd"), Some(31.5));
    assert_eq!(f64_at(&created, "/leftEye/sphere"), Some(-1.75));
    assert_eq!(f64_at(&created, "/leftEye/cylinder").unwrap_or(0.0), 0.0);
    assert!(created["leftEye"]["axis"].is_null(), "{created}");

    let id = id_of(&created);
    let read = get_ok(app, &c.optometrist, &format!("/prescriptions/{id}")).await;
    assert_eq!(read, created);

    // An explicit expiry is kept; a prescription with a prism is fine.
    let expires = day(app, 300).await;
    let mut explicit = body(c.customer, c.customer, &day(app, 0).await);
    explicit["expiresAt"] = json!(expires);
    explicit["leftEye"] = json!({ "sphere": 0.0, "cylinder": 1.25, "axis": 180,
                                  "prism": { "amount": 0.5, "base": "in" }, "pd": 20 });
    let created = create_ok(app, &c.optometrist, &explicit).await;
    assert_eq!(created["expiresAt"], expires);
    assert_eq!(created["leftEye"]["axis"], 180);
    assert_eq!(created["leftEye"]["prism"]["base"], "in");
    assert_eq!(created["status"], "active");

    // Unknown prescriptions are not found.
    for path in [
        format!("/prescriptions/{}", Uuid::now_v7()),
        "/prescriptions/nope".to_owned(),
    ] {
        let (status, body) = app.call_as(&c.optometrist, Method::GET, &path, None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn optometrists_and_admins_write_sales_read_technicians_neither() {
    let c = clinic().await;
    let app = &c.app;
    let (_, sales) = app.create_user("sales_a", &["sales"], &[c.store]).await;
    let (_, technician) = app.create_user("tech_a", &["technician"], &[c.store]).await;
    let (_, manager) = app.create_user("manager_a", &["manager"], &[c.store]).await;
    let new = body(c.customer, c.customer, &day(app, -1).await);

    for token in [&sales, &technician, &manager] {
        let (status, problem) = create_as(app, token, &new).await;
        assert_problem(status, &problem, StatusCode::FORBIDDEN);
    }
    assert_eq!(prescription_rows(app).await, 0);
    let by_admin = create_ok(app, &app.admin_token, &new).await;
    let id = id_of(&by_admin);

    let by_sales = get_ok(app, &sales, &format!("/prescriptions/{id}")).await;
    assert_eq!(by_sales["id"], json!(id));
    let listed = get_ok(
        app,
        &sales,
        &format!("/prescriptions?patientId={}", c.customer),
    )
    .await;
    assert_eq!(ids(items(&listed)), [id]);
    get_ok(
        app,
        &sales,
        &format!("/customers/{}/prescriptions", c.customer),
    )
    .await;

    for token in [&technician, &manager] {
        for path in [
            format!("/prescriptions/{id}"),
            format!("/prescriptions?patientId={}", c.customer),
            format!("/customers/{}/prescriptions", c.customer),
        ] {
            let (status, problem) = app.call_as(token, Method::GET, &path, None).await;
            assert_problem(status, &problem, StatusCode::FORBIDDEN);
        }
    }
}

// ------------------------------------------------------------------------------- validation

#[tokio::test]
async fn each_broken_rule_is_named_and_nothing_is_stored() {
    let c = clinic().await;
    let app = &c.app;
    let today = day(app, 0).await;
    let tomorrow = day(app, 1).await;
    let last_month = day(app, -30).await;
    let two_months_ago = day(app, -60).await;
    let base = body(c.customer, c.customer, &last_month);

    let with = |changes: &[(&str, Value)]| -> Value {
        let mut b = base.clone();
        for (pointer, value) in changes {
            let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
            let target = if parent.is_empty() {
                &mut b
            } else {
                b.pointer_mut(parent).expect("the parent exists")
            };
            target[key] = value.clone();
        }
        b
    };
    let no_axis = |side: &str, cylinder: f64| -> Value {
        let mut b = base.clone();
        b[side] = json!({ "sphere": 1.0, "cylinder": cylinder });
        b
    };

    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            with(&[("/rightEye/sphere", json!(30.25))]),
            vec!["rightEye.sphere"],
        ),
        (
            with(&[("/rightEye/sphere", json!(-30.5))]),
            vec!["rightEye.sphere"],
        ),
        (
            with(&[("/rightEye/sphere", json!(-2.1))]),
            vec!["rightEye.sphere"],
        ),
        (
            with(&[("/leftEye/sphere", json!(1.3))]),
            vec!["leftEye.sphere"],
        ),
        (
            with(&[("/rightEye/cylinder", json!(-10.25))]),
            vec!["rightEye.cylinder"],
        ),
        (
            with(&[("/rightEye/cylinder", json!(10.5))]),
            vec!["rightEye.cylinder"],
        ),
        (
            with(&[("/rightEye/cylinder", json!(-0.6))]),
            vec!["rightEye.cylinder"],
        ),
        (no_axis("rightEye", -0.75), vec!["rightEye.axis"]),
        (with(&[("/leftEye/axis", json!(90))]), vec!["leftEye.axis"]),
        (
            with(&[
                ("/leftEye/cylinder", json!(0.0)),
                ("/leftEye/axis", json!(45)),
            ]),
            vec!["leftEye.axis"],
        ),
        (with(&[("/rightEye/axis", json!(0))]), vec!["rightEye.axis"]),
        (
            with(&[("/rightEye/axis", json!(181))]),
            vec!["rightEye.axis"],
        ),
        (
            with(&[("/rightEye/add", json!(4.25))]),
            vec!["rightEye.add"],
        ),
        (
            with(&[("/rightEye/add", json!(-0.25))]),
            vec!["rightEye.add"],
        ),
        (with(&[("/rightEye/pd", json!(19))]), vec!["rightEye.pd"]),
        (with(&[("/rightEye/pd", json!(41))]), vec!["rightEye.pd"]),
        (with(&[("/leftEye/pd", json!(19.5))]), vec!["leftEye.pd"]),
        (with(&[("/testDate", json!(tomorrow))]), vec!["testDate"]),
        (
            with(&[("/expiresAt", json!(two_months_ago))]),
            vec!["expiresAt"],
        ),
        (
            with(&[("/expiresAt", json!(last_month))]),
            vec!["expiresAt"],
        ),
        (with(&[("/leftEye", json!({}))]), vec!["leftEye.sphere"]),
        // Several at once: every one is named.
        (
            with(&[
                ("/rightEye/sphere", json!(31)),
                ("/rightEye/pd", json!(41)),
                ("/leftEye/cylinder", json!(1.0)),
                ("/leftEye/axis", json!(181)),
                ("/leftEye/add", json!(4.25)),
                ("/testDate", json!(tomorrow)),
            ]),
            vec![
                "rightEye.sphere",
                "rightEye.pd",
                "leftEye.axis",
                "leftEye.add",
                "testDate",
            ],
        ),
    ];
    for (request, fields) in cases {
        let (status, problem) = create_as(app, &c.optometrist, &request).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        let named: HashSet<String> = error_fields(&problem).into_iter().collect();
        let expected: HashSet<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(named, expected, "{request}: {problem}");
    }
    // Unknown people are named too.
    let (status, problem) = create_as(
        app,
        &c.optometrist,
        &body(Uuid::new_v4(), c.customer, &today),
    )
    .await;
    assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem), ["customerId"], "{problem}");
    let (status, problem) = create_as(
        app,
        &c.optometrist,
        &body(c.customer, Uuid::new_v4(), &today),
    )
    .await;
    assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem), ["patientId"], "{problem}");

    assert_eq!(
        prescription_rows(app).await,
        0,
        "nothing invalid was stored"
    );

    // The edges themselves are valid.
    let edges = with(&[
        ("/testDate", json!(today)),
        (
            "/rightEye",
            json!({ "sphere": 30.0, "cylinder": -10.0, "axis": 1, "add": 4.0, "pd": 40 }),
        ),
        (
            "/leftEye",
            json!({ "sphere": -30.0, "cylinder": 10.0, "axis": 180, "add": 0.0, "pd": 20 }),
        ),
    ]);
    create_ok(app, &c.optometrist, &edges).await;
}

// ------------------------------------------------------------------------------- lists

#[tokio::test]
async fn lists_go_newest_test_first_by_patient_or_by_customer() {
    let c = clinic().await;
    let app = &c.app;
    // The customer brings a family member, who is a customer record of their own.
    let child = id_of(&customer(app, "Riya Rao", "+919876543211").await);
    let stranger = id_of(&customer(app, "Vikram Shah", "+919988776655").await);

    // Entered in this order: each patient's tests in date order, but across the customer's
    // family the entry order is not the test order.
    let mut made = Vec::new();
    for (patient, offset) in [
        (c.customer, -200),
        (child, -300),
        (c.customer, -5),
        (child, -100),
        (child, -10),
    ] {
        let test_date = day(app, offset).await;
        made.push(create_ok(app, &c.optometrist, &body(c.customer, patient, &test_date)).await);
    }
    let elsewhere = create_ok(
        app,
        &c.optometrist,
        &body(stranger, stranger, &day(app, -1).await),
    )
    .await;
    let id = |i: usize| id_of(&made[i]);

    let by_patient = walk(
        app,
        &c.optometrist,
        &format!("/prescriptions?patientId={child}"),
        2,
    )
    .await;
    assert_eq!(ids(&by_patient), [id(4), id(3), id(1)], "newest test first");
    let dates: Vec<&str> = by_patient.iter().map(|p| str_of(p, "testDate")).collect();
    assert!(dates.windows(2).all(|w| w[0] > w[1]), "{dates:?}");

    let by_customer = walk(
        app,
        &c.optometrist,
        &format!("/prescriptions?customerId={}", c.customer),
        2,
    )
    .await;
    assert_eq!(
        ids(&by_customer),
        [id(2), id(4), id(3), id(0), id(1)],
        "newest test first"
    );
    let of_customer = walk(
        app,
        &c.optometrist,
        &format!("/customers/{}/prescriptions", c.customer),
        3,
    )
    .await;
    assert_eq!(ids(&of_customer), ids(&by_customer));
    let both = walk(
        app,
        &c.optometrist,
        &format!(
            "/prescriptions?customerId={}&patientId={}",
            c.customer, c.customer
        ),
        10,
    )
    .await;
    assert_eq!(ids(&both), [id(2), id(0)]);
    let strangers = walk(
        app,
        &c.optometrist,
        &format!("/customers/{stranger}/prescriptions"),
        10,
    )
    .await;
    assert_eq!(ids(&strangers), [id_of(&elsewhere)]);

    // Status filter: the child's older tests were superseded by the newest one.
    let active = walk(
        app,
        &c.optometrist,
        &format!("/prescriptions?patientId={child}&status=active"),
        10,
    )
    .await;
    assert_eq!(ids(&active), [id(4)]);
    let superseded = walk(
        app,
        &c.optometrist,
        &format!("/prescriptions?patientId={child}&status=superseded"),
        10,
    )
    .await;
    assert_eq!(ids(&superseded), [id(3), id(1)]);

    // Without a person the list is refused; unknown customers are not found.
    for query in [
        "",
        "?status=active",
        "?patientId=nobody",
        "?customerId=nobody",
        "?status=old",
    ] {
        let (status, problem) = app
            .call_as(
                &c.optometrist,
                Method::GET,
                &format!("/prescriptions{query}"),
                None,
            )
            .await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST);
    }
    let (status, problem) = app
        .call_as(
            &c.optometrist,
            Method::GET,
            &format!("/customers/{}/prescriptions", Uuid::new_v4()),
            None,
        )
        .await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_newer_test_supersedes_the_patients_older_active_prescription() {
    let c = clinic().await;
    let app = &c.app;
    let sibling = id_of(&customer(app, "Riya Rao", "+919876543211").await);

    let old = create_ok(
        app,
        &c.optometrist,
        &body(c.customer, c.customer, &day(app, -400).await),
    )
    .await;
    let sibling_rx = create_ok(
        app,
        &c.optometrist,
        &body(c.customer, sibling, &day(app, -300).await),
    )
    .await;
    assert_eq!(old["status"], "active");

    let new = create_ok(
        app,
        &c.optometrist,
        &body(c.customer, c.customer, &day(app, -3).await),
    )
    .await;
    assert_eq!(new["status"], "active");
    let old_now = get_ok(
        app,
        &c.optometrist,
        &format!("/prescriptions/{}", id_of(&old)),
    )
    .await;
    assert_eq!(old_now["status"], "superseded");
    // Another patient's prescription is untouched.
    let sibling_now = get_ok(
        app,
        &c.optometrist,
        &format!("/prescriptions/{}", id_of(&sibling_rx)),
    )
    .await;
    assert_eq!(sibling_now["status"], "active");

    // A second test on the same day replaces the first.
    let retest = create_ok(
        app,
        &c.optometrist,
        &body(c.customer, c.customer, &day(app, -3).await),
    )
    .await;
    assert_eq!(retest["status"], "active");
    let new_now = get_ok(
        app,
        &c.optometrist,
        &format!("/prescriptions/{}", id_of(&new)),
    )
    .await;
    assert_eq!(new_now["status"], "superseded");
    let active = walk(
        app,
        &c.optometrist,
        &format!("/prescriptions?patientId={}&status=active", c.customer),
        10,
    )
    .await;
    assert_eq!(ids(&active), [id_of(&retest)]);
}

#[tokio::test]
async fn an_older_test_entered_late_does_not_displace_the_newer_one() {
    let c = clinic().await;
    let app = &c.app;
    let newer = create_ok(
        app,
        &c.optometrist,
        &body(c.customer, c.customer, &day(app, -10).await),
    )
    .await;
    // A paper record from an earlier test is typed in afterwards.
    let older = create_ok(
        app,
        &c.optometrist,
        &body(c.customer, c.customer, &day(app, -100).await),
    )
    .await;

    let newer_now = get_ok(
        app,
        &c.optometrist,
        &format!("/prescriptions/{}", id_of(&newer)),
    )
    .await;
    assert_eq!(
        newer_now["status"], "active",
        "the newest test stays the active one"
    );
    let active = walk(
        app,
        &c.optometrist,
        &format!("/prescriptions?patientId={}&status=active", c.customer),
        10,
    )
    .await;
    assert_eq!(
        ids(&active),
        [id_of(&newer)],
        "one active prescription per patient, the newest test; the older one entered late was {}",
        older["status"]
    );
}

// ------------------------------------------------------------------------------- audit

async fn reads_of(app: &TestApp, reader: Uuid, prescription: Uuid) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM audit_log
         WHERE action = 'prescription.read' AND actor_id = $1 AND entity_id = $2",
    )
    .bind(reader)
    .bind(prescription)
    .fetch_one(app.db.primary())
    .await
    .expect("audit count")
}

async fn all_reads(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'prescription.read'")
        .fetch_one(app.db.primary())
        .await
        .expect("audit count")
}

#[tokio::test]
async fn every_read_of_a_prescription_is_audited_with_the_reader() {
    let c = clinic().await;
    let app = &c.app;
    let (sales_id, sales) = app.create_user("sales_a", &["sales"], &[c.store]).await;
    let (_, technician) = app.create_user("tech_a", &["technician"], &[c.store]).await;
    let child = id_of(&customer(app, "Riya Rao", "+919876543211").await);
    let a = id_of(
        &create_ok(
            app,
            &c.optometrist,
            &body(c.customer, c.customer, &day(app, -20).await),
        )
        .await,
    );
    let b = id_of(
        &create_ok(
            app,
            &c.optometrist,
            &body(c.customer, child, &day(app, -10).await),
        )
        .await,
    );
    let d = id_of(
        &create_ok(
            app,
            &c.optometrist,
            &body(c.customer, child, &day(app, -5).await),
        )
        .await,
    );
    assert_eq!(all_reads(app).await, 0, "creating is not reading");

    // One GET: one row, naming the reader and the prescription.
    get_ok(app, &sales, &format!("/prescriptions/{a}")).await;
    assert_eq!(reads_of(app, sales_id, a).await, 1);
    assert_eq!(all_reads(app).await, 1);
    get_ok(app, &sales, &format!("/prescriptions/{a}")).await;
    get_ok(app, &c.optometrist, &format!("/prescriptions/{a}")).await;
    assert_eq!(reads_of(app, sales_id, a).await, 2);
    assert_eq!(reads_of(app, c.optometrist_id, a).await, 1);
    assert_eq!(all_reads(app).await, 3);
    let (entity_type,): (String,) = sqlx::query_as(
        "SELECT entity_type FROM audit_log WHERE action = 'prescription.read' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(app.db.primary())
    .await
    .expect("audit row");
    assert_eq!(entity_type, "prescription");

    // A list: one row per prescription returned, and only those.
    let listed = get_ok(
        app,
        &sales,
        &format!("/customers/{}/prescriptions?limit=2", c.customer),
    )
    .await;
    assert_eq!(ids(items(&listed)), [d, b]);
    assert_eq!(reads_of(app, sales_id, d).await, 1);
    assert_eq!(reads_of(app, sales_id, b).await, 1);
    assert_eq!(
        reads_of(app, sales_id, a).await,
        2,
        "not returned, not read"
    );
    assert_eq!(all_reads(app).await, 5);
    let listed = get_ok(app, &sales, &format!("/prescriptions?patientId={child}")).await;
    assert_eq!(items(&listed).len(), 2);
    assert_eq!(reads_of(app, sales_id, d).await, 2);
    assert_eq!(reads_of(app, sales_id, b).await, 2);
    assert_eq!(all_reads(app).await, 7);

    // Refused or empty reads show nothing, so they record nothing.
    let (status, _) = app
        .call_as(
            &technician,
            Method::GET,
            &format!("/prescriptions/{a}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(
            &sales,
            Method::GET,
            &format!("/prescriptions/{}", Uuid::now_v7()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stranger = id_of(&customer(app, "Vikram Shah", "+919988776655").await);
    get_ok(app, &sales, &format!("/prescriptions?patientId={stranger}")).await;
    assert_eq!(all_reads(app).await, 7);
}
