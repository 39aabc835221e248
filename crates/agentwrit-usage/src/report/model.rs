//! What a report holds: the types of its JSON form
//! (`agentwrit.usage.report/v1`).

use serde::Serialize;

use crate::ReadError;

/// The whole report (`agentwrit usage report --json`).
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// [`REPORT_SCHEMA`](crate::REPORT_SCHEMA).
    pub schema: &'static str,
    /// When it was made.
    pub generated_at: String,
    /// The `--since` bound, if any.
    pub since: Option<String>,
    /// What was read.
    pub inputs: Inputs,
    /// The services whose records were read: only what these saw is
    /// known.
    pub services: Vec<ServiceSummary>,
    /// Whether the broker's audit trail was joined.
    pub broker_joined: bool,
    /// Audit events used, when joined.
    pub audit_events: Option<u64>,
    /// One entry per task agent (an agent working a task, across its
    /// renewals), ordered by orchestrator, task, agent.
    pub tasks: Vec<TaskReport>,
    /// One entry per orchestrator and task kind.
    pub kinds: Vec<KindReport>,
}

/// What was read.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Inputs {
    /// Files read.
    pub files: u64,
    /// Records read.
    pub records: u64,
    /// Records inside the `--since` window.
    pub records_in_window: u64,
    /// Lines that could not be read (file and line).
    pub errors: Vec<ReadError>,
}

/// One reporting service.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ServiceSummary {
    /// Its name.
    pub service: String,
    /// Its processes.
    pub instances: Vec<String>,
    /// Records from it (in the window).
    pub records: u64,
}

/// A scope with a count and the first and last time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ScopeCount {
    /// The scope (as required by the request).
    pub scope: String,
    /// How many checks.
    pub count: u64,
    /// First (RFC 3339).
    pub first: String,
    /// Last (RFC 3339).
    pub last: String,
}

/// Requests refused for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RefusedCount {
    /// `expired` or `revoked`.
    pub reason: String,
    /// How many.
    pub count: u64,
    /// First (RFC 3339).
    pub first: String,
    /// Last (RFC 3339).
    pub last: String,
}

/// What one granted scope covered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Coverage {
    /// The granted scope.
    pub granted: String,
    /// Allowed checks it covered.
    pub uses: u64,
    /// The identifiers of those checks (for a wildcard: what it actually
    /// matched).
    pub matched: Vec<String>,
}

/// One scope of a recommended minimal set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Recommendation {
    /// The scope, in the broker's syntax.
    pub scope: String,
    /// For a wildcard: the identifiers it matched in the evidence.
    pub matched: Vec<String>,
}

/// One task agent.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct TaskReport {
    /// Orchestrator.
    pub orch_id: Option<String>,
    /// Task.
    pub task_id: Option<String>,
    /// Task kind (by the kind rule).
    pub kind: String,
    /// The agent (SPIFFE id).
    pub agent: String,
    /// The app (from a record, or the broker's audit trail).
    pub app: Option<String>,
    /// False for a task only the broker's audit trail knows: no reporting
    /// service saw its token, so its use is unknown.
    pub observed: bool,
    /// The services that reported it.
    pub services: Vec<String>,
    /// Delegation hops behind its token.
    pub delegation_depth: u32,
    /// The delegating agent.
    pub delegated_by: Option<String>,
    /// Its token ids (renewals give new ones).
    pub tokens: Vec<String>,
    /// Granted scopes.
    pub granted: Vec<String>,
    /// Requests accepted.
    pub requests: u64,
    /// First accepted request.
    pub first_use: Option<String>,
    /// Last accepted request.
    pub last_use: Option<String>,
    /// Scopes required by allowed requests.
    pub used: Vec<ScopeCount>,
    /// Granted scopes no allowed request needed (at the reporting
    /// services).
    pub unused: Vec<String>,
    /// Denied attempts, by the scope that was missing.
    pub denied: Vec<ScopeCount>,
    /// Requests refused after the token had been accepted.
    pub refused: Vec<RefusedCount>,
    /// Checks not itemised (per-token limit of the recorder).
    pub checks_dropped: u64,
    /// Per granted scope: the allowed uses it covered.
    pub coverage: Vec<Coverage>,
    /// The recommended minimal scope set.
    pub recommended: Vec<Recommendation>,
    /// Earliest `iat`.
    pub issued_at: Option<String>,
    /// Latest `exp`.
    pub expires_at: Option<String>,
    /// The token lifetime as issued.
    pub ttl_seconds: Option<i64>,
    /// From issue to the last accepted request, rounded up.
    pub lifetime_used_seconds: Option<i64>,
    /// Renewals (broker join only).
    pub renewals: Option<u64>,
    /// Delegations to this agent (broker join only).
    pub delegations_received: Option<u64>,
    /// With the broker join: `released`, `revoked`, `expired` or `active`.
    /// Without: `revoked_or_released` (refused before its `exp`),
    /// `expired_or_released` (past its `exp`) or `active`.
    pub ended_by: String,
}

/// One orchestrator and task kind.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct KindReport {
    /// Orchestrator.
    pub orch_id: Option<String>,
    /// Task kind.
    pub kind: String,
    /// Task agents of this kind.
    pub tasks: u64,
    /// Of those, seen by a reporting service.
    pub observed_tasks: u64,
    /// Requests accepted.
    pub requests: u64,
    /// Per granted scope: how often granted and used.
    pub scopes: Vec<KindScope>,
    /// Denied attempts by missing scope.
    pub denied: Vec<KindDenied>,
    /// The recommended minimal scope set for the kind.
    pub recommended: Vec<Recommendation>,
}

/// How often one granted scope was used across a kind's tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KindScope {
    /// The granted scope.
    pub scope: String,
    /// In how many tasks it was granted.
    pub granted_in: u64,
    /// In how many of those an allowed request needed it.
    pub used_in: u64,
    /// Allowed checks it covered.
    pub uses: u64,
    /// Identifiers it matched.
    pub matched: Vec<String>,
}

/// Denied attempts for one scope across a kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct KindDenied {
    /// The missing scope.
    pub scope: String,
    /// Denied checks.
    pub count: u64,
    /// Tasks that tried.
    pub tasks: u64,
}
