//! The service side through the binding layer, against a development
//! broker: a real token accepted and its claims handed over, a released
//! one refused, a dead broker a 503 (fail closed), route and MCP scope
//! decisions, and the scope-usage records they leave.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use agentwrit_bindings::{
    AgentRequest, App, Flavour, McpToolScopes, ServiceOptions, UsageOptions, Verdict, Verifier,
};

fn accepted(verdict: Verdict) -> agentwrit_bindings::Claims {
    match verdict {
        Verdict::Accepted(claims) => *claims,
        Verdict::Refused(r) => panic!("refused: {} {}", r.status(), r.detail()),
    }
}

fn refused(verdict: Verdict) -> agentwrit_bindings::Refusal {
    match verdict {
        Verdict::Refused(r) => *r,
        Verdict::Accepted(c) => panic!("accepted {}", c.sub),
    }
}

#[test]
fn tokens_are_checked_at_the_broker_and_refusals_answered_as_tower_answers() {
    let (broker, id, secret) = support::broker();
    let app = App::new(
        Flavour::Blocking,
        broker.url(),
        &id,
        &secret,
        &support::settings(10.0),
    )
    .unwrap();
    let agent = app
        .create_agent(AgentRequest::new(
            "orch",
            "svc",
            vec!["read:data:customer-7291".into()],
        ))
        .wait()
        .unwrap();
    let verifier = Verifier::new(ServiceOptions {
        max_staleness: Some(std::time::Duration::ZERO),
        ..ServiceOptions::broker(broker.url())
    })
    .unwrap();
    let header = format!("Bearer {}", agent.access_token());
    let claims = accepted(
        verifier
            .authenticate(Some(header.clone()), Some("/customers/7291".into()))
            .wait()
            .unwrap(),
    );
    assert_eq!(claims.sub, agent.agent_id());
    assert_eq!(claims.task_id.as_deref(), Some("svc"));

    let bad = refused(
        verifier
            .authenticate(Some("Bearer not-a-jws".into()), Some("/x".into()))
            .wait()
            .unwrap(),
    );
    assert_eq!((bad.status(), bad.code()), (401, "invalid_token"));
    assert!(
        bad.headers().iter().any(
            |(n, v)| n == "www-authenticate" && v.starts_with("Bearer error=\"invalid_token\"")
        )
    );

    agent.release().wait().unwrap();
    let released = refused(verifier.verify_token(agent.access_token()).wait().unwrap());
    assert_eq!(released.status(), 401);
    assert!(support::unreleased(&broker).is_empty());
}

#[test]
fn a_dead_broker_is_a_503_never_a_pass() {
    let (broker, id, secret) = support::broker();
    let app = App::new(
        Flavour::Blocking,
        broker.url(),
        &id,
        &secret,
        &support::settings(10.0),
    )
    .unwrap();
    let agent = app
        .create_agent(AgentRequest::new(
            "orch",
            "dead",
            vec!["read:data:x".into()],
        ))
        .wait()
        .unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let verifier = Verifier::new(ServiceOptions::broker(&closed)).unwrap();
    let r = refused(verifier.verify_token(agent.access_token()).wait().unwrap());
    assert_eq!((r.status(), r.code()), (503, "broker_unavailable"));
    assert!(
        r.headers()
            .iter()
            .any(|(n, v)| n == "retry-after" && v == "1")
    );
    agent.release().wait().unwrap();
}

#[test]
fn scope_decisions_are_recorded_as_usage_evidence() {
    let (broker, id, secret) = support::broker();
    let dir = std::env::temp_dir().join(format!(
        "agentwrit-bindings-usage-{}-{}",
        std::process::id(),
        line!()
    ));
    let app = App::new(
        Flavour::Blocking,
        broker.url(),
        &id,
        &secret,
        &support::settings(10.0),
    )
    .unwrap();
    let agent = app
        .create_agent(AgentRequest::new(
            "orch",
            "usage",
            vec!["read:data:customer-7291".into(), "read:analytics:*".into()],
        ))
        .wait()
        .unwrap();
    let verifier = Verifier::new(ServiceOptions {
        usage: Some(UsageOptions {
            service_name: "orders-api".into(),
            dir: dir.clone(),
        }),
        ..ServiceOptions::broker(broker.url())
    })
    .unwrap();
    let claims = accepted(verifier.verify_token(agent.access_token()).wait().unwrap());
    let held = claims.scope.clone();
    assert!(
        verifier
            .check_scopes(
                &claims.jti,
                &held,
                &["read:data:customer-7291".into()],
                None
            )
            .is_ok()
    );
    let denied = verifier
        .check_scopes(
            &claims.jti,
            &held,
            &["read:data:customer-9999".into()],
            Some("/c/9999".into()),
        )
        .unwrap_err();
    assert_eq!(denied.status(), 403);
    let tools = McpToolScopes::new(
        vec![(
            "tenant_report".into(),
            vec!["read:analytics:{tenant}".into()],
        )],
        vec![],
        false,
        None,
    )
    .unwrap();
    let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"bank"}}}"#;
    assert!(
        tools
            .decide(&verifier, call, Some(&claims.jti), &held, None)
            .verdict
            .is_ok()
    );
    verifier.shutdown_usage().unwrap();
    agent.release().wait().unwrap();

    let text: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{text}");
    let record = &records[0];
    assert_eq!(record["service"], "orders-api");
    assert_eq!(record["jti"], claims.jti.as_str());
    assert_eq!(record["task_id"], "usage");
    let uses: Vec<(String, String, u64)> = record["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["scope"].as_str().unwrap().to_owned(),
                s["decision"].as_str().unwrap().to_owned(),
                s["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        uses.contains(&("read:data:customer-7291".into(), "allowed".into(), 1)),
        "{uses:?}"
    );
    assert!(
        uses.contains(&("read:data:customer-9999".into(), "denied".into(), 1)),
        "{uses:?}"
    );
    assert!(
        uses.contains(&("read:analytics:bank".into(), "allowed".into(), 1)),
        "{uses:?}"
    );
    assert!(
        !text.contains(&agent.access_token()),
        "a token in the records"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
