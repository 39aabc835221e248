//! Per-route scope requirements whose scopes are templates filled from
//! the route's path parameters (`read:data:customer-{id}` on
//! `/customers/{id}`).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum::extract::{FromRequestParts as _, RawPathParams};
use axum::response::{IntoResponse, Response};
use http::Request;
use tower::{Layer, Service};

use crate::{AgentClaims, Rejection, RejectionKind};

/// A per-route requirement: the request's token must grant every scope,
/// after `{name}` placeholders are filled with the route's path parameters
/// (percent-decoded, so identifiers may contain colons). Add it with axum's
/// `route_layer` (it needs the matched route's parameters), behind an
/// [`AgentAuthLayer`](crate::AgentAuthLayer).
///
/// A token without the scopes gets the 403 `insufficient_scope` problem; a
/// template naming a parameter the route lacks is a 500 (fail closed).
///
/// ```
/// use axum::{Router, routing::get};
/// use agentwrit_tower::{AgentAuth, RequireScopes};
///
/// let auth = AgentAuth::broker("http://127.0.0.1:8080").build()?;
/// let app: Router = Router::new()
///     .route(
///         "/customers/{id}",
///         get(|| async { "a customer" })
///             .route_layer(RequireScopes::new(&["read:data:customer-{id}"])),
///     )
///     .layer(auth.layer());
/// # let _ = app; Ok::<(), agentwrit_tower::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RequireScopes {
    templates: Arc<[Template]>,
}

#[derive(Clone, Debug)]
struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Literal(String),
    Param(String),
}

impl Template {
    /// Appends the template to `out`, each placeholder replaced by
    /// `param(name)`; the name of a placeholder without a value is the
    /// error.
    fn fill<'p>(
        &self,
        out: &mut String,
        param: impl Fn(&str) -> Option<&'p str>,
    ) -> Result<(), String> {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Param(name) => out.push_str(param(name).ok_or_else(|| name.clone())?),
            }
        }
        Ok(())
    }

    /// `{name}` (name of ASCII letters, digits and `_`) is a placeholder;
    /// every other character is literal.
    fn parse(template: &str) -> Self {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let name_len = after.find('}').filter(|&n| {
                n > 0
                    && after[..n]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
            literal.push_str(&rest[..open]);
            match name_len {
                Some(n) => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Param(after[..n].to_owned()));
                    rest = &after[n + 1..];
                }
                None => {
                    literal.push('{');
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Template { parts }
    }
}

impl RequireScopes {
    /// A requirement of every scope template in `templates`.
    ///
    /// ```
    /// let require = agentwrit_tower::RequireScopes::new(&["read:data:customer-{id}", "read:data:audit"]);
    /// # let _ = require;
    /// ```
    #[must_use]
    pub fn new<S: AsRef<str>>(templates: &[S]) -> Self {
        RequireScopes {
            templates: templates
                .iter()
                .map(|t| Template::parse(t.as_ref()))
                .collect(),
        }
    }

    /// The scopes required for these path parameters (name, value pairs).
    ///
    /// ```
    /// let require = agentwrit_tower::RequireScopes::new(&["read:data:customer-{id}"]);
    /// assert_eq!(require.scopes_for(&[("id", "acme:7291")]).unwrap(), ["read:data:customer-acme:7291"]);
    /// assert_eq!(require.scopes_for(&[]).unwrap_err(), "id");
    /// ```
    ///
    /// # Errors
    ///
    /// The name of a placeholder with no parameter.
    pub fn scopes_for(&self, params: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let lookup = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        self.templates
            .iter()
            .map(|t| {
                let mut out = String::new();
                t.fill(&mut out, lookup)?;
                Ok(out)
            })
            .collect()
    }

    /// The check of one request: each template filled from the route's
    /// parameters into one reused buffer and checked against the claims,
    /// with no list built unless the answer is a refusal (whose 403 names
    /// every required scope) or usage is recorded.
    fn check(
        &self,
        claims: Option<&AgentClaims>,
        params: Option<&RawPathParams>,
    ) -> Result<(), Rejection> {
        let lookup =
            |name: &str| params.and_then(|p| p.iter().find(|(k, _)| *k == name).map(|(_, v)| v));
        let misconfigured = |name: String| {
            Rejection::new(
                RejectionKind::Misconfigured,
                format!(
                    "the scope template names path parameter {{{name}}}, which this route does not have"
                ),
            )
        };
        // A usage recorder wants every decision with its scopes: keep them
        // as they are filled (otherwise no list is built unless refused).
        // One template, the common case, needs no list: the buffer is it.
        let records = claims.is_some_and(AgentClaims::records_usage);
        let keep = records && self.templates.len() > 1;
        let mut kept: Vec<String> = Vec::new();
        // Room for a typical scope, so filling it does not reallocate.
        let mut scope = String::with_capacity(128);
        let mut granted = true;
        for template in self.templates.iter() {
            scope.clear();
            template.fill(&mut scope, lookup).map_err(misconfigured)?;
            granted &= claims.is_some_and(|c| c.allows(&[scope.as_str()]));
            if keep {
                kept.push(scope.clone());
            }
        }
        let claims = claims.ok_or_else(|| {
            Rejection::new(
                RejectionKind::Misconfigured,
                "no verified claims: the authentication layer is not installed on this route",
            )
        })?;
        if granted {
            if keep {
                claims.record_check(&kept, true);
            } else if records {
                claims.record_check(&[scope.as_str()], true);
            }
            return Ok(());
        }
        // Refused: the 403 names every required scope (and `require`
        // records the refusal).
        let required: Vec<String> = if keep {
            kept
        } else if records {
            vec![scope]
        } else {
            self.templates
                .iter()
                .map(|t| {
                    let mut out = String::new();
                    t.fill(&mut out, lookup).map(|()| out)
                })
                .collect::<Result<_, _>>()
                .map_err(misconfigured)?
        };
        claims.require(&required)
    }
}

impl<S> Layer<S> for RequireScopes {
    type Service = RequireScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopesService {
            inner,
            require: self.clone(),
        }
    }
}

