//! The client settings every constructor of every language takes, checked
//! once, and the one place a transport's `Broker` is built from them.

use std::fmt;
use std::time::Duration;

use agentwrit_blocking::sansio::DEFAULT_TIMEOUT;

use crate::error::{BindingError, Result};

/// What a caller may set on a client, as the language handed it over:
/// plain values (the shell reads files and converts text to bytes).
///
/// ```
/// use agentwrit_bindings::{Options, Settings};
/// let settings = Settings::new(Options { timeout_secs: Some(2.5), ..Options::default() })?;
/// assert_eq!(settings.timeout(), std::time::Duration::from_millis(2500));
/// // Unset: 10 s for the whole call, retries included.
/// let default = Settings::new(Options::default())?;
/// assert_eq!(default.timeout(), std::time::Duration::from_secs(10));
/// # Ok::<(), agentwrit_bindings::BindingError>(())
/// ```
#[derive(Clone, Default)]
pub struct Options {
    /// The deadline of one call, in seconds (finite, positive): it bounds
    /// the whole call, retries included, and each request. `None`: the
    /// SDK's default, `agentwrit-core`'s `DEFAULT_TIMEOUT` (10 s).
    pub timeout_secs: Option<f64>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// Extra trusted roots (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate chain (PEM), for mutual TLS; needs `client_key_pem`.
    pub client_cert_pem: Option<Vec<u8>>,
    /// Its private key (PEM).
    pub client_key_pem: Option<Vec<u8>>,
    /// Refuse `http://` broker URLs.
    pub https_only: bool,
}

/// Checked [`Options`]: what a client is built from, and (every field)
/// the key of a cached client, so two calls that differ in any setting
/// never share one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Settings {
    timeout: Duration,
    user_agent: Option<String>,
    ca_pem: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    https_only: bool,
}

impl Default for Settings {
    /// What [`Options::default()`] gives: the SDK's default deadline,
    /// nothing else set.
    fn default() -> Self {
        Settings {
            timeout: DEFAULT_TIMEOUT,
            user_agent: None,
            ca_pem: None,
            identity: None,
            https_only: false,
        }
    }
}

// By hand: the client key is a secret.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("identity", &self.identity.as_ref().map(|_| "<redacted>"))
            .field("https_only", &self.https_only)
            .finish()
    }
}

/// `value` seconds as a duration, refused unless finite and positive.
///
/// ```
/// use agentwrit_bindings::seconds;
/// assert_eq!(seconds("ttl", 1.5)?, std::time::Duration::from_millis(1500));
/// assert!(seconds("ttl", 0.0).is_err());
/// assert!(seconds("ttl", f64::NAN).is_err());
/// # Ok::<(), agentwrit_bindings::BindingError>(())
/// ```
///
/// # Errors
///
/// An [`InvalidInput`](crate::ErrorKind::InvalidInput) naming `field`.
pub fn seconds(field: &str, value: f64) -> Result<Duration> {
    if !value.is_finite() || value <= 0.0 {
        return Err(BindingError::invalid_input(
            field,
            &format!("must be a positive number of seconds, got {value}"),
        ));
    }
    Duration::try_from_secs_f64(value)
        .map_err(|e| BindingError::invalid_input(field, &e.to_string()))
}

/// `value` seconds as a duration where zero means something (a cache
/// turned off, no leeway): finite and not negative.
///
/// ```
/// use agentwrit_bindings::seconds_or_zero;
/// assert!(seconds_or_zero("max_staleness", 0.0).unwrap().is_zero());
/// assert!(seconds_or_zero("max_staleness", -1.0).is_err());
/// ```
///
/// # Errors
///
/// An [`InvalidInput`](crate::ErrorKind::InvalidInput) naming `field`.
pub fn seconds_or_zero(field: &str, value: f64) -> Result<Duration> {
    if value == 0.0 {
        return Ok(Duration::ZERO);
    }
    if !value.is_finite() || value < 0.0 {
        return Err(BindingError::invalid_input(
            field,
            &format!("must be zero or a positive number of seconds, got {value}"),
        ));
    }
    Duration::try_from_secs_f64(value)
        .map_err(|e| BindingError::invalid_input(field, &e.to_string()))
}

