//! The usage record: what one service saw of one token, written by every
//! sink in the same shape (one JSON object per line in the JSON Lines
//! files, the body of one OTLP log record).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The value of [`UsageRecord::schema`] this version writes.
pub const SCHEMA: &str = "agentwrit.usage/v1";

/// Why a record was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// The token expired (plus the recorder's grace period) and its
    /// record left memory: nothing more will be added to it.
    Expired,
    /// [`Recorder::flush`](crate::Recorder::flush): what happened since the
    /// previous record of this token; the token stays tracked.
    Flush,
    /// The recorder shut down (explicitly or when its last handle was
    /// dropped).
    Shutdown,
    /// The recorder was full and this token (the one expiring soonest)
    /// was written out early to make room; a later use starts a new record.
    Capacity,
}

impl EndReason {
    /// The name used in records (`expired`, `flush`, ...).
    ///
    /// ```
    /// assert_eq!(agentwrit_usage::EndReason::Expired.as_str(), "expired");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Expired => "expired",
            EndReason::Flush => "flush",
            EndReason::Shutdown => "shutdown",
            EndReason::Capacity => "capacity",
        }
    }
}

/// The outcome of one scope check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// The token granted the scope: the request went on.
    Allowed,
    /// The token did not grant the scope (it was the one missing).
    Denied,
}

impl Decision {
    /// `allowed` or `denied`.
    ///
    /// ```
    /// assert_eq!(agentwrit_usage::Decision::Denied.as_str(), "denied");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
        }
    }
}

/// Why a request carrying a token this service had seen valid was
/// refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// Past the token's `exp`.
    Expired,
    /// Refused before its `exp` after having been accepted: revoked or
    /// released at the broker (the broker's validation answer does not
    /// say which; the report's `--broker` join does).
    Revoked,
}

impl Refusal {
    /// `expired` or `revoked`.
    ///
    /// ```
    /// assert_eq!(agentwrit_usage::Refusal::Revoked.as_str(), "revoked");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Expired => "expired",
            Refusal::Revoked => "revoked",
        }
    }
}

/// The requests that needed one scope, with one decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ScopeUse {
    /// The scope the request required (a route's template filled in,
    /// e.g. `read:data:customer-7291`).
    pub scope: String,
    /// Allowed, or denied because the token lacked this scope.
    pub decision: Decision,
    /// How many checks.
    pub count: u64,
    /// The first of them.
    #[serde(with = "crate::time::rfc3339")]
    pub first: SystemTime,
    /// The last of them.
    #[serde(with = "crate::time::rfc3339")]
    pub last: SystemTime,
}

/// Requests refused for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Refused {
    /// Why.
    pub reason: Refusal,
    /// How many requests.
    pub count: u64,
    /// The first of them.
    #[serde(with = "crate::time::rfc3339")]
    pub first: SystemTime,
    /// The last of them.
    #[serde(with = "crate::time::rfc3339")]
    pub last: SystemTime,
}

/// What one service saw of one token between two records (see the
/// schema in `docs/usage-evidence.md`). Never holds the token.
///
/// Records of one token are deltas: each covers what happened since the
/// previous one (`seq` 0, 1, ...), and a reader adds them up (the report
/// merges by `jti`, across services too).
///
/// ```
/// let line = r#"{"schema":"agentwrit.usage/v1","service":"orders","instance":"pid-1","seq":0,
///   "reason":"expired","jti":"j1","sub":"spiffe://d/agent/o/t/1","orch_id":"o","task_id":"t",
///   "app":null,"granted":["read:data:*"],"issued_at":"2026-12-05T10:00:00.000Z",
///   "expires_at":"2026-12-05T10:05:00.000Z","delegation_depth":0,"delegated_by":null,
///   "requests":1,"first_use":"2026-12-05T10:00:01.000Z","last_use":"2026-12-05T10:00:01.000Z",
///   "scopes":[{"scope":"read:data:customer-7","decision":"allowed","count":1,
///     "first":"2026-12-05T10:00:01.000Z","last":"2026-12-05T10:00:01.000Z"}],
///   "refused":[],"checks_dropped":0}"#;
/// let record: agentwrit_usage::UsageRecord = serde_json::from_str(line)?;
/// assert_eq!(record.scopes[0].scope, "read:data:customer-7");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UsageRecord {
    /// [`SCHEMA`].
    pub schema: String,
    /// The reporting service (the recorder's `service_name`).
    pub service: String,
    /// The reporting process (`pid-1234` unless set).
    pub instance: String,
    /// 0 for this token's first record from this process, then 1, 2, ...
    pub seq: u32,
    /// Why the record was written.
    pub reason: EndReason,
    /// The token's id.
    pub jti: String,
    /// The agent (SPIFFE id).
    pub sub: String,
    /// The orchestrator.
    pub orch_id: Option<String>,
    /// The task.
    pub task_id: Option<String>,
    /// The app, when the verifier knows it (agent tokens do not carry it:
    /// the report fills it from the broker's audit trail).
    pub app: Option<String>,
    /// The scopes the token grants.
    pub granted: Vec<String>,
    /// `iat`.
    #[serde(with = "crate::time::rfc3339")]
    pub issued_at: SystemTime,
    /// `exp`.
    #[serde(with = "crate::time::rfc3339")]
    pub expires_at: SystemTime,
    /// Delegation hops behind the token (0: registered directly).
    pub delegation_depth: u32,
    /// The agent that delegated this token (the chain's last hop).
    pub delegated_by: Option<String>,
    /// Requests accepted with this token.
    pub requests: u64,
    /// The first of them.
    #[serde(with = "crate::time::rfc3339_opt")]
    pub first_use: Option<SystemTime>,
    /// The last of them.
    #[serde(with = "crate::time::rfc3339_opt")]
    pub last_use: Option<SystemTime>,
    /// Scope checks by (scope, decision).
    pub scopes: Vec<ScopeUse>,
    /// Requests refused after the token had been accepted, by reason.
    pub refused: Vec<Refused>,
    /// Scope checks not itemised because the token reached the
    /// recorder's limit of distinct (scope, decision) pairs; counted here.
    pub checks_dropped: u64,
}

impl UsageRecord {
    /// The record as one JSON line (no trailing newline).
    ///
    /// # Errors
    ///
    /// Never in practice (every field serialises); the serde error
    /// otherwise.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}
