//! The native half of the npm package `agentwrit-rs`: the binding layer
//! (`agentwrit-bindings`) in Node-API's idioms, and nothing else.
//!
//! This module is private to the package: its generated loader
//! (`native.cjs`) is loaded by the hand-written TypeScript layer
//! (`crates/agentwrit-node/ts/`), which is the API (`AgentWritApp`,
//! `AbortSignal` handling, `Symbol.asyncDispose`, the error classes, the
//! middlewares). Each class here wraps one binding-layer handle:
//!
//! - every broker call returns a `Promise` settled from the binding
//!   layer's own tokio runtime (no napi runtime beside it): the work is
//!   spawned there, and its result handed to the JavaScript thread through
//!   a Node-API deferred;
//! - agent creation is started (`App.startCreateAgent`) and then awaited
//!   (`PendingAgent.wait`), so that the JavaScript layer can give a
//!   creation up (`PendingAgent.abandon`) when its `AbortSignal` fires: an
//!   agent that arrives with nobody waiting is released at once by the
//!   layer;
//! - an error is an `Error` whose `code` is the layer's kind
//!   (`"authentication"`, `"transport"`, ...) with `status`, `problem`,
//!   `requestId`, `retryable`, `retryAfter` and `timeout` set, which the
//!   JavaScript layer turns into its error classes.
//!
//! Not a Rust library: built by `@napi-rs/cli` into
//! `agentwrit-rs.<platform>.node`, tested from Node (`cargo xtask node`).
//!
//! `unsafe_code` is denied, not forbidden, in this one crate: napi-derive
//! registers each export with the `ctor` crate, whose generated function
//! carries `#[allow(unsafe_code)]`, which a `forbid` refuses (E0453). No
//! `unsafe` is written here.
#![deny(unsafe_code)]
#![deny(missing_docs)]
// Under `cfg(test)` (clippy's `--all-targets`) napi-derive registers no
// export (its registration is `cfg(not(test))`), so exports only
// JavaScript calls look unused there.
#![cfg_attr(test, allow(dead_code))]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod agent;
mod app;
mod devbroker;
mod operator;
mod promise;
mod service;
mod values;

use napi::Env;
use napi::bindgen_prelude::Object;
use napi_derive::napi;

use crate::promise::{promise, throw};
use crate::values::{ClientOptions, Validation};

/// The transport every client of the package is built on:
/// `agentwrit-blocking`, each call run on the binding layer's blocking
/// pool and its promise settled from there. Measured against the async
/// flavour (`cargo xtask bench-node`, docs/performance.md), it costs a
/// JavaScript caller less CPU per call: each call crosses threads twice
/// (to the pool, back to the JavaScript thread), and the blocking client
/// has no scheduler of its own to wake between them. The price is a
/// thread per call in flight (and per auto-renewing agent), which the
/// pool reuses.
pub(crate) const FLAVOUR: agentwrit_bindings::Flavour = agentwrit_bindings::Flavour::Blocking;

/// The package version (the workspace's).
#[napi]
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The broker's scope rule: every scope in `requested` is covered by one
/// in `allowed`.
#[napi]
pub fn scope_is_subset(requested: Vec<String>, allowed: Vec<String>) -> bool {
    agentwrit_bindings::scope_is_subset(&requested, &allowed)
}

/// `POST /v1/token/validate` at `brokerUrl`, on this process's validator
/// for (URL, settings): every setting is part of the cache key.
#[napi(ts_return_type = "Promise<Validation>")]
pub fn validate<'env>(
    env: &'env Env,
    broker_url: String,
    token: String,
    options: Option<ClientOptions>,
) -> napi::Result<Object<'env>> {
    let settings = values::settings(env, options)?;
    let validator = agentwrit_bindings::Validator::cached(crate::FLAVOUR, &broker_url, &settings)
        .map_err(|e| throw(env, &e))?;
    promise(env, validator.validate(token), Validation::from)
}

/// How many calls that outlived their callers (an abandoned creation's
/// release, a release whose promise nobody awaits) still run.
#[napi]
pub fn in_flight() -> u32 {
    u32::try_from(agentwrit_bindings::in_flight()).unwrap_or(u32::MAX)
}

/// Resolves `true` once no such call runs any more, `false` after
/// `limitMs` (the package awaits it before the process exits).
#[napi(ts_return_type = "Promise<boolean>")]
pub fn drain(env: &Env, limit_ms: f64) -> napi::Result<Object<'_>> {
    let limit =
        std::time::Duration::try_from_secs_f64(limit_ms.max(0.0) / 1000.0).unwrap_or_default();
    let (deferred, promise) = env.create_deferred::<bool, promise::Resolver<bool>>()?;
    let waiter = std::thread::Builder::new()
        .name("agentwrit-drain".into())
        .spawn(move || {
            let done = agentwrit_bindings::drain(limit);
            deferred.resolve(Box::new(move |_| Ok(done)));
        });
    match waiter {
        Ok(_) => Ok(promise),
        Err(e) => Err(napi::Error::from_reason(format!(
            "could not wait for calls in flight: {e}"
        ))),
    }
}

/// The blocking form of [`drain`], for `process.on('exit')` (where no
/// promise can settle any more).
#[napi]
pub fn drain_sync(limit_ms: f64) -> bool {
    let limit =
        std::time::Duration::try_from_secs_f64(limit_ms.max(0.0) / 1000.0).unwrap_or_default();
    agentwrit_bindings::drain(limit)
}
