//! The service side: the binding layer's `Verifier` (tower's
//! authenticator, with scope-usage recording), `McpToolScopes` and
//! `ScopeRequirement`, whose verdicts the Python layer
//! (`agentwrit_rs.service`, `.starlette`, `.mcp`) turns into ASGI
//! responses.

use std::time::Duration;

use agentwrit_bindings::{
    Claims, ResourceOptions, ServiceOptions, UsageCounters, UsageOptions, Verdict,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::aio::awaitable;
use crate::convert::{claims_to_py, tree_to_py};
use crate::errors::IntoPy;

fn seconds(field: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    value
        .map(|v| agentwrit_bindings::seconds(field, v))
        .transpose()
        .py()
}

/// Seconds where zero means something (no cache, no leeway).
fn seconds_or_zero(field: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    value
        .map(|v| agentwrit_bindings::seconds_or_zero(field, v))
        .transpose()
        .py()
}

/// A refused request and the response `agentwrit-tower` makes for it.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "Refusal")]
pub struct Refusal {
    inner: agentwrit_bindings::Refusal,
}

impl From<agentwrit_bindings::Refusal> for Refusal {
    fn from(inner: agentwrit_bindings::Refusal) -> Self {
        Refusal { inner }
    }
}

fn pairs_to_py(py: Python<'_>, pairs: Vec<(String, String)>) -> PyResult<Bound<'_, PyList>> {
    PyList::new(py, pairs)
}

/// A JSON-RPC `id` from Python: a string, an integer, or `None`.
fn id_from_py(id: Option<&Bound<'_, PyAny>>) -> PyResult<Option<serde_json::Value>> {
    let Some(id) = id else { return Ok(None) };
    if id.is_none() {
        return Ok(None);
    }
    if let Ok(s) = id.extract::<String>() {
        return Ok(Some(serde_json::Value::String(s)));
    }
    if let Ok(i) = id.extract::<i64>() {
        return Ok(Some(serde_json::Value::from(i)));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "a JSON-RPC id is a string, an integer or None",
    ))
}

#[pymethods]
impl Refusal {
    /// 401, 403, 400, 413, 503 or 500.
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status()
    }
    /// `missing_token`, `invalid_token`, `insufficient_scope`, ...
    #[getter]
    fn code(&self) -> &'static str {
        self.inner.code()
    }
    /// The human-readable detail (never the token).
    #[getter]
    fn detail(&self) -> &str {
        self.inner.detail()
    }
    /// For `insufficient_scope`: the scopes needed, space-separated.
    #[getter]
    fn required_scope(&self) -> Option<&str> {
        self.inner.required_scope()
    }
    /// The `resource_metadata` URL the challenge names.
    #[getter]
    fn resource_metadata(&self) -> Option<&str> {
        self.inner.resource_metadata()
    }
    /// The problem response's headers: (name, value) pairs, lower-case.
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        pairs_to_py(py, self.inner.headers())
    }
    /// The `application/problem+json` body.
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.body())
    }
    /// The JSON-RPC error response's headers.
    fn jsonrpc_headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        pairs_to_py(py, self.inner.jsonrpc_headers())
    }
    /// The JSON-RPC error body, with the request's `id` when known.
    #[pyo3(signature = (id=None))]
    fn jsonrpc_body<'py>(
        &self,
        py: Python<'py>,
        id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let id = id_from_py(id)?;
        Ok(PyBytes::new(py, &self.inner.jsonrpc_body(id.as_ref())))
    }
    fn __repr__(&self) -> String {
        format!(
            "Refusal(status={}, code={:?}, detail={:?})",
            self.inner.status(),
            self.inner.code(),
            self.inner.detail()
        )
    }
}

/// The verified claims of an accepted token (never the token itself).
#[pyclass(frozen, module = "agentwrit_rs._native", name = "Verified")]
pub struct Verified {
    claims: Box<Claims>,
}

