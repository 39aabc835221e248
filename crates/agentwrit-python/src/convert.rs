//! Conversions shared by the sync and async classes: Python arguments into
//! the SDK's inputs, and the SDK's answers into what the Python layer
//! turns into the official SDK's dataclasses (JSON text for nested
//! structures, so the Python layer owns the model classes).

use std::time::Duration;

use agentwrit_blocking::wire::{
    AppResponse, AuditQuery, CreateAppRequest, LaunchTokenRequest, LaunchTokenResponse,
    RevocationLevel, UpdateAppRequest,
};
use agentwrit_blocking::{AgentKey, AgentOptions, Validation};
use pyo3::prelude::*;
use serde::Serialize;

use crate::connect::Settings;
use crate::errors::raise;

/// A duration in (fractional) seconds from Python, refused unless finite
/// and positive.
pub fn seconds(field: &str, value: f64) -> PyResult<Duration> {
    if !value.is_finite() || value <= 0.0 {
        return Err(raise(
            "InvalidInputError",
            format!("invalid input: {field}: must be a positive number of seconds, got {value}"),
        ));
    }
    Duration::try_from_secs_f64(value)
        .map_err(|e| raise("InvalidInputError", format!("invalid input: {field}: {e}")))
}

/// The client settings from the keyword arguments every constructor takes.
pub fn settings(
    timeout: Option<f64>,
    user_agent: Option<String>,
    ca_pem: Option<Vec<u8>>,
    client_cert_pem: Option<Vec<u8>>,
    client_key_pem: Option<Vec<u8>>,
    https_only: bool,
) -> PyResult<Settings> {
    let timeout = timeout.map(|t| seconds("timeout", t)).transpose()?;
    let identity = match (client_cert_pem, client_key_pem) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            return Err(raise(
                "InvalidInputError",
                "invalid input: client_cert: a client certificate needs its key (client_key), and a key its certificate".to_owned(),
            ));
        }
    };
    Ok(Settings {
        timeout,
        user_agent,
        ca_pem,
        identity,
        https_only,
    })
}

/// The agent options from `create_agent`'s keyword arguments.
pub fn agent_options(
    max_ttl: Option<f64>,
    label: Option<String>,
    auto_renew: bool,
    key_seed: Option<Vec<u8>>,
) -> PyResult<AgentOptions> {
    let mut options = AgentOptions::new().with_auto_renew(auto_renew);
    if let Some(ttl) = max_ttl {
        options = options.with_max_ttl(seconds("max_ttl", ttl)?);
    }
    if let Some(label) = label {
        options = options.with_label(label);
    }
    if let Some(seed) = key_seed {
        let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| {
            raise(
                "CryptoError",
                format!(
                    "cryptographic error: private_key: an Ed25519 private key is 32 bytes, got {}",
                    seed.len()
                ),
            )
        })?;
        options = options.with_key(AgentKey::from_seed(seed));
    }
    Ok(options)
}

/// JSON text of any serialisable answer.
pub fn json<T: Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| {
        crate::errors::raise(
            "DecodeError",
            format!("could not encode the answer for Python: {e}"),
        )
    })
}

/// A validation as `(valid, error, claims JSON)`.
pub fn validation(v: &Validation) -> PyResult<(bool, Option<String>, Option<String>)> {
    let claims = v.claims().map(json).transpose()?;
    Ok((v.is_valid(), v.error().map(str::to_owned), claims))
}

/// An app as JSON, its client secret (present only when just created) in
/// clear: the operator asked for it.
pub fn app_json(app: &AppResponse) -> PyResult<String> {
    let mut value = serde_json::to_value(app).map_err(|e| decode(&e))?;
    if let (Some(secret), Some(map)) = (&app.client_secret, value.as_object_mut()) {
        map.insert(
            "client_secret".into(),
            serde_json::Value::String(secret.expose_secret().to_owned()),
        );
    }
    Ok(value.to_string())
}

/// A launch token answer as JSON, the token in clear.
pub fn launch_token_json(answer: &LaunchTokenResponse) -> PyResult<String> {
    let mut value = serde_json::to_value(answer).map_err(|e| decode(&e))?;
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "launch_token".into(),
            serde_json::Value::String(answer.launch_token.expose_secret().to_owned()),
        );
    }
    Ok(value.to_string())
}

fn decode(e: &serde_json::Error) -> PyErr {
    raise(
        "DecodeError",
        format!("could not encode the answer for Python: {e}"),
    )
}

/// A request body from the JSON text the Python layer built.
pub fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> PyResult<T> {
    serde_json::from_str(text)
        .map_err(|e| raise("InvalidInputError", format!("invalid input: {what}: {e}")))
}

/// `create_app`'s body.
pub fn create_app(name: String, scopes: Vec<String>, token_ttl: Option<i64>) -> CreateAppRequest {
    let mut request = CreateAppRequest::new(name, scopes);
    request.token_ttl = token_ttl;
    request
}

/// `update_app`'s body.
pub fn update_app(scopes: Option<Vec<String>>, token_ttl: Option<i64>) -> UpdateAppRequest {
    let mut request = UpdateAppRequest::new();
    request.scopes = scopes;
    request.token_ttl = token_ttl;
    request
}

/// A launch token request.
pub fn launch_token(
    agent_name: String,
    allowed_scope: Vec<String>,
    max_ttl: Option<i64>,
    single_use: Option<bool>,
    ttl: Option<i64>,
) -> LaunchTokenRequest {
    let mut request = LaunchTokenRequest::new(agent_name, allowed_scope);
    request.max_ttl = max_ttl;
    request.single_use = single_use;
    request.ttl = ttl;
    request
}

/// A revocation level by its wire name.
pub fn revocation_level(level: &str) -> PyResult<RevocationLevel> {
    match level {
        "token" => Ok(RevocationLevel::Token),
        "agent" => Ok(RevocationLevel::Agent),
        "task" => Ok(RevocationLevel::Task),
        "chain" => Ok(RevocationLevel::Chain),
        other => Err(raise(
            "InvalidInputError",
            format!("invalid input: level: expected token, agent, task or chain, got {other:?}"),
        )),
    }
}

/// An audit query from its JSON text.
pub fn audit_query(text: &str) -> PyResult<AuditQuery> {
    from_json("audit query", text)
}
