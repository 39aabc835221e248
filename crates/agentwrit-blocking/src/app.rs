//! `App`: the client an app uses to create agents.

use agentwrit_core::wire::{
    BearerToken, ClientSecret, HealthResponse, LaunchTokenRequest, LaunchTokenResponse,
};
use agentwrit_core::{AgentOptions, AppCore, Error, SharedAgent, Validation};

use crate::agent::Agent;
use crate::broker::Broker;

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
/// # let (url, client_id, client_secret) = (broker.url(), reg.client_id.as_str(), &reg.client_secret);
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
    broker: Broker,
}

impl App {
    /// The app `client_id` at `broker_url`, on a [`Broker`] of its own
    /// with the default settings. Sends nothing yet. For other settings,
    /// or to share one connection pool with an operator or a validator,
    /// build a [`Broker`] and call [`Broker::app`].
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// assert_eq!(app.health()?.status, "ok");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Broker::new`] and [`Broker::app`].
    pub fn new(
        broker_url: &str,
        client_id: &str,
        client_secret: impl Into<ClientSecret>,
    ) -> Result<App, Error> {
        Broker::new(broker_url)?.app(client_id, client_secret)
    }

    /// The app named by `AGENTWRIT_BROKER_URL`, `AGENTWRIT_CLIENT_ID` and
    /// `AGENTWRIT_CLIENT_SECRET`, with the TLS settings of
    /// `AGENTWRIT_CA_FILE` (extra roots, PEM) and `AGENTWRIT_CLIENT_CERT` +
    /// `AGENTWRIT_CLIENT_KEY` (mutual-TLS identity, PEM), when set:
    /// [`Broker::from_env`], then [`Broker::app_from_env`].
    ///
    /// ```
    /// use agentwrit_blocking::App;
    ///
    /// match App::from_env() {
    ///     Ok(app) => println!("app {} at {}", app.client_id(), app.broker_url()),
    ///     Err(error) => eprintln!("not configured: {error}"),
    /// }
    /// # if std::env::var_os("AGENTWRIT_BROKER_URL").is_none() {
    /// #     assert!(App::from_env().unwrap_err().to_string().contains("AGENTWRIT_BROKER_URL"));
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the first variable unset or empty, or
    /// a TLS file that cannot be read.
    pub fn from_env() -> Result<App, Error> {
        Broker::from_env()?.app_from_env()
    }

    /// The app on `broker` (what [`Broker::app`] returns).
    pub(crate) fn on(
        broker: Broker,
        client_id: &str,
        client_secret: ClientSecret,
    ) -> Result<App, Error> {
        let config = broker.transport().config.clone();
        let core = AppCore::new(config, client_id, client_secret)?;
        Ok(App { core, broker })
    }

    /// The broker this app talks to: its connection pool and settings,
    /// shared with the operators and validators made from it.
    ///
    /// ```
    /// let app = agentwrit_blocking::App::new("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")?;
    /// let broker = app.broker(); // validate, or make an operator, on the app's pool
    /// # let _ = broker;
    /// # Ok::<(), agentwrit_blocking::Error>(())
    /// ```
    #[must_use]
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The broker's base URL, normalised (as `app.broker().url()`).
    ///
    /// ```
    /// let app = agentwrit_blocking::App::new("http://127.0.0.1:8080/", "cm-37a7c9c10885", "4ca1b208")?;
    /// assert_eq!(app.broker_url(), "http://127.0.0.1:8080");
    /// # Ok::<(), agentwrit_blocking::Error>(())
    /// ```
    #[must_use]
    pub fn broker_url(&self) -> &str {
        self.broker.url()
    }

    /// The app's client id.
    ///
    /// ```
    /// let app = agentwrit_blocking::App::new("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")?;
    /// assert_eq!(app.client_id(), "cm-37a7c9c10885");
    /// # Ok::<(), agentwrit_blocking::Error>(())
    /// ```
    #[must_use]
    pub fn client_id(&self) -> &str {
        self.core.client_id()
    }

    /// The sans-IO core of this app (its configuration and the session
    /// its clones share), for driving core flows by hand.
    #[doc(hidden)]
    #[must_use]
    pub fn sansio(&self) -> &AppCore {
        &self.core
    }

