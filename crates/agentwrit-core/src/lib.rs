//! The sans-IO core of the AgentWrit Rust SDK.
//!
//! Every interaction with the AgentWrit broker is a *flow*: a value that
//! says which HTTP request to send next, takes the response back, and ends
//! with a typed result. Flows never touch the network, the clock or a
//! random number generator; the transport crates (`agentwrit-blocking` on
//! ureq, `agentwrit-async` on reqwest) only move bytes and sleep when told
//! to. All protocol decisions — which request comes next, what to retry
//! and when, how a status maps to an error, when a session or token needs
//! replacing — are made here, once.
//!
//! # Principals
//!
//! | principal | proves itself with | flow | gets |
//! |---|---|---|---|
//! | operator | admin secret | [`AdminAuth`] | admin token (300 s): manage apps, launch tokens, revoke, audit |
//! | app | client id + client secret | [`AppAuth`] | app token (the app's `token_ttl`, 1800 s by default): mint launch tokens within its scope ceiling |
//! | agent | launch token + Ed25519 proof | [`CreateAgent`] | agent token scoped to one task (300 s by default) |
//!
//! Authority only narrows: the operator sets an app's ceiling, the app's
//! launch tokens stay inside it, agents register inside their launch token
//! and delegate equal or narrower scope (at most five hops). Scopes are
//! `action:resource:identifier`; every scope a caller passes is parsed with
//! [`agentwrit_scope`](mod@crate::scope) before anything is sent, and a bad one is an
//! [`Error::InvalidInput`] naming it (`scope[1]: ...`).
//!
//! # Creating an agent, step by step
//!
//! [`CreateAgent`] takes the app's token (from an [`AppSession`]) and a
//! [`CreateAgentRequest`] (orch id, task id, scope, optional label and
//! `max_ttl`, and an [`AgentKey`]), and sends:
//!
//! 1. `POST {broker}/v1/app/launch-tokens` with `Authorization: Bearer <app
//!    token>` and `{"agent_name":"<label or orch/task>","allowed_scope":[...],"max_ttl":300,"single_use":true}`
//!    → 201 `{"launch_token":"<64 hex>","expires_at":...,"policy":{...}}`;
//! 2. `GET {broker}/v1/challenge` → 200 `{"nonce":"<64 hex>","expires_in":30}`;
//! 3. (no request) the agent key signs the **hex-decoded** nonce bytes
//!    with Ed25519;
//! 4. `POST {broker}/v1/register` with
//!    `{"launch_token","nonce","public_key":"<std base64 of 32 bytes>","signature":"<std base64 of 64 bytes>","orch_id","task_id","requested_scope":[...]}`
//!    → 200 `{"agent_id":"spiffe://.../agent/{orch}/{task}/{16 hex}","access_token":"<JWT>","expires_in":300}`.
//!
//! The resulting [`AgentCredentials`] take scope, expiry, jti, task and
//! orch from the issued token's **claims** (read with
//! [`decode_claims`]), not from the request. Keep them in an
//! [`AgentState`].
//!
//! # Renew, release, delegate, validate
//!
//! * [`Renew`] — `POST /v1/token/renew` with the agent's bearer token and
//!   no body → a new token with the same subject, scope and lifetime; the
//!   old one is revoked. [`AgentState::apply_renewal`] installs it in place;
//!   [`AgentState::next_renewal_at`] says when auto-renewal should run
//!   (80 % of the lifetime).
//! * [`Release`] — `POST /v1/token/release`, bearer, no body → 204
//!   ([`ReleaseOutcome::Released`]). A token the broker no longer accepts
//!   (already released, renewed, revoked or expired) gets 401 "token
//!   verification failed", which is [`ReleaseOutcome::AlreadyDead`], not an
//!   error. [`AgentState::release_flow`] returns `None` once released, so a
//!   second release sends nothing.
//! * [`Delegate`] — `POST /v1/delegate` with any bearer token (an agent's
//!   or a delegated one) and `{"delegate_to","scope",["ttl"]}` → a
//!   [`DelegatedToken`] that can delegate again (A → B → C).
//! * [`Validate`] — `POST /v1/token/validate` `{"token"}`, no auth → always
//!   200 for a non-empty token: [`Validation::Valid`] with the claims or
//!   [`Validation::Invalid`]. An invalid token is a result, not an error.
//!   [`TokenVerifier`] verifies locally against the broker's pinned public
//!   key, but cannot see revocation.
//! * [`Health`] — `GET /v1/health`.
//! * Operator: [`CreateApp`], [`ListApps`], [`GetApp`], [`UpdateApp`],
//!   [`DeleteApp`], [`CreateLaunchToken`], [`Revoke`] (token, agent, task or
//!   chain) and [`AuditEvents`] with [`next_audit_page`].
//!
//! Every request carries an absolute URI, `Accept: application/json`,
//! `User-Agent` ([`DEFAULT_USER_AGENT`] unless configured),
//! `Content-Type: application/json` when it has a body, and
//! `Authorization: Bearer ...` (marked sensitive) where the endpoint needs
//! it.
//!
//! # Sessions and shared state
//!
//! App and operator tokens live in a [`SharedSession`], shared by every
//! clone of a client. A call runs as [`WithSession`] (from
//! [`SharedSession::call`]): it re-uses a fresh session, or authenticates
//! first; [`Session::needs_reauth`] turns true when at most
//! `min(60 s, lifetime / 2)` remains. One caller authenticates at a time —
//! the others wait [`AUTH_POLL_INTERVAL`] and look again — which matters
//! because the broker allows only three quick app logins per client id. A
//! 401 on a request that carried the session's token drops the session,
//! and the call authenticates again and is retried once.
//!
//! An agent's state is a [`SharedAgent`] (an [`AgentState`] behind a
//! mutex held for microseconds, never across a request), so clones of an
//! agent and its auto-renewal worker see one token. Its flows apply their
//! results in place: [`RenewInPlace`] installs the new token (and releases
//! it again if the agent was released meanwhile), [`ReleaseInPlace`] marks
//! the agent released and sends nothing the second time, [`AutoRenew`]
//! waits until [`AgentState::next_renewal_at`] and renews until stopped.
//!
//! [`AppCore`] and [`OperatorCore`] turn every SDK call into one such
//! flow, with its input checked before anything is sent. The transport
//! crates' public methods are one-line drives of these flows, written out
//! in each crate.
//!
//! # Where things live
//!
//! Every public item is re-exported at the crate root; the modules are
//! private and only say where to read the code.
//!
//! | file | what lives there |
//! |---|---|
//! | `app.rs` | [`AppCore`] (an app's calls as flows) and [`AgentOptions`] |
//! | `operator/mod.rs` | [`OperatorCore`] (the operator's calls as flows) |
//! | `operator/apps.rs`, `revoke.rs`, `audit.rs` | the operator's broker calls: [`CreateApp`] ... [`DeleteApp`], [`Revoke`], [`AuditEvents`] and [`next_audit_page`] |
//! | `launch_token.rs` | [`CreateLaunchToken`], for an app or the operator |
//! | `session/mod.rs` | [`Session`] and [`SessionCache`] |
//! | `session/auth.rs` | the logins: [`AppAuth`], [`AdminAuth`] |
//! | `session/shared.rs` | [`SharedSession`] and [`WithSession`]: the session every clone shares, single-flight login, the retry after a 401 |
//! | `agent/mod.rs` | [`AgentCredentials`], [`AgentState`] and [`SharedAgent`] (the state an agent's clones and its auto-renewal share) |
//! | `agent/create.rs` | [`CreateAgent`] and [`CreateAgentRequest`] |
//! | `agent/renew.rs`, `release.rs`, `delegate.rs`, `auto_renew.rs` | [`Renew`] and [`RenewInPlace`], [`Release`] and [`ReleaseInPlace`], [`Delegate`] and [`DelegatedToken`], [`AutoRenew`] |
//! | `validate.rs`, `health.rs` | the calls that need no credentials: [`Validate`], [`Health`] |
//! | `env.rs` | the `AGENTWRIT_*` variables, [`broker_settings_from`], [`app_credentials_from`], [`admin_secret_from`] |
//! | `flow.rs` | the contract with a transport: [`Flow`], [`Step`], [`TransportFailure`], and what a request carries for it ([`AttemptTimeout`], [`PointOfNoReturn`]) |
//! | `driver.rs` | [`Driver`], [`Action`], [`Attempt`]: a transport's loop, with every decision in it |
//! | `call.rs`, `request.rs`, `response.rs`, `retry.rs` | the engine under every flow: one request, its retries ([`RetryPolicy`]) and the decoding of its answer |
//! | `error.rs` | every error type: [`Error`], [`TransportSource`] |
//! | `config.rs`, `builder.rs`, `clock.rs` | [`ClientConfig`], [`ClientSettings`], [`Clock`] |
//! | `keys.rs`, `token.rs` | [`AgentKey`]; [`decode_claims`], [`TokenVerifier`] and its [`ClaimChecks`] |
//! | `input.rs`, `redact.rs`, `sync.rs` | checks on the caller's input; removing secrets from kept response text; the lock |
//!
//! Dependencies point one way: the app and operator use sessions and
//! flows, `agent/` uses the engine, and `session/` knows nothing of agents.
//!
//! # Errors
//!
//! One [`Error`] type. Responses are classified in one place:
//!
//! | response | error |
//! |---|---|
//! | body over [`ClientConfig::max_response_bytes`] | [`Error::Decode`] |
//! | 2xx whose body is not the expected JSON, or whose `Content-Type` is present but not JSON | [`Error::Decode`] with the status and a redacted excerpt of at most 512 bytes |
//! | 401 | [`Error::Authentication`] |
//! | 403 | [`Error::Authorization`] |
//! | 429 | [`Error::RateLimited`] with `Retry-After` |
//! | any other status | [`Error::Problem`] |
//!
//! Each rejection carries its status and the full [`ProblemDetail`](agentwrit_wire::ProblemDetail)
//! (`error_code`, `detail`, `request_id`, ...). When the body is not a
//! problem (a proxy's HTML 502 page), one is synthesised from the status,
//! its text, a redacted excerpt and the `X-Request-ID` header. Secrets —
//! values of `access_token`, `client_secret`, `launch_token`, `secret`,
//! `token` members, anything that looks like a JWT, bearer credentials —
//! are replaced by `<redacted>` before response text is kept in an error.
//!
//! # Retries
//!
//! Every request of a flow gets [`RetryPolicy::max_attempts`] sends (3 by
//! default), waiting the exponential backoff (200 ms, 400 ms, ... capped at
//! 2 s, optional deterministic jitter) or the broker's `Retry-After` when
//! it is at most [`RetryPolicy::max_retry_after`] (5 s; a longer one ends
//! the flow at once with [`Error::RateLimited`] carrying the delay).
//!
//! | call | retried on |
//! |---|---|
//! | idempotent: health, challenge, validate, list/get app, audit | every [`TransportFailure`] except `BodyTooLarge`; 429, 502, 503, 504 |
//! | not idempotent: app/admin auth, launch tokens, register, renew, release, delegate, create/update/delete app, revoke | only [`TransportFailure::Connect`] (certainly not sent); 429, 503 |
//!
//! So a register or release that timed out is never silently sent twice:
//! the flow gives up and the transport reports its error.
//!
//! The retries of a request share its deadline: [`ClientConfig::timeout`]
//! (10 s by default) counts from the first attempt, each attempt gets what
//! is left, and no retry is scheduled — nor a `Retry-After` waited — that
//! could not start before it runs out.
//!
//! # The driver loop
//!
//! A transport drives any [`Flow`] with one loop. Here it is with a canned
//! in-memory "transport" that answers like the broker:
//!
//! ```
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//! use agentwrit_core::{ClientConfig, Error, Flow, Health, Step, TransportFailure};
//!
//! /// What a transport crate writes once (and `sleep`s for real).
//! fn drive<F: Flow>(
//!     mut flow: F,
//!     now: impl Fn() -> SystemTime,
//!     mut send: impl FnMut(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, TransportFailure>,
//! ) -> Result<F::Output, Error> {
//!     let mut step = flow.start(now());
//!     loop {
//!         step = match step {
//!             Step::Send(request) => match send(request) {
//!                 Ok(response) => flow.handle_response(response, now()),
//!                 // A real transport hands over its own, more detailed error
//!                 // (the HTTP library's error as its source).
//!                 Err(failure) => {
//!                     let give_up = Error::transport(failure, flow.name(), None);
//!                     flow.handle_transport_failure(failure, give_up, now())
//!                 }
//!             },
//!             Step::Wait { until } => {
//!                 let _sleep_for = until.duration_since(now()).unwrap_or_default();
//!                 flow.resume(until)
//!             }
//!             Step::Done(result) => return result,
//!         };
//!     }
//! }
//!
//! let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
//! let now = || UNIX_EPOCH + Duration::from_secs(1_795_304_437);
//! let mut calls = 0;
//! let health = drive(Health::new(&config), now, |request| {
//!     calls += 1;
//!     assert_eq!(request.uri(), "http://127.0.0.1:8080/v1/health");
//!     if calls == 1 {
//!         return Err(TransportFailure::Connect); // retried after 200 ms
//!     }
//!     Ok(http::Response::builder()
//!         .status(200)
//!         .header("content-type", "application/json")
//!         .body(br#"{"status":"ok","version":"2.0.0","uptime":0,"db_connected":true,"audit_events_count":0}"#.to_vec())
//!         .unwrap())
//! })?;
//! assert_eq!(health.version, "2.0.0");
//! assert_eq!(calls, 2);
//! # Ok::<(), agentwrit_core::Error>(())
//! ```
//!
//! Transports read at most [`ClientConfig::max_response_bytes`] + 1 bytes
//! of a body, so that an oversized body reaches the flow and becomes an
//! [`Error::Decode`]; map their failures to [`TransportFailure`] (a
//! connection refused is `Connect`, a timeout `Timeout`, ...); take `now`
//! from a [`Clock`]; and sleep on [`Step::Wait`] with their runtime's sleep.
//!
//! The two transports of this workspace do not even write that much: a
//! [`Driver`] reads the clock, hands each flow method its `now`, builds the
//! error a flow gives up with, and decides the time a flow resumes at after
//! a sleep; the transport performs the [`Action`]s it returns. Each request
//! says, in its extensions, how long its attempt may take
//! ([`AttemptTimeout`]: what is left of the call's
//! [timeout](ClientConfig::timeout), retries included), and whether it is
//! its flow's [`PointOfNoReturn`] (the registration, after which a transport
//! whose caller can be cancelled must finish the flow detached and release
//! an agent nobody takes).
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

