//! The migrated schema (every index `docs/indexes.md` lists, order partitions) and the operational
//! endpoints: health checks, the OpenAPI document and the docs page.

use std::collections::BTreeSet;

use reqwest::{header, StatusCode, Url};
use serde_json::{json, Value};
use testkit::TestApp;
use uuid::Uuid;

// ------------------------------------------------------------------------------------ indexes

/// One index as `pg_indexes.indexdef` describes it.
#[derive(Debug)]
struct Index {
    name: String,
    def: String,
    unique: bool,
    method: String,
    columns: Vec<String>,
    partial: bool,
}

/// Parses `CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING method (col, ...) [...]`.
fn parse_index(name: String, def: String) -> Index {
    let unique = def.starts_with("CREATE UNIQUE INDEX");
    let (_, using) = def
        .split_once(" USING ")
        .unwrap_or_else(|| panic!("no USING in {def}"));
    let (method, rest) = using
        .split_once(' ')
        .unwrap_or_else(|| panic!("no column list in {def}"));
    assert!(rest.starts_with('('), "{def}");
    // The column list: up to the parenthesis that closes the first one.
    let mut depth = 0;
    let mut columns = Vec::new();
    let mut current = String::new();
    let mut end = rest.len();
    for (i, c) in rest.char_indices() {
        match c {
            '(' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            ',' if depth == 1 => {
                columns.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    columns.push(current.trim().to_owned());
    let partial = rest[end..].contains(" WHERE ");
    Index {
        name,
        unique,
        method: method.to_owned(),
        columns,
        partial,
        def,
    }
}

async fn indexes_of(app: &TestApp, table: &str) -> Vec<Index> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes
         WHERE schemaname = 'public' AND tablename = $1 ORDER BY indexname",
    )
    .bind(table)
    .fetch_all(app.db.primary())
    .await
    .expect("pg_indexes");
    rows.into_iter()
        .map(|(name, def)| parse_index(name, def))
        .collect()
}

/// `expected` matches `actual` exactly; `"col ANY"` accepts either direction of `col` (a
/// one-direction btree is read backwards as easily as forwards).
fn column_matches(expected: &str, actual: &str) -> bool {
    match expected.strip_suffix(" ANY") {
        Some(column) => actual == column || actual == format!("{column} DESC"),
        None => actual == expected,
    }
}

/// Asserts `table` has a whole-table index of `method` whose columns start with `columns`
/// (a unique index must have exactly these columns: more would weaken the uniqueness).
fn assert_index<'a>(
    table: &str,
    indexes: &'a [Index],
    unique: bool,
    method: &str,
    columns: &[&str],
) -> &'a Index {
    indexes
        .iter()
        .find(|index| {
            index.method == method
                && !index.partial
                && index.unique == unique
                && if unique {
                    index.columns.len() == columns.len()
                } else {
                    index.columns.len() >= columns.len()
                }
                && columns
                    .iter()
                    .zip(&index.columns)
                    .all(|(e, a)| column_matches(e, a))
        })
        .unwrap_or_else(|| {
            let defs: Vec<&str> = indexes.iter().map(|i| i.def.as_str()).collect();
            panic!(
                "{table} lacks a{} {method} index on ({}); it has:\n{}",
                if unique { " unique" } else { "n" },
                columns.join(", "),
                defs.join("\n")
            )
        })
}

#[tokio::test]
async fn users_have_every_index_of_the_plan() {
    let app = TestApp::spawn().await;
    let idx = indexes_of(&app, "users").await;
    // Unique regardless of case: login looks users up by lower(email) / lower(username).
    assert_index("users", &idx, true, "btree", &["lower(email)"]);
    assert_index("users", &idx, true, "btree", &["lower(username)"]);
    assert_index("users", &idx, false, "btree", &["status"]);
    assert_index("users", &idx, false, "gin", &["roles"]);
    assert_index("users", &idx, false, "btree", &["created_at ANY"]);
    assert_index("users", &idx, false, "btree", &["last_login_at", "status"]);
}

