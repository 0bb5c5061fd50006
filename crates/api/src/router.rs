//! Routes and middleware. Every business route sits under `/api/v1` and needs a token (the
//! `Auth` extractor in its handler); the public catalogue (`/api/v1/catalog/...`), health
//! checks, the OpenAPI document and the docs page do not. Everything under `/api/v1` passes
//! the rate limit (`ratelimit`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::util::MapResponseLayer;
use tower::{Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::gate::GateLayer;
use crate::handlers;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The contract's body limit; larger bodies are answered 413.
const MAX_BODY: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "IMS 2.0", description = "Inventory management for a chain of optical stores. \
        Money is in minor units (paise); lists are cursor-paginated; errors are RFC 9457 problems."),
    servers((url = API_PREFIX)),
    modifiers(&BearerAuth),
    components(schemas(crate::listing::SortParam)),
    tags((name = "auth"), (name = "users"), (name = "stores"), (name = "categories"),
         (name = "products"), (name = "customers"), (name = "orders"), (name = "inventory"),
         (name = "prescriptions"), (name = "workshop"), (name = "dashboard"),
         (name = "catalog", description = "The public catalogue: no token, cacheable for 5 minutes"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(handlers::auth::routes())
        .merge(handlers::users::routes())
        .merge(handlers::stores::routes())
        .merge(handlers::categories::routes())
        .merge(handlers::products::routes())
        .merge(handlers::customers::routes())
        .merge(handlers::orders::routes())
        .merge(handlers::inventory::routes())
        .merge(handlers::prescriptions::routes())
        .merge(handlers::workshop::routes())
        .merge(handlers::dashboard::routes())
        .merge(handlers::catalog::routes())
}

/// Where the API's paths start. The handlers' annotations name whole paths, so that the
/// router matches each request once (a nested router would match the prefix, rebuild the
/// URI without it and match again, on every request); the document names them relative to
/// its server, `/api/v1`.
pub(crate) const API_PREFIX: &str = "/api/v1";

/// The routes and their OpenAPI document, generated from the handlers' annotations and
/// completed by [`crate::openapi::Exact`] (which needs the paths, so it runs after the split).
fn routes_and_document() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut doc) = api_routes().split_for_parts();
    doc.paths.paths = std::mem::take(&mut doc.paths.paths)
        .into_iter()
        .map(|(path, item)| match path.strip_prefix(API_PREFIX) {
            Some(relative) => (relative.to_owned(), item),
            None => (path, item),
        })
        .collect();
    crate::openapi::Exact.modify(&mut doc);
    (routes, doc)
}

/// The OpenAPI document generated from the handlers (without the limits of
/// [`crate::limits`], which need JSON Schema keywords utoipa's types lack).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes_and_document().1
}

/// The OpenAPI document the service serves: [`openapi`] with every limit the server enforces.
pub fn openapi_document() -> serde_json::Value {
    document_of(routes_and_document().1)
}

fn document_of(doc: utoipa::openapi::OpenApi) -> serde_json::Value {
    // Serializing utoipa's own types cannot fail (string keys, no non-finite floats).
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    crate::limits::apply(&mut doc);
    doc
}

