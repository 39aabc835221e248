//! `App`, `Agent` and `DelegatedToken`: thin async handles over the core flows.

use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use agentwrit_core::wire::{
    AccessToken, ClientSecret, HealthResponse, LaunchTokenRequest, LaunchTokenResponse,
};
use agentwrit_core::{
    AgentOptions, AppCore, ClientBuilder, FromParts, Parts, ReleaseOutcome, SharedAgent, Validation,
};
use rand_core::OsRng;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

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
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let (url, client_id, client_secret) = (broker.url(), reg.client_id.as_str(), reg.client_secret.expose_secret());
/// use agentwrit_async::App;
///
/// let app = App::new(url, client_id, client_secret)?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
/// assert_eq!(agent.scope(), ["read:data:customer-7291"]);
/// agent.release().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct App {
    core: AppCore,
    transport: Transport,
}

/// Builds an [`App`] with non-default settings: timeouts, user agent,
/// retry policy, your own `reqwest::Client`, a clock.
///
/// ```
/// use std::time::Duration;
/// use agentwrit_async::{App, RetryPolicy};
///
/// let app = App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
///     .timeout(Duration::from_secs(3))
///     .user_agent("billing-worker/1.4")
///     .retry(RetryPolicy::none())
///     .build()?;
/// assert_eq!(app.client_id(), "cm-37a7c9c10885");
/// # Ok::<(), agentwrit_async::Error>(())
/// ```
pub type AppBuilder = ClientBuilder<App, reqwest::Client>;

impl FromParts<reqwest::Client> for App {
    type Core = AppCore;
    fn from_parts(parts: Parts<AppCore, reqwest::Client>) -> Result<App, Error> {
        let transport = Transport::new(parts.core.config().clone(), &parts)?;
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
    pub async fn create_agent<S: AsRef<str>>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
    ) -> Result<Agent, Error> {
        self.create_agent_with(orch_id, task_id, scope, AgentOptions::new())
            .await
    }

    /// [`App::create_agent`] with options: your own key, a TTL, a label,
    /// auto-renewal.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
    /// use agentwrit_async::AgentOptions;
    /// let agent = app.create_agent_with("orch-1", "nightly", &["read:analytics:*"],
    ///     AgentOptions::new().max_ttl(600).label("nightly-report")).await?;
    /// assert_eq!(agent.claims().exp - agent.claims().iat, 600);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`App::create_agent`].
    pub async fn create_agent_with<S: AsRef<str>>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
        options: AgentOptions,
    ) -> Result<Agent, Error> {
        let flow = self
            .core
            .create_agent(orch_id, task_id, scope, &options, &mut OsRng)?;
        let agent = Agent::new(
            self.clone(),
            SharedAgent::new(self.transport.drive(flow).await?),
        );
        if options.get_auto_renew() {
            agent.start_auto_renewal();
        }
        Ok(agent)
    }

    /// Runs `work` with a new agent and releases the agent afterwards:
    /// after success, error and early return the release is awaited here.
    ///
    /// If `work` panics, or the returned future is dropped before it
    /// finishes (cancelled: `tokio::select!`, a timeout, an aborted task),
    /// the guard inside is dropped and spawns the release on the current
    /// tokio runtime; it runs unless the runtime is shutting down, in
    /// which case the token simply expires at the end of its TTL.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
    /// let token = app
    ///     .with_agent("orch-1", "task-1", &["read:data:*"], |agent| async move {
    ///         Ok::<_, agentwrit_async::Error>(agent.access_token())
    ///     })
    ///     .await?;
    /// assert!(!app.validate(token.expose_secret()).await?.is_valid()); // released
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `work`'s error, or creating the agent failed. A failed release
    /// after success is returned too; after `work` failed, `work`'s error
    /// wins.
    pub async fn with_agent<S, T, E, F, Fut>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
        work: F,
    ) -> Result<T, E>
    where
        S: AsRef<str>,
        E: From<Error>,
        F: FnOnce(Agent) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let guard = self
            .create_agent(orch_id, task_id, scope)
            .await?
            .release_on_drop();
        let result = work(guard.agent.clone()).await;
        let released = guard.release().await;
        let output = result?;
        released?;
        Ok(output)
    }

    /// Mints a launch token (for an agent registered by other means).
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub async fn launch_token(
        &self,
        request: LaunchTokenRequest,
    ) -> Result<LaunchTokenResponse, Error> {
        self.transport.drive(self.core.launch_token(request)?).await
    }

    /// Validates `token` at the broker. An invalid token is
    /// `Ok(Validation::Invalid { .. })`, not an error.
    ///
    /// # Errors
    ///
    /// An empty token, a broker failure or a transport failure.
    pub async fn validate(&self, token: &str) -> Result<Validation, Error> {
        self.transport
            .drive(self.core.validate(&AccessToken::new(token))?)
            .await
    }

    /// The broker's health.
    ///
    /// # Errors
    ///
    /// A broker failure or a transport failure.
    pub async fn health(&self) -> Result<HealthResponse, Error> {
        self.transport.drive(self.core.health()).await
    }
}

