//! The SDK's one error enum, raised as the official SDK's exception
//! classes (defined in Python, `agentwrit_rs.errors`), with the broker's
//! problem as `agentwrit_rs.models.ProblemDetail`.

use agentwrit_blocking::Error;
use agentwrit_blocking::wire::ProblemDetail;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

/// Raises `error` as the matching `agentwrit_rs.errors` class.
pub fn to_py(error: Error) -> PyErr {
    Python::attach(|py| build(py, &error).unwrap_or_else(|e| e))
}

/// `map_err` helper: any SDK result into a Python result.
pub trait IntoPy<T> {
    /// The result with its error raised as a Python exception.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "agentwrit_rs.errors", name)
}

macro_rules! classes {
    ($($id:ident = $name:literal),* $(,)?) => {
        $(static $id: PyOnceLock<Py<PyType>> = PyOnceLock::new();)*
        fn lookup<'py>(py: Python<'py>, name: &str) -> PyResult<&'py Bound<'py, PyType>> {
            match name {
                $($name => class(py, &$id, $name),)*
                _ => Err(PyRuntimeError::new_err(format!("no error class {name}"))),
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

static PROBLEM_DETAIL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The broker's problem as `agentwrit_rs.models.ProblemDetail`.
pub fn problem_to_py<'py>(py: Python<'py>, p: &ProblemDetail) -> PyResult<Bound<'py, PyAny>> {
    let cls = PROBLEM_DETAIL.import(py, "agentwrit_rs.models", "ProblemDetail")?;
    let kw = PyDict::new(py);
    kw.set_item("type", &p.problem_type)?;
    kw.set_item("title", &p.title)?;
    kw.set_item("detail", &p.detail)?;
    kw.set_item("instance", &p.instance)?;
    kw.set_item("status", p.status)?;
    kw.set_item("error_code", p.error_code.as_ref().map(|c| c.as_str()))?;
    kw.set_item("request_id", &p.request_id)?;
    kw.set_item("hint", &p.hint)?;
    cls.call((), Some(&kw))
}

fn build(py: Python<'_>, error: &Error) -> PyResult<PyErr> {
    let problem = |name: &str, status: u16, p: &ProblemDetail| -> PyResult<PyErr> {
        let value = lookup(py, name)?.call1((problem_to_py(py, p)?, status))?;
        Ok(PyErr::from_value(value))
    };
    let plain = |name: &str| -> PyResult<PyErr> {
        let value = lookup(py, name)?.call1((error.to_string(),))?;
        Ok(PyErr::from_value(value))
    };
    match error {
        Error::Authentication {
            status, problem: p, ..
        } => problem("AuthenticationError", *status, p),
        Error::Authorization {
            status, problem: p, ..
        } => problem("AuthorizationError", *status, p),
        Error::RateLimited {
            status,
            problem: p,
            retry_after,
            ..
        } => {
            let err = problem("RateLimitError", *status, p)?;
            err.value(py)
                .setattr("retry_after", retry_after.map(|d| d.as_secs_f64()))?;
            Ok(err)
        }
        Error::Problem {
            status, problem: p, ..
        } => problem("ProblemResponseError", *status, p),
        Error::Transport { .. } => plain("TransportError"),
        Error::Crypto { .. } => plain("CryptoError"),
        Error::InvalidInput { .. } => plain("InvalidInputError"),
        Error::Released => plain("ReleasedError"),
        Error::Decode { .. } => plain("DecodeError"),
        _ => plain("AgentWritError"),
    }
}

/// Raises an `agentwrit_rs.errors` class by name with a message (for
/// errors this crate detects itself).
pub fn raise(name: &str, message: String) -> PyErr {
    Python::attach(|py| match lookup(py, name) {
        Ok(cls) => match cls.call1((message,)) {
            Ok(v) => PyErr::from_value(v),
            Err(e) => e,
        },
        Err(e) => e,
    })
}
