//! `Agent` and `Delegated`: the binding layer's handles as Python
//! classes, each call blocking (GIL released) or `_async` (awaitable).

use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::aio::{awaitable, plain};
use crate::convert::{chain_to_py, claims_to_py, unix};
use crate::errors::IntoPy;

fn ttl(ttl: Option<f64>) -> PyResult<Option<std::time::Duration>> {
    ttl.map(|t| agentwrit_bindings::seconds("ttl", t))
        .transpose()
        .py()
}

/// An agent. Dropping the last reference ends its automatic renewal (it
/// is not released; its token expires at the end of its TTL).
#[pyclass(frozen, module = "agentwrit_rs._native", name = "Agent")]
pub struct Agent {
    inner: agentwrit_bindings::Agent,
}

impl From<agentwrit_bindings::Agent> for Agent {
    fn from(inner: agentwrit_bindings::Agent) -> Self {
        Agent { inner }
    }
}

#[pymethods]
impl Agent {
    #[getter]
    fn agent_id(&self) -> String {
        self.inner.agent_id()
    }
    #[getter]
    fn access_token(&self) -> String {
        self.inner.access_token()
    }
    #[getter]
    fn scope(&self) -> Vec<String> {
        self.inner.scope()
    }
    #[getter]
    fn expires_in(&self) -> u64 {
        self.inner.expires_in().as_secs()
    }
    #[getter]
    fn expires_at(&self) -> f64 {
        unix(self.inner.expires_at())
    }
    #[getter]
    fn jti(&self) -> String {
        self.inner.jti()
    }
    #[getter]
    fn task_id(&self) -> String {
        self.inner.task_id()
    }
    #[getter]
    fn orch_id(&self) -> String {
        self.inner.orch_id()
    }
    #[getter]
    fn is_released(&self) -> bool {
        self.inner.is_released()
    }
    fn allows(&self, required: Vec<String>) -> bool {
        self.inner.allows(&required)
    }
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        claims_to_py(py, &self.inner.claims())
    }

    fn renew(&self, py: Python<'_>) -> PyResult<()> {
        let call = self.inner.renew();
        py.detach(|| call.wait()).py()
    }
    fn renew_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.inner.renew(), |py, ()| Ok(py.None()))
    }
    fn release(&self, py: Python<'_>) -> PyResult<&'static str> {
        let call = self.inner.release();
        Ok(py.detach(|| call.wait()).py()?.as_str())
    }
    fn release_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.inner.release(), |py, o| plain(py, o.as_str()))
    }
    fn release_task(&self, py: Python<'_>) -> PyResult<&'static str> {
        let call = self.inner.release_task();
        Ok(py.detach(|| call.wait()).py()?.as_str())
    }
    fn release_task_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.inner.release_task(), |py, o| plain(py, o.as_str()))
    }
    #[pyo3(signature = (delegate_to, scope, ttl=None))]
    fn delegate(
        &self,
        py: Python<'_>,
        delegate_to: String,
        scope: Vec<String>,
        ttl: Option<f64>,
    ) -> PyResult<Delegated> {
        let call = self.inner.delegate(delegate_to, scope, self::ttl(ttl)?);
        Ok(Delegated::from(py.detach(|| call.wait()).py()?))
    }
    #[pyo3(signature = (delegate_to, scope, ttl=None))]
    fn delegate_async<'py>(
        &self,
        py: Python<'py>,
        delegate_to: String,
        scope: Vec<String>,
        ttl: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let call = self.inner.delegate(delegate_to, scope, self::ttl(ttl)?);
        awaitable(py, call, |py, d| {
            Ok(Py::new(py, Delegated::from(d))?.into_any())
        })
    }
    fn start_auto_renewal(&self) -> PyResult<()> {
        self.inner.start_auto_renewal().py()
    }
    fn stop_auto_renewal(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        let call = self.inner.stop_auto_renewal();
        py.detach(|| call.wait()).py()
    }
    fn stop_auto_renewal_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.inner.stop_auto_renewal(), plain)
    }
    fn __repr__(&self) -> String {
        format!(
            "Agent(agent_id={:?}, orch_id={:?}, task_id={:?})",
            self.inner.agent_id(),
            self.inner.orch_id(),
            self.inner.task_id()
        )
    }
}

/// A token an agent (or a delegated token) handed to another agent.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "Delegated")]
pub struct Delegated {
    inner: agentwrit_bindings::Delegated,
}

impl From<agentwrit_bindings::Delegated> for Delegated {
    fn from(inner: agentwrit_bindings::Delegated) -> Self {
        Delegated { inner }
    }
}

#[pymethods]
impl Delegated {
    #[getter]
    fn access_token(&self) -> String {
        self.inner.access_token()
    }
    #[getter]
    fn expires_in(&self) -> u64 {
        self.inner.expires_in().as_secs()
    }
    #[getter]
    fn subject(&self) -> String {
        self.inner.subject()
    }
    #[getter]
    fn scope(&self) -> Vec<String> {
        self.inner.scope()
    }
    fn chain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        chain_to_py(py, &self.inner.chain())
    }
    fn allows(&self, required: Vec<String>) -> bool {
        self.inner.allows(&required)
    }
    #[pyo3(signature = (delegate_to, scope, ttl=None))]
    fn delegate(
        &self,
        py: Python<'_>,
        delegate_to: String,
        scope: Vec<String>,
        ttl: Option<f64>,
    ) -> PyResult<Delegated> {
        let call = self.inner.delegate(delegate_to, scope, self::ttl(ttl)?);
        Ok(Delegated::from(py.detach(|| call.wait()).py()?))
    }
    #[pyo3(signature = (delegate_to, scope, ttl=None))]
    fn delegate_async<'py>(
        &self,
        py: Python<'py>,
        delegate_to: String,
        scope: Vec<String>,
        ttl: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let call = self.inner.delegate(delegate_to, scope, self::ttl(ttl)?);
        awaitable(py, call, |py, d| {
            Ok(Py::new(py, Delegated::from(d))?.into_any())
        })
    }
    fn release(&self, py: Python<'_>) -> PyResult<&'static str> {
        let call = self.inner.release();
        Ok(py.detach(|| call.wait()).py()?.as_str())
    }
    fn release_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.inner.release(), |py, o| plain(py, o.as_str()))
    }
    fn __repr__(&self) -> String {
        format!("Delegated(subject={:?})", self.inner.subject())
    }
}
