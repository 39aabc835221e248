//! The service side: the binding layer's `Verifier` (tower's
//! authenticator) and `McpToolScopes`, whose verdicts the JavaScript
//! middlewares (Express/Connect, Hono, the MCP SDK's `requireBearerAuth`)
//! turn into their frameworks' responses.

use std::collections::HashMap;
use std::time::Duration;

use agentwrit_bindings::{Answer, ResourceOptions, ServiceOptions, Verdict};
use napi::Env;
use napi::bindgen_prelude::{Buffer, Object};
use napi_derive::napi;

use crate::promise::{promise, throw};
use crate::values::Claims;

/// How a service checks tokens.
#[napi(object)]
#[derive(Default)]
pub struct VerifierOptions {
    /// The broker to validate at (broker mode) or re-check at (local mode).
    pub broker_url: Option<String>,
    /// Local mode: the broker's public keys (base64url, or JWK text).
    pub keys: Option<Vec<String>>,
    /// How long a verdict is reused (milliseconds; 0 turns the cache off).
    pub max_staleness_ms: Option<f64>,
    /// The most verdicts kept.
    pub cache_capacity: Option<u32>,
    /// The timeout of one broker call (milliseconds).
    pub broker_timeout_ms: Option<f64>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required member of `aud`.
    pub audience: Option<String>,
    /// Tolerated clock difference on `exp` and `nbf` (milliseconds).
    pub leeway_ms: Option<f64>,
    /// Extra roots for the broker's certificate (PEM).
    pub ca_pem: Option<String>,
    /// Client certificate chain for a broker in mTLS mode (PEM).
    pub client_cert_pem: Option<String>,
    /// Its key (PEM).
    pub client_key_pem: Option<String>,
    /// Paths let through without a token (exact).
    pub public_paths: Option<Vec<String>>,
    /// Path prefixes let through without a token.
    pub public_prefixes: Option<Vec<String>>,
    /// Publish the service as an OAuth protected resource (RFC 9728).
    pub resource: Option<ResourceSpec>,
    /// Record scope-usage evidence as JSON Lines files.
    pub usage: Option<UsageSpec>,
}

/// Scope-usage evidence: where, and under which service name.
#[napi(object)]
pub struct UsageSpec {
    /// The service's name in every record.
    pub service_name: String,
    /// The directory the JSON Lines files go to (created if missing).
    pub dir: String,
}

/// An OAuth protected resource's metadata.
#[napi(object)]
pub struct ResourceSpec {
    /// The resource identifier (its absolute URL).
    pub resource: String,
    /// Authorization servers to name (none by default).
    pub authorization_servers: Option<Vec<String>>,
    /// `scopes_supported`.
    pub scopes_supported: Option<Vec<String>>,
    /// `resource_documentation`.
    pub documentation: Option<String>,
    /// `resource_name`.
    pub name: Option<String>,
}

/// One response header.
#[napi(object)]
pub struct Header {
    /// Its name (lower case).
    pub name: String,
    /// Its value.
    pub value: String,
}

/// A response to send as it is.
#[napi(object)]
pub struct HttpAnswer {
    /// The status.
    pub status: u32,
    /// The headers.
    pub headers: Vec<Header>,
    /// The body.
    pub body: Buffer,
}

fn headers(pairs: Vec<(String, String)>) -> Vec<Header> {
    pairs
        .into_iter()
        .map(|(name, value)| Header { name, value })
        .collect()
}

impl From<Answer> for HttpAnswer {
    fn from(a: Answer) -> Self {
        HttpAnswer {
            status: u32::from(a.status),
            headers: headers(a.headers),
            body: a.body.into(),
        }
    }
}

fn millis(env: &Env, field: &str, ms: Option<f64>) -> napi::Result<Option<Duration>> {
    ms.map(|ms| {
        if ms.is_finite() && ms >= 0.0 {
            Duration::try_from_secs_f64(ms / 1000.0).map_err(|e| e.to_string())
        } else {
            Err(format!(
                "must be a non-negative number of milliseconds, got {ms}"
            ))
        }
        .map_err(|why| {
            throw(
                env,
                &agentwrit_bindings::BindingError::invalid_input(field, &why),
            )
        })
    })
    .transpose()
}

/// A refused request and the response tower makes for it.
#[napi]
pub struct Refusal {
    inner: agentwrit_bindings::Refusal,
}

