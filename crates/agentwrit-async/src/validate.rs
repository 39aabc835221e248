//! Token validation for services that hold no app credentials.

use std::sync::OnceLock;

use agentwrit_core::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, Validation};

use crate::Error;
use crate::app::Transport;
use crate::transport::http_client;

/// The connection pool shared by every [`validate`] call.
fn pool() -> Result<reqwest::Client, Error> {
    static POOL: OnceLock<Result<reqwest::Client, Error>> = OnceLock::new();
    POOL.get_or_init(|| http_client(DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT))
        .clone()
}

/// Validates `token` at the broker at `broker_url`, with no app: what a
/// downstream service calls on every request before gating it with
/// [`scope_is_subset`](crate::scope_is_subset). Connections are pooled
/// across calls. An invalid token is `Ok(Validation::Invalid { .. })`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// # let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
/// # let (url, bearer_token) = (broker.url(), agent.access_token());
/// use agentwrit_async::{scope_is_subset, validate};
///
/// let validation = validate(url, bearer_token.expose_secret()).await?;
/// let allowed = validation
///     .claims()
///     .is_some_and(|claims| scope_is_subset(&["read:data:customer-7291"], &claims.scope));
/// assert!(allowed);
/// assert!(!validate(url, "not-a-token").await?.is_valid());
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// A bad URL or empty token (`InvalidInput`), a broker failure or a
/// transport failure.
pub async fn validate(broker_url: &str, token: &str) -> Result<Validation, Error> {
    Validator::with_client(broker_url, pool()?)?
        .validate(token)
        .await
}

/// A reusable validator for one broker, with its own connection pool.
///
/// ```
/// let validator = agentwrit_async::Validator::new("http://127.0.0.1:8080")?;
/// # Ok::<(), agentwrit_async::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Validator {
    pub(crate) transport: Transport,
}
