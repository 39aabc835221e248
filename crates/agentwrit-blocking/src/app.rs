//! `App`, `Agent` and `DelegatedToken`: thin handles over the core flows.

use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, Thread};

use agentwrit_core::wire::{
    AccessToken, ClientSecret, HealthResponse, LaunchTokenRequest, LaunchTokenResponse,
};
use agentwrit_core::{
    AgentOptions, AppCore, ClientBuilder, FromParts, Parts, ReleaseOutcome, SharedAgent, Validation,
};
use rand_core::OsRng;

use crate::Error;
use crate::transport::Transport;

/// An app registered at the broker: it creates agents for tasks.
///
/// Cheap to clone, `Send + Sync`: share one per process. It logs in on
/// first use and again shortly before its app token expires; however
/// many threads use it, one logs in at a time (the broker allows an app
/// three quick logins).
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let (url, client_id, client_secret) = (broker.url(), reg.client_id.as_str(), reg.client_secret.expose_secret());
/// use agentwrit_blocking::App;
///
/// let app = App::new(url, client_id, client_secret)?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
/// assert_eq!(agent.scope(), ["read:data:customer-7291"]);
/// agent.release()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct App {
    core: AppCore,
    transport: Transport,
}

/// Builds an [`App`] with non-default settings: timeouts, user agent,
/// retry policy, your own `ureq::Agent`, a clock.
///
/// ```
/// use std::time::Duration;
/// use agentwrit_blocking::{App, RetryPolicy};
///
/// let app = App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
///     .timeout(Duration::from_secs(3))
///     .user_agent("billing-worker/1.4")
///     .retry(RetryPolicy::none())
///     .build()?;
/// assert_eq!(app.client_id(), "cm-37a7c9c10885");
/// # Ok::<(), agentwrit_blocking::Error>(())
/// ```
pub type AppBuilder = ClientBuilder<App, ureq::Agent>;

impl FromParts<ureq::Agent> for App {
    type Core = AppCore;
    fn from_parts(parts: Parts<AppCore, ureq::Agent>) -> Result<App, Error> {
        let transport = Transport::new(parts.core.config().clone(), &parts);
        Ok(App {
            core: parts.core,
            transport,
        })
    }
}

impl App {
    /// The app `client_id` at `broker_url`, with default settings.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    pub fn new(
        broker_url: &str,
        client_id: &str,
        client_secret: impl Into<ClientSecret>,
    ) -> Result<App, Error> {
        Self::builder(broker_url, client_id, client_secret).build()
    }

    /// The app named by `AGENTWRIT_BROKER_URL`, `AGENTWRIT_CLIENT_ID` and
    /// `AGENTWRIT_CLIENT_SECRET`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the first variable unset or empty.
    pub fn from_env() -> Result<App, Error> {
        let (url, id, secret) = agentwrit_core::app_settings_from(|k| std::env::var(k).ok())?;
        Self::new(url.as_str(), &id, secret)
    }

    /// A builder for the app `client_id` at `broker_url`.
    pub fn builder(
        broker_url: &str,
        client_id: &str,
        client_secret: impl Into<ClientSecret>,
    ) -> AppBuilder {
        AppBuilder::new(broker_url, (client_id.to_owned(), client_secret.into()))
    }

    /// The broker's base URL.
    #[must_use]
    pub fn broker_url(&self) -> &str {
        self.transport.config.broker().as_str()
    }

    /// The app's client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        self.core.client_id()
    }

    /// The sans-IO core of this app: its configuration and the session
    /// shared by its clones (for inspection and for driving core flows
    /// yourself).
    #[must_use]
    pub fn core(&self) -> &AppCore {
        &self.core
    }

    /// Creates an agent for `task_id` of `orch_id`, holding `scope`
    /// (within the app's ceiling), with a fresh Ed25519 key and a 300 s
    /// token.
    ///
    /// # Errors
    ///
    /// `InvalidInput` before anything is sent for an empty id or a bad
    /// scope; the broker's rejection (e.g. 403 for a scope beyond the
    /// ceiling) or a transport failure.
    pub fn create_agent<S: AsRef<str>>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
    ) -> Result<Agent, Error> {
        self.create_agent_with(orch_id, task_id, scope, AgentOptions::new())
    }

    /// [`App::create_agent`] with options: your own key, a TTL, a label,
    /// auto-renewal.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
    /// use agentwrit_blocking::AgentOptions;
    /// let agent = app.create_agent_with("orch-1", "nightly", &["read:analytics:*"],
    ///     AgentOptions::new().max_ttl(600).label("nightly-report"))?;
    /// assert_eq!(agent.claims().exp - agent.claims().iat, 600);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`App::create_agent`].
    pub fn create_agent_with<S: AsRef<str>>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
        options: AgentOptions,
    ) -> Result<Agent, Error> {
        let flow = self
            .core
            .create_agent(orch_id, task_id, scope, &options, &mut OsRng)?;
        let agent = Agent::new(self.clone(), SharedAgent::new(self.transport.drive(flow)?));
        if options.get_auto_renew() {
            agent.start_auto_renewal();
        }
        Ok(agent)
    }

    /// Runs `work` with a new agent and releases the agent afterwards on
    /// every path: success, error, early return, panic.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
    /// let token = app.with_agent("orch-1", "task-1", &["read:data:*"], |agent| {
    ///     Ok::<_, agentwrit_blocking::Error>(agent.access_token())
    /// })?;
    /// assert!(!app.validate(token.expose_secret())?.is_valid()); // released
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `work`'s error, or creating the agent failed. A failed release
    /// after success is returned too; after `work` failed, `work`'s error
    /// wins.
    pub fn with_agent<S, T, E>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
        work: impl FnOnce(&Agent) -> Result<T, E>,
    ) -> Result<T, E>
    where
        S: AsRef<str>,
        E: From<Error>,
    {
        let guard = self
            .create_agent(orch_id, task_id, scope)?
            .release_on_drop();
        let result = work(&guard);
        let released = guard.release();
        let output = result?;
        released?;
        Ok(output)
    }

    /// Mints a launch token (for an agent registered by other means).
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn launch_token(&self, request: LaunchTokenRequest) -> Result<LaunchTokenResponse, Error> {
        self.transport.drive(self.core.launch_token(request)?)
    }

    /// Validates `token` at the broker. An invalid token is
    /// `Ok(Validation::Invalid { .. })`, not an error.
    ///
    /// # Errors
    ///
    /// An empty token, a broker failure or a transport failure.
    pub fn validate(&self, token: &str) -> Result<Validation, Error> {
        self.transport
            .drive(self.core.validate(&AccessToken::new(token))?)
    }

    /// The broker's health.
    ///
    /// # Errors
    ///
    /// A broker failure or a transport failure.
    pub fn health(&self) -> Result<HealthResponse, Error> {
        self.transport.drive(self.core.health())
    }
}

