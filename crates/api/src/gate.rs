//! What every routed request passes after routing: its route template recorded in its span,
//! the HTTP metrics, and the rate limit. One tower service, not three
//! `axum::middleware::from_fn` layers: `Router::layer` wraps every route in the stack, the
//! route clones its stack for each request, and each `from_fn` layer then boxes its inner
//! service and its future and extracts its state again. This one clones the state and the
//! route and boxes one future.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use tower::{Layer, Service, ServiceExt};

use crate::state::AppState;

/// Wraps each route in a [`Gate`].
#[derive(Clone)]
pub struct GateLayer {
    state: AppState,
}

impl GateLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            state: self.state.clone(),
            inner,
        }
    }
}

/// See the module's documentation.
#[derive(Clone)]
pub struct Gate<S> {
    state: AppState,
    inner: S,
}

impl<S> Service<Request> for Gate<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The inner service's readiness is awaited when it is called (`run`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let state = self.state.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            let route = request.extensions().get::<MatchedPath>().cloned();
            let template = route.as_ref().map_or("unmatched", MatchedPath::as_str);
            tracing::Span::current().record("route", template);
            let method = request.method().clone();
            let response = crate::metrics::track(
                template,
                &method,
                crate::ratelimit::enforce(&state, request, inner),
            )
            .await;
            Ok(response)
        })
    }
}

/// Runs `request` through `service` (the route behind the gate), waiting until it is ready.
pub(crate) async fn run<S>(service: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
