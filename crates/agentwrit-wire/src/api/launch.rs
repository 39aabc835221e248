//! Launch tokens: `/v1/app/launch-tokens` (and the admin's).

use serde::{Deserialize, Serialize};

use crate::secret::LaunchToken;
use crate::time::Timestamp;
use crate::util::null_as_default;

/// `POST /v1/app/launch-tokens` and `POST /v1/admin/launch-tokens` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LaunchTokenRequest {
    /// A name for the agent this token launches.
    #[serde(default)]
    pub agent_name: String,
    /// The most the registering agent may request.
    #[serde(default, deserialize_with = "null_as_default")]
    pub allowed_scope: Vec<String>,
    /// Lifetime of the agent token, seconds (broker default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ttl: Option<i64>,
    /// Whether the token is consumed by one registration (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_use: Option<bool>,
    /// Lifetime of the launch token itself, seconds (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

impl LaunchTokenRequest {
    /// A request for `agent_name` allowing `allowed_scope`, with the
    /// broker's defaults for everything else.
    #[must_use]
    pub fn new(agent_name: impl Into<String>, allowed_scope: Vec<String>) -> Self {
        LaunchTokenRequest {
            agent_name: agent_name.into(),
            allowed_scope,
            ..Self::default()
        }
    }

    /// Sets `max_ttl`: the longest lifetime of the agent token registered
    /// with this launch token (whole seconds on the wire, rounded up).
    #[must_use]
    pub fn with_max_ttl(mut self, ttl: core::time::Duration) -> Self {
        self.max_ttl = Some(crate::util::whole_seconds(ttl));
        self
    }

    /// Sets `single_use`.
    #[must_use]
    pub fn with_single_use(mut self, single_use: bool) -> Self {
        self.single_use = Some(single_use);
        self
    }

    /// Sets the launch token's own `ttl` (whole seconds on the wire,
    /// rounded up).
    #[must_use]
    pub fn with_ttl(mut self, ttl: core::time::Duration) -> Self {
        self.ttl = Some(crate::util::whole_seconds(ttl));
        self
    }
}

/// The policy bound to a launch token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LaunchTokenPolicy {
    /// The most the registering agent may request.
    #[serde(default, deserialize_with = "null_as_default")]
    pub allowed_scope: Vec<String>,
    /// Lifetime of the agent token, seconds.
    #[serde(default)]
    pub max_ttl: i64,
}

/// `POST /v1/{app,admin}/launch-tokens` → 201.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LaunchTokenResponse {
    /// 64 hex characters.
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
    pub launch_token: LaunchToken,
    /// When the launch token expires (RFC 3339, seconds).
    pub expires_at: Timestamp,
    /// What a registration with it may get.
    pub policy: LaunchTokenPolicy,
}

impl Default for LaunchTokenResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        LaunchTokenResponse {
            launch_token: LaunchToken::new(String::new()),
            expires_at: Default::default(),
            policy: Default::default(),
        }
    }
}
