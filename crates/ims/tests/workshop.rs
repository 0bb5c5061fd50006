//! Workshop jobs: queuing a fitting job for an order, reading it with its history, the queue
//! order, the status machine (every change kept with who and why) and store scoping.

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

/// Two stores, stock in both, a customer, and staff of store A.
struct Workshop {
    app: TestApp,
    store_a: Uuid,
    store_b: Uuid,
    customer: Uuid,
    frame: Uuid,
    sales_id: Uuid,
    sales: String,
    technician_id: Uuid,
    technician: String,
    manager_id: Uuid,
    manager: String,
}

async fn workshop() -> Workshop {
    let app = TestApp::spawn().await;
    let store_a = app.create_store("PUN01").await;
    let store_b = app.create_store("MUM01").await;
    let category = app.create_category("Frames").await;
    let frame = product(&app, category, "JOB-FRAME", 25_000).await;
    stock_in(&app, store_a, frame, 100).await;
    stock_in(&app, store_b, frame, 100).await;
    let customer = id_of(&customer(&app, "Asha Rao", "+919876543210").await);
    let (sales_id, sales) = app.create_user("sales_a", &["sales"], &[store_a]).await;
    let (technician_id, technician) = app.create_user("tech_a", &["technician"], &[store_a]).await;
    let (manager_id, manager) = app.create_user("manager_a", &["manager"], &[store_a]).await;
    Workshop {
        app,
        store_a,
        store_b,
        customer,
        frame,
        sales_id,
        sales,
        technician_id,
        technician,
        manager_id,
        manager,
    }
}

impl Workshop {
    /// An order in `store`, placed by the admin; returns its id.
    async fn order(&self, store: Uuid) -> Uuid {
        id_of(
            &place_ok(
                &self.app,
                &self.app.admin_token,
                store,
                self.customer,
                &[(self.frame, 1)],
            )
            .await,
        )
    }
}

async fn create_job_as(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.call_as(token, Method::POST, "/workshop/jobs", Some(body))
        .await
}

