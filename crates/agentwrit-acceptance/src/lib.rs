//! The acceptance matrix that both transport crates pass.
//!
//! Every story is written once, generic over [`Sdk`]; [`Blocking`] and
//! [`Async`] adapt `agentwrit-blocking` and `agentwrit-async` to it, and
//! `tests/blocking.rs` and `tests/async.rs` instantiate the whole matrix
//! for each with [`acceptance_matrix!`].
//!
//! By default each story starts its own in-process development broker
//! on `127.0.0.1:0` (real rate limits on). With `AGENTWRIT_TEST_BROKER_URL`
//! and `AGENTWRIT_TEST_ADMIN_SECRET` set, the stories run against that
//! broker instead (`cargo xtask conformance`); stories that need the
//! development broker's manual clock then use a short real TTL.
//!
//! The matrix runs over three [`Scheme`]s: plain HTTP, HTTPS and mutual
//! TLS. Over TLS each story's development broker serves a throwaway
//! `agentwrit_devbroker::tls::TestPki` and every client the
//! adapters build trusts its CA (and, for mTLS, presents its client
//! certificate): the adapters look the broker URL up with
//! [`client_tls`]. Against an external broker the TLS material comes from
//! `AGENTWRIT_TEST_CA_FILE`, `AGENTWRIT_TEST_CLIENT_CERT` and
//! `AGENTWRIT_TEST_CLIENT_KEY`, and only the plain instantiation runs (the
//! broker's own mode decides the scheme).
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adapters;
mod stories;

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use agentwrit_core::wire::{AdminSecret, CreateAppRequest};
use agentwrit_devbroker::tls::TestPki;
use agentwrit_devbroker::{DevBroker, DevBrokerHandle, ManualClock};

pub use adapters::{AgentApi, Async, Blocking, DelegatedApi, Sdk};
pub use stories::*;

/// The universal sample app's scope ceiling.
pub const CEILING: [&str; 4] = [
    "read:data:*",
    "write:data:*",
    "read:analytics:*",
    "write:reports:*",
];

/// How the clients reach a story's development broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS with a private CA the clients add to their roots.
    Https,
    /// HTTPS where the broker also requires a client certificate.
    Mtls,
}

thread_local! {
    static SCHEME: Cell<Scheme> = const { Cell::new(Scheme::Http) };
}

/// Runs `story` with `Env::new` on this thread starting brokers of
/// `scheme` (how `acceptance_matrix!` instantiates a story per scheme).
pub fn with_scheme<R>(scheme: Scheme, story: impl FnOnce() -> R) -> R {
    struct Reset(Scheme);
    impl Drop for Reset {
        fn drop(&mut self) {
            SCHEME.with(|s| s.set(self.0));
        }
    }
    let _reset = Reset(SCHEME.with(|s| s.replace(scheme)));
    story()
}

/// The scheme `Env::new` uses on this thread.
pub fn current_scheme() -> Scheme {
    SCHEME.with(Cell::get)
}

/// What a client needs to talk to one broker over TLS: the CA to trust
/// and, for mutual TLS, its certificate and key (all PEM).
#[derive(Clone, Default)]
pub struct ClientTls {
    pub ca_pem: Option<Vec<u8>>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

fn registry() -> &'static Mutex<HashMap<String, ClientTls>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, ClientTls>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The TLS material registered for the broker at `url` (by `Env::new`).
pub fn client_tls(url: &str) -> Option<ClientTls> {
    let url = url.trim_end_matches('/');
    registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(url)
        .cloned()
}

fn register_tls(url: &str, tls: ClientTls) {
    registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(url.trim_end_matches('/').to_owned(), tls);
}

/// The external broker's TLS material, from `AGENTWRIT_TEST_CA_FILE`,
/// `AGENTWRIT_TEST_CLIENT_CERT` and `AGENTWRIT_TEST_CLIENT_KEY`.
fn external_tls() -> ClientTls {
    let read = |var: &str| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|path| std::fs::read(&path).unwrap_or_else(|e| panic!("{var}={path}: {e}")))
    };
    let identity = match (
        read("AGENTWRIT_TEST_CLIENT_CERT"),
        read("AGENTWRIT_TEST_CLIENT_KEY"),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            panic!("set both AGENTWRIT_TEST_CLIENT_CERT and AGENTWRIT_TEST_CLIENT_KEY, or neither")
        }
    };
    ClientTls {
        ca_pem: read("AGENTWRIT_TEST_CA_FILE"),
        identity,
    }
}

/// True when the stories run against an external broker.
pub fn external_broker() -> bool {
    std::env::var_os("AGENTWRIT_TEST_BROKER_URL").is_some()
}

/// Where a story runs: a broker, an app registered on it, the admin
/// secret, and (in process) the broker's manual clock.
pub struct Env {
    pub url: String,
    pub admin_secret: AdminSecret,
    pub client_id: String,
    pub client_secret: String,
    pub clock: Option<Arc<ManualClock>>,
    pub scheme: Scheme,
    broker: Option<DevBrokerHandle>,
}

impl Env {
    /// A fresh environment: a new development broker, or an app registered
    /// on the external broker named by the environment.
    pub fn new<S: Sdk>() -> Env {
        Self::build::<S>(std::env::var("AGENTWRIT_TEST_BROKER_URL").ok())
    }

