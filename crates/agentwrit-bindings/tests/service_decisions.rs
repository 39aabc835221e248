//! The service side every language shares, against the development
//! broker: per-route templates (`ScopeRequirement`), the MCP decision with
//! the request's id (`McpToolScopes::decide`), every `Authorization`
//! value (`authenticate_values`), and the scope-usage records they leave
//! (read back from the JSON Lines file); idempotent shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;

use agentwrit_bindings::{
    AgentRequest, App, Flavour, McpToolScopes, ResourceOptions, ScopeRequirement, ServiceOptions,
    UsageOptions, Verdict, Verifier,
};
use serde_json::{Value, json};
use support::{broker, settings, unreleased};

fn accepted(verdict: Verdict) -> Box<agentwrit_bindings::Claims> {
    match verdict {
        Verdict::Accepted(claims) => claims,
        Verdict::Refused(r) => panic!("refused: {} {}", r.status(), r.detail()),
    }
}

fn refused(verdict: Verdict) -> Box<agentwrit_bindings::Refusal> {
    match verdict {
        Verdict::Refused(r) => r,
        Verdict::Accepted(_) => panic!("accepted"),
    }
}

/// Every record in the JSON Lines files under `dir`.
fn records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        out.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    out
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "agentwrit-bindings-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn route_and_tool_decisions_are_recorded_per_token() {
    let (broker, id, secret) = broker();
    let app = App::new(Flavour::Async, broker.url(), &id, &secret, &settings(10.0)).unwrap();
    let agent = app
        .create_agent(AgentRequest::new(
            "orch-usage",
            "task-usage",
            vec![
                "read:data:customer-cust-7291".into(),
                "write:data:order-ord-1".into(),
                "read:analytics:*".into(),
            ],
        ))
        .wait()
        .unwrap();
    let dir = scratch("usage");
    let verifier = Verifier::new(ServiceOptions {
        max_staleness: Some(std::time::Duration::ZERO),
        resource: Some(ResourceOptions {
            resource: "http://127.0.0.1:9/mcp".into(),
            ..ResourceOptions::default()
        }),
        usage: Some(UsageOptions {
            service_name: "bindings-test".into(),
            dir: dir.clone(),
        }),
        ..ServiceOptions::broker(broker.url())
    })
    .unwrap();
    assert!(verifier.records_usage());
    let header = format!("Bearer {}", agent.access_token());

    // A route: allowed, then denied with the scope it needed.
    let route = ScopeRequirement::new(&["read:data:customer-{customer_id}".into()]).unwrap();
    assert_eq!(route.names(), ["customer_id"]);
    let claims = accepted(
        verifier
            .authenticate(Some(header.clone()), Some("/customers/cust-7291".into()))
            .wait()
            .unwrap(),
    );
    assert_eq!(
        route
            .check(
                &verifier,
                &claims,
                &[("customer_id".into(), "cust-7291".into())],
                None
            )
            .unwrap(),
        ["read:data:customer-cust-7291"]
    );
    // Every value of the header: one is the header, two are refused.
    let claims = accepted(
        verifier
            .authenticate_values(vec![header.clone().into_bytes()], None)
            .wait()
            .unwrap(),
    );
    let two = refused(
        verifier
            .authenticate_values(
                vec![header.clone().into_bytes(), header.clone().into_bytes()],
                None,
            )
            .wait()
            .unwrap(),
    );
    assert_eq!(two.detail(), "more than one authorization header");
    let denied = route
        .check(
            &verifier,
            &claims,
            &[("customer_id".into(), "cust-9999".into())],
            Some("/customers/cust-9999".into()),
        )
        .unwrap_err();
    assert_eq!(
        (denied.status(), denied.code()),
        (403, "insufficient_scope")
    );
    assert_eq!(
        denied.required_scope(),
        Some("read:data:customer-cust-9999")
    );
    assert_eq!(
        denied.resource_metadata(),
        Some("http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp")
    );
    let problem: Value = serde_json::from_slice(&denied.body()).unwrap();
    assert_eq!(problem["instance"], "/customers/cust-9999");
    // A value that would widen the scope: 400, not a decision.
    let wild = route
        .check(
            &verifier,
            &claims,
            &[("customer_id".into(), "*".into())],
            None,
        )
        .unwrap_err();
    assert_eq!((wild.status(), wild.code()), (400, "bad_request"));
    // A placeholder the request has no value for: 500, fail closed.
    let missing = route.check(&verifier, &claims, &[], None).unwrap_err();
    assert_eq!(missing.status(), 500);

    // A tool: allowed through the token's wildcard; another order's
    // refused, naming its scope.
    let tools = McpToolScopes::new(
        vec![
            (
                "tenant_report".into(),
                vec!["read:analytics:{tenant}".into()],
            ),
            (
                "write_order".into(),
                vec!["write:data:order-{order_id}".into()],
            ),
        ],
        vec![],
        false,
        None,
    )
    .unwrap();
    let call = |id: u32, tool: &str, args: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": tool, "arguments": args}})
        .to_string()
    };
    let claims = accepted(verifier.verify_token(agent.access_token()).wait().unwrap());
    let ok = tools.decide(
        &verifier,
        call(1, "tenant_report", json!({"tenant": "bank"})).as_bytes(),
        Some(&claims.jti),
        &claims.scope,
        Some("/mcp".into()),
    );
    assert_eq!(ok.verdict.unwrap(), ["read:analytics:bank"]);
    assert!(ok.id.is_none());
    let claims = accepted(verifier.verify_token(agent.access_token()).wait().unwrap());
    let no = tools.decide(
        &verifier,
        call(7, "write_order", json!({"order_id": "ord-2"})).as_bytes(),
        Some(&claims.jti),
        &claims.scope,
        Some("/mcp".into()),
    );
    assert_eq!(no.id, Some(json!(7)));
    let refusal = no.verdict.unwrap_err();
    assert_eq!(refusal.required_scope(), Some("write:data:order-ord-2"));
    let body: Value = serde_json::from_slice(&refusal.jsonrpc_body(no.id.as_ref())).unwrap();
    assert_eq!(body["id"], 7);
    assert_eq!(body["error"]["data"]["instance"], "/mcp");
    // `initialize` needs nothing beyond the token: nothing recorded.
    let init = tools.decide(
        &verifier,
        br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}"#,
        Some(&claims.jti),
        &claims.scope,
        None,
    );
    assert!(init.verdict.unwrap().is_empty());
    // Without a token id (claims another verifier made) the same decision
    // is made and answered, and nothing is recorded.
    let anonymous = tools.decide(
        &verifier,
        call(8, "write_order", json!({"order_id": "ord-3"})).as_bytes(),
        None,
        &claims.scope,
        None,
    );
    assert_eq!(anonymous.id, Some(json!(8)));
    assert_eq!(
        anonymous.verdict.unwrap_err().required_scope(),
        Some("write:data:order-ord-3")
    );

    // Released: the next request is refused and recorded on the token.
    let token = agent.access_token();
    agent.release().wait().unwrap();
    let after = refused(
        verifier
            .authenticate(Some(format!("Bearer {token}")), None)
            .wait()
            .unwrap(),
    );
    assert_eq!((after.status(), after.code()), (401, "invalid_token"));
    assert!(
        refused(verifier.authenticate(None, None).wait().unwrap()).status() == 401,
        "no token"
    );

    let counters = verifier.usage_counters().unwrap();
    assert_eq!(counters.requests_allowed, 4);
    assert_eq!(counters.refused_revoked, 1);
    // No usable header: none, or two (tower counts both alike).
    assert_eq!(counters.missing_token, 2);
    verifier.flush_usage().unwrap();
    let all = records(&dir);
    assert_eq!(all.len(), 1, "{all:#?}");
    let record = &all[0];
    assert_eq!(record["service"], "bindings-test");
    assert_eq!(record["jti"], claims.jti.as_str());
    assert_eq!(record["task_id"], "task-usage");
    assert_eq!(record["orch_id"], "orch-usage");
    assert_eq!(record["requests"], 4);
    let uses: Vec<(String, String, u64)> = record["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["scope"].as_str().unwrap().to_owned(),
                u["decision"].as_str().unwrap().to_owned(),
                u["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut uses = uses;
    uses.sort();
    assert_eq!(
        uses,
        [
            ("read:analytics:bank".into(), "allowed".into(), 1),
            ("read:data:customer-cust-7291".into(), "allowed".into(), 1),
            ("read:data:customer-cust-9999".into(), "denied".into(), 1),
            ("write:data:order-ord-2".into(), "denied".into(), 1),
        ]
    );
    assert_eq!(record["refused"][0]["reason"], "revoked");
    // Never the token.
    for line in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(line.unwrap().path()).unwrap();
        assert!(!text.contains(&token));
    }
    verifier.shutdown_usage().unwrap();
    // Idempotent, also through the exit hook; verification goes on
    // without recording.
    verifier.shutdown_usage().unwrap();
    agentwrit_bindings::finish_usage().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(unreleased(&broker).is_empty());
}

