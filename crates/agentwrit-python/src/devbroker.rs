//! `agentwrit_rs.testing.DevBroker`'s engine: the development broker of
//! `agentwrit-devbroker`, in this process, on `127.0.0.1:0`, in plain
//! HTTP, TLS or mutual-TLS mode (a throwaway PKI made per broker).

use std::sync::Mutex;
use std::time::Duration;

use agentwrit_devbroker::tls::TestPki;
use agentwrit_devbroker::{DevBroker as Engine, DevBrokerError, DevBrokerHandle};
use pyo3::prelude::*;

use agentwrit_bindings::ErrorKind;

use crate::errors::raise;

fn broker_error(e: &DevBrokerError) -> PyErr {
    raise(ErrorKind::Other, format!("development broker: {e}"))
}

/// A running development broker.
#[pyclass(frozen, module = "agentwrit_rs._native", name = "DevBroker")]
pub struct DevBroker {
    handle: Mutex<Option<DevBrokerHandle>>,
    url: String,
    admin_secret: String,
    public_key: [u8; 32],
    mode: &'static str,
    pki: Option<TestPki>,
}

impl DevBroker {
    fn with<T>(&self, f: impl FnOnce(&DevBrokerHandle) -> PyResult<T>) -> PyResult<T> {
        let guard = self
            .handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match guard.as_ref() {
            Some(h) => f(h),
            None => Err(raise(
                ErrorKind::Other,
                "development broker: already stopped".to_owned(),
            )),
        }
    }
}

#[pymethods]
impl DevBroker {
    #[new]
    #[pyo3(signature = (*, tls=None, rate_limits=false, default_ttl=None, max_ttl=None, app_token_ttl=None, issuer=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        tls: Option<&str>,
        rate_limits: bool,
        default_ttl: Option<u64>,
        max_ttl: Option<u64>,
        app_token_ttl: Option<u64>,
        issuer: Option<String>,
    ) -> PyResult<Self> {
        let mut builder = Engine::builder();
        if let Some(issuer) = issuer {
            builder = builder.issuer(issuer);
        }
        if !rate_limits {
            builder = builder.no_rate_limits();
        }
        if let Some(t) = default_ttl {
            builder = builder.default_ttl(Duration::from_secs(t));
        }
        if let Some(t) = max_ttl {
            builder = builder.max_ttl(Duration::from_secs(t));
        }
        if let Some(t) = app_token_ttl {
            builder = builder.app_token_ttl(Duration::from_secs(t));
        }
        let (mode, pki) = match tls {
            None | Some("none") => ("none", None),
            Some(mode @ ("tls" | "mtls")) => {
                let pki = TestPki::generate().map_err(|e| broker_error(&e))?;
                let config = if mode == "tls" {
                    pki.server_config()
                } else {
                    pki.mtls_server_config()
                }
                .map_err(|e| broker_error(&e))?;
                builder = builder.tls(config);
                (if mode == "tls" { "tls" } else { "mtls" }, Some(pki))
            }
            Some(other) => {
                return Err(raise(
                    ErrorKind::InvalidInput,
                    format!(
                        "invalid input: tls: expected None, \"none\", \"tls\" or \"mtls\", got {other:?}"
                    ),
                ));
            }
        };
        let handle = py
            .detach(|| builder.start())
            .map_err(|e| broker_error(&e))?;
        Ok(DevBroker {
            url: handle.url().to_owned(),
            admin_secret: handle.admin_secret().expose_secret().to_owned(),
            public_key: handle.public_key(),
            handle: Mutex::new(Some(handle)),
            mode,
            pki,
        })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }
    #[getter]
    fn admin_secret(&self) -> &str {
        &self.admin_secret
    }
    /// The broker's Ed25519 public key (what a local-mode verifier pins).
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, pyo3::types::PyBytes> {
        pyo3::types::PyBytes::new(py, &self.public_key)
    }
    #[getter]
    fn tls_mode(&self) -> &'static str {
        self.mode
    }
    #[getter]
    fn ca_pem(&self) -> Option<&str> {
        self.pki.as_ref().map(TestPki::ca_pem)
    }
    #[getter]
    fn client_cert_pem(&self) -> Option<&str> {
        self.pki.as_ref().map(|p| p.client().cert_pem())
    }
    #[getter]
    fn client_key_pem(&self) -> Option<&str> {
        self.pki.as_ref().map(|p| p.client().key_pem())
    }
    #[getter]
    fn running(&self) -> bool {
        self.handle.lock().map(|g| g.is_some()).unwrap_or(false)
    }

    /// Registers an app; returns `(app_id, client_id, client_secret)`.
    #[pyo3(signature = (name, scopes, token_ttl=None))]
    fn register_app(
        &self,
        name: &str,
        scopes: Vec<String>,
        token_ttl: Option<i64>,
    ) -> PyResult<(String, String, String)> {
        self.with(|h| {
            let app = h
                .register_app(name, &scopes, token_ttl)
                .map_err(|e| broker_error(&e))?;
            Ok((
                app.app_id,
                app.client_id,
                app.client_secret.expose_secret().to_owned(),
            ))
        })
    }

    /// Stops the broker (idempotent).
    fn close(&self, py: Python<'_>) {
        let handle = self
            .handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            py.detach(|| h.shutdown());
        }
    }

    fn __repr__(&self) -> String {
        format!("DevBroker(url={:?}, tls={:?})", self.url, self.mode)
    }
}