#[tokio::test]
async fn products_have_every_index_of_the_plan() {
    let app = TestApp::spawn().await;
    let idx = indexes_of(&app, "products").await;
    assert_index("products", &idx, true, "btree", &["sku"]);
    assert_index("products", &idx, false, "btree", &["category_id"]);
    assert_index("products", &idx, false, "btree", &["status", "quantity"]);
    assert_index("products", &idx, false, "btree", &["brand", "category_id"]);
    assert_index("products", &idx, false, "btree", &["price", "quantity"]);
    // Full-text search: a GIN index over a stored tsvector of name and description...
    let search = assert_index("products", &idx, false, "gin", &["search"]);
    assert_eq!(search.columns.len(), 1, "{}", search.def);
    // Its pending list kept short (migration 0016): every search reads all of it.
    assert!(
        search.def.ends_with("WITH (gin_pending_list_limit='256')"),
        "{}",
        search.def
    );
    let (data_type, generated, expression): (String, String, Option<String>) = sqlx::query_as(
        "SELECT data_type::text, is_generated::text, generation_expression::text
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name = 'products' AND column_name = 'search'",
    )
    .fetch_one(app.db.primary())
    .await
    .expect("products.search column");
    assert_eq!(data_type, "tsvector");
    assert_eq!(generated, "ALWAYS", "kept up to date by PostgreSQL itself");
    let expression = expression.unwrap_or_default();
    for column in ["name", "description"] {
        assert!(
            expression.contains(&format!("{column})"))
                || expression.contains(&format!("{column},")),
            "search covers {column}: {expression}"
        );
    }
    // ...and trigrams over the catalogue's words, to correct misspelled query words.
    let words = indexes_of(&app, "search_words").await;
    assert_index("search_words", &words, true, "btree", &["word"]);
    assert_index("search_words", &words, false, "gin", &["word gin_trgm_ops"]);
}

#[tokio::test]
async fn orders_have_every_index_of_the_plan_on_every_partition() {
    let app = TestApp::spawn().await;
    let idx = indexes_of(&app, "orders").await;
    let plan: [&[&str]; 4] = [
        &["customer_id", "created_at DESC"],
        &["status"],
        &["created_at DESC"],
        &["payment_status"],
    ];
    for columns in plan {
        assert_index("orders", &idx, false, "btree", columns);
    }
    // Order numbers are unique for all time, across partitions.
    let keys = indexes_of(&app, "order_keys").await;
    let number = assert_index("order_keys", &keys, true, "btree", &["order_number"]);
    assert_eq!(number.name, "order_keys_number_key");

    // Indexes declared on the partitioned table exist on each partition.
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'orders'::regclass ORDER BY 1",
    )
    .fetch_all(app.db.primary())
    .await
    .expect("partitions");
    assert!(!partitions.is_empty());
    for partition in &partitions {
        let on_partition = indexes_of(&app, partition).await;
        for parent in &idx {
            if parent.partial {
                // Partial ones (the open-orders index) carry their predicate along.
                let same = on_partition
                    .iter()
                    .any(|i| i.partial && i.columns == parent.columns && i.method == parent.method);
                assert!(same, "{partition} lacks the partial index {}", parent.def);
                continue;
            }
            let columns: Vec<&str> = parent.columns.iter().map(String::as_str).collect();
            assert_index(
                partition,
                &on_partition,
                parent.unique,
                &parent.method,
                &columns,
            );
        }
    }
}

