//! Revocation: `/v1/revoke` and its levels.

use core::fmt;

use serde::{Deserialize, Serialize};

/// What a revocation targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationLevel {
    /// One token, by `jti`.
    Token,
    /// Every token whose `sub` is this SPIFFE id.
    Agent,
    /// Every token with this `task_id`.
    Task,
    /// Every token whose delegation chain starts with this agent.
    Chain,
}

impl RevocationLevel {
    /// The level as the broker spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationLevel::Token => "token",
            RevocationLevel::Agent => "agent",
            RevocationLevel::Task => "task",
            RevocationLevel::Chain => "chain",
        }
    }
}

impl fmt::Display for RevocationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for RevocationLevel {
    type Err = UnknownRevocationLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "token" => Ok(RevocationLevel::Token),
            "agent" => Ok(RevocationLevel::Agent),
            "task" => Ok(RevocationLevel::Task),
            "chain" => Ok(RevocationLevel::Chain),
            _ => Err(UnknownRevocationLevel),
        }
    }
}

/// A string that is not `token`, `agent`, `task` or `chain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownRevocationLevel;

impl fmt::Display for UnknownRevocationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown revocation level (expected token, agent, task or chain)")
    }
}

impl std::error::Error for UnknownRevocationLevel {}

/// `POST /v1/revoke` request. `level` is a string on the wire (the broker
/// answers an unknown level with 400); build it from a [`RevocationLevel`]
/// with [`RevokeRequest::new`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RevokeRequest {
    /// `token`, `agent`, `task` or `chain`.
    #[serde(default)]
    pub level: String,
    /// A jti, SPIFFE id, task id or (root) agent id.
    #[serde(default)]
    pub target: String,
}

impl RevokeRequest {
    /// A request to revoke `target` at `level`.
    #[must_use]
    pub fn new(level: RevocationLevel, target: impl Into<String>) -> Self {
        RevokeRequest {
            level: level.as_str().to_owned(),
            target: target.into(),
        }
    }

    /// The level, when it is one the broker knows.
    #[must_use]
    pub fn parsed_level(&self) -> Option<RevocationLevel> {
        self.level.parse().ok()
    }
}

/// `POST /v1/revoke` → 200.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RevokeResponse {
    /// Always true on success.
    pub revoked: bool,
    /// The level revoked at.
    #[serde(default)]
    pub level: String,
    /// The target revoked.
    #[serde(default)]
    pub target: String,
    /// How many tokens (or entries) the revocation covered.
    #[serde(default)]
    pub count: u64,
}
