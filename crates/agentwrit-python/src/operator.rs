//! `Operator`: every call blocking (GIL released) or `_async`; answers as
//! dicts.

use agentwrit_bindings::{AuditFilter, Call, revocation_level};
use pyo3::prelude::*;

use crate::aio::awaitable;
use crate::app::flavour;
use crate::convert::{PySettings, tree_to_py};
use crate::errors::IntoPy;

/// The operator (admin secret) at a broker.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "Operator")]
pub struct Operator {
    inner: agentwrit_bindings::Operator,
}

type Tree = Call<serde_json::Value>;

fn wait(py: Python<'_>, call: Tree) -> PyResult<Py<PyAny>> {
    tree_to_py(py, py.detach(|| call.wait()).py()?)
}

fn later(py: Python<'_>, call: Tree) -> PyResult<Bound<'_, PyAny>> {
    awaitable(py, call, tree_to_py)
}

/// Each call once, for its blocking and its `_async` method.
impl Operator {
    #[allow(clippy::too_many_arguments)]
    fn create_app_call(
        &self,
        name: String,
        scopes: Vec<String>,
        token_ttl: Option<i64>,
    ) -> PyResult<Tree> {
        Ok(self.inner.create_app(name, scopes, token_ttl))
    }

    #[allow(clippy::too_many_arguments)]
    fn list_apps_call(&self) -> PyResult<Tree> {
        Ok(self.inner.list_apps())
    }

    #[allow(clippy::too_many_arguments)]
    fn get_app_call(&self, app_id: String) -> PyResult<Tree> {
        Ok(self.inner.get_app(app_id))
    }

    #[allow(clippy::too_many_arguments)]
    fn update_app_call(
        &self,
        app_id: String,
        scopes: Option<Vec<String>>,
        token_ttl: Option<i64>,
    ) -> PyResult<Tree> {
        Ok(self.inner.update_app(app_id, scopes, token_ttl))
    }

    #[allow(clippy::too_many_arguments)]
    fn delete_app_call(&self, app_id: String) -> PyResult<Tree> {
        Ok(self.inner.delete_app(app_id))
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_token_call(
        &self,
        agent_name: String,
        allowed_scope: Vec<String>,
        max_ttl: Option<i64>,
        single_use: Option<bool>,
        ttl: Option<i64>,
    ) -> PyResult<Tree> {
        Ok(self
            .inner
            .launch_token(agent_name, allowed_scope, max_ttl, single_use, ttl))
    }

    #[allow(clippy::too_many_arguments)]
    fn revoke_call(&self, level: String, target: String) -> PyResult<Tree> {
        Ok(self.inner.revoke(revocation_level(&level).py()?, target))
    }

    #[allow(clippy::too_many_arguments)]
    fn audit_events_call(
        &self,
        agent_id: Option<String>,
        task_id: Option<String>,
        event_type: Option<String>,
        outcome: Option<String>,
        since: Option<String>,
        until: Option<String>,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> PyResult<Tree> {
        Ok(self.inner.audit_events(AuditFilter {
            agent_id,
            task_id,
            event_type,
            outcome,
            since,
            until,
            limit,
            offset,
        }))
    }
}

#[pymethods]
impl Operator {
    #[new]
    #[pyo3(signature = (broker_url, admin_secret, settings, *, asynchronous=false))]
    fn new(
        broker_url: &str,
        admin_secret: &str,
        settings: &PySettings,
        asynchronous: bool,
    ) -> PyResult<Self> {
        let inner = agentwrit_bindings::Operator::new(
            flavour(asynchronous),
            broker_url,
            admin_secret,
            &settings.inner,
        )
        .py()?;
        Ok(Operator { inner })
    }

    #[staticmethod]
    #[pyo3(signature = (*, asynchronous=false))]
    fn from_env(asynchronous: bool) -> PyResult<Self> {
        Ok(Operator {
            inner: agentwrit_bindings::Operator::from_env(flavour(asynchronous)).py()?,
        })
    }

    #[getter]
    fn broker_url(&self) -> &str {
        self.inner.broker_url()
    }

    #[pyo3(signature = (name, scopes, token_ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_app(
        &self,
        py: Python<'_>,
        name: String,
        scopes: Vec<String>,
        token_ttl: Option<i64>,
    ) -> PyResult<Py<PyAny>> {
        wait(py, self.create_app_call(name, scopes, token_ttl)?)
    }
    #[pyo3(signature = (name, scopes, token_ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_app_async<'py>(
        &self,
        py: Python<'py>,
        name: String,
        scopes: Vec<String>,
        token_ttl: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        later(py, self.create_app_call(name, scopes, token_ttl)?)
    }

    #[allow(clippy::too_many_arguments)]
    fn list_apps(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        wait(py, self.list_apps_call()?)
    }
    #[allow(clippy::too_many_arguments)]
    fn list_apps_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        later(py, self.list_apps_call()?)
    }

    #[allow(clippy::too_many_arguments)]
    fn get_app(&self, py: Python<'_>, app_id: String) -> PyResult<Py<PyAny>> {
        wait(py, self.get_app_call(app_id)?)
    }
    #[allow(clippy::too_many_arguments)]
    fn get_app_async<'py>(&self, py: Python<'py>, app_id: String) -> PyResult<Bound<'py, PyAny>> {
        later(py, self.get_app_call(app_id)?)
    }

    #[pyo3(signature = (app_id, scopes=None, token_ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn update_app(
        &self,
        py: Python<'_>,
        app_id: String,
        scopes: Option<Vec<String>>,
        token_ttl: Option<i64>,
    ) -> PyResult<Py<PyAny>> {
        wait(py, self.update_app_call(app_id, scopes, token_ttl)?)
    }
    #[pyo3(signature = (app_id, scopes=None, token_ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn update_app_async<'py>(
        &self,
        py: Python<'py>,
        app_id: String,
        scopes: Option<Vec<String>>,
        token_ttl: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        later(py, self.update_app_call(app_id, scopes, token_ttl)?)
    }

    #[allow(clippy::too_many_arguments)]
    fn delete_app(&self, py: Python<'_>, app_id: String) -> PyResult<Py<PyAny>> {
        wait(py, self.delete_app_call(app_id)?)
    }
    #[allow(clippy::too_many_arguments)]
    fn delete_app_async<'py>(
        &self,
        py: Python<'py>,
        app_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        later(py, self.delete_app_call(app_id)?)
    }

    #[pyo3(signature = (agent_name, allowed_scope, max_ttl=None, single_use=None, ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn launch_token(
        &self,
        py: Python<'_>,
        agent_name: String,
        allowed_scope: Vec<String>,
        max_ttl: Option<i64>,
        single_use: Option<bool>,
        ttl: Option<i64>,
    ) -> PyResult<Py<PyAny>> {
        wait(
            py,
            self.launch_token_call(agent_name, allowed_scope, max_ttl, single_use, ttl)?,
        )
    }
    #[pyo3(signature = (agent_name, allowed_scope, max_ttl=None, single_use=None, ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn launch_token_async<'py>(
        &self,
        py: Python<'py>,
        agent_name: String,
        allowed_scope: Vec<String>,
        max_ttl: Option<i64>,
        single_use: Option<bool>,
        ttl: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        later(
            py,
            self.launch_token_call(agent_name, allowed_scope, max_ttl, single_use, ttl)?,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn revoke(&self, py: Python<'_>, level: String, target: String) -> PyResult<Py<PyAny>> {
        wait(py, self.revoke_call(level, target)?)
    }
    #[allow(clippy::too_many_arguments)]
    fn revoke_async<'py>(
        &self,
        py: Python<'py>,
        level: String,
        target: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        later(py, self.revoke_call(level, target)?)
    }

    #[pyo3(signature = (*, agent_id=None, task_id=None, event_type=None, outcome=None, since=None, until=None, limit=None, offset=None))]
    #[allow(clippy::too_many_arguments)]
    fn audit_events(
        &self,
        py: Python<'_>,
        agent_id: Option<String>,
        task_id: Option<String>,
        event_type: Option<String>,
        outcome: Option<String>,
        since: Option<String>,
        until: Option<String>,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> PyResult<Py<PyAny>> {
        wait(
            py,
            self.audit_events_call(
                agent_id, task_id, event_type, outcome, since, until, limit, offset,
            )?,
        )
    }
    #[pyo3(signature = (*, agent_id=None, task_id=None, event_type=None, outcome=None, since=None, until=None, limit=None, offset=None))]
    #[allow(clippy::too_many_arguments)]
    fn audit_events_async<'py>(
        &self,
        py: Python<'py>,
        agent_id: Option<String>,
        task_id: Option<String>,
        event_type: Option<String>,
        outcome: Option<String>,
        since: Option<String>,
        until: Option<String>,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        later(
            py,
            self.audit_events_call(
                agent_id, task_id, event_type, outcome, since, until, limit, offset,
            )?,
        )
    }

    fn __repr__(&self) -> String {
        format!("Operator(broker_url={:?})", self.inner.broker_url())
    }
}
