//! The tower layer and service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::{AgentAuth, AgentClaims, AuthBody, Rejection};

/// A tower `Layer` that authenticates every request with an
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
        let span = tracing::info_span!(
            "agentwrit.auth",
            method = %req.method(),
            path = %req.uri().path(),
            sub = tracing::field::Empty,
            jti = tracing::field::Empty,
            task_id = tracing::field::Empty,
            decision = tracing::field::Empty,
        );
        // The protected-resource metadata, when one is configured, is
        // answered here.
        if let Some(response) = self.auth.discovery_response(req.method(), req.uri().path()) {
            let discovery = async move {
                tracing::Span::current().record("decision", "discovery");
                Ok(response.map(AuthBody::problem))
            };
            return Box::pin(discovery.instrument(span));
        }
        // Decided at once (a public path, no token, a malformed header, or
        // a cached verdict): the inner service, the one `poll_ready`
        // readied, is called now, with no clone and no wait.
        let decided = if self.auth.is_public(req.uri().path()) {
            span.record("decision", "public");
            Some(Ok(None))
        } else {
            self.auth
                .authenticate_now(req.headers())
                .map(|r| r.map(Some))
        };
        match decided {
            Some(Ok(claims)) => {
                if let Some(claims) = claims {
                    admit(&span, claims, &mut req);
                }
                let answer = self.inner.call(req);
                Box::pin(
                    async move { answer.await.map(|r| r.map(AuthBody::inner)) }.instrument(span),
                )
            }
            Some(Err(rejection)) => {
                let path = req.uri().path().to_owned();
                let refusal = async move {
                    let span = tracing::Span::current();
                    Ok(refuse(&span, rejection, &path))
                };
                Box::pin(refusal.instrument(span))
            }
            // A cache miss: the check waits (for the broker, or for another
            // request's check of the same token).
            None => {
                // The clone is not ready; the one `poll_ready` readied is
                // the one called.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let auth = self.auth.clone();
                let fut = async move {
                    let span = tracing::Span::current();
                    match auth.authenticate(req.headers()).await {
                        Ok(claims) => {
                            admit(&span, claims, &mut req);
                            inner.call(req).await.map(|r| r.map(AuthBody::inner))
                        }
                        Err(rejection) => Ok(refuse(&span, rejection, req.uri().path())),
                    }
                };
                Box::pin(fut.instrument(span))
            }
        }
    }
}

/// An allowed request: its span records who, and the inner service gets
/// the claims in the request's extensions.
fn admit<B>(span: &tracing::Span, claims: AgentClaims, req: &mut Request<B>) {
    span.record("sub", claims.sub());
    span.record("jti", claims.jti());
    if let Some(task) = claims.task_id() {
        span.record("task_id", task);
    }
    span.record("decision", "allowed");
    req.extensions_mut().insert(claims);
}

/// A refused request: its span records why, and the rejection is the
/// answer.
fn refuse<B>(span: &tracing::Span, rejection: Rejection, path: &str) -> Response<AuthBody<B>> {
    span.record("decision", rejection.kind().code());
    tracing::debug!(
        status = rejection.status().as_u16(),
        detail = rejection.detail(),
        "request rejected"
    );
    rejection.with_instance(path).to_response()
}