#[napi]
impl Refusal {
    /// 401, 403, 400, 413, 503 or 500.
    #[napi(getter)]
    pub fn status(&self) -> u32 {
        u32::from(self.inner.status())
    }
    /// `missing_token`, `invalid_token`, `insufficient_scope`,
    /// `broker_unavailable`, `misconfigured`, `forbidden`, `bad_request`
    /// or `payload_too_large`.
    #[napi(getter)]
    pub fn code(&self) -> String {
        self.inner.code().to_owned()
    }
    /// The human-readable detail (never the token).
    #[napi(getter)]
    pub fn detail(&self) -> String {
        self.inner.detail().to_owned()
    }
    /// For `insufficient_scope`: the scopes needed, space-separated.
    #[napi(getter)]
    pub fn required_scope(&self) -> Option<String> {
        self.inner.required_scope().map(str::to_owned)
    }
    /// The `resource_metadata` URL its challenge names.
    #[napi(getter)]
    pub fn resource_metadata(&self) -> Option<String> {
        self.inner.resource_metadata().map(str::to_owned)
    }
    /// The `application/problem+json` response.
    #[napi]
    pub fn response(&self) -> HttpAnswer {
        HttpAnswer {
            status: self.status(),
            headers: headers(self.inner.headers()),
            body: self.inner.body().into(),
        }
    }
    /// The JSON-RPC error response (an MCP endpoint's answer), with the
    /// request's `id` when known.
    #[napi]
    pub fn jsonrpc_response(&self, id: Option<serde_json::Value>) -> HttpAnswer {
        HttpAnswer {
            status: self.status(),
            headers: headers(self.inner.jsonrpc_headers()),
            body: self.inner.jsonrpc_body(id.as_ref()).into(),
        }
    }
}

/// What a check concluded: `claims` when accepted, `refusal` otherwise.
#[napi(object, object_from_js = false)]
pub struct Checked {
    /// The verified claims.
    pub claims: Option<Claims>,
    /// The answer to send.
    pub refusal: Option<Refusal>,
}

impl From<Verdict> for Checked {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Accepted(claims) => Checked {
                claims: Some(Claims::from(&*claims)),
                refusal: None,
            },
            Verdict::Refused(refusal) => Checked {
                claims: None,
                refusal: Some(Refusal { inner: *refusal }),
            },
        }
    }
}

/// A service's token verifier: broker or local mode, a bounded cache,
/// fail closed.
#[napi]
pub struct Verifier {
    inner: agentwrit_bindings::Verifier,
}

#[napi]
impl Verifier {
    /// Builds the verifier (no network yet).
    #[napi(constructor)]
    pub fn new(env: Env, options: VerifierOptions) -> napi::Result<Self> {
        let o = options;
        let resource = o.resource.map(|r| ResourceOptions {
            resource: r.resource,
            authorization_servers: r.authorization_servers.unwrap_or_default(),
            scopes_supported: r.scopes_supported.unwrap_or_default(),
            documentation: r.documentation,
            name: r.name,
        });
        let options = ServiceOptions {
            broker_url: o.broker_url,
            keys: o.keys.unwrap_or_default(),
            max_staleness: millis(&env, "maxStalenessMs", o.max_staleness_ms)?,
            cache_capacity: o.cache_capacity.map(|n| n as usize),
            broker_timeout: millis(&env, "brokerTimeoutMs", o.broker_timeout_ms)?,
            issuer: o.issuer,
            audience: o.audience,
            leeway: millis(&env, "leewayMs", o.leeway_ms)?,
            ca_pem: o.ca_pem.map(String::into_bytes),
            client_cert_pem: o.client_cert_pem.map(String::into_bytes),
            client_key_pem: o.client_key_pem.map(String::into_bytes),
            public_paths: o.public_paths.unwrap_or_default(),
            public_prefixes: o.public_prefixes.unwrap_or_default(),
            resource,
            usage: o.usage.map(|u| agentwrit_bindings::UsageOptions {
                service_name: u.service_name,
                dir: u.dir.into(),
            }),
        };
        let inner = agentwrit_bindings::Verifier::new(options).map_err(|e| throw(&env, &e))?;
        Ok(Verifier { inner })
    }

