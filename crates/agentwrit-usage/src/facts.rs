//! What a verifier tells the recorder about a token it accepted.

use std::time::SystemTime;

use agentwrit_wire::Claims;

/// The facts of one verified token the recorder keeps (never the token
/// itself): its id, agent, task, grant, lifetime and delegation depth.
///
/// From the verified claims with [`TokenFacts::from_claims`], or built
/// field by field by a verifier of another language.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use agentwrit_usage::TokenFacts;
///
/// let iat = UNIX_EPOCH + Duration::from_secs(1_795_304_437);
/// let facts = TokenFacts::new("5ec4b836", "spiffe://agentwrit.local/agent/o/t/1", iat, iat + Duration::from_secs(300))
///     .with_granted(["read:data:*"])
///     .with_orch_id("o")
///     .with_task_id("t");
/// assert_eq!(facts.granted, ["read:data:*"]);
/// assert_eq!(facts.delegation_depth, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenFacts {
    /// The token id (`jti`).
    pub jti: String,
    /// The agent (SPIFFE id, `sub`).
    pub sub: String,
    /// `orch_id`.
    pub orch_id: Option<String>,
    /// `task_id`.
    pub task_id: Option<String>,
    /// The app, when the verifier knows it.
    pub app: Option<String>,
    /// The scopes the token grants.
    pub granted: Vec<String>,
    /// `iat`.
    pub issued_at: SystemTime,
    /// `exp`.
    pub expires_at: SystemTime,
    /// Delegation hops behind the token.
    pub delegation_depth: u32,
    /// The agent that delegated it (the chain's last hop).
    pub delegated_by: Option<String>,
}

impl TokenFacts {
    /// The facts of token `jti` of agent `sub`, valid from `issued_at` to
    /// `expires_at`, granting nothing yet (see the `with_` setters).
    #[must_use]
    pub fn new(
        jti: impl Into<String>,
        sub: impl Into<String>,
        issued_at: SystemTime,
        expires_at: SystemTime,
    ) -> Self {
        TokenFacts {
            jti: jti.into(),
            sub: sub.into(),
            orch_id: None,
            task_id: None,
            app: None,
            granted: Vec::new(),
            issued_at,
            expires_at,
            delegation_depth: 0,
            delegated_by: None,
        }
    }

    /// The facts in verified agent-token claims.
    ///
    /// ```
    /// let mut claims = agentwrit_wire::Claims::default();
    /// claims.jti = "j1".into();
    /// claims.scope = vec!["read:data:x".into()];
    /// claims.exp = 1_795_304_737;
    /// let facts = agentwrit_usage::TokenFacts::from_claims(&claims);
    /// assert_eq!((facts.jti.as_str(), facts.granted.len()), ("j1", 1));
    /// ```
    #[must_use]
    pub fn from_claims(claims: &Claims) -> Self {
        let chain = claims.delegation_chain.as_deref().unwrap_or_default();
        TokenFacts {
            jti: claims.jti.clone(),
            sub: claims.sub.clone(),
            orch_id: claims.orch_id.clone(),
            task_id: claims.task_id.clone(),
            app: None,
            granted: claims.scope.clone(),
            issued_at: crate::time::from_secs(claims.iat),
            expires_at: crate::time::from_secs(claims.exp),
            delegation_depth: u32::try_from(chain.len()).unwrap_or(u32::MAX),
            delegated_by: chain.last().map(|hop| hop.agent.clone()),
        }
    }

    /// Sets the granted scopes.
    #[must_use]
    pub fn with_granted<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.granted = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `orch_id`.
    #[must_use]
    pub fn with_orch_id(mut self, orch_id: impl Into<String>) -> Self {
        self.orch_id = Some(orch_id.into());
        self
    }

    /// Sets `task_id`.
    #[must_use]
    pub fn with_task_id(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    /// Sets the app.
    #[must_use]
    pub fn with_app(mut self, app: impl Into<String>) -> Self {
        self.app = Some(app.into());
        self
    }

    /// Sets the delegation depth and the delegating agent.
    #[must_use]
    pub fn with_delegation(mut self, depth: u32, delegated_by: Option<String>) -> Self {
        self.delegation_depth = depth;
        self.delegated_by = delegated_by;
        self
    }
}