#[pymethods]
impl Verified {
    #[getter]
    fn sub(&self) -> &str {
        &self.claims.sub
    }
    #[getter]
    fn jti(&self) -> &str {
        &self.claims.jti
    }
    #[getter]
    fn scope(&self) -> Vec<String> {
        self.claims.scope.clone()
    }
    #[getter]
    fn task_id(&self) -> Option<&str> {
        self.claims.task_id.as_deref()
    }
    #[getter]
    fn orch_id(&self) -> Option<&str> {
        self.claims.orch_id.as_deref()
    }
    #[getter]
    fn iss(&self) -> &str {
        &self.claims.iss
    }
    #[getter]
    fn aud(&self) -> Vec<String> {
        self.claims.aud.clone().unwrap_or_default()
    }
    #[getter]
    fn exp(&self) -> i64 {
        self.claims.exp
    }
    #[getter]
    fn iat(&self) -> i64 {
        self.claims.iat
    }
    /// Delegation hops behind the token (0: registered directly).
    #[getter]
    fn delegation_depth(&self) -> usize {
        self.claims.delegation_chain.as_ref().map_or(0, Vec::len)
    }
    /// Whether the token grants every scope in `required` (the broker's
    /// rule; nothing recorded).
    fn allows(&self, required: Vec<String>) -> bool {
        agentwrit_bindings::scope_is_subset(&required, &self.claims.scope)
    }
    /// All the claims as `agentwrit_rs.AgentClaims`.
    fn claims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        claims_to_py(py, &self.claims)
    }
    fn __repr__(&self) -> String {
        format!(
            "Verified(sub={:?}, jti={:?}, scope={:?})",
            self.claims.sub, self.claims.jti, self.claims.scope
        )
    }
}

fn verdict_to_py(py: Python<'_>, verdict: Verdict) -> PyResult<Py<PyAny>> {
    Ok(match verdict {
        Verdict::Accepted(claims) => Bound::new(py, Verified { claims })?.into_any().unbind(),
        Verdict::Refused(refusal) => Bound::new(py, Refusal::from(*refusal))?.into_any().unbind(),
    })
}

fn counters_to_py(py: Python<'_>, c: UsageCounters) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("requests_allowed", c.requests_allowed)?;
    d.set_item("refused_expired", c.refused_expired)?;
    d.set_item("refused_revoked", c.refused_revoked)?;
    d.set_item("refused_unknown", c.refused_unknown)?;
    d.set_item("missing_token", c.missing_token)?;
    d.set_item("verifier_unavailable", c.verifier_unavailable)?;
    d.set_item("checks_allowed", c.checks_allowed)?;
    d.set_item("checks_denied", c.checks_denied)?;
    d.set_item("checks_dropped", c.checks_dropped)?;
    d.set_item("tokens_evicted", c.tokens_evicted)?;
    d.set_item("tokens_tracked", c.tokens_tracked)?;
    d.set_item("records_emitted", c.records_emitted)?;
    d.set_item("records_written", c.records_written)?;
    d.set_item("records_dropped", c.records_dropped)?;
    d.set_item("sink_errors", c.sink_errors)?;
    Ok(d)
}

/// A service's token verifier (broker or local mode, a bounded cache,
/// fail closed; scope-usage recording when `usage_dir` is given).
#[pyclass(frozen, module = "agentwrit_rs._native", name = "Verifier")]
pub struct Verifier {
    inner: agentwrit_bindings::Verifier,
}

