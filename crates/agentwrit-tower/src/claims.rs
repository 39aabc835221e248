//! The verified claims a request carries, and (with the `axum` feature)
//! their extractor.

use std::sync::Arc;

use agentwrit_wire::Claims;

use crate::Rejection;

/// The verified claims of the request's agent token, put in the request's
/// extensions by [`AgentAuthLayer`](crate::AgentAuthLayer). With the
/// `axum` feature it is an extractor (`Option<AgentClaims>` on public
/// routes).
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::{Router, extract::Path, routing::get};
/// use agentwrit_tower::{AgentClaims, Rejection};
///
/// async fn customer(Path(id): Path<String>, claims: AgentClaims) -> Result<String, Rejection> {
///     claims.require(&[format!("read:data:customer-{id}")])?;
///     Ok(format!("customer {id} for {}", claims.sub()))
/// }
/// let app: Router = Router::new().route("/customers/{id}", get(customer));
/// # let _ = app; }
/// ```
#[derive(Clone, Debug)]
pub struct AgentClaims {
    claims: Arc<Claims>,
    /// Where scope decisions are recorded, when usage recording is on.
    usage: Option<agentwrit_usage::Recorder>,
}

impl AgentClaims {
    pub(crate) fn new(claims: Arc<Claims>) -> Self {
        AgentClaims {
            claims,
            usage: None,
        }
    }

    pub(crate) fn with_usage(mut self, usage: agentwrit_usage::Recorder) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Whether scope decisions on these claims are recorded.
    #[cfg(feature = "axum")]
    pub(crate) fn records_usage(&self) -> bool {
        self.usage.is_some()
    }

    /// Records a scope decision made for this token elsewhere in the crate
    /// (the MCP layer's per-tool scopes), when usage recording is on.
    pub(crate) fn record_check<S: AsRef<str>>(&self, required: &[S], allowed: bool) {
        if let Some(usage) = &self.usage {
            usage.check(&self.claims.jti, required, allowed);
        }
    }

    /// Claims verified elsewhere (for tests of handlers, or a custom
    /// authentication path).
    ///
    /// ```
    /// use agentwrit_tower::AgentClaims;
    /// let mut c = agentwrit_wire::Claims::default();
    /// c.scope = vec!["read:data:customer-7291".into()];
    /// let claims = AgentClaims::from_verified(c);
    /// assert!(claims.allows(&["read:data:customer-7291"]));
    /// ```
    #[must_use]
    pub fn from_verified(claims: Claims) -> Self {
        AgentClaims::new(Arc::new(claims))
    }

    /// All the claims.
    ///
    /// ```
    /// let claims = agentwrit_tower::AgentClaims::from_verified(Default::default());
    /// assert_eq!(claims.claims().exp, 0);
    /// ```
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The subject: the agent's SPIFFE id.
    ///
    /// ```
    /// let claims = agentwrit_tower::AgentClaims::from_verified(Default::default());
    /// assert_eq!(claims.sub(), "");
    /// ```
    #[must_use]
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }

    /// The token id (the unit of revocation).
    ///
    /// ```
    /// let claims = agentwrit_tower::AgentClaims::from_verified(Default::default());
    /// assert_eq!(claims.jti(), "");
    /// ```
    #[must_use]
    pub fn jti(&self) -> &str {
        &self.claims.jti
    }

    /// The task the agent was created for.
    ///
    /// ```
    /// let claims = agentwrit_tower::AgentClaims::from_verified(Default::default());
    /// assert_eq!(claims.task_id(), None);
    /// ```
    #[must_use]
    pub fn task_id(&self) -> Option<&str> {
        self.claims.task_id.as_deref()
    }

    /// The orchestrator that launched the agent.
    ///
    /// ```
    /// let claims = agentwrit_tower::AgentClaims::from_verified(Default::default());
    /// assert_eq!(claims.orch_id(), None);
    /// ```
    #[must_use]
    pub fn orch_id(&self) -> Option<&str> {
        self.claims.orch_id.as_deref()
    }

    /// The scopes the token grants.
    ///
    /// ```
    /// let claims = agentwrit_tower::AgentClaims::from_verified(Default::default());
    /// assert!(claims.scope().is_empty());
    /// ```
    #[must_use]
    pub fn scope(&self) -> &[String] {
        &self.claims.scope
    }

    /// Whether the token grants every scope in `required` (the broker's
    /// subset rule, wildcards included).
    ///
    /// ```
    /// let mut c = agentwrit_wire::Claims::default();
    /// c.scope = vec!["read:data:*".into()];
    /// let claims = agentwrit_tower::AgentClaims::from_verified(c);
    /// assert!(claims.allows(&["read:data:customer-7291"]));
    /// assert!(!claims.allows(&["write:data:customer-7291"]));
    /// ```
    #[must_use]
    pub fn allows<S: AsRef<str>>(&self, required: &[S]) -> bool {
        agentwrit_scope::scope_is_subset(required, &self.claims.scope)
    }

    /// `Ok` when the token grants every scope in `required`, else the 403
    /// [`Rejection`] (`insufficient_scope`) to return from the handler.
    /// With usage recording on
    /// ([`AgentAuthBuilder::record_usage`](crate::AgentAuthBuilder::record_usage)),
    /// the decision is recorded ([`AgentClaims::allows`] records nothing).
    ///
    /// ```
    /// let mut c = agentwrit_wire::Claims::default();
    /// c.scope = vec!["read:data:customer-7291".into()];
    /// let claims = agentwrit_tower::AgentClaims::from_verified(c);
    /// assert!(claims.require(&["read:data:customer-7291"]).is_ok());
    /// let denied = claims.require(&["read:data:customer-9999"]).unwrap_err();
    /// assert_eq!(denied.status(), 403);
    /// ```
    ///
    /// # Errors
    ///
    /// The 403 rejection naming `required`.
    pub fn require<S: AsRef<str>>(&self, required: &[S]) -> Result<(), Rejection> {
        let allowed = self.allows(required);
        if let Some(usage) = &self.usage {
            usage.check(&self.claims.jti, required, allowed);
        }
        if allowed {
            Ok(())
        } else {
            tracing::Span::current().record("decision", "insufficient_scope");
            Err(Rejection::insufficient_scope(required))
        }
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::{IntoResponse, Response};
    use http::request::Parts;

    use super::AgentClaims;
    use crate::{Rejection, RejectionKind};

    impl<S: Send + Sync> FromRequestParts<S> for AgentClaims {
        type Rejection = Rejection;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejection> {
            parts
                .extensions
                .get::<AgentClaims>()
                .cloned()
                .ok_or_else(|| {
                    Rejection::new(
                    RejectionKind::Misconfigured,
                    "no verified claims: the authentication layer is not installed on this route",
                )
                .with_instance(parts.uri.path())
                })
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for AgentClaims {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<AgentClaims>().cloned())
        }
    }

    impl IntoResponse for Rejection {
        fn into_response(self) -> Response {
            let mut response = Response::new(axum::body::Body::from(self.body()));
            self.set_head(&mut response);
            response
        }
    }
}
