//! The limits the server enforces on what clients send, stated in the served OpenAPI document
//! so that it says exactly what is accepted: the patterns and lengths the domain types and
//! handlers check (`domain::text`, `Sku`, `StoreCode`, `Phone`, `Email`, `Username`,
//! `Password`, dates), numeric ranges and steps, which PATCH fields may be `null`, and the
//! query parameters' own rules. The handlers' annotations give the shapes; the rules live here
//! in one table, next to the constants they come from, because utoipa's attributes take only
//! literals and cannot say `not`, `if`/`then` or a pattern built from a bound.
//!
//! Text fields are trimmed by the server before they are checked, so each pattern allows
//! leading and trailing whitespace, spelled out as the exact set Rust's `str::trim` removes
//! (ECMA-262 and Python, which schema tools use, disagree on `\s`).

use serde_json::{json, Map, Value};

use domain::catalog::Money;
use domain::inventory::MAX_STOCK_CHANGE;

use crate::extract::Nullable;
use crate::handlers::{categories, customers, products, stores, users};

pub(crate) use patterns::NO_NUL;
use patterns::*;

mod patterns;

/// The rules of one body field: merged into the generated property.
fn body_rules() -> Vec<(&'static str, &'static str, Value)> {
    let price = integer(0, Money::MAX_PRICE);
    let name = text(1, 200, "A name");
    let description = text(0, 5000, "Free text");
    let stock = i64::from(MAX_STOCK_CHANGE);
    let mut rules = vec![
        ("LoginRequest", "login", json!({ "pattern": NO_NUL })),
        ("CreateUser", "email", email()),
        ("CreateUser", "username", username()),
        ("CreateUser", "password", password()),
        ("CreateUser", "roles", json!({ "minItems": 1 })),
        ("UpdateUser", "password", password()),
        ("UpdateUser", "roles", json!({ "minItems": 1 })),
        ("CreateStore", "code", store_code()),
        ("CreateStore", "phone", phone()),
        ("UpdateStore", "phone", phone()),
        ("CreateCategory", "description", description.clone()),
        ("UpdateCategory", "description", description.clone()),
        ("CreateProduct", "sku", sku()),
        ("CreateProduct", "description", description.clone()),
        ("CreateProduct", "brand", text(1, 100, "A brand")),
        ("CreateProduct", "price", price.clone()),
        ("CreateProduct", "cost", price.clone()),
        ("CreateProduct", "attributes", attributes()),
        ("UpdateProduct", "sku", sku()),
        ("UpdateProduct", "description", description.clone()),
        ("UpdateProduct", "brand", text(1, 100, "A brand")),
        ("UpdateProduct", "price", price.clone()),
        ("UpdateProduct", "cost", price),
        ("UpdateProduct", "attributes", attributes()),
        ("CreateCustomer", "phone", phone()),
        ("CreateCustomer", "email", email()),
        ("CreateCustomer", "dateOfBirth", date(", not in the future")),
        ("UpdateCustomer", "phone", phone()),
        ("UpdateCustomer", "email", email()),
        ("UpdateCustomer", "dateOfBirth", date(", not in the future")),
        (
            "PlaceOrder",
            "items",
            json!({ "minItems": 1, "maxItems": 50 }),
        ),
        ("OrderLineRequest", "quantity", integer(1, 1000)),
        (
            "AddPayment",
            "amount",
            json!({ "type": "integer", "exclusiveMinimum": 0, "maximum": i64::MAX }),
        ),
        (
            "AdjustStock",
            "delta",
            json!({ "type": "integer", "minimum": -stock, "maximum": stock, "not": { "const": 0 } }),
        ),
        ("AdjustStock", "reason", text(1, 500, "The reason")),
        ("TransferStock", "quantity", integer(1, stock)),
        (
            "CreatePrescription",
            "testDate",
            date(", not in the future"),
        ),
        (
            "CreatePrescription",
            "expiresAt",
            date(", after testDate; two years after it when absent"),
        ),
        ("CreatePrescription", "notes", description.clone()),
        ("EyeInput", "sphere", quarters(-30.0, 30.0)),
        ("EyeInput", "cylinder", quarters(-10.0, 10.0)),
        ("EyeInput", "axis", integer(1, 180)),
        ("EyeInput", "add", quarters(0.0, 4.0)),
        (
            "EyeInput",
            "pd",
            json!({ "type": "number", "minimum": 20, "maximum": 40 }),
        ),
        (
            "Prism",
            "amount",
            json!({ "type": "number", "exclusiveMinimum": 0, "maximum": 20, "multipleOf": 0.25 }),
        ),
        ("CreateJob", "instructions", description.clone()),
        ("ChangeJobStatus", "note", description),
    ];
    for schema in [
        "CreateStore",
        "UpdateStore",
        "CreateCategory",
        "UpdateCategory",
        "CreateProduct",
        "UpdateProduct",
        "CreateCustomer",
        "UpdateCustomer",
    ] {
        rules.push((schema, "name", name.clone()));
    }
    rules.push(("CreateStore", "city", text(1, 200, "A city")));
    rules.push(("UpdateStore", "city", text(1, 200, "A city")));
    rules
}

