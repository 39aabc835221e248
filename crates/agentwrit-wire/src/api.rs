//! Request and response bodies of every broker endpoint.
//!
//! Field order follows the broker's, so a server that serialises these
//! types with [`crate::to_go_json`] writes the broker's bytes. Request types
//! default every missing field (as Go's decoder leaves missing fields at
//! their zero value) so that a server can answer "missing field" itself
//! rather than "malformed JSON".

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::claims::{Claims, DelegationRecord};
use crate::secret::{AccessToken, AdminSecret, ClientSecret, LaunchToken};
use crate::time::Timestamp;
use crate::util::null_as_default;

// ---------------------------------------------------------------- public --

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

// ------------------------------------------------------------ principals --

/// `POST /v1/admin/auth` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdminAuthRequest {
    /// The operator's admin secret.
    #[serde(
        default = "crate::secret::empty",
        serialize_with = "crate::secret::serialize_exposed"
    )]
    pub secret: AdminSecret,
}

impl AdminAuthRequest {
    /// A request carrying `secret`.
    #[must_use]
    pub fn new(secret: AdminSecret) -> Self {
        AdminAuthRequest { secret }
    }
}

/// `POST /v1/admin/auth` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdminAuthResponse {
    /// The admin JWT.
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
    pub access_token: AccessToken,
    /// Seconds until it expires (300).
    pub expires_in: i64,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: String,
}

/// `POST /v1/app/auth` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppAuthRequest {
    /// The app's client id.
    #[serde(default)]
    pub client_id: String,
    /// The app's client secret.
    #[serde(
        default = "crate::secret::empty",
        serialize_with = "crate::secret::serialize_exposed"
    )]
    pub client_secret: ClientSecret,
}

impl AppAuthRequest {
    /// A request with these credentials.
    #[must_use]
    pub fn new(client_id: impl Into<String>, client_secret: ClientSecret) -> Self {
        AppAuthRequest {
            client_id: client_id.into(),
            client_secret,
        }
    }
}

/// `POST /v1/app/auth` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppAuthResponse {
    /// The app JWT.
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
    pub access_token: AccessToken,
    /// Seconds until it expires (the app's `token_ttl`).
    pub expires_in: i64,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: String,
    /// The app token's scopes: `app:launch-tokens:*`, `app:agents:*`,
    /// `app:audit:read`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scopes: Vec<String>,
}

// ------------------------------------------------------------------ apps --

/// `POST /v1/admin/apps` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateAppRequest {
    /// Lower-case name matching `^[a-z][a-z0-9](?:-?[a-z0-9]+)*$`.
    #[serde(default)]
    pub name: String,
    /// The app's scope ceiling.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scopes: Vec<String>,
    /// App token lifetime in seconds, 60..=86400 (default 1800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<i64>,
}

impl CreateAppRequest {
    /// A request for an app `name` with ceiling `scopes`.
    #[must_use]
    pub fn new(name: impl Into<String>, scopes: Vec<String>) -> Self {
        CreateAppRequest {
            name: name.into(),
            scopes,
            token_ttl: None,
        }
    }

    /// Sets the app token lifetime (whole seconds on the wire, rounded up).
    #[must_use]
    pub fn with_token_ttl(mut self, ttl: core::time::Duration) -> Self {
        self.token_ttl = Some(crate::util::whole_seconds(ttl));
        self
    }
}

/// An app as the broker reports it: the body of `POST /v1/admin/apps`
/// (201, with `client_secret`), `GET`/`PUT /v1/admin/apps/{id}`,
/// `DELETE /v1/admin/apps/{id}` (with `deregistered_at`) and each element of
/// the list.
///
/// The real broker's quirks are representable: the create response carries
/// `"name":""` and `"status":""`, the delete response `"scopes":null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppResponse {
    /// `app-{name}-{6 hex}`.
    #[serde(default)]
    pub app_id: String,
    /// The app's name (empty in the create and delete responses).
    #[serde(default)]
    pub name: String,
    /// The client id used at `POST /v1/app/auth`.
    #[serde(default)]
    pub client_id: String,
    /// The client secret: present only in the create response, once.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::secret::serialize_redacted_option"
    )]
    pub client_secret: Option<ClientSecret>,
    /// The app's scope ceiling; `None` when the broker sends `null` (the
    /// delete response does).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// App token lifetime in seconds.
    #[serde(default)]
    pub token_ttl: i64,
    /// `active`, `inactive`, or empty in the create response.
    #[serde(default)]
    pub status: String,
    /// When the app was registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the app was last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// When the app was deregistered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistered_at: Option<Timestamp>,
}

