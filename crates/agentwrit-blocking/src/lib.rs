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
//! ```
//! # let broker = agentwrit_devbroker::DevBroker::start()?;
//! # let reg = broker.register_universal_app()?;
//! # let (url, client_id, client_secret) = (broker.url(), reg.client_id.as_str(), reg.client_secret.expose_secret());
//! use agentwrit_blocking::{App, scope_is_subset};
//!
//! let app = App::new(url, client_id, client_secret)?;
//! app.with_agent("order-worker", "ord-4823", &["read:data:customer-7291"], |agent| {
//!     let claims = app.validate(agent.access_token().expose_secret())?.claims().cloned().unwrap();
//!     assert!(scope_is_subset(&["read:data:customer-7291"], &claims.scope));
//!     assert!(!scope_is_subset(&["read:data:customer-9999"], &claims.scope));
//!     Ok::<_, agentwrit_blocking::Error>(())
//! })?; // released here, whatever happened inside
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The async twin is `agentwrit-async` (reqwest and tokio), with the same
//! API. Both are thin: every protocol decision — request order, retries,
//! backoff, status to error mapping, session re-use, renewal schedule —
//! lives in the sans-IO [`agentwrit_core`]; this crate only moves bytes
//! with ureq and sleeps when told to.
//!
//! # Transport
//!
//! rustls, redirects off, response bodies capped at 1 MiB, a 5 s connect
//! and 10 s overall timeout per request (see [`AppBuilder`]), connection
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
//! Every call returns [`Error`]: [`Error::Core`] for what the broker said
//! (401, 403, 429 with `Retry-After`, any other status, each with its RFC
//! 7807 problem and request id), an undecodable answer, or an input the
//! SDK refused before sending; [`Error::Transport`] when the request could
//! not be completed and the retry policy gave up.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod app;
mod operator;
mod transport;
mod validate;

pub use agentwrit_core::facade::*;
pub use app::{Agent, AgentGuard, App, AppBuilder, DelegatedToken};
pub use operator::{Operator, OperatorBuilder};
pub use validate::{Validator, validate};

/// The core crate, for its flows and lower-level types: here, local
/// token verification with [`TokenVerifier`](agentwrit_core::TokenVerifier).
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// use std::time::SystemTime;
/// use agentwrit_blocking::core::TokenVerifier;
///
/// // Local verification against the broker's pinned public key: no round trip.
/// let verifier = TokenVerifier::new(broker.public_key())?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
/// let token = agent.access_token();
/// let claims = verifier.verify(token.expose_secret(), SystemTime::now())?;
/// assert_eq!(claims.sub, agent.agent_id());
///
/// // Its blind spot: revocation. A released token still verifies locally
/// // until it expires; only the broker knows it is dead.
/// agent.release()?;
/// assert!(verifier.verify(token.expose_secret(), SystemTime::now()).is_ok());
/// assert!(!app.validate(token.expose_secret())?.is_valid());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub use agentwrit_core as core;
