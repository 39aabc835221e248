#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

fn scopes() -> McpScopes {
    McpScopes::builder()
        .tool(
            "get_customer_profile",
            &["read:data:customer-{customer_id}"],
        )
        .tool(
            "write_order",
            &[
                "write:data:order-{order_id}",
                "read:data:customer-{customer_id}",
            ],
        )
        .tool("tenant_report", &["read:analytics:{tenant}"])
        .tool("open_tool", &[] as &[&str])
        .method("resources/read", &["read:docs:{name}"])
        .build()
        .unwrap()
}

fn call(tool: &str, args: &Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": args},
    }))
    .unwrap()
}

fn detail(r: Result<Vec<String>, Rejection>) -> (u16, String) {
    let r = r.unwrap_err();
    (r.status().as_u16(), r.detail().to_owned())
}

#[test]
fn tools_methods_and_other_messages() {
    let s = scopes();

    assert_eq!(
        s.required_scopes(&call(
            "get_customer_profile",
            &serde_json::json!({"customer_id": "cust-7291"})
        ))
        .unwrap(),
        ["read:data:customer-cust-7291"]
    );
    assert_eq!(
        s.required_scopes(&call(
            "write_order",
            &serde_json::json!({"order_id": 4823, "customer_id": "c-1", "x": [1]})
        ))
        .unwrap(),
        ["write:data:order-4823", "read:data:customer-c-1"]
    );
    assert!(
        s.required_scopes(&call("open_tool", &serde_json::json!({})))
            .unwrap()
            .is_empty()
    );
    for other in [
        serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}),
        serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
        serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        serde_json::json!({"jsonrpc":"2.0","id":5,"result":{}}),
    ] {
        let body = serde_json::to_vec(&other).unwrap();
        assert!(s.required_scopes(&body).unwrap().is_empty(), "{other}");
    }
    let read = br#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"name":"faq"}}"#;
    assert_eq!(s.required_scopes(read).unwrap(), ["read:docs:faq"]);
    assert_eq!(
        s.scope_families(),
        [
            "read:analytics:*",
            "read:data:*",
            "read:docs:*",
            "write:data:*"
        ]
    );
}

#[test]
fn values_that_would_change_the_scope_are_refused() {
    let s = scopes();

    for (value, why) in [
        (serde_json::json!("*"), "it contains '*'"),
        (serde_json::json!("cust-*"), "it contains '*'"),
        (serde_json::json!("a:b"), "it contains ':'"),
        (serde_json::json!("cust 7291"), "whitespace"),
        (serde_json::json!("cust\n7291"), "whitespace"),
        (serde_json::json!("caf\u{e9}"), "non-ASCII"),
        (serde_json::json!("a\"b"), "quote"),
        (serde_json::json!(""), "empty"),
        (serde_json::json!("x".repeat(257)), "longer than 256"),
        (serde_json::json!(1.5), "not an integer"),
        (serde_json::json!(true), "not a string or an integer"),
        (serde_json::json!(null), "not a string or an integer"),
        (serde_json::json!({"id": 1}), "not a string or an integer"),
        (serde_json::json!(["a"]), "not a string or an integer"),
    ] {
        let (status, d) = detail(s.required_scopes(&call(
            "get_customer_profile",
            &serde_json::json!({"customer_id": value}),
        )));
        assert_eq!(status, 400, "{value}");
        assert!(d.contains(why), "{value}: {d}");
        assert!(
            d.starts_with("argument customer_id of tool get_customer_profile"),
            "{d}"
        );
    }
    assert!(
        s.required_scopes(&call(
            "get_customer_profile",
            &serde_json::json!({"customer_id": "x".repeat(256)})
        ))
        .is_ok()
    );
    assert!(
        s.required_scopes(&call(
            "get_customer_profile",
            &serde_json::json!({"customer_id": -7})
        ))
        .is_ok()
    );
    let (status, d) =
        detail(s.required_scopes(&call("get_customer_profile", &serde_json::json!({}))));
    assert_eq!(status, 400);
    assert_eq!(
        d,
        "tool get_customer_profile needs argument customer_id to decide its scope"
    );
}

