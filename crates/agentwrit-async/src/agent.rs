//! `Agent`, its release guard, and the tokens it delegates.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use agentwrit_core::wire::{AccessToken, Claims};
use agentwrit_core::{AutoRenew, Error, ReleaseOutcome, SharedAgent};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::transport::Transport;

mod delegated;
mod guard;

pub use delegated::DelegatedToken;
pub use guard::AgentGuard;

/// An agent: a SPIFFE identity holding a short-lived token for one task.
///
/// Cheap to clone; clones share the token, so a renewal is seen by all.
/// Dropping the last clone does **not** release the token: its
/// auto-renewal, if running, stops, and the token expires at the end of
/// its lifetime. To release, use [`Agent::release`],
/// [`App::with_agent`](crate::App::with_agent) or
/// [`Agent::release_on_drop`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
/// assert!(agent.agent_id().starts_with("spiffe://"));
/// assert!(agent.allows(&["read:data:customer-7291"]));
/// let old = agent.jti();
/// agent.renew().await?;
/// assert_ne!(agent.jti(), old);
/// agent.release().await?;
/// agent.release().await?; // idempotent
/// assert!(agent.renew().await.is_err()); // released: fails without a request
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentInner>,
}

struct AgentInner {
    transport: Transport,
    shared: SharedAgent,
    renewer: Mutex<Option<Renewer>>,
}

impl Drop for AgentInner {
    /// The last clone is gone: auto-renewal stops; nothing is sent.
    fn drop(&mut self) {
        self.shared.stop_auto_renewal();
        let renewer = self.renewer.get_mut();
        if let Some(renewer) = renewer.unwrap_or_else(PoisonError::into_inner) {
            renewer.wake();
        }
    }
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner.shared, f)
    }
}

impl Agent {
    pub(crate) fn new(transport: Transport, shared: SharedAgent) -> Agent {
        Agent {
            inner: Arc::new(AgentInner {
                transport,
                shared,
                renewer: Mutex::new(None),
            }),
        }
    }

    fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    fn renewer(&self) -> MutexGuard<'_, Option<Renewer>> {
        self.inner
            .renewer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The agent's SPIFFE id,
    /// `spiffe://{trust domain}/agent/{orch}/{task}/{instance}`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("order-worker", "ord-4823", &["read:data:*"]).await?;
    /// assert!(agent.agent_id().starts_with("spiffe://agentwrit.local/agent/order-worker/ord-4823/"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn agent_id(&self) -> String {
        self.inner.shared.agent_id()
    }

    /// The current token (a renewal replaces it). Its `Debug` is
    /// redacted; hand it back to the SDK as it is
    /// (`app.validate(&agent.access_token())`), or read it with
    /// `expose_secret()` to send it yourself.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// let token = agent.access_token();
    /// assert_eq!(format!("{token:?}"), "AccessToken(<redacted>)");
    /// assert!(app.validate(&token).await?.is_valid());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn access_token(&self) -> AccessToken {
        self.inner.shared.access_token()
    }

    /// `Bearer <token>` for an `Authorization` header, marked sensitive
    /// so that `http`'s `Debug` hides it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// let header = agent.bearer_header_value()?;
    /// assert!(header.is_sensitive());
    /// assert_eq!(format!("{header:?}"), "Sensitive");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the token holds a byte a header cannot.
    pub fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
        self.inner.shared.bearer_header_value()
    }

    /// The scope granted, read from the issued token (not from what was
    /// asked).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
    /// assert_eq!(agent.scope(), ["read:data:customer-7291"]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn scope(&self) -> Vec<String> {
        self.inner.shared.scope()
    }

    /// Whether the token's scope covers every scope in `required`: the
    /// broker's rule ([`scope_is_subset`](crate::scope_is_subset)),
    /// checked without copying the scope list.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert!(agent.allows(&["read:data:customer-7291"]));
    /// assert!(!agent.allows(&["write:data:customer-7291"]));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn allows<S: AsRef<str>>(&self, required: &[S]) -> bool {
        self.inner.shared.allows(required)
    }

    /// The current token's claims (`sub`, `scope`, `task_id`, `exp`, ...).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert_eq!(agent.claims().sub, agent.agent_id());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn claims(&self) -> Claims {
        self.inner.shared.claims()
    }

    /// When the current token expires (its `exp` claim).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert!(agent.expires_at() > std::time::SystemTime::now());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.inner.shared.expires_at()
    }

    /// The current token's lifetime, as issued (300 s by default).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert_eq!(agent.expires_in(), std::time::Duration::from_secs(300));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        self.inner.shared.expires_in()
    }

    /// The current token's id (`jti`); a renewal changes it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert_eq!(agent.jti(), agent.claims().jti);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn jti(&self) -> String {
        self.inner.shared.jti()
    }

    /// The task id the agent was created for.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert_eq!((agent.orch_id(), agent.task_id()), ("orch-1".into(), "task-1".into()));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn task_id(&self) -> String {
        self.inner.shared.task_id()
    }

    /// The orchestrator id the agent was created for.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert_eq!(agent.orch_id(), "orch-1");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn orch_id(&self) -> String {
        self.inner.shared.orch_id()
    }

    /// Whether the agent has been released (by [`Agent::release`], a
    /// guard, or a 401 on release).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert!(!agent.is_released());
    /// agent.release().await?;
    /// assert!(agent.is_released());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn is_released(&self) -> bool {
        self.inner.shared.is_released()
    }

    /// When the renewal schedule (the one [`Agent::start_auto_renewal`]
    /// follows: 80 % of the current token's lifetime, or now if that is
    /// past) says to renew next; `None` once released. For a program that
    /// renews on its own loop, e.g. to act after each renewal.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// let at = agent.next_renewal_at().expect("not released");
    /// assert!(at < agent.expires_at());
    /// agent.release().await?;
    /// assert_eq!(agent.next_renewal_at(), None);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn next_renewal_at(&self) -> Option<SystemTime> {
        let now = self.transport().now();
        self.inner.shared.read(|s| s.next_renewal_at(now))
    }

    /// Renews the token in place: same agent id, new token and jti; the
    /// old token is dead at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// let (id, old) = (agent.agent_id(), agent.access_token());
    /// agent.renew().await?;
    /// assert_eq!(agent.agent_id(), id); // same identity
    /// assert!(!app.validate(&old).await?.is_valid()); // the old token is dead
    /// assert!(app.validate(&agent.access_token()).await?.is_valid());
    /// # agent.release().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Released`] without a request once released; the broker's
    /// rejection or a transport failure.
    pub async fn renew(&self) -> Result<(), Error> {
        let flow = self.inner.shared.renew_flow(&self.transport().config)?;
        self.transport().drive(flow).await
    }

    /// Releases the token. Idempotent: once released, nothing is sent. A
    /// 401 from the broker means the token was already dead (released,
    /// renewed, revoked, expired) and counts as released:
    /// [`ReleaseOutcome::AlreadyDead`]. Stops auto-renewal. Tokens this
    /// agent delegated are not touched (see [`Agent::release_task`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use agentwrit_async::ReleaseOutcome;
    ///
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert_eq!(agent.release().await?, ReleaseOutcome::Released);
    /// assert_eq!(agent.release().await?, ReleaseOutcome::AlreadyDead); // sent nothing
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A broker failure other than 401, or a transport failure; the agent
    /// then stays unreleased and `release` may be called again.
    pub async fn release(&self) -> Result<ReleaseOutcome, Error> {
        let flow = self
            .inner
            .shared
            .release_agent_flow(&self.transport().config);
        let outcome = self.transport().drive(flow).await;
        self.wake_renewer();
        outcome
    }

    /// Ends the task: releases every token this agent delegated (and
    /// those delegated onwards from them) that is still alive, then the
    /// agent itself. What [`App::with_agent`](crate::App::with_agent) and
    /// [`AgentGuard`] call.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
    /// let to_b = a.delegate(&b.agent_id(), &["read:data:reports"], None).await?;
    /// a.release_task().await?;
    /// assert!(!app.validate(&to_b.access_token()).await?.is_valid()); // the delegation died too
    /// assert!(!app.validate(&a.access_token()).await?.is_valid());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The first failure; the other releases are still attempted.
    pub async fn release_task(&self) -> Result<ReleaseOutcome, Error> {
        let flow = self.inner.shared.end_task_flow(&self.transport().config);
        let outcome = self.transport().drive(flow).await;
        self.wake_renewer();
        outcome
    }

    /// Ends the task from a synchronous context (a guard's `Drop`): hands
    /// it to the SDK's releaser and makes sure the process does not end
    /// before it, without blocking a worker of a live runtime (see
    /// [`AgentGuard`]'s `Drop`). What cannot be done is logged.
    fn hand_over_end_task(&self) {
        let agent_id = self.agent_id();
        let transport = self.transport();
        let expire = "the agent's token and the tokens it delegated expire at the end of their TTL";
        let Some(releaser) = transport.for_release() else {
            tracing::warn!(%agent_id, "could not end the task on drop (no HTTP client for the releaser); {expire}");
            return;
        };
        let flow = self.inner.shared.end_task_flow(&transport.config);
        let bound = transport.wait_bound(flow.releases_left());
        let id = agent_id.clone();
        let job = |end| async move {
            if let Err(error) = releaser.drive(flow).await {
                tracing::warn!(
                    agent_id = %id,
                    %error,
                    "ending the task on drop failed; the tokens not released expire at the end of \
                     their TTL"
                );
            }
            drop(end);
        };
        match crate::releaser::submit(job) {
            Some(ticket) => crate::releaser::hold(ticket, bound, move || {
                tracing::warn!(
                    %agent_id,
                    ?bound,
                    "ending the task on drop did not finish in time; it goes on in the \
                     background, and if the process exits first the tokens expire at the end of \
                     their TTL"
                );
            }),
            None => tracing::warn!(
                %agent_id,
                "could not end the task on drop (the releaser thread is not running); {expire}"
            ),
        }
        self.wake_renewer();
    }

    /// Tells a waiting auto-renewal task to look at the (released) agent.
    fn wake_renewer(&self) {
        if let Some(renewer) = self.renewer().as_ref() {
            renewer.wake();
        }
    }

    /// Delegates `scope` (equal to or narrower than the agent's) to the
    /// registered agent `delegate_to` for `ttl` (broker default 60 s).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use std::time::Duration;
    /// use agentwrit_async::Error;
    ///
    /// let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
    /// let b = app.create_agent("orch", "b", &["read:data:reports"]).await?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], Some(Duration::from_secs(60))).await?;
    /// assert_eq!(token.subject(), b.agent_id());
    /// assert_eq!(token.scope(), ["read:data:reports"]);
    /// assert_eq!(token.delegation_chain()[0].agent, a.agent_id());
    ///
    /// // Wider than the delegator's own scope: the broker refuses.
    /// let refused = a.delegate(&b.agent_id(), &["write:data:reports"], None).await;
    /// assert!(matches!(refused, Err(Error::Authorization { .. })));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once released; [`Error::Authorization`]
    /// (`scope_violation`) beyond the agent's scope; a 404 problem for an
    /// unknown delegate.
    pub async fn delegate<S: AsRef<str>>(
        &self,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<DelegatedToken, Error> {
        let config = &self.transport().config;
        let flow = self
            .inner
            .shared
            .delegate_flow(config, delegate_to, scope, ttl)?;
        let token = self.transport().drive(flow).await?;
        Ok(DelegatedToken::tracked(
            self.transport().clone(),
            self.inner.shared.clone(),
            token,
        ))
    }

    /// Starts renewing the token in the background (a task on the current
    /// tokio runtime; outside one it logs a warning and does nothing) at 80 % of
    /// each lifetime, until the agent is released,
    /// [`Agent::stop_auto_renewal`] is called or the agent's last clone is
    /// dropped (the worker holds it weakly). Does nothing if it is
    /// already running. Also available as
    /// [`AgentOptions::auto_renew`](crate::AgentOptions::auto_renew).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// agent.start_auto_renewal();
    /// assert_eq!(agent.stop_auto_renewal().await.transpose()?, Some(0)); // stopped before any renewal
    /// # Ok(()) }
    /// ```
    pub fn start_auto_renewal(&self) {
        let mut renewer = self.renewer();
        if renewer.as_ref().is_some_and(|r| !r.is_finished()) {
            return;
        }
        let flow = self.inner.shared.auto_renew_flow(&self.transport().config);
        *renewer = Renewer::spawn(self.transport().clone(), flow);
    }

    /// Stops auto-renewal and waits for the worker: `Some(Ok(n))` after
    /// `n` renewals, `Some(Err(..))` if a renewal failed, `None` if it was
    /// not running.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// assert!(agent.stop_auto_renewal().await.is_none()); // never started
    /// # Ok(()) }
    /// ```
    pub async fn stop_auto_renewal(&self) -> Option<Result<u64, Error>> {
        let renewer = self.renewer().take()?;
        self.inner.shared.stop_auto_renewal();
        renewer.wake();
        Some(renewer.join().await)
    }

    /// A guard that ends the task ([`Agent::release_task`]) when dropped,
    /// on every path including a panic, a cancelled future, an aborted
    /// task, a runtime shutting down or no runtime at all: the drop hands
    /// the releases to the SDK's own releaser thread, never blocking a
    /// worker of a live runtime (see [`AgentGuard`]'s `Drop`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?.release_on_drop();
    /// let token = agent.access_token();
    /// // ... if this code panics, returns early or is cancelled, dropping
    /// // `agent` ends the task on the SDK's releaser ...
    /// agent.release_task().await?; // the normal path: end the task and see the outcome
    /// assert!(!app.validate(&token).await?.is_valid());
    /// # Ok(()) }
    /// ```
    pub fn release_on_drop(self) -> AgentGuard {
        AgentGuard { agent: self }
    }
}

/// The auto-renewal worker: a task driving the core's `AutoRenew` flow
/// on the current tokio runtime, woken early (notified) to stop.
struct Renewer {
    wake: Arc<Notify>,
    handle: JoinHandle<Result<u64, Error>>,
}

impl Renewer {
    fn spawn(transport: Transport, flow: AutoRenew) -> Option<Renewer> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("auto-renewal needs a tokio runtime; not started");
            return None;
        };
        let wake = Arc::new(Notify::new());
        let waker = Arc::clone(&wake);
        let handle = runtime.spawn(async move { transport.drive_waking(flow, Some(&waker)).await });
        Some(Renewer { wake, handle })
    }

    fn wake(&self) {
        self.wake.notify_one();
    }

    fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    async fn join(self) -> Result<u64, Error> {
        self.handle
            .await
            .unwrap_or_else(|_| Err(Error::invalid_state("the auto-renewal worker panicked")))
    }
}
