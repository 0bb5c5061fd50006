//! Headers every answer carries for safety, and the bound on a client's request id.
//!
//! - `X-Content-Type-Options: nosniff` everywhere: a browser must never run a JSON answer (or
//!   a problem echoing input) as anything but what its type says.
//! - `Cache-Control: no-store` on every answer that did not choose its own caching (only the
//!   public catalogue does, `public, max-age=300`): authenticated answers and anything with
//!   personal data must stay out of shared and browser caches.
//! - The docs page (`/api/v1/docs`) gets a Content-Security-Policy and `X-Frame-Options: DENY`:
//!   it is the one HTML page, and must not be framed (clickjacking) or load foreign code.
//! - CORS: none. The API is for the stores' tills and servers and for the web shop, which calls
//!   the public catalogue through the gateway on its own origin; no `Access-Control-*` header
//!   is sent, so browsers refuse cross-origin calls (a preflight `OPTIONS` is answered 405).
//! - `X-Request-Id`: a client's id is echoed and logged only when it is 1 to
//!   [`MAX_REQUEST_ID`] visible ASCII characters; any other is replaced by a new one.

//!
//! All three are plain maps of the request or the response (`tower`'s `map_request` and
//! `map_response`), not `axum::middleware::from_fn`, which boxes a future and clones the inner
//! service on every request: they run on every answer, health checks included.

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;

/// The longest client request id kept (a UUID is 36).
pub const MAX_REQUEST_ID: usize = 128;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The docs page's policy: its own scripts and styles only (Swagger UI sets inline styles and
/// data: images), calls only to this origin, never framed.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Drops a client's `X-Request-Id` that is too long, empty or not visible ASCII (or sent more
/// than once), so that the request id layer makes a new one instead of echoing and logging it.
pub fn bound_request_id(mut request: Request) -> Request {
    let ids = request.headers().get_all(&REQUEST_ID).iter().count();
    let acceptable = request.headers().get(&REQUEST_ID).is_none_or(|id| {
        ids == 1
            && (1..=MAX_REQUEST_ID).contains(&id.len())
            && id.as_bytes().iter().all(u8::is_ascii_graphic)
    });
    if !acceptable {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

/// Puts the safety headers on every answer (see the module's documentation).
pub fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The docs page's own headers (see the module's documentation), on the docs' routes.
pub fn docs_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