// ------------------------------------------------------------------ agent --

struct Renewer {
    wake: Arc<Notify>,
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
            r.wake.notify_one();
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
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
/// assert!(agent.agent_id().starts_with("spiffe://"));
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
    pub async fn renew(&self) -> Result<(), Error> {
        self.transport()
            .drive(self.inner.shared.renew_flow(&self.transport().config)?)
            .await
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
    pub async fn release(&self) -> Result<ReleaseOutcome, Error> {
        let outcome = self
            .transport()
            .drive(self.inner.shared.release_flow(&self.transport().config))
            .await;
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
    pub async fn delegate<S: AsRef<str>>(
        &self,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<i64>,
    ) -> Result<DelegatedToken, Error> {
        let flow =
            self.inner
                .shared
                .delegate_flow(&self.transport().config, delegate_to, scope, ttl)?;
        DelegatedToken::drive(self.inner.app.clone(), flow).await
    }

    /// Renews the token in a background task at 80 % of each lifetime
    /// until the agent is released or its last clone dropped. Calling it
    /// again while it runs does nothing. Needs a tokio runtime; without
    /// one, nothing starts.
    pub fn start_auto_renewal(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("auto-renewal needs a tokio runtime; not started");
            return;
        };
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
        let wake = Arc::new(Notify::new());
        let waker = Arc::clone(&wake);
        let handle = runtime.spawn(async move { transport.drive_waking(flow, Some(&waker)).await });
        *slot = Some(Renewer { wake, handle });
    }

    /// Stops auto-renewal and returns how many renewals it made, or the
    /// error that stopped it. `None` when it was not running. A renewal
    /// in flight completes (and is installed) first.
    pub async fn stop_auto_renewal(&self) -> Option<Result<u64, Error>> {
        self.inner.shared.stop_auto_renewal();
        let renewer = self
            .inner
            .renewer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        renewer.wake.notify_one();
        Some(renewer.handle.await.unwrap_or_else(|_| {
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
            r.wake.notify_one();
        }
    }

    /// A guard that releases the agent when dropped (also during a
    /// panic or cancellation) by spawning the release on the current tokio
    /// runtime; call [`AgentGuard::release`] to await it and see errors.
    pub fn release_on_drop(self) -> AgentGuard {
        AgentGuard { agent: self }
    }
}

/// Releases its agent when dropped. Derefs to [`Agent`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?.release_on_drop();
/// let token = agent.access_token();
/// // ... if this code panics or is cancelled, dropping `agent` spawns the release ...
/// agent.release().await?; // the normal path: release and see the outcome
/// assert!(!app.validate(token.expose_secret()).await?.is_valid());
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard releases the agent"]
pub struct AgentGuard {
    agent: Agent,
}

impl AgentGuard {
    /// Releases now and reports the outcome.
    ///
    /// # Errors
    ///
    /// As [`Agent::release`].
    pub async fn release(&self) -> Result<ReleaseOutcome, Error> {
        self.agent.release().await
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
        if self.agent.is_released() {
            return;
        }
        let agent = self.agent.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = agent.release().await {
                        tracing::warn!(%error, "releasing the agent on drop failed; its token expires by itself");
                    }
                });
            }
            Err(_) => tracing::warn!(
                "agent guard dropped outside a tokio runtime; its token expires by itself"
            ),
        }
    }
}

// --------------------------------------------------------------- delegate --

/// A token delegated to another agent; it can delegate further (A → B →
/// C) and be released.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
/// let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
/// let c = app.create_agent("orch", "c", &["read:data:*"]).await?;
/// let to_b = a.delegate(&b.agent_id(), &["read:data:reports"], Some(60)).await?;
/// let to_c = to_b.delegate(&c.agent_id(), &["read:data:reports"], None).await?;
/// assert_eq!(to_c.delegation_chain.len(), 2);
/// # Ok(()) }
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
    async fn drive(app: App, flow: agentwrit_core::Delegate) -> Result<DelegatedToken, Error> {
        let token = app.transport.drive(flow).await?;
        Ok(DelegatedToken { app, token })
    }

    /// Delegates onwards from this token.
    ///
    /// # Errors
    ///
    /// As [`Agent::delegate`]; 403 beyond five hops.
    pub async fn delegate<S: AsRef<str>>(
        &self,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<i64>,
    ) -> Result<DelegatedToken, Error> {
        let flow = self
            .token
            .delegate_flow(&self.app.transport.config, delegate_to, scope, ttl)?;
        Self::drive(self.app.clone(), flow).await
    }

    /// Releases this token (a 401 counts as already dead).
    ///
    /// # Errors
    ///
    /// A broker failure other than 401, or a transport failure.
    pub async fn release(&self) -> Result<ReleaseOutcome, Error> {
        let flow = self.token.release_flow(&self.app.transport.config)?;
        self.app.transport.drive(flow).await
    }
}
