//! [`AgentAuthBuilder`]: the settings of an [`AgentAuth`], checked once at
//! `build`.

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use agentwrit_core::{ClaimChecks, Clock, SystemClock};

use super::{
    AgentAuth, DEFAULT_BROKER_TIMEOUT, DEFAULT_CACHE_CAPACITY, DEFAULT_MAX_STALENESS, Inner, Mode,
};
use crate::cache::Cache;
use crate::check::{BrokerCheck, BrokerTls, LocalCheck};
use crate::{BrokerKey, ConfigError, ProtectedResource};

pub(super) enum Target {
    Broker(String),
    Local(Vec<BrokerKey>),
}

/// Configures an [`AgentAuth`]; from [`AgentAuth::broker`] or
/// [`AgentAuth::local`].
///
/// ```
/// use std::time::Duration;
/// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080")
///     .max_staleness(Duration::from_secs(2))
///     .cache_capacity(50_000)
///     .broker_timeout(Duration::from_secs(2))
///     .public_path("/healthz")
///     .build()?;
/// # let _ = auth; Ok::<(), agentwrit_tower::ConfigError>(())
/// ```
#[must_use]
pub struct AgentAuthBuilder {
    target: Target,
    max_staleness: Duration,
    capacity: usize,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    recheck: Option<String>,
    tls: BrokerTls,
    public_paths: Vec<String>,
    public_prefixes: Vec<String>,
    resource: Option<ProtectedResource>,
    usage: Option<agentwrit_usage::Recorder>,
}

