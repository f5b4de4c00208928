//! The machinery every guard in front of the gRPC routes shares: the
//! [`Guard`] trait and its tower plumbing ([`GuardLayer`], [`Guarded`]), the
//! refusal path ([`reject`], counted in `replygate_refused_requests_total`),
//! the paths open to anyone ([`is_open`]) and the caller's identity as the
//! authentication guard leaves it ([`principal`]). `auth` and `limits` both
//! build on this module and not on each other.

use crate::auth::Principal;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use tonic::Status;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// What every guard answers: a gRPC response.
pub type Response = http::Response<tonic::body::Body>;

static REFUSED: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    prometheus::register_int_counter_vec!(
        "replygate_refused_requests_total",
        "gRPC calls refused before reaching a handler, by reason",
        &["reason"]
    )
    .unwrap()
});

/// Counts one refusal for `reason`, for a guard that answers by itself
/// rather than through [`reject`].
pub fn count_refusal(reason: &str) {
    REFUSED.with_label_values(&[reason]).inc();
}

/// Answers a call with `status` without calling the service.
pub fn reject<E: Send + 'static>(reason: &str, status: Status) -> BoxFuture<Result<Response, E>> {
    count_refusal(reason);
    tracing::debug!(reason, code = ?status.code(), "call refused");
    Box::pin(std::future::ready(Ok(status.into_http())))
}

/// Paths served to anyone: health checks and the schema.
pub fn is_open(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// Hands the authenticated caller to the guards and handlers after this one.
pub fn attach_principal<B>(request: &mut http::Request<B>, principal: Arc<Principal>) {
    request.extensions_mut().insert(principal);
}

/// The caller, when the authentication guard found one.
pub fn principal<B>(request: &http::Request<B>) -> Option<&Arc<Principal>> {
    request.extensions().get::<Arc<Principal>>()
}

/// One concern in front of the gRPC routes: given the next service and a
/// call, answers it (a refusal) or passes it on, maybe wrapping the answer.
pub trait Guard: Clone + Send + 'static {
    fn call<S, B>(
        &self,
        inner: &mut S,
        request: http::Request<B>,
    ) -> BoxFuture<Result<Response, S::Error>>
    where
        S: tower::Service<http::Request<B>, Response = Response>,
        S::Future: Send + 'static,
        S::Error: Send + 'static;
}

/// A guard as a tower layer.
#[derive(Clone)]
pub struct GuardLayer<G>(pub G);

impl<S, G: Clone> tower::Layer<S> for GuardLayer<G> {
    type Service = Guarded<S, G>;
    fn layer(&self, inner: S) -> Guarded<S, G> {
        Guarded {
            inner,
            guard: self.0.clone(),
        }
    }
}

/// The service a [`GuardLayer`] makes: its guard in front of `inner`.
#[derive(Clone)]
pub struct Guarded<S, G> {
    inner: S,
    guard: G,
}

impl<S, B, G> tower::Service<http::Request<B>> for Guarded<S, G>
where
    G: Guard,
    S: tower::Service<http::Request<B>, Response = Response>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.guard.call(&mut self.inner, request)
    }
}