#[tokio::test]
async fn inventory_prescriptions_and_workshop_jobs_have_every_index_of_the_plan() {
    let app = TestApp::spawn().await;

    let idx = indexes_of(&app, "inventory").await;
    let primary_key: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint
         WHERE conrelid = 'inventory'::regclass AND contype = 'p'",
    )
    .fetch_one(app.db.primary())
    .await
    .expect("inventory has a primary key");
    assert_eq!(primary_key, "PRIMARY KEY (product_id, store_id)");
    assert_index(
        "inventory",
        &idx,
        true,
        "btree",
        &["product_id", "store_id"],
    );
    assert_index("inventory", &idx, false, "btree", &["store_id", "quantity"]);
    assert_index("inventory", &idx, false, "btree", &["status"]);

    let idx = indexes_of(&app, "prescriptions").await;
    assert_index(
        "prescriptions",
        &idx,
        false,
        "btree",
        &["patient_id", "test_date DESC"],
    );
    assert_index("prescriptions", &idx, false, "btree", &["customer_id"]);
    assert_index("prescriptions", &idx, false, "btree", &["status"]);

    let idx = indexes_of(&app, "workshop_jobs").await;
    assert_index("workshop_jobs", &idx, true, "btree", &["job_number"]);
    assert_index(
        "workshop_jobs",
        &idx,
        false,
        "btree",
        &["status", "priority_rank"],
    );
    assert_index("workshop_jobs", &idx, false, "btree", &["order_id"]);
    assert_index("workshop_jobs", &idx, false, "btree", &["created_at DESC"]);
}

#[test]
fn index_definitions_are_parsed() {
    let index = parse_index(
        "x".into(),
        "CREATE UNIQUE INDEX x ON ONLY public.t USING btree (lower(email), created_at DESC)".into(),
    );
    assert!(index.unique && !index.partial);
    assert_eq!(index.method, "btree");
    assert_eq!(index.columns, ["lower(email)", "created_at DESC"]);
    let index = parse_index(
        "y".into(),
        "CREATE INDEX y ON public.t USING gin (name gin_trgm_ops) WHERE (status = 'active'::text)"
            .into(),
    );
    assert!(!index.unique && index.partial);
    assert_eq!(index.columns, ["name gin_trgm_ops"]);
}

// ---------------------------------------------------------------------------------- partitions