async fn job_ok(app: &TestApp, token: &str, order: Uuid, priority: &str) -> Value {
    let (status, job) = create_job_as(
        app,
        token,
        json!({ "orderId": order, "priority": priority, "instructions": format!("{priority} job") }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job
}

async fn job_status_as(
    app: &TestApp,
    token: &str,
    job: Uuid,
    status: &str,
    note: &str,
) -> (StatusCode, Value) {
    app.call_as(
        token,
        Method::PATCH,
        &format!("/workshop/jobs/{job}/status"),
        Some(json!({ "status": status, "note": note })),
    )
    .await
}

async fn move_job(app: &TestApp, token: &str, job: Uuid, status: &str, note: &str) -> Value {
    let (code, body) = job_status_as(app, token, job, status, note).await;
    assert_eq!(code, StatusCode::OK, "job -> {status}: {body}");
    assert_eq!(body["status"], status, "{body}");
    body
}

fn history(job: &Value) -> &Vec<Value> {
    job["history"]
        .as_array()
        .unwrap_or_else(|| panic!("a job with history: {job}"))
}

// ------------------------------------------------------------------------------- creating

#[tokio::test]
async fn a_job_is_queued_for_an_order_and_read_back_with_its_history() {
    let w = workshop().await;
    let app = &w.app;
    let order = w.order(w.store_a).await;

    let (status, job) = create_job_as(
        app,
        &w.sales,
        json!({ "orderId": order, "priority": "high", "instructions": "fit progressive lenses" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    let number = str_of(&job, "jobNumber");
    assert!(is_number_like(number, "JOB"), "job number {number}");
    assert_eq!(job["orderId"], json!(order));
    assert_eq!(job["storeId"], json!(w.store_a), "the order's store");
    assert_eq!(job["priority"], "high");
    assert_eq!(job["status"], "queued");
    assert_eq!(job["instructions"], "fit progressive lenses");
    assert_eq!(job["createdBy"], json!(w.sales_id));
    assert!(job["completedAt"].is_null());
    assert!(job["prescriptionId"].is_null());
    let entries = history(&job);
    assert_eq!(entries.len(), 1, "{job}");
    assert!(entries[0]["fromStatus"].is_null());
    assert_eq!(entries[0]["toStatus"], "queued");
    assert_eq!(entries[0]["changedBy"], json!(w.sales_id));

    let id = id_of(&job);
    assert_eq!(
        get_ok(app, &w.technician, &format!("/workshop/jobs/{id}")).await,
        job
    );
    assert_eq!(
        get_ok(
            app,
            &w.technician,
            &format!("/workshop/jobs/number/{number}")
        )
        .await,
        job
    );

    // A second job for the same order: normal priority by default, with a prescription.
    let (_, optometrist) = app
        .create_user("opto_a", &["optometrist"], &[w.store_a])
        .await;
    let (status, rx) = app
        .call_as(
            &optometrist,
            Method::POST,
            "/prescriptions",
            Some(json!({ "customerId": w.customer, "patientId": w.customer, "testDate": "2020-01-01",
                         "expiresAt": "2099-01-01", "rightEye": { "sphere": -1.0 }, "leftEye": { "sphere": -1.25 } })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rx}");
    let (status, second) = create_job_as(
        app,
        &w.technician,
        json!({ "orderId": order, "prescriptionId": rx["id"] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["priority"], "normal");
    assert_eq!(second["prescriptionId"], rx["id"]);
    assert_ne!(second["jobNumber"], job["jobNumber"]);

    let of_order = get_ok(app, &w.sales, &format!("/orders/{order}/jobs")).await;
    assert_eq!(ids(items(&of_order)), [id, id_of(&second)]);
    let other_order = w.order(w.store_a).await;
    assert!(items(&get_ok(app, &w.sales, &format!("/orders/{other_order}/jobs")).await).is_empty());

    // Unknown things are named; malformed values are 400; optometrists do not make jobs.
    let cases = [
        (json!({ "orderId": Uuid::now_v7() }), "orderId"),
        (json!({ "orderId": Uuid::new_v4() }), "orderId"),
        (
            json!({ "orderId": order, "prescriptionId": Uuid::now_v7() }),
            "prescriptionId",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) = create_job_as(app, &w.sales, body).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&problem), [field], "{problem}");
    }
    let (status, problem) = create_job_as(
        app,
        &w.sales,
        json!({ "orderId": order, "priority": "asap" }),
    )
    .await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST);
    let (status, problem) = create_job_as(app, &optometrist, json!({ "orderId": order })).await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN);
    let (status, problem) = app
        .call_as(
            &w.technician,
            Method::GET,
            &format!("/workshop/jobs/{}", Uuid::now_v7()),
            None,
        )
        .await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
    let (status, problem) = app
        .call_as(
            &w.technician,
            Method::GET,
            "/workshop/jobs/number/JOB-2020-999999",
            None,
        )
        .await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
    assert_eq!(
        walk(app, &app.admin_token, "/workshop/jobs", 100)
            .await
            .len(),
        2
    );
}

// ------------------------------------------------------------------------------- the queue

#[tokio::test]
async fn the_queue_serves_the_most_urgent_first_then_the_oldest() {
    let w = workshop().await;
    let app = &w.app;
    let order = w.order(w.store_a).await;
    let mut jobs = Vec::new();
    for priority in ["low", "normal", "urgent", "high", "normal", "urgent"] {
        jobs.push(id_of(&job_ok(app, &w.technician, order, priority).await));
    }
    let expected = [jobs[2], jobs[5], jobs[3], jobs[1], jobs[4], jobs[0]];
    assert_eq!(
        ids(&walk(app, &w.technician, "/workshop/jobs", 100).await),
        expected
    );
    assert_eq!(
        ids(&walk(app, &w.technician, "/workshop/jobs", 4).await),
        expected
    );
    assert_eq!(
        ids(&walk(app, &w.technician, "/workshop/jobs", 1).await),
        expected
    );

    let queue = |query: &'static str| {
        let token = w.technician.clone();
        async move { ids(&walk(app, &token, &format!("/workshop/jobs?{query}"), 2).await) }
    };
    assert_eq!(queue("priority=normal").await, [jobs[1], jobs[4]]);
    assert_eq!(queue("priority=urgent").await, [jobs[2], jobs[5]]);
    assert_eq!(queue("priority=low").await, [jobs[0]]);

    // Work in progress stays in the open queue; finished and cancelled jobs leave it.
    move_job(app, &w.technician, jobs[2], "in_progress", "").await;
    move_job(
        app,
        &w.technician,
        jobs[3],
        "cancelled",
        "customer changed their mind",
    )
    .await;
    move_job(app, &w.technician, jobs[5], "in_progress", "").await;
    move_job(app, &w.technician, jobs[5], "quality_check", "").await;
    move_job(app, &w.technician, jobs[5], "completed", "").await;
    assert_eq!(queue("").await, [jobs[2], jobs[1], jobs[4], jobs[0]]);
    assert_eq!(queue("status=in_progress").await, [jobs[2]]);
    assert_eq!(queue("status=queued").await, [jobs[1], jobs[4], jobs[0]]);
    assert_eq!(queue("status=cancelled").await, [jobs[3]]);
    assert_eq!(queue("status=completed").await, [jobs[5]]);
    assert_eq!(
        queue("status=queued&priority=normal").await,
        [jobs[1], jobs[4]]
    );

    for query in ["status=done", "priority=asap", "limit=0", "cursor=xyz"] {
        let (status, problem) = app
            .call_as(
                &w.technician,
                Method::GET,
                &format!("/workshop/jobs?{query}"),
                None,
            )
            .await;
        assert_problem(status, &problem, StatusCode::BAD_REQUEST);
    }
}

// ------------------------------------------------------------------------------- status

#[tokio::test]
async fn every_status_change_follows_the_machine_and_is_kept_with_who_and_why() {
    let w = workshop().await;
    let app = &w.app;
    let order = w.order(w.store_a).await;
    let job = id_of(&job_ok(app, &w.sales, order, "normal").await);

    let steps = [
        ("in_progress", "started fitting"),
        ("quality_check", ""),
        ("in_progress", "rework: scratched lens"),
        ("quality_check", "second check"),
        ("completed", "ready for pickup"),
    ];
    let mut last = Value::Null;
    for (i, (status, note)) in steps.iter().enumerate() {
        last = move_job(app, &w.technician, job, status, note).await;
        assert_eq!(history(&last).len(), i + 2, "{last}");
        if *status == "completed" {
            assert!(last["completedAt"].is_string(), "{last}");
        } else {
            assert!(last["completedAt"].is_null(), "{last}");
        }
    }
    let entries = history(&last);
    let transitions: Vec<(Value, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["fromStatus"].clone(),
                str_of(e, "toStatus"),
                str_of(e, "note"),
            )
        })
        .collect();
    assert_eq!(
        transitions,
        [
            (Value::Null, "queued", ""),
            (json!("queued"), "in_progress", "started fitting"),
            (json!("in_progress"), "quality_check", ""),
            (
                json!("quality_check"),
                "in_progress",
                "rework: scratched lens"
            ),
            (json!("in_progress"), "quality_check", "second check"),
            (json!("quality_check"), "completed", "ready for pickup"),
        ]
    );
    assert_eq!(entries[0]["changedBy"], json!(w.sales_id));
    for entry in &entries[1..] {
        assert_eq!(entry["changedBy"], json!(w.technician_id), "{entry}");
    }
    let times: Vec<&str> = entries.iter().map(|e| str_of(e, "changedAt")).collect();
    assert!(times.iter().all(|t| !t.is_empty()));
    assert_eq!(
        get_ok(app, &w.technician, &format!("/workshop/jobs/{job}")).await,
        last
    );

    // A completed job is final.
    for next in ["cancelled", "in_progress", "queued"] {
        let (status, problem) = job_status_as(app, &w.technician, job, next, "").await;
        assert_problem(status, &problem, StatusCode::CONFLICT);
    }

    // Skipping steps is refused and leaves no trace.
    let queued = id_of(&job_ok(app, &w.sales, order, "low").await);
    for next in ["completed", "quality_check", "queued"] {
        let (status, problem) = job_status_as(app, &w.technician, queued, next, "").await;
        assert_problem(status, &problem, StatusCode::CONFLICT);
    }
    let unchanged = get_ok(app, &w.technician, &format!("/workshop/jobs/{queued}")).await;
    assert_eq!(unchanged["status"], "queued");
    assert_eq!(history(&unchanged).len(), 1);

    // Anything not completed can be cancelled (here by a manager); a cancelled job is final.
    let cancelled = move_job(
        app,
        &w.manager,
        queued,
        "cancelled",
        "customer changed their mind",
    )
    .await;
    let last_entry = history(&cancelled).last().cloned().expect("an entry");
    assert_eq!(last_entry["changedBy"], json!(w.manager_id));
    assert_eq!(last_entry["note"], "customer changed their mind");
    for next in ["queued", "in_progress", "cancelled"] {
        let (status, problem) = job_status_as(app, &w.technician, queued, next, "").await;
        assert_problem(status, &problem, StatusCode::CONFLICT);
    }
    let in_progress = id_of(&job_ok(app, &w.sales, order, "high").await);
    move_job(app, &w.technician, in_progress, "in_progress", "").await;
    move_job(app, &w.technician, in_progress, "cancelled", "lens broke").await;
    let in_check = id_of(&job_ok(app, &w.sales, order, "high").await);
    move_job(app, &w.technician, in_check, "in_progress", "").await;
    move_job(app, &w.technician, in_check, "quality_check", "").await;
    move_job(app, &w.technician, in_check, "cancelled", "frame cracked").await;
    let (status, problem) = job_status_as(app, &w.technician, in_check, "in_progress", "").await;
    assert_problem(status, &problem, StatusCode::CONFLICT);

    // Sales staff do not work jobs; unknown statuses are malformed; unknown jobs not found.
    let open = id_of(&job_ok(app, &w.sales, order, "normal").await);
    let (status, problem) = job_status_as(app, &w.sales, open, "in_progress", "").await;
    assert_problem(status, &problem, StatusCode::FORBIDDEN);
    let (status, problem) = job_status_as(app, &w.technician, open, "done", "").await;
    assert_problem(status, &problem, StatusCode::BAD_REQUEST);
    let (status, problem) =
        job_status_as(app, &w.technician, Uuid::now_v7(), "in_progress", "").await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
    let still = get_ok(app, &w.technician, &format!("/workshop/jobs/{open}")).await;
    assert_eq!(still["status"], "queued");
    assert_eq!(history(&still).len(), 1);
}

// ------------------------------------------------------------------------------- scoping

#[tokio::test]
async fn technicians_see_and_work_only_their_own_stores_jobs() {
    let w = workshop().await;
    let app = &w.app;
    let (_, technician_b) = app
        .create_user("tech_b", &["technician"], &[w.store_b])
        .await;
    let order_a = w.order(w.store_a).await;
    let order_b = w.order(w.store_b).await;
    let job_a = job_ok(app, &w.technician, order_a, "normal").await;
    let job_b = job_ok(app, &app.admin_token, order_b, "urgent").await;
    let b = id_of(&job_b);
    assert_eq!(job_b["storeId"], json!(w.store_b));

    for path in [
        format!("/workshop/jobs/{b}"),
        format!("/workshop/jobs/number/{}", str_of(&job_b, "jobNumber")),
        format!("/orders/{order_b}/jobs"),
    ] {
        let (status, problem) = app.call_as(&w.technician, Method::GET, &path, None).await;
        assert_problem(status, &problem, StatusCode::NOT_FOUND);
    }
    let (status, problem) = job_status_as(app, &w.technician, b, "in_progress", "").await;
    assert_problem(status, &problem, StatusCode::NOT_FOUND);
    assert_eq!(
        get_ok(app, &technician_b, &format!("/workshop/jobs/{b}")).await["status"],
        "queued"
    );
    // Making a job for another store's order: that order does not exist for this user.
    let (status, problem) = create_job_as(app, &w.technician, json!({ "orderId": order_b })).await;
    assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem), ["orderId"]);

    // Each queue shows its own store's jobs; the admin's shows both.
    assert_eq!(
        ids(&walk(app, &w.technician, "/workshop/jobs", 10).await),
        [id_of(&job_a)]
    );
    assert_eq!(
        ids(&walk(app, &technician_b, "/workshop/jobs", 10).await),
        [b]
    );
    let everything: HashSet<Uuid> = ids(&walk(app, &app.admin_token, "/workshop/jobs", 10).await)
        .into_iter()
        .collect();
    assert_eq!(everything, HashSet::from([id_of(&job_a), b]));
}
