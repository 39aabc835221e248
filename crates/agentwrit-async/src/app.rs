//! `App` and its builder: the client an app uses to create agents.

use std::sync::Arc;
use std::time::Duration;

use agentwrit_core::wire::{
    BearerToken, ClientSecret, HealthResponse, LaunchTokenRequest, LaunchTokenResponse,
};
use agentwrit_core::{
    AgentOptions, AppCore, ClientSettings, Clock, Error, RetryPolicy, SharedAgent, Validation,
    app_settings_from, tls_settings_from,
};

use crate::agent::Agent;
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
/// # let (url, client_id, client_secret) = (broker.url(), reg.client_id.as_str(), &reg.client_secret);
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
/// retry policy, body limit, your own `reqwest::Client`.
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
#[derive(Debug)]
#[must_use = "call build() to get the app"]
pub struct AppBuilder {
    settings: ClientSettings,
    client_id: String,
    client_secret: ClientSecret,
    http_client: Option<reqwest::Client>,
}

impl AppBuilder {
    /// Overall timeout of one request (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let built = agentwrit_async::App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
    ///     .timeout(Duration::from_secs(3))
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.timeout(timeout);
        self
    }

    /// Connect timeout (default 5 s, at most the overall timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let built = agentwrit_async::App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
    ///     .connect_timeout(Duration::from_millis(500))
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.connect_timeout(timeout);
        self
    }

    /// The `User-Agent` header (default `agentwrit-rs/<version>`).
    ///
    /// ```
    /// let built = agentwrit_async::App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
    ///     .user_agent("billing-worker/1.4")
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.settings = self.settings.user_agent(user_agent);
        self
    }

    /// Which calls are retried, how often, after what backoff.
    ///
    /// ```
    /// use agentwrit_async::RetryPolicy;
    /// let built = agentwrit_async::App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
    ///     .retry(RetryPolicy::default().with_max_attempts(5))
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.settings = self.settings.retry(policy);
        self
    }

    /// The largest response body accepted (default 1 MiB).
    ///
    /// ```
    /// let built = agentwrit_async::App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
    ///     .max_response_bytes(256 * 1024)
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.settings = self.settings.max_response_bytes(bytes);
        self
    }

    /// Trusts the CA certificate(s) in `pem` (one or more PEM `CERTIFICATE`
    /// blocks) besides the built-in roots: for a broker behind a private
    /// CA. May be called again to add more. Checked by `build()`.
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// # let ca_pem = pki.ca_pem().as_bytes();
    /// let builder = agentwrit_async::App::builder("https://broker.example", "cm-37a7c9c10885", "4ca1b208")
    ///     .add_root_certificate_pem(ca_pem);
    /// # builder.build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.settings = self.settings.add_root_certificate_pem(pem);
        self
    }

    /// Whether the built-in roots are trusted (default `true`: Mozilla's
    /// roots bundled in the binary, or the OS store with the `native-roots`
    /// feature). With `false` only the roots added with
    /// `add_root_certificate_pem` are.
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// // Trust only the private CA, not the bundled public roots.
    /// let built = agentwrit_async::App::builder("https://127.0.0.1:8443", "cm-37a7c9c10885", "4ca1b208")
    ///     .tls_built_in_roots(false)
    ///     .add_root_certificate_pem(pki.ca_pem().as_bytes())
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_built_in_roots(mut self, enabled: bool) -> Self {
        self.settings = self.settings.tls_built_in_roots(enabled);
        self
    }

    /// The client certificate chain and private key (both PEM; the key
    /// PKCS#8, PKCS#1 or SEC1) presented to a broker that requires mutual
    /// TLS. The key is never shown in `Debug` or errors. Checked by
    /// `build()` (a key that does not fit the certificate is
    /// [`Error::InvalidInput`]).
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// # let (ca_pem, cert_pem, key_pem) = (pki.ca_pem().as_bytes(), pki.client().cert_pem().as_bytes(), pki.client().key_pem().as_bytes());
    /// let builder = agentwrit_async::App::builder("https://broker.example", "cm-37a7c9c10885", "4ca1b208")
    ///     .add_root_certificate_pem(ca_pem)
    ///     .identity_pem(cert_pem, key_pem);
    /// assert!(!format!("{builder:?}").contains("PRIVATE KEY"));
    /// # builder.build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn identity_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.settings = self.settings.identity_pem(cert_chain_pem, key_pem);
        self
    }

    /// Refuse a plain `http://` broker URL (default `false`): `build()`
    /// then fails with [`Error::InvalidInput`] for one. (Without it, an
    /// `http://` URL to a host that is not loopback logs one warning per
    /// client built: tokens would travel in clear.)
    ///
    /// ```
    /// let err = agentwrit_async::App::builder("http://broker.example", "cm-37a7c9c10885", "4ca1b208")
    ///     .https_only(true)
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("https_only"));
    /// ```
    pub fn https_only(mut self, enabled: bool) -> Self {
        self.settings = self.settings.https_only(enabled);
        self
    }

    /// Your own `reqwest::Client` (a proxy, say). The builder's overall
    /// timeout is set on every request; the client's connect timeout,
    /// redirect policy (build it with `redirect(Policy::none())`) and TLS
    /// are its own. Together with `add_root_certificate_pem`,
    /// `tls_built_in_roots` or `identity_pem` it is refused by `build()`
    /// ([`Error::InvalidInput`], field `http_client`): configure TLS on
    /// the client. See docs/tls.md, "Your own HTTP client".
    ///
    /// ```
    /// let built = agentwrit_async::App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
    ///     .http_client(reqwest::Client::new())
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Where the SDK reads the time. For tests: expiry and re-login
    /// decisions follow this clock.
    #[doc(hidden)]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings = self.settings.clock(clock);
        self
    }

    /// The app. Sends nothing: it logs in on first use.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad URL, an empty id or secret, or a
    /// user agent that is not a header value.
    ///
    /// ```
    /// let built = agentwrit_async::App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<App, Error> {
        let transport = Transport::new(&self.settings, self.http_client)?;
        let core = AppCore::new(transport.config.clone(), self.client_id, self.client_secret)?;
        Ok(App { core, transport })
    }
}

