//! The asyncio classes behind `agentwrit_rs.AsyncAgentWritApp`,
//! `AsyncAgent`, `AsyncDelegatedToken`, `async_validate` and
//! `AsyncAgentWritOperator`: every broker call returns an awaitable
//! (`pyo3-async-runtimes` on one shared tokio runtime, the async
//! transport underneath), so one event loop keeps many calls in flight.

use std::time::Duration;

use agentwrit_async as sdk;
use pyo3::prelude::*;
use pyo3_async_runtimes::tokio::future_into_py;

use crate::connect;
use crate::convert::{self, json};
use crate::errors::IntoPy;
use crate::sync_api::{outcome, unix};

/// An app at a broker, for asyncio.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "AsyncApp")]
pub struct AsyncApp {
    inner: sdk::App,
}

#[pymethods]
impl AsyncApp {
    #[new]
    #[pyo3(signature = (broker_url, client_id, client_secret, *, timeout=None, user_agent=None, ca_pem=None, client_cert_pem=None, client_key_pem=None, https_only=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        broker_url: &str,
        client_id: &str,
        client_secret: String,
        timeout: Option<f64>,
        user_agent: Option<String>,
        ca_pem: Option<Vec<u8>>,
        client_cert_pem: Option<Vec<u8>>,
        client_key_pem: Option<Vec<u8>>,
        https_only: bool,
    ) -> PyResult<Self> {
        let s = convert::settings(
            timeout,
            user_agent,
            ca_pem,
            client_cert_pem,
            client_key_pem,
            https_only,
        )?;
        // reqwest's client is built inside the runtime's context.
        let _guard = pyo3_async_runtimes::tokio::get_runtime().enter();
        let inner = connect::async_app(broker_url, client_id, client_secret, &s).py()?;
        Ok(AsyncApp { inner })
    }

    #[staticmethod]
    fn from_env() -> PyResult<Self> {
        let _guard = pyo3_async_runtimes::tokio::get_runtime().enter();
        Ok(AsyncApp {
            inner: connect::async_app_from_env().py()?,
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
    fn create_agent<'py>(
        &self,
        py: Python<'py>,
        orch_id: String,
        task_id: String,
        scope: Vec<String>,
        max_ttl: Option<f64>,
        label: Option<String>,
        auto_renew: bool,
        key_seed: Option<Vec<u8>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = convert::agent_options(max_ttl, label, auto_renew, key_seed)?;
        let app = self.inner.clone();
        future_into_py(py, async move {
            let inner = app
                .create_agent_with(&orch_id, &task_id, &scope, options)
                .await
                .py()?;
            Ok(AsyncAgent { inner })
        })
    }

    fn validate<'py>(&self, py: Python<'py>, token: String) -> PyResult<Bound<'py, PyAny>> {
        let app = self.inner.clone();
        future_into_py(py, async move {
            let v = app.validate(token.as_str()).await.py()?;
            convert::validation(&v)
        })
    }

    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let app = self.inner.clone();
        future_into_py(py, async move { json(&app.health().await.py()?) })
    }

    fn __repr__(&self) -> String {
        format!(
            "AsyncApp(broker_url={:?}, client_id={:?})",
            self.inner.broker_url(),
            self.inner.client_id()
        )
    }
}

/// An agent created by an [`AsyncApp`].
#[pyclass(frozen, module = "agentwrit_rs._native", name = "AsyncAgent")]
pub struct AsyncAgent {
    inner: sdk::Agent,
}

