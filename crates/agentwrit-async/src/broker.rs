//! `Broker` and its builder: the one connection to a broker (URL, HTTP
//! client and its pool, TLS policy, settings) that apps, operators and
//! validators share.

use std::sync::Arc;
use std::time::Duration;

use agentwrit_core::wire::{
    AccessToken, AdminSecret, BearerToken, ClientSecret, HealthResponse, LaunchToken,
};
use agentwrit_core::{
    AgentKey, ClientSettings, Clock, CreateAgent, CreateAgentRequest, Error, Flow, Health, Release,
    ReleaseOutcome, RetryPolicy, SharedAgent, Validate, Validation, admin_secret_from,
    app_credentials_from, broker_settings_from,
};

use crate::agent::Agent;
use crate::app::App;
use crate::operator::Operator;
use crate::transport::Transport;
#[allow(deprecated)]
use crate::validate::Validator;

/// The connection to one broker: its URL, one `reqwest::Client` (one pool of
/// connections, one TLS configuration) and the settings every request
/// follows. Build it once per process, make the [`App`] and the
/// [`Operator`] from it, and validate tokens on it
/// ([`Broker::validate`]): they then share its pool, so a program that is
/// all three opens the connections of one client, not three.
///
/// Cheap to clone (an `Arc` inside), `Send + Sync`; clones share the
/// pool. `App::new` and `Operator::new` build one each, for a program
/// that needs only one of them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = devbroker.register_universal_app()?;
/// # let (url, client_id, client_secret, admin_secret) = (devbroker.url(), reg.client_id.as_str(), &reg.client_secret, devbroker.admin_secret());
/// use std::time::Duration;
/// use agentwrit_async::Broker;
///
/// let broker = Broker::builder(url).timeout(Duration::from_secs(5)).build()?; // or Broker::from_env()
/// let app = broker.app(client_id, client_secret)?;
/// let operator = broker.operator(admin_secret)?;
///
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
/// assert!(broker.validate(&agent.access_token()).await?.is_valid()); // as a validating service would
/// assert_eq!(operator.list_apps().await?.len(), 1);
/// agent.release().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Broker {
    inner: Arc<Transport>,
}

/// Builds a [`Broker`] with non-default settings: timeouts, user agent,
/// retry policy, body limit, TLS (a private CA, a client identity for a
/// mutual-TLS broker, `https_only`), or your own `reqwest::Client`. Every
/// app, operator and validator made from the broker follows them.
///
/// ```
/// use std::time::Duration;
/// use agentwrit_async::{Broker, RetryPolicy};
///
/// let broker = Broker::builder("http://127.0.0.1:8080")
///     .timeout(Duration::from_secs(3))
///     .user_agent("billing-worker/1.4")
///     .retry(RetryPolicy::none())
///     .build()?; // sends nothing yet
/// assert_eq!(broker.url(), "http://127.0.0.1:8080");
/// # Ok::<(), agentwrit_async::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "call build() to get the broker"]
pub struct BrokerBuilder {
    settings: ClientSettings,
    http_client: Option<reqwest::Client>,
}