#[pymethods]
impl Verifier {
    #[new]
    #[pyo3(signature = (
        broker_url=None, *, keys=Vec::new(), max_staleness=None, cache_capacity=None,
        broker_timeout=None, issuer=None, audience=None, leeway=None, ca_pem=None,
        client_cert_pem=None, client_key_pem=None, public_paths=Vec::new(),
        public_prefixes=Vec::new(), resource=None, authorization_servers=Vec::new(),
        scopes_supported=Vec::new(), resource_documentation=None, resource_name=None,
        usage_dir=None, usage_service_name=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        broker_url: Option<String>,
        keys: Vec<String>,
        max_staleness: Option<f64>,
        cache_capacity: Option<usize>,
        broker_timeout: Option<f64>,
        issuer: Option<String>,
        audience: Option<String>,
        leeway: Option<f64>,
        ca_pem: Option<Vec<u8>>,
        client_cert_pem: Option<Vec<u8>>,
        client_key_pem: Option<Vec<u8>>,
        public_paths: Vec<String>,
        public_prefixes: Vec<String>,
        resource: Option<String>,
        authorization_servers: Vec<String>,
        scopes_supported: Vec<String>,
        resource_documentation: Option<String>,
        resource_name: Option<String>,
        usage_dir: Option<std::path::PathBuf>,
        usage_service_name: Option<String>,
    ) -> PyResult<Self> {
        let options = ServiceOptions {
            broker_url,
            keys,
            max_staleness: seconds_or_zero("max_staleness", max_staleness)?,
            cache_capacity,
            broker_timeout: seconds("broker_timeout", broker_timeout)?,
            issuer,
            audience,
            leeway: seconds_or_zero("leeway", leeway)?,
            ca_pem,
            client_cert_pem,
            client_key_pem,
            public_paths,
            public_prefixes,
            resource: resource.map(|resource| ResourceOptions {
                resource,
                authorization_servers,
                scopes_supported,
                documentation: resource_documentation,
                name: resource_name,
            }),
            usage: usage_dir.map(|dir| UsageOptions {
                service_name: usage_service_name.unwrap_or_else(|| "python".to_owned()),
                dir,
            }),
        };
        let inner = agentwrit_bindings::Verifier::new(options).py()?;
        Ok(Verifier { inner })
    }

    /// `Verified` or `Refusal` for a request's `Authorization` header
    /// (`None`: it has none); blocks (GIL released).
    #[pyo3(signature = (authorization, instance=None))]
    fn authenticate(
        &self,
        py: Python<'_>,
        authorization: Option<String>,
        instance: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let call = self.inner.authenticate(authorization, instance);
        let verdict = py.detach(|| call.wait()).py()?;
        verdict_to_py(py, verdict)
    }

    /// `authenticate`, as an awaitable of the running asyncio loop.
    #[pyo3(signature = (authorization, instance=None))]
    fn authenticate_async<'py>(
        &self,
        py: Python<'py>,
        authorization: Option<String>,
        instance: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(
            py,
            self.inner.authenticate(authorization, instance),
            verdict_to_py,
        )
    }

    /// `authenticate` from every raw value of the `Authorization` header
    /// (an ASGI scope's), as an awaitable; two values are refused.
    #[pyo3(signature = (values, instance=None))]
    fn authenticate_values_async<'py>(
        &self,
        py: Python<'py>,
        values: Vec<Vec<u8>>,
        instance: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(
            py,
            self.inner.authenticate_values(values, instance),
            verdict_to_py,
        )
    }

    /// `Verified` or `Refusal` for one bearer token; blocks (GIL released).
    fn verify_token(&self, py: Python<'_>, token: String) -> PyResult<Py<PyAny>> {
        let call = self.inner.verify_token(token);
        let verdict = py.detach(|| call.wait()).py()?;
        verdict_to_py(py, verdict)
    }

    /// `verify_token`, as an awaitable.
    fn verify_token_async<'py>(
        &self,
        py: Python<'py>,
        token: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.inner.verify_token(token), verdict_to_py)
    }

    /// `None` when `verified` grants every scope in `required`, else the
    /// 403 refusal; recorded with usage recording on.
    #[pyo3(signature = (verified, required, instance=None))]
    fn require(
        &self,
        verified: &Verified,
        required: Vec<String>,
        instance: Option<String>,
    ) -> Option<Refusal> {
        self.inner
            .check_scopes(
                &verified.claims.jti,
                &verified.claims.scope,
                &required,
                instance,
            )
            .err()
            .map(|r| Refusal::from(*r))
    }

    /// The 403 for a token that lacks `required`.
    #[pyo3(signature = (required, instance=None))]
    fn insufficient_scope(&self, required: Vec<String>, instance: Option<String>) -> Refusal {
        self.inner.insufficient_scope(&required, instance).into()
    }

    /// Whether `path` is let through without a token.
    fn is_public(&self, path: &str) -> bool {
        self.inner.is_public(path)
    }

    /// `(status, headers, body)` answering a discovery request, or `None`.
    fn discovery<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: &str,
    ) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.inner
            .discovery(method, path)
            .map(|a| {
                PyTuple::new(
                    py,
                    [
                        a.status.into_pyobject(py)?.into_any(),
                        pairs_to_py(py, a.headers)?.into_any(),
                        PyBytes::new(py, &a.body).into_any(),
                    ],
                )
            })
            .transpose()
    }

    /// The protected resource's identifier, when one is published.
    #[getter]
    fn resource(&self) -> Option<String> {
        self.inner.resource().map(|(r, _)| r)
    }

    /// Its metadata URL.
    #[getter]
    fn resource_metadata_url(&self) -> Option<String> {
        self.inner.resource().map(|(_, url)| url)
    }

    /// How many verdicts this process's cache holds.
    #[getter]
    fn cached_entries(&self) -> usize {
        self.inner.cached_entries()
    }

    /// Whether scope usage is recorded.
    #[getter]
    fn records_usage(&self) -> bool {
        self.inner.records_usage()
    }

    /// The usage recorder's counters in this process, or `None`.
    fn usage_counters<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner
            .usage_counters()
            .map(|c| counters_to_py(py, c))
            .transpose()
    }

    /// Writes pending usage records now (blocks, GIL released).
    fn flush_usage(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.flush_usage()).py()
    }

    /// Writes pending usage records and stops recording (idempotent).
    fn shutdown_usage(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.shutdown_usage()).py()
    }

    fn __repr__(&self) -> String {
        format!(
            "Verifier(resource={:?}, records_usage={})",
            self.inner.resource().map(|(r, _)| r),
            self.inner.records_usage()
        )
    }
}

