//! Values into Python objects, field by field: the official SDK's
//! dataclasses (`agentwrit_rs.models`) built here, value trees into dicts
//! and lists. No JSON text crosses into Python.

use std::time::SystemTime;

use agentwrit_bindings::{
    Claims, DelegationRecord, HealthResponse, Options, ProblemDetail, Settings, ValidationResult,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};

use crate::errors::IntoPy;

macro_rules! models {
    ($($id:ident = $name:literal),* $(,)?) => {
        $(
            #[allow(non_snake_case)]
            fn $id(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
                static CELL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
                CELL.import(py, "agentwrit_rs.models", $name)
            }
        )*
    };
}

models! {
    PROBLEM_DETAIL = "ProblemDetail",
    AGENT_CLAIMS = "AgentClaims",
    DELEGATION_RECORD = "DelegationRecord",
    VALIDATE_RESULT = "ValidateResult",
    HEALTH_STATUS = "HealthStatus",
}

/// Unix seconds (fractional).
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The broker's problem as `agentwrit_rs.models.ProblemDetail`.
pub fn problem_to_py<'py>(py: Python<'py>, p: &ProblemDetail) -> PyResult<Bound<'py, PyAny>> {
    let kw = PyDict::new(py);
    kw.set_item("type", &p.problem_type)?;
    kw.set_item("title", &p.title)?;
    kw.set_item("detail", &p.detail)?;
    kw.set_item("instance", &p.instance)?;
    kw.set_item("status", p.status)?;
    kw.set_item("error_code", p.error_code.as_ref().map(|c| c.as_str()))?;
    kw.set_item("request_id", &p.request_id)?;
    kw.set_item("hint", &p.hint)?;
    PROBLEM_DETAIL(py)?.call((), Some(&kw))
}

/// A delegation chain as a list of `DelegationRecord`.
pub fn chain_to_py<'py>(
    py: Python<'py>,
    chain: &[DelegationRecord],
) -> PyResult<Bound<'py, PyList>> {
    let cls = DELEGATION_RECORD(py)?;
    let items = chain
        .iter()
        .map(|r| cls.call1((&r.agent, r.scope.clone(), r.delegated_at.as_str())))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Token claims as `AgentClaims`.
pub fn claims_to_py<'py>(py: Python<'py>, c: &Claims) -> PyResult<Bound<'py, PyAny>> {
    let kw = PyDict::new(py);
    kw.set_item("iss", &c.iss)?;
    kw.set_item("sub", &c.sub)?;
    kw.set_item("aud", c.aud.clone().unwrap_or_default())?;
    kw.set_item("exp", c.exp)?;
    kw.set_item("nbf", c.nbf)?;
    kw.set_item("iat", c.iat)?;
    kw.set_item("jti", &c.jti)?;
    kw.set_item("scope", c.scope.clone())?;
    kw.set_item("task_id", c.task_id.clone().unwrap_or_default())?;
    kw.set_item("orch_id", c.orch_id.clone().unwrap_or_default())?;
    kw.set_item("sid", &c.sid)?;
    let chain = match c.delegation_chain.as_deref() {
        Some(chain) if !chain.is_empty() => Some(chain_to_py(py, chain)?),
        _ => None,
    };
    kw.set_item("delegation_chain", chain)?;
    kw.set_item("chain_hash", &c.chain_hash)?;
    AGENT_CLAIMS(py)?.call((), Some(&kw))
}

/// A verdict as `ValidateResult`.
pub fn validation_to_py(py: Python<'_>, v: ValidationResult) -> PyResult<Py<PyAny>> {
    let kw = PyDict::new(py);
    match (v.valid, &v.claims) {
        (true, Some(claims)) => {
            kw.set_item("valid", true)?;
            kw.set_item("claims", claims_to_py(py, claims)?)?;
        }
        // The official SDK's answer to a valid verdict without claims.
        (true, None) => {
            kw.set_item("valid", false)?;
            kw.set_item("error", "Missing claims in valid response")?;
        }
        (false, _) => {
            kw.set_item("valid", false)?;
            kw.set_item("error", v.error)?;
        }
    }
    Ok(VALIDATE_RESULT(py)?.call((), Some(&kw))?.unbind())
}

/// `GET /v1/health` as `HealthStatus`.
pub fn health_to_py(py: Python<'_>, h: HealthResponse) -> PyResult<Py<PyAny>> {
    let kw = PyDict::new(py);
    kw.set_item("status", h.status)?;
    kw.set_item("version", h.version)?;
    kw.set_item("uptime", h.uptime)?;
    kw.set_item("db_connected", h.db_connected)?;
    kw.set_item("audit_events_count", h.audit_events_count)?;
    Ok(HEALTH_STATUS(py)?.call((), Some(&kw))?.unbind())
}

/// A value tree as dicts, lists, strings, numbers, booleans and `None`.
pub fn tree_to_py(py: Python<'_>, value: serde_json::Value) -> PyResult<Py<PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.into_pyobject(py)?.into_any().unbind(),
            (None, Some(u), _) => u.into_pyobject(py)?.into_any().unbind(),
            (_, _, Some(f)) => f.into_pyobject(py)?.into_any().unbind(),
            _ => py.None(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any().unbind(),
        Value::Array(items) => {
            let items = items
                .into_iter()
                .map(|v| tree_to_py(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any().unbind()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, tree_to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// The client settings every constructor takes, as Python hands them over
/// (files already read by the Python layer).
#[pyclass(frozen, module = "agentwrit_rs._native", name = "Settings")]
pub struct PySettings {
    pub(crate) inner: Settings,
}

#[pymethods]
impl PySettings {
    #[new]
    #[pyo3(signature = (*, timeout=None, user_agent=None, ca_pem=None, client_cert_pem=None, client_key_pem=None, https_only=false))]
    fn new(
        timeout: Option<f64>,
        user_agent: Option<String>,
        ca_pem: Option<Vec<u8>>,
        client_cert_pem: Option<Vec<u8>>,
        client_key_pem: Option<Vec<u8>>,
        https_only: bool,
    ) -> PyResult<Self> {
        let inner = Settings::new(Options {
            timeout_secs: timeout,
            user_agent,
            ca_pem,
            client_cert_pem,
            client_key_pem,
            https_only,
        })
        .py()?;
        Ok(PySettings { inner })
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}