#[test]
fn malformed_bodies_unlisted_tools_and_batches() {
    let s = scopes();
    let cases: &[(&[u8], u16, &str)] = &[
        (b"", 400, "the body is not JSON"),
        (b"{\"jsonrpc\":", 400, "the body is not JSON"),
        (b"42", 400, "not a JSON-RPC message"),
        (b"[]", 400, "an empty JSON-RPC batch"),
        (b"[1]", 400, "batch element is not an object"),
        (br#"{"method":7}"#, 400, "method is not a string"),
        (
            br#"{"method":"tools/call","params":[1]}"#,
            400,
            "params of tools/call are not an object",
        ),
        (
            br#"{"method":"tools/call","params":{}}"#,
            400,
            "without a tool name",
        ),
        (
            br#"{"method":"tools/call","params":{"name":5}}"#,
            400,
            "without a tool name",
        ),
        (
            br#"{"method":"tools/call","params":{"name":"write_order","arguments":"x"}}"#,
            400,
            "arguments of tool write_order are not an object",
        ),
        (
            br#"{"method":"tools/call","params":{"name":"rm_rf"}}"#,
            403,
            "tool rm_rf has no scope requirement configured",
        ),
    ];
    for (body, status, text) in cases {
        let (got, d) = detail(s.required_scopes(body));
        assert_eq!(got, *status, "{}", String::from_utf8_lossy(body));
        assert!(d.contains(text), "{}: {d}", String::from_utf8_lossy(body));
    }
    // A parse error is JSON-RPC's -32700, other 400s -32600.
    let parse = s.required_scopes(b"nope").unwrap_err();
    let v: Value = serde_json::from_slice(&parse.jsonrpc_body(None)).unwrap();
    assert_eq!(v["error"]["code"], -32700);
    let shape = s.required_scopes(b"42").unwrap_err();
    let v: Value = serde_json::from_slice(&shape.jsonrpc_body(None)).unwrap();
    assert_eq!(v["error"]["code"], -32600);
    // Unlisted tools can be opened explicitly.
    let open = McpScopes::builder().allow_unlisted_tools().build().unwrap();
    assert!(
        open.required_scopes(br#"{"method":"tools/call","params":{"name":"rm_rf"}}"#)
            .unwrap()
            .is_empty()
    );
    // Batches: the union, and one refusal refuses all.
    let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"bank"}}},
                     {"jsonrpc":"2.0","id":2,"method":"tools/list"},
                     {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"retail"}}},
                     {"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"bank"}}}]"#;
    assert_eq!(
        s.required_scopes(batch).unwrap(),
        ["read:analytics:bank", "read:analytics:retail"]
    );
    let (id, verdict) = s.authorize_with_id(batch, &["read:analytics:bank"]);
    assert_eq!(id, None);
    assert_eq!(
        verdict.unwrap_err().required_scope(),
        Some("read:analytics:bank read:analytics:retail")
    );
    assert!(s.authorize(batch, &["read:analytics:*"]).is_ok());
    let mixed = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"*"}}}]"#;
    assert_eq!(detail(s.required_scopes(mixed)).0, 400);
}

#[test]
fn the_body_limit_is_exact() {
    let s = McpScopes::builder()
        .max_body_bytes(16)
        .allow_unlisted_tools()
        .build()
        .unwrap();
    assert!(s.required_scopes(br#"{"method":"xyz"}"#).is_ok()); // 16 bytes
    let r = s.required_scopes(br#"{"method":"xyzw"}"#).unwrap_err();
    assert_eq!(r.status(), 413);
    assert_eq!(r.detail(), "the request body exceeds 16 bytes");
}

#[test]
fn the_id_comes_back_for_a_single_request() {
    let s = scopes();
    let (id, verdict) = s.authorize_with_id(
        &call("tenant_report", &serde_json::json!({"tenant": "bank"})),
        &["read:analytics:retail"],
    );
    assert_eq!(id, Some(serde_json::json!(1)));
    assert_eq!(verdict.unwrap_err().status(), 403);
}

#[test]
fn bad_templates_are_configuration_errors() {
    for bad in [
        "read-data-{x}",
        "read:data:{",
        "read:data:}",
        "read:data:{}",
        "read:data:{a-b}",
        "read::{x}",
        "",
    ] {
        let err = McpScopes::builder().tool("t", &[bad]).build().unwrap_err();
        assert!(
            matches!(err, ConfigError::ScopeTemplate(_)),
            "{bad}: {err:?}"
        );
    }
    let err = McpScopes::builder()
        .method("tools/call", &["a:b:c"])
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("per tool"));
    assert!(
        McpScopes::builder()
            .tool("t", &["{a}:{b}:{c}"])
            .build()
            .is_ok()
    );
}

#[test]
fn a_detail_never_echoes_an_unbounded_or_unprintable_name() {
    let s = scopes();
    let long = "t".repeat(10_000);
    let body = call(&format!("{long}\u{7}"), &serde_json::json!({}));
    let (_, d) = detail(s.required_scopes(&body));
    assert!(d.len() < 200, "{d}");
    assert!(d.is_ascii());
}
