//! The blocking classes behind `agentwrit_rs.AgentWritApp`, `Agent`,
//! `DelegatedToken`, `validate` and `AgentWritOperator`. Every broker call
//! runs with the GIL released (`Python::detach`), so Python threads that
//! share one app run their calls in parallel.

use std::time::Duration;

use agentwrit_blocking as sdk;
use agentwrit_blocking::ReleaseOutcome;
use pyo3::prelude::*;

use crate::connect;
use crate::convert::{self, json};
use crate::errors::IntoPy;

pub(crate) fn outcome(o: ReleaseOutcome) -> &'static str {
    match o {
        ReleaseOutcome::AlreadyDead => "already_dead",
        _ => "released",
    }
}

pub(crate) fn unix(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// An app (client id and secret) at a broker.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "App")]
pub struct App {
    inner: sdk::App,
}

#[pymethods]
impl App {
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
        let inner = connect::blocking_app(broker_url, client_id, client_secret, &s).py()?;
        Ok(App { inner })
    }

    #[staticmethod]
    fn from_env() -> PyResult<Self> {
        Ok(App {
            inner: connect::blocking_app_from_env().py()?,
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
        orch_id: &str,
        task_id: &str,
        scope: Vec<String>,
        max_ttl: Option<f64>,
        label: Option<String>,
        auto_renew: bool,
        key_seed: Option<Vec<u8>>,
    ) -> PyResult<Agent> {
        let options = convert::agent_options(max_ttl, label, auto_renew, key_seed)?;
        let inner = py
            .detach(|| {
                self.inner
                    .create_agent_with(orch_id, task_id, &scope, options)
            })
            .py()?;
        Ok(Agent { inner })
    }

    fn validate(
        &self,
        py: Python<'_>,
        token: &str,
    ) -> PyResult<(bool, Option<String>, Option<String>)> {
        let v = py.detach(|| self.inner.validate(token)).py()?;
        convert::validation(&v)
    }

    fn health(&self, py: Python<'_>) -> PyResult<String> {
        let h = py.detach(|| self.inner.health()).py()?;
        json(&h)
    }

    fn __repr__(&self) -> String {
        format!(
            "App(broker_url={:?}, client_id={:?})",
            self.inner.broker_url(),
            self.inner.client_id()
        )
    }
}

/// An agent created by an [`App`].
#[pyclass(frozen, module = "agentwrit_rs._native", name = "Agent")]
pub struct Agent {
    inner: sdk::Agent,
}

#[pymethods]
impl Agent {
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
    fn renew(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.renew()).py()
    }
    fn release(&self, py: Python<'_>) -> PyResult<&'static str> {
        py.detach(|| self.inner.release()).py().map(outcome)
    }
    fn release_task(&self, py: Python<'_>) -> PyResult<&'static str> {
        py.detach(|| self.inner.release_task()).py().map(outcome)
    }
    #[pyo3(signature = (delegate_to, scope, ttl=None))]
    fn delegate(
        &self,
        py: Python<'_>,
        delegate_to: &str,
        scope: Vec<String>,
        ttl: Option<f64>,
    ) -> PyResult<Delegated> {
        let ttl: Option<Duration> = ttl.map(|t| convert::seconds("ttl", t)).transpose()?;
        let inner = py
            .detach(|| self.inner.delegate(delegate_to, &scope, ttl))
            .py()?;
        Ok(Delegated { inner })
    }
    fn start_auto_renewal(&self) {
        self.inner.start_auto_renewal();
    }
    fn stop_auto_renewal(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        py.detach(|| self.inner.stop_auto_renewal())
            .transpose()
            .py()
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
    inner: sdk::DelegatedToken,
}

#[pymethods]
impl Delegated {
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
    fn delegate(
        &self,
        py: Python<'_>,
        delegate_to: &str,
        scope: Vec<String>,
        ttl: Option<f64>,
    ) -> PyResult<Delegated> {
        let ttl: Option<Duration> = ttl.map(|t| convert::seconds("ttl", t)).transpose()?;
        let inner = py
            .detach(|| self.inner.delegate(delegate_to, &scope, ttl))
            .py()?;
        Ok(Delegated { inner })
    }
    fn release(&self, py: Python<'_>) -> PyResult<&'static str> {
        py.detach(|| self.inner.release()).py().map(outcome)
    }
    fn __repr__(&self) -> String {
        format!("Delegated(subject={:?})", self.inner.subject())
    }
}

/// `POST /v1/token/validate` on a pooled validator for `broker_url`.
#[pyfunction]
#[pyo3(signature = (broker_url, token, *, timeout=None, ca_pem=None, client_cert_pem=None, client_key_pem=None, https_only=false))]
#[allow(clippy::too_many_arguments)]
pub fn validate(
    py: Python<'_>,
    broker_url: &str,
    token: &str,
    timeout: Option<f64>,
    ca_pem: Option<Vec<u8>>,
    client_cert_pem: Option<Vec<u8>>,
    client_key_pem: Option<Vec<u8>>,
    https_only: bool,
) -> PyResult<(bool, Option<String>, Option<String>)> {
    let s = convert::settings(
        timeout,
        None,
        ca_pem,
        client_cert_pem,
        client_key_pem,
        https_only,
    )?;
    let v = py
        .detach(|| connect::blocking_validator(broker_url, &s).and_then(|v| v.validate(token)))
        .py()?;
    convert::validation(&v)
}

/// The operator (admin secret) at a broker.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "Operator")]
pub struct Operator {
    inner: sdk::Operator,
}

#[pymethods]
impl Operator {
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
        Ok(Operator {
            inner: connect::blocking_operator(broker_url, admin_secret, &s).py()?,
        })
    }

    #[staticmethod]
    fn from_env() -> PyResult<Self> {
        Ok(Operator {
            inner: connect::blocking_operator_from_env().py()?,
        })
    }

    #[getter]
    fn broker_url(&self) -> &str {
        self.inner.broker_url()
    }

    #[pyo3(signature = (name, scopes, token_ttl=None))]
    fn create_app(
        &self,
        py: Python<'_>,
        name: String,
        scopes: Vec<String>,
        token_ttl: Option<i64>,
    ) -> PyResult<String> {
        let request = convert::create_app(name, scopes, token_ttl);
        let app = py.detach(|| self.inner.create_app(request)).py()?;
        convert::app_json(&app)
    }
    fn list_apps(&self, py: Python<'_>) -> PyResult<String> {
        json(&py.detach(|| self.inner.list_apps()).py()?)
    }
    fn get_app(&self, py: Python<'_>, app_id: &str) -> PyResult<String> {
        convert::app_json(&py.detach(|| self.inner.get_app(app_id)).py()?)
    }
    #[pyo3(signature = (app_id, scopes=None, token_ttl=None))]
    fn update_app(
        &self,
        py: Python<'_>,
        app_id: &str,
        scopes: Option<Vec<String>>,
        token_ttl: Option<i64>,
    ) -> PyResult<String> {
        let update = convert::update_app(scopes, token_ttl);
        convert::app_json(&py.detach(|| self.inner.update_app(app_id, update)).py()?)
    }
    fn delete_app(&self, py: Python<'_>, app_id: &str) -> PyResult<String> {
        convert::app_json(&py.detach(|| self.inner.delete_app(app_id)).py()?)
    }
    #[pyo3(signature = (agent_name, allowed_scope, max_ttl=None, single_use=None, ttl=None))]
    fn launch_token(
        &self,
        py: Python<'_>,
        agent_name: String,
        allowed_scope: Vec<String>,
        max_ttl: Option<i64>,
        single_use: Option<bool>,
        ttl: Option<i64>,
    ) -> PyResult<String> {
        let request = convert::launch_token(agent_name, allowed_scope, max_ttl, single_use, ttl);
        convert::launch_token_json(&py.detach(|| self.inner.launch_token(request)).py()?)
    }
    fn revoke(&self, py: Python<'_>, level: &str, target: &str) -> PyResult<String> {
        let level = convert::revocation_level(level)?;
        json(&py.detach(|| self.inner.revoke(level, target)).py()?)
    }
    fn audit_events(&self, py: Python<'_>, query_json: &str) -> PyResult<String> {
        let query = convert::audit_query(query_json)?;
        json(&py.detach(|| self.inner.audit_events(query)).py()?)
    }
    fn __repr__(&self) -> String {
        format!("Operator(broker_url={:?})", self.inner.broker_url())
    }
}

/// The broker's scope rule: every scope in `requested` is covered by one
/// in `allowed` (`*` only as a whole identifier).
#[pyfunction]
pub fn scope_is_subset(requested: Vec<String>, allowed: Vec<String>) -> bool {
    sdk::scope_is_subset(&requested, &allowed)
}