mod agent;
mod app;
mod builder;
mod call;
mod clock;
mod config;
mod driver;
mod env;
mod error;
mod flow;
mod health;
mod input;
mod keys;
mod launch_token;
mod operator;
pub mod process;
mod redact;
mod request;
mod response;
mod retry;
mod session;
mod sync;
pub mod tls;
mod token;
mod validate;

pub use agent::{
    AgentCredentials, AgentState, AutoRenew, CreateAgent, CreateAgentRequest, DEFAULT_MAX_TTL,
    Delegate, DelegatedToken, EndTask, Release, ReleaseInPlace, ReleaseOutcome, Renew,
    RenewInPlace, Renewal, SharedAgent, task_result,
};
pub use app::{AgentOptions, AppCore};
pub use builder::{ClientSettings, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    BrokerUrl, ClientConfig, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REAUTH_MARGIN, DEFAULT_USER_AGENT,
};
pub use driver::{Action, Attempt, Driver};
pub use env::{
    ENV_ADMIN_SECRET, ENV_BROKER_URL, ENV_CA_FILE, ENV_CLIENT_CERT, ENV_CLIENT_ID, ENV_CLIENT_KEY,
    ENV_CLIENT_SECRET, admin_secret_from, app_credentials_from, broker_settings_from,
    tls_settings_from,
};
pub use error::{Error, TransportSource};
pub use flow::{AttemptTimeout, Flow, PointOfNoReturn, Step, TransportFailure};
pub use health::Health;
pub use input::{
    MAX_DELEGATE_ID_LEN, MAX_LABEL_LEN, MAX_ORCH_ID_LEN, MAX_SCOPE_LEN, MAX_SCOPES, MAX_TASK_ID_LEN,
};
pub use keys::AgentKey;
pub use launch_token::CreateLaunchToken;
pub use operator::{
    AuditEvents, CreateApp, DeleteApp, GetApp, ListApps, OperatorCore, Revoke, UpdateApp,
    next_audit_page,
};
pub use retry::RetryPolicy;
pub use session::{
    AUTH_POLL_INTERVAL, AdminAuth, AdminSession, AppAuth, AppSession, Session, SessionCache,
    SharedSession, WithSession,
};
pub use tls::{TlsError, TlsFailure};
pub use token::{ClaimChecks, TokenVerifier, decode_claims, kid_for};
pub use validate::{Validate, Validation};

/// The wire types, re-exported so that users of a transport crate need not
/// depend on `agentwrit-wire` themselves.
pub use agentwrit_wire as wire;

/// The scope crate, re-exported (`scope_is_subset` and friends).
pub use agentwrit_scope as scope;
