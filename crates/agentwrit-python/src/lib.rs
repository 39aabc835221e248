//! The native half of the Python package `agentwrit_rs`: the AgentWrit
//! clients of `agentwrit-blocking` and `agentwrit-async` (and the
//! development broker) as Python classes. The package's Python modules
//! (`python/agentwrit_rs/`) give them the official Python SDK's names,
//! models and exceptions; see that package's README section in the
//! repository's README.
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

mod async_api;
mod connect;
mod convert;
mod devbroker;
mod errors;
mod sync_api;

use pyo3::prelude::*;

/// `agentwrit_rs._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<sync_api::App>()?;
    m.add_class::<sync_api::Agent>()?;
    m.add_class::<sync_api::Delegated>()?;
    m.add_class::<sync_api::Operator>()?;
    m.add_function(wrap_pyfunction!(sync_api::validate, m)?)?;
    m.add_function(wrap_pyfunction!(sync_api::scope_is_subset, m)?)?;
    m.add_class::<async_api::AsyncApp>()?;
    m.add_class::<async_api::AsyncAgent>()?;
    m.add_class::<async_api::AsyncDelegated>()?;
    m.add_class::<async_api::AsyncOperator>()?;
    m.add_function(wrap_pyfunction!(async_api::async_validate, m)?)?;
    m.add_class::<devbroker::DevBroker>()?;
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
