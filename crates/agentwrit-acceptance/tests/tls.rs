//! TLS on both transports: each handshake failure is a typed, unretried
//! `Transport { kind: Tls }` naming its cause, within the timeout and
//! with no secret in it; connections are reused over TLS; the builder's
//! TLS options, `https_only`, the clear-text warning, custom HTTP
//! clients and the TLS environment variables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentwrit_core::{ClientSettings, Error, RetryPolicy, TlsFailure, TransportFailure};
use agentwrit_devbroker::tls::{TestIdentity, TestPki};
use agentwrit_devbroker::{DevBroker, DevBrokerHandle, TlsServerConfig};

/// The clients' timeout in the failure tests.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The TLS options a test gives a client.
#[derive(Clone, Default)]
struct Tls {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    built_in_roots: Option<bool>,
    https_only: bool,
}

impl Tls {
    fn trusting(pki: &TestPki) -> Tls {
        Tls {
            ca: Some(pki.ca_pem().as_bytes().to_vec()),
            ..Tls::default()
        }
    }
    fn presenting(mut self, id: &TestIdentity) -> Tls {
        self.identity = Some((
            id.cert_pem().as_bytes().to_vec(),
            id.key_pem().as_bytes().to_vec(),
        ));
        self
    }
}

/// Three attempts with short waits: a retried failure would show.
fn three() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(20))
}

/// One transport, as these tests drive it.
trait Client {
    const NAME: &'static str;
    /// Connections of the SDK's releaser pool a lifecycle opens besides
    /// the app's own: the async client registers agents there (so that a
    /// cancelled caller cannot lose one).
    const RELEASER_CONNECTIONS: u64;
    /// Builds a broker with these options, then an app (nothing sent).
    fn build_app(url: &str, id: &str, secret: &str, tls: &Tls) -> Result<(), Error>;
    /// `{:?}` of a broker, an app and an operator built with these
    /// options.
    fn debug_clients(url: &str, tls: &Tls) -> String;
    /// Builds a broker with these options, then an operator.
    fn build_others(url: &str, secret: &str, tls: &Tls) -> Result<(), Error>;
    /// `health()` through an app with these options.
    fn health(url: &str, tls: &Tls, secret: &str) -> Result<(), Error>;
    /// create, validate, renew, create another, delegate to it, release
    /// both, validate again: nine requests.
    fn lifecycle(url: &str, id: &str, secret: &str, tls: &Tls) -> Result<(), Error>;
    /// `validate()` through a broker with these options.
    fn validator(url: &str, tls: &Tls, token: &str) -> Result<bool, Error>;
    /// An app on the HTTP library's stock client (no SDK settings on it),
    /// with the SDK's `timeout`; creates one agent.
    fn stock_client_create_agent(
        url: &str,
        id: &str,
        secret: &str,
        timeout: Duration,
    ) -> Result<(), Error>;
    /// A stock custom client together with a TLS option.
    fn custom_client_with_tls(url: &str, tls: &Tls) -> Result<(), Error>;
}

macro_rules! apply {
    ($builder:expr, $tls:expr) => {{
        let tls: &Tls = $tls;
        let mut b = $builder;
        if let Some(ca) = &tls.ca {
            b = b.add_root_certificate_pem(ca);
        }
        if let Some((cert, key)) = &tls.identity {
            b = b.identity_pem(cert, key);
        }
        if let Some(on) = tls.built_in_roots {
            b = b.tls_built_in_roots(on);
        }
        b.https_only(tls.https_only)
    }};
}

struct Blocking;