impl App {
    /// The app `client_id` at `broker_url`, with default settings. Sends
    /// nothing yet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// assert_eq!(app.health().await?.status, "ok");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AppBuilder::build`].
    pub fn new(
        broker_url: &str,
        client_id: &str,
        client_secret: impl Into<ClientSecret>,
    ) -> Result<App, Error> {
        Self::builder(broker_url, client_id, client_secret).build()
    }

    /// The app named by `AGENTWRIT_BROKER_URL`, `AGENTWRIT_CLIENT_ID` and
    /// `AGENTWRIT_CLIENT_SECRET`, with the TLS settings of
    /// `AGENTWRIT_CA_FILE` (extra roots, PEM) and `AGENTWRIT_CLIENT_CERT` +
    /// `AGENTWRIT_CLIENT_KEY` (mutual-TLS identity, PEM), when set.
    ///
    /// ```
    /// use agentwrit_async::App;
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
        let env = |k: &str| std::env::var(k).ok();
        let (url, id, secret) = app_settings_from(env)?;
        let mut builder = Self::builder(url.as_str(), &id, secret);
        builder.settings = tls_settings_from(builder.settings, env)?;
        builder.build()
    }

    /// A builder for the app `client_id` at `broker_url`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// use std::time::Duration;
    /// use agentwrit_async::{App, RetryPolicy};
    ///
    /// let app = App::builder(broker.url(), &reg.client_id, &reg.client_secret)
    ///     .timeout(Duration::from_secs(3))
    ///     .retry(RetryPolicy::default().with_max_attempts(5))
    ///     .build()?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// agent.release().await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(
        broker_url: &str,
        client_id: &str,
        client_secret: impl Into<ClientSecret>,
    ) -> AppBuilder {
        AppBuilder {
            settings: ClientSettings::new(broker_url),
            client_id: client_id.to_owned(),
            client_secret: client_secret.into(),
            http_client: None,
        }
    }

    /// The broker's base URL, normalised.
    ///
    /// ```
    /// let app = agentwrit_async::App::new("http://127.0.0.1:8080/", "cm-37a7c9c10885", "4ca1b208")?;
    /// assert_eq!(app.broker_url(), "http://127.0.0.1:8080");
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    #[must_use]
    pub fn broker_url(&self) -> &str {
        self.transport.config.broker().as_str()
    }

    /// The app's client id.
    ///
    /// ```
    /// let app = agentwrit_async::App::new("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")?;
    /// assert_eq!(app.client_id(), "cm-37a7c9c10885");
    /// # Ok::<(), agentwrit_async::Error>(())
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
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use agentwrit_async::Error;
    ///
    /// let agent = app.create_agent("order-worker", "ord-4823", &["read:data:customer-7291"]).await?;
    /// assert_eq!(agent.scope(), ["read:data:customer-7291"]); // read from the issued token
    /// agent.release().await?;
    ///
    /// // Beyond the app's ceiling: the broker refuses.
    /// match app.create_agent("order-worker", "ord-4823", &["delete:data:*"]).await {
    ///     Err(Error::Authorization { problem, .. }) => assert_eq!(problem.status, 403),
    ///     other => panic!("expected a 403, got {other:?}"),
    /// }
    /// // A malformed scope: refused before anything is sent.
    /// let err = app.create_agent("order-worker", "ord-4823", &["read:data:"]).await.unwrap_err();
    /// assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "scope[0]"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] before anything is sent for an empty id or
    /// a bad scope; the broker's rejection (e.g. [`Error::Authorization`]
    /// for a scope beyond the ceiling) or a transport failure.
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
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use std::time::Duration;
    /// use agentwrit_async::AgentOptions;
    ///
    /// let options = AgentOptions::new().label("nightly-report").max_ttl(Duration::from_secs(600));
    /// let agent = app.create_agent_with("reports", "nightly", &["write:reports:*"], options).await?;
    /// assert_eq!(agent.expires_in(), Duration::from_secs(600));
    /// agent.release().await?;
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
        let mut rng = rand_core::OsRng;
        let flow = self
            .core
            .create_agent(orch_id, task_id, scope, &options, &mut rng)?;
        let credentials = self.transport.drive(flow).await?;
        let agent = Agent::new(self.transport.clone(), SharedAgent::new(credentials));
        if options.get_auto_renew() {
            agent.start_auto_renewal();
        }
        Ok(agent)
    }

    /// Runs `work` with a new agent, then ends the task on every path
    /// (success, error, early return, panic, cancellation): the tokens the
    /// agent delegated are released, then the agent
    /// ([`Agent::release_task`]). `work` is an async closure that
    /// borrows the agent, as in the blocking crate.
    ///
    /// After `work` finishes (`Ok` or `Err`) the release is awaited here
    /// and its outcome reported. If `work` panics, or the returned future
    /// is dropped before it finishes (`tokio::select!`, a timeout, an
    /// aborted task, a runtime shutting down), the guard inside is dropped
    /// and ends the task before the drop returns, on the SDK's own
    /// releaser thread (see [`AgentGuard`](crate::AgentGuard)'s `Drop`:
    /// it does not depend on the current runtime, and blocks the dropping
    /// thread for at most the request timeout per token).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let token = app
    ///     .with_agent("orch-1", "task-1", &["read:data:*"], async |agent| {
    ///         assert!(agent.allows(&["read:data:customer-7291"]));
    ///         agent.renew().await?; // the agent is borrowed: call anything on it
    ///         Ok::<_, agentwrit_async::Error>(agent.access_token())
    ///     })
    ///     .await?;
    /// assert!(!app.validate(&token).await?.is_valid()); // released
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `work`'s error, or creating the agent failed. A failed release
    /// after success is returned too; after `work` failed, `work`'s error
    /// wins.
    pub async fn with_agent<S, T, E>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
        work: impl AsyncFnOnce(&Agent) -> Result<T, E>,
    ) -> Result<T, E>
    where
        S: AsRef<str>,
        E: From<Error>,
    {
        let guard = self
            .create_agent(orch_id, task_id, scope)
            .await?
            .release_on_drop();
        let result = work(&guard).await;
        let released = guard.release_task().await;
        let output = result?;
        released?;
        Ok(output)
    }

    /// Mints a launch token (for an agent registered by other means, e.g.
    /// another SDK or host).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use agentwrit_async::wire::LaunchTokenRequest;
    ///
    /// let request = LaunchTokenRequest::new("py-worker", vec!["read:data:*".into()]).with_max_ttl(std::time::Duration::from_secs(120));
    /// let minted = app.launch_token(request).await?;
    /// assert_eq!(minted.launch_token.expose_secret().len(), 64);
    /// assert_eq!(minted.policy.max_ttl, 120);
    /// # Ok(()) }
    /// ```
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
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
    /// let validation = app.validate(&agent.access_token()).await?;
    /// assert!(validation.allows(&["read:data:customer-7291"]));
    /// assert!(!validation.allows(&["read:data:customer-9999"]));
    ///
    /// agent.release().await?;
    /// let after = app.validate(&agent.access_token()).await?;
    /// assert_eq!(after.error(), Some("token is invalid or expired"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An empty token, a broker failure or a transport failure.
    pub async fn validate<T: BearerToken + ?Sized>(&self, token: &T) -> Result<Validation, Error> {
        self.transport.drive(self.core.validate(token)?).await
    }

    /// The broker's health.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let health = app.health().await?;
    /// assert_eq!(health.status, "ok");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A broker failure or a transport failure.
    pub async fn health(&self) -> Result<HealthResponse, Error> {
        self.transport.drive(self.core.health()).await
    }
}
