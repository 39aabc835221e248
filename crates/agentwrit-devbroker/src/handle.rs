//! Starting a broker: the builder and the handle of a running one.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use agentwrit_core::{Clock, SystemClock};
use agentwrit_wire::{AdminSecret, ErrorCode, whole_seconds};
use zeroize::Zeroizing;

use crate::broker::{Broker, RegisteredApp, Settings, valid_trust_domain};
use crate::crypto::random_bytes;
use crate::error::DevBrokerError;
use crate::problem::ApiError;
use crate::ratelimit::RateLimit;
use crate::server::{Counted, Peer, router};
use crate::tls::{Counters, TlsListener, TlsMode, TlsServerConfig};

/// The scope ceiling of the sample apps' "universal" app.
pub const UNIVERSAL_APP_SCOPES: [&str; 4] = [
    "read:data:*",
    "write:data:*",
    "read:analytics:*",
    "write:reports:*",
];

/// The name [`DevBrokerHandle::register_universal_app`] registers.
pub const UNIVERSAL_APP_NAME: &str = "universal-app";

/// How long a shutdown waits for in-flight requests before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Entry point: `DevBroker::builder()...start()`.
///
/// ```
/// use agentwrit_devbroker::DevBroker;
///
/// let broker = DevBroker::builder().start()?;
/// assert!(broker.url().starts_with("http://127.0.0.1:"));
/// let app = broker.register_universal_app()?;
/// assert!(app.app_id.starts_with("app-universal-app-"));
/// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DevBroker;

impl DevBroker {
    /// A builder with the real broker's defaults.
    pub fn builder() -> DevBrokerBuilder {
        DevBrokerBuilder::default()
    }

    /// Starts a broker with every default (random admin secret and key,
    /// rate limits on, `127.0.0.1:0`).
    ///
    /// # Errors
    ///
    /// As [`DevBrokerBuilder::start`].
    pub fn start() -> Result<DevBrokerHandle, DevBrokerError> {
        Self::builder().start()
    }
}

/// Configuration of a development broker. Every default is the real
/// broker's: trust domain `agentwrit.local`, empty issuer, agent TTL 300 s
/// capped at 86 400 s, app tokens 1 800 s, admin tokens 300 s, both login
/// rate limits on.
#[must_use]
pub struct DevBrokerBuilder {
    trust_domain: String,
    issuer: String,
    default_ttl: i64,
    max_ttl: i64,
    app_token_ttl: i64,
    admin_token_ttl: i64,
    app_auth_limit: Option<RateLimit>,
    admin_auth_limit: Option<RateLimit>,
    admin_secret: Option<AdminSecret>,
    signing_seed: Option<Zeroizing<[u8; 32]>>,
    clock: Arc<dyn Clock>,
    bind: SocketAddr,
    tls: Option<TlsServerConfig>,
}

impl Default for DevBrokerBuilder {
    fn default() -> Self {
        DevBrokerBuilder {
            trust_domain: "agentwrit.local".to_owned(),
            issuer: String::new(),
            default_ttl: 300,
            max_ttl: 86_400,
            app_token_ttl: 1800,
            admin_token_ttl: 300,
            app_auth_limit: Some(RateLimit::APP_AUTH),
            admin_auth_limit: Some(RateLimit::ADMIN_AUTH),
            admin_secret: None,
            signing_seed: None,
            clock: Arc::new(SystemClock),
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            tls: None,
        }
    }
}

