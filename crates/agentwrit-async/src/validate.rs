//! Token validation for services that hold no app credentials.

use std::sync::OnceLock;

use agentwrit_core::process::PerProcess;
use agentwrit_core::wire::BearerToken;
use agentwrit_core::{ClientSettings, Error, Validation};

use crate::broker::Broker;
use crate::transport::http_client;

/// The connection pool shared by every [`validate`] call. Its client is
/// keyed by nothing because nothing varies: a free `validate` takes no
/// setting, so every call runs with the default ones (timeouts, built-in
/// roots, no client identity, clear text allowed to loopback). Other
/// settings mean a [`Broker`] of your own, with a client of its own.
///
/// A forked child builds its own on first use: the parent's pooled
/// connections are never used there.
fn pool() -> Result<reqwest::Client, Error> {
    static POOL: OnceLock<Result<PerProcess<reqwest::Client>, Error>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let build = || http_client(&ClientSettings::new(""));
        Ok(PerProcess::new(build()?, build))
    });
    Ok(pool.as_ref().map_err(Clone::clone)?.get()?.into_owned())
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
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
/// # let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
/// # let (url, bearer_token) = (broker.url(), agent.access_token());
/// use agentwrit_async::validate;
///
/// let validation = validate(url, &bearer_token).await?;
/// assert!(validation.allows(&["read:data:customer-7291"]));
/// assert!(!validate(url, "not-a-token").await?.is_valid());
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// A bad URL or empty token ([`Error::InvalidInput`]), a broker failure or
/// a transport failure.
pub async fn validate<T: BearerToken + ?Sized>(
    broker_url: &str,
    token: &T,
) -> Result<Validation, Error> {
    Broker::on_shared_pool(broker_url, pool()?)?
        .validate(token)
        .await
}

/// A validator for one broker, on that [`Broker`]'s connection pool.
///
/// **Deprecated.** A `Validator` is a [`Broker`] with one method: call
/// [`Broker::validate`] on the broker you built (or `Broker::new(url)?`,
/// which has the default settings and a pool of its own),
/// [`App::validate`](crate::App::validate) with an app in hand, or the
/// free [`validate`] for a check with the default settings. Three ways to
/// validate were enough; this fourth one only added a name.
///
/// ```
/// # #![allow(deprecated)]
/// let validator = agentwrit_async::Validator::new("http://127.0.0.1:8080")?; // no request yet
/// # Ok::<(), agentwrit_async::Error>(())
/// ```
#[derive(Clone, Debug)]
#[deprecated(
    note = "a Validator is a Broker with one method: call `Broker::validate` (`Broker::new(url)?` has the default settings), `App::validate` with an app in hand, or the free `validate(url, token)`"
)]
pub struct Validator {
    broker: Broker,
}

#[allow(deprecated)]
impl Validator {
    /// A validator for the broker at `broker_url`, on a [`Broker`] of its
    /// own with the default settings (what `Broker::new(url)?` is, without
    /// the wrapper).
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// let validator = agentwrit_async::Validator::new(broker.url())?;
    /// assert!(!validator.validate("not-a-token").await?.is_valid());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad URL.
    pub fn new(broker_url: &str) -> Result<Validator, Error> {
        Ok(Validator::on(Broker::new(broker_url)?))
    }

    /// The validator on `broker` (what [`Broker::validator`] returns).
    pub(crate) fn on(broker: Broker) -> Validator {
        Validator { broker }
    }

    /// The broker this validator talks to: its connection pool and
    /// settings.
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// let validator = agentwrit_async::Validator::new("http://127.0.0.1:8080/")?;
    /// assert_eq!(validator.broker().url(), "http://127.0.0.1:8080");
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    #[must_use]
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Validates `token`: what a downstream service calls on every
    /// request before gating it with the scope it needs. An invalid token
    /// is `Ok(Validation::Invalid { .. })`.
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let validator = agentwrit_async::Validator::new(app.broker_url())?; // one per service
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
    /// let verdict = validator.validate(&agent.access_token()).await?;
    /// assert!(verdict.allows(&["read:data:customer-7291"]));
    /// assert!(validator.validate("").await.is_err()); // refused before sending
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An empty token ([`Error::InvalidInput`]), a broker failure or a
    /// transport failure.
    pub async fn validate<T: BearerToken + ?Sized>(&self, token: &T) -> Result<Validation, Error> {
        self.broker.validate(token).await
    }
}