/// The rules of query parameters, by operation (`None`: every operation with the parameter).
fn query_rules() -> Vec<(Option<&'static str>, &'static str, Value)> {
    vec![
        (None, "minPrice", json!({ "minimum": 0 })),
        (None, "maxPrice", json!({ "minimum": 0 })),
        (Some("/customers"), "phone", phone()),
        (
            Some("/customers"),
            "q",
            json!({
                "pattern": trimmed(&format!("(?:{NAME_END}[^\\x00]*{NAME_END})?")),
                "description": "Part of the name: at least 2 characters after trimming \
                    (whitespace alone is ignored)",
            }),
        ),
        (None, "from", date_time("Created at or after")),
        (None, "to", date_time("Created before")),
    ]
}

/// States every limit in `doc` (the generated document as JSON).
///
/// # Panics
/// When a rule names a schema, property or parameter the document lacks: a renamed field
/// must take its rule along (a unit test builds the document).
pub fn apply(doc: &mut Value) {
    for (schema, field, rule) in body_rules() {
        let property = property(doc, schema, field);
        merge(property, rule);
    }
    // Option<T> fields of a create body take null as "absent"; in a PATCH body only the
    // fields listed as nullable do (`extract::Patch`), and sphere is required though optional
    // in Rust (a missing one is a named 422).
    not_null::<products::UpdateProduct>(doc, "UpdateProduct");
    not_null::<customers::UpdateCustomer>(doc, "UpdateCustomer");
    not_null::<stores::UpdateStore>(doc, "UpdateStore");
    not_null::<categories::UpdateCategory>(doc, "UpdateCategory");
    not_null::<users::UpdateUser>(doc, "UpdateUser");
    strip_null(property(doc, "EyeInput", "sphere"));
    require(doc, "EyeInput", "sphere");
    eye_axis(doc);
    // Every role but admin works in at least one store (`handlers::users::check_roles`).
    let Some(user) = doc.pointer_mut("/components/schemas/CreateUser") else {
        panic!("the document has no CreateUser");
    };
    user["anyOf"] = json!([
        { "properties": { "roles": { "contains": { "const": "admin" } } } },
        { "required": ["storeIds"], "properties": { "storeIds": { "minItems": 1 } } },
    ]);
    for (only, name, rule) in query_rules() {
        let mut found = false;
        for_each_parameter(doc, |path, parameter| {
            if parameter["name"] == name && only.is_none_or(|p| p == path) {
                merge(&mut parameter["schema"], rule.clone());
                if let Some(text) = rule.get("description") {
                    parameter["description"] = text.clone();
                }
                found = true;
            }
        });
        assert!(found, "no query parameter {name} for {only:?}");
    }
    // Any other free string of a query cannot carry NUL (`extract::Query`).
    for_each_parameter(doc, |_, parameter| {
        let in_query = parameter["in"] == "query";
        let schema = &mut parameter["schema"];
        let free = schema["type"] == "string"
            && schema.get("pattern").is_none()
            && schema.get("format").is_none()
            && schema.get("enum").is_none();
        if in_query && free {
            schema["pattern"] = json!(NO_NUL);
        }
    });
}

fn property<'d>(doc: &'d mut Value, schema: &str, field: &str) -> &'d mut Value {
    doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"))
        .unwrap_or_else(|| panic!("the document has no {schema}.{field}"))
}

