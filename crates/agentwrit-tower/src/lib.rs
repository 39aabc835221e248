//! The service side of [AgentWrit](https://github.com/devonartis/agentwrit):
//! a [tower] layer (and, with the default `axum` feature, an extractor and
//! per-route scope requirements) for services that **receive** agent
//! tokens — an orders API, a database proxy, a tool server an AI agent
//! calls.
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let broker = agentwrit_devbroker::DevBroker::start()?;
//! use axum::{Router, routing::get};
//! use agentwrit_tower::{AgentAuth, AgentClaims, RequireScopes};
//!
//! let auth = AgentAuth::broker(broker.url()).build()?; // validate at the broker, cache 5 s
//! let app: Router = Router::new()
//!     .route(
//!         "/customers/{id}",
//!         get(|claims: AgentClaims| async move { format!("ok for {}", claims.sub()) })
//!             .route_layer(RequireScopes::new(&["read:data:customer-{id}"])),
//!     )
//!     .route("/healthz", get(|| async { "ok" }))
//!     .layer(auth.layer());
//! # let _ = app;
//! # Ok(()) }
//! # #[cfg(not(feature = "axum"))]
//! # fn main() {}
//! ```
//!
//! # What the layer does
//!
//! It reads `Authorization: Bearer`, checks the token, puts the verified
//! [`AgentClaims`] in the request's extensions and calls your service; or
//! it answers itself with `application/problem+json` in the broker's
//! problem shape and an RFC 6750 `WWW-Authenticate` challenge:
//!
//! | case | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no `Authorization`, or another scheme | 401 | `Bearer` |
//! | empty, malformed, oversized, forged, expired, released, revoked | 401 | `Bearer error="invalid_token"` |
//! | valid token without the route's scope | 403 | `Bearer error="insufficient_scope", scope="..."` |
//! | broker unreachable, 5xx, 429 or timeout | 503 (`Retry-After: 1`) | — |
//!
//! Where the challenge has an `error_description`, it is the body's
//! `detail`, word for word. It fails closed: no error lets a request
//! through.
//!
//! # Validation modes, and what each can see
//!
//! * **Broker** ([`AgentAuth::broker`], the default choice): the broker's
//!   `/v1/token/validate` on a pooled connection. Sees everything the
//!   broker knows: signature, expiry, release, revocation (token, agent,
//!   task, chain). A verdict is reused for at most `max_staleness`
//!   (default 5 s; zero turns the cache off) and never past the token's
//!   `exp`, so a released or revoked token is refused at most
//!   `max_staleness` later. Needs the broker up: when it is not, 503.
//! * **Local** ([`AgentAuth::local`]): EdDSA signature against pinned broker
//!   keys (several, matched by `kid`, for rotation), `exp`/`nbf`, issuer and
//!   audience when configured. No network; **cannot see release or
//!   revocation**: a token stays good until `exp` (agent tokens live
//!   minutes). Keep TTLs short if you rely on it.
//! * **Local with broker re-check** ([`AgentAuthBuilder::broker_recheck`]):
//!   local verification first (forged and expired tokens never reach the
//!   broker), then the broker at most once per token every
//!   `max_staleness`: revocation seen within `max_staleness`.
//!
//! # The cache
//!
//! Bounded by [`AgentAuthBuilder::cache_capacity`] (oldest out first);
//! each verdict is reused for at most `max_staleness` and never past the
//! token's `exp`; concurrent requests with the same uncached token share
//! one check (single-flight). Broker failures are never cached. A request
//! whose verdict is cached is decided without waiting, and the layer then
//! calls your service directly.
//!
//! ## The cache key, and why it is safe
//!
//! The key of a token is SipHash-1-3 with 128-bit output of the token's
//! bytes, under a 128-bit key drawn from the operating system's random
//! number generator when the cache is built (one per [`AgentAuth`], so at
//! least one per process). It costs about 2 instructions per byte of token
//! where the SHA-256 it replaced cost 45 (a ~700-byte agent token: ~1 500
//! instructions instead of ~31 000, most of what the layer added to a
//! request). SipHash-1-3 is the variant Rust's standard library keys its
//! `HashMap` with, against the same kind of adversary (chosen inputs, a
//! secret key, outputs never shown); the authors' conservative SipHash-2-4
//! costs ~800 more instructions per request here, which would put the
//! layer over its budget (1.5× an unprotected route, `cargo xtask
//! bench-cost`). Moving to it is a one-word change (`SipHasher24`).
//!
//! What the cache must guarantee is that a token only ever gets **its own**
//! verdict. A key collision between two tokens would hand one token the
//! other's verdict: a forged token the claims of a valid one, or a valid
//! token a cached refusal. The argument, case by case:
//!
//! * **Accidental collisions.** SipHash is a pseudorandom function:
//!   under a key nobody knows, its outputs on distinct inputs are
//!   indistinguishable from independent uniform 128-bit values. With at
//!   most `n` entries alive (the capacity, 10 000 by default) and `q`
//!   tokens looked up over the process's life, the chance that any looked-up
//!   token collides with any entry is at most `q·n / 2^128`: for a million
//!   requests a second for a hundred years against 10 000 entries, about
//!   `2^-63`.
//! * **An attacker who controls tokens.** To be served a victim's verdict,
//!   an attacker must send a token whose key equals the key of a cached
//!   token. The key depends on the secret hash key, which never leaves this
//!   process (not in `Debug`, logs, errors or responses), and the attacker
//!   never sees a key either: all a probe reveals is whether its own token
//!   was accepted. Without the hash key, each probe hits a given entry
//!   with probability `2^-128`; precomputation is useless, since the hash
//!   key is fresh per process and unknown. This is exactly the setting
//!   SipHash was designed for (keyed, with attacker-chosen inputs). An
//!   unkeyed fast hash (FNV, xxHash, or SipHash with a fixed key) would
//!   not do: there collisions can be computed offline.
//! * **The token is never stored.** Entries hold the 16-byte key and the
//!   verdict (claims, or the refusal's reason), never the token, so a heap
//!   dump or a `Debug` print of the cache yields nothing to replay. Unlike
//!   SHA-256, the key is not even a public function of the token: without
//!   the hash key, a leaked key cannot be checked against a guessed token.
//! * **Timing.** A lookup hashes the whole token (the time depends on its
//!   length only) and finds the entry by its key in a hash map; the token
//!   itself is never compared byte by byte, so how long a lookup takes says
//!   nothing about how much of a cached token an attacker has guessed. The
//!   map's buckets are chosen by the key's own bits: they are as
//!   unpredictable as the key, so an attacker cannot aim tokens at one
//!   bucket either (no hash flooding).
//! * **The shape check.** A fresh hit skips the shape check in
//!   [`AgentAuth::verify_token`]: only a token that passed it can have a
//!   verdict cached, and a hit means this very token (bar the collisions
//!   above).
//!
//! # MCP servers: the OAuth protected-resource dialect
//!
//! [`AgentAuth::mcp_layer`] puts an MCP server's streamable HTTP endpoint
//! (rmcp's `StreamableHttpService`, or any tower service) behind the
//! dialect the MCP authorization specification asks for, opt-in:
//!
//! * [`ProtectedResource`] (set with [`AgentAuthBuilder::protected_resource`]):
//!   the RFC 9728 metadata document, served without a token at its
//!   well-known path, and `resource_metadata="..."` in every challenge;
//! * [`McpScopes`]: scopes that depend on the request — per tool, filled
//!   from the `tools/call` arguments (`read:data:customer-{customer_id}`),
//!   decided by the broker's exact rule; a refused call is 403
//!   `insufficient_scope` naming the scope to step up to;
//! * the `Authorization` header removed before the MCP server runs (tools
//!   read the verified [`AgentClaims`]; none can forward the token);
//! * rejections as JSON-RPC error responses ([`Rejection::jsonrpc_body`])
//!   that MCP clients surface, with the problem in `error.data`:
//!
//! | rejection | status | JSON-RPC code |
//! |---|---|---|
//! | `MissingToken`, `InvalidToken` | 401 | -32001 |
//! | `InsufficientScope`, `Forbidden` | 403 | -32003 |
//! | `BadRequest` | 400 | -32700 (not JSON), -32600 |
//! | `PayloadTooLarge` | 413 | -32600 |
//! | `BrokerUnavailable` | 503 | -32004 |
//! | `Misconfigured` | 500 | -32603 |
//!
//! The decisions are plain values and functions, usable without tower
//! (a Python or Node verifier through a binding):
//! [`AgentAuth::verify_token`], [`AgentAuth::authenticate_header`],
//! [`McpScopes::authorize`], [`ScopeTemplates::fill`] (per-route scopes by
//! the same placeholder rule), [`AgentAuth::discovery_response`] and the
//! [`Rejection`] accessors. The guide: `docs/mcp.md`.
//!
//! # Scope-usage evidence
//!
//! Off by default; [`AgentAuthBuilder::record_usage`] turns it on. For
//! each token the layer accepts it records the scopes the requests
//! required (through [`RequireScopes`], [`AgentClaims::require`] and the
//! MCP layer's [`McpScopes`]),
//! the decisions (allowed, denied with the missing scope) and the
//! requests refused later (expired, revoked or released), and writes one
//! record per token to the recorder's sinks (JSON Lines files, OTLP,
//! counters). [`usage`] is the `agentwrit-usage` crate; `agentwrit usage
//! report` reads the records. See `docs/usage-evidence.md`.
//!
//! # Tracing
//!
//! One span `agentwrit.auth` per request with `sub`, `jti`, `task_id` and
//! `decision`; no span or event carries the token.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod auth;
mod bearer;
mod body;
mod cache;
mod check;
mod claims;
mod keys;
mod layer;
mod mcp;
mod mcp_scopes;
mod metadata;
mod record;
mod reject;
#[cfg(feature = "axum")]
mod scope;

