//! The claims of a broker-issued JWT and its delegation records.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::util::null_as_default;

/// The payload of an AgentWrit JWT (admin, app, agent or delegated token).
///
/// Field order is the broker's, so serialising these claims reproduces the
/// broker's bytes. Optional claims the broker omits when empty are `None`.
///
/// ```
/// use agentwrit_wire::Claims;
/// let json = r#"{"iss":"","sub":"spiffe://agentwrit.local/agent/o/t/2895b0eaef6fea3e",
///   "exp":1795304737,"nbf":1795304437,"iat":1795304437,
///   "jti":"2a3eeccf5312b0547f192b3f9d9d33a1","scope":["read:data:*"],
///   "task_id":"t","orch_id":"o"}"#;
/// let c: Claims = serde_json::from_str(json)?;
/// assert_eq!(c.scope, ["read:data:*"]);
/// assert_eq!(c.ttl_seconds(), 300);
/// assert!(c.delegation_chain.is_none());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Claims {
    /// Issuer: the broker's configured issuer; the empty string when none is
    /// configured.
    #[serde(default)]
    pub iss: String,
    /// Subject: a SPIFFE agent id, `app:{app_id}`, or `admin`.
    #[serde(default)]
    pub sub: String,
    /// Audience, when the broker is configured with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Vec<String>>,
    /// Expiry, Unix seconds.
    #[serde(default)]
    pub exp: i64,
    /// Not-before, Unix seconds.
    #[serde(default)]
    pub nbf: i64,
    /// Issued-at, Unix seconds.
    #[serde(default)]
    pub iat: i64,
    /// Token id: 32 hex characters, the unit of revocation.
    #[serde(default)]
    pub jti: String,
    /// Session id, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The scopes this token grants.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scope: Vec<String>,
    /// The task the agent was registered for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The orchestrator that launched the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orch_id: Option<String>,
    /// For delegated tokens: one record per hop, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation_chain: Option<Vec<DelegationRecord>>,
    /// For delegated tokens: hex SHA-256 of the chain's JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_hash: Option<String>,
}

impl Claims {
    /// The token's lifetime as issued, `exp − iat` (the broker preserves it
    /// on renewal).
    #[must_use]
    pub fn ttl_seconds(&self) -> i64 {
        self.exp.saturating_sub(self.iat)
    }

    /// The number of delegation hops behind this token (0 for a token that
    /// came from registration).
    #[must_use]
    pub fn delegation_depth(&self) -> usize {
        self.delegation_chain.as_ref().map_or(0, Vec::len)
    }
}

/// One hop of a delegation chain, signed by the broker.
///
/// `delegated_at` keeps its exact text: the broker's signature covers
/// `agent|scope1,scope2|delegated_at`, and `chain_hash` covers the JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DelegationRecord {
    /// The delegator's subject (SPIFFE id).
    pub agent: String,
    /// The delegator's full scope at the time of delegation.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scope: Vec<String>,
    /// When the delegation happened (RFC 3339, nanosecond precision).
    pub delegated_at: Timestamp,
    /// Hex Ed25519 signature by the broker over
    /// [`DelegationRecord::signing_input`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl DelegationRecord {
    /// A record without a signature.
    #[must_use]
    pub fn new(agent: impl Into<String>, scope: Vec<String>, delegated_at: Timestamp) -> Self {
        DelegationRecord {
            agent: agent.into(),
            scope,
            delegated_at,
            signature: None,
        }
    }

    /// The bytes the broker signs: `agent|scope1,scope2|delegated_at`.
    ///
    /// ```
    /// use agentwrit_wire::{DelegationRecord, Timestamp};
    /// let r = DelegationRecord::new("spiffe://x/agent/o/t/1", vec!["read:data:*".into(), "write:data:x".into()],
    ///     "2026-11-21T23:40:37.532418148Z".parse()?);
    /// assert_eq!(r.signing_input(), "spiffe://x/agent/o/t/1|read:data:*,write:data:x|2026-11-21T23:40:37.532418148Z");
    /// # Ok::<(), agentwrit_wire::TimestampError>(())
    /// ```
    #[must_use]
    pub fn signing_input(&self) -> String {
        let mut s = String::with_capacity(self.agent.len() + 64);
        s.push_str(&self.agent);
        s.push('|');
        for (i, scope) in self.scope.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(scope);
        }
        s.push('|');
        s.push_str(self.delegated_at.as_str());
        s
    }
}

/// The header of a broker JWT: `{"alg":"EdDSA","typ":"JWT","kid":K}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JwtHeader {
    /// Always `EdDSA` for broker tokens.
    pub alg: String,
    /// Always `JWT`.
    #[serde(default)]
    pub typ: String,
    /// RFC 7638 thumbprint of the broker's Ed25519 public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

impl JwtHeader {
    /// The header the broker writes, for a key with thumbprint `kid`.
    #[must_use]
    pub fn eddsa(kid: impl Into<String>) -> Self {
        JwtHeader {
            alg: String::from("EdDSA"),
            typ: String::from("JWT"),
            kid: Some(kid.into()),
        }
    }
}
