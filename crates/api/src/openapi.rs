//! Makes the generated OpenAPI document say exactly what the service does, for what the
//! handlers' annotations cannot each repeat: every error is `application/problem+json`; every
//! operation documents the answers the middleware and extractors give (400 for a malformed
//! request, 401 without a valid token, 413 and 415 for bodies, 429 from the rate limit, 503
//! when a dependency is down); and the limits the server enforces on shared parameters
//! (`limit` 1 to 100, the `Idempotency-Key` format).

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::Modify;

/// The media type of every error.
pub const PROBLEM: &str = "application/problem+json";

/// The [`Modify`] that makes the document exact (see the module's documentation).
pub struct Exact;

impl Modify for Exact {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                exact_operation(operation);
            }
        }
    }
}

fn exact_operation(operation: &mut Operation) {
    for (status, response) in &mut operation.responses.responses {
        if let (true, RefOr::T(response)) = (status.starts_with(['4', '5']), response) {
            if let Some(content) = response.content.shift_remove("application/json") {
                response.content.insert(PROBLEM.to_owned(), content);
            }
        }
    }
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let body = operation.request_body.is_some();
    let parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has = |name: &str, place: ParameterIn| {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|p| p.name == name && p.parameter_in == place)
    };
    let in_path = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Path);
    let keyed = has("Idempotency-Key", ParameterIn::Header);
    let answers = [
        (
            "400",
            body || parameters,
            "Malformed request: bad JSON, a wrong type, an unknown field or enum value, a bad \
             cursor or query parameter (named in errors)",
        ),
        (
            "401",
            secured,
            "No valid token: send Authorization: Bearer <token>",
        ),
        (
            "404",
            in_path,
            "Nothing with this id (or an id that is not one), or one the caller may not see",
        ),
        (
            "409",
            keyed,
            "This Idempotency-Key was already used with a different request",
        ),
        ("413", body, "The body is over 1 MiB"),
        (
            "415",
            body,
            "The body is not JSON (Content-Type: application/json), or is compressed",
        ),
        (
            "429",
            true,
            "Rate limited; Retry-After says in how many seconds to retry",
        ),
        (
            "503",
            true,
            "A dependency is down; Retry-After says when to retry",
        ),
    ];
    for (status, applies, description) in answers {
        if applies {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::T(problem(description)));
        }
    }
    for parameter in operation.parameters.iter_mut().flatten() {
        bound(parameter);
    }
}

fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The limits the server enforces on parameters many operations share.
fn bound(parameter: &mut Parameter) {
    let schema = match parameter.name.as_str() {
        "limit" => ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Integer))
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(1))
            .maximum(Some(crate::pagination::MAX_LIMIT))
            .build(),
        "Idempotency-Key" => ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .min_length(Some(1))
            .max_length(Some(255))
            // The prefix is the service's own (storage::idempotency::SERVICE_KEY_PREFIX).
            .pattern(Some("^(?!ims-retry-)[!-~]+$"))
            .description(Some(
                "1 to 255 visible ASCII characters, not starting with ims-retry-",
            ))
            .build(),
        "cursor" => ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::String))
            .description(Some("The nextCursor of the previous page, unchanged"))
            .build(),
        _ => return,
    };
    parameter.schema = Some(RefOr::T(Schema::Object(schema)));
}