impl BrokerBuilder {
    /// The most one call to the broker may take, from its first attempt
    /// to its last: its retries and the waits between them are included,
    /// and each attempt gets what is left (default 10 s). Against a broker
    /// that accepts and never answers, a call gives up after about this
    /// long, not once per attempt. A method that makes several requests
    /// (`create_agent`: login, launch token, challenge, register) gives
    /// each its own.
    ///
    /// ```
    /// use std::time::Duration;
    /// let broker = agentwrit_async::Broker::builder("http://127.0.0.1:8080")
    ///     .timeout(Duration::from_secs(3))
    ///     .build()?; // sends nothing yet
    /// # let _ = broker;
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.with_timeout(timeout);
        self
    }

    /// The most one attempt's connection may take (default 5 s, at most
    /// the [`timeout`](BrokerBuilder::timeout)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let broker = agentwrit_async::Broker::builder("http://127.0.0.1:8080")
    ///     .connect_timeout(Duration::from_millis(500))
    ///     .build()?; // sends nothing yet
    /// # let _ = broker;
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.with_connect_timeout(timeout);
        self
    }

    /// The `User-Agent` header (default `agentwrit-rs/<version>`).
    /// Checked by `build()`.
    ///
    /// ```
    /// let broker = agentwrit_async::Broker::builder("http://127.0.0.1:8080")
    ///     .user_agent("billing-worker/1.4")
    ///     .build()?; // sends nothing yet
    /// # let _ = broker;
    /// let refused = agentwrit_async::Broker::builder("http://127.0.0.1:8080")
    ///     .user_agent("two\nlines")
    ///     .build();
    /// assert!(matches!(refused, Err(agentwrit_async::Error::InvalidInput { .. })));
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.settings = self.settings.with_user_agent(user_agent);
        self
    }

    /// Which calls are retried, how often, after what backoff.
    ///
    /// ```
    /// use agentwrit_async::RetryPolicy;
    /// let broker = agentwrit_async::Broker::builder("http://127.0.0.1:8080")
    ///     .retry(RetryPolicy::default().with_max_attempts(5))
    ///     .build()?; // sends nothing yet
    /// # let _ = broker;
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.settings = self.settings.with_retry(policy);
        self
    }

    /// The largest response body accepted (default 1 MiB).
    ///
    /// ```
    /// let broker = agentwrit_async::Broker::builder("http://127.0.0.1:8080")
    ///     .max_response_bytes(256 * 1024)
    ///     .build()?; // sends nothing yet
    /// # let _ = broker;
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.settings = self.settings.with_max_response_bytes(bytes);
        self
    }

    /// Trusts the CA certificate(s) in `pem` (one or more PEM `CERTIFICATE`
    /// blocks) besides the built-in roots: for a broker behind a private
    /// CA. May be called again to add more. Checked by `build()`.
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// let ca_pem = pki.ca_pem(); // e.g. std::fs::read("/etc/agentwrit/ca.pem")?
    /// let broker = agentwrit_async::Broker::builder("https://broker.example")
    ///     .add_root_certificate_pem(ca_pem.as_bytes())
    ///     .build()?; // sends nothing yet
    /// # let _ = broker;
    /// let refused = agentwrit_async::Broker::builder("https://broker.example")
    ///     .add_root_certificate_pem(b"not a certificate")
    ///     .build();
    /// assert!(matches!(refused, Err(agentwrit_async::Error::InvalidInput { .. })));
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
    /// let broker = agentwrit_async::Broker::builder("https://127.0.0.1:8443")
    ///     .tls_built_in_roots(false)
    ///     .add_root_certificate_pem(pki.ca_pem().as_bytes())
    ///     .build()?; // sends nothing yet
    /// # let _ = broker;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_built_in_roots(mut self, enabled: bool) -> Self {
        self.settings = self.settings.with_tls_built_in_roots(enabled);
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
    /// let builder = agentwrit_async::Broker::builder("https://broker.example")
    ///     .add_root_certificate_pem(ca_pem)
    ///     .identity_pem(cert_pem, key_pem);
    /// assert!(!format!("{builder:?}").contains("PRIVATE KEY"));
    /// let broker = builder.build()?; // sends nothing yet
    /// assert!(!format!("{broker:?}").contains("PRIVATE KEY"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn identity_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.settings = self.settings.with_identity_pem(cert_chain_pem, key_pem);
        self
    }

    /// Refuse a plain `http://` broker URL (default `false`): `build()`
    /// then fails with [`Error::InvalidInput`] for one. (Without it, an
    /// `http://` URL to a host that is not loopback logs one warning per
    /// broker built: tokens would travel in clear.)
    ///
    /// ```
    /// let err = agentwrit_async::Broker::builder("http://broker.example")
    ///     .https_only(true)
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("https_only"));
    /// ```
    pub fn https_only(mut self, enabled: bool) -> Self {
        self.settings = self.settings.with_https_only(enabled);
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
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// // This workspace builds reqwest with no crypto provider of its own:
    /// // hand it a rustls configuration (or enable reqwest's `rustls`).
    /// let provider = agentwrit_async::sansio::tls::crypto_provider();
    /// let tls = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let client = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .tls_backend_preconfigured(tls)
    ///     .build()?;
    /// let broker = agentwrit_async::Broker::builder(devbroker.url()).http_client(client).build()?;
    /// assert!(!broker.validate("not-a-token").await?.is_valid()); // a 200 answer, through your client
    /// # Ok(()) }
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Where the SDK reads the time. For tests: expiry and re-login
    /// decisions follow this clock.
    #[doc(hidden)]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings = self.settings.with_clock(clock);
        self
    }

    /// The broker: its HTTP client and pool, built now. Sends nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad URL, an `http://` URL with
    /// `https_only`, a user agent that is not a header value, TLS material
    /// that is not valid PEM, or TLS options together with a custom HTTP
    /// client.
    ///
    /// ```
    /// let broker = agentwrit_async::Broker::builder("http://127.0.0.1:8080").build()?;
    /// # let _ = broker;
    /// let refused = agentwrit_async::Broker::builder("ftp://127.0.0.1").build();
    /// assert!(matches!(refused, Err(agentwrit_async::Error::InvalidInput { .. })));
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    pub fn build(self) -> Result<Broker, Error> {
        let transport = Transport::new(&self.settings, self.http_client)?;
        Ok(Broker {
            inner: Arc::new(transport),
        })
    }
}

