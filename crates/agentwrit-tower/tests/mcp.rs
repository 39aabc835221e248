//! The MCP layer end to end: an axum echo service on 127.0.0.1:0 behind
//! `auth.mcp_layer(..)`, a development broker on a manual clock, real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use agentwrit_tower::{AgentAuth, AgentClaims, McpScopes, ProtectedResource};
use axum::Router;
use axum::routing::{get, post};
use http::HeaderMap;
use support::*;

const RESOURCE: &str = "http://127.0.0.1:1/mcp";
const METADATA: &str = "http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp";

/// `/mcp` echoes what reached it: the body, whether an Authorization
/// header came through, and the verified subject.
fn mcp_app(auth: &AgentAuth) -> Router {
    let scopes = McpScopes::builder()
        .tool(
            "get_customer_profile",
            &["read:data:customer-{customer_id}"],
        )
        .max_body_bytes(4096)
        .build()
        .unwrap();
    Router::new()
        .route(
            "/mcp",
            post(
                |headers: HeaderMap, claims: AgentClaims, body: String| async move {
                    format!(
                        "{}|authorization:{}|{}",
                        claims.sub(),
                        headers.contains_key("authorization"),
                        body
                    )
                },
            )
            .get(|claims: AgentClaims| async move { format!("stream for {}", claims.sub()) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(auth.mcp_layer(scopes))
}

fn auth(env: &Env) -> AgentAuth {
    AgentAuth::broker(env.broker.url())
        .clock(env.clk())
        .max_staleness(std::time::Duration::ZERO)
        .public_path("/healthz")
        .protected_resource(
            ProtectedResource::new(RESOURCE)
                .unwrap()
                .scopes_supported(["read:data:*"]),
        )
        .build()
        .unwrap()
}

async fn post_json(base: &str, bearer: Option<&str>, body: impl Into<reqwest::Body>) -> Reply {
    let mut req = client()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(b) = bearer {
        req = req.header("authorization", b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Reply {
        status,
        headers,
        body: resp.text().await.unwrap(),
    }
}

fn call(customer: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 42, "method": "tools/call",
        "params": {"name": "get_customer_profile", "arguments": {"customer_id": customer}},
    })
    .to_string()
}

fn jsonrpc(reply: &Reply) -> serde_json::Value {
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "{}",
        reply.body
    );
    serde_json::from_str(&reply.body).unwrap()
}

#[tokio::test]
async fn discovery_challenges_scopes_and_what_reaches_the_service() {
    let env = env();
    let auth = auth(&env);
    let base = serve(mcp_app(&auth)).await;
    let agent = env
        .app
        .create_agent("mcp", "t-1", &["read:data:customer-cust-7291"])
        .await
        .unwrap();
    let bearer = format!("Bearer {}", agent.access_token().expose_secret());

    // Discovery needs no token; the document is the configured one.
    let doc = support::call(
        &base,
        "GET",
        "/.well-known/oauth-protected-resource/mcp",
        None,
    )
    .await;
    assert_eq!(doc.status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&doc.body).unwrap(),
        serde_json::json!({
            "resource": RESOURCE,
            "scopes_supported": ["read:data:*"],
            "bearer_methods_supported": ["header"],
        })
    );

    // No token: 401, bare challenge with resource_metadata, JSON-RPC body.
    let missing = post_json(&base, None, call("cust-7291")).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.headers["www-authenticate"],
        format!(r#"Bearer resource_metadata="{METADATA}""#).as_str()
    );
    let body = jsonrpc(&missing);
    assert_eq!(body["id"], serde_json::Value::Null);
    assert_eq!(body["error"]["code"], -32001);
    assert_eq!(body["error"]["data"]["error_code"], "unauthorized");

    // Allowed: the service gets the exact body, the claims, and no token.
    let ok = post_json(&base, Some(&bearer), call("cust-7291")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.body,
        format!(
            "{}|authorization:false|{}",
            agent.agent_id(),
            call("cust-7291")
        )
    );
    assert!(!ok.body.contains(agent.access_token().expose_secret()));

    // Another customer: 403 with the step-up challenge and the request's id.
    let denied = post_json(&base, Some(&bearer), call("cust-9999")).await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.headers["www-authenticate"],
        format!(
            r#"Bearer error="insufficient_scope", error_description="token lacks required scope: read:data:customer-cust-9999", scope="read:data:customer-cust-9999", resource_metadata="{METADATA}""#
        )
        .as_str()
    );
    let body = jsonrpc(&denied);
    assert_eq!(body["id"], 42);
    assert_eq!(body["error"]["code"], -32003);
    assert_eq!(body["error"]["data"]["instance"], "/mcp");

    // Non-tool messages need only the token; GET (the SSE stream) passes.
    let list = post_json(
        &base,
        Some(&bearer),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .await;
    assert_eq!(list.status, 200);
    let stream = support::call(&base, "GET", "/mcp", Some(&bearer)).await;
    assert_eq!(stream.body, format!("stream for {}", agent.agent_id()));
    assert_eq!(
        support::call(&base, "GET", "/healthz", None).await.body,
        "ok"
    );

    // Unusable bodies: 400 (parse error -32700, bad shape -32600).
    let garbage = post_json(&base, Some(&bearer), "{").await;
    assert_eq!(garbage.status, 400);
    assert_eq!(jsonrpc(&garbage)["error"]["code"], -32700);
    let wild = post_json(&base, Some(&bearer), call("*")).await;
    assert_eq!(wild.status, 400);
    assert_eq!(jsonrpc(&wild)["error"]["code"], -32600);
    assert!(wild.headers.get("www-authenticate").is_none());

    // Over the limit: 413, by Content-Length and while streaming.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(5000)
    );
    let declared = post_json(&base, Some(&bearer), big.clone()).await;
    assert_eq!(declared.status, 413);
    assert_eq!(
        jsonrpc(&declared)["error"]["data"]["error_code"],
        "payload_too_large"
    );
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(1000)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    let streamed = post_json(
        &base,
        Some(&bearer),
        reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    assert_eq!(streamed.status, 413);

    // Released: the next request is refused (max staleness 0).
    agent.release().await.unwrap();
    let dead = post_json(&base, Some(&bearer), call("cust-7291")).await;
    assert_eq!(dead.status, 401);
    let challenge = dead.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{challenge}"
    );
    assert!(challenge.ends_with(&format!(r#"resource_metadata="{METADATA}""#)));
}

#[tokio::test]
async fn the_plain_layer_serves_discovery_and_names_the_metadata_only_when_configured() {
    let env = env();
    let with = auth(&env);
    let base = serve(service(&with)).await;
    let doc = support::call(
        &base,
        "GET",
        "/.well-known/oauth-protected-resource/mcp",
        None,
    )
    .await;
    assert_eq!(doc.status, 200);
    let missing = support::call(&base, "GET", "/customers/1", None).await;
    assert_eq!(
        missing.headers["www-authenticate"],
        format!(r#"Bearer resource_metadata="{METADATA}""#).as_str()
    );
    // Without a protected resource nothing changes.
    let without = AgentAuth::broker(env.broker.url()).build().unwrap();
    let base = serve(service(&without)).await;
    let missing = support::call(&base, "GET", "/customers/1", None).await;
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    let doc = support::call(
        &base,
        "GET",
        "/.well-known/oauth-protected-resource/mcp",
        None,
    )
    .await;
    assert_eq!(doc.status, 401);
}