#[pymethods]
impl AsyncAgent {
    #[getter]
    fn agent_id(&self) -> String {
        self.inner.agent_id()
    }
    #[getter]
    fn access_token(&self) -> String {
        self.inner.access_token().expose_secret().to_owned()
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
    fn claims(&self) -> PyResult<String> {
        json(&self.inner.claims())
    }
    fn renew<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let agent = self.inner.clone();
        future_into_py(py, async move { agent.renew().await.py() })
    }
    fn release<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let agent = self.inner.clone();
        future_into_py(py, async move { agent.release().await.py().map(outcome) })
    }
    fn release_task<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let agent = self.inner.clone();
        future_into_py(
            py,
            async move { agent.release_task().await.py().map(outcome) },
        )
    }
    #[pyo3(signature = (delegate_to, scope, ttl=None))]
    fn delegate<'py>(
        &self,
        py: Python<'py>,
        delegate_to: String,
        scope: Vec<String>,
        ttl: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ttl: Option<Duration> = ttl.map(|t| convert::seconds("ttl", t)).transpose()?;
        let agent = self.inner.clone();
        future_into_py(py, async move {
            let inner = agent.delegate(&delegate_to, &scope, ttl).await.py()?;
            Ok(AsyncDelegated { inner })
        })
    }
    fn start_auto_renewal(&self) {
        let _guard = pyo3_async_runtimes::tokio::get_runtime().enter();
        self.inner.start_auto_renewal();
    }
    fn stop_auto_renewal<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let agent = self.inner.clone();
        future_into_py(py, async move {
            agent.stop_auto_renewal().await.transpose().py()
        })
    }
    fn __repr__(&self) -> String {
        format!(
            "AsyncAgent(agent_id={:?}, orch_id={:?}, task_id={:?})",
            self.inner.agent_id(),
            self.inner.orch_id(),
            self.inner.task_id()
        )
    }
}

/// A delegated token, for asyncio.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "AsyncDelegated")]
pub struct AsyncDelegated {
    inner: sdk::DelegatedToken,
}

#[pymethods]
impl AsyncDelegated {
    #[getter]
    fn access_token(&self) -> String {
        self.inner.access_token().expose_secret().to_owned()
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
        self.inner.scope().to_vec()
    }
    fn chain(&self) -> PyResult<String> {
        json(&self.inner.delegation_chain())
    }
    fn allows(&self, required: Vec<String>) -> bool {
        self.inner.allows(&required)
    }
    #[pyo3(signature = (delegate_to, scope, ttl=None))]
    fn delegate<'py>(
        &self,
        py: Python<'py>,
        delegate_to: String,
        scope: Vec<String>,
        ttl: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ttl: Option<Duration> = ttl.map(|t| convert::seconds("ttl", t)).transpose()?;
        let token = self.inner.clone();
        future_into_py(py, async move {
            let inner = token.delegate(&delegate_to, &scope, ttl).await.py()?;
            Ok(AsyncDelegated { inner })
        })
    }
    fn release<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let token = self.inner.clone();
        future_into_py(py, async move { token.release().await.py().map(outcome) })
    }
    fn __repr__(&self) -> String {
        format!("AsyncDelegated(subject={:?})", self.inner.subject())
    }
}

/// `POST /v1/token/validate` on a pooled async validator, awaitable.
#[pyfunction]
#[pyo3(signature = (broker_url, token, *, timeout=None, ca_pem=None, client_cert_pem=None, client_key_pem=None, https_only=false))]
#[allow(clippy::too_many_arguments)]
pub fn async_validate<'py>(
    py: Python<'py>,
    broker_url: String,
    token: String,
    timeout: Option<f64>,
    ca_pem: Option<Vec<u8>>,
    client_cert_pem: Option<Vec<u8>>,
    client_key_pem: Option<Vec<u8>>,
    https_only: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let s = convert::settings(
        timeout,
        None,
        ca_pem,
        client_cert_pem,
        client_key_pem,
        https_only,
    )?;
    future_into_py(py, async move {
        let validator = connect::async_validator(&broker_url, &s).py()?;
        let v = validator.validate(token.as_str()).await.py()?;
        convert::validation(&v)
    })
}

/// The operator at a broker, for asyncio.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "AsyncOperator")]
pub struct AsyncOperator {
    inner: sdk::Operator,
}