impl fmt::Debug for DevBrokerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevBrokerBuilder")
            .field("trust_domain", &self.trust_domain)
            .field("issuer", &self.issuer)
            .field("default_ttl", &self.default_ttl)
            .field("max_ttl", &self.max_ttl)
            .field("app_token_ttl", &self.app_token_ttl)
            .field("admin_token_ttl", &self.admin_token_ttl)
            .field("app_auth_limit", &self.app_auth_limit)
            .field("admin_auth_limit", &self.admin_auth_limit)
            .field(
                "admin_secret",
                &self.admin_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "signing_key_seed",
                &self.signing_seed.as_ref().map(|_| "<redacted>"),
            )
            .field("bind", &self.bind)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl DevBrokerBuilder {
    /// The SPIFFE trust domain of agent ids (default `agentwrit.local`);
    /// lower-case letters, digits, `.`, `-`, `_`.
    pub fn trust_domain(mut self, trust_domain: impl Into<String>) -> Self {
        self.trust_domain = trust_domain.into();
        self
    }

    /// The `iss` claim (default empty, as the real broker); when non-empty
    /// it is also enforced on verification.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// The TTL used when a token is issued without one (default 300 s;
    /// whole seconds, rounded up; must not be zero).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = whole_seconds(ttl);
        self
    }

    /// The cap on every token's TTL (default 86 400 s; whole seconds,
    /// rounded up; [`Duration::ZERO`] means no cap).
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.max_ttl = whole_seconds(ttl);
        self
    }

    /// The app token TTL for apps registered without one (default 1 800 s;
    /// whole seconds, rounded up; must not be zero).
    pub fn app_token_ttl(mut self, ttl: Duration) -> Self {
        self.app_token_ttl = whole_seconds(ttl);
        self
    }

    /// The admin token TTL (default 300 s; whole seconds, rounded up; must
    /// not be zero).
    ///
    /// ```
    /// use std::time::Duration;
    /// use agentwrit_devbroker::{DevBroker, DevBrokerError};
    /// let zero = DevBroker::builder().admin_token_ttl(Duration::ZERO).start();
    /// assert!(matches!(zero, Err(DevBrokerError::Config(_))));
    /// ```
    pub fn admin_token_ttl(mut self, ttl: Duration) -> Self {
        self.admin_token_ttl = whole_seconds(ttl);
        self
    }

    /// The `POST /v1/app/auth` limit per client id; `None` disables it
    /// (default [`RateLimit::APP_AUTH`]).
    pub fn app_auth_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.app_auth_limit = limit;
        self
    }

    /// The `POST /v1/admin/auth` limit per client IP; `None` disables it
    /// (default [`RateLimit::ADMIN_AUTH`]).
    pub fn admin_auth_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.admin_auth_limit = limit;
        self
    }

    /// Turns both rate limits off (for tests that log in often).
    pub fn no_rate_limits(self) -> Self {
        self.app_auth_rate_limit(None).admin_auth_rate_limit(None)
    }

    /// The operator's admin secret (default: 64 random hex characters,
    /// readable from [`DevBrokerHandle::admin_secret`]). The broker keeps
    /// only its SHA-256.
    pub fn admin_secret(mut self, secret: AdminSecret) -> Self {
        self.admin_secret = Some(secret);
        self
    }

    /// Derives the Ed25519 signing key from this seed, for deterministic
    /// keys and `kid`s in tests (default: a random key).
    pub fn signing_key_seed(mut self, seed: [u8; 32]) -> Self {
        self.signing_seed = Some(Zeroizing::new(seed));
        self
    }

    /// The clock every expiry reads (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The address to listen on (default `127.0.0.1:0`, a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Serves HTTPS (or, with
    /// [`TlsServerConfig::require_client_cert`], mutual TLS) instead of
    /// plain HTTP, as the real broker does with `AA_TLS_MODE=tls|mtls`;
    /// the handle's [`url`](DevBrokerHandle::url) then starts `https://`
    /// and every answer carries the real broker's
    /// `Strict-Transport-Security` header. Default: plain HTTP.
    ///
    /// ```
    /// # #[cfg(feature = "test-pki")] {
    /// use agentwrit_devbroker::{DevBroker, TlsMode};
    /// use agentwrit_devbroker::tls::TestPki;
    ///
    /// let pki = TestPki::generate()?;
    /// let broker = DevBroker::builder().tls(pki.server_config()?).start()?;
    /// assert!(broker.url().starts_with("https://127.0.0.1:"));
    /// assert_eq!(broker.tls_mode(), TlsMode::Tls);
    /// # }
    /// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
    /// ```
    pub fn tls(mut self, config: TlsServerConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Binds the socket and starts serving on a background thread with its
    /// own tokio runtime, so blocking and async callers alike can use it.
    ///
    /// # Errors
    ///
    /// [`DevBrokerError::Config`] for an invalid setting,
    /// [`DevBrokerError::Bind`] when the address cannot be bound,
    /// [`DevBrokerError::Runtime`] when the runtime or thread cannot start,
    /// [`DevBrokerError::Randomness`] when no random key can be made.
    pub fn start(self) -> Result<DevBrokerHandle, DevBrokerError> {
        if !valid_trust_domain(&self.trust_domain) {
            return Err(DevBrokerError::Config(format!(
                "trust domain {:?} is not a valid SPIFFE trust domain",
                self.trust_domain
            )));
        }
        for (name, v) in [
            ("default_ttl", self.default_ttl),
            ("app_token_ttl", self.app_token_ttl),
            ("admin_token_ttl", self.admin_token_ttl),
        ] {
            if v <= 0 {
                return Err(DevBrokerError::Config(format!("{name} must be positive")));
            }
        }
        for limit in [self.app_auth_limit, self.admin_auth_limit]
            .into_iter()
            .flatten()
        {
            if !limit.per_second.is_finite() || limit.per_second < 0.0 {
                return Err(DevBrokerError::Config(
                    "rate limit per_second must be finite and not negative".into(),
                ));
            }
        }
        let admin_secret = match self.admin_secret {
            Some(s) if s.is_empty() => {
                return Err(DevBrokerError::Config(
                    "admin secret must not be empty".into(),
                ));
            }
            Some(s) => s,
            None => AdminSecret::new(hex::encode(*Zeroizing::new(random_bytes::<32>()?))),
        };
        let seed = match self.signing_seed {
            Some(s) => s,
            None => Zeroizing::new(random_bytes::<32>()?),
        };
        let settings = Settings {
            trust_domain: self.trust_domain,
            issuer: self.issuer,
            default_ttl: self.default_ttl,
            max_ttl: self.max_ttl,
            app_token_ttl: self.app_token_ttl,
            admin_token_ttl: self.admin_token_ttl,
            app_auth_limit: self.app_auth_limit,
            admin_auth_limit: self.admin_auth_limit,
        };
        let broker = Arc::new(Broker::new(
            settings,
            self.clock,
            &seed,
            admin_secret.expose_secret(),
        ));

        let bind_err = |source| DevBrokerError::Bind {
            addr: self.bind,
            source,
        };
        let listener = TcpListener::bind(self.bind).map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;

        let tls_mode = self
            .tls
            .as_ref()
            .map_or(TlsMode::None, TlsServerConfig::mode);
        let rustls_config = self
            .tls
            .as_ref()
            .map(TlsServerConfig::rustls_config)
            .transpose()?;
        let counters = Arc::new(Counters::default());
        let tls_counters = Arc::clone(&counters);
        let accepted = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&accepted);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("agentwrit-devbroker")
            .enable_all()
            .build()
            .map_err(DevBrokerError::Runtime)?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let app = router(Arc::clone(&broker), tls_mode != TlsMode::None)
            .into_make_service_with_connect_info::<Peer>();
        let thread = std::thread::Builder::new()
            .name(format!("agentwrit-devbroker-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "devbroker: cannot adopt listener");
                            return;
                        }
                    };
                    let mut graceful = stop_rx.clone();
                    let mut hard = stop_rx;
                    let stopped = async move {
                        let _ = graceful.wait_for(|stop| *stop).await;
                    };
                    let serve = async move {
                        match rustls_config {
                            None => {
                                axum::serve(Counted::new(listener, counted), app)
                                    .with_graceful_shutdown(stopped)
                                    .await
                            }
                            Some(config) => {
                                let listener = TlsListener::spawn(listener, config, tls_counters)?;
                                axum::serve(Counted::new(listener, counted), app)
                                    .with_graceful_shutdown(stopped)
                                    .await
                            }
                        }
                    };
                    tokio::select! {
                        r = serve => {
                            if let Err(e) = r {
                                tracing::error!(error = %e, "devbroker: server stopped");
                            }
                        }
                        () = async move {
                            let _ = hard.wait_for(|stop| *stop).await;
                            tokio::time::sleep(SHUTDOWN_GRACE).await;
                        } => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(DevBrokerError::Runtime)?;
        tracing::debug!(%addr, %tls_mode, "devbroker: listening");
        let scheme = if tls_mode == TlsMode::None {
            "http"
        } else {
            "https"
        };
        Ok(DevBrokerHandle {
            url: format!("{scheme}://{}", display_addr(addr)),
            addr,
            tls_mode,
            counters,
            accepted,
            admin_secret,
            broker,
            stop: stop_tx,
            thread: Some(thread),
        })
    }
}

