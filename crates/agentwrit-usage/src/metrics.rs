//! The counters through the `metrics` facade (feature `metrics`).
//!
//! Handles are registered once, when the recorder is built: install your
//! metrics recorder (a Prometheus exporter, say) before building the usage
//! recorder. No metric has a per-token label.

use metrics::{Counter, counter};

use crate::record::Refusal;

/// Every counter this crate increments.
pub(crate) struct Handles {
    pub(crate) requests_allowed: Counter,
    refused_expired: Counter,
    refused_revoked: Counter,
    pub(crate) refused_unknown: Counter,
    pub(crate) missing_token: Counter,
    pub(crate) unavailable: Counter,
    checks_allowed: Counter,
    checks_denied: Counter,
    pub(crate) records_written: Counter,
    pub(crate) records_dropped: Counter,
}

/// `agentwrit_token_requests_total{decision}`.
pub const TOKEN_REQUESTS: &str = "agentwrit_token_requests_total";
/// `agentwrit_scope_checks_total{decision}`.
pub const SCOPE_CHECKS: &str = "agentwrit_scope_checks_total";
/// `agentwrit_usage_records_total{outcome}`.
pub const RECORDS: &str = "agentwrit_usage_records_total";

impl Handles {
    pub(crate) fn register() -> Self {
        let requests = |decision: &'static str| counter!(TOKEN_REQUESTS, "decision" => decision);
        Handles {
            requests_allowed: requests("allowed"),
            refused_expired: requests("expired"),
            refused_revoked: requests("revoked"),
            refused_unknown: requests("invalid"),
            missing_token: requests("missing_token"),
            unavailable: requests("unavailable"),
            checks_allowed: counter!(SCOPE_CHECKS, "decision" => "allowed"),
            checks_denied: counter!(SCOPE_CHECKS, "decision" => "denied"),
            records_written: counter!(RECORDS, "outcome" => "written"),
            records_dropped: counter!(RECORDS, "outcome" => "dropped"),
        }
    }

    pub(crate) fn refused(&self, reason: Refusal) {
        match reason {
            Refusal::Expired => self.refused_expired.increment(1),
            _ => self.refused_revoked.increment(1),
        }
    }

    pub(crate) fn checks(&self, allowed: bool, n: u64) {
        if allowed {
            self.checks_allowed.increment(n);
        } else {
            self.checks_denied.increment(n);
        }
    }
}