/// Applies [`Settings`] to a transport's `BrokerBuilder` and builds it
/// (both transports name the setters alike).
macro_rules! apply {
    ($builder:expr, $settings:expr) => {{
        let s: &Settings = $settings;
        let mut b = $builder;
        b = b.timeout(s.timeout);
        if let Some(ua) = &s.user_agent {
            b = b.user_agent(ua.clone());
        }
        if let Some(pem) = &s.ca_pem {
            b = b.add_root_certificate_pem(pem);
        }
        if let Some((cert, key)) = &s.identity {
            b = b.identity_pem(cert, key);
        }
        b.https_only(s.https_only).build()
    }};
}

impl Settings {
    /// Checks `options`.
    ///
    /// # Errors
    ///
    /// A timeout that is not a positive number of seconds; a client
    /// certificate without its key or a key without its certificate.
    pub fn new(options: Options) -> Result<Settings> {
        let timeout = options
            .timeout_secs
            .map(|t| seconds("timeout", t))
            .transpose()?
            .unwrap_or(DEFAULT_TIMEOUT);
        let identity = match (options.client_cert_pem, options.client_key_pem) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(BindingError::invalid_input(
                    "client_cert",
                    "a client certificate needs its key (client_key), and a key its certificate",
                ));
            }
        };
        Ok(Settings {
            timeout,
            user_agent: options.user_agent,
            ca_pem: options.ca_pem,
            identity,
            https_only: options.https_only,
        })
    }

    /// The deadline of one call, retries included, which also bounds each
    /// of its requests (by default `agentwrit-core`'s `DEFAULT_TIMEOUT`,
    /// 10 s).
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The blocking connection to `url`.
    pub(crate) fn blocking_broker(&self, url: &str) -> Result<agentwrit_blocking::Broker> {
        apply!(agentwrit_blocking::Broker::builder(url), self)
            .map_err(|e| BindingError::from_sdk(&e, url))
    }

    /// The async connection to `url` (built inside the bindings runtime's
    /// context, where its connections will live).
    pub(crate) fn async_broker(&self, url: &str) -> Result<agentwrit_async::Broker> {
        let runtime = crate::runtime::runtime()?;
        let _context = runtime.enter();
        apply!(agentwrit_async::Broker::builder(url), self)
            .map_err(|e| BindingError::from_sdk(&e, url))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_setting_tells_two_settings_apart() {
        let base = Options {
            timeout_secs: Some(5.0),
            ..Options::default()
        };
        let variants = [
            base.clone(),
            Options {
                timeout_secs: Some(6.0),
                ..base.clone()
            },
            Options {
                user_agent: Some("x".into()),
                ..base.clone()
            },
            Options {
                ca_pem: Some(b"ca".to_vec()),
                ..base.clone()
            },
            Options {
                client_cert_pem: Some(b"c".to_vec()),
                client_key_pem: Some(b"k".to_vec()),
                ..base.clone()
            },
            Options {
                https_only: true,
                ..base.clone()
            },
        ];
        let set: HashSet<Settings> = variants
            .into_iter()
            .map(|o| Settings::new(o).unwrap())
            .collect();
        assert_eq!(set.len(), 6);
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let e = Settings::new(Options {
            client_cert_pem: Some(b"c".to_vec()),
            ..Options::default()
        })
        .unwrap_err();
        assert!(e.message().contains("client_cert"), "{e}");
    }

    #[test]
    fn the_key_is_not_in_debug() {
        let s = Settings::new(Options {
            client_cert_pem: Some(b"CERT".to_vec()),
            client_key_pem: Some(b"PRIVATE KEY SECRET".to_vec()),
            ..Options::default()
        })
        .unwrap();
        let text = format!("{s:?}");
        assert!(
            !text.contains("SECRET") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn bad_timeouts_are_refused() {
        for t in [0.0, -1.0, f64::INFINITY, f64::NAN, 1e300] {
            assert!(
                Settings::new(Options {
                    timeout_secs: Some(t),
                    ..Options::default()
                })
                .is_err(),
                "{t}"
            );
        }
    }
}
