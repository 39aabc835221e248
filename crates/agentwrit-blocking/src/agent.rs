//! `Agent`, its release guard, and the tokens it delegates.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use agentwrit_core::wire::{AccessToken, Claims};
use agentwrit_core::{AutoRenew, Error, ReleaseOutcome, SharedAgent};

use crate::transport::{Transport, Wake};

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
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
/// assert!(agent.agent_id().starts_with("spiffe://"));
/// assert!(agent.allows(&["read:data:customer-7291"]));
/// let old = agent.jti();
/// agent.renew()?;
/// assert_ne!(agent.jti(), old);
/// agent.release()?;
/// agent.release()?; // idempotent
/// assert!(agent.renew().is_err()); // released: fails without a request
/// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("order-worker", "ord-4823", &["read:data:*"])?;
    /// assert!(agent.agent_id().starts_with("spiffe://agentwrit.local/agent/order-worker/ord-4823/"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// let token = agent.access_token();
    /// assert_eq!(format!("{token:?}"), "AccessToken(<redacted>)");
    /// assert!(app.validate(&token)?.is_valid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn access_token(&self) -> AccessToken {
        self.inner.shared.access_token()
    }

    /// `Bearer <token>` for an `Authorization` header, marked sensitive
    /// so that `http`'s `Debug` hides it.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// let header = agent.bearer_header_value()?;
    /// assert!(header.is_sensitive());
    /// assert_eq!(format!("{header:?}"), "Sensitive");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
    /// assert_eq!(agent.scope(), ["read:data:customer-7291"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert!(agent.allows(&["read:data:customer-7291"]));
    /// assert!(!agent.allows(&["write:data:customer-7291"]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn allows<S: AsRef<str>>(&self, required: &[S]) -> bool {
        self.inner.shared.allows(required)
    }

    /// The current token's claims (`sub`, `scope`, `task_id`, `exp`, ...).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert_eq!(agent.claims().sub, agent.agent_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn claims(&self) -> Claims {
        self.inner.shared.claims()
    }

    /// When the current token expires (its `exp` claim).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert!(agent.expires_at() > std::time::SystemTime::now());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.inner.shared.expires_at()
    }

    /// The current token's lifetime, as issued (300 s by default).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert_eq!(agent.expires_in(), std::time::Duration::from_secs(300));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        self.inner.shared.expires_in()
    }

    /// The current token's id (`jti`); a renewal changes it.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert_eq!(agent.jti(), agent.claims().jti);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn jti(&self) -> String {
        self.inner.shared.jti()
    }

    /// The task id the agent was created for.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert_eq!((agent.orch_id(), agent.task_id()), ("orch-1".into(), "task-1".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn task_id(&self) -> String {
        self.inner.shared.task_id()
    }

    /// The orchestrator id the agent was created for.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert_eq!(agent.orch_id(), "orch-1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn orch_id(&self) -> String {
        self.inner.shared.orch_id()
    }

    /// Whether the agent has been released (by [`Agent::release`], a
    /// guard, or a 401 on release).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert!(!agent.is_released());
    /// agent.release()?;
    /// assert!(agent.is_released());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// let at = agent.next_renewal_at().expect("not released");
    /// assert!(at < agent.expires_at());
    /// agent.release()?;
    /// assert_eq!(agent.next_renewal_at(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// let (id, old) = (agent.agent_id(), agent.access_token());
    /// agent.renew()?;
    /// assert_eq!(agent.agent_id(), id); // same identity
    /// assert!(!app.validate(&old)?.is_valid()); // the old token is dead
    /// assert!(app.validate(&agent.access_token())?.is_valid());
    /// # agent.release()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Released`] without a request once released; the broker's
    /// rejection or a transport failure.
    pub fn renew(&self) -> Result<(), Error> {
        let flow = self.inner.shared.renew_flow(&self.transport().config)?;
        self.transport().drive(flow)
    }

    /// Releases the token. Idempotent: once released, nothing is sent. A
    /// 401 from the broker means the token was already dead (released,
    /// renewed, revoked, expired) and counts as released:
    /// [`ReleaseOutcome::AlreadyDead`]. Stops auto-renewal. Tokens this
    /// agent delegated are not touched (see [`Agent::release_task`]).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use agentwrit_blocking::ReleaseOutcome;
    ///
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert_eq!(agent.release()?, ReleaseOutcome::Released);
    /// assert_eq!(agent.release()?, ReleaseOutcome::AlreadyDead); // sent nothing
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A broker failure other than 401, or a transport failure; the agent
    /// then stays unreleased and `release` may be called again.
    pub fn release(&self) -> Result<ReleaseOutcome, Error> {
        let flow = self
            .inner
            .shared
            .release_agent_flow(&self.transport().config);
        let outcome = self.transport().drive(flow);
        self.wake_renewer();
        outcome
    }

    /// Tells a waiting auto-renewal worker to look at the (released) agent.
    fn wake_renewer(&self) {
        if let Some(renewer) = self.renewer().as_ref() {
            renewer.wake();
        }
    }

    /// Ends the task: releases every token this agent delegated (and
    /// those delegated onwards from them) that is still alive, then the
    /// agent itself. What [`App::with_agent`](crate::App::with_agent) and
    /// [`AgentGuard`] call.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// let b = app.create_agent("orch", "b", &["read:data:*"])?;
    /// let to_b = a.delegate(&b.agent_id(), &["read:data:reports"], None)?;
    /// a.release_task()?;
    /// assert!(!app.validate(&to_b.access_token())?.is_valid()); // the delegation died too
    /// assert!(!app.validate(&a.access_token())?.is_valid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first failure; the other releases are still attempted.
    pub fn release_task(&self) -> Result<ReleaseOutcome, Error> {
        let flow = self.inner.shared.end_task_flow(&self.transport().config);
        let outcome = self.transport().drive(flow);
        self.wake_renewer();
        outcome
    }

    /// Delegates `scope` (equal to or narrower than the agent's) to the
    /// registered agent `delegate_to` for `ttl` (broker default 60 s).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use std::time::Duration;
    /// use agentwrit_blocking::Error;
    ///
    /// let a = app.create_agent("orch", "a", &["read:data:*"])?;
    /// let b = app.create_agent("orch", "b", &["read:data:reports"])?;
    /// let token = a.delegate(&b.agent_id(), &["read:data:reports"], Some(Duration::from_secs(60)))?;
    /// assert_eq!(token.subject(), b.agent_id());
    /// assert_eq!(token.scope(), ["read:data:reports"]);
    /// assert_eq!(token.delegation_chain()[0].agent, a.agent_id());
    ///
    /// // Wider than the delegator's own scope: the broker refuses.
    /// let refused = a.delegate(&b.agent_id(), &["write:data:reports"], None);
    /// assert!(matches!(refused, Err(Error::Authorization { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once released; [`Error::Authorization`]
    /// (`scope_violation`) beyond the agent's scope; a 404 problem for an
    /// unknown delegate.
    pub fn delegate<S: AsRef<str>>(
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
        let token = self.transport().drive(flow)?;
        Ok(DelegatedToken::tracked(
            self.transport().clone(),
            self.inner.shared.clone(),
            token,
        ))
    }

    /// Starts renewing the token in the background (a thread) at 80 % of
    /// each lifetime, until the agent is released,
    /// [`Agent::stop_auto_renewal`] is called or the agent's last clone is
    /// dropped (the worker holds it weakly). Does nothing if it is
    /// already running. Also available as
    /// [`AgentOptions::auto_renew`](crate::AgentOptions::auto_renew).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// agent.start_auto_renewal();
    /// assert_eq!(agent.stop_auto_renewal().transpose()?, Some(0)); // stopped before any renewal
    /// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// assert!(agent.stop_auto_renewal().is_none()); // never started
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop_auto_renewal(&self) -> Option<Result<u64, Error>> {
        let renewer = self.renewer().take()?;
        self.inner.shared.stop_auto_renewal();
        renewer.wake();
        Some(renewer.join())
    }

    /// A guard that ends the task ([`Agent::release_task`]) when dropped,
    /// on every path including a panic.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let token = {
    ///     let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?.release_on_drop();
    ///     agent.access_token()
    /// }; // released here
    /// assert!(!app.validate(&token)?.is_valid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_on_drop(self) -> AgentGuard {
        AgentGuard { agent: self }
    }
}

/// The auto-renewal worker: a thread driving the core's `AutoRenew`
/// flow, woken early (through its own [`Wake`], never the thread's park
/// token) to stop.
struct Renewer {
    wake: Arc<Wake>,
    handle: JoinHandle<Result<u64, Error>>,
}

impl Renewer {
    fn spawn(transport: Transport, flow: AutoRenew) -> Option<Renewer> {
        let wake = Arc::new(Wake::default());
        let waker = Arc::clone(&wake);
        let spawned = std::thread::Builder::new()
            .name("agentwrit-renew".into())
            .spawn(move || transport.drive_waking(flow, Some(&waker)));
        match spawned {
            Ok(handle) => Some(Renewer { wake, handle }),
            Err(error) => {
                tracing::warn!(%error, "could not start the auto-renewal thread");
                None
            }
        }
    }

    fn wake(&self) {
        self.wake.wake();
    }

    fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    fn join(self) -> Result<u64, Error> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(Error::invalid_state("the auto-renewal worker panicked")))
    }
}