// ------------------------------------------------------------------ agent --

struct Renewer {
    thread: Thread,
    handle: JoinHandle<Result<u64, Error>>,
}

struct AgentInner {
    app: App,
    shared: SharedAgent,
    renewer: Mutex<Option<Renewer>>,
}

impl Drop for AgentInner {
    fn drop(&mut self) {
        self.shared.stop_auto_renewal();
        if let Some(r) = self
            .renewer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            r.thread.unpark();
        }
    }
}

/// An agent: a SPIFFE identity holding a short-lived token for one task.
///
/// Cheap to clone; clones share the token, so a renewal is seen by all.
/// Dropping the last clone does **not** release the token (it expires by
/// itself); use [`Agent::release`], [`App::with_agent`] or
/// [`Agent::release_on_drop`].
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
/// assert!(agent.agent_id().starts_with("spiffe://"));
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

impl Deref for Agent {
    type Target = SharedAgent;
    /// The agent's state: id, token, scope, expiry, jti, claims.
    fn deref(&self) -> &SharedAgent {
        &self.inner.shared
    }
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.shared.fmt(f)
    }
}

impl Agent {
    fn new(app: App, shared: SharedAgent) -> Agent {
        Agent {
            inner: Arc::new(AgentInner {
                app,
                shared,
                renewer: Mutex::new(None),
            }),
        }
    }

    fn transport(&self) -> &Transport {
        &self.inner.app.transport
    }

    /// Renews the token in place: same agent id, new token and jti; the
    /// old token is dead at once.
    ///
    /// # Errors
    ///
    /// `Released` without a request once released; the broker's rejection
    /// or a transport failure.
    pub fn renew(&self) -> Result<(), Error> {
        self.transport()
            .drive(self.inner.shared.renew_flow(&self.transport().config)?)
    }

    /// Releases the token. Idempotent: once released, nothing is sent. A
    /// 401 from the broker means the token was already dead (released,
    /// renewed, revoked, expired) and counts as released:
    /// [`ReleaseOutcome::AlreadyDead`]. Stops auto-renewal.
    ///
    /// # Errors
    ///
    /// A broker failure other than 401, or a transport failure; the agent
    /// then stays unreleased and `release` may be called again.
    pub fn release(&self) -> Result<ReleaseOutcome, Error> {
        let outcome = self
            .transport()
            .drive(self.inner.shared.release_flow(&self.transport().config));
        self.wake_renewer();
        outcome
    }