    /// Authenticates a request from its `Authorization` header (`null`:
    /// none); `instance` (the request path) goes into a refusal.
    #[napi(ts_return_type = "Promise<Checked>")]
    pub fn authenticate<'env>(
        &self,
        env: &'env Env,
        authorization: Option<String>,
        instance: Option<String>,
    ) -> napi::Result<Object<'env>> {
        promise(
            env,
            self.inner.authenticate(authorization, instance),
            Checked::from,
        )
    }

    /// Verifies one bearer token.
    #[napi(ts_return_type = "Promise<Checked>")]
    pub fn verify_token<'env>(&self, env: &'env Env, token: String) -> napi::Result<Object<'env>> {
        promise(env, self.inner.verify_token(token), Checked::from)
    }

    /// The 403 for a token that lacks `required`.
    #[napi]
    pub fn insufficient_scope(&self, required: Vec<String>, instance: Option<String>) -> Refusal {
        Refusal {
            inner: self.inner.insufficient_scope(&required, instance),
        }
    }

    /// Decides a route's requirement for a verified token (its `jti` and
    /// granted `held` scopes) by the broker's rule, recording the decision
    /// when usage recording is on: `null`, or the 403 refusal.
    #[napi]
    pub fn check_scopes(
        &self,
        jti: String,
        held: Vec<String>,
        required: Vec<String>,
        instance: Option<String>,
    ) -> Option<Refusal> {
        self.inner
            .check_scopes(&jti, &held, &required, instance)
            .err()
            .map(|r| Refusal { inner: *r })
    }

    /// Writes the scope-usage records of tokens that ended, now.
    #[napi]
    pub fn flush_usage(&self, env: Env) -> napi::Result<()> {
        self.inner.flush_usage().map_err(|e| throw(&env, &e))
    }

    /// Writes every scope-usage record and stops recording.
    #[napi]
    pub fn shutdown_usage(&self, env: Env) -> napi::Result<()> {
        self.inner.shutdown_usage().map_err(|e| throw(&env, &e))
    }

    /// Whether `path` is let through without a token.
    #[napi]
    pub fn is_public(&self, path: String) -> bool {
        self.inner.is_public(&path)
    }

    /// The answer to a discovery request, or `null` for any other.
    #[napi]
    pub fn discovery(&self, method: String, path: String) -> Option<HttpAnswer> {
        self.inner.discovery(&method, &path).map(HttpAnswer::from)
    }

    /// The protected resource's identifier, when one is published.
    #[napi(getter)]
    pub fn resource(&self) -> Option<String> {
        self.inner.resource().map(|(r, _)| r)
    }

    /// The protected resource's metadata URL, when one is published.
    #[napi(getter)]
    pub fn resource_metadata_url(&self) -> Option<String> {
        self.inner.resource().map(|(_, url)| url)
    }

    /// How many verdicts the cache holds.
    #[napi(getter)]
    pub fn cached_entries(&self) -> u32 {
        u32::try_from(self.inner.cached_entries()).unwrap_or(u32::MAX)
    }
}

/// What an MCP server's tools and methods require.
#[napi(object)]
#[derive(Default)]
pub struct McpScopesSpec {
    /// Tool name → scope templates (`read:data:customer-{customer_id}`).
    pub tools: Option<HashMap<String, Vec<String>>>,
    /// JSON-RPC method → scope templates (filled from `params`).
    pub methods: Option<HashMap<String, Vec<String>>>,
    /// Let calls of unlisted tools through (refused by default).
    pub allow_unlisted_tools: Option<bool>,
    /// The largest body decided on (bytes).
    pub max_body_bytes: Option<u32>,
}

/// The decision on one JSON-RPC body.
#[napi(object, object_from_js = false)]
pub struct McpDecision {
    /// The scopes the body needed (all held).
    pub required: Option<Vec<String>>,
    /// The refusal, otherwise.
    pub refusal: Option<Refusal>,
    /// The request's JSON-RPC `id` when refused and the body is one
    /// request (for the error response).
    pub id: Option<serde_json::Value>,
}

/// The scopes an MCP server's JSON-RPC messages need, decided by the
/// broker's rule.
#[napi]
pub struct McpScopes {
    inner: agentwrit_bindings::McpToolScopes,
}

#[napi]
impl McpScopes {
    /// The requirements.
    #[napi(constructor)]
    pub fn new(env: Env, spec: McpScopesSpec) -> napi::Result<Self> {
        let pairs = |m: Option<HashMap<String, Vec<String>>>| {
            let mut v: Vec<(String, Vec<String>)> = m.unwrap_or_default().into_iter().collect();
            v.sort();
            v
        };
        let inner = agentwrit_bindings::McpToolScopes::new(
            pairs(spec.tools),
            pairs(spec.methods),
            spec.allow_unlisted_tools.unwrap_or(false),
            spec.max_body_bytes.map(|n| n as usize),
        )
        .map_err(|e| throw(&env, &e))?;
        Ok(McpScopes { inner })
    }

    /// The scope families the requirements name (for `scopes_supported`).
    #[napi(getter)]
    pub fn scope_families(&self) -> Vec<String> {
        self.inner.scope_families()
    }

    /// The decision on `body` for a verified token holding `held` (its
    /// id `jti`, for the scope-usage records; `null` records nothing),
    /// `instance` (the request path) in a refusal's problem: the shared
    /// layer's one MCP decision, as Python's shell makes it too.
    #[napi]
    pub fn decide(
        &self,
        verifier: &Verifier,
        body: Buffer,
        jti: Option<String>,
        held: Vec<String>,
        instance: Option<String>,
    ) -> McpDecision {
        let decision = self
            .inner
            .decide(&verifier.inner, &body, jti.as_deref(), &held, instance);
        match decision.verdict {
            Ok(required) => McpDecision {
                required: Some(required),
                refusal: None,
                id: None,
            },
            Err(refusal) => McpDecision {
                required: None,
                refusal: Some(Refusal { inner: *refusal }),
                id: decision.id,
            },
        }
    }
}

/// Writes out and stops every scope-usage recorder of the process (the
/// package runs it when the process exits).
#[napi]
pub fn finish_usage(env: Env) -> napi::Result<()> {
    agentwrit_bindings::finish_usage().map_err(|e| throw(&env, &e))
}
