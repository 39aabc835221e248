//! The hash-chained audit trail: `GET /v1/audit/events`.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::util::null_as_default;

/// One audit event. Events form a hash chain: each `prev_hash` is the
/// previous event's `hash` (64 zeros for the first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// `evt-000001`, ...
    pub id: String,
    /// When it happened (RFC 3339, nanoseconds).
    pub timestamp: Timestamp,
    /// e.g. `agent_registered`, `token_released`, `admin_auth_failed`.
    pub event_type: String,
    /// The agent concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The task concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The orchestrator concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orch_id: Option<String>,
    /// Human-readable detail.
    #[serde(default)]
    pub detail: String,
    /// The resource concerned, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// `success` or `denied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Delegation depth, for delegation events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleg_depth: Option<i64>,
    /// Delegation chain hash, for delegation events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleg_chain_hash: Option<String>,
    /// Bytes transferred, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_transferred: Option<i64>,
    /// Hex SHA-256 of this event chained to the previous one.
    #[serde(default)]
    pub hash: String,
    /// The previous event's hash.
    #[serde(default)]
    pub prev_hash: String,
}

/// `GET /v1/audit/events` → 200: one page of events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEventsResponse {
    /// The events of this page, oldest first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<AuditEvent>,
    /// How many events match the filters in total.
    #[serde(default)]
    pub total: u64,
    /// The offset of this page.
    #[serde(default)]
    pub offset: u64,
    /// The page size used.
    #[serde(default)]
    pub limit: u64,
}

/// Filters and pagination for `GET /v1/audit/events`.
///
/// ```
/// use agentwrit_wire::AuditQuery;
/// let q = AuditQuery::new().event_type("token_released").limit(2).offset(4);
/// assert_eq!(q.to_query_string(), "event_type=token_released&limit=2&offset=4");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditQuery {
    /// Only events of this agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Only events of this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Only events of this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Only events with this outcome (`success`, `denied`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Only events at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Only events at or before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Page size (broker default 100, maximum 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Events to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u32>,
}

impl AuditQuery {
    /// No filters, broker-default paging.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Filters by agent id.
    #[must_use]
    pub fn agent_id(mut self, v: impl Into<String>) -> Self {
        self.agent_id = Some(v.into());
        self
    }

    /// Filters by task id.
    #[must_use]
    pub fn task_id(mut self, v: impl Into<String>) -> Self {
        self.task_id = Some(v.into());
        self
    }

    /// Filters by event type.
    #[must_use]
    pub fn event_type(mut self, v: impl Into<String>) -> Self {
        self.event_type = Some(v.into());
        self
    }

    /// Filters by outcome.
    #[must_use]
    pub fn outcome(mut self, v: impl Into<String>) -> Self {
        self.outcome = Some(v.into());
        self
    }

    /// Only events at or after `t`.
    #[must_use]
    pub fn since(mut self, t: Timestamp) -> Self {
        self.since = Some(t);
        self
    }

    /// Only events at or before `t`.
    #[must_use]
    pub fn until(mut self, t: Timestamp) -> Self {
        self.until = Some(t);
        self
    }

    /// Page size.
    #[must_use]
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n);
        self
    }

    /// Events to skip.
    #[must_use]
    pub fn offset(mut self, n: u32) -> Self {
        self.offset = Some(n);
        self
    }

    /// The URL query string (without `?`), percent-encoded, fields in a
    /// fixed order; empty when no field is set.
    #[must_use]
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        let mut push = |key: &str, value: &str| {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(key);
            out.push('=');
            percent_encode_into(value, &mut out);
        };
        let strings = [
            ("agent_id", self.agent_id.as_deref()),
            ("task_id", self.task_id.as_deref()),
            ("event_type", self.event_type.as_deref()),
            ("outcome", self.outcome.as_deref()),
            ("since", self.since.as_ref().map(Timestamp::as_str)),
            ("until", self.until.as_ref().map(Timestamp::as_str)),
        ];
        for (key, value) in strings {
            if let Some(v) = value {
                push(key, v);
            }
        }
        if let Some(n) = self.limit {
            push("limit", &n.to_string());
        }
        if let Some(n) = self.offset {
            push("offset", &n.to_string());
        }
        out
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode_into(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_encodes() {
        assert_eq!(AuditQuery::new().to_query_string(), "");
        let q = AuditQuery::new()
            .agent_id("spiffe://agentwrit.local/agent/o/t/1")
            .since("2026-11-21T23:40:37+01:00".parse().unwrap());
        assert_eq!(
            q.to_query_string(),
            "agent_id=spiffe%3A%2F%2Fagentwrit.local%2Fagent%2Fo%2Ft%2F1&since=2026-11-21T23%3A40%3A37%2B01%3A00"
        );
    }
}