    /// Delegates `scope` (equal to or narrower than the agent's) to the
    /// registered agent `delegate_to` for `ttl` seconds (broker default
    /// 60).
    ///
    /// # Errors
    ///
    /// `Released` once released; 403 `scope_violation` beyond the agent's
    /// scope; 404 for an unknown delegate.
    pub fn delegate<S: AsRef<str>>(
        &self,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<i64>,
    ) -> Result<DelegatedToken, Error> {
        let flow =
            self.inner
                .shared
                .delegate_flow(&self.transport().config, delegate_to, scope, ttl)?;
        DelegatedToken::drive(self.inner.app.clone(), flow)
    }

    /// Renews the token in the background at 80 % of each lifetime until
    /// the agent is released or its last clone dropped. Calling it again
    /// while it runs does nothing.
    pub fn start_auto_renewal(&self) {
        let mut slot = self
            .inner
            .renewer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|r| !r.handle.is_finished()) {
            return;
        }
        let flow = self.inner.shared.auto_renew_flow(&self.transport().config);
        let transport = self.transport().clone();
        let handle = std::thread::spawn(move || transport.drive(flow));
        *slot = Some(Renewer {
            thread: handle.thread().clone(),
            handle,
        });
    }

    /// Stops auto-renewal and returns how many renewals it made, or the
    /// error that stopped it. `None` when it was not running.
    pub fn stop_auto_renewal(&self) -> Option<Result<u64, Error>> {
        self.inner.shared.stop_auto_renewal();
        let renewer = self
            .inner
            .renewer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        renewer.thread.unpark();
        Some(renewer.handle.join().unwrap_or_else(|_| {
            Err(agentwrit_core::Error::invalid_input("auto_renewal", "the worker panicked").into())
        }))
    }

    fn wake_renewer(&self) {
        if let Some(r) = self
            .inner
            .renewer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            r.thread.unpark();
        }
    }

    /// A guard that releases the agent when dropped (also during a
    /// panic), ignoring errors; call [`AgentGuard::release`] to see them.
    pub fn release_on_drop(self) -> AgentGuard {
        AgentGuard { agent: self }
    }
}

/// Releases its agent when dropped. Derefs to [`Agent`].
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let token = {
///     let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?.release_on_drop();
///     agent.access_token()
/// }; // released here
/// assert!(!app.validate(token.expose_secret())?.is_valid());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard releases the agent at once"]
pub struct AgentGuard {
    agent: Agent,
}

impl AgentGuard {
    /// Releases now and reports the outcome.
    ///
    /// # Errors
    ///
    /// As [`Agent::release`].
    pub fn release(&self) -> Result<ReleaseOutcome, Error> {
        self.agent.release()
    }
}

impl Deref for AgentGuard {
    type Target = Agent;
    fn deref(&self) -> &Agent {
        &self.agent
    }
}

impl Drop for AgentGuard {
    fn drop(&mut self) {
        if let Err(error) = self.agent.release() {
            tracing::warn!(%error, "releasing the agent on drop failed; its token expires by itself");
        }
    }
}

// --------------------------------------------------------------- delegate --

/// A token delegated to another agent; it can delegate further (A → B →
/// C) and be released.
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let a = app.create_agent("orch", "a", &["read:data:*"])?;
/// let b = app.create_agent("orch", "b", &["read:data:*"])?;
/// let c = app.create_agent("orch", "c", &["read:data:*"])?;
/// let to_b = a.delegate(&b.agent_id(), &["read:data:reports"], Some(60))?;
/// let to_c = to_b.delegate(&c.agent_id(), &["read:data:reports"], None)?;
/// assert_eq!(to_c.delegation_chain.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DelegatedToken {
    app: App,
    token: agentwrit_core::DelegatedToken,
}

impl Deref for DelegatedToken {
    type Target = agentwrit_core::DelegatedToken;
    fn deref(&self) -> &Self::Target {
        &self.token
    }
}

impl DelegatedToken {
    fn drive(app: App, flow: agentwrit_core::Delegate) -> Result<DelegatedToken, Error> {
        let token = app.transport.drive(flow)?;
        Ok(DelegatedToken { app, token })
    }

    /// Delegates onwards from this token.
    ///
    /// # Errors
    ///
    /// As [`Agent::delegate`]; 403 beyond five hops.
    pub fn delegate<S: AsRef<str>>(
        &self,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<i64>,
    ) -> Result<DelegatedToken, Error> {
        let flow = self
            .token
            .delegate_flow(&self.app.transport.config, delegate_to, scope, ttl)?;
        Self::drive(self.app.clone(), flow)
    }

    /// Releases this token (a 401 counts as already dead).
    ///
    /// # Errors
    ///
    /// A broker failure other than 401, or a transport failure.
    pub fn release(&self) -> Result<ReleaseOutcome, Error> {
        let flow = self.token.release_flow(&self.app.transport.config)?;
        self.app.transport.drive(flow)
    }
}
