//! Unauthenticated and token-holder endpoints: health, the challenge nonce, token validation.

use serde::{Deserialize, Serialize};

use crate::claims::Claims;
use crate::secret::AccessToken;

/// `GET /v1/health` → 200.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HealthResponse {
    /// `ok` when the broker is healthy. Required: a body without it is not
    /// a health answer.
    pub status: String,
    /// The broker's version, e.g. `2.0.0`.
    #[serde(default)]
    pub version: String,
    /// Seconds since the broker started.
    #[serde(default)]
    pub uptime: i64,
    /// Whether the broker's store is reachable.
    #[serde(default)]
    pub db_connected: bool,
    /// Number of audit events recorded.
    #[serde(default)]
    pub audit_events_count: u64,
}

/// `GET /v1/challenge` → 200: a nonce to sign.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChallengeResponse {
    /// 64 hex characters (32 random bytes). The agent signs the
    /// *hex-decoded* bytes.
    pub nonce: String,
    /// Seconds until the nonce expires (30).
    #[serde(default)]
    pub expires_in: i64,
}

/// `POST /v1/token/validate` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ValidateRequest {
    /// The token to check.
    #[serde(
        default = "crate::secret::empty",
        serialize_with = "crate::secret::serialize_exposed"
    )]
    pub token: AccessToken,
}

impl ValidateRequest {
    /// A request to validate `token`.
    #[must_use]
    pub fn new(token: AccessToken) -> Self {
        ValidateRequest { token }
    }
}

/// `POST /v1/token/validate` → 200, for valid and invalid tokens alike.
///
/// ```
/// use agentwrit_wire::ValidateResponse;
/// let r: ValidateResponse = serde_json::from_str(r#"{"valid":false,"error":"token is invalid or expired"}"#)?;
/// assert!(!r.valid && r.claims.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ValidateResponse {
    /// Whether the broker accepts the token (signature, expiry, revocation).
    pub valid: bool,
    /// The verified claims, when valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Claims>,
    /// Why the token is not valid; the broker always says
    /// `token is invalid or expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ValidateResponse {
    /// A `valid: true` response.
    #[must_use]
    pub fn valid(claims: Claims) -> Self {
        ValidateResponse {
            valid: true,
            claims: Some(claims),
            error: None,
        }
    }

    /// A `valid: false` response.
    #[must_use]
    pub fn invalid(error: impl Into<String>) -> Self {
        ValidateResponse {
            valid: false,
            claims: None,
            error: Some(error.into()),
        }
    }
}

impl Default for ValidateRequest {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        ValidateRequest {
            token: AccessToken::new(String::new()),
        }
    }
}