/// The scopes an MCP server's JSON-RPC messages need.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "McpScopes")]
pub struct McpScopes {
    inner: agentwrit_bindings::McpToolScopes,
}

#[pymethods]
impl McpScopes {
    #[new]
    #[pyo3(signature = (tools, methods=Vec::new(), *, allow_unlisted_tools=false, max_body_bytes=None))]
    fn new(
        tools: Vec<(String, Vec<String>)>,
        methods: Vec<(String, Vec<String>)>,
        allow_unlisted_tools: bool,
        max_body_bytes: Option<usize>,
    ) -> PyResult<Self> {
        let inner = agentwrit_bindings::McpToolScopes::new(
            tools,
            methods,
            allow_unlisted_tools,
            max_body_bytes,
        )
        .py()?;
        Ok(McpScopes { inner })
    }

    /// The scope families the requirements name (for `scopes_supported`).
    #[getter]
    fn scope_families(&self) -> Vec<String> {
        self.inner.scope_families()
    }

    /// The largest body decided on.
    #[getter]
    fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes()
    }

    /// `(required, refusal, id)`: the scopes `body` needs (all held by
    /// `verified`) and `None`, or `None` and the refusal with the
    /// request's JSON-RPC id; recorded with usage recording on.
    #[pyo3(signature = (verifier, body, verified, instance=None))]
    fn decide<'py>(
        &self,
        py: Python<'py>,
        verifier: &Verifier,
        body: &[u8],
        verified: &Verified,
        instance: Option<String>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let claims = &verified.claims;
        let decision = self.inner.decide(
            &verifier.inner,
            body,
            Some(&claims.jti),
            &claims.scope,
            instance,
        );
        let id = match decision.id {
            Some(id) => tree_to_py(py, id)?,
            None => py.None(),
        };
        let (required, refusal) = match decision.verdict {
            Ok(required) => (PyList::new(py, required)?.into_any().unbind(), py.None()),
            Err(refusal) => (
                py.None(),
                Bound::new(py, Refusal::from(*refusal))?.into_any().unbind(),
            ),
        };
        PyTuple::new(py, [required, refusal, id])
    }
}

/// Scope templates filled from named values (a route's path parameters).
#[pyclass(frozen, module = "agentwrit_rs._native", name = "ScopeRequirement")]
pub struct ScopeRequirement {
    inner: agentwrit_bindings::ScopeRequirement,
}

#[pymethods]
impl ScopeRequirement {
    #[new]
    fn new(templates: Vec<String>) -> PyResult<Self> {
        Ok(ScopeRequirement {
            inner: agentwrit_bindings::ScopeRequirement::new(&templates).py()?,
        })
    }

    /// The placeholder names.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.inner.names()
    }

    /// The filled scopes (all held by `verified`), or the refusal;
    /// recorded with usage recording on.
    #[pyo3(signature = (verifier, verified, values, instance=None))]
    fn check(
        &self,
        py: Python<'_>,
        verifier: &Verifier,
        verified: &Verified,
        values: Vec<(String, String)>,
        instance: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        match self
            .inner
            .check(&verifier.inner, &verified.claims, &values, instance)
        {
            Ok(required) => Ok(PyList::new(py, required)?.into_any().unbind()),
            Err(refusal) => Ok(Bound::new(py, Refusal::from(*refusal))?.into_any().unbind()),
        }
    }
}

/// Writes out and stops every scope-usage recorder of this process (run at
/// interpreter exit; a forked child leaves its parent's alone).
#[pyfunction]
pub fn finish_usage(py: Python<'_>) -> PyResult<()> {
    py.detach(agentwrit_bindings::finish_usage).py()
}
