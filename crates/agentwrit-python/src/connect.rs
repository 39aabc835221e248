//! Every construction of an SDK client happens here, and only here: the
//! blocking and async apps, operators and validators that the Python
//! classes wrap. The rest of the crate receives built clients.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use agentwrit_blocking::Error;

/// What a Python caller may set on any client: the request timeout, the
/// User-Agent and the TLS options of the Rust clients (PEM bytes; the
/// Python layer reads files).
#[derive(Clone, Default)]
pub struct Settings {
    /// Overall timeout of one request.
    pub timeout: Option<Duration>,
    /// The User-Agent header.
    pub user_agent: Option<String>,
    /// Extra trusted roots (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate chain and its key (PEM) for mutual TLS.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// Refuse `http://` broker URLs.
    pub https_only: bool,
}

// `Debug` by hand: the client key is a secret.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("identity", &self.identity.as_ref().map(|_| "<redacted>"))
            .field("https_only", &self.https_only)
            .finish()
    }
}

/// Applies [`Settings`] to a transport's `BrokerBuilder` (both transports
/// name the setters alike).
macro_rules! apply {
    ($builder:expr, $settings:expr) => {{
        let s: &Settings = $settings;
        let mut b = $builder;
        if let Some(t) = s.timeout {
            b = b.timeout(t);
        }
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

/// The blocking connection to `url`: one pool and TLS configuration for
/// the app, operator or validator made from it.
fn blocking_broker(url: &str, settings: &Settings) -> Result<agentwrit_blocking::Broker, Error> {
    apply!(agentwrit_blocking::Broker::builder(url), settings)
}

/// The async twin of [`blocking_broker`].
fn async_broker(url: &str, settings: &Settings) -> Result<agentwrit_async::Broker, Error> {
    apply!(agentwrit_async::Broker::builder(url), settings)
}

/// A blocking app.
pub fn blocking_app(
    url: &str,
    client_id: &str,
    client_secret: String,
    settings: &Settings,
) -> Result<agentwrit_blocking::App, Error> {
    blocking_broker(url, settings)?.app(client_id, client_secret)
}

/// A blocking app from `AGENTWRIT_*` variables.
pub fn blocking_app_from_env() -> Result<agentwrit_blocking::App, Error> {
    agentwrit_blocking::App::from_env()
}

/// An async app.
pub fn async_app(
    url: &str,
    client_id: &str,
    client_secret: String,
    settings: &Settings,
) -> Result<agentwrit_async::App, Error> {
    async_broker(url, settings)?.app(client_id, client_secret)
}

/// An async app from `AGENTWRIT_*` variables.
pub fn async_app_from_env() -> Result<agentwrit_async::App, Error> {
    agentwrit_async::App::from_env()
}

/// A blocking operator.
pub fn blocking_operator(
    url: &str,
    admin_secret: String,
    settings: &Settings,
) -> Result<agentwrit_blocking::Operator, Error> {
    blocking_broker(url, settings)?.operator(admin_secret)
}

/// A blocking operator from `AGENTWRIT_*` variables.
pub fn blocking_operator_from_env() -> Result<agentwrit_blocking::Operator, Error> {
    agentwrit_blocking::Operator::from_env()
}

/// An async operator.
pub fn async_operator(
    url: &str,
    admin_secret: String,
    settings: &Settings,
) -> Result<agentwrit_async::Operator, Error> {
    async_broker(url, settings)?.operator(admin_secret)
}

/// An async operator from `AGENTWRIT_*` variables.
pub fn async_operator_from_env() -> Result<agentwrit_async::Operator, Error> {
    agentwrit_async::Operator::from_env()
}

type Key = (String, Option<Duration>);

/// One pooled broker connection per (broker URL, timeout), so
/// module-level `validate(url, token)` reuses connections instead of
/// opening a client per call.
pub fn blocking_validator(
    url: &str,
    settings: &Settings,
) -> Result<agentwrit_blocking::Broker, Error> {
    static CACHE: Mutex<Option<HashMap<Key, agentwrit_blocking::Broker>>> = Mutex::new(None);
    cached(&CACHE, url, settings, |s| blocking_broker(url, s))
}

/// The async twin of [`blocking_validator`].
pub fn async_validator(url: &str, settings: &Settings) -> Result<agentwrit_async::Broker, Error> {
    static CACHE: Mutex<Option<HashMap<Key, agentwrit_async::Broker>>> = Mutex::new(None);
    cached(&CACHE, url, settings, |s| async_broker(url, s))
}

fn cached<V: Clone>(
    cache: &Mutex<Option<HashMap<Key, V>>>,
    url: &str,
    settings: &Settings,
    build: impl FnOnce(&Settings) -> Result<V, Error>,
) -> Result<V, Error> {
    // Only plain settings are cached; TLS-configured validators are built
    // each time (their PEMs are not a cheap key).
    let cacheable = settings.ca_pem.is_none() && settings.identity.is_none();
    if !cacheable {
        return build(settings);
    }
    let key = (url.to_owned(), settings.timeout);
    let mut guard = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some(v) = map.get(&key) {
        return Ok(v.clone());
    }
    let v = build(settings)?;
    // A bounded cache: a program validating against many brokers does not
    // grow it without end.
    if map.len() >= 64 {
        map.clear();
    }
    map.insert(key, v.clone());
    Ok(v)
}