#[test]
fn a_verifier_without_usage_records_nothing_and_says_so() {
    let verifier = Verifier::new(ServiceOptions::broker("http://127.0.0.1:9")).unwrap();
    assert!(!verifier.records_usage());
    assert!(verifier.usage_counters().is_none());
    verifier.flush_usage().unwrap();
    verifier.shutdown_usage().unwrap();
    let held = vec!["read:data:*".to_owned()];
    assert!(
        verifier
            .check_scopes("j", &held, &["read:data:x".into()], None)
            .is_ok()
    );
    let denied = verifier
        .check_scopes("j", &held, &["write:data:x".into()], Some("/x".into()))
        .unwrap_err();
    assert_eq!(denied.status(), 403);
    assert!(
        denied.headers().iter().any(|(n, v)| n == "www-authenticate"
            && v.starts_with(r#"Bearer error="insufficient_scope""#))
    );
}

#[test]
fn a_usage_directory_that_cannot_be_created_is_an_error() {
    let file = scratch("not-a-dir").join("file");
    std::fs::write(&file, b"x").unwrap();
    let e = Verifier::new(ServiceOptions {
        usage: Some(UsageOptions {
            service_name: "x".into(),
            dir: file.join("sub"),
        }),
        ..ServiceOptions::broker("http://127.0.0.1:9")
    })
    .unwrap_err();
    assert!(e.message().contains("usage"), "{e}");
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
}
