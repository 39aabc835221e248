//! `App`, cancel-safe creation (`PendingAgent`), module-level validation.

use agentwrit_bindings::{AgentRequest, Flavour, Pending, Validator};
use pyo3::prelude::*;

use crate::agent::Agent;
use crate::aio::{awaitable, future};
use crate::convert::{PySettings, health_to_py, validation_to_py};
use crate::errors::IntoPy;

pub(crate) fn flavour(asynchronous: bool) -> Flavour {
    if asynchronous {
        Flavour::Async
    } else {
        Flavour::Blocking
    }
}

/// An app at a broker: blocking (`asynchronous=False`, on the blocking
/// transport) or async (on the binding layer's runtime). Each call has a
/// blocking form (GIL released) and an `_async` form (an awaitable).
#[pyclass(frozen, module = "agentwrit_rs._native", name = "App")]
pub struct App {
    inner: agentwrit_bindings::App,
}

#[pymethods]
impl App {
    #[new]
    #[pyo3(signature = (broker_url, client_id, client_secret, settings, *, asynchronous=false))]
    fn new(
        broker_url: &str,
        client_id: &str,
        client_secret: &str,
        settings: &PySettings,
        asynchronous: bool,
    ) -> PyResult<Self> {
        let inner = agentwrit_bindings::App::new(
            flavour(asynchronous),
            broker_url,
            client_id,
            client_secret,
            &settings.inner,
        )
        .py()?;
        Ok(App { inner })
    }

    #[staticmethod]
    #[pyo3(signature = (*, asynchronous=false))]
    fn from_env(asynchronous: bool) -> PyResult<Self> {
        Ok(App {
            inner: agentwrit_bindings::App::from_env(flavour(asynchronous)).py()?,
        })
    }

    #[getter]
    fn broker_url(&self) -> &str {
        self.inner.broker_url()
    }

    #[getter]
    fn client_id(&self) -> &str {
        self.inner.client_id()
    }

    #[pyo3(signature = (orch_id, task_id, scope, *, max_ttl=None, label=None, auto_renew=false, key_seed=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_agent(
        &self,
        py: Python<'_>,
        orch_id: String,
        task_id: String,
        scope: Vec<String>,
        max_ttl: Option<f64>,
        label: Option<String>,
        auto_renew: bool,
        key_seed: Option<Vec<u8>>,
    ) -> PyResult<Agent> {
        let request = request(
            orch_id, task_id, scope, max_ttl, label, auto_renew, key_seed,
        )?;
        let call = self.inner.create_agent(request);
        Ok(Agent::from(py.detach(|| call.wait()).py()?))
    }

    /// Starts creating an agent on the runtime and returns at once; see
    /// [`PendingAgent`].
    #[pyo3(signature = (orch_id, task_id, scope, *, max_ttl=None, label=None, auto_renew=false, key_seed=None))]
    #[allow(clippy::too_many_arguments)]
    fn start_create_agent(
        &self,
        orch_id: String,
        task_id: String,
        scope: Vec<String>,
        max_ttl: Option<f64>,
        label: Option<String>,
        auto_renew: bool,
        key_seed: Option<Vec<u8>>,
    ) -> PyResult<PendingAgent> {
        let request = request(
            orch_id, task_id, scope, max_ttl, label, auto_renew, key_seed,
        )?;
        Ok(PendingAgent {
            inner: self.inner.create_agent(request).start(),
        })
    }

    fn validate(&self, py: Python<'_>, token: String) -> PyResult<Py<PyAny>> {
        let call = self.inner.validate(token);
        validation_to_py(py, py.detach(|| call.wait()).py()?)
    }

    fn validate_async<'py>(&self, py: Python<'py>, token: String) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.inner.validate(token), validation_to_py)
    }

    fn health(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let call = self.inner.health();
        health_to_py(py, py.detach(|| call.wait()).py()?)
    }

    fn health_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.inner.health(), health_to_py)
    }

    fn __repr__(&self) -> String {
        format!(
            "App(broker_url={:?}, client_id={:?})",
            self.inner.broker_url(),
            self.inner.client_id()
        )
    }
}

fn request(
    orch_id: String,
    task_id: String,
    scope: Vec<String>,
    max_ttl: Option<f64>,
    label: Option<String>,
    auto_renew: bool,
    key_seed: Option<Vec<u8>>,
) -> PyResult<AgentRequest> {
    let mut request = AgentRequest::new(orch_id, task_id, scope)
        .label(label)
        .auto_renew(auto_renew);
    if let Some(ttl) = max_ttl {
        request = request.max_ttl_secs(ttl).py()?;
    }
    if let Some(seed) = key_seed {
        request = request.key_seed(&seed).py()?;
    }
    Ok(request)
}

/// An agent being created on the runtime. `wait()` is an awaitable that
/// resolves (to `None`) when the creation has ended or its deadline has
/// passed; `take()` then returns the agent (or raises the creation's
/// error, or the deadline's); `abandon()` gives it up: an agent that has
/// arrived, or arrives later, is released at once. The Python layer awaits
/// `wait()`, takes the agent synchronously, and abandons on any
/// interruption, so a cancelled task never leaves a live token.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "PendingAgent")]
pub struct PendingAgent {
    inner: Pending<agentwrit_bindings::Agent>,
}

#[pymethods]
impl PendingAgent {
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let finished = self.inner.finished();
        future(
            py,
            async move {
                finished.await;
                Ok(())
            },
            |py, ()| Ok(py.None()),
        )
    }

    fn take(&self) -> PyResult<Agent> {
        Ok(Agent::from(self.inner.take().py()?))
    }

    fn abandon(&self) {
        self.inner.abandon();
    }

    #[getter]
    fn done(&self) -> bool {
        self.inner.is_finished()
    }
}

/// `POST /v1/token/validate` on this process's validator for (URL,
/// settings), blocking (GIL released).
#[pyfunction]
#[pyo3(signature = (broker_url, token, settings, *, asynchronous=false))]
pub fn validate(
    py: Python<'_>,
    broker_url: &str,
    token: String,
    settings: &PySettings,
    asynchronous: bool,
) -> PyResult<Py<PyAny>> {
    let validator = Validator::cached(flavour(asynchronous), broker_url, &settings.inner).py()?;
    let call = validator.validate(token);
    validation_to_py(py, py.detach(|| call.wait()).py()?)
}

/// The awaitable `validate` (on the async validator for URL and settings).
#[pyfunction]
pub fn validate_async<'py>(
    py: Python<'py>,
    broker_url: &str,
    token: String,
    settings: &PySettings,
) -> PyResult<Bound<'py, PyAny>> {
    let validator = Validator::cached(Flavour::Async, broker_url, &settings.inner).py()?;
    awaitable(py, validator.validate(token), validation_to_py)
}

/// The broker's scope rule.
#[pyfunction]
pub fn scope_is_subset(requested: Vec<String>, allowed: Vec<String>) -> bool {
    agentwrit_bindings::scope_is_subset(&requested, &allowed)
}

/// Waits (GIL released), at most `timeout` seconds, for calls that
/// outlived their callers (a release a cancelled task left running, an
/// abandoned agent's release) to finish; `True` when none is left. Run at
/// interpreter exit.
#[pyfunction]
pub fn drain(py: Python<'_>, timeout: f64) -> bool {
    let limit = std::time::Duration::try_from_secs_f64(timeout).unwrap_or_default();
    py.detach(|| agentwrit_bindings::drain(limit))
}

/// How many such calls are still running in this process.
#[pyfunction]
pub fn in_flight() -> usize {
    agentwrit_bindings::in_flight()
}