impl fmt::Debug for AgentAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentAuthBuilder")
            .field("max_staleness", &self.max_staleness)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl AgentAuthBuilder {
    pub(super) fn new(target: Target) -> Self {
        AgentAuthBuilder {
            target,
            max_staleness: DEFAULT_MAX_STALENESS,
            capacity: DEFAULT_CACHE_CAPACITY,
            clock: Arc::new(SystemClock),
            timeout: DEFAULT_BROKER_TIMEOUT,
            issuer: None,
            audience: None,
            leeway: Duration::ZERO,
            recheck: None,
            tls: BrokerTls::default(),
            public_paths: Vec::new(),
            public_prefixes: Vec::new(),
            resource: None,
            usage: None,
        }
    }

    /// How long a verdict may be reused (default
    /// [`DEFAULT_MAX_STALENESS`]); never past the token's `exp`. Zero turns
    /// the cache off (concurrent checks of one token are still shared).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").max_staleness(Duration::ZERO);
    /// # let _ = b;
    /// ```
    pub fn max_staleness(mut self, max_staleness: Duration) -> Self {
        self.max_staleness = max_staleness;
        self
    }

    /// The most verdicts kept (default [`DEFAULT_CACHE_CAPACITY`]); the
    /// oldest leave first.
    ///
    /// ```
    /// let b = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").cache_capacity(1_000);
    /// # let _ = b;
    /// ```
    pub fn cache_capacity(mut self, entries: usize) -> Self {
        self.capacity = entries;
        self
    }

    /// The clock for staleness and expiry (default: the system clock).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use agentwrit_core::ManualClock;
    /// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_795_304_437));
    /// let b = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").clock(clock.clone());
    /// # let _ = b;
    /// ```
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The timeout of one broker call (default [`DEFAULT_BROKER_TIMEOUT`]);
    /// past it the request gets a 503.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let b = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").broker_timeout(Duration::from_secs(1));
    /// # let _ = b;
    /// ```
    pub fn broker_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Trusts this CA (PEM, one or many certificates) for the broker's
    /// HTTPS certificate, beside the built-in roots: a broker behind a
    /// private CA. Checked when the authenticator is built.
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// let ca_pem = pki.ca_pem(); // e.g. std::fs::read("/etc/agentwrit/ca.pem")?
    /// let auth = agentwrit_tower::AgentAuth::broker("https://127.0.0.1:8443")
    ///     .add_broker_root_certificate_pem(ca_pem.as_bytes())
    ///     .build()?;
    /// # let _ = auth; Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_broker_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.tls.roots.push(pem.to_vec());
        self
    }

    /// Presents this client certificate chain and key (PEM) to a broker
    /// in mTLS mode. Checked when the authenticator is built.
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// # let ca_pem = pki.ca_pem();
    /// let (cert, key) = (pki.client().cert_pem(), pki.client().key_pem());
    /// let auth = agentwrit_tower::AgentAuth::broker("https://127.0.0.1:8443")
    ///     .add_broker_root_certificate_pem(ca_pem.as_bytes())
    ///     .broker_identity_pem(cert.as_bytes(), key.as_bytes())
    ///     .build()?;
    /// # let _ = auth; Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn broker_identity_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.tls.identity = Some((cert_chain_pem.to_vec(), key_pem.to_vec()));
        self
    }

    /// Requires `iss` to equal `issuer` (the broker's `AA_ISSUER`).
    ///
    /// ```
    /// let b = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").issuer("https://broker.example");
    /// # let _ = b;
    /// ```
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` to contain `audience` (tokens without `aud` are
    /// refused).
    ///
    /// ```
    /// let b = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").audience("orders-api");
    /// # let _ = b;
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The tolerated clock difference on `exp` and `nbf` (default 0), in
    /// every mode: the service applies the same claim rules to the
    /// broker's answer as to a local verification.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use agentwrit_tower::{AgentAuth, BrokerKey};
    /// let key = BrokerKey::from_base64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")?;
    /// let b = AgentAuth::local([key]).leeway(Duration::from_secs(2));
    /// # let _ = b; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Local mode: also ask the broker at `broker_url`, at most once per
    /// token every `max_staleness`, so release and revocation are still
    /// seen. Forged and expired tokens never reach the broker.
    ///
    /// ```
    /// # use agentwrit_tower::{AgentAuth, BrokerKey};
    /// let key = BrokerKey::from_base64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")?;
    /// let auth = AgentAuth::local([key]).broker_recheck("http://127.0.0.1:8080").build()?;
    /// # let _ = auth; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    pub fn broker_recheck(mut self, broker_url: impl Into<String>) -> Self {
        self.recheck = Some(broker_url.into());
        self
    }

    /// A path (exact match) the layer lets through without a token.
    ///
    /// ```
    /// let b = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").public_path("/healthz");
    /// # let _ = b;
    /// ```
    pub fn public_path(mut self, path: impl Into<String>) -> Self {
        self.public_paths.push(path.into());
        self
    }

    /// A path prefix the layer lets through without a token.
    ///
    /// ```
    /// let b = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").public_prefix("/static/");
    /// # let _ = b;
    /// ```
    pub fn public_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.public_prefixes.push(prefix.into());
        self
    }

    /// Records scope usage (off by default): for every token this
    /// authenticator accepts, the scopes its requests required (through
    /// [`RequireScopes`](crate::RequireScopes),
    /// [`AgentClaims::require`](crate::AgentClaims::require) or the MCP layer's [`McpScopes`](crate::McpScopes))
    /// and what was decided, and the requests
    /// refused after it was accepted (expired, revoked or released), into
    /// `recorder` ([`usage::Recorder`](crate::usage::Recorder): JSON Lines
    /// files, OTLP, counters). Time comes from the recorder's clock.
    ///
    /// ```
    /// use agentwrit_tower::AgentAuth;
    /// use agentwrit_tower::usage::{JsonlSink, Recorder};
    ///
    /// # let dir = std::env::temp_dir().join(format!("tower-usage-doc-{}", std::process::id()));
    /// let recorder = Recorder::builder()
    ///     .service_name("orders-api")
    ///     .sink(JsonlSink::dir(&dir)?) // e.g. /var/log/agentwrit-usage
    ///     .build()?;
    /// let auth = AgentAuth::broker("http://127.0.0.1:8080")
    ///     .record_usage(recorder.clone())
    ///     .build()?;
    /// // ... serve; at shutdown:
    /// recorder.shutdown()?;
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_usage(mut self, recorder: agentwrit_usage::Recorder) -> Self {
        self.usage = Some(recorder);
        self
    }

    /// Publishes this service as an OAuth protected resource (RFC 9728),
    /// the dialect MCP clients speak: the layers answer `GET` on its
    /// metadata path without a token, and every 401 and 403 challenge gains
    /// `resource_metadata="<its URL>"`. Opt-in: without it, responses are
    /// as before.
    ///
    /// ```
    /// let resource = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?;
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080")
    ///     .protected_resource(resource)
    ///     .build()?;
    /// # let _ = auth; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    pub fn protected_resource(mut self, resource: ProtectedResource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Builds the authenticator (no network yet).
    ///
    /// ```
    /// assert!(agentwrit_tower::AgentAuth::broker("not a url").build().is_err());
    /// assert!(agentwrit_tower::AgentAuth::local([]).build().is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A bad broker URL, no keys in local mode, an HTTP client that
    /// cannot be built, or no randomness for the cache's secret key.
    pub fn build(self) -> Result<AgentAuth, ConfigError> {
        let mut checks = ClaimChecks::new().with_leeway(self.leeway);
        if let Some(issuer) = self.issuer {
            checks = checks.with_issuer(issuer);
        }
        let mode = match self.target {
            Target::Broker(url) => Mode::Broker(BrokerCheck::new(&url, self.timeout, &self.tls)?),
            Target::Local(keys) => Mode::Local {
                local: LocalCheck::new(&keys, &checks)?,
                recheck: self
                    .recheck
                    .as_deref()
                    .map(|url| BrokerCheck::new(url, self.timeout, &self.tls))
                    .transpose()?,
            },
        };
        Ok(AgentAuth {
            inner: Arc::new(Inner {
                mode,
                cache: Cache::new(self.max_staleness, self.capacity)
                    .map_err(|e| ConfigError::Random(e.to_string()))?,
                clock: self.clock,
                checks,
                audience: self.audience,
                public_paths: self.public_paths,
                public_prefixes: self.public_prefixes,
                resource: self.resource,
                usage: self.usage,
            }),
        })
    }
}
