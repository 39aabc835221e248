//! A development AgentWrit broker that a client cannot tell apart from the
//! real (Go) broker on the wire.
//!
//! It serves the broker's whole HTTP contract from memory: health,
//! metrics, challenge, validate, admin and app authentication, app CRUD,
//! launch tokens, registration, renew, release, delegation, revocation and
//! the hash-chained audit trail, with the real broker's statuses,
//! `error_code`s, `detail` strings, check order, headers, rate limits and
//! body shapes (the 78 request/response pairs captured from broker v2.0.0
//! are replayed against it in the test suite).
//!
//! Use it as the peer of integration tests, the embedded default of
//! examples, or standalone (`agentwrit-devbroker --sample-app`) for any
//! client, the official Python SDK included. It speaks plain HTTP, HTTPS
//! or mutual TLS, as the real broker's `AA_TLS_MODE` chooses (see
//! [`tls`]).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use agentwrit_devbroker::{DevBroker, ManualClock};
//!
//! let clock = Arc::new(ManualClock::starting_now());
//! let broker = DevBroker::builder()
//!     .clock(clock.clone())
//!     .no_rate_limits()
//!     .signing_key_seed([42; 32])
//!     .start()?;
//! let app = broker.register_app("billing", &["read:data:*"], Some(900))?;
//! println!("{}", broker.url()); // http://127.0.0.1:<port>
//! assert!(app.client_id.starts_with("bi-"));
//! clock.advance(Duration::from_secs(31)); // every nonce issued so far is now expired
//! broker.shutdown();
//! # Ok::<(), agentwrit_devbroker::DevBrokerError>(())
//! ```
//!
//! # Differences from the real broker
//!
//! * State lives in memory only; nothing survives a restart.
//! * App secrets and the admin secret are stored as SHA-256 digests (the
//!   real broker uses bcrypt), which is adequate for a development tool
//!   and makes authentication fast: admin logins do not take ~0.4 s.
//! * `GET /v1/metrics` exposes the broker's own `agentwrit_*` families but
//!   not the Go runtime's `go_*`/`process_*` ones.
//! * Security headers are present on *every* answer, 413 included (the
//!   real broker's body-size middleware runs outside its header middleware).
//! * Expired nonces and launch tokens are forgotten an hour after expiry
//!   (the real broker keeps them until restart), so a replay older than
//!   that reads "not found" instead of "expired"/"already consumed".
//! * Over TLS ([`DevBrokerBuilder::tls`]) it offers HTTP/1.1 only through
//!   ALPN; the real broker also offers HTTP/2.
#![forbid(unsafe_code)]
#![deny(rustdoc::broken_intra_doc_links)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod audit;
mod broker;
mod clock;
mod crypto;
mod error;
mod gojson;
mod handle;
mod metrics;
mod problem;
mod ratelimit;
mod reply;
mod server;
mod sync;
pub mod tls;

/// The SDK's clock (from `agentwrit-core`), which the broker reads: one
/// [`ManualClock`] can drive the broker and the SDK or service under test.
pub use agentwrit_core::{Clock, ManualClock, SystemClock};
pub use broker::RegisteredApp;
pub use error::DevBrokerError;
pub use handle::{
    DevBroker, DevBrokerBuilder, DevBrokerHandle, UNIVERSAL_APP_NAME, UNIVERSAL_APP_SCOPES,
};
pub use ratelimit::RateLimit;
pub use tls::{TlsMode, TlsServerConfig};

/// The version string the broker reports in `GET /v1/health` (the real
/// broker's).
pub const BROKER_VERSION: &str = broker::VERSION;

/// The largest request body the broker reads (1 MiB); larger bodies get
/// 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = server::MAX_BODY;

// The Rust snippets of `docs/devbroker.md`, run as doc tests so they keep
// matching the API.
#[cfg(all(doctest, feature = "test-pki"))]
#[doc = include_str!("../../../docs/devbroker.md")]
mod devbroker_md {}
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_md {}
