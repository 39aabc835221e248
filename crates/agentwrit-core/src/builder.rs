//! What the transports' builders collect before they build a client.

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::config::{BrokerUrl, ClientConfig};
use crate::error::Error;
use crate::retry::RetryPolicy;

/// The default overall timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default connect timeout (never longer than the overall one).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings an `AppBuilder`, `OperatorBuilder` or `ValidatorBuilder`
/// of a transport crate collects: the broker URL, timeouts, user agent,
/// retry policy, body limit and clock. The transport keeps its own HTTP
/// client beside it; [`ClientSettings::config`] turns the protocol part
/// into the [`ClientConfig`] every flow takes.
///
/// Plumbing between core and the transport crates: users set these
/// through the transports' builders.
///
/// ```
/// use std::time::Duration;
/// use agentwrit_core::ClientSettings;
///
/// let settings = ClientSettings::new("http://127.0.0.1:8080/")
///     .timeout(Duration::from_secs(2))
///     .connect_timeout(Duration::from_secs(9));
/// assert_eq!(settings.get_connect_timeout(), Duration::from_secs(2)); // capped by the timeout
/// assert_eq!(settings.config()?.broker().as_str(), "http://127.0.0.1:8080");
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct ClientSettings {
    broker_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: Option<String>,
    retry: Option<RetryPolicy>,
    max_response_bytes: Option<usize>,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("broker_url", &self.broker_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl ClientSettings {
    /// Default settings for the broker at `broker_url` (checked by
    /// [`ClientSettings::config`]).
    pub fn new(broker_url: impl Into<String>) -> Self {
        ClientSettings {
            broker_url: broker_url.into(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_agent: None,
            retry: None,
            max_response_bytes: None,
            clock: None,
        }
    }

    /// Overall timeout of one request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connect timeout (default 5 s, at most the overall timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `agentwrit-rs/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Which calls are retried, how often, after what backoff.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The largest response body accepted (default 1 MiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = Some(bytes);
        self
    }

    /// Where the time comes from (tests inject a
    /// [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The broker URL as given.
    #[must_use]
    pub fn broker_url(&self) -> &str {
        &self.broker_url
    }

    /// The overall timeout of one request.
    #[must_use]
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    /// The connect timeout, capped by the overall timeout.
    #[must_use]
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout.min(self.timeout)
    }

    /// The clock (the system clock unless one was set).
    #[must_use]
    pub fn get_clock(&self) -> Arc<dyn Clock> {
        self.clock
            .clone()
            .unwrap_or_else(|| Arc::new(SystemClock) as Arc<dyn Clock>)
    }

    /// The protocol configuration every flow takes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a URL that is not an absolute
    /// `http`/`https` URL, or a user agent that is not a header value.
    pub fn config(&self) -> Result<ClientConfig, Error> {
        let mut config = ClientConfig::new(BrokerUrl::parse(&self.broker_url)?);
        if let Some(ua) = &self.user_agent {
            config = config.with_user_agent(ua.clone())?;
        }
        if let Some(retry) = &self.retry {
            config = config.with_retry(retry.clone());
        }
        if let Some(bytes) = self.max_response_bytes {
            config = config.with_max_response_bytes(bytes);
        }
        Ok(config)
    }
}
