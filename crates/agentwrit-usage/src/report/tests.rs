use super::audit::{bracket_list, detail_value};
use super::*;

#[test]
fn detail_values() {
    let d = "Token issued, jti=abc123, ttl=300 app_id=app-1";
    assert_eq!(detail_value(d, "jti"), Some("abc123"));
    assert_eq!(detail_value(d, "ttl"), Some("300"));
    assert_eq!(detail_value(d, "app_id"), Some("app-1"));
    assert_eq!(
        detail_value("token renewed for agent=x new_jti=n1", "jti"),
        None
    );
    assert_eq!(
        detail_value("token renewed for agent=x new_jti=n1", "new_jti"),
        Some("n1")
    );
    assert_eq!(detail_value("token released | jti=j9", "jti"), Some("j9"));
    assert_eq!(
        detail_value("revoked at level=task target=t-1", "target"),
        Some("t-1")
    );
    assert_eq!(
        bracket_list("Agent registered with scope [read:data:* write:x:y] app_id=a"),
        ["read:data:*", "write:x:y"]
    );
}

#[test]
fn recommendation_never_widens_the_grant() {
    let rec = recommend(
        &["read:data:a", "read:data:b"],
        &["read:data:a", "read:data:b", "read:data:c"],
    );
    let scopes: Vec<&str> = rec.iter().map(|r| r.scope.as_str()).collect();
    assert_eq!(scopes, ["read:data:a", "read:data:b"]);
    let rec = recommend(&["read:data:*", "read:data:b"], &["read:data:*"]);
    assert_eq!(rec.len(), 1);
    assert_eq!(
        (rec[0].scope.as_str(), rec[0].matched.as_slice()),
        ("read:data:*", &["b".to_owned()][..])
    );
    assert!(recommend::<&str, &str>(&[], &["read:data:*"]).is_empty());
}

fn record(
    service: &str,
    jti: &str,
    task: &str,
    day_secs: i64,
    scopes: &[(&str, Decision, u64)],
) -> UsageRecord {
    let at = crate::time::from_secs(1_796_428_800 + day_secs);
    UsageRecord {
        schema: crate::SCHEMA.to_owned(),
        service: service.to_owned(),
        instance: "pid-1".to_owned(),
        seq: 0,
        reason: crate::EndReason::Expired,
        jti: jti.to_owned(),
        sub: format!("spiffe://d/agent/o/{task}/x"),
        orch_id: Some("o".to_owned()),
        task_id: Some(task.to_owned()),
        app: None,
        granted: vec!["read:data:*".to_owned(), "write:data:x".to_owned()],
        issued_at: at,
        expires_at: at + std::time::Duration::from_secs(300),
        delegation_depth: 0,
        delegated_by: None,
        requests: scopes.iter().map(|s| s.2).sum(),
        first_use: Some(at),
        last_use: Some(at + std::time::Duration::from_secs(10)),
        scopes: scopes
            .iter()
            .map(|(scope, decision, count)| crate::ScopeUse {
                scope: (*scope).to_owned(),
                decision: *decision,
                count: *count,
                first: at,
                last: at + std::time::Duration::from_secs(10),
            })
            .collect(),
        refused: Vec::new(),
        checks_dropped: 0,
    }
}

#[test]
fn records_merge_per_task_across_services_and_kinds_roll_up() {
    let now = crate::time::from_secs(1_796_428_800 + 86_400);
    let mut b = ReportBuilder::new(ReportOptions::new(now));
    b.add(record(
        "a",
        "j1",
        "job-1",
        0,
        &[("read:data:c1", Decision::Allowed, 2)],
    ));
    b.add(record(
        "b",
        "j1",
        "job-1",
        0,
        &[
            ("read:data:c1", Decision::Allowed, 1),
            ("delete:data:c1", Decision::Denied, 1),
        ],
    ));
    b.add(record(
        "a",
        "j2",
        "job-2",
        0,
        &[("read:data:c2", Decision::Allowed, 1)],
    ));
    let report = b.finish(&crate::Reader::new());
    assert_eq!(report.tasks.len(), 2);
    let t = &report.tasks[0];
    assert_eq!(t.services, ["a", "b"]);
    assert_eq!(t.requests, 4);
    assert_eq!(
        (t.used[0].scope.as_str(), t.used[0].count),
        ("read:data:c1", 3)
    );
    assert_eq!(t.denied[0].scope, "delete:data:c1");
    assert_eq!(t.unused, ["write:data:x"]);
    assert_eq!(t.coverage[0].matched, ["c1"]);
    assert_eq!(t.ended_by, "expired_or_released");
    assert_eq!(report.kinds.len(), 1);
    let k = &report.kinds[0];
    assert_eq!((k.kind.as_str(), k.tasks, k.requests), ("job-*", 2, 5));
    assert_eq!(
        (
            k.scopes[0].granted_in,
            k.scopes[0].used_in,
            k.scopes[0].uses
        ),
        (2, 2, 4)
    );
    assert_eq!(k.scopes[1].used_in, 0);
    assert_eq!(k.recommended[0].scope, "read:data:*");
    assert_eq!(k.recommended[0].matched, ["c1", "c2"]);
    assert_eq!(k.denied[0].tasks, 1);
}

#[test]
fn since_leaves_out_older_activity() {
    let now = crate::time::from_secs(1_796_428_800 + 86_400);
    let since = Some(crate::time::from_secs(1_796_428_800 + 3_600));
    let mut b = ReportBuilder::new(ReportOptions::new(now).with_since(since));
    b.add(record(
        "a",
        "old",
        "job-1",
        0,
        &[("read:data:c1", Decision::Allowed, 1)],
    ));
    b.add(record(
        "a",
        "new",
        "job-2",
        7_200,
        &[("read:data:c2", Decision::Allowed, 1)],
    ));
    let report = b.finish(&crate::Reader::new());
    assert_eq!(
        (report.inputs.records, report.inputs.records_in_window),
        (2, 1)
    );
    assert_eq!(report.tasks.len(), 1);
    assert_eq!(report.tasks[0].tokens, ["new"]);
}

#[test]
fn kinds() {
    assert_eq!(KindRule::Segments.kind_of(""), "");
    assert_eq!(KindRule::Segments.kind_of("run"), "run");
    assert_eq!(KindRule::Segments.kind_of("a1.b_c:2-"), "*.b_c:*-");
}
