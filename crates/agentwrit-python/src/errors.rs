//! [`BindingError`] raised as the official SDK's exception classes
//! (defined in Python, `agentwrit_rs.errors`), one class per kind.

use agentwrit_bindings::{BindingError, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::convert::problem_to_py;

/// `map_err` helper: a binding result into a Python result.
pub trait IntoPy<T> {
    /// The result with its error raised as a Python exception.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, BindingError> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// `error` as the matching `agentwrit_rs.errors` exception.
pub fn to_py(error: BindingError) -> PyErr {
    Python::attach(|py| build(py, &error).unwrap_or_else(|e| e))
}

macro_rules! classes {
    ($($id:ident = $name:literal),* $(,)?) => {
        $(static $id: PyOnceLock<Py<PyType>> = PyOnceLock::new();)*
        fn lookup<'py>(py: Python<'py>, name: &str) -> PyResult<&'py Bound<'py, PyType>> {
            match name {
                $($name => $id.import(py, "agentwrit_rs.errors", $name),)*
                _ => Err(pyo3::exceptions::PyRuntimeError::new_err(format!("no error class {name}"))),
            }
        }
    };
}

classes! {
    BASE = "AgentWritError",
    PROBLEM = "ProblemResponseError",
    AUTHN = "AuthenticationError",
    AUTHZ = "AuthorizationError",
    RATE = "RateLimitError",
    TRANSPORT = "TransportError",
    CRYPTO = "CryptoError",
    INPUT = "InvalidInputError",
    RELEASED = "ReleasedError",
    DECODE = "DecodeError",
}

fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Authentication => "AuthenticationError",
        ErrorKind::Authorization => "AuthorizationError",
        ErrorKind::RateLimited => "RateLimitError",
        ErrorKind::Problem => "ProblemResponseError",
        ErrorKind::Transport => "TransportError",
        ErrorKind::Crypto => "CryptoError",
        ErrorKind::InvalidInput => "InvalidInputError",
        ErrorKind::Released => "ReleasedError",
        ErrorKind::Decode => "DecodeError",
        _ => "AgentWritError",
    }
}

fn build(py: Python<'_>, error: &BindingError) -> PyResult<PyErr> {
    let cls = lookup(py, class_name(error.kind()))?;
    let value = match error.problem() {
        // A broker rejection: the official constructor (problem, status).
        Some(problem) => cls.call1((
            problem_to_py(py, problem)?,
            error.status().unwrap_or(problem.status),
        ))?,
        None => cls.call1((error.message(),))?,
    };
    value.setattr("code", error.kind().code())?;
    value.setattr("retryable", error.retryable())?;
    value.setattr("request_id", error.request_id())?;
    if error.kind() == ErrorKind::RateLimited {
        value.setattr("retry_after", error.retry_after().map(|d| d.as_secs_f64()))?;
    }
    Ok(PyErr::from_value(value))
}

/// An `agentwrit_rs.errors` exception of `kind` with `message`, for what
/// this module refuses itself.
pub fn raise(kind: ErrorKind, message: String) -> PyErr {
    to_py(BindingError::plain(kind, message))
}
