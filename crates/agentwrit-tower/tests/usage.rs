//! Scope-usage recording through the layers: `RequireScopes`,
//! `AgentClaims::require` and the MCP layer's per-tool scopes all record
//! their decisions; without `record_usage` nothing is recorded; the
//! counters see tokens the layer never accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use agentwrit_core::Clock as _;
use agentwrit_tower::usage::{Decision, MemorySink, Recorder, UsageRecord};
use agentwrit_tower::{AgentAuth, AgentClaims, McpScopes};
use axum::Router;
use axum::routing::post;
use support::*;

fn recorder(env: &Env, sink: &MemorySink) -> Recorder {
    let clock = env.clk();
    Recorder::builder()
        .service_name("tower-tests")
        .clock(move || clock.now())
        .sink(sink.clone())
        .build()
        .unwrap()
}

fn uses(record: &UsageRecord) -> Vec<(String, Decision, u64)> {
    let mut v: Vec<_> = record
        .scopes
        .iter()
        .map(|s| (s.scope.clone(), s.decision, s.count))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn route_and_handler_checks_are_recorded() {
    let env = env();
    let sink = MemorySink::new();
    let recorder = recorder(&env, &sink);
    let auth = AgentAuth::broker(env.broker.url())
        .clock(env.clk())
        .max_staleness(Duration::ZERO)
        .public_path("/healthz")
        .record_usage(recorder.clone())
        .build()
        .unwrap();
    let base = serve(service(&auth)).await;
    let agent = env
        .app
        .create_agent(
            "orch",
            "task-1",
            &["read:data:customer-7291", "write:data:order-1"],
        )
        .await
        .unwrap();
    let bearer = format!("Bearer {}", agent.access_token().expose_secret());
    assert_eq!(
        call(&base, "GET", "/customers/7291", Some(&bearer))
            .await
            .status,
        200
    );
    assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 200);
    assert_eq!(
        call(&base, "GET", "/customers/1", Some(&bearer))
            .await
            .status,
        403
    );
    assert_eq!(call(&base, "GET", "/healthz", None).await.status, 200);
    assert_eq!(call(&base, "GET", "/customers/1", None).await.status, 401);
    assert_eq!(
        call(&base, "GET", "/customers/1", Some("Bearer a.b.c"))
            .await
            .status,
        401
    );
    recorder.flush().unwrap();

    let records = sink.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.jti, agent.claims().jti);
    assert_eq!((r.requests, r.task_id.as_deref()), (3, Some("task-1")));
    assert_eq!(r.granted, ["read:data:customer-7291", "write:data:order-1"]);
    assert_eq!(
        uses(r),
        [
            ("read:data:customer-1".to_owned(), Decision::Denied, 1),
            ("read:data:customer-7291".to_owned(), Decision::Allowed, 2),
        ]
    );
    let c = recorder.counters();
    assert_eq!(
        (c.requests_allowed, c.checks_allowed, c.checks_denied),
        (3, 2, 1)
    );
    assert_eq!((c.missing_token, c.refused_unknown), (1, 1));
    agent.release().await.unwrap();
}

#[tokio::test]
async fn without_record_usage_nothing_is_recorded() {
    let env = env();
    let sink = MemorySink::new();
    let recorder = recorder(&env, &sink);
    let auth = AgentAuth::broker(env.broker.url()).build().unwrap();
    let base = serve(service(&auth)).await;
    let agent = env
        .app
        .create_agent("orch", "task-2", &["read:data:customer-7291"])
        .await
        .unwrap();
    let bearer = format!("Bearer {}", agent.access_token().expose_secret());
    assert_eq!(
        call(&base, "GET", "/customers/7291", Some(&bearer))
            .await
            .status,
        200
    );
    recorder.flush().unwrap();
    assert!(sink.records().is_empty());
    assert_eq!(recorder.counters().requests_allowed, 0);
    agent.release().await.unwrap();
}

#[tokio::test]
async fn mcp_tool_scopes_are_recorded() {
    let env = env();
    let sink = MemorySink::new();
    let recorder = recorder(&env, &sink);
    let auth = AgentAuth::broker(env.broker.url())
        .clock(env.clk())
        .max_staleness(Duration::ZERO)
        .record_usage(recorder.clone())
        .build()
        .unwrap();
    let scopes = McpScopes::builder()
        .tool(
            "get_customer_profile",
            &["read:data:customer-{customer_id}"],
        )
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/mcp",
            post(|claims: AgentClaims| async move { claims.sub().to_owned() }),
        )
        .layer(auth.mcp_layer(scopes));
    let base = serve(app).await;
    let agent = env
        .app
        .create_agent("orch", "task-3", &["read:data:customer-7"])
        .await
        .unwrap();
    let bearer = format!("Bearer {}", agent.access_token().expose_secret());
    for (customer, status) in [("7", 200), ("8", 403), ("7", 200)] {
        let body = serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_customer_profile", "arguments": {"customer_id": customer}},
        });
        let reply = client()
            .post(format!("{base}/mcp"))
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), status);
    }
    recorder.shutdown().unwrap();
    let records = sink.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].requests, 3);
    assert_eq!(
        uses(&records[0]),
        [
            ("read:data:customer-7".to_owned(), Decision::Allowed, 2),
            ("read:data:customer-8".to_owned(), Decision::Denied, 1),
        ]
    );
    agent.release().await.unwrap();
}