/// `GET /v1/admin/apps` → 200.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListAppsResponse {
    /// Every registered app, newest name order as the broker gives it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub apps: Vec<AppResponse>,
    /// The number of apps.
    #[serde(default)]
    pub total: u64,
}

/// `PUT /v1/admin/apps/{id}` request: at least one field must be set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UpdateAppRequest {
    /// A new scope ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// A new app token lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<i64>,
}

impl UpdateAppRequest {
    /// An update that changes nothing yet; set fields with the builders.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the scope ceiling.
    #[must_use]
    pub fn scopes(mut self, scopes: Vec<String>) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// Replaces the app token lifetime (whole seconds on the wire, rounded
    /// up).
    #[must_use]
    pub fn token_ttl(mut self, ttl: core::time::Duration) -> Self {
        self.token_ttl = Some(crate::util::whole_seconds(ttl));
        self
    }
}

// --------------------------------------------------------- launch tokens --

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

// ---------------------------------------------------------------- agents --

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

// ---------------------------------------------------------------- revoke --

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

impl Default for ValidateRequest {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        ValidateRequest {
            token: AccessToken::new(String::new()),
        }
    }
}

impl Default for AdminAuthRequest {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AdminAuthRequest {
            secret: AdminSecret::new(String::new()),
        }
    }
}

impl Default for AdminAuthResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AdminAuthResponse {
            access_token: AccessToken::new(String::new()),
            expires_in: Default::default(),
            token_type: Default::default(),
        }
    }
}

impl Default for AppAuthRequest {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AppAuthRequest {
            client_id: Default::default(),
            client_secret: ClientSecret::new(String::new()),
        }
    }
}

impl Default for AppAuthResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AppAuthResponse {
            access_token: AccessToken::new(String::new()),
            expires_in: Default::default(),
            token_type: Default::default(),
            scopes: Default::default(),
        }
    }
}

impl Default for AppResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AppResponse {
            app_id: Default::default(),
            name: Default::default(),
            client_id: Default::default(),
            client_secret: Default::default(),
            scopes: Default::default(),
            token_ttl: Default::default(),
            status: Default::default(),
            created_at: Default::default(),
            updated_at: Default::default(),
            deregistered_at: Default::default(),
        }
    }
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

impl IntoIterator for ListAppsResponse {
    type Item = AppResponse;
    type IntoIter = std::vec::IntoIter<AppResponse>;

    /// The apps, in the broker's order.
    fn into_iter(self) -> Self::IntoIter {
        self.apps.into_iter()
    }
}

impl<'a> IntoIterator for &'a ListAppsResponse {
    type Item = &'a AppResponse;
    type IntoIter = core::slice::Iter<'a, AppResponse>;

    /// The apps, in the broker's order.
    fn into_iter(self) -> Self::IntoIter {
        self.apps.iter()
    }
}

impl ListAppsResponse {
    /// The apps, in the broker's order.
    ///
    /// ```
    /// use agentwrit_wire::ListAppsResponse;
    /// let listed: ListAppsResponse = serde_json::from_str(r#"{"apps":[],"total":0}"#).unwrap();
    /// assert_eq!(listed.iter().count(), 0);
    /// for app in &listed {
    ///     println!("{}", app.name);
    /// }
    /// ```
    pub fn iter(&self) -> core::slice::Iter<'_, AppResponse> {
        self.apps.iter()
    }

    /// How many apps the answer holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    /// True when the broker has no apps.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }
}
