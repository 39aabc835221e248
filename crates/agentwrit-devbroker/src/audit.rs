//! The hash-chained audit trail, computed exactly as the real broker does.
//!
//! Each event's `hash` is the hex SHA-256 of
//! `prev_hash|id|timestamp|event_type|agent_id|task_id|orch_id|detail|resource|outcome|deleg_depth|deleg_chain_hash|bytes_transferred`
//! (timestamp in RFC 3339 with nanoseconds, numbers in decimal); the first
//! event's `prev_hash` is 64 zeros. Details are passed through the broker's
//! keyword masking before they are stored.

use agentwrit_wire::{AuditEvent, Timestamp};
use sha2::{Digest as _, Sha256};

/// Optional structured fields of an event.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    pub(crate) resource: String,
    pub(crate) outcome: &'static str,
    pub(crate) deleg_depth: i64,
    pub(crate) deleg_chain_hash: String,
}

impl Extra {
    pub(crate) fn outcome(outcome: &'static str) -> Self {
        Extra {
            outcome,
            ..Extra::default()
        }
    }

    pub(crate) fn success() -> Self {
        Self::outcome("success")
    }

    pub(crate) fn denied() -> Self {
        Self::outcome("denied")
    }

    pub(crate) fn with_resource(mut self, resource: &str) -> Self {
        self.resource = resource.to_owned();
        self
    }
}

/// Filters and paging of a query.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filters {
    pub(crate) agent_id: String,
    pub(crate) task_id: String,
    pub(crate) event_type: String,
    pub(crate) outcome: String,
    pub(crate) since: Option<i128>,
    pub(crate) until: Option<i128>,
    pub(crate) limit: i64,
    pub(crate) offset: i64,
}

/// The append-only log.
#[derive(Debug)]
pub(crate) struct AuditLog {
    events: Vec<(AuditEvent, i128)>,
    prev_hash: String,
    counter: u64,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog {
            events: Vec::new(),
            prev_hash: GENESIS.to_owned(),
            counter: 0,
        }
    }
}

impl AuditLog {
    /// Appends one event at `now_nanos`.
    #[allow(clippy::too_many_arguments)] // one per audit field, as the broker records them
    pub(crate) fn record(
        &mut self,
        now_nanos: i128,
        event_type: &str,
        agent_id: &str,
        task_id: &str,
        orch_id: &str,
        detail: &str,
        extra: Extra,
    ) {
        self.counter += 1;
        let ts = Timestamp::from_unix_nanos(now_nanos);
        let id = format!("evt-{:06}", self.counter);
        let detail = sanitize(detail);
        let data = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.prev_hash,
            id,
            ts.as_str(),
            event_type,
            agent_id,
            task_id,
            orch_id,
            detail,
            extra.resource,
            extra.outcome,
            extra.deleg_depth,
            extra.deleg_chain_hash,
            0
        );
        let hash = hex::encode(Sha256::digest(data.as_bytes()));
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let mut evt = AuditEvent::default();
        evt.id = id;
        evt.timestamp = Timestamp::from_unix_nanos(now_nanos);
        evt.event_type = event_type.to_owned();
        evt.agent_id = some(agent_id);
        evt.task_id = some(task_id);
        evt.orch_id = some(orch_id);
        evt.detail = detail;
        evt.resource = some(&extra.resource);
        evt.outcome = some(extra.outcome);
        evt.deleg_depth = (extra.deleg_depth != 0).then_some(extra.deleg_depth);
        evt.deleg_chain_hash = some(&extra.deleg_chain_hash);
        evt.prev_hash = std::mem::replace(&mut self.prev_hash, hash.clone());
        evt.hash = hash;
        self.events.push((evt, now_nanos));
    }

    /// Number of events recorded.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Matching events in insertion order (one page) and the number of all
    /// matching events.
    pub(crate) fn query(&self, f: &Filters) -> (Vec<AuditEvent>, usize) {
        let matched: Vec<&AuditEvent> = self
            .events
            .iter()
            .filter(|(e, at)| {
                (f.agent_id.is_empty() || e.agent_id.as_deref().unwrap_or("") == f.agent_id)
                    && (f.task_id.is_empty() || e.task_id.as_deref().unwrap_or("") == f.task_id)
                    && (f.event_type.is_empty() || e.event_type == f.event_type)
                    && (f.outcome.is_empty() || e.outcome.as_deref().unwrap_or("") == f.outcome)
                    && f.since.is_none_or(|s| *at >= s)
                    && f.until.is_none_or(|u| *at <= u)
            })
            .map(|(e, _)| e)
            .collect();
        let total = matched.len();
        let offset = usize::try_from(f.offset.max(0)).unwrap_or(usize::MAX);
        let limit = match f.limit {
            n if n <= 0 => 100,
            n if n > 1000 => 1000,
            n => usize::try_from(n).unwrap_or(1000),
        };
        let page = matched
            .into_iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        (page, total)
    }
}

const KEYWORDS: [&str; 4] = ["secret", "password", "token_value", "private_key"];

/// The broker's masking of details that mention a secret-looking key: when
/// the text before the first `=` (or else the first `: `) names one of the
/// keywords, everything after it is replaced by `***REDACTED***`.
fn sanitize(detail: &str) -> String {
    let lower = detail.to_lowercase();
    if !KEYWORDS.iter().any(|k| lower.contains(k)) {
        return detail.to_owned();
    }
    for sep in ["=", ": "] {
        if let Some((key, _)) = detail.split_once(sep) {
            let lower_key = key.to_lowercase();
            if KEYWORDS.iter().any(|k| lower_key.contains(k)) {
                return format!("{key}{sep}***REDACTED***");
            }
        }
    }
    detail.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_matches_the_real_broker() {
        // evt-000036 of the captured audit trail, recomputed from its fields.
        let mut log = AuditLog {
            events: Vec::new(),
            prev_hash: "283853daeeb4f114e05a2bd6614bb7c63f3d1b0bc3e5087325f6fe66147b1019".into(),
            counter: 35,
        };
        let at = Timestamp::parse("2026-11-21T23:40:37.604768487Z")
            .unwrap()
            .unix_nanos();
        log.record(
            at,
            "token_released",
            "spiffe://agentwrit.local/agent/conf-orch/conf-task/2895b0eaef6fea3e",
            "conf-task",
            "conf-orch",
            "token released | jti=3b3158d76c2925930464e2b66ea572ad",
            Extra::success(),
        );
        let (events, total) = log.query(&Filters::default());
        assert_eq!(total, 1);
        assert_eq!(events[0].id, "evt-000036");
        assert_eq!(
            events[0].hash,
            "9550fa11ebc00d6ff1d79760b41b6377bd965ca54819abae3aab60c5a1555eda"
        );
    }

    #[test]
    fn masking() {
        assert_eq!(
            sanitize("client_secret=abc"),
            "client_secret=***REDACTED***"
        );
        assert_eq!(sanitize("password: hunter2"), "password: ***REDACTED***");
        assert_eq!(sanitize("app=secret-app x=y"), "app=secret-app x=y");
        assert_eq!(sanitize("plain"), "plain");
    }
}
