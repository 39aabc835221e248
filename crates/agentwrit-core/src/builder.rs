//! One builder for the transports' `App` and `Operator`.

use core::fmt;
use core::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use agentwrit_wire::{AdminSecret, ClientSecret};

use crate::client::{AppCore, ClientError, OperatorCore};
use crate::clock::{Clock, SystemClock};
use crate::config::{BrokerUrl, ClientConfig};
use crate::retry::RetryPolicy;

/// The default overall timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default connect timeout (never longer than the overall one).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The core of an app or operator client, made from a configuration and
/// the principal's secret. Implemented by [`AppCore`] and
/// [`OperatorCore`].
pub trait Principal: Sized {
    /// What proves the principal's identity.
    type Secret;
    /// The core client.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty id or secret.
    fn make(config: ClientConfig, secret: Self::Secret) -> Result<Self, crate::Error>;
}

impl Principal for AppCore {
    type Secret = (String, ClientSecret);
    fn make(config: ClientConfig, (id, secret): Self::Secret) -> Result<Self, crate::Error> {
        AppCore::new(config, id, secret)
    }
}

impl Principal for OperatorCore {
    type Secret = AdminSecret;
    fn make(config: ClientConfig, secret: Self::Secret) -> Result<Self, crate::Error> {
        OperatorCore::new(config, secret)
    }
}

/// What a builder hands the transport: the core client and the transport
/// settings.
#[derive(Debug)]
#[non_exhaustive]
pub struct Parts<K, C> {
    /// The core client ([`AppCore`] or [`OperatorCore`]).
    pub core: K,
    /// Overall timeout of one request.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// The caller's own HTTP client, if any.
    pub http_client: Option<C>,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
}

/// A transport's client built from [`Parts`]: the `App` and `Operator` of
/// `agentwrit-blocking` and `agentwrit-async`.
pub trait FromParts<C>: Sized {
    /// [`AppCore`] or [`OperatorCore`].
    type Core: Principal;
    /// Wraps the parts.
    ///
    /// # Errors
    ///
    /// The transport could not build its HTTP client.
    fn from_parts(parts: Parts<Self::Core, C>) -> Result<Self, ClientError>;
}

/// Builds a transport's `App` (or `Operator`), `T`, whose HTTP client type
/// is `C` (`ureq::Agent` or `reqwest::Client`). The transports name it
/// `AppBuilder` and `OperatorBuilder` and return it from
/// `App::builder` / `Operator::builder`.
#[must_use = "call build() to get the client"]
pub struct ClientBuilder<T: FromParts<C>, C> {
    broker_url: String,
    secret: <T::Core as Principal>::Secret,
    timeout: Duration,
    connect_timeout: Duration,
    user_agent: Option<String>,
    retry: Option<RetryPolicy>,
    max_response_bytes: Option<usize>,
    http_client: Option<C>,
    clock: Option<Arc<dyn Clock>>,
    target: PhantomData<fn() -> T>,
}

impl<T: FromParts<C>, C> fmt::Debug for ClientBuilder<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("broker_url", &self.broker_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("user_agent", &self.user_agent)
            .field("retry", &self.retry)
            .field("custom_http_client", &self.http_client.is_some())
            .finish_non_exhaustive()
    }
}

impl<T: FromParts<C>, C> ClientBuilder<T, C> {
    /// A builder for the principal proven by `secret` at `broker_url`.
    pub fn new(broker_url: impl Into<String>, secret: <T::Core as Principal>::Secret) -> Self {
        ClientBuilder {
            broker_url: broker_url.into(),
            secret,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            user_agent: None,
            retry: None,
            max_response_bytes: None,
            http_client: None,
            clock: None,
            target: PhantomData,
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

    /// Your own HTTP client (proxy, TLS roots, pool). It must not turn
    /// HTTP error statuses into errors or follow redirects; its timeouts
    /// replace the builder's.
    pub fn http_client(mut self, client: C) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Where the SDK reads the time (tests inject a
    /// [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The client.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad URL, an empty id or secret, or a user
    /// agent that is not a header value.
    pub fn build(self) -> Result<T, ClientError> {
        let mut config = ClientConfig::new(BrokerUrl::parse(&self.broker_url)?);
        if let Some(ua) = self.user_agent {
            config = config.with_user_agent(ua)?;
        }
        if let Some(retry) = self.retry {
            config = config.with_retry(retry);
        }
        if let Some(bytes) = self.max_response_bytes {
            config = config.with_max_response_bytes(bytes);
        }
        let core = T::Core::make(config, self.secret)?;
        T::from_parts(Parts {
            core,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout.min(self.timeout),
            http_client: self.http_client,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        })
    }
}
