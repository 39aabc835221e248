//! The broker's address and the knobs every flow shares.

use core::fmt;
use core::str::FromStr;
use std::time::Duration;

use http::HeaderValue;

use crate::error::Error;
use crate::retry::RetryPolicy;

/// The broker's base URL: `http` or `https`, a host, an optional port and
/// an optional path prefix; no user info, query or fragment. Trailing
/// slashes are removed, so `https://broker.example/` and
/// `https://broker.example` are the same base.
///
/// ```
/// use agentwrit_core::BrokerUrl;
///
/// let url: BrokerUrl = "https://broker.example:8443/agentwrit/".parse()?;
/// assert_eq!(url.as_str(), "https://broker.example:8443/agentwrit");
/// assert_eq!(url.endpoint("/v1/health"), "https://broker.example:8443/agentwrit/v1/health");
///
/// assert!(BrokerUrl::parse("ftp://broker.example").is_err());
/// assert!(BrokerUrl::parse("https://broker.example/?x=1").is_err());
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BrokerUrl {
    base: String,
}

impl BrokerUrl {
    /// Parses and validates a base URL.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `broker_url`) naming what is wrong.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::invalid_input("broker_url", reason);
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("is empty"));
        }
        if trimmed.contains('#') {
            return Err(invalid("must not have a fragment"));
        }
        let uri = http::Uri::try_from(trimmed)
            .map_err(|_| invalid("is not a valid URL (expected e.g. https://broker.example)"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(_) => return Err(invalid("scheme must be http or https")),
            None => return Err(invalid("must be absolute, with an http or https scheme")),
        }
        let Some(authority) = uri.authority() else {
            return Err(invalid("has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(invalid("must not contain user info (credentials)"));
        }
        if authority.host().is_empty() {
            return Err(invalid("has no host"));
        }
        let after_host = authority
            .as_str()
            .rsplit_once(']')
            .map_or(authority.as_str(), |(_, rest)| rest);
        if let Some((_, port)) = after_host.rsplit_once(':')
            && port.parse::<u16>().is_err()
        {
            return Err(invalid("has an invalid port"));
        }
        if uri.query().is_some() {
            return Err(invalid("must not have a query"));
        }
        let path = uri.path().trim_end_matches('/');
        let scheme = uri.scheme_str().unwrap_or("https");
        Ok(BrokerUrl {
            base: format!("{scheme}://{authority}{path}"),
        })
    }

    /// The normalised base, without a trailing slash.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// The absolute URL of an endpoint `path` (which starts with `/`).
    #[must_use]
    pub fn endpoint(&self, path: &str) -> String {
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerUrl({:?})", self.base)
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

impl FromStr for BrokerUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BrokerUrl::parse(s)
    }
}

impl TryFrom<&str> for BrokerUrl {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        BrokerUrl::parse(s)
    }
}

impl TryFrom<String> for BrokerUrl {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        BrokerUrl::parse(&s)
    }
}

/// The default `User-Agent`: `agentwrit-rs/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("agentwrit-rs/", env!("CARGO_PKG_VERSION"));

/// The default cap on a response body: 1 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The default re-authentication margin: 60 s (see [`Session::needs_reauth`](crate::Session::needs_reauth)).
pub const DEFAULT_REAUTH_MARGIN: Duration = Duration::from_secs(60);

/// Settings shared by every flow: where the broker is, how requests are
/// labelled, retried and bounded.
///
/// ```
/// use std::time::Duration;
/// use agentwrit_core::{ClientConfig, RetryPolicy};
///
/// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?)
///     .with_user_agent("my-orchestrator/1.2")?
///     .with_retry(RetryPolicy::none())
///     .with_max_response_bytes(64 * 1024)
///     .with_reauth_margin(Duration::from_secs(120));
/// assert_eq!(config.user_agent(), "my-orchestrator/1.2");
/// assert_eq!(ClientConfig::new("http://b".parse()?).user_agent(), agentwrit_core::DEFAULT_USER_AGENT);
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    broker: BrokerUrl,
    user_agent: String,
    retry: RetryPolicy,
    max_response_bytes: usize,
    reauth_margin: Duration,
    timeout: Duration,
}

impl ClientConfig {
    /// Defaults for everything but the broker: user agent
    /// [`DEFAULT_USER_AGENT`], [`RetryPolicy::default`], 1 MiB bodies, 60 s
    /// re-authentication margin, a 10 s
    /// [timeout](ClientConfig::timeout) per call.
    #[must_use]
    pub fn new(broker: BrokerUrl) -> Self {
        ClientConfig {
            broker,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            retry: RetryPolicy::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            reauth_margin: DEFAULT_REAUTH_MARGIN,
            timeout: crate::builder::DEFAULT_TIMEOUT,
        }
    }

    /// Sets the `User-Agent` header.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `user_agent`) when it is empty or not
    /// a valid header value.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Result<Self, Error> {
        let user_agent = user_agent.into();
        if user_agent.is_empty() || HeaderValue::from_str(&user_agent).is_err() {
            return Err(Error::invalid_input(
                "user_agent",
                "must be a non-empty, visible-ASCII header value",
            ));
        }
        self.user_agent = user_agent;
        Ok(self)
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the largest response body accepted.
    #[must_use]
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Sets how long before expiry an app or admin session is renewed.
    #[must_use]
    pub fn with_reauth_margin(mut self, margin: Duration) -> Self {
        self.reauth_margin = margin;
        self
    }

    /// Sets the [timeout](ClientConfig::timeout) of one call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most one call to the broker may take: one request of a flow
    /// from its first attempt to its last, the waits between retries
    /// included. Each attempt is given what is left of it (as an
    /// [`AttemptTimeout`](crate::AttemptTimeout) in the request's
    /// extensions), and no retry is scheduled that could not start before
    /// it runs out. A flow of several requests (the create-agent ceremony:
    /// login, launch token, challenge, register) gives each its own.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The broker's base URL.
    #[must_use]
    pub fn broker(&self) -> &BrokerUrl {
        &self.broker
    }

    /// The `User-Agent` sent with every request.
    #[must_use]
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The retry policy.
    #[must_use]
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The largest response body accepted; transports should stop reading
    /// one byte past it.
    #[must_use]
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// The re-authentication margin.
    #[must_use]
    pub fn reauth_margin(&self) -> Duration {
        self.reauth_margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_validates() {
        let ok = [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://b.example/", "https://b.example"),
            ("https://b.example//", "https://b.example"),
            (
                "  https://b.example/pre/fix/  ",
                "https://b.example/pre/fix",
            ),
            ("http://[::1]:9/", "http://[::1]:9"),
        ];
        for (input, want) in ok {
            assert_eq!(BrokerUrl::parse(input).unwrap().as_str(), want, "{input}");
        }
        let bad = [
            "",
            "   ",
            "b.example",
            "/v1",
            "ftp://b.example",
            "https://b.example/?q=1",
            "https://b.example/#frag",
            "https://user:pw@b.example",
            "https://",
            "https://b example",
            "http://b.example:99999999",
            "http://b.example:",
            "http://[::1]:x",
        ];
        for input in bad {
            let err = BrokerUrl::parse(input).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput { field, .. } if field == "broker_url"),
                "{input}: {err:?}"
            );
        }
    }

    #[test]
    fn user_agent_is_checked() {
        let c = ClientConfig::new("http://b".parse().unwrap());
        assert!(c.clone().with_user_agent("").is_err());
        assert!(c.clone().with_user_agent("a\nb").is_err());
        assert_eq!(c.with_user_agent("x/1").unwrap().user_agent(), "x/1");
    }
}
