//! The tower layer and service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::{AgentAuth, AuthBody, RejectionKind};

/// A tower [`Layer`] that authenticates every request with an
/// [`AgentAuth`]: it reads `Authorization: Bearer`, checks the token, puts
/// the [`AgentClaims`](crate::AgentClaims) in the request's extensions and
/// calls the inner service, or answers with the [`Rejection`](crate::Rejection)
/// itself. Public paths pass untouched.
///
/// Works with any tower server (axum, tonic, hyper-util); with axum, add it
/// with `Router::layer` (every route) or `Router::route_layer`.
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::{Router, routing::get};
/// use agentwrit_tower::{AgentAuth, AgentClaims};
///
/// let auth = AgentAuth::broker("http://127.0.0.1:8080").public_path("/healthz").build()?;
/// let app: Router = Router::new()
///     .route("/whoami", get(|claims: AgentClaims| async move { claims.sub().to_owned() }))
///     .route("/healthz", get(|| async { "ok" }))
///     .layer(auth.layer());
/// # let _ = app; }
/// # Ok::<(), agentwrit_tower::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AgentAuthLayer {
    auth: AgentAuth,
}

impl AgentAuthLayer {
    /// The layer for `auth` (same as [`AgentAuth::layer`]).
    ///
    /// ```
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").build()?;
    /// let layer = agentwrit_tower::AgentAuthLayer::new(auth);
    /// # let _ = layer; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn new(auth: AgentAuth) -> Self {
        AgentAuthLayer { auth }
    }
}

impl<S> Layer<S> for AgentAuthLayer {
    type Service = AgentAuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AgentAuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service [`AgentAuthLayer`] wraps around yours.
///
/// Each request runs in a `tracing` span `agentwrit.auth` with the token's
/// `sub`, `jti` and `task_id` and the `decision` (`allowed`, `public`,
/// `missing_token`, `invalid_token`, `insufficient_scope`,
/// `broker_unavailable`); never the token.
///
/// ```
/// use tower::Layer as _;
/// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").build()?;
/// let service = auth.layer().layer(tower::service_fn(|_req: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
/// }));
/// # let _: agentwrit_tower::AgentAuthService<_> = service;
/// # Ok::<(), agentwrit_tower::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct AgentAuthService<S> {
    inner: S,
    auth: AgentAuth,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AgentAuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone is not ready; the one `poll_ready` readied is the one
        // called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let span = tracing::info_span!(
            "agentwrit.auth",
            method = %req.method(),
            path = %req.uri().path(),
            sub = tracing::field::Empty,
            jti = tracing::field::Empty,
            task_id = tracing::field::Empty,
            decision = tracing::field::Empty,
        );
        let fut = async move {
            let span = tracing::Span::current();
            if let Some(response) = auth.discovery_response(req.method(), req.uri().path()) {
                span.record("decision", "discovery");
                return Ok(response.map(AuthBody::problem));
            }
            if auth.is_public(req.uri().path()) {
                span.record("decision", "public");
                return inner.call(req).await.map(|r| r.map(AuthBody::inner));
            }
            match auth.authenticate(req.headers()).await {
                Ok(claims) => {
                    span.record("sub", claims.sub());
                    span.record("jti", claims.jti());
                    if let Some(task) = claims.task_id() {
                        span.record("task_id", task);
                    }
                    span.record("decision", "allowed");
                    req.extensions_mut().insert(claims);
                    inner.call(req).await.map(|r| r.map(AuthBody::inner))
                }
                Err(rejection) => {
                    span.record("decision", decision(rejection.kind()));
                    tracing::debug!(
                        status = rejection.status().as_u16(),
                        detail = rejection.detail(),
                        "request rejected"
                    );
                    Ok(rejection.with_instance(req.uri().path()).to_response())
                }
            }
        };
        Box::pin(fut.instrument(span))
    }
}

/// The span's `decision` for a rejection.
pub(crate) fn decision(kind: RejectionKind) -> &'static str {
    match kind {
        RejectionKind::MissingToken => "missing_token",
        RejectionKind::InvalidToken => "invalid_token",
        RejectionKind::InsufficientScope => "insufficient_scope",
        RejectionKind::BrokerUnavailable => "broker_unavailable",
        RejectionKind::Misconfigured => "misconfigured",
        RejectionKind::Forbidden => "forbidden",
        RejectionKind::BadRequest => "bad_request",
        RejectionKind::PayloadTooLarge => "payload_too_large",
    }
}
