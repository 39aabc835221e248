//! Prometheus counters with the real broker's metric names, rendered in the
//! text exposition format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::sync::lock;

/// The content type of `GET /v1/metrics`.
pub(crate) const CONTENT_TYPE: &str =
    "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";

const AUDIT_WRITE_BUCKETS: [f64; 6] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1];

#[derive(Debug, Default)]
struct State {
    tokens_issued: BTreeMap<String, u64>,
    tokens_revoked: BTreeMap<String, u64>,
    registrations: BTreeMap<String, u64>,
    admin_auth: BTreeMap<String, u64>,
    audit_events: BTreeMap<String, u64>,
    launch_tokens_created: u64,
    active_agents: u64,
    audit_write_count: u64,
    audit_write_sum: f64,
    audit_write_buckets: [u64; 6],
}

/// Every metric the broker exposes.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    state: Mutex<State>,
}

fn bump(map: &mut BTreeMap<String, u64>, label: &str) {
    *map.entry(label.to_owned()).or_insert(0) += 1;
}

impl Metrics {
    pub(crate) fn token_issued(&self, scope: &str) {
        bump(&mut lock(&self.state).tokens_issued, scope);
    }
    pub(crate) fn token_revoked(&self, level: &str) {
        bump(&mut lock(&self.state).tokens_revoked, level);
    }
    pub(crate) fn registration(&self, success: bool) {
        let mut s = lock(&self.state);
        bump(
            &mut s.registrations,
            if success { "success" } else { "failure" },
        );
        if success {
            s.active_agents += 1;
        }
    }
    pub(crate) fn admin_auth(&self, success: bool) {
        bump(
            &mut lock(&self.state).admin_auth,
            if success { "success" } else { "failure" },
        );
    }
    pub(crate) fn launch_token_created(&self) {
        lock(&self.state).launch_tokens_created += 1;
    }
    pub(crate) fn audit_event(&self, event_type: &str, write_seconds: f64) {
        let mut s = lock(&self.state);
        bump(&mut s.audit_events, event_type);
        s.audit_write_count += 1;
        s.audit_write_sum += write_seconds;
        for (i, le) in AUDIT_WRITE_BUCKETS.iter().enumerate() {
            if write_seconds <= *le {
                s.audit_write_buckets[i] += 1;
            }
        }
    }

    /// The exposition text, families sorted by name, label values sorted.
    pub(crate) fn render(&self) -> String {
        let s = lock(&self.state);
        let mut out = String::new();
        gauge(
            &mut out,
            "agentwrit_active_agents",
            "Number of currently active agents",
            s.active_agents,
        );
        labelled(
            &mut out,
            "agentwrit_admin_auth_total",
            "Total number of admin auth attempts",
            "status",
            &s.admin_auth,
        );
        gauge(
            &mut out,
            "agentwrit_audit_events_loaded",
            "Number of audit events loaded from SQLite at startup",
            0,
        );
        labelled(
            &mut out,
            "agentwrit_audit_events_total",
            "Total number of audit events recorded",
            "event_type",
            &s.audit_events,
        );
        // Histogram.
        let name = "agentwrit_audit_write_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time to write an audit event to SQLite");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (i, le) in AUDIT_WRITE_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {}",
                go_float(*le),
                go_count(s.audit_write_buckets[i])
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}",
            go_count(s.audit_write_count)
        );
        let _ = writeln!(out, "{name}_sum {}", go_float(s.audit_write_sum));
        let _ = writeln!(out, "{name}_count {}", go_count(s.audit_write_count));
        counter(
            &mut out,
            "agentwrit_clock_skew_total",
            "Number of clock skew events detected",
            0,
        );
        counter(
            &mut out,
            "agentwrit_launch_tokens_created_total",
            "Total number of launch tokens created",
            s.launch_tokens_created,
        );
        labelled(
            &mut out,
            "agentwrit_registrations_total",
            "Total number of agent registrations",
            "status",
            &s.registrations,
        );
        labelled(
            &mut out,
            "agentwrit_tokens_issued_total",
            "Total number of tokens issued",
            "scope",
            &s.tokens_issued,
        );
        labelled(
            &mut out,
            "agentwrit_tokens_revoked_total",
            "Total number of tokens revoked",
            "level",
            &s.tokens_revoked,
        );
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
        go_count(v)
    );
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
        go_count(v)
    );
}

fn labelled(out: &mut String, name: &str, help: &str, label: &str, values: &BTreeMap<String, u64>) {
    // A vector with no observed label values is not exposed at all.
    if values.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (value, n) in values {
        let _ = writeln!(
            out,
            "{name}{{{label}=\"{}\"}} {}",
            escape_label(value),
            go_count(*n)
        );
    }
}

fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A count as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it: plain
/// below one million, exponent form (`1.2345e+06`) from there on.
fn go_count(n: u64) -> String {
    if n < 1_000_000 {
        return n.to_string();
    }
    let digits = n.to_string();
    let exp = digits.len() - 1;
    let mantissa = digits.trim_end_matches('0');
    let (first, rest) = mantissa.split_at(1);
    if rest.is_empty() {
        format!("{first}e+{exp:02}")
    } else {
        format!("{first}.{rest}e+{exp:02}")
    }
}

/// A small positive float as Go writes it with shortest precision.
fn go_float(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    if (1e-4..1e21).contains(&v) {
        return format!("{v}");
    }
    // Go: d.ddde-XX
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_number_formats() {
        assert_eq!(go_count(0), "0");
        assert_eq!(go_count(999_999), "999999");
        assert_eq!(go_count(1_000_000), "1e+06");
        assert_eq!(go_count(1_234_500), "1.2345e+06");
        assert_eq!(go_float(0.005), "0.005");
        assert_eq!(go_float(0.1), "0.1");
        assert_eq!(go_float(0.00001234), "1.234e-05");
    }

    #[test]
    fn renders_families() {
        let m = Metrics::default();
        m.token_issued("read:data:\"x\"");
        m.registration(true);
        let text = m.render();
        assert!(text.contains("agentwrit_tokens_issued_total{scope=\"read:data:\\\"x\\\"\"} 1\n"));
        assert!(text.contains("agentwrit_registrations_total{status=\"success\"} 1\n"));
        assert!(text.contains("agentwrit_active_agents 1\n"));
        assert!(!text.contains("agentwrit_tokens_revoked_total"));
    }
}
