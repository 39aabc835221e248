//! Agents: registration, renewal, delegation.

use serde::{Deserialize, Serialize};

use crate::claims::DelegationRecord;
use crate::secret::{AccessToken, LaunchToken};
use crate::util::null_as_default;

/// `POST /v1/register` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisterRequest {
    /// The launch token.
    #[serde(
        default = "crate::secret::empty",
        serialize_with = "crate::secret::serialize_exposed"
    )]
    pub launch_token: LaunchToken,
    /// The nonce from `GET /v1/challenge`, hex as received.
    #[serde(default)]
    pub nonce: String,
    /// Standard base64 of the 32-byte Ed25519 public key.
    #[serde(default)]
    pub public_key: String,
    /// Standard base64 of the Ed25519 signature over the hex-decoded nonce.
    #[serde(default)]
    pub signature: String,
    /// The orchestrator id (a SPIFFE path segment).
    #[serde(default)]
    pub orch_id: String,
    /// The task id (a SPIFFE path segment).
    #[serde(default)]
    pub task_id: String,
    /// The scopes requested; must be within the launch token's policy.
    #[serde(default, deserialize_with = "null_as_default")]
    pub requested_scope: Vec<String>,
}

impl RegisterRequest {
    /// A registration request. `public_key` and `signature` are standard
    /// base64; `nonce` is the hex nonce as received from the challenge.
    #[must_use]
    pub fn new(
        launch_token: LaunchToken,
        nonce: impl Into<String>,
        public_key: impl Into<String>,
        signature: impl Into<String>,
        orch_id: impl Into<String>,
        task_id: impl Into<String>,
        requested_scope: Vec<String>,
    ) -> Self {
        RegisterRequest {
            launch_token,
            nonce: nonce.into(),
            public_key: public_key.into(),
            signature: signature.into(),
            orch_id: orch_id.into(),
            task_id: task_id.into(),
            requested_scope,
        }
    }
}

/// `POST /v1/register` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RegisterResponse {
    /// The agent's SPIFFE id:
    /// `spiffe://{trust_domain}/agent/{orch}/{task}/{16 hex}`.
    pub agent_id: String,
    /// The agent JWT.
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
    pub access_token: AccessToken,
    /// Seconds until it expires.
    pub expires_in: i64,
}

/// `POST /v1/token/renew` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RenewResponse {
    /// The new token; the presented one is revoked.
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
    pub access_token: AccessToken,
    /// Seconds until it expires (the old token's lifetime).
    pub expires_in: i64,
}

/// `POST /v1/delegate` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DelegateRequest {
    /// The SPIFFE id of a registered agent to receive the token.
    #[serde(default)]
    pub delegate_to: String,
    /// Equal to or narrower than the presenting token's scope.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scope: Vec<String>,
    /// Lifetime in seconds (broker default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl DelegateRequest {
    /// A request delegating `scope` to `delegate_to`.
    #[must_use]
    pub fn new(delegate_to: impl Into<String>, scope: Vec<String>, ttl: Option<i64>) -> Self {
        DelegateRequest {
            delegate_to: delegate_to.into(),
            scope,
            ttl,
        }
    }
}

/// `POST /v1/delegate` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DelegateResponse {
    /// The delegated token (its `sub` is the delegate).
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
    pub access_token: AccessToken,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The chain recorded in the token, oldest hop first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub delegation_chain: Vec<DelegationRecord>,
}

impl Default for RegisterRequest {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        RegisterRequest {
            launch_token: LaunchToken::new(String::new()),
            nonce: Default::default(),
            public_key: Default::default(),
            signature: Default::default(),
            orch_id: Default::default(),
            task_id: Default::default(),
            requested_scope: Default::default(),
        }
    }
}

impl Default for RegisterResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        RegisterResponse {
            agent_id: Default::default(),
            access_token: AccessToken::new(String::new()),
            expires_in: Default::default(),
        }
    }
}

impl Default for RenewResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        RenewResponse {
            access_token: AccessToken::new(String::new()),
            expires_in: Default::default(),
        }
    }
}

impl Default for DelegateResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        DelegateResponse {
            access_token: AccessToken::new(String::new()),
            expires_in: Default::default(),
            delegation_chain: Default::default(),
        }
    }
}