    /// A fresh in-process development broker (of this thread's
    /// [`Scheme`]) even when an external broker is configured: for tests
    /// that put a plain-HTTP fault proxy in front of the broker.
    pub fn in_process<S: Sdk>() -> Env {
        Self::build::<S>(None)
    }

    fn build<S: Sdk>(external: Option<String>) -> Env {
        let (url, admin_secret, clock, broker) = match external {
            Some(url) => {
                let secret = std::env::var("AGENTWRIT_TEST_ADMIN_SECRET").expect(
                    "AGENTWRIT_TEST_ADMIN_SECRET must be set with AGENTWRIT_TEST_BROKER_URL",
                );
                register_tls(&url, external_tls());
                (url, AdminSecret::from(secret), None, None)
            }
            None => {
                let clock = Arc::new(ManualClock::starting_now());
                let mut builder = DevBroker::builder().clock(clock.clone());
                let mut tls = None;
                if current_scheme() != Scheme::Http {
                    let pki = TestPki::generate().expect("test PKI");
                    let mtls = current_scheme() == Scheme::Mtls;
                    let config = if mtls {
                        pki.mtls_server_config()
                    } else {
                        pki.server_config()
                    };
                    builder = builder.tls(config.expect("TLS server config"));
                    tls = Some(ClientTls {
                        ca_pem: Some(pki.ca_pem().as_bytes().to_vec()),
                        identity: mtls.then(|| {
                            (
                                pki.client().cert_pem().as_bytes().to_vec(),
                                pki.client().key_pem().as_bytes().to_vec(),
                            )
                        }),
                    });
                }
                let broker = builder.start().expect("development broker starts");
                let url = broker.url().to_owned();
                if let Some(tls) = tls {
                    register_tls(&url, tls);
                }
                let secret = broker.admin_secret().clone();
                (url, secret, Some(clock), Some(broker))
            }
        };
        let name = format!("acceptance-{}", unique());
        let app = S::operator_create_app(
            &url,
            &admin_secret,
            CreateAppRequest::new(name, CEILING.iter().map(|s| (*s).to_owned()).collect()),
        )
        .expect("registering the test app");
        Env {
            url,
            admin_secret,
            client_id: app.client_id,
            client_secret: app
                .client_secret
                .map(|s| s.expose_secret().to_owned())
                .unwrap_or_default(),
            clock,
            scheme: current_scheme(),
            broker,
        }
    }

    /// The in-process development broker, if the story runs on one.
    pub fn broker(&self) -> Option<&DevBrokerHandle> {
        self.broker.as_ref()
    }

    /// Moves the broker's clock (in process) or waits (external broker).
    pub fn advance(&self, by: Duration) {
        match &self.clock {
            Some(clock) => clock.advance(by),
            // A real broker's clock cannot be moved: wait for it.
            None => std::thread::sleep(by),
        }
    }
}

/// A string unique within the process and across runs.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", nanos, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Declares one `#[test]` per story for an [`Sdk`], on brokers of the
/// given [`Scheme`] (plain HTTP when omitted). Over TLS against an
/// external broker the tests return at once: that run is the plain one.
#[macro_export]
macro_rules! acceptance_matrix {
    ($sdk:ty) => {
        $crate::acceptance_matrix!($sdk, $crate::Scheme::Http);
    };
    ($sdk:ty, $scheme:expr) => {
        $crate::acceptance_matrix!(@tests $sdk, $scheme;
            create_agent, renew, release, validate_live_claims, delegate_narrower,
            delegate_beyond_scope, chain_a_b_c, same_scope_delegation, scope_gating,
            natural_expiry, problem_details, three_agents_isolated, renew_after_release,
            garbage_tokens, health, shared_app_under_rate_limits, scoped_release_on_error,
            scoped_release_on_panic, operator_flows, secrets_never_in_debug,
            invalid_input_is_local, auto_renewal, revoked_session_reauthenticates,
            dead_broker_is_a_transport_error);
    };
    (@tests $sdk:ty, $scheme:expr; $($story:ident),* $(,)?) => {
        $(
            #[test]
            fn $story() {
                let scheme: $crate::Scheme = $scheme;
                if scheme != $crate::Scheme::Http && $crate::external_broker() {
                    return;
                }
                $crate::with_scheme(scheme, $crate::$story::<$sdk>);
            }
        )*
    };
}

// The code snippets of `docs/`, compiled (and, where they have a `main`, run
// against a development broker) as doc tests, so they keep matching the API.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/getting-started.md")]
mod getting_started_md {}
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide.md")]
mod guide_md {}
#[cfg(doctest)]
#[doc = include_str!("../../../docs/architecture.md")]
mod architecture_md {}
#[cfg(doctest)]
#[doc = include_str!("../../../docs/tls.md")]
mod tls_md {}
// The README's and the client crates' READMEs' snippets: `no_run` ones are
// compiled (they read the environment, so they do not run here).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme_md {}
#[cfg(doctest)]
#[doc = include_str!("../../agentwrit-blocking/README.md")]
mod blocking_readme_md {}
#[cfg(doctest)]
#[doc = include_str!("../../agentwrit-async/README.md")]
mod async_readme_md {}
#[cfg(doctest)]
#[doc = include_str!("../../agentwrit-core/README.md")]
mod core_readme_md {}