/// The relations an `EXPLAIN` of `sql` reads (`... on <relation>`).
async fn scanned_relations(app: &TestApp, sql: &str) -> BTreeSet<String> {
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (COSTS OFF) {sql}"))
        .fetch_all(app.db.primary())
        .await
        .expect("explain");
    plan.iter()
        // A bitmap index scan names an index, not a table.
        .filter(|line| !line.contains("Bitmap Index Scan"))
        .filter_map(|line| line.split_once(" on "))
        .filter_map(|(_, rest)| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn orders_are_partitioned_by_month_from_this_month_to_three_ahead() {
    let app = TestApp::spawn().await;
    let (strategy, columns): (String, i16) = sqlx::query_as(
        "SELECT partstrat::text, partnatts FROM pg_partitioned_table
         WHERE partrelid = 'orders'::regclass",
    )
    .fetch_one(app.db.primary())
    .await
    .expect("orders is partitioned");
    assert_eq!(
        (strategy.as_str(), columns),
        ("r", 1),
        "by range on one column"
    );
    let key: String = sqlx::query_scalar("SELECT pg_get_partkeydef('orders'::regclass)")
        .fetch_one(app.db.primary())
        .await
        .expect("partition key");
    assert_eq!(key, "RANGE (created_at)");

    // The first and the last instant of this month and each of the next three land in one
    // partition of their own.
    let mut seen = BTreeSet::new();
    for month in 0..=3 {
        let (first, last): (String, String) = sqlx::query_as(
            "SELECT (date_trunc('month', now()) + make_interval(months => $1))::text,
                    (date_trunc('month', now()) + make_interval(months => $1 + 1)
                        - interval '1 microsecond')::text",
        )
        .bind(month)
        .fetch_one(app.db.primary())
        .await
        .expect("month bounds");
        let mut partitions = BTreeSet::new();
        for instant in [&first, &last] {
            let scanned = scanned_relations(
                &app,
                &format!("SELECT * FROM orders WHERE created_at = '{instant}'"),
            )
            .await;
            assert_eq!(
                scanned.len(),
                1,
                "{instant} is in one partition: {scanned:?}"
            );
            partitions.extend(scanned);
        }
        assert_eq!(
            partitions.len(),
            1,
            "month +{month} is one partition: {partitions:?}"
        );
        let partition = partitions.pop_first().expect("one");
        assert_ne!(partition, "orders", "rows go to a partition");
        assert!(
            seen.insert(partition.clone()),
            "{partition} holds one month only"
        );
    }
}

#[tokio::test]
async fn an_order_lookup_by_id_and_created_at_touches_one_partition() {
    let app = TestApp::spawn().await;
    let now: String = sqlx::query_scalar("SELECT now()::text")
        .fetch_one(app.db.primary())
        .await
        .expect("now");
    let all: BTreeSet<String> = scanned_relations(&app, "SELECT * FROM orders").await;
    assert!(
        all.len() >= 4,
        "a scan of every partition reads them all: {all:?}"
    );
    let scanned = scanned_relations(
        &app,
        &format!(
            "SELECT * FROM orders WHERE id = '{}' AND created_at = '{now}'",
            Uuid::now_v7()
        ),
    )
    .await;
    assert_eq!(scanned.len(), 1, "{scanned:?}");
    assert!(all.is_superset(&scanned), "{scanned:?} within {all:?}");
}

// ---------------------------------------------------------------------------------- operations

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn health_checks_need_no_token() {
    let app = TestApp::spawn().await;
    let live = get(&app, "/health/live").await;
    assert_eq!(live.status(), StatusCode::OK);
    let ready = get(&app, "/health/ready").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.expect("JSON");
    assert_eq!(body["database"], "ok", "{body}");
    assert_eq!(body["cache"], "ok", "{body}");
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_the_bearer_scheme() {
    let app = TestApp::spawn().await;
    let response = get(&app, "/api/v1/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    let doc: Value = serde_json::from_str(&text).expect("the document is valid JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");

    let routes: [(&str, &[&str]); 16] = [
        ("/auth/login", &["post"]),
        ("/auth/logout", &["post"]),
        ("/auth/me", &["get"]),
        ("/users", &["get", "post"]),
        ("/users/{id}", &["get", "patch"]),
        ("/stores", &["get", "post"]),
        ("/stores/{id}", &["get", "patch"]),
        ("/categories", &["get", "post"]),
        ("/categories/{id}", &["patch"]),
        ("/categories/{id}/products", &["get"]),
        ("/products", &["get", "post"]),
        ("/products/{id}", &["get", "patch"]),
        ("/products/sku/{sku}", &["get"]),
        ("/products/bestsellers", &["get"]),
        ("/customers", &["get", "post"]),
        ("/customers/{id}", &["get", "patch"]),
    ];
    for (path, methods) in routes {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing; paths: {:?}", paths.keys()));
        for method in methods {
            assert!(
                item.get(*method).is_some(),
                "{method} {path} missing: {item}"
            );
        }
    }

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    let bearer: Vec<&String> = schemes
        .iter()
        .filter(|(_, s)| {
            s["type"] == "http"
                && s["scheme"]
                    .as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case("bearer"))
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(bearer.len(), 1, "one bearer scheme: {schemes:?}");
    let bearer = bearer[0];
    // Every operation but logging in and the public catalogue asks for the token.
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|req| req.get(bearer).is_some()));
            if path == "/auth/login" || path.starts_with("/catalog/") {
                assert!(!secured, "{path} needs no token");
            } else {
                assert!(
                    secured,
                    "{method} {path} declares the bearer scheme: {operation}"
                );
            }
        }
    }
}

/// The values of `attribute="..."` in `html`.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let needle = format!("{attribute}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.split_once('"').map(|(value, _)| value.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn the_docs_page_is_served_locally() {
    let app = TestApp::spawn().await;
    let page_url = format!("{}/api/v1/docs/", app.address);
    let response = get(&app, "/api/v1/docs/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = response.text().await.expect("body");
    assert!(html.to_lowercase().contains("<html"), "{html}");

    let mut assets = attribute_values(&html, "src");
    assets.extend(attribute_values(&html, "href"));
    assert!(
        assets.iter().any(|a| a.ends_with(".js")),
        "the page loads scripts: {assets:?}"
    );
    let base = Url::parse(&page_url).expect("page url");
    let mut scripts = html.clone();
    for asset in &assets {
        let lower = asset.to_lowercase();
        assert!(
            !(lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("//")),
            "{asset} is loaded from another host"
        );
        let url = base.join(asset).expect("a relative url");
        assert_eq!(url.host_str(), base.host_str(), "{asset}");
        let response = app.client.get(url.clone()).send().await.expect("asset");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let body = response.text().await.unwrap_or_default();
        assert!(!body.is_empty(), "{url} is empty");
        if asset.ends_with(".js") {
            scripts.push_str(&body);
        }
    }
    // The page loads this service's document.
    assert!(
        scripts.contains("/api/v1/openapi.json"),
        "the page or its scripts point at /api/v1/openapi.json"
    );

    // Without the trailing slash the page is still reachable.
    let response = get(&app, "/api/v1/docs").await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.url());
}

