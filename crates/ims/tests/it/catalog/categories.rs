//! Categories: listed (active ones by default), created and changed by admins and managers
//! only, unique names, renamed, deactivated and nested without cycles, and their products.

use super::*;

#[tokio::test]
async fn categories_list_active_ones_by_default_and_others_on_request() {
    let app = TestApp::spawn().await;
    app.create_category("Frames").await;
    let lenses = app.create_category("Lenses").await;
    app.create_category("Contact Lenses").await;
    let (status, accessories) = app
        .call(
            Method::POST,
            "/categories",
            Some(json!({ "name": "Accessories", "description": "Cases and cloths", "status": "inactive" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{accessories}");
    assert_eq!(accessories["status"], "inactive");
    assert_eq!(accessories["description"], "Cases and cloths");
    assert!(accessories["parentId"].is_null(), "{accessories}");
    assert!(accessories["createdAt"].is_string(), "{accessories}");

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/categories/{lenses}"),
            Some(json!({ "status": "inactive" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "inactive");

    let active = get_ok(&app, &app.admin_token, "/categories").await;
    assert_eq!(names(&active), ["Contact Lenses", "Frames"]);
    assert!(active["nextCursor"].is_null());
    let active = get_ok(&app, &app.admin_token, "/categories?status=active").await;
    assert_eq!(names(&active), ["Contact Lenses", "Frames"]);
    let inactive = get_ok(&app, &app.admin_token, "/categories?status=inactive").await;
    assert_eq!(names(&inactive), ["Accessories", "Lenses"]);

    get_problem(&app, "/categories?status=deleted", StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn only_admins_and_managers_create_and_change_categories() {
    let app = TestApp::spawn().await;
    let store = app.create_store("PUN-01").await;
    let (_, manager) = app.create_user("manager1", &["manager"], &[store]).await;
    let (status, body) = app
        .call_as(
            &manager,
            Method::POST,
            "/categories",
            Some(json!({ "name": "Frames" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let frames = id_of(&body);
    let (status, body) = app
        .call_as(
            &manager,
            Method::PATCH,
            &format!("/categories/{frames}"),
            Some(json!({ "description": "Spectacle frames" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["description"], "Spectacle frames");

    for role in ["sales", "technician", "optometrist"] {
        let (_, token) = app
            .create_user(&format!("{role}1"), &[role], &[store])
            .await;
        let (status, body) = app
            .call_as(
                &token,
                Method::POST,
                "/categories",
                Some(json!({ "name": format!("By {role}") })),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        let (status, body) = app
            .call_as(
                &token,
                Method::PATCH,
                &format!("/categories/{frames}"),
                Some(json!({ "name": format!("Renamed by {role}") })),
            )
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN);
        // Everyone reads the chain-wide categories.
        let (status, list) = app.call_as(&token, Method::GET, "/categories", None).await;
        assert_eq!(status, StatusCode::OK, "{role}: {list}");
        assert_eq!(names(&list), ["Frames"], "{role} changed nothing");
    }
    let inactive = get_ok(&app, &app.admin_token, "/categories?status=inactive").await;
    assert!(items(&inactive).is_empty(), "{inactive}");
}

#[tokio::test]
async fn category_names_are_unique_regardless_of_case() {
    let app = TestApp::spawn().await;
    app.create_category("Sunglasses").await;
    let other = app.create_category("Frames").await;

    // Another case of a taken name, created or renamed to, and a blank one: each names `name`.
    let rename = format!("/categories/{other}");
    for (method, path, body, expected) in [
        (
            Method::POST,
            "/categories",
            json!({ "name": "SUNGLASSES" }),
            StatusCode::CONFLICT,
        ),
        (
            Method::PATCH,
            rename.as_str(),
            json!({ "name": "sunglasses" }),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/categories",
            json!({ "name": "  " }),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, problem) = app.call(method.clone(), path, Some(body.clone())).await;
        assert_problem(status, &problem, expected);
        assert_eq!(
            error_fields(&problem),
            ["name"],
            "{method} {path} {body}: {problem}"
        );
    }

    let list = get_ok(&app, &app.admin_token, "/categories").await;
    assert_eq!(names(&list), ["Frames", "Sunglasses"]);
}

#[tokio::test]
async fn categories_are_renamed_deactivated_and_nested_without_cycles() {
    let app = TestApp::spawn().await;
    let a = app.create_category("Eyewear").await;
    let b = app.create_category("Frames").await;
    let c = app.create_category("Metal Frames").await;
    let patch = |id: Uuid, body: Value| {
        let app = &app;
        async move {
            app.call(Method::PATCH, &format!("/categories/{id}"), Some(body))
                .await
        }
    };

    // a > b > c
    let (status, body) = patch(b, json!({ "parentId": a })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["parentId"], a.to_string());
    let (status, body) = patch(c, json!({ "parentId": b })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["parentId"], b.to_string());

    // Under itself, its child or its grandchild: each would close a loop; a parent that does
    // not exist, on a rename or a create. Each names `parentId`.
    let (rename_a, rename_b) = (format!("/categories/{a}"), format!("/categories/{b}"));
    for (method, path, body) in [
        (Method::PATCH, rename_a.as_str(), json!({ "parentId": a })),
        (Method::PATCH, rename_a.as_str(), json!({ "parentId": b })),
        (Method::PATCH, rename_a.as_str(), json!({ "parentId": c })),
        (Method::PATCH, rename_b.as_str(), json!({ "parentId": c })),
        (
            Method::PATCH,
            rename_a.as_str(),
            json!({ "parentId": Uuid::new_v4() }),
        ),
        (
            Method::POST,
            "/categories",
            json!({ "name": "Orphans", "parentId": Uuid::new_v4() }),
        ),
    ] {
        let (status, problem) = app.call(method.clone(), path, Some(body.clone())).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            error_fields(&problem),
            ["parentId"],
            "{method} {path} {body}: {problem}"
        );
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/categories",
            Some(json!({ "name": "Rimless Frames", "parentId": b })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["parentId"], b.to_string());

    // Nothing above changed the tree.
    let list = get_ok(&app, &app.admin_token, "/categories").await;
    let parent_of = |list: &Value, name: &str| -> Value {
        items(list)
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {list}"))["parentId"]
            .clone()
    };
    assert_eq!(parent_of(&list, "Eyewear"), Value::Null);
    assert_eq!(parent_of(&list, "Frames"), json!(a));
    assert_eq!(parent_of(&list, "Metal Frames"), json!(b));
    assert!(!names(&list).contains(&"Orphans".to_owned()), "{list}");

    // Rename, move to the top, deactivate.
    let (status, body) = patch(a, json!({ "name": "Optical Eyewear" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Optical Eyewear");
    let (status, body) = patch(c, json!({ "parentId": null })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["parentId"].is_null(), "{body}");
    assert_eq!(body["name"], "Metal Frames", "other fields stay");
    // Now a may go under c (c is no longer below a).
    let (status, body) = patch(a, json!({ "parentId": c })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = patch(b, json!({ "status": "inactive" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "inactive");

    let list = get_ok(&app, &app.admin_token, "/categories").await;
    assert_eq!(
        names(&list),
        ["Metal Frames", "Optical Eyewear", "Rimless Frames"]
    );
    let list = get_ok(&app, &app.admin_token, "/categories?status=inactive").await;
    assert_eq!(names(&list), ["Frames"]);

    let (status, body) = patch(Uuid::new_v4(), json!({ "name": "Ghost" })).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn category_products_lists_only_that_categorys_products() {
    let app = TestApp::spawn().await;
    let frames = app.create_category("Frames").await;
    let lenses = app.create_category("Lenses").await;
    let empty = app.create_category("Cases").await;
    add(&app, "FR-001", "Aviator", frames, 500_000).await;
    add(&app, "FR-002", "Wayfarer", frames, 400_000).await;
    add(&app, "LN-001", "Single Vision", lenses, 200_000).await;

    let list = get_ok(
        &app,
        &app.admin_token,
        &format!("/categories/{frames}/products"),
    )
    .await;
    assert_eq!(skus(&list), ["FR-001", "FR-002"]);
    assert!(items(&list)
        .iter()
        .all(|p| p["categoryId"] == frames.to_string()));
    let list = get_ok(
        &app,
        &app.admin_token,
        &format!("/categories/{lenses}/products"),
    )
    .await;
    assert_eq!(skus(&list), ["LN-001"]);
    let list = get_ok(
        &app,
        &app.admin_token,
        &format!("/categories/{empty}/products"),
    )
    .await;
    assert!(items(&list).is_empty(), "{list}");
    assert!(list["nextCursor"].is_null());
    // Filters and sorting work here as on /products.
    let list = get_ok(
        &app,
        &app.admin_token,
        &format!("/categories/{frames}/products?sort=-price&maxPrice=450000"),
    )
    .await;
    assert_eq!(skus(&list), ["FR-002"]);

    get_problem(
        &app,
        &format!("/categories/{}/products", Uuid::new_v4()),
        StatusCode::NOT_FOUND,
    )
    .await;
    get_problem(&app, "/categories/frames/products", StatusCode::NOT_FOUND).await;
}