impl Broker {
    /// A builder for the broker at `broker_url`.
    ///
    /// ```
    /// let broker = agentwrit_async::Broker::builder("http://127.0.0.1:8080")
    ///     .timeout(std::time::Duration::from_secs(2))
    ///     .build()?;
    /// # let _ = broker;
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    pub fn builder(broker_url: &str) -> BrokerBuilder {
        BrokerBuilder {
            settings: ClientSettings::new(broker_url),
            http_client: None,
        }
    }

    /// The broker at `broker_url`, with the default settings. Sends
    /// nothing yet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// let broker = agentwrit_async::Broker::new(devbroker.url())?;
    /// assert_eq!(broker.health().await?.status, "ok");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`BrokerBuilder::build`].
    pub fn new(broker_url: &str) -> Result<Broker, Error> {
        Self::builder(broker_url).build()
    }

    /// The broker named by `AGENTWRIT_BROKER_URL`, with the TLS settings
    /// of `AGENTWRIT_CA_FILE` (extra roots, PEM) and
    /// `AGENTWRIT_CLIENT_CERT` + `AGENTWRIT_CLIENT_KEY` (mutual-TLS
    /// identity, PEM), when set.
    ///
    /// ```
    /// use agentwrit_async::Broker;
    ///
    /// match Broker::from_env() {
    ///     Ok(broker) => println!("broker at {}", broker.url()),
    ///     Err(error) => eprintln!("not configured: {error}"),
    /// }
    /// # if std::env::var_os("AGENTWRIT_BROKER_URL").is_none() {
    /// #     assert!(Broker::from_env().unwrap_err().to_string().contains("AGENTWRIT_BROKER_URL"));
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the variable unset or empty, or a
    /// TLS file that cannot be read; then as [`BrokerBuilder::build`].
    pub fn from_env() -> Result<Broker, Error> {
        let settings = broker_settings_from(|k| std::env::var(k).ok())?;
        BrokerBuilder {
            settings,
            http_client: None,
        }
        .build()
    }

    /// The broker for a `validate(url, token)` call: the SDK's default
    /// settings on the process-wide pool `client`.
    pub(crate) fn on_shared_pool(
        broker_url: &str,
        client: reqwest::Client,
    ) -> Result<Broker, Error> {
        let transport = Transport::with_sdk_client(&ClientSettings::new(broker_url), client)?;
        Ok(Broker {
            inner: Arc::new(transport),
        })
    }

    /// What every call made through this broker runs on.
    pub(crate) fn transport(&self) -> &Transport {
        &self.inner
    }

