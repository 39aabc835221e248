//! Token validation for services that hold no app credentials.

use std::sync::OnceLock;

use agentwrit_core::wire::{AccessToken, BearerToken, LaunchToken};
use agentwrit_core::{
    AgentKey, ClientSettings, CreateAgent, CreateAgentRequest, Error, Release, ReleaseOutcome,
    SharedAgent, Validate, Validation,
};

use crate::Agent;

use crate::transport::{Transport, http_client};

/// The connection pool shared by every [`validate`] call.
fn pool() -> Result<ureq::Agent, Error> {
    static POOL: OnceLock<Result<ureq::Agent, Error>> = OnceLock::new();
    POOL.get_or_init(|| http_client(&ClientSettings::new("")))
        .clone()
}

/// Validates `token` at the broker at `broker_url`, with no app: what a
/// downstream service calls on every request before gating it with
/// [`scope_is_subset`](crate::scope_is_subset). Connections are pooled
/// across calls. An invalid token is `Ok(Validation::Invalid { .. })`.
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
/// # let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
/// # let (url, bearer_token) = (broker.url(), agent.access_token());
/// use agentwrit_blocking::validate;
///
/// let validation = validate(url, &bearer_token)?;
/// assert!(validation.allows(&["read:data:customer-7291"]));
/// assert!(!validate(url, "not-a-token")?.is_valid());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A bad URL or empty token ([`Error::InvalidInput`]), a broker failure or
/// a transport failure.
pub fn validate<T: BearerToken + ?Sized>(broker_url: &str, token: &T) -> Result<Validation, Error> {
    let transport = Transport::with_sdk_client(&ClientSettings::new(broker_url), pool()?)?;
    Validator { transport }.validate(token)
}

/// A reusable validator for one broker, with its own connection pool.
/// Cheap to clone; clones share the pool.
///
/// ```
/// let validator = agentwrit_blocking::Validator::new("http://127.0.0.1:8080")?; // no request yet
/// # Ok::<(), agentwrit_blocking::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Validator {
    transport: Transport,
}

impl Validator {
    /// A validator for the broker at `broker_url`, with its own
    /// connection pool and the default timeouts.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// let validator = agentwrit_blocking::Validator::new(broker.url())?;
    /// assert!(!validator.validate("not-a-token")?.is_valid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad URL.
    pub fn new(broker_url: &str) -> Result<Validator, Error> {
        let transport = Transport::new(&ClientSettings::new(broker_url), None)?;
        Ok(Validator { transport })
    }

    /// A validator using your `ureq::Agent` (see
    /// [`AppBuilder::http_client`](crate::AppBuilder::http_client) for what
    /// the SDK sets on it).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// let client: ureq::Agent = ureq::Agent::config_builder()
    ///     .http_status_as_error(false)
    ///     .max_redirects(0)
    ///     .build()
    ///     .into();
    /// let validator = agentwrit_blocking::Validator::with_client(broker.url(), client)?;
    /// assert!(!validator.validate("not-a-token")?.is_valid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad URL.
    pub fn with_client(broker_url: &str, client: ureq::Agent) -> Result<Validator, Error> {
        let transport = Transport::new(&ClientSettings::new(broker_url), Some(client))?;
        Ok(Validator { transport })
    }

    /// Validates `token`: what a downstream service calls on every
    /// request before gating it with the scope it needs. An invalid token
    /// is `Ok(Validation::Invalid { .. })`.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let validator = agentwrit_blocking::Validator::new(app.broker_url())?; // one per service
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
    /// let verdict = validator.validate(&agent.access_token())?;
    /// assert!(verdict.allows(&["read:data:customer-7291"]));
    /// assert!(validator.validate("").is_err()); // refused before sending
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An empty token ([`Error::InvalidInput`]), a broker failure or a
    /// transport failure.
    pub fn validate<T: BearerToken + ?Sized>(&self, token: &T) -> Result<Validation, Error> {
        let flow = Validate::new(&self.transport.config, token)?;
        self.transport.drive(flow)
    }

    /// Releases `token` (any token: an agent's, a delegated one, one a
    /// process was handed). A 401 means the token was already dead and
    /// counts as released: [`ReleaseOutcome::AlreadyDead`].
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use agentwrit_blocking::{ReleaseOutcome, Validator};
    ///
    /// let validator = Validator::new(app.broker_url())?;
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// let token = agent.access_token();
    /// assert_eq!(validator.release(&token)?, ReleaseOutcome::Released);
    /// assert_eq!(validator.release(&token)?, ReleaseOutcome::AlreadyDead);
    /// assert!(!validator.validate(&token)?.is_valid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An empty token ([`Error::InvalidInput`]), a broker failure other
    /// than 401, or a transport failure.
    pub fn release(&self, token: &AccessToken) -> Result<ReleaseOutcome, Error> {
        let flow = Release::new(&self.transport.config, token)?;
        self.transport.drive(flow)
    }