/// The service [`RequireScopes`] wraps around a route.
///
/// ```
/// use tower::Layer as _;
/// let service = agentwrit_tower::RequireScopes::new(&["read:data:{id}"])
///     .layer(tower::service_fn(|_req: axum::extract::Request| async {
///         Ok::<_, std::convert::Infallible>(axum::response::Response::new(axum::body::Body::empty()))
///     }));
/// # let _: agentwrit_tower::RequireScopesService<_> = service;
/// ```
#[derive(Clone, Debug)]
pub struct RequireScopesService<S> {
    inner: S,
    require: RequireScopes,
}

impl<S, B> Service<Request<B>> for RequireScopesService<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        // axum keeps the matched route's parameters in the request's
        // extensions, so reading them is ready at once: the check runs
        // here, and the inner service is called now (it is the one
        // `poll_ready` readied), with no clone and no await before it.
        // Should the read ever wait, the parameters count as absent: a
        // template that needs one then fails closed (500, misconfigured).
        let params = {
            let read = pin!(RawPathParams::from_request_parts(&mut parts, &()));
            match read.poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(Ok(params)) => Some(params),
                Poll::Ready(Err(_)) | Poll::Pending => None,
            }
        };
        // A route without parameters has none to read.
        let verdict = self
            .require
            .check(parts.extensions.get::<AgentClaims>(), params.as_ref());
        drop(params);
        match verdict {
            Ok(()) => {
                let answer = self.inner.call(Request::from_parts(parts, body));
                Box::pin(async move { answer.await.map(IntoResponse::into_response) })
            }
            Err(rejection) => {
                let response = rejection.with_instance(parts.uri.path()).into_response();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