impl Client for Blocking {
    const NAME: &'static str = "blocking";
    const RELEASER_CONNECTIONS: u64 = 0;
    fn build_app(url: &str, id: &str, secret: &str, tls: &Tls) -> Result<(), Error> {
        apply!(agentwrit_blocking::Broker::builder(url), tls)
            .build()?
            .app(id, secret)
            .map(drop)
    }
    fn debug_clients(url: &str, tls: &Tls) -> String {
        let builder = apply!(agentwrit_blocking::Broker::builder(url), tls);
        let rendered = format!("{builder:?}");
        let broker = builder.build().unwrap();
        let app = broker.app("id", "s").unwrap();
        let op = broker.operator("s").unwrap();
        format!("{rendered}{broker:?}{app:?}{op:?}")
    }
    fn build_others(url: &str, secret: &str, tls: &Tls) -> Result<(), Error> {
        let broker = apply!(agentwrit_blocking::Broker::builder(url), tls).build()?;
        broker.operator(secret)?;
        Ok(())
    }
    fn health(url: &str, tls: &Tls, secret: &str) -> Result<(), Error> {
        let app = apply!(agentwrit_blocking::Broker::builder(url), tls)
            .timeout(TIMEOUT)
            .retry(three())
            .build()?
            .app("id", secret)?;
        app.health().map(drop)
    }
    fn lifecycle(url: &str, id: &str, secret: &str, tls: &Tls) -> Result<(), Error> {
        let app = apply!(agentwrit_blocking::Broker::builder(url), tls)
            .build()?
            .app(id, secret)?;
        let agent = app.create_agent("orch-tls", "task-tls", &["read:data:*"])?;
        assert!(app.validate(&agent.access_token())?.is_valid());
        agent.renew()?;
        let other = app.create_agent("orch-tls", "task-b", &["read:data:x"])?;
        agent.delegate(&other.agent_id(), &["read:data:x"], None)?;
        other.release()?;
        agent.release()?;
        assert!(!app.validate(&agent.access_token())?.is_valid());
        Ok(())
    }
    fn validator(url: &str, tls: &Tls, token: &str) -> Result<bool, Error> {
        let broker = apply!(agentwrit_blocking::Broker::builder(url), tls).build()?;
        Ok(broker.validate(token)?.is_valid())
    }
    fn stock_client_create_agent(
        url: &str,
        id: &str,
        secret: &str,
        timeout: Duration,
    ) -> Result<(), Error> {
        let app = agentwrit_blocking::Broker::builder(url)
            .http_client(ureq::Agent::new_with_defaults())
            .timeout(timeout)
            .retry(RetryPolicy::none())
            .build()?
            .app(id, secret)?;
        app.create_agent("o", "t", &["read:data:*"])?.release()?;
        Ok(())
    }
    fn custom_client_with_tls(url: &str, tls: &Tls) -> Result<(), Error> {
        apply!(agentwrit_blocking::Broker::builder(url), tls)
            .http_client(ureq::Agent::new_with_defaults())
            .build()
            .map(drop)
    }
}

struct Async;

/// reqwest's client with its defaults (redirects followed, no timeout),
/// on ring: this workspace builds reqwest without a provider of its own.
fn stock_reqwest() -> reqwest::Client {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()
        .unwrap()
}

fn on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

impl Client for Async {
    const NAME: &'static str = "async";
    const RELEASER_CONNECTIONS: u64 = 1;
    fn build_app(url: &str, id: &str, secret: &str, tls: &Tls) -> Result<(), Error> {
        apply!(agentwrit_async::Broker::builder(url), tls)
            .build()?
            .app(id, secret)
            .map(drop)
    }
    fn debug_clients(url: &str, tls: &Tls) -> String {
        let builder = apply!(agentwrit_async::Broker::builder(url), tls);
        let rendered = format!("{builder:?}");
        let broker = builder.build().unwrap();
        let app = broker.app("id", "s").unwrap();
        let op = broker.operator("s").unwrap();
        format!("{rendered}{broker:?}{app:?}{op:?}")
    }
    fn build_others(url: &str, secret: &str, tls: &Tls) -> Result<(), Error> {
        let broker = apply!(agentwrit_async::Broker::builder(url), tls).build()?;
        broker.operator(secret)?;
        Ok(())
    }
    fn health(url: &str, tls: &Tls, secret: &str) -> Result<(), Error> {
        let app = apply!(agentwrit_async::Broker::builder(url), tls)
            .timeout(TIMEOUT)
            .retry(three())
            .build()?
            .app("id", secret)?;
        on(app.health()).map(drop)
    }
    fn lifecycle(url: &str, id: &str, secret: &str, tls: &Tls) -> Result<(), Error> {
        let app = apply!(agentwrit_async::Broker::builder(url), tls)
            .build()?
            .app(id, secret)?;
        on(async {
            let agent = app
                .create_agent("orch-tls", "task-tls", &["read:data:*"])
                .await?;
            assert!(app.validate(&agent.access_token()).await?.is_valid());
            agent.renew().await?;
            let other = app
                .create_agent("orch-tls", "task-b", &["read:data:x"])
                .await?;
            agent
                .delegate(&other.agent_id(), &["read:data:x"], None)
                .await?;
            other.release().await?;
            agent.release().await?;
            assert!(!app.validate(&agent.access_token()).await?.is_valid());
            Ok(())
        })
    }
    fn validator(url: &str, tls: &Tls, token: &str) -> Result<bool, Error> {
        let broker = apply!(agentwrit_async::Broker::builder(url), tls).build()?;
        Ok(on(broker.validate(token))?.is_valid())
    }
    fn stock_client_create_agent(
        url: &str,
        id: &str,
        secret: &str,
        timeout: Duration,
    ) -> Result<(), Error> {
        on(async {
            let app = agentwrit_async::Broker::builder(url)
                .http_client(stock_reqwest())
                .timeout(timeout)
                .retry(RetryPolicy::none())
                .build()?
                .app(id, secret)?;
            app.create_agent("o", "t", &["read:data:*"])
                .await?
                .release()
                .await?;
            Ok(())
        })
    }
    fn custom_client_with_tls(url: &str, tls: &Tls) -> Result<(), Error> {
        apply!(agentwrit_async::Broker::builder(url), tls)
            .http_client(stock_reqwest())
            .build()
            .map(drop)
    }
}

