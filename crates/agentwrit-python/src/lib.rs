//! The native half of the Python package `agentwrit_rs`: the binding
//! layer (`agentwrit-bindings`) in Python's idioms, and nothing else.
//! The package's Python modules (`python/agentwrit_rs/`) give these
//! classes the official Python SDK's names, models and exceptions.
//!
//! Each class wraps one binding-layer handle; each broker call is a
//! blocking method (GIL released) and an `_async` one (an asyncio
//! awaitable, the call running on the binding layer's runtime).
//!
//! Not a Rust library: built by maturin into `agentwrit_rs._native`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod agent;
mod aio;
mod app;
mod convert;
mod devbroker;
mod errors;
mod operator;
mod service;

use pyo3::prelude::*;

/// `agentwrit_rs._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<convert::PySettings>()?;
    m.add_class::<app::App>()?;
    m.add_class::<app::PendingAgent>()?;
    m.add_class::<agent::Agent>()?;
    m.add_class::<agent::Delegated>()?;
    m.add_class::<operator::Operator>()?;
    m.add_class::<devbroker::DevBroker>()?;
    m.add_class::<service::Verifier>()?;
    m.add_class::<service::Verified>()?;
    m.add_class::<service::Refusal>()?;
    m.add_class::<service::McpScopes>()?;
    m.add_class::<service::ScopeRequirement>()?;
    m.add_function(wrap_pyfunction!(app::validate, m)?)?;
    m.add_function(wrap_pyfunction!(service::finish_usage, m)?)?;
    m.add_function(wrap_pyfunction!(app::validate_async, m)?)?;
    m.add_function(wrap_pyfunction!(app::scope_is_subset, m)?)?;
    m.add_function(wrap_pyfunction!(app::drain, m)?)?;
    m.add_function(wrap_pyfunction!(app::in_flight, m)?)?;
    m.add_function(wrap_pyfunction!(aio::resolve, m)?)?;
    m.add(
        "UNIVERSAL_APP_SCOPES",
        agentwrit_devbroker::UNIVERSAL_APP_SCOPES.to_vec(),
    )?;
    m.add(
        "UNIVERSAL_APP_NAME",
        agentwrit_devbroker::UNIVERSAL_APP_NAME,
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
