//! The values that cross into JavaScript, field by field (camelCase
//! names, numbers, strings, arrays; no JSON text), and the option objects
//! that come in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentwrit_bindings::{
    Claims as WireClaims, DelegationRecord as WireRecord, HealthResponse, Options, ProblemDetail,
    Settings, ValidationResult,
};
use napi::Env;
use napi_derive::napi;

use crate::promise::throw;

/// Client settings, as the JavaScript layer hands them over (files read,
/// PEM as text).
#[napi(object)]
#[derive(Default)]
pub struct ClientOptions {
    /// The deadline of one call, retries included (milliseconds).
    pub timeout_ms: Option<f64>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// Extra trusted roots (PEM).
    pub ca_pem: Option<String>,
    /// A client certificate chain for mutual TLS (PEM).
    pub client_cert_pem: Option<String>,
    /// Its private key (PEM).
    pub client_key_pem: Option<String>,
    /// Refuse `http://` broker URLs.
    pub https_only: Option<bool>,
}

/// The binding layer's settings from `options` (defaults when absent).
pub(crate) fn settings(env: &Env, options: Option<ClientOptions>) -> napi::Result<Settings> {
    let o = options.unwrap_or_default();
    Settings::new(Options {
        timeout_secs: o.timeout_ms.map(|ms| ms / 1000.0),
        user_agent: o.user_agent,
        ca_pem: o.ca_pem.map(String::into_bytes),
        client_cert_pem: o.client_cert_pem.map(String::into_bytes),
        client_key_pem: o.client_key_pem.map(String::into_bytes),
        https_only: o.https_only.unwrap_or(false),
    })
    .map_err(|e| throw(env, &e))
}

/// Milliseconds since the Unix epoch (what `new Date(ms)` takes).
pub(crate) fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Whole seconds, as a JavaScript number.
pub(crate) fn secs(d: Duration) -> f64 {
    // Token lifetimes are whole seconds at the broker.
    d.as_secs() as f64
}

/// A saturating conversion for counters JavaScript holds as numbers.
fn count(n: u64) -> f64 {
    n as f64
}

/// The broker's RFC 7807 problem.
#[napi(object)]
pub struct Problem {
    /// `type`: `urn:agentwrit:error:{code}`.
    #[napi(js_name = "type")]
    pub problem_type: String,
    /// `title`.
    pub title: String,
    /// `status`.
    pub status: u32,
    /// `detail`.
    pub detail: String,
    /// `instance`: the request path.
    pub instance: String,
    /// `error_code`.
    pub error_code: Option<String>,
    /// `request_id`.
    pub request_id: Option<String>,
    /// `hint`.
    pub hint: Option<String>,
    /// Any other member of the problem.
    pub extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

impl From<&ProblemDetail> for Problem {
    fn from(p: &ProblemDetail) -> Self {
        Problem {
            problem_type: p.problem_type.clone(),
            title: p.title.clone(),
            status: u32::from(p.status),
            detail: p.detail.clone(),
            instance: p.instance.clone(),
            error_code: p.error_code.as_ref().map(|c| c.as_str().to_owned()),
            request_id: p.request_id.clone(),
            hint: p.hint.clone(),
            extensions: (!p.extensions.is_empty()).then(|| p.extensions.clone()),
        }
    }
}

/// One hop of a delegation chain.
#[napi(object)]
pub struct DelegationRecord {
    /// The delegating agent's SPIFFE id.
    pub agent: String,
    /// The scope it held when delegating.
    pub scope: Vec<String>,
    /// When (RFC 3339).
    pub delegated_at: String,
}

impl From<&WireRecord> for DelegationRecord {
    fn from(r: &WireRecord) -> Self {
        DelegationRecord {
            agent: r.agent.clone(),
            scope: r.scope.clone(),
            delegated_at: r.delegated_at.as_str().to_owned(),
        }
    }
}

/// A token's claims.
#[napi(object)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// The agent's SPIFFE id.
    pub sub: String,
    /// Audiences (empty when none).
    pub aud: Vec<String>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// The token's id.
    pub jti: String,
    /// Session id.
    pub sid: Option<String>,
    /// Granted scope.
    pub scope: Vec<String>,
    /// Task id.
    pub task_id: Option<String>,
    /// Orchestrator id.
    pub orch_id: Option<String>,
    /// For a delegated token: the chain, oldest hop first.
    pub delegation_chain: Option<Vec<DelegationRecord>>,
    /// For a delegated token: the chain's hash.
    pub chain_hash: Option<String>,
}

impl From<&WireClaims> for Claims {
    fn from(c: &WireClaims) -> Self {
        Claims {
            iss: c.iss.clone(),
            sub: c.sub.clone(),
            aud: c.aud.clone().unwrap_or_default(),
            exp: c.exp,
            nbf: c.nbf,
            iat: c.iat,
            jti: c.jti.clone(),
            sid: c.sid.clone(),
            scope: c.scope.clone(),
            task_id: c.task_id.clone(),
            orch_id: c.orch_id.clone(),
            delegation_chain: c
                .delegation_chain
                .as_deref()
                .filter(|chain| !chain.is_empty())
                .map(|chain| chain.iter().map(DelegationRecord::from).collect()),
            chain_hash: c.chain_hash.clone(),
        }
    }
}

/// The broker's verdict on a token (an invalid token is a result, not an
/// error).
#[napi(object)]
pub struct Validation {
    /// Genuine, unexpired, not released or revoked.
    pub valid: bool,
    /// Why not.
    pub error: Option<String>,
    /// The verified claims, when valid.
    pub claims: Option<Claims>,
}

impl From<ValidationResult> for Validation {
    fn from(v: ValidationResult) -> Self {
        Validation {
            valid: v.valid,
            error: v.error,
            claims: v.claims.as_ref().map(Claims::from),
        }
    }
}

/// `GET /v1/health`.
#[napi(object)]
pub struct Health {
    /// `"ok"` when healthy.
    pub status: String,
    /// The broker's version.
    pub version: String,
    /// Seconds since it started.
    pub uptime: f64,
    /// Whether its database is connected.
    pub db_connected: bool,
    /// How many audit events it holds.
    pub audit_events_count: f64,
}

impl From<HealthResponse> for Health {
    fn from(h: HealthResponse) -> Self {
        Health {
            status: h.status,
            version: h.version,
            uptime: h.uptime as f64,
            db_connected: h.db_connected,
            audit_events_count: count(h.audit_events_count),
        }
    }
}

/// `snake_case` → `camelCase`.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A broker answer as JavaScript's idiom writes it: every object key in
/// camelCase.
pub(crate) fn camel_tree(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (camel(&k), camel_tree(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_tree).collect()),
        other => other,
    }
}