// ------------------------------------------------------------ helpers --

/// A loopback TCP relay to `upstream` that counts the connections made
/// through it: how many attempts a client made.
struct Relay {
    url: String,
    connections: Arc<AtomicUsize>,
}

impl Relay {
    fn to(upstream: &str) -> Relay {
        let (scheme, authority) = upstream.split_once("://").unwrap();
        let target = authority.trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Relay {
            url: format!("{scheme}://127.0.0.1:{port}"),
            connections,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

fn broker_with(config: TlsServerConfig) -> DevBrokerHandle {
    DevBroker::builder().tls(config).start().unwrap()
}

fn serving(id: &TestIdentity) -> TlsServerConfig {
    TlsServerConfig::from_pem(id.cert_pem(), id.key_pem()).unwrap()
}

/// Runs `health` through a counting relay and checks the error: a TLS
/// failure of `expected`, one connection (never retried), within the
/// timeout, naming its cause, with the rustls error in the source chain
/// and no secret in it.
fn expect_tls_failure<C: Client>(upstream: &str, tls: &Tls, expected: TlsFailure) {
    let relay = Relay::to(upstream);
    let secret = "client-secret-4ca1b208-do-not-print";
    let started = Instant::now();
    let err = C::health(&relay.url, tls, secret).unwrap_err();
    let took = started.elapsed();
    assert!(took < TIMEOUT, "{}: took {took:?}", C::NAME);
    assert_eq!(
        err.transport_failure(),
        Some(TransportFailure::Tls),
        "{}: {err:?}",
        C::NAME
    );
    assert_eq!(err.tls_failure(), Some(expected), "{}: {err}", C::NAME);
    assert!(!err.is_retryable());
    assert_eq!(relay.connections(), 1, "{}: retried: {err}", C::NAME);
    let shown = err.to_string();
    assert!(shown.contains("TLS handshake failed"), "{shown}");
    assert!(shown.contains(&expected.to_string()), "{shown}");
    // The rustls error is reachable through source(), and a walk of the
    // chain shows its message once.
    let mut cause = std::error::Error::source(&err);
    let mut found = false;
    let mut messages = Vec::new();
    while let Some(c) = cause {
        if let Some(rustls) = c.downcast_ref::<rustls::Error>() {
            found = true;
            let text = rustls.to_string();
            assert!(
                messages.iter().all(|m: &String| !m.contains(&text)),
                "{}: {text:?} shown twice in the chain {messages:?}",
                C::NAME
            );
        }
        messages.push(c.to_string());
        cause = c.source();
    }
    assert!(
        found,
        "{}: no rustls::Error in the chain of {err:?}",
        C::NAME
    );
    // No secret: not the client secret, not a private key.
    let debug = format!("{err:?}");
    for text in [&shown, &debug] {
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        if let Some((_, key)) = &tls.identity {
            let body = std::str::from_utf8(key).unwrap().lines().nth(1).unwrap();
            assert!(!text.contains(body), "{text}");
        }
    }
}

// -------------------------------------------------------------- cases --

fn unknown_ca<C: Client>() {
    let pki = TestPki::generate().unwrap();
    let broker = broker_with(pki.server_config().unwrap());
    // The built-in roots only: the test CA is private.
    expect_tls_failure::<C>(broker.url(), &Tls::default(), TlsFailure::UnknownIssuer);
    // Another CA instead of the built-in roots.
    let other = Tls {
        ca: Some(pki.untrusted_ca_pem().as_bytes().to_vec()),
        built_in_roots: Some(false),
        ..Tls::default()
    };
    expect_tls_failure::<C>(broker.url(), &other, TlsFailure::UnknownIssuer);
}

fn hostname_mismatch<C: Client>() {
    let pki = TestPki::generate().unwrap();
    let broker = broker_with(serving(pki.wrong_host_server()));
    expect_tls_failure::<C>(
        broker.url(),
        &Tls::trusting(&pki),
        TlsFailure::NotValidForName,
    );
}

fn expired_certificate<C: Client>() {
    let pki = TestPki::generate().unwrap();
    let broker = broker_with(serving(pki.expired_server()));
    expect_tls_failure::<C>(broker.url(), &Tls::trusting(&pki), TlsFailure::Expired);
}

fn mtls_without_client_certificate<C: Client>() {
    let pki = TestPki::generate().unwrap();
    let broker = broker_with(pki.mtls_server_config().unwrap());
    expect_tls_failure::<C>(
        broker.url(),
        &Tls::trusting(&pki),
        TlsFailure::CertificateRequired,
    );
}

fn mtls_with_rejected_client_certificate<C: Client>() {
    let pki = TestPki::generate().unwrap();
    let broker = broker_with(pki.mtls_server_config().unwrap());
    let tls = Tls::trusting(&pki).presenting(pki.untrusted_client());
    expect_tls_failure::<C>(broker.url(), &tls, TlsFailure::BadCertificate);
}

fn https_to_plain_http_port<C: Client>() {
    let pki = TestPki::generate().unwrap();
    let broker = DevBroker::start().unwrap();
    let https = broker.url().replacen("http://", "https://", 1);
    expect_tls_failure::<C>(&https, &Tls::trusting(&pki), TlsFailure::NotTls);
    let err = C::health(&https, &Tls::trusting(&pki), "s").unwrap_err();
    assert!(
        err.to_string().contains("the port may be plain HTTP"),
        "{err}"
    );
}

/// A whole lifecycle over HTTPS, and over mTLS, reuses its connection:
/// one handshake per pool, not one per request (nine requests here).
fn one_handshake_per_connection<C: Client>() {
    let pki = TestPki::generate().unwrap();
    for (config, tls) in [
        (pki.server_config().unwrap(), Tls::trusting(&pki)),
        (
            pki.mtls_server_config().unwrap(),
            Tls::trusting(&pki).presenting(pki.client()),
        ),
    ] {
        let broker = broker_with(config);
        let reg = broker.register_universal_app().unwrap();
        let secret = reg.client_secret.expose_secret().to_owned();
        C::lifecycle(broker.url(), &reg.client_id, &secret, &tls).unwrap();
        assert_eq!(
            broker.tls_handshakes(),
            1 + C::RELEASER_CONNECTIONS,
            "{}",
            C::NAME
        );
    }
}

/// Validation through a broker given the identity reaches an mTLS broker.
fn validator_over_mtls<C: Client>() {
    let pki = TestPki::generate().unwrap();
    let broker = broker_with(pki.mtls_server_config().unwrap());
    let tls = Tls::trusting(&pki).presenting(pki.client());
    assert!(!C::validator(broker.url(), &tls, "not-a-token").unwrap());
    let err = C::validator(broker.url(), &Tls::trusting(&pki), "not-a-token").unwrap_err();
    assert_eq!(
        err.tls_failure(),
        Some(TlsFailure::CertificateRequired),
        "{}: {err:?}",
        C::NAME
    );
}

/// Bad TLS material and `https_only` fail at build time with
/// `InvalidInput` naming the option, on every builder; no key in them.
fn build_time_checks<C: Client>() {
    let pki = TestPki::generate().unwrap();
    let https = "https://127.0.0.1:9";
    let http = "http://127.0.0.1:9";
    let field = |err: Error| match err {
        Error::InvalidInput { field, reason, .. } => {
            assert!(!reason.contains("PRIVATE KEY"), "{reason}");
            field
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    let garbage = Tls {
        ca: Some(b"not a certificate".to_vec()),
        ..Tls::default()
    };
    assert_eq!(
        field(C::build_app(https, "id", "s", &garbage).unwrap_err()),
        "root_certificate_pem[0]"
    );
    assert!(C::build_others(https, "s", &garbage).is_err());
    // A key that does not belong to the certificate.
    let mismatched = Tls {
        identity: Some((
            pki.client().cert_pem().as_bytes().to_vec(),
            pki.untrusted_client().key_pem().as_bytes().to_vec(),
        )),
        ..Tls::trusting(&pki)
    };
    assert_eq!(
        field(C::build_app(https, "id", "s", &mismatched).unwrap_err()),
        "identity_pem"
    );
    let no_key = Tls {
        identity: Some((pki.client().cert_pem().as_bytes().to_vec(), b"".to_vec())),
        ..Tls::trusting(&pki)
    };
    assert_eq!(
        field(C::build_app(https, "id", "s", &no_key).unwrap_err()),
        "identity_pem.key"
    );
    // No roots at all for an https broker.
    let no_roots = Tls {
        built_in_roots: Some(false),
        ..Tls::default()
    };
    assert_eq!(
        field(C::build_app(https, "id", "s", &no_roots).unwrap_err()),
        "tls_built_in_roots"
    );
    assert!(C::build_app(http, "id", "s", &no_roots).is_ok());
    // https_only refuses http://, on every builder.
    let only = Tls {
        https_only: true,
        ..Tls::default()
    };
    assert_eq!(
        field(C::build_app(http, "id", "s", &only).unwrap_err()),
        "broker_url"
    );
    assert!(C::build_others(http, "s", &only).is_err());
    assert!(C::build_app(https, "id", "s", &only).is_ok());
    assert!(C::build_others(https, "s", &Tls::trusting(&pki).presenting(pki.client())).is_ok());
    // A custom client brings its own TLS: the options are refused.
    assert_eq!(
        field(C::custom_client_with_tls(https, &Tls::trusting(&pki)).unwrap_err()),
        "http_client"
    );
}

/// The client key never shows in `Debug` of a builder or a client.
fn key_not_in_debug<C: Client>() {
    let pki = TestPki::generate().unwrap();
    let tls = Tls::trusting(&pki).presenting(pki.client());
    let shown = C::debug_clients("https://127.0.0.1:9", &tls);
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    let key = pki.client().key_pem();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(
            !shown.contains(line),
            "{}: key material in {shown}",
            C::NAME
        );
    }
}

/// A stock client of the HTTP library (ureq's turns 4xx into errors and
/// has no timeout; reqwest's follows redirects and has no timeout) still
/// gives the SDK's typed errors and honours the SDK's timeout.
fn stock_custom_client<C: Client>() {
    let broker = DevBroker::start().unwrap();
    let reg = broker.register_universal_app().unwrap();
    let secret = reg.client_secret.expose_secret().to_owned();
    C::stock_client_create_agent(broker.url(), &reg.client_id, &secret, TIMEOUT).unwrap();
    let err =
        C::stock_client_create_agent(broker.url(), &reg.client_id, "wrong", TIMEOUT).unwrap_err();
    assert!(err.is_authentication(), "{}: {err:?}", C::NAME);
    assert_eq!(err.status(), Some(401));
    // A server that accepts and never answers: the SDK's timeout fires.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let err =
        C::stock_client_create_agent(&url, "id", "s", Duration::from_millis(300)).unwrap_err();
    assert!(err.is_timeout(), "{}: {err:?}", C::NAME);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// One warning per client built for `http://` to a host that is not
/// loopback; none for loopback or https.
fn clear_text_warning<C: Client>() {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        C::build_app("http://10.1.2.3:8080", "id", "s", &Tls::default()).unwrap();
        C::build_app("http://127.0.0.1:8080", "id", "s", &Tls::default()).unwrap();
        C::build_app("http://localhost:8080", "id", "s", &Tls::default()).unwrap();
        C::build_app("https://10.1.2.3:8443", "id", "s", &Tls::default()).unwrap();
    });
    let logged = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert_eq!(logged.matches("clear text").count(), 1, "{logged}");
    assert!(logged.contains("WARN"), "{logged}");
    assert!(logged.contains("10.1.2.3:8080"), "{logged}");
}

macro_rules! tls_matrix {
    ($module:ident, $client:ty) => {
        mod $module {
            use super::*;
            #[test]
            fn unknown_ca() {
                super::unknown_ca::<$client>();
            }
            #[test]
            fn hostname_mismatch() {
                super::hostname_mismatch::<$client>();
            }
            #[test]
            fn expired_certificate() {
                super::expired_certificate::<$client>();
            }
            #[test]
            fn mtls_without_client_certificate() {
                super::mtls_without_client_certificate::<$client>();
            }
            #[test]
            fn mtls_with_rejected_client_certificate() {
                super::mtls_with_rejected_client_certificate::<$client>();
            }
            #[test]
            fn https_to_plain_http_port() {
                super::https_to_plain_http_port::<$client>();
            }
            #[test]
            fn one_handshake_per_connection() {
                super::one_handshake_per_connection::<$client>();
            }
            #[test]
            fn validator_over_mtls() {
                super::validator_over_mtls::<$client>();
            }
            #[test]
            fn build_time_checks() {
                super::build_time_checks::<$client>();
            }
            #[test]
            fn key_not_in_debug() {
                super::key_not_in_debug::<$client>();
            }
            #[test]
            fn stock_custom_client() {
                super::stock_custom_client::<$client>();
            }
            #[test]
            fn clear_text_warning() {
                super::clear_text_warning::<$client>();
            }
        }
    };
}

tls_matrix!(blocking, Blocking);
tls_matrix!(r#async, Async);

// ------------------------------------------------------ environment --

#[test]
fn tls_environment_variables() {
    let pki = TestPki::generate().unwrap();
    let dir = pki.write_to_temp_dir().unwrap();
    let path = |p: std::path::PathBuf| p.to_str().unwrap().to_owned();
    let (ca, cert, key) = (
        path(dir.ca_cert()),
        path(dir.client_cert()),
        path(dir.client_key()),
    );
    let env = |pairs: Vec<(&'static str, String)>| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    };
    let base = || ClientSettings::new("https://127.0.0.1:9");
    // All three: extra root and identity, which build into a TLS set-up.
    let settings = agentwrit_core::tls_settings_from(
        base(),
        env(vec![
            ("AGENTWRIT_CA_FILE", ca.clone()),
            ("AGENTWRIT_CLIENT_CERT", cert.clone()),
            ("AGENTWRIT_CLIENT_KEY", key.clone()),
        ]),
    )
    .unwrap();
    assert!(settings.has_tls_options());
    let setup = settings.tls_setup().unwrap();
    assert!(setup.has_client_identity());
    assert!(!format!("{settings:?}{setup:?}").contains("PRIVATE KEY"));
    // Unreadable files name their variable.
    for var in [
        "AGENTWRIT_CA_FILE",
        "AGENTWRIT_CLIENT_CERT",
        "AGENTWRIT_CLIENT_KEY",
    ] {
        let mut pairs = vec![
            ("AGENTWRIT_CLIENT_CERT", cert.clone()),
            ("AGENTWRIT_CLIENT_KEY", key.clone()),
        ];
        pairs.retain(|(n, _)| *n != var);
        pairs.push((var, "/nonexistent/agentwrit.pem".to_owned()));
        let err = agentwrit_core::tls_settings_from(base(), env(pairs)).unwrap_err();
        match &err {
            Error::InvalidInput { field, .. } => assert_eq!(field, var, "{err}"),
            other => panic!("{other:?}"),
        }
    }
    // A key without its certificate, and a file that is not PEM.
    let err =
        agentwrit_core::tls_settings_from(base(), env(vec![("AGENTWRIT_CLIENT_KEY", key.clone())]))
            .unwrap_err();
    assert!(err.to_string().contains("AGENTWRIT_CLIENT_CERT"), "{err}");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let err =
        agentwrit_core::tls_settings_from(base(), env(vec![("AGENTWRIT_CA_FILE", path(not_pem))]))
            .unwrap_err();
    assert!(err.to_string().contains("AGENTWRIT_CA_FILE"), "{err}");
}

// ---------------------------------------------------------- provider --

/// Both clients talk TLS without installing a process-wide rustls
/// provider (nothing else in this test binary installs one), so a
/// program's own `rustls::ClientConfig::builder()` is unaffected.
#[test]
fn no_process_default_provider_is_installed() {
    let pki = TestPki::generate().unwrap();
    let broker = broker_with(pki.mtls_server_config().unwrap());
    let reg = broker.register_universal_app().unwrap();
    let secret = reg.client_secret.expose_secret().to_owned();
    let tls = Tls::trusting(&pki).presenting(pki.client());
    Blocking::lifecycle(broker.url(), &reg.client_id, &secret, &tls).unwrap();
    Async::lifecycle(broker.url(), &reg.client_id, &secret, &tls).unwrap();
    // Neither client installed (or needed) a process-wide default, so the
    // program's own `rustls::ClientConfig::builder()` resolves its default
    // exactly as it would without the SDK. (Calling it here would test this
    // test binary's feature set instead: `cargo test --workspace` unifies
    // rustls with both providers, through other members' dev-dependencies.)
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}