// ------------------------------------------------------------------------- the document's limits

/// The served document, as a client reads it.
async fn served_document(app: &TestApp) -> Value {
    let response = get(app, "/api/v1/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("the document is JSON")
}

/// The limits the server enforces are in the served document (issue 17): patterns of the
/// identifiers, ranges and steps of numbers, which fields are required or may be null, and
/// the shared parameters. `api::limits` checks its patterns against the domain's parsers.
#[tokio::test]
async fn the_openapi_document_states_the_limits_the_server_enforces() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let prop = |schema: &str, field: &str| schemas[schema]["properties"][field].clone();

    let sku = prop("CreateProduct", "sku");
    let pattern = sku["pattern"].as_str().expect("sku has a pattern");
    assert!(pattern.contains("[A-Z0-9][A-Z0-9-]{2,31}"), "{pattern}");
    assert!(
        pattern.starts_with('^') && pattern.ends_with('$'),
        "{pattern}"
    );
    assert!(prop("CreateStore", "code")["pattern"]
        .as_str()
        .is_some_and(|p| p.contains("{2,16}")));
    assert!(prop("CreateCustomer", "phone")["pattern"]
        .as_str()
        .is_some_and(|p| p.contains("{7,15}")));
    let password = prop("CreateUser", "password");
    assert_eq!(password["minLength"], 10, "{password}");
    assert_eq!(password["maxLength"], 128, "{password}");
    assert_eq!(prop("CreateProduct", "price")["minimum"], 0);
    assert_eq!(prop("CreateProduct", "price")["maximum"], 1_000_000_000);
    assert_eq!(prop("OrderLineRequest", "quantity")["minimum"], 1);
    assert_eq!(prop("PlaceOrder", "items")["minItems"], 1);
    assert_eq!(prop("AddPayment", "amount")["exclusiveMinimum"], 0);
    assert_eq!(prop("TransferStock", "quantity")["minimum"], 1);
    let delta = prop("AdjustStock", "delta");
    assert_eq!(delta["not"], json!({ "const": 0 }), "{delta}");
    assert_eq!(delta["minimum"], -100_000, "{delta}");
    assert_eq!(delta["maximum"], 100_000, "{delta}");
    assert_eq!(prop("Prism", "amount")["exclusiveMinimum"], 0);

    // Eyes: sphere is required and never null; quarter steps and ranges.
    let eye = &schemas["EyeInput"];
    let sphere = prop("EyeInput", "sphere");
    assert_eq!(sphere["type"], "number", "sphere is not nullable: {sphere}");
    assert!(
        eye["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("sphere"))),
        "{eye}"
    );
    assert_eq!(sphere["multipleOf"], 0.25);
    assert_eq!(sphere["minimum"], -30.0);
    assert_eq!(sphere["maximum"], 30.0);
    assert_eq!(prop("EyeInput", "cylinder")["multipleOf"], 0.25);
    assert_eq!(prop("EyeInput", "add")["multipleOf"], 0.25);
    assert_eq!(prop("EyeInput", "axis")["minimum"], 1);
    assert_eq!(prop("EyeInput", "axis")["maximum"], 180);
    assert_eq!(prop("EyeInput", "pd")["minimum"], 20);
    assert_eq!(prop("EyeInput", "pd")["maximum"], 40);
    assert_eq!(eye["then"]["required"], json!(["axis"]), "{eye}");

    // PATCH: null only where it clears a field.
    let name = prop("UpdateProduct", "name");
    assert_eq!(name["type"], "string", "name may not be null: {name}");
    let cost = prop("UpdateProduct", "cost");
    assert_eq!(
        cost["type"],
        json!(["integer", "null"]),
        "null clears cost: {cost}"
    );
    let status = prop("UpdateProduct", "status");
    assert!(
        status.get("oneOf").is_none(),
        "status may not be null: {status}"
    );

    // Every string a request body takes states what it accepts.
    let mut loose = Vec::new();
    for (name, schema) in schemas.as_object().expect("schemas") {
        let is_request = [
            "Create", "Update", "Place", "Add", "Adjust", "Transfer", "Change",
        ]
        .iter()
        .any(|p| name.starts_with(p))
            || name == "LoginRequest";
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            let string = property["type"] == "string"
                || property["type"]
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("string")));
            let stated = ["pattern", "format", "enum", "minLength"]
                .iter()
                .any(|k| property.get(*k).is_some());
            if is_request && string && !stated && !(name == "LoginRequest" && field == "password") {
                loose.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(
        loose.is_empty(),
        "request strings without a limit: {loose:?}"
    );

    // Shared parameters, and the answers every operation may give.
    let mut limits = 0;
    let mut keys = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let responses = &op["responses"];
            for p in op["parameters"].as_array().into_iter().flatten() {
                let schema = &p["schema"];
                match p["name"].as_str() {
                    Some("limit") => {
                        assert_eq!(schema["minimum"], 1, "{method} {path}");
                        assert_eq!(schema["maximum"], 100, "{method} {path}");
                        limits += 1;
                    }
                    Some("Idempotency-Key") => {
                        assert_eq!(schema["pattern"], "^(?!ims-retry-)[!-~]+$");
                        assert_eq!(schema["maxLength"], 255);
                        assert!(responses.get("409").is_some(), "{method} {path}");
                        keys += 1;
                    }
                    _ => {}
                }
                if p["in"] == "path" {
                    assert!(responses.get("404").is_some(), "{method} {path}");
                }
            }
        }
    }
    assert!(limits >= 10, "{limits} operations take limit");
    assert!(keys >= 11, "{keys} operations take Idempotency-Key");
    let from = doc["paths"]["/orders"]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "from"))
        .cloned()
        .expect("from");
    assert_eq!(from["schema"]["format"], "date-time", "{from}");
    assert!(from["schema"]["pattern"].is_string(), "{from}");
}

/// No `$ref` of the served document dangles.
#[tokio::test]
async fn every_reference_of_the_served_document_resolves() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    let mut refs = Vec::new();
    let mut walk = vec![&doc];
    while let Some(value) = walk.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                walk.extend(map.values());
            }
            Value::Array(items) => walk.extend(items),
            _ => {}
        }
    }
    assert!(refs.len() > 50, "{} references", refs.len());
    let dangling: Vec<&String> = refs
        .iter()
        .filter(|r| doc.pointer(r.trim_start_matches('#')).is_none())
        .collect();
    assert!(dangling.is_empty(), "dangling: {dangling:?}");
}