/// Scope-usage recording and reading: the `agentwrit-usage` crate
/// ([`usage::Recorder`], [`usage::JsonlSink`], `usage::OtlpSink` with the
/// `usage-otlp` feature), for [`AgentAuthBuilder::record_usage`].
pub use agentwrit_usage as usage;

pub use auth::{
    AgentAuth, AgentAuthBuilder, DEFAULT_BROKER_TIMEOUT, DEFAULT_CACHE_CAPACITY,
    DEFAULT_MAX_STALENESS,
};
pub use bearer::MAX_TOKEN_LEN;
pub use claims::AgentClaims;
pub use keys::BrokerKey;
pub use layer::{AgentAuthLayer, AgentAuthService};
pub use mcp::{McpLayer, McpRequestBody, McpService};
pub use mcp_scopes::{
    DEFAULT_MAX_BODY_BYTES, MAX_PLACEHOLDER_VALUE_LEN, McpScopes, McpScopesBuilder, ScopeTemplates,
};
pub use metadata::{ProtectedResource, WELL_KNOWN_PATH};
pub use reject::{AuthBody, Rejection, RejectionKind};
#[cfg(feature = "axum")]
pub use scope::{RequireScopes, RequireScopesService};

/// A configuration mistake found by [`AgentAuthBuilder::build`] or a
/// [`BrokerKey`] constructor.
///
/// ```
/// let err = agentwrit_tower::AgentAuth::local([]).build().unwrap_err();
/// assert_eq!(err.to_string(), "local mode needs at least one pinned broker key");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not usable.
    #[error("invalid broker key: {0}")]
    InvalidKey(&'static str),
    /// Local mode without any key.
    #[error("local mode needs at least one pinned broker key")]
    NoKeys,
    /// The broker URL is not usable.
    #[error("invalid broker URL: {0}")]
    BrokerUrl(String),
    /// The HTTP client could not be built (e.g. a broker CA or client
    /// identity that is not valid PEM).
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// A [`ProtectedResource`] identifier that is not an absolute
    /// `http(s)` URL without query or fragment.
    #[error("invalid resource identifier: {0}")]
    ResourceUrl(String),
    /// An [`McpScopes`] template that is not a scope.
    #[error("invalid scope template: {0}")]
    ScopeTemplate(String),
    /// The operating system's random number generator failed, so the
    /// cache's secret key could not be drawn.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

// The Rust snippets of the crate's README and of `docs/service-side.md`,
// compiled as doc tests so they keep matching the API (`cargo xtask
// doc-snippets` checks that every page with Rust snippets is included
// somewhere).
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
mod readme_md {}
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../../../docs/service-side.md")]
mod service_side_md {}
// Its OTLP snippet needs the `usage-otlp` feature (on in the workspace's
// doc tests: the command line enables it).
#[cfg(all(doctest, feature = "usage-otlp"))]
#[doc = include_str!("../../../docs/usage-evidence.md")]
mod usage_evidence_md {}
