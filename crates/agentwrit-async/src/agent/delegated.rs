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
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
/// let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
/// let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
/// let c = app.create_agent("orch", "c", &["read:data:*"]).await?;
/// let to_b = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
/// let to_c = to_b.delegate(&c.agent_id(), &["read:data:reports"], None).await?;
/// assert_eq!(to_c.delegation_chain().len(), 2);
/// # Ok(()) }
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
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// assert!(app.validate(&token.access_token()).await?.allows(&["read:data:reports"]));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn access_token(&self) -> AccessToken {
        self.token.access_token.clone()
    }

    /// `Bearer <token>` for an `Authorization` header, marked sensitive.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// assert!(token.bearer_header_value()?.is_sensitive());
    /// # Ok(()) }
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
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// assert_eq!(token.subject(), b.agent_id());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn subject(&self) -> String {
        self.token.subject().to_owned()
    }

    /// The delegated scope (from the token's claims).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// assert_eq!(token.scope(), ["read:data:reports"]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn scope(&self) -> Vec<String> {
        self.token.scope().to_vec()
    }

    /// Whether the delegated scope covers every scope in `required`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// assert!(token.allows(&["read:data:reports"]));
    /// assert!(!token.allows(&["read:data:payroll"]));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn allows<S: AsRef<str>>(&self, required: &[S]) -> bool {
        crate::scope_is_subset(required, self.token.scope())
    }

    /// The token's claims.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// assert_eq!(token.claims().sub, b.agent_id());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn claims(&self) -> Claims {
        self.token.claims.clone()
    }

    /// The token's lifetime (the requested `ttl`, broker default 60 s).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// assert_eq!(token.expires_in(), std::time::Duration::from_secs(60));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        self.token.expires_in
    }

    /// When the token expires (its `exp` claim).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// assert!(token.expires_at() > std::time::SystemTime::now());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.token.expires_at
    }

    /// The delegation chain, oldest hop first, as the broker returned it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// assert_eq!(token.delegation_chain()[0].agent, a.agent_id());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn delegation_chain(&self) -> &[DelegationRecord] {
        &self.token.delegation_chain
    }

    /// Delegates onwards from this token (A → B → C), at most five hops.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// # let c = app.create_agent("orch", "c", &["read:data:*"]).await?;
    /// let to_b = a.delegate(&b.agent_id(), &["read:data:*"], None).await?;
    /// let to_c = to_b.delegate(&c.agent_id(), &["read:data:reports"], None).await?;
    /// assert_eq!(to_c.subject(), c.agent_id());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Agent::delegate`](crate::Agent::delegate).
    pub async fn delegate<S: AsRef<str>>(
        &self,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<DelegatedToken, Error> {
        let flow = self
            .token
            .delegate_flow(&self.transport.config, delegate_to, scope, ttl)?;
        let token = self.transport.drive(flow).await?;
        Ok(DelegatedToken::tracked(
            self.transport.clone(),
            self.origin.clone(),
            token,
        ))
    }

    /// Releases the delegated token (a 401 means it was already dead).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// # let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// token.release().await?;
    /// assert!(!app.validate(&token.access_token()).await?.is_valid());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A broker failure other than 401, or a transport failure.
    pub async fn release(&self) -> Result<ReleaseOutcome, Error> {
        let flow = self.token.release_flow(&self.transport.config)?;
        self.transport.drive(flow).await
    }
}
