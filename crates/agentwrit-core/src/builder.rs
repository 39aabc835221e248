//! What the transports' builders collect before they build a client.

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::clock::{Clock, SystemClock};
use crate::config::{BrokerUrl, ClientConfig};
use crate::error::Error;
use crate::retry::RetryPolicy;

/// A private key in PEM: a secret, zeroized on drop, shared by clones.
pub(crate) type KeyPem = Arc<Zeroizing<Vec<u8>>>;

/// The TLS part of [`ClientSettings`]: raw PEM as given (checked when the
/// client is built), so that these settings need no TLS library.
#[derive(Clone)]
pub(crate) struct TlsOptions {
    pub(crate) extra_roots_pem: Vec<Vec<u8>>,
    pub(crate) built_in_roots: bool,
    /// Certificate chain PEM and private key PEM (a secret: zeroized on
    /// drop, never shown).
    pub(crate) identity: Option<(Vec<u8>, KeyPem)>,
    pub(crate) https_only: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            extra_roots_pem: Vec::new(),
            built_in_roots: true,
            identity: None,
            https_only: false,
        }
    }
}

/// The default timeout of one call to the broker, its retries included
/// (see [`ClientConfig::timeout`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default connect timeout (never longer than the overall one).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings a transport crate's `BrokerBuilder` collects: the broker
/// URL, timeouts, user agent, retry policy, body limit, TLS options and
/// clock. The transport's `Broker` builds its one HTTP client (and pool)
/// from them and keeps it beside them; [`ClientSettings::config`] turns the
/// protocol part into the [`ClientConfig`] every flow takes.
///
/// Plumbing between core and the transport crates: users set these
/// through the transports' `BrokerBuilder`. Setters are `with_*` (and
/// [`add_root_certificate_pem`](ClientSettings::add_root_certificate_pem)),
/// getters plain names.
///
/// ```
/// use std::time::Duration;
/// use agentwrit_core::ClientSettings;
///
/// let settings = ClientSettings::new("http://127.0.0.1:8080/")
///     .with_timeout(Duration::from_secs(2))
///     .with_connect_timeout(Duration::from_secs(9));
/// assert_eq!(settings.connect_timeout(), Duration::from_secs(2)); // capped by the timeout
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
    pub(crate) tls: TlsOptions,
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
            .field("added_roots", &self.tls.extra_roots_pem.len())
            .field("tls_built_in_roots", &self.tls.built_in_roots)
            .field("identity", &self.tls.identity.as_ref().map(|_| "<set>"))
            .field("https_only", &self.tls.https_only)
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
            tls: TlsOptions::default(),
        }
    }

    /// Trusts the CA certificate(s) in `pem` (one or more PEM
    /// `CERTIFICATE` blocks) besides the built-in roots: a broker behind a
    /// private CA. Checked when the client is built.
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.tls.extra_roots_pem.push(pem.to_vec());
        self
    }

    /// Whether the built-in roots (Mozilla's bundled roots, or the OS store
    /// with the `native-roots` feature) are trusted (default `true`).
    /// With `false`, only the roots added with
    /// [`ClientSettings::add_root_certificate_pem`] are.
    pub fn with_tls_built_in_roots(mut self, enabled: bool) -> Self {
        self.tls.built_in_roots = enabled;
        self
    }

    /// The client certificate chain and private key (both PEM; the key
    /// PKCS#8, PKCS#1 or SEC1) presented to a broker that requires mutual
    /// TLS. The key is kept zeroized-on-drop and never shown.
    pub fn with_identity_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.tls.identity = Some((
            cert_chain_pem.to_vec(),
            Arc::new(Zeroizing::new(key_pem.to_vec())),
        ));
        self
    }

    /// Refuse an `http://` broker URL (default `false`): with `true`,
    /// [`ClientSettings::config`] fails with [`Error::InvalidInput`] for
    /// one, so tokens can never travel in clear.
    pub fn with_https_only(mut self, enabled: bool) -> Self {
        self.tls.https_only = enabled;
        self
    }

    /// True when any TLS option differs from the default (an added root,
    /// built-in roots off, a client identity): the transports refuse these
    /// together with a custom HTTP client, whose TLS is its own.
    #[must_use]
    pub fn has_tls_options(&self) -> bool {
        !self.tls.extra_roots_pem.is_empty()
            || !self.tls.built_in_roots
            || self.tls.identity.is_some()
    }

    /// True when the broker URL is plain `http://` to a host that is not
    /// loopback (`localhost`, `127.0.0.0/8`, `::1`): tokens and secrets
    /// would cross the network in clear. The transports log one warning
    /// per client built.
    ///
    /// ```
    /// use agentwrit_core::ClientSettings;
    /// assert!(ClientSettings::new("http://broker.internal:8080").sends_in_clear_text());
    /// assert!(!ClientSettings::new("http://127.0.0.1:8080").sends_in_clear_text());
    /// assert!(!ClientSettings::new("http://localhost:8080").sends_in_clear_text());
    /// assert!(!ClientSettings::new("https://broker.internal").sends_in_clear_text());
    /// ```
    #[must_use]
    pub fn sends_in_clear_text(&self) -> bool {
        let Ok(uri) = http::Uri::try_from(self.broker_url.trim()) else {
            return false;
        };
        if uri.scheme_str() != Some("http") {
            return false;
        }
        let host = uri.host().unwrap_or_default();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let loopback = bare.eq_ignore_ascii_case("localhost")
            || bare.to_ascii_lowercase().ends_with(".localhost")
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        !loopback
    }

    /// The most one call to the broker may take, its retries and the
    /// waits between them included (default 10 s; see
    /// [`ClientConfig::timeout`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most one attempt's connection may take (default 5 s, at most
    /// the timeout).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `agentwrit-rs/<version>`).
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Which calls are retried, how often, after what backoff.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// The largest response body accepted (default 1 MiB).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = Some(bytes);
        self
    }

    /// Where the time comes from (tests inject a
    /// [`ManualClock`](crate::ManualClock)).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The broker URL as given.
    #[must_use]
    pub fn broker_url(&self) -> &str {
        &self.broker_url
    }

    /// The timeout of one call, its retries included.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The connect timeout, capped by the overall timeout.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.min(self.timeout)
    }

    /// The clock (the system clock unless one was set).
    #[must_use]
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock
            .clone()
            .unwrap_or_else(|| Arc::new(SystemClock) as Arc<dyn Clock>)
    }

    /// The protocol configuration for a transport's client: as
    /// [`ClientSettings::config`], and the rules every transport follows
    /// when it builds one, decided here once:
    ///
    /// * with `custom_client` (the user's own HTTP client, which brings its
    ///   own TLS), TLS options set here are refused rather than silently
    ///   ignored;
    /// * a broker URL that [sends in clear text](ClientSettings::sends_in_clear_text)
    ///   is logged as a warning (`tracing`), once per client built.
    ///
    /// ```
    /// use agentwrit_core::ClientSettings;
    /// let settings = ClientSettings::new("https://broker.internal").with_tls_built_in_roots(false);
    /// assert!(settings.transport_config(false).is_ok());
    /// let err = settings.transport_config(true).unwrap_err();
    /// assert!(err.to_string().contains("custom HTTP client"));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`ClientSettings::config`]; [`Error::InvalidInput`] (field
    /// `http_client`) for TLS options with a custom client.
    pub fn transport_config(&self, custom_client: bool) -> Result<ClientConfig, Error> {
        let config = self.config()?;
        if self.sends_in_clear_text() {
            tracing::warn!(
                broker = self.broker_url(),
                "the broker URL is plain http:// to a host that is not loopback: tokens and \
                 secrets travel in clear text; use https://"
            );
        }
        if custom_client && self.has_tls_options() {
            return Err(Error::invalid_input(
                "http_client",
                "a custom HTTP client brings its own TLS: configure roots and client identity \
                 on it, not with add_root_certificate_pem, tls_built_in_roots or identity_pem",
            ));
        }
        Ok(config)
    }

    /// The protocol configuration every flow takes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a URL that is not an absolute
    /// `http`/`https` URL (or is `http` with
    /// [`with_https_only`](ClientSettings::with_https_only)), or a user agent that is
    /// not a header value.
    ///
    /// ```
    /// use agentwrit_core::ClientSettings;
    /// let err = ClientSettings::new("http://broker.example").with_https_only(true).config().unwrap_err();
    /// assert!(err.to_string().contains("https_only"));
    /// ```
    pub fn config(&self) -> Result<ClientConfig, Error> {
        let broker = BrokerUrl::parse(&self.broker_url)?;
        if self.tls.https_only && !broker.as_str().starts_with("https://") {
            return Err(Error::invalid_input(
                "broker_url",
                "is http:// but https_only is set: use an https:// URL",
            ));
        }
        let mut config = ClientConfig::new(broker).with_timeout(self.timeout);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_client_refuses_every_tls_option_and_nothing_else() {
        let url = "https://broker.internal";
        for settings in [
            ClientSettings::new(url).add_root_certificate_pem(b"-----BEGIN CERTIFICATE-----"),
            ClientSettings::new(url).with_tls_built_in_roots(false),
            ClientSettings::new(url).with_identity_pem(b"chain", b"key"),
        ] {
            let err = settings.transport_config(true).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput { field, .. } if field == "http_client"),
                "{err:?}"
            );
            assert!(settings.transport_config(false).is_ok());
        }
        for settings in [
            ClientSettings::new(url),
            ClientSettings::new(url).with_https_only(true),
            ClientSettings::new(url).with_timeout(Duration::from_secs(1)),
        ] {
            assert!(settings.transport_config(true).is_ok());
        }
        // The URL is checked first, with or without a custom client.
        assert!(
            ClientSettings::new("ftp://x")
                .transport_config(true)
                .is_err()
        );
    }
}