    /// Drives `flow` on this broker's connection (see `Transport::drive`).
    pub(crate) async fn drive<F: Flow>(&self, flow: F) -> Result<F::Output, Error> {
        self.inner.drive(flow).await
    }

    /// The broker's base URL, normalised.
    ///
    /// ```
    /// let broker = agentwrit_async::Broker::new("http://127.0.0.1:8080/")?;
    /// assert_eq!(broker.url(), "http://127.0.0.1:8080");
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    #[must_use]
    pub fn url(&self) -> &str {
        self.inner.config.broker().as_str()
    }

    /// The app `client_id` at this broker, on this broker's pool. Sends
    /// nothing: it logs in on first use.
    ///
    /// ```
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = devbroker.register_universal_app()?;
    /// # let (client_id, client_secret) = (reg.client_id.as_str(), &reg.client_secret);
    /// let broker = agentwrit_async::Broker::new(devbroker.url())?;
    /// let app = broker.app(client_id, client_secret)?;
    /// assert_eq!(app.broker().url(), broker.url());
    /// assert!(broker.app(client_id, "").is_err()); // refused before sending
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty id or secret.
    pub fn app(
        &self,
        client_id: &str,
        client_secret: impl Into<ClientSecret>,
    ) -> Result<App, Error> {
        App::on(self.clone(), client_id, client_secret.into())
    }

    /// The app named by `AGENTWRIT_CLIENT_ID` and
    /// `AGENTWRIT_CLIENT_SECRET`, at this broker.
    ///
    /// ```
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// let broker = agentwrit_async::Broker::new(devbroker.url())?;
    /// match broker.app_from_env() {
    ///     Ok(app) => println!("app {}", app.client_id()),
    ///     Err(error) => eprintln!("not configured: {error}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the first variable unset or empty.
    pub fn app_from_env(&self) -> Result<App, Error> {
        let (client_id, client_secret) = app_credentials_from(|k| std::env::var(k).ok())?;
        App::on(self.clone(), &client_id, client_secret)
    }

    /// The operator of this broker, proven by `admin_secret` (a `&str`,
    /// `String` or `AdminSecret`), on this broker's pool. Sends nothing:
    /// it authenticates on first use.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// let broker = agentwrit_async::Broker::new(devbroker.url())?;
    /// let operator = broker.operator(devbroker.admin_secret())?;
    /// assert!(operator.list_apps().await?.is_empty()); // a fresh broker
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty secret.
    pub fn operator(&self, admin_secret: impl Into<AdminSecret>) -> Result<Operator, Error> {
        Operator::on(self.clone(), admin_secret.into())
    }

    /// The operator proven by `AGENTWRIT_ADMIN_SECRET` (the broker's
    /// `AA_ADMIN_SECRET`), at this broker.
    ///
    /// ```
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// let broker = agentwrit_async::Broker::new(devbroker.url())?;
    /// match broker.operator_from_env() {
    ///     Ok(operator) => println!("operator at {}", operator.broker().url()),
    ///     Err(error) => eprintln!("not configured: {error}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the variable is unset or empty.
    pub fn operator_from_env(&self) -> Result<Operator, Error> {
        let admin_secret = admin_secret_from(|k| std::env::var(k).ok())?;
        Operator::on(self.clone(), admin_secret)
    }