fn require(doc: &mut Value, schema: &str, field: &str) {
    let schema = doc
        .pointer_mut(&format!("/components/schemas/{schema}"))
        .unwrap_or_else(|| panic!("the document has no {schema}"));
    let required = schema
        .as_object_mut()
        .map(|o| o.entry("required").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = required {
        if !list.iter().any(|v| v == field) {
            list.push(json!(field));
        }
    }
}

/// Merges `rule` into `property`; a `type` of the rule keeps the property's `null`.
fn merge(property: &mut Value, rule: Value) {
    let nullable = is_nullable(property);
    let Value::Object(rule) = rule else { return };
    let target = match &mut *property {
        // `Option<Enum>` is `oneOf: [null, $ref]`: the rule goes to the reference's side.
        Value::Object(map) if map.contains_key("oneOf") => {
            let Some(Value::Array(options)) = map.get_mut("oneOf") else {
                return;
            };
            let Some(side) = options.iter_mut().find(|o| o["type"] != "null") else {
                return;
            };
            side
        }
        other => other,
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in rule {
        if key == "description" && map.contains_key("description") {
            continue;
        }
        map.insert(key, value);
    }
    if nullable {
        add_null(property);
    }
}

fn is_nullable(property: &Value) -> bool {
    match &property["type"] {
        Value::Array(types) => types.iter().any(|t| t == "null"),
        _ => property["oneOf"]
            .as_array()
            .is_some_and(|o| o.iter().any(|v| v["type"] == "null")),
    }
}

fn add_null(property: &mut Value) {
    match property.get_mut("type") {
        Some(Value::String(t)) => {
            let t = t.clone();
            property["type"] = json!([t, "null"]);
        }
        Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => {
            types.push(json!("null"))
        }
        _ => {}
    }
}

/// Removes `null` from a property's type (`["string", "null"]`, `oneOf: [null, $ref]`).
fn strip_null(property: &mut Value) {
    if let Some(Value::Array(types)) = property.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            property["type"] = types[0].clone();
        }
    }
    let options = property
        .get_mut("oneOf")
        .and_then(Value::as_array_mut)
        .map(std::mem::take);
    if let (Some(options), Value::Object(map)) = (options, property) {
        let mut rest: Vec<Value> = options
            .into_iter()
            .filter(|o| o["type"] != "null")
            .collect();
        map.remove("oneOf");
        if let (1, Some(Value::Object(only))) = (rest.len(), rest.pop()) {
            for (key, value) in only {
                map.entry(key).or_insert(value);
            }
        }
    }
}

/// Every field of a PATCH body but `T::NULLABLE` refuses `null`.
fn not_null<T: Nullable>(doc: &mut Value, schema: &str) {
    let pointer = format!("/components/schemas/{schema}/properties");
    let properties = doc
        .pointer_mut(&pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("the document has no {schema}"));
    for (name, property) in properties.iter_mut() {
        if !T::NULLABLE.contains(&name.as_str()) {
            strip_null(property);
            // `{}` (any JSON value, e.g. attributes) takes null too.
            if property
                .as_object()
                .is_some_and(|o| !o.contains_key("type"))
                && !property.get("oneOf").is_some_and(Value::is_array)
            {
                property["not"] = json!({ "type": "null" });
            }
        }
    }
}

/// `axis` goes with a cylinder: required (not null) when the cylinder is not 0, absent or null
/// otherwise (`domain::prescription::Eye::parse`).
fn eye_axis(doc: &mut Value) {
    let Some(eye) = doc.pointer_mut("/components/schemas/EyeInput") else {
        panic!("the document has no EyeInput");
    };
    eye["if"] = json!({
        "properties": { "cylinder": { "not": { "enum": [0, null] } } },
        "required": ["cylinder"],
    });
    eye["then"] = json!({
        "properties": { "axis": { "type": "integer" } },
        "required": ["axis"],
    });
    eye["else"] = json!({ "properties": { "axis": { "type": "null" } } });
}

/// Calls `f(path, parameter)` for every parameter of every operation.
fn for_each_parameter(doc: &mut Value, mut f: impl FnMut(&str, &mut Value)) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let parameters = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut);
            for parameter in parameters.into_iter().flatten() {
                f(path, parameter);
            }
        }
    }
}

#[cfg(test)]
mod tests;
