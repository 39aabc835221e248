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
//! Keyed by the SHA-256 of the token (the token itself is never stored),
//! bounded by [`AgentAuthBuilder::cache_capacity`] (oldest out first);
//! concurrent requests with the same uncached token share one check
//! (single-flight). Broker failures are never cached.
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
}