    /// A validator on this broker's pool. Deprecated: a [`Validator`] is
    /// this broker with one method; call [`Broker::validate`] on it.
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// let broker = agentwrit_async::Broker::new(devbroker.url())?;
    /// let validator = broker.validator();
    /// assert!(!validator.validate("not-a-token").await?.is_valid());
    /// # Ok(()) }
    /// ```
    #[must_use]
    #[deprecated(
        note = "a Validator is a Broker with one method: call `Broker::validate` (`Broker::new(url)?` has the default settings), `App::validate` with an app in hand, or the free `validate(url, token)`"
    )]
    #[allow(deprecated)]
    pub fn validator(&self) -> Validator {
        Validator::on(self.clone())
    }

    /// Validates `token` at this broker. An invalid token is
    /// `Ok(Validation::Invalid { .. })`, not an error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = devbroker.register_universal_app()?;
    /// let broker = agentwrit_async::Broker::new(devbroker.url())?;
    /// let app = broker.app(&reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
    /// let validation = broker.validate(&agent.access_token()).await?;
    /// assert!(validation.allows(&["read:data:customer-7291"]));
    /// assert!(!broker.validate("not-a-token").await?.is_valid());
    /// assert!(broker.validate("").await.is_err()); // refused before sending
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An empty token ([`Error::InvalidInput`]), a broker failure or a
    /// transport failure.
    pub async fn validate<T: BearerToken + ?Sized>(&self, token: &T) -> Result<Validation, Error> {
        let flow = Validate::new(&self.inner.config, token)?;
        self.inner.drive(flow).await
    }

    /// The broker's health.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// let broker = agentwrit_async::Broker::new(devbroker.url())?;
    /// assert_eq!(broker.health().await?.status, "ok");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A broker failure or a transport failure.
    pub async fn health(&self) -> Result<HealthResponse, Error> {
        self.inner.drive(Health::new(&self.inner.config)).await
    }

    /// Releases `token` (any token: an agent's, a delegated one, one this
    /// process was handed) with no app credentials. A 401 means the token
    /// was already dead and counts as released:
    /// [`ReleaseOutcome::AlreadyDead`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = devbroker.register_universal_app()?;
    /// use agentwrit_async::{Broker, ReleaseOutcome};
    ///
    /// let broker = Broker::new(devbroker.url())?;
    /// let app = broker.app(&reg.client_id, &reg.client_secret)?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// let token = agent.access_token();
    /// assert_eq!(broker.release_token(&token).await?, ReleaseOutcome::Released);
    /// assert_eq!(broker.release_token(&token).await?, ReleaseOutcome::AlreadyDead);
    /// assert!(!broker.validate(&token).await?.is_valid());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An empty token ([`Error::InvalidInput`]), a broker failure other
    /// than 401, or a transport failure.
    pub async fn release_token(&self, token: &AccessToken) -> Result<ReleaseOutcome, Error> {
        let flow = Release::new(&self.inner.config, token)?;
        self.inner.drive(flow).await
    }

    /// Registers an agent for `task_id` of `orch_id` with a launch token
    /// minted elsewhere (by an operator or an app, and handed to this
    /// process): a fresh Ed25519 key, the broker's challenge, then
    /// registration. No app credentials are needed; the launch token's
    /// policy fixes the ceiling and the TTL.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let devbroker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = devbroker.register_universal_app()?;
    /// use agentwrit_async::{Broker, wire::LaunchTokenRequest};
    ///
    /// let broker = Broker::new(devbroker.url())?;
    /// let app = broker.app(&reg.client_id, &reg.client_secret)?;
    /// let minted = app.launch_token(LaunchTokenRequest::new("py-worker", vec!["read:data:*".into()])).await?;
    /// let agent = broker.register_agent(minted.launch_token, "orch-1", "task-1", &["read:data:x"]).await?;
    /// assert_eq!(agent.scope(), ["read:data:x"]);
    /// agent.release().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] before anything is sent (an empty launch
    /// token, a bad id or scope); the broker's rejection (a used or
    /// expired launch token, a scope beyond its ceiling) or a transport
    /// failure.
    pub async fn register_agent<S: AsRef<str>>(
        &self,
        launch_token: LaunchToken,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
    ) -> Result<Agent, Error> {
        let key = AgentKey::generate(&mut rand_core::OsRng);
        let request = CreateAgentRequest::new(
            orch_id,
            task_id,
            scope.iter().map(|s| s.as_ref().to_owned()),
            key,
        );
        let flow = CreateAgent::with_launch_token(&self.inner.config, launch_token, request)?;
        let credentials = crate::handover::drive_owned(&self.inner, flow).await?;
        Ok(Agent::new(
            self.transport().clone(),
            SharedAgent::new(credentials),
        ))
    }
}