    /// Creates an agent for `task_id` of `orch_id`, holding `scope`
    /// (within the app's ceiling), with a fresh Ed25519 key and a 300 s
    /// token.
    ///
    /// The call runs to its end on this thread (nothing can cancel it
    /// halfway), so the agent always reaches the caller. A registration
    /// that timed out after it was sent is reported as
    /// [`Error::Transport`] and is not retried: it may have created an
    /// agent whose token never arrived, which then expires at the end of
    /// its TTL.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use agentwrit_blocking::Error;
    ///
    /// let agent = app.create_agent("order-worker", "ord-4823", &["read:data:customer-7291"])?;
    /// assert_eq!(agent.scope(), ["read:data:customer-7291"]); // read from the issued token
    /// agent.release()?;
    ///
    /// // Beyond the app's ceiling: the broker refuses.
    /// match app.create_agent("order-worker", "ord-4823", &["delete:data:*"]) {
    ///     Err(Error::Authorization { problem, .. }) => assert_eq!(problem.status, 403),
    ///     other => panic!("expected a 403, got {other:?}"),
    /// }
    /// // A malformed scope: refused before anything is sent.
    /// let err = app.create_agent("order-worker", "ord-4823", &["read:data:"]).unwrap_err();
    /// assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "scope[0]"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] before anything is sent for an empty id or
    /// a bad scope; the broker's rejection (e.g. [`Error::Authorization`]
    /// for a scope beyond the ceiling) or a transport failure.
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
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use std::time::Duration;
    /// use agentwrit_blocking::AgentOptions;
    ///
    /// let options = AgentOptions::new().with_label("nightly-report").with_max_ttl(Duration::from_secs(600));
    /// let agent = app.create_agent_with("reports", "nightly", &["write:reports:*"], options)?;
    /// assert_eq!(agent.expires_in(), Duration::from_secs(600));
    /// agent.release()?;
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
        let mut rng = rand_core::OsRng;
        let flow = self
            .core
            .create_agent(orch_id, task_id, scope, &options, &mut rng)?;
        let credentials = self.broker.drive(flow)?;
        let agent = Agent::new(
            self.broker.transport().clone(),
            SharedAgent::new(credentials),
        );
        if options.auto_renew() {
            agent.start_auto_renewal();
        }
        Ok(agent)
    }

    /// Runs `work` with a new agent, then ends the task on every path
    /// (success, error, early return, panic): the tokens the agent
    /// delegated are released, then the agent
    /// ([`Agent::release_task`]).
    ///
    /// After `work` returns (`Ok` or `Err`) the release is sent here and
    /// its outcome reported. If `work` panics, the guard holding the agent
    /// is dropped while the stack unwinds and its `Drop` sends the release
    /// on this thread before the panic carries on; a failed release there
    /// is logged (`tracing`, warn) and the token expires at the end of its
    /// TTL. With `panic = "abort"` nothing runs after a panic, so the
    /// token simply expires.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let token = app.with_agent("orch-1", "task-1", &["read:data:*"], |agent| {
    ///     assert!(agent.allows(&["read:data:customer-7291"]));
    ///     Ok::<_, agentwrit_blocking::Error>(agent.access_token())
    /// })?;
    /// assert!(!app.validate(&token)?.is_valid()); // released
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
        agentwrit_core::task_result(result, guard.release_task())
    }

    /// Mints a launch token (for an agent registered by other means, e.g.
    /// another SDK or host).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use agentwrit_blocking::wire::LaunchTokenRequest;
    ///
    /// let request = LaunchTokenRequest::new("py-worker", vec!["read:data:*".into()]).with_max_ttl(std::time::Duration::from_secs(120));
    /// let minted = app.launch_token(request)?;
    /// assert_eq!(minted.launch_token.expose_secret().len(), 64);
    /// assert_eq!(minted.policy.max_ttl, 120);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn launch_token(&self, request: LaunchTokenRequest) -> Result<LaunchTokenResponse, Error> {
        self.broker.drive(self.core.launch_token(request)?)
    }

    /// Validates `token` at the broker. An invalid token is
    /// `Ok(Validation::Invalid { .. })`, not an error.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
    /// let validation = app.validate(&agent.access_token())?;
    /// assert!(validation.allows(&["read:data:customer-7291"]));
    /// assert!(!validation.allows(&["read:data:customer-9999"]));
    ///
    /// agent.release()?;
    /// let after = app.validate(&agent.access_token())?;
    /// assert_eq!(after.error(), Some("token is invalid or expired"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An empty token, a broker failure or a transport failure.
    pub fn validate<T: BearerToken + ?Sized>(&self, token: &T) -> Result<Validation, Error> {
        self.broker.validate(token)
    }

    /// The broker's health.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let health = app.health()?;
    /// assert_eq!(health.status, "ok");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A broker failure or a transport failure.
    pub fn health(&self) -> Result<HealthResponse, Error> {
        self.broker.health()
    }
}
