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

/// Unicode White_Space: what `str::trim` removes.
const WS: &str = r"[\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// Neither whitespace nor a control character.
const SOLID: &str = r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// Any character but a control character other than tab and newline (`domain::text`).
const TEXT: &str = r"[^\x00-\x08\x0B-\x1F\x7F-\x9F]";
/// Neither whitespace nor NUL: the first and last character of a name to search for.
const NAME_END: &str =
    r"[^\x00\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
/// Any character but NUL, which PostgreSQL cannot store (and a query string may not carry).
pub(crate) const NO_NUL: &str = r"^[^\x00]*$";

/// `inner` with the whitespace the server trims around it.
fn trimmed(inner: &str) -> String {
    format!("^{WS}*{inner}{WS}*$")
}

/// `domain::text::bounded(raw, min, max)` for `min` 0 or 1: after trimming, `min` to `max`
/// characters, no control character but tab and newline.
fn text_pattern(min: usize, max: usize) -> String {
    assert!(min <= 1 && max >= 2, "text_pattern({min}, {max})");
    let one_or_more = format!("{SOLID}(?:{TEXT}{{0,{}}}{SOLID})?", max - 2);
    if min == 0 {
        trimmed(&format!("(?:{one_or_more})?"))
    } else {
        trimmed(&one_or_more)
    }
}

fn text(min: usize, max: usize, what: &str) -> Value {
    json!({
        "type": "string",
        "pattern": text_pattern(min, max),
        "description": format!("{what}: {min} to {max} characters after trimming surrounding \
            whitespace, no control characters but tab and newline"),
    })
}

/// `domain::Sku`.
fn sku() -> Value {
    json!({
        "type": "string",
        "pattern": trimmed("[A-Z0-9][A-Z0-9-]{2,31}"),
        "description": "[A-Z0-9][A-Z0-9-]{2,31} (surrounding whitespace is trimmed); unique",
    })
}

/// `domain::StoreCode`: upper-cased by the server.
fn store_code() -> Value {
    json!({
        "type": "string",
        "pattern": trimmed("[A-Za-z0-9-]{2,16}"),
        "description": "2 to 16 letters, digits or '-' (stored upper case; surrounding \
            whitespace is trimmed); unique",
    })
}

/// `domain::Phone`: an optional `+`, then 7 to 15 digits among spaces, dots, dashes and
/// brackets.
fn phone_pattern() -> String {
    trimmed(r"\+?[ .()-]*(?:[0-9][ .()-]*){7,15}")
}

fn phone() -> Value {
    json!({
        "type": "string",
        "pattern": phone_pattern(),
        "description": "7 to 15 digits, optionally with a leading +, spaces, dots, dashes or \
            brackets (stored as + and digits)",
    })
}

/// `domain::user::Email`: after trimming, 3 to 254 characters, `local@domain` with a local
/// part of 1 to 64 characters and a domain of dot-separated labels, no whitespace or control
/// characters.
fn email() -> Value {
    let at = format!("{}@]", &SOLID[..SOLID.len() - 1]);
    let label = format!("{}@.]", &SOLID[..SOLID.len() - 1]);
    let inner = format!("(?={SOLID}{{3,254}}{WS}*$){at}{{1,64}}@{label}+(?:\\.{label}+)+");
    json!({
        "type": "string",
        "pattern": trimmed(&inner),
        "description": "An email address like name@example.com: at most 254 characters, \
            at most 64 before the @",
    })
}

/// `domain::user::Username`.
fn username() -> Value {
    json!({
        "type": "string",
        "pattern": trimmed("[A-Za-z0-9._-]{3,32}"),
        "description": "3 to 32 letters, digits, '.', '_' or '-'; unique regardless of case",
    })
}

/// `domain::user::Password`: its length. Common passwords, runs, the account's own names and
/// passwords of fewer than 4 different characters are refused too (422), which no schema
/// keyword can say.
fn password() -> Value {
    json!({
        "type": "string",
        "minLength": 10,
        "maxLength": 128,
        "description": "10 to 128 characters; not a common password (or one with a few digits \
            or symbols added), the username or email, a run like 1234567890, or fewer than 4 \
            different characters",
    })
}

/// A year from 1900 to 2200 (`domain::dates`).
const YEAR: &str = r"(?:19|20|21)[0-9]{2}";
/// Leap years from 1900 to 2200 (1900, 2100 and 2200 are not; 2000 is).
const LEAP: &str = r"(?:(?:19|20|21)(?:0[48]|[2468][048]|[13579][26])|2000)";

/// Dates from 1900-01-01 to 2200-12-31 (`domain::dates`), real calendar days only.
fn date_pattern() -> String {
    let month_day = r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))";
    format!("^(?:(?:{YEAR}|2200)-{month_day}|{LEAP}-02-29)$")
}

fn date(what: &str) -> Value {
    json!({
        "type": "string",
        "format": "date",
        "pattern": date_pattern(),
        "description": format!("YYYY-MM-DD, from 1900-01-01 to 2200-12-31{what}"),
    })
}

/// A time whose date, as written (before its offset), is from 1900-01-01 to 2200-12-31: its
/// year is 1900 to 2200 (the rest is `format: date-time`).
fn date_time(what: &str) -> Value {
    json!({
        "type": "string",
        "format": "date-time",
        "pattern": format!("^(?:{YEAR}|2200)-"),
        "description": format!("{what} (RFC 3339; its date as written from 1900-01-01 to 2200-12-31)"),
    })
}

fn integer(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// A value in `min..=max` in quarter steps (`domain::prescription::quarter_steps`).
fn quarters(min: f64, max: f64) -> Value {
    json!({ "type": "number", "minimum": min, "maximum": max, "multipleOf": 0.25 })
}

/// Free-form product attributes (`handlers::products::attributes`): an object nested at most
/// 4 levels deep, names of 1 to 2,000 characters, strings of at most 2,000, no NUL; 16 KiB of
/// JSON in all, which no schema keyword can say.
fn attributes() -> Value {
    let string = json!({ "type": "string", "maxLength": 2000, "pattern": NO_NUL });
    let names = json!({ "minLength": 1, "maxLength": 2000, "pattern": NO_NUL });
    let scalar = json!({ "anyOf": [string, { "type": ["number", "boolean", "null"] }] });
    // The top object is level 1; containers may sit down to level 4.
    let mut level = scalar.clone();
    for _ in 2..=4 {
        level = json!({ "anyOf": [
            scalar,
            { "type": "array", "items": level },
            { "type": "object", "additionalProperties": level, "propertyNames": names },
        ] });
    }
    json!({
        "type": "object",
        "additionalProperties": level,
        "propertyNames": names,
        "description": "Free-form attributes (frame size, material, lens index, ...): a JSON \
            object nested at most 4 levels deep, names and strings of at most 2,000 \
            characters without NUL, at most 16 KiB of JSON",
    })
}

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