    /// Registers an agent for `task_id` of `orch_id` with a launch token
    /// minted elsewhere (by an operator or an app, and handed to this
    /// process): a fresh Ed25519 key, the broker's challenge, then
    /// registration. No app credentials are needed; the launch token's
    /// policy fixes the ceiling and the TTL.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// use agentwrit_blocking::{Validator, wire::LaunchTokenRequest};
    ///
    /// let minted = app.launch_token(LaunchTokenRequest::new("py-worker", vec!["read:data:*".into()]))?;
    /// let validator = Validator::new(app.broker_url())?;
    /// let agent = validator.register_agent(minted.launch_token, "orch-1", "task-1", &["read:data:x"])?;
    /// assert_eq!(agent.scope(), ["read:data:x"]);
    /// agent.release()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] before anything is sent (an empty launch
    /// token, a bad id or scope); the broker's rejection (a used or
    /// expired launch token, a scope beyond its ceiling) or a transport
    /// failure.
    pub fn register_agent<S: AsRef<str>>(
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
        let flow = CreateAgent::with_launch_token(&self.transport.config, launch_token, request)?;
        let credentials = self.transport.drive(flow)?;
        Ok(Agent::new(
            self.transport.clone(),
            SharedAgent::new(credentials),
        ))
    }
}

/// Builds a [`Validator`] with non-default settings: timeouts, TLS (a
/// private CA, a client identity for a mutual-TLS broker), `https_only`,
/// or your own `ureq::Agent`.
///
/// ```
/// use std::time::Duration;
/// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
/// # let (ca_pem, cert_pem, key_pem) = (pki.ca_pem().as_bytes(), pki.client().cert_pem().as_bytes(), pki.client().key_pem().as_bytes());
/// let validator = agentwrit_blocking::Validator::builder("https://broker.example")
///     .timeout(Duration::from_secs(2))
///     .add_root_certificate_pem(ca_pem)
///     .identity_pem(cert_pem, key_pem)
///     .https_only(true)
///     .build()?; // no request yet
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "call build() to get the validator"]
pub struct ValidatorBuilder {
    settings: ClientSettings,
    http_client: Option<ureq::Agent>,
}

impl ValidatorBuilder {
    /// Overall timeout of one request (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let built = agentwrit_blocking::Validator::builder("http://127.0.0.1:8080")
    ///     .timeout(Duration::from_secs(3))
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
        self.settings = self.settings.timeout(timeout);
        self
    }

    /// Connect timeout (default 5 s, at most the overall timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let built = agentwrit_blocking::Validator::builder("http://127.0.0.1:8080")
    ///     .connect_timeout(Duration::from_millis(500))
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.settings = self.settings.connect_timeout(timeout);
        self
    }

    /// Trusts the CA certificate(s) in `pem` besides the built-in roots;
    /// see [`AppBuilder::add_root_certificate_pem`](crate::AppBuilder::add_root_certificate_pem).
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// let ca_pem = pki.ca_pem(); // e.g. std::fs::read("/etc/agentwrit/ca.pem")?
    /// let built = agentwrit_blocking::Validator::builder("https://127.0.0.1:8443")
    ///     .add_root_certificate_pem(ca_pem.as_bytes())
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.settings = self.settings.add_root_certificate_pem(pem);
        self
    }

    /// Whether the built-in roots are trusted (default `true`); see
    /// [`AppBuilder::tls_built_in_roots`](crate::AppBuilder::tls_built_in_roots).
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// // Trust only the private CA, not the bundled public roots.
    /// let built = agentwrit_blocking::Validator::builder("https://127.0.0.1:8443")
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

    /// The client identity for a mutual-TLS broker; see
    /// [`AppBuilder::identity_pem`](crate::AppBuilder::identity_pem).
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// let (cert, key) = (pki.client().cert_pem(), pki.client().key_pem());
    /// let built = agentwrit_blocking::Validator::builder("https://127.0.0.1:8443")
    ///     .identity_pem(cert.as_bytes(), key.as_bytes())
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn identity_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.settings = self.settings.identity_pem(cert_chain_pem, key_pem);
        self
    }

    /// Refuse a plain `http://` broker URL; see
    /// [`AppBuilder::https_only`](crate::AppBuilder::https_only).
    ///
    /// ```
    /// let refused = agentwrit_blocking::Validator::builder("http://127.0.0.1:8080")
    ///     .https_only(true)
    ///     .build();
    /// assert!(matches!(refused, Err(agentwrit_blocking::Error::InvalidInput { .. }))); // http:// refused
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn https_only(mut self, enabled: bool) -> Self {
        self.settings = self.settings.https_only(enabled);
        self
    }

    /// Your own `ureq::Agent`; see
    /// [`AppBuilder::http_client`](crate::AppBuilder::http_client).
    ///
    /// ```
    /// let built = agentwrit_blocking::Validator::builder("http://127.0.0.1:8080")
    ///     .http_client(ureq::Agent::new_with_defaults())
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, client: ureq::Agent) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The validator. Sends nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad URL, an `http://` URL with
    /// `https_only`, TLS material that is not valid PEM, or TLS options
    /// together with a custom HTTP client.
    ///
    /// ```
    /// let built = agentwrit_blocking::Validator::builder("http://127.0.0.1:8080")
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Validator, Error> {
        let transport = Transport::new(&self.settings, self.http_client)?;
        Ok(Validator { transport })
    }
}

impl Validator {
    /// A builder for a validator of the broker at `broker_url`.
    ///
    /// ```
    /// let validator = agentwrit_blocking::Validator::builder("http://127.0.0.1:8080")
    ///     .timeout(std::time::Duration::from_secs(2))
    ///     .build()?;
    /// # Ok::<(), agentwrit_blocking::Error>(())
    /// ```
    pub fn builder(broker_url: &str) -> ValidatorBuilder {
        ValidatorBuilder {
            settings: ClientSettings::new(broker_url),
            http_client: None,
        }
    }
}