/// A loopback address for a wildcard bind, so the URL is usable.
fn display_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// A running development broker. Dropping it (or calling
/// [`DevBrokerHandle::shutdown`]) stops the server and joins its thread;
/// that is safe from synchronous and asynchronous code alike.
pub struct DevBrokerHandle {
    url: String,
    addr: SocketAddr,
    tls_mode: TlsMode,
    counters: Arc<Counters>,
    /// Connections handed to the HTTP server (see `connections_accepted`).
    accepted: Arc<AtomicU64>,
    admin_secret: AdminSecret,
    broker: Arc<Broker>,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for DevBrokerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevBrokerHandle")
            .field("url", &self.url)
            .field("tls_mode", &self.tls_mode)
            .field("kid", &self.kid())
            .field("admin_secret", &self.admin_secret)
            .finish_non_exhaustive()
    }
}

impl DevBrokerHandle {
    /// The base URL, e.g. `http://127.0.0.1:41234`, or
    /// `https://127.0.0.1:41234` over TLS (no trailing slash).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The transport: [`TlsMode::None`] unless the builder was given
    /// [`DevBrokerBuilder::tls`].
    #[must_use]
    pub fn tls_mode(&self) -> TlsMode {
        self.tls_mode
    }

    /// How many TLS handshakes have completed since the start (always 0
    /// over plain HTTP). One per connection: a client that pools its
    /// connections makes one handshake per pooled connection, not one per
    /// request. Failed handshakes (an untrusted or missing client
    /// certificate under mTLS, plain HTTP on the TLS port) are not
    /// counted. A handshake is counted before its connection's first
    /// request is served, so once a response has arrived the count
    /// includes that response's connection.
    ///
    /// ```
    /// use agentwrit_devbroker::DevBroker;
    ///
    /// let broker = DevBroker::start()?; // plain HTTP
    /// assert_eq!(broker.tls_handshakes(), 0);
    /// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
    /// ```
    #[must_use]
    pub fn tls_handshakes(&self) -> u64 {
        self.counters.completed.load(Ordering::SeqCst)
    }

