use super::*;

#[test]
fn broker_mode_needs_a_url_and_local_mode_a_good_key() {
    let e = Verifier::new(ServiceOptions::default()).unwrap_err();
    assert!(e.message().contains("broker_url"), "{e}");
    let e = Verifier::new(ServiceOptions {
        keys: vec!["not-base64!".into()],
        ..ServiceOptions::default()
    })
    .unwrap_err();
    assert!(e.message().contains("keys"), "{e}");
    assert!(
        Verifier::new(ServiceOptions {
            keys: vec!["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into()],
            ..ServiceOptions::default()
        })
        .is_ok()
    );
}

#[test]
fn a_missing_header_is_a_bare_challenge_with_the_metadata_url() {
    let verifier = Verifier::new(ServiceOptions {
        resource: Some(ResourceOptions {
            resource: "http://127.0.0.1:9/mcp".into(),
            ..ResourceOptions::default()
        }),
        ..ServiceOptions::broker("http://127.0.0.1:9")
    })
    .unwrap();
    let Verdict::Refused(r) = verifier
        .authenticate(None, Some("/mcp".into()))
        .wait()
        .unwrap()
    else {
        panic!("accepted without a token")
    };
    assert_eq!((r.status(), r.code()), (401, "missing_token"));
    let challenge = r
        .headers()
        .into_iter()
        .find(|(n, _)| n == "www-authenticate")
        .unwrap()
        .1;
    assert_eq!(
        challenge,
        r#"Bearer resource_metadata="http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp""#
    );
    let problem: serde_json::Value = serde_json::from_slice(&r.body()).unwrap();
    assert_eq!(problem["instance"], "/mcp");
    let doc = verifier
        .discovery("GET", "/.well-known/oauth-protected-resource/mcp")
        .unwrap();
    assert_eq!(doc.status, 200);
    assert!(verifier.discovery("GET", "/mcp").is_none());
}

#[test]
fn tool_scopes_refuse_with_the_scope_to_step_up_to() {
    let verifier = Verifier::new(ServiceOptions::broker("http://127.0.0.1:9")).unwrap();
    let scopes = McpToolScopes::new(
        vec![(
            "get_customer_profile".into(),
            vec!["read:data:customer-{customer_id}".into()],
        )],
        vec![],
        false,
        None,
    )
    .unwrap();
    let call = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_customer_profile","arguments":{"customer_id":"cust-7291"}}}"#;
    let allowed = scopes.decide(&verifier, call, None, &["read:data:*".into()], None);
    assert_eq!(allowed.verdict.unwrap(), ["read:data:customer-cust-7291"]);
    assert_eq!(allowed.id, None);
    let denied = scopes.decide(
        &verifier,
        call,
        None,
        &["read:data:customer-cust-9999".into()],
        Some("/mcp".into()),
    );
    assert_eq!(denied.id, Some(serde_json::json!(3)));
    let r = denied.verdict.unwrap_err();
    assert_eq!((r.status(), r.code()), (403, "insufficient_scope"));
    assert_eq!(r.required_scope(), Some("read:data:customer-cust-7291"));
    let body: serde_json::Value =
        serde_json::from_slice(&r.jsonrpc_body(denied.id.as_ref())).unwrap();
    assert_eq!(body["id"], 3);
    assert_eq!(body["error"]["code"], -32003);
    assert_eq!(body["error"]["data"]["instance"], "/mcp");
}