/// The whole service: API, health, docs, and the middleware every request passes.
///
/// Only what needs the route runs after routing, inside each route ([`GateLayer`]: the
/// metrics and the rate limit; the failover's retry, on a cluster). Everything else wraps the
/// router once: a layer given to `Router::layer` is copied into every route, and a route
/// clones its whole stack for each request it serves.
pub fn router(
    state: AppState,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
       + Clone
       + Send
       + Sync
       + 'static {
    crate::metrics::install();
    let (api, doc) = routes_and_document();
    let docs: Router<AppState> = Router::from(
        SwaggerUi::new("/api/v1/docs")
            .external_url_unchecked("/api/v1/openapi.json", document_of(doc)),
    )
    .layer(MapResponseLayer::new(crate::headers::docs_headers));
    let mut routes = Router::new()
        .merge(api)
        .merge(handlers::health::routes())
        .route("/metrics", axum::routing::get(crate::metrics::render))
        .merge(docs)
        .fallback(|| async { ApiError::NotFound("no such endpoint; see /api/v1/docs".into()) });
    // Innermost: a retry runs the handler again, not the rate limit or the metrics. On one
    // host there is nothing to route or retry, and no layer.
    if state.db.is_cluster() {
        routes = routes.layer(middleware::from_fn_with_state(
            state.clone(),
            crate::failover::route_and_retry,
        ));
    }
    let routes = routes
        .layer(MapResponseLayer::new(problem_for_bare_errors))
        .layer(GateLayer::new(state.clone()))
        .with_state(state);
    ServiceBuilder::new()
        // Outermost, so that every answer carries them, a timeout's 503 too.
        .layer(MapResponseLayer::new(crate::headers::security_headers))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        .map_request(crate::headers::bound_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .map_response(with_axum_body)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    // One line per request: status and latency, inside the request's span.
                    DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(LatencyUnit::Micros),
                ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .service(routes)
}

/// The trace layer's answer with its body boxed as axum's, as the layers outside it take it.
fn with_axum_body<B>(response: axum::http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    response.map(axum::body::Body::new)
}

/// The span every log line of a request is recorded in: its id, method and route template
/// (never the raw URI, which may carry personal data in its query). The span opens before
/// routing; [`crate::gate`] records the route.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // user_id is filled in by authentication; never a token, password or prescription.
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = tracing::field::Empty,
        request_id,
        user_id = tracing::field::Empty
    )
}

/// axum answers a wrong method (405) with an empty body; clients of this API always get a
/// problem document.
fn problem_for_bare_errors(response: Response) -> Response {
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::CONTENT_TYPE)
    {
        let body = serde_json::json!({
            "type": "about:blank", "title": "Method Not Allowed", "status": 405,
            "detail": "this endpoint does not accept this method; see /api/v1/docs",
        });
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response();
    }
    response
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::path::ParameterIn;

    /// Every `{name}` in a documented path is a documented path parameter of each operation.
    #[test]
    fn every_path_parameter_is_documented() {
        let doc = super::openapi();
        let mut checked = 0;
        for (path, item) in &doc.paths.paths {
            let names: Vec<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split('}').next())
                .collect();
            let operations = [&item.get, &item.post, &item.patch, &item.put, &item.delete];
            for operation in operations.into_iter().flatten() {
                for name in &names {
                    let documented =
                        operation.parameters.iter().flatten().any(|p| {
                            p.name == *name && matches!(p.parameter_in, ParameterIn::Path)
                        });
                    assert!(documented, "{path}: {name} is not documented");
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "checked {checked} path parameters");
    }

    /// Every `$ref` names a schema the document defines.
    #[test]
    fn every_reference_resolves() {
        let doc = super::openapi_document();
        let schemas = &doc["components"]["schemas"];
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 50, "{} references", refs.len());
        let dangling: Vec<&String> = refs
            .iter()
            .filter(|r| {
                r.strip_prefix("#/components/schemas/")
                    .is_none_or(|name| schemas.get(name).is_none())
            })
            .collect();
        assert!(dangling.is_empty(), "dangling: {dangling:?}");
    }

    fn collect_refs(value: &serde_json::Value, refs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("$ref", serde_json::Value::String(r)) => refs.push(r.clone()),
                        _ => collect_refs(v, refs),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
            _ => {}
        }
    }

    /// Errors are problem documents, and every operation documents the answers the middleware
    /// gives: 401 when it needs a token, 413 and 415 when it takes a body, 429 always.
    #[test]
    fn errors_are_problems_and_middleware_answers_are_documented() {
        let doc = super::openapi_document();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                let responses = op["responses"].as_object().expect("responses");
                for (status, response) in responses {
                    if status.starts_with(['4', '5']) {
                        let content = response["content"].as_object().expect("content");
                        assert!(
                            content.keys().all(|k| k == "application/problem+json"),
                            "{method} {path} {status}: {content:?}"
                        );
                    }
                }
                let has = |s: &str| responses.contains_key(s);
                assert!(has("429"), "{method} {path}");
                if op.get("security").is_some() {
                    assert!(has("401"), "{method} {path}");
                }
                if op.get("requestBody").is_some() {
                    assert!(has("400") && has("413") && has("415"), "{method} {path}");
                }
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["name"] == "limit" {
                        assert_eq!(p["schema"]["maximum"], 100, "{method} {path}");
                        assert_eq!(p["schema"]["minimum"], 1, "{method} {path}");
                    }
                }
                operations += 1;
            }
        }
        assert!(operations > 40, "{operations} operations");
    }
}
