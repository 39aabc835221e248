//! The audit trail: every operation records its events here, and
//! `/v1/audit/events` reads them back.

use std::time::Instant;

use agentwrit_wire::AuditEvent;

use super::Broker;
use crate::audit::{Extra, Filters};
use crate::sync::{read, write};

impl Broker {
    /// Appends an event to the audit trail (and counts it).
    pub(super) fn record(
        &self,
        event_type: &str,
        agent_id: &str,
        task_id: &str,
        orch_id: &str,
        detail: &str,
        extra: Extra,
    ) {
        let start = Instant::now();
        let now = self.now();
        write(&self.audit).record(now, event_type, agent_id, task_id, orch_id, detail, extra);
        self.metrics
            .audit_event(event_type, start.elapsed().as_secs_f64());
    }

    /// The filtered page, the total, and the offset and limit to report.
    pub(crate) fn audit_events(&self, f: &Filters) -> (Vec<AuditEvent>, u64) {
        let (events, total) = read(&self.audit).query(f);
        (events, total as u64)
    }
}
