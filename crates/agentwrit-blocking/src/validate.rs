//! Token validation for services that hold no app credentials.

use std::sync::OnceLock;

use agentwrit_core::wire::BearerToken;
use agentwrit_core::{ClientSettings, Error, Validate, Validation};

use crate::transport::{Transport, http_client};

/// The connection pool shared by every [`validate`] call.
fn pool() -> ureq::Agent {
    static POOL: OnceLock<ureq::Agent> = OnceLock::new();
    POOL.get_or_init(|| {
        let settings = ClientSettings::new("");
        http_client(settings.get_timeout(), settings.get_connect_timeout())
    })
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
    Validator::with_client(broker_url, pool())?.validate(token)
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

    /// A validator using your `ureq::Agent`. It must answer HTTP error
    /// statuses as responses and not follow redirects.
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
}
