//! [`DelegatedToken`]: a token an agent delegated, which can delegate
//! onwards and be released.

use std::fmt;
use std::time::{Duration, SystemTime};

use agentwrit_core::wire::{AccessToken, Claims, DelegationRecord};
use agentwrit_core::{Error, ReleaseOutcome, SharedAgent};

use crate::transport::Transport;

/// A token delegated to another agent: it can delegate further (A → B →
/// C) and be released. Released with the task of the agent it came from
/// ([`Agent::release_task`](crate::Agent::release_task), [`App::with_agent`](crate::App::with_agent)).
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
/// let a = app.create_agent("orch", "a", &["read:data:*"])?;
/// let b = app.create_agent("orch", "b", &["read:data:*"])?;
/// let c = app.create_agent("orch", "c", &["read:data:*"])?;
/// let to_b = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
/// let to_c = to_b.delegate(&c.agent_id(), &["read:data:reports"], None)?;
/// assert_eq!(to_c.delegation_chain().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct DelegatedToken {
    transport: Transport,
    origin: SharedAgent,
    token: agentwrit_core::DelegatedToken,
}

impl fmt::Debug for DelegatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.token, f)
    }
}

impl DelegatedToken {
    /// A token `origin` just delegated, recorded with it so that ending
    /// `origin`'s task releases it too.
    pub(super) fn tracked(
        transport: Transport,
        origin: SharedAgent,
        token: agentwrit_core::DelegatedToken,
    ) -> DelegatedToken {
        origin.track_delegation(&token);
        DelegatedToken {
            transport,
            origin,
            token,
        }
    }

    /// The delegated token. Its `Debug` is redacted.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// assert!(app.validate(&token.access_token())?.allows(&["read:data:reports"]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn access_token(&self) -> AccessToken {
        self.token.access_token.clone()
    }

    /// `Bearer <token>` for an `Authorization` header, marked sensitive.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// assert!(token.bearer_header_value()?.is_sensitive());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the token holds a byte a header cannot.
    pub fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
        self.token.bearer_header_value()
    }

    /// The delegate's SPIFFE id (the token's `sub`).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// assert_eq!(token.subject(), b.agent_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn subject(&self) -> String {
        self.token.subject().to_owned()
    }

    /// The delegated scope (from the token's claims).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// assert_eq!(token.scope(), ["read:data:reports"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn scope(&self) -> Vec<String> {
        self.token.scope().to_vec()
    }

    /// Whether the delegated scope covers every scope in `required`.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// assert!(token.allows(&["read:data:reports"]));
    /// assert!(!token.allows(&["read:data:payroll"]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn allows<S: AsRef<str>>(&self, required: &[S]) -> bool {
        crate::scope_is_subset(required, self.token.scope())
    }

    /// The token's claims.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// assert_eq!(token.claims().sub, b.agent_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn claims(&self) -> Claims {
        self.token.claims.clone()
    }

    /// The token's lifetime (the requested `ttl`, broker default 60 s).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// assert_eq!(token.expires_in(), std::time::Duration::from_secs(60));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        self.token.expires_in
    }

    /// When the token expires (its `exp` claim).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// assert!(token.expires_at() > std::time::SystemTime::now());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.token.expires_at
    }

    /// The delegation chain, oldest hop first, as the broker returned it.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// assert_eq!(token.delegation_chain()[0].agent, a.agent_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn delegation_chain(&self) -> &[DelegationRecord] {
        &self.token.delegation_chain
    }

    /// Delegates onwards from this token (A → B → C), at most five hops.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// # let c = app.create_agent("orch", "c", &["read:data:*"])?;
    /// let to_b = a.delegate(&b.agent_id(), &["read:data:*"], None)?;
    /// let to_c = to_b.delegate(&c.agent_id(), &["read:data:reports"], None)?;
    /// assert_eq!(to_c.subject(), c.agent_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Agent::delegate`](crate::Agent::delegate).
    pub fn delegate<S: AsRef<str>>(
        &self,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<DelegatedToken, Error> {
        let flow = self
            .token
            .delegate_flow(&self.transport.config, delegate_to, scope, ttl)?;
        let token = self.transport.drive(flow)?;
        Ok(DelegatedToken::tracked(
            self.transport.clone(),
            self.origin.clone(),
            token,
        ))
    }

    /// Releases the delegated token (a 401 means it was already dead).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// token.release()?;
    /// assert!(!app.validate(&token.access_token())?.is_valid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A broker failure other than 401, or a transport failure.
    pub fn release(&self) -> Result<ReleaseOutcome, Error> {
        let flow = self.token.release_flow(&self.transport.config)?;
        self.transport.drive(flow)
    }
}
