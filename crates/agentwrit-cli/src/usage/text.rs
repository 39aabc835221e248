//! The report as text for a terminal.

use std::fmt::Write as _;

use agentwrit_usage::{Recommendation, Report, ScopeCount, TaskReport};

use crate::output::table;

fn counts(list: &[ScopeCount]) -> String {
    if list.is_empty() {
        return "-".to_owned();
    }
    list.iter()
        .map(|c| format!("{} x{}", c.scope, c.count))
        .collect::<Vec<_>>()
        .join(", ")
}

fn recommended(list: &[Recommendation]) -> String {
    if list.is_empty() {
        return "- (no allowed use seen)".to_owned();
    }
    list.iter()
        .map(|r| {
            if r.matched.is_empty() {
                r.scope.clone()
            } else {
                format!("{} (matched {})", r.scope, r.matched.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("  ")
}

fn or_dash(list: &[String]) -> String {
    if list.is_empty() {
        "-".to_owned()
    } else {
        list.join(", ")
    }
}

fn task(text: &mut String, t: &TaskReport) {
    let orch = t.orch_id.as_deref().unwrap_or("?");
    let task = t.task_id.as_deref().unwrap_or("?");
    let _ = writeln!(text, "TASK {orch}/{task}  ({})", t.agent);
    let mut line = |k: &str, v: String| {
        let _ = writeln!(text, "  {k:<12} {v}");
    };
    let mut about = vec![format!("ended {}", t.ended_by)];
    if let Some(app) = &t.app {
        about.push(format!("app {app}"));
    }
    if t.delegation_depth > 0 {
        about.push(format!(
            "delegated (depth {}) by {}",
            t.delegation_depth,
            t.delegated_by.as_deref().unwrap_or("?")
        ));
    }
    if !t.observed {
        about.push("NOT SEEN by any reporting service: use unknown".to_owned());
    }
    line("", about.join("; "));
    line("granted", or_dash(&t.granted));
    let mut used = counts(&t.used);
    if let (Some(first), Some(last)) = (&t.first_use, &t.last_use) {
        used.push_str(&format!(
            "  ({} requests, first {first}, last {last})",
            t.requests
        ));
    }
    line("used", used);
    line(
        "unused",
        if t.observed {
            or_dash(&t.unused)
        } else {
            "unknown".to_owned()
        },
    );
    line("denied", counts(&t.denied));
    if !t.refused.is_empty() {
        line(
            "refused",
            t.refused
                .iter()
                .map(|r| format!("{} x{} (first {})", r.reason, r.count, r.first))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let mut life = Vec::new();
    if let (Some(used), Some(ttl)) = (t.lifetime_used_seconds, t.ttl_seconds) {
        life.push(format!("used {used} s of a {ttl} s TTL"));
    } else if let Some(ttl) = t.ttl_seconds {
        life.push(format!("TTL {ttl} s"));
    }
    if let Some(r) = t.renewals {
        life.push(format!("{r} renewal(s)"));
    }
    life.push(format!("{} token(s)", t.tokens.len()));
    line("lifetime", life.join("; "));
    line("recommend", recommended(&t.recommended));
    text.push('\n');
}

/// The whole report.
pub fn render(report: &Report) -> String {
    let mut text = String::new();
    let services: Vec<String> = report
        .services
        .iter()
        .map(|s| format!("{} ({} instance(s))", s.service, s.instances.len()))
        .collect();
    let _ = writeln!(
        text,
        "Scope usage: {} task agent(s) from {} record(s) in {} file(s){}",
        report.tasks.len(),
        report.inputs.records_in_window,
        report.inputs.files,
        report
            .since
            .as_ref()
            .map(|s| format!(" since {s}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        text,
        "Reporting services: {}. Scopes exercised elsewhere are unknown, not unused.",
        if services.is_empty() {
            "none".to_owned()
        } else {
            services.join(", ")
        }
    );
    if let Some(events) = report.audit_events {
        let _ = writeln!(text, "Broker audit trail joined ({events} events).");
    }
    if !report.inputs.errors.is_empty() {
        let _ = writeln!(
            text,
            "{} line(s) could not be read (listed on stderr).",
            report.inputs.errors.len()
        );
    }
    text.push('\n');
    for t in &report.tasks {
        task(&mut text, t);
    }
    if report.kinds.is_empty() {
        return text;
    }
    text.push_str("Per orchestrator and task kind\n\n");
    for k in &report.kinds {
        let _ = writeln!(
            text,
            "KIND {}/{}  ({} task(s), {} seen, {} request(s))",
            k.orch_id.as_deref().unwrap_or("?"),
            k.kind,
            k.tasks,
            k.observed_tasks,
            k.requests
        );
        let rows: Vec<Vec<String>> = k
            .scopes
            .iter()
            .map(|s| {
                vec![
                    format!("  {}", s.scope),
                    s.granted_in.to_string(),
                    s.used_in.to_string(),
                    s.uses.to_string(),
                    or_dash(&s.matched),
                ]
            })
            .collect();
        text.push_str(&table(
            &["  GRANTED SCOPE", "IN TASKS", "USED IN", "USES", "MATCHED"],
            &rows,
        ));
        if !k.denied.is_empty() {
            let denied: Vec<String> = k
                .denied
                .iter()
                .map(|d| format!("{} x{} ({} task(s))", d.scope, d.count, d.tasks))
                .collect();
            let _ = writeln!(text, "  denied: {}", denied.join(", "));
        }
        let _ = writeln!(
            text,
            "  recommended minimal scope set: {}\n",
            recommended(&k.recommended)
        );
    }
    text
}
