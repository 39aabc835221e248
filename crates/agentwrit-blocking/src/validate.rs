//! Token validation for services that hold no app credentials.

use std::sync::OnceLock;

use agentwrit_core::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, Validation};

use crate::Error;
use crate::app::Transport;
use crate::transport::http_client;

/// The connection pool shared by every [`validate`] call.
fn pool() -> Result<ureq::Agent, Error> {
    static POOL: OnceLock<Result<ureq::Agent, Error>> = OnceLock::new();
    POOL.get_or_init(|| http_client(DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT))
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
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// # let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
/// # let (url, bearer_token) = (broker.url(), agent.access_token());
/// use agentwrit_blocking::{scope_is_subset, validate};
///
/// let validation = validate(url, bearer_token.expose_secret())?;
/// let allowed = validation
///     .claims()
///     .is_some_and(|claims| scope_is_subset(&["read:data:customer-7291"], &claims.scope));
/// assert!(allowed);
/// assert!(!validate(url, "not-a-token")?.is_valid());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// A bad URL or empty token (`InvalidInput`), a broker failure or a
/// transport failure.
pub fn validate(broker_url: &str, token: &str) -> Result<Validation, Error> {
    Validator::with_client(broker_url, pool()?)?.validate(token)
}

/// A reusable validator for one broker, with its own connection pool.
///
/// ```
/// let validator = agentwrit_blocking::Validator::new("http://127.0.0.1:8080")?;
/// # Ok::<(), agentwrit_blocking::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Validator {
    pub(crate) transport: Transport,
}
