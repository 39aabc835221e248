//! The audit tab: the broker's hash-chained audit trail, read through the
//! operator API and checked link by link.
//!
//! The broker chains every event to the one before: its `hash` is the hex
//! SHA-256 of
//! `prev_hash|id|timestamp|event_type|agent_id|task_id|orch_id|detail|resource|outcome|deleg_depth|deleg_chain_hash|bytes_transferred`,
//! and its `prev_hash` is the previous event's `hash` (64 zeros before
//! the first). Recomputing each hash and each link shows whether any
//! event was altered, removed or inserted after it was written.

use agentwrit_async::wire::AuditEvent;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// The `prev_hash` of the first event of a trail.
///
/// ```
/// assert_eq!(agentwrit_medassist::GENESIS, "0".repeat(64));
/// ```
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The outcome of checking a trail's hash chain ([`verify_chain`]).
///
/// ```
/// let check = agentwrit_medassist::verify_chain(&[]);
/// assert!(check.is_intact());
/// assert_eq!(check.checked, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainCheck {
    /// How many events were checked.
    pub checked: usize,
    /// Whether the trail starts at the genesis hash (a trail read from
    /// its first event does).
    pub from_genesis: bool,
    /// The first break, when there is one.
    pub broken: Option<ChainBreak>,
}

impl ChainCheck {
    /// True when every hash and every link checks out.
    ///
    /// ```
    /// assert!(agentwrit_medassist::verify_chain(&[]).is_intact());
    /// ```
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Where and how the chain breaks (see [`verify_chain`] for one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The event's position in the trail.
    pub index: usize,
    /// The event's id.
    pub id: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The hash the broker computes for `event`.
///
/// ```
/// use agentwrit_async::wire::AuditEvent;
/// use agentwrit_medassist::event_hash;
///
/// // An event exactly as the real broker returned it.
/// let event: AuditEvent = serde_json::from_str(r#"{"id":"evt-000001","timestamp":"2026-11-21T23:40:34.454530144Z",
///     "event_type":"admin_auth_failed","detail":"failed admin authentication attempt","outcome":"denied",
///     "hash":"9b9c0606cd9b9239fad815c7b080ccd977f20bc73d4dbf8dfa0d10a812adadb3",
///     "prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#)?;
/// assert_eq!(event_hash(&event), event.hash);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[must_use]
pub fn event_hash(event: &AuditEvent) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let data = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
        event.prev_hash,
        event.id,
        event.timestamp.as_str(),
        event.event_type,
        opt(&event.agent_id),
        opt(&event.task_id),
        opt(&event.orch_id),
        event.detail,
        opt(&event.resource),
        opt(&event.outcome),
        event.deleg_depth.unwrap_or(0),
        opt(&event.deleg_chain_hash),
        event.bytes_transferred.unwrap_or(0),
    );
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// Checks a trail, oldest event first: each event's hash, and each link
/// to the event before.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use agentwrit_async::wire::AuditQuery;
/// use agentwrit_medassist::{embedded_broker, verify_chain};
///
/// let broker = embedded_broker(agentwrit_devbroker::DevBroker::builder())?;
/// let operator = broker.operator.as_ref().unwrap();
/// let mut events = operator.audit_events_all(AuditQuery::new()).await?;
/// assert!(verify_chain(&events).is_intact());
///
/// events[0].detail.push_str(" (edited)"); // rewrite history
/// let broken = verify_chain(&events).broken.unwrap();
/// assert_eq!(broken.index, 0);
/// # Ok(()) }
/// ```
#[must_use]
pub fn verify_chain(events: &[AuditEvent]) -> ChainCheck {
    let from_genesis = events.first().is_some_and(|e| e.prev_hash == GENESIS);
    let mut broken = None;
    for (index, event) in events.iter().enumerate() {
        let reason = if index > 0 && event.prev_hash != events[index - 1].hash {
            Some(format!(
                "prev_hash does not match the hash of {}",
                events[index - 1].id
            ))
        } else if event_hash(event) != event.hash {
            Some("hash does not match the event's contents".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            broken = Some(ChainBreak {
                index,
                id: event.id.clone(),
                reason,
            });
            break;
        }
    }
    ChainCheck {
        checked: events.len(),
        from_genesis,
        broken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Three events exactly as the real broker (v2.0.0) returned them.
    const REAL_FIRST_TWO: &str = r#"[{"id":"evt-000001","timestamp":"2026-11-21T23:40:34.454530144Z","event_type":"admin_auth_failed","detail":"failed admin authentication attempt","outcome":"denied","hash":"9b9c0606cd9b9239fad815c7b080ccd977f20bc73d4dbf8dfa0d10a812adadb3","prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"},{"id":"evt-000002","timestamp":"2026-11-21T23:40:34.876305127Z","event_type":"admin_auth","detail":"admin authenticated as admin","outcome":"success","hash":"7dc61077691e262a1996ccc4d6d037b7862c06bcce130ad6eaa8f5718cc80ed1","prev_hash":"9b9c0606cd9b9239fad815c7b080ccd977f20bc73d4dbf8dfa0d10a812adadb3"}]"#;
    const REAL_RELEASE: &str = r#"{"id":"evt-000036","timestamp":"2026-11-21T23:40:37.604768487Z","event_type":"token_released","agent_id":"spiffe://agentwrit.local/agent/conf-orch/conf-task/2895b0eaef6fea3e","task_id":"conf-task","orch_id":"conf-orch","detail":"token released | jti=3b3158d76c2925930464e2b66ea572ad","outcome":"success","hash":"9550fa11ebc00d6ff1d79760b41b6377bd965ca54819abae3aab60c5a1555eda","prev_hash":"283853daeeb4f114e05a2bd6614bb7c63f3d1b0bc3e5087325f6fe66147b1019"}"#;

    fn real() -> Vec<AuditEvent> {
        serde_json::from_str(REAL_FIRST_TWO).unwrap()
    }

    #[test]
    fn recomputes_the_real_brokers_hashes() {
        let release: AuditEvent = serde_json::from_str(REAL_RELEASE).unwrap();
        assert_eq!(event_hash(&release), release.hash);
        let check = verify_chain(&real());
        assert_eq!(
            check,
            ChainCheck {
                checked: 2,
                from_genesis: true,
                broken: None
            }
        );
    }

    #[test]
    fn an_altered_detail_breaks_the_chain_at_that_event() {
        let mut events = real();
        events[1].detail = "admin authenticated as someone else".into();
        let check = verify_chain(&events);
        assert!(!check.is_intact());
        let broken = check.broken.unwrap();
        assert_eq!((broken.index, broken.id.as_str()), (1, "evt-000002"));
        assert!(broken.reason.starts_with("hash"));
    }

    #[test]
    fn a_removed_event_breaks_the_link() {
        let mut events = real();
        let mut third = events[1].clone();
        third.id = "evt-000003".into();
        third.prev_hash = "f".repeat(64);
        third.hash = event_hash(&third); // self-consistent, but not linked
        events.push(third);
        let broken = verify_chain(&events).broken.unwrap();
        assert_eq!(broken.index, 2);
        assert!(broken.reason.starts_with("prev_hash"));
    }

    #[test]
    fn an_empty_trail_is_intact_but_not_from_genesis() {
        let check = verify_chain(&[]);
        assert!(check.is_intact());
        assert!(!check.from_genesis);
    }
}