#[pymethods]
impl AsyncOperator {
    #[new]
    #[pyo3(signature = (broker_url, admin_secret, *, timeout=None, user_agent=None, ca_pem=None, client_cert_pem=None, client_key_pem=None, https_only=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        broker_url: &str,
        admin_secret: String,
        timeout: Option<f64>,
        user_agent: Option<String>,
        ca_pem: Option<Vec<u8>>,
        client_cert_pem: Option<Vec<u8>>,
        client_key_pem: Option<Vec<u8>>,
        https_only: bool,
    ) -> PyResult<Self> {
        let s = convert::settings(
            timeout,
            user_agent,
            ca_pem,
            client_cert_pem,
            client_key_pem,
            https_only,
        )?;
        let _guard = pyo3_async_runtimes::tokio::get_runtime().enter();
        Ok(AsyncOperator {
            inner: connect::async_operator(broker_url, admin_secret, &s).py()?,
        })
    }

    #[staticmethod]
    fn from_env() -> PyResult<Self> {
        let _guard = pyo3_async_runtimes::tokio::get_runtime().enter();
        Ok(AsyncOperator {
            inner: connect::async_operator_from_env().py()?,
        })
    }

    #[getter]
    fn broker_url(&self) -> &str {
        self.inner.broker_url()
    }

    #[pyo3(signature = (name, scopes, token_ttl=None))]
    fn create_app<'py>(
        &self,
        py: Python<'py>,
        name: String,
        scopes: Vec<String>,
        token_ttl: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = convert::create_app(name, scopes, token_ttl);
        let op = self.inner.clone();
        future_into_py(py, async move {
            convert::app_json(&op.create_app(request).await.py()?)
        })
    }
    fn list_apps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let op = self.inner.clone();
        future_into_py(py, async move { json(&op.list_apps().await.py()?) })
    }
    fn get_app<'py>(&self, py: Python<'py>, app_id: String) -> PyResult<Bound<'py, PyAny>> {
        let op = self.inner.clone();
        future_into_py(py, async move {
            convert::app_json(&op.get_app(&app_id).await.py()?)
        })
    }
    #[pyo3(signature = (app_id, scopes=None, token_ttl=None))]
    fn update_app<'py>(
        &self,
        py: Python<'py>,
        app_id: String,
        scopes: Option<Vec<String>>,
        token_ttl: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let update = convert::update_app(scopes, token_ttl);
        let op = self.inner.clone();
        future_into_py(py, async move {
            convert::app_json(&op.update_app(&app_id, update).await.py()?)
        })
    }
    fn delete_app<'py>(&self, py: Python<'py>, app_id: String) -> PyResult<Bound<'py, PyAny>> {
        let op = self.inner.clone();
        future_into_py(py, async move {
            convert::app_json(&op.delete_app(&app_id).await.py()?)
        })
    }
    #[pyo3(signature = (agent_name, allowed_scope, max_ttl=None, single_use=None, ttl=None))]
    fn launch_token<'py>(
        &self,
        py: Python<'py>,
        agent_name: String,
        allowed_scope: Vec<String>,
        max_ttl: Option<i64>,
        single_use: Option<bool>,
        ttl: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = convert::launch_token(agent_name, allowed_scope, max_ttl, single_use, ttl);
        let op = self.inner.clone();
        future_into_py(py, async move {
            convert::launch_token_json(&op.launch_token(request).await.py()?)
        })
    }
    fn revoke<'py>(
        &self,
        py: Python<'py>,
        level: String,
        target: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let level = convert::revocation_level(&level)?;
        let op = self.inner.clone();
        future_into_py(
            py,
            async move { json(&op.revoke(level, &target).await.py()?) },
        )
    }
    fn audit_events<'py>(&self, py: Python<'py>, query_json: &str) -> PyResult<Bound<'py, PyAny>> {
        let query = convert::audit_query(query_json)?;
        let op = self.inner.clone();
        future_into_py(py, async move { json(&op.audit_events(query).await.py()?) })
    }
    fn __repr__(&self) -> String {
        format!("AsyncOperator(broker_url={:?})", self.inner.broker_url())
    }
}
