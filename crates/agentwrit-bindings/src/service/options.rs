//! What a language hands over to configure a service ([`ServiceOptions`]),
//! and how it becomes tower's `AgentAuth`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use agentwrit_tower_verify::usage::{JsonlSink, Recorder};
use agentwrit_tower_verify::{AgentAuth, BrokerKey, ProtectedResource};

use super::{RECORDERS, config_error, lock};
use crate::error::{BindingError, Result};
use crate::runtime::process_id;

/// How a service checks tokens, as a language hands the options over.
///
/// Broker mode when `keys` is empty (`broker_url` required); local mode
/// (EdDSA against pinned broker keys) otherwise, re-checked at
/// `broker_url` when one is given.
#[derive(Clone, Default)]
pub struct ServiceOptions {
    /// The broker to validate at (broker mode), or to re-check at (local
    /// mode).
    pub broker_url: Option<String>,
    /// Local mode: the broker's public keys, each base64url (the JWK's
    /// `x`) or a whole JWK.
    pub keys: Vec<String>,
    /// How long a verdict is reused (tower's default when `None`; zero
    /// turns the cache off).
    pub max_staleness: Option<Duration>,
    /// The most verdicts kept.
    pub cache_capacity: Option<usize>,
    /// The timeout of one broker call (then 503).
    pub broker_timeout: Option<Duration>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required member of `aud`.
    pub audience: Option<String>,
    /// Tolerated clock difference on `exp` and `nbf`.
    pub leeway: Option<Duration>,
    /// Extra roots for the broker's HTTPS certificate (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate chain for a broker in mTLS mode (PEM).
    pub client_cert_pem: Option<Vec<u8>>,
    /// Its key (PEM).
    pub client_key_pem: Option<Vec<u8>>,
    /// Paths let through without a token (exact).
    pub public_paths: Vec<String>,
    /// Path prefixes let through without a token.
    pub public_prefixes: Vec<String>,
    /// Publish the service as an OAuth protected resource (RFC 9728).
    pub resource: Option<ResourceOptions>,
    /// Record scope-usage evidence (off when `None`).
    pub usage: Option<UsageOptions>,
}

// By hand: the client key is a secret.
impl fmt::Debug for ServiceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceOptions")
            .field("broker_url", &self.broker_url)
            .field("keys", &self.keys.len())
            .field("max_staleness", &self.max_staleness)
            .field(
                "identity",
                &self.client_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl ServiceOptions {
    /// Broker mode at `broker_url`, everything else at tower's defaults.
    #[must_use]
    pub fn broker(broker_url: &str) -> ServiceOptions {
        ServiceOptions {
            broker_url: Some(broker_url.to_owned()),
            ..ServiceOptions::default()
        }
    }
}

/// The RFC 9728 metadata of a protected resource.
#[derive(Clone, Debug, Default)]
pub struct ResourceOptions {
    /// The resource identifier (its absolute URL, e.g. an MCP endpoint).
    pub resource: String,
    /// Authorization servers to name (none by default: the broker is not
    /// one).
    pub authorization_servers: Vec<String>,
    /// `scopes_supported`.
    pub scopes_supported: Vec<String>,
    /// `resource_documentation`.
    pub documentation: Option<String>,
    /// `resource_name`.
    pub name: Option<String>,
}

/// Scope-usage evidence (`agentwrit-usage`, through tower's
/// `record_usage`): per token, what it was granted against what the
/// service's requests required, allowed and denied, written as JSON Lines
/// files (one per process) in `dir`.
#[derive(Clone, Debug, Default)]
pub struct UsageOptions {
    /// The service's name in every record.
    pub service_name: String,
    /// The directory the JSON Lines files go to (created if missing).
    pub dir: PathBuf,
}

impl UsageOptions {
    /// A recorder writing into `dir`, registered for [`finish_usage`] in
    /// this process.
    pub(super) fn recorder(&self) -> Result<Recorder> {
        let failed = |e: &dyn fmt::Display| BindingError::invalid_input("usage", &e.to_string());
        let sink = JsonlSink::dir(&self.dir).map_err(|e| failed(&e))?;
        let recorder = Recorder::builder()
            .service_name(self.service_name.clone())
            .sink(sink)
            .build()
            .map_err(|e| failed(&e))?;
        lock(&RECORDERS).push((process_id(), recorder.clone()));
        Ok(recorder)
    }
}

pub(super) fn build_auth(options: ServiceOptions, recorder: Option<Recorder>) -> Result<AgentAuth> {
    {
        let mut builder = if options.keys.is_empty() {
            let url = options.broker_url.clone().ok_or_else(|| {
                BindingError::invalid_input(
                    "broker_url",
                    "is required (or give the broker's keys for local mode)",
                )
            })?;
            AgentAuth::broker(url)
        } else {
            let keys = options
                .keys
                .iter()
                .map(|k| {
                    let k = k.trim();
                    if k.starts_with('{') {
                        BrokerKey::from_jwk(k)
                    } else {
                        BrokerKey::from_base64url(k)
                    }
                    .map_err(|e| config_error("keys", &e))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut b = AgentAuth::local(keys);
            if let Some(url) = options.broker_url.clone() {
                b = b.broker_recheck(url);
            }
            b
        };
        if let Some(d) = options.max_staleness {
            builder = builder.max_staleness(d);
        }
        if let Some(n) = options.cache_capacity {
            builder = builder.cache_capacity(n);
        }
        if let Some(d) = options.broker_timeout {
            builder = builder.broker_timeout(d);
        }
        if let Some(iss) = options.issuer {
            builder = builder.issuer(iss);
        }
        if let Some(aud) = options.audience {
            builder = builder.audience(aud);
        }
        if let Some(d) = options.leeway {
            builder = builder.leeway(d);
        }
        if let Some(pem) = &options.ca_pem {
            builder = builder.add_broker_root_certificate_pem(pem);
        }
        match (&options.client_cert_pem, &options.client_key_pem) {
            (Some(cert), Some(key)) => builder = builder.broker_identity_pem(cert, key),
            (None, None) => {}
            _ => {
                return Err(BindingError::invalid_input(
                    "client_cert",
                    "a client certificate needs its key (client_key), and a key its certificate",
                ));
            }
        }
        for path in options.public_paths {
            builder = builder.public_path(path);
        }
        for prefix in options.public_prefixes {
            builder = builder.public_prefix(prefix);
        }
        if let Some(r) = options.resource {
            let mut resource =
                ProtectedResource::new(r.resource).map_err(|e| config_error("resource", &e))?;
            for server in r.authorization_servers {
                resource = resource.authorization_server(server);
            }
            if !r.scopes_supported.is_empty() {
                resource = resource.scopes_supported(r.scopes_supported);
            }
            if let Some(url) = r.documentation {
                resource = resource.resource_documentation(url);
            }
            if let Some(name) = r.name {
                resource = resource.resource_name(name);
            }
            builder = builder.protected_resource(resource);
        }
        if let Some(recorder) = recorder {
            builder = builder.record_usage(recorder);
        }
        // The broker client's connections live on the bindings runtime.
        let _context = crate::runtime::runtime()?.enter();
        builder.build().map_err(|e| config_error("service", &e))
    }
}