    /// How many connections the HTTP server has accepted since the start:
    /// TCP connections over plain HTTP, connections whose TLS handshake
    /// completed over TLS. A client that pools its connections opens one
    /// per request in flight at a time, not one per request, so this tells
    /// how many pools (and how large) talked to the broker. A connection
    /// is counted before its first request is served, so once a response
    /// has arrived the count includes that response's connection.
    ///
    /// ```
    /// use agentwrit_devbroker::DevBroker;
    ///
    /// let broker = DevBroker::start()?;
    /// assert_eq!(broker.connections_accepted(), 0);
    /// # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
    /// ```
    #[must_use]
    pub fn connections_accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The address the server is bound to.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The operator secret for `POST /v1/admin/auth`.
    #[must_use]
    pub fn admin_secret(&self) -> &AdminSecret {
        &self.admin_secret
    }

    /// The broker's raw Ed25519 public key (tokens verify against it).
    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.broker.public_key()
    }

    /// The `kid` of every token: the RFC 7638 thumbprint of the public key.
    #[must_use]
    pub fn kid(&self) -> &str {
        self.broker.kid()
    }

    /// Registers an app in-process, exactly as `POST /v1/admin/apps` would
    /// (same checks, ids, audit event). `token_ttl` `None` means the
    /// broker's app token TTL.
    ///
    /// # Errors
    ///
    /// [`DevBrokerError::Rejected`] with the broker's status, code and
    /// detail (invalid name or scope, TTL outside 60..=86400, duplicate
    /// name).
    pub fn register_app<S: AsRef<str>>(
        &self,
        name: &str,
        scopes: &[S],
        token_ttl: Option<i64>,
    ) -> Result<RegisteredApp, DevBrokerError> {
        let rejected = |e: ApiError| DevBrokerError::Rejected {
            status: e.status,
            code: e.code,
            detail: e.detail,
        };
        if name.is_empty() {
            return Err(rejected(ApiError::bad_request("name is required")));
        }
        if scopes.is_empty() {
            return Err(rejected(ApiError::bad_request("scopes must not be empty")));
        }
        if let Some(t) = token_ttl
            && t <= 0
        {
            return Err(DevBrokerError::Rejected {
                status: 400,
                code: ErrorCode::InvalidTtl,
                detail: format!("invalid token TTL: must be between 60 and 86400 seconds, got {t}"),
            });
        }
        let scopes = scopes.iter().map(|s| s.as_ref().to_owned()).collect();
        self.broker
            .register_app(name, scopes, token_ttl.unwrap_or(0))
            .map_err(rejected)
    }

    /// Registers the sample apps' universal app
    /// ([`UNIVERSAL_APP_NAME`], ceiling [`UNIVERSAL_APP_SCOPES`]).
    ///
    /// # Errors
    ///
    /// As [`DevBrokerHandle::register_app`] (a second call fails: the name
    /// is taken).
    pub fn register_universal_app(&self) -> Result<RegisteredApp, DevBrokerError> {
        self.register_app(UNIVERSAL_APP_NAME, &UNIVERSAL_APP_SCOPES, None)
    }

    /// Stops serving and waits for the server thread to end (at most a
    /// couple of seconds for in-flight requests).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DevBrokerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl RegisteredApp {
    /// The three lines a user pastes into a shell to point the SDKs at
    /// `broker_url` with this app's credentials. **Contains the secret.**
    #[must_use]
    pub fn shell_exports(&self, broker_url: &str) -> String {
        format!(
            "export AGENTWRIT_BROKER_URL={broker_url}\nexport AGENTWRIT_CLIENT_ID={}\nexport AGENTWRIT_CLIENT_SECRET={}\n",
            self.client_id,
            self.client_secret.expose_secret()
        )
    }
}
