//! Blocking client for the [AgentWrit](https://github.com/devonartis/agentwrit)
//! broker, on [ureq]: short-lived, task-scoped credentials for AI agents.
//!
//! An [`App`] (client id and secret from the operator) creates an
//! [`Agent`] per task: the SDK generates an Ed25519 key, gets a
//! single-use launch token, signs the broker's nonce and registers. The
//! agent's JWT carries exactly the scope the task needs
//! (`read:data:customer-7291`); the agent renews it, delegates narrower
//! scope to other agents, and releases it when the task ends. Services
//! that receive the token [`validate`] it at the broker and gate each
//! action with [`scope_is_subset`].
//!
//! **A first run needs no broker of your own.** The development broker
//! ships in the workspace (`agentwrit-devbroker`): `cargo run -p
//! agentwrit-devbroker` starts one on `127.0.0.1` and prints the
//! `AGENTWRIT_*` variables that [`App::from_env`] reads, and
//! `agentwrit_devbroker::DevBroker::start()` embeds one in a test or an
//! example, as every example on this page does.
//!
//! ```
//! # let broker = agentwrit_devbroker::DevBroker::start()?;
//! # let reg = broker.register_universal_app()?;
//! # let (url, client_id, client_secret) = (broker.url(), reg.client_id.as_str(), &reg.client_secret);
//! use agentwrit_blocking::{App, Error, scope_is_subset};
//!
//! let app = App::new(url, client_id, client_secret)?; // or App::from_env()
//! app.with_agent("order-worker", "ord-4823", &["read:data:customer-7291"], |agent| {
//!     assert!(agent.allows(&["read:data:customer-7291"]));
//!     // What a downstream service does with the token it receives:
//!     let validation = app.validate(&agent.access_token())?;
//!     let granted = validation.claims().map(|c| c.scope.as_slice()).unwrap_or_default();
//!     assert!(!scope_is_subset(&["read:data:customer-9999"], granted));
//!     Ok::<_, Error>(())
//! })?; // released here, whatever happened inside
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The async twin is `agentwrit-async` (reqwest and tokio), with the same
//! API. Both are thin: every protocol decision — request order, retries,
//! backoff, status to error mapping, session re-use, renewal schedule —
//! lives in the sans-IO core ([`sansio`](agentwrit_core)); this crate only moves bytes
//! with ureq and sleeps when told to.
//!
//! # One connection
//!
//! A [`Broker`] is the connection to one broker: its URL, one HTTP client
//! (one pool of connections, one TLS configuration) and the settings of
//! [`BrokerBuilder`]. [`App`] and [`Operator`] are made from it, and
//! tokens are validated on it ([`Broker::validate`]): they share it, so a
//! program that is all three opens one pool. `App::new`, `App::from_env`,
//! `Operator::new` and the free [`validate`] remain the one-line paths for
//! a program that needs one of them with the default settings.
//!
//! Three ways to validate stay, each for a situation you are in: the free
//! [`validate`] (the official SDK's function: one pool for the process,
//! the default settings), [`Broker::validate`] (a service with settings of
//! its own: a private CA, a client identity, `https_only`, timeouts) and
//! [`App::validate`] (an app in hand). `Validator` is deprecated: it was a
//! `Broker` with that one method.
//!
//! ```
//! # let devbroker = agentwrit_devbroker::DevBroker::start()?;
//! # let reg = devbroker.register_universal_app()?;
//! # let (url, client_id, client_secret, admin_secret) = (devbroker.url(), reg.client_id.as_str(), &reg.client_secret, devbroker.admin_secret());
//! use std::time::Duration;
//! use agentwrit_blocking::Broker;
//!
//! let broker = Broker::builder(url).timeout(Duration::from_secs(5)).build()?; // or Broker::from_env()
//! let app = broker.app(client_id, client_secret)?;
//! let operator = broker.operator(admin_secret)?;
//! let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
//! assert!(broker.validate(&agent.access_token())?.is_valid()); // as a validating service would
//! # assert_eq!(operator.list_apps()?.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Transport
//!
//! rustls, redirects off, response bodies capped at 1 MiB, a 5 s connect
//! timeout and a 10 s deadline for each broker request, its retries
//! included (see [`BrokerBuilder::timeout`]), connection
//! pooling. Each request runs in a `tracing` span named `agentwrit` with
//! the flow step (`create_agent.register`, ...), status and the broker's
//! request id; no span or event carries a secret.
//!
//! One caution outside this crate's control: ureq's protocol layer
//! (`ureq-proto`) logs every raw request, `Authorization: Bearer` header
//! included, through the `log` crate at TRACE level under the target
//! `ureq_proto`. Never enable TRACE for `ureq_proto` (or TRACE for
//! everything) where logs are kept; DEBUG and above are clean. This
//! crate's own spans and events never carry a secret, at any level.
//!
//! # Errors
//!
//! Every call returns the one [`Error`] enum, matched directly:
//! [`Error::Authentication`] (401), [`Error::Authorization`] (403),
//! [`Error::RateLimited`] (429, with `Retry-After`), [`Error::Problem`]
//! (any other status), each with the broker's RFC 7807 problem and request
//! id; [`Error::Decode`] for an answer that is not what the contract says;
//! [`Error::InvalidInput`] for an input refused before sending;
//! [`Error::Released`]; and [`Error::Transport`] when the request could
//! not be completed, with the io or TLS error behind it reachable through
//! [`source()`](std::error::Error::source).
//!
//! ```
//! # let broker = agentwrit_devbroker::DevBroker::start()?;
//! # let reg = broker.register_universal_app()?;
//! # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
//! use agentwrit_blocking::Error;
//!
//! match app.create_agent("orch-1", "task-1", &["delete:data:*"]) {
//!     Ok(agent) => { agent.release()?; }
//!     Err(Error::Authorization { problem, .. }) => eprintln!("beyond the ceiling: {}", problem.detail),
//!     Err(error) if error.is_retryable() => eprintln!("try again later: {error}"),
//!     Err(error) => return Err(error.into()),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # TLS
//!
//! Both transports follow one TLS policy (docs/tls.md has the guide):
//! rustls with the *ring* provider, passed to the HTTP library explicitly
//! (no process-wide default is installed or read), and Mozilla's root
//! certificates bundled in the binary, so a container without
//! `ca-certificates` verifies public brokers too. Cargo features choose
//! otherwise: `aws-lc-rs` (the other provider; ring wins when both are on),
//! `native-roots` (the operating system's trust store, besides or instead
//! of the bundled `webpki-roots`). [`BrokerBuilder`] adds roots
//! (`add_root_certificate_pem`), drop the built-in ones
//! (`tls_built_in_roots(false)`), present a client certificate to a
//! mutual-TLS broker (`identity_pem`) and refuse `http://`
//! (`https_only(true)`); `Broker::from_env()` (and so `App::from_env()`
//! and `Operator::from_env()`) reads `AGENTWRIT_CA_FILE`,
//! `AGENTWRIT_CLIENT_CERT` and `AGENTWRIT_CLIENT_KEY`. A failed handshake
//! is an [`Error::Transport`] of kind [`TransportFailure::Tls`], never
//! retried, whose [`Error::tls_failure`] names the cause ([`TlsFailure`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod agent;
mod app;
mod broker;
mod operator;
mod tls;
mod transport;
mod validate;

pub use agent::{Agent, AgentGuard, DelegatedToken};
pub use app::App;
pub use broker::{Broker, BrokerBuilder};
pub use operator::Operator;
#[allow(deprecated)]
pub use validate::{Validator, validate};

pub use agentwrit_core::scope::scope_is_subset;
pub use agentwrit_core::{
    AgentKey, AgentOptions, Error, ReleaseOutcome, RetryPolicy, TlsError, TlsFailure,
    TokenVerifier, TransportFailure, Validation,
};
/// The longest inputs the SDK accepts (see the guide's "Input limits").
pub use agentwrit_core::{
    MAX_DELEGATE_ID_LEN, MAX_LABEL_LEN, MAX_ORCH_ID_LEN, MAX_SCOPE_LEN, MAX_SCOPES, MAX_TASK_ID_LEN,
};

/// The request and response bodies, the token claims and the RFC 7807
/// problem (`agentwrit-wire`), for the calls that take or return them.
pub use agentwrit_core::wire;

/// The sans-IO core (`agentwrit-core`): every broker interaction as a
/// state machine, for driving flows by hand or writing another transport.
/// Not needed for ordinary use.
pub use agentwrit_core as sansio;
