//! What every foreign-language binding of agentwrit-rs shares, so that a
//! language module (the PyO3 module of the Python package
//! `agentwrit_rs`, the napi module of the Node package) holds its
//! language's idioms and nothing else.
//!
//! No type here is a Python or JavaScript type; every argument is owned;
//! every async call is a [`Call`] that runs on this crate's own tokio
//! runtime, whatever loop the language runs.
//!
//! | concern | here |
//! |---|---|
//! | settings from keyword arguments / option objects | [`Options`] → [`Settings`] (every field part of a cached client's key) |
//! | the runtime | [`runtime()`]: one per process, rebuilt in a forked child |
//! | errors | [`BindingError`]: kind (one per exception class), message, retryable, status, problem, request id |
//! | cancel-safe calls | [`Call`], [`Pending`]: started work runs to its end; an agent nobody takes is released ([`Abandon`]) |
//! | one deadline | [`Call::wait`] / [`Call::start`]: the timeout bounds the whole call, retries included |
//! | fork | [`runtime()`], the transports' per-process HTTP clients, [`Agent`]'s renewal that stays with the parent |
//! | values | [`ValidationResult`], [`Claims`], [`HealthResponse`], operator answers as [`serde_json::Value`] trees (no JSON text crosses the FFI) |
//! | the service side | [`Verifier`] (tower's `AgentAuth`: broker or local mode, cache, fail closed, scope-usage recording, fork-safe), [`Refusal`] (status, challenge, problem body), [`McpToolScopes`], [`ScopeRequirement`] |
//!
//! Each client exists in two flavours: built on `agentwrit-blocking`
//! (a language's synchronous API: [`Call::wait`] runs it on the calling
//! thread, the cheapest path) or on `agentwrit-async` (its asynchronous
//! API: connections and renewal on the runtime). Either flavour can be
//! driven either way; a shell picks the flavour that matches its API.
//!
//! ```
//! use agentwrit_bindings::{AgentRequest, App, Flavour, Options, Settings};
//! # let broker = agentwrit_devbroker::DevBroker::start()?;
//! # let reg = broker.register_universal_app()?;
//! let settings = Settings::new(Options { timeout_secs: Some(10.0), ..Options::default() })?;
//! let app = App::new(Flavour::Async, broker.url(), &reg.client_id, reg.client_secret.expose_secret(), &settings)?;
//! let agent = app
//!     .create_agent(AgentRequest::new("orch", "task", vec!["read:data:x".into()]))
//!     .wait()?;
//! assert!(agent.agent_id().starts_with("spiffe://"));
//! agent.release_task().wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

/// `$e`, with `$a` bound to the client of whichever flavour `$client` is
/// (the two transports name their methods alike).
macro_rules! both {
    ($client:expr, $a:ident => $e:expr) => {
        match $client {
            $crate::Client::Blocking($a) => $e,
            $crate::Client::Async($a) => $e,
        }
    };
}

/// A [`Call`] of the SDK method call `$e` on the client `$client` (owned):
/// run as it is on a blocking client, awaited on an async one; its result
/// converted with `Into`, its error classified for `$url`.
macro_rules! call {
    ($client:expr, $url:expr, $step:literal, $effect:ident, $a:ident => $e:expr) => {{
        let url: String = $url.to_owned();
        let within = url.clone();
        match $client {
            $crate::Client::Blocking($a) => {
                $crate::call::Call::blocking($step, $crate::call::Effect::$effect, move || {
                    $e.map(::core::convert::Into::into)
                        .map_err(|e| $crate::BindingError::from_sdk(&e, &url))
                })
            }
            $crate::Client::Async($a) => {
                $crate::call::Call::nonblocking($step, $crate::call::Effect::$effect, async move {
                    $e.await
                        .map(::core::convert::Into::into)
                        .map_err(|e| $crate::BindingError::from_sdk(&e, &url))
                })
            }
        }
        .within_url(&within)
    }};
}

mod agent;
mod app;
mod call;
mod error;
mod operator;
mod runtime;
mod service;
mod settings;
mod validate;
mod value;

pub use agent::{Agent, Delegated};
/// The usage recorder's counters ([`Verifier::usage_counters`]).
pub use agentwrit_tower_verify::usage::Counters as UsageCounters;
pub use app::{AgentRequest, App};
pub use call::{Abandon, Call, Effect, Pending};
pub use error::{BindingError, ErrorKind, Result};
pub use operator::{AuditFilter, Operator, RevocationLevel, revocation_level};
pub use runtime::{block_on, drain, in_flight, process_id, runtime, spawn};
pub use service::{
    Answer, McpDecision, McpToolScopes, Refusal, ResourceOptions, ScopeRequirement, ServiceOptions,
    UsageOptions, Verdict, Verifier, finish_usage,
};
pub use settings::{Options, Settings, seconds, seconds_or_zero};
pub use validate::{Validator, scope_is_subset};
pub use value::{ReleaseOutcome, ValidationResult};

/// The token claims, the delegation records, the health answer and the
/// broker's problem, as the SDK parses them.
pub use agentwrit_blocking::wire::{
    AuditQuery, Claims, DelegationRecord, HealthResponse, ProblemDetail, Timestamp,
};

/// Which transport a client is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// `agentwrit-blocking` (ureq): for a synchronous API.
    Blocking,
    /// `agentwrit-async` (reqwest) on the bindings runtime: for an
    /// asynchronous API.
    Async,
}

/// A client of either flavour.
#[derive(Clone, Debug)]
pub(crate) enum Client<B, A> {
    Blocking(B),
    Async(A),
}

impl<B, A> Client<B, A> {
    pub(crate) fn flavour(&self) -> Flavour {
        match self {
            Client::Blocking(_) => Flavour::Blocking,
            Client::Async(_) => Flavour::Async,
        }
    }
}
