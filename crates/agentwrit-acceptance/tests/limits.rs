//! The input limits, agreed end to end: every input at its limit yields
//! tokens (the agent's, and each hop of a five-hop delegation chain) that
//! the SDK's own service-side layer accepts; one byte (or one entry) over
//! is `Error::InvalidInput` naming the field, before anything is sent.

use agentwrit_blocking::{
    AgentOptions, App, Error, MAX_DELEGATE_ID_LEN, MAX_LABEL_LEN, MAX_ORCH_ID_LEN, MAX_SCOPE_LEN,
    MAX_SCOPES, MAX_TASK_ID_LEN,
};
use agentwrit_devbroker::DevBroker;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use tower::ServiceExt as _;

/// `n` distinct scopes of exactly `len` bytes under the universal app's
/// `read:data:*` ceiling.
fn scopes(n: usize, len: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let prefix = format!("read:data:{i:02}");
            format!("{prefix}{}", "x".repeat(len - prefix.len()))
        })
        .collect()
}

fn padded(prefix: &str, len: usize) -> String {
    format!("{prefix}{}", "a".repeat(len - prefix.len()))
}

/// Whether the tower layer, validating at `broker`, lets `token` through.
fn layer_accepts(runtime: &tokio::runtime::Runtime, broker: &str, token: &str) -> (u16, String) {
    runtime.block_on(async {
        let auth = agentwrit_tower::AgentAuth::broker(broker).build().unwrap();
        let router: Router = Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(auth.layer());
        let request = http::Request::get("/")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

#[test]
fn every_token_obtained_with_inputs_at_their_limits_passes_the_layer() {
    let broker = DevBroker::builder().no_rate_limits().start().unwrap();
    let reg = broker.register_universal_app().unwrap();
    let app = App::new(
        broker.url(),
        &reg.client_id,
        reg.client_secret.expose_secret(),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let orch = padded("orch-", MAX_ORCH_ID_LEN);
    let scope = scopes(MAX_SCOPES, MAX_SCOPE_LEN);
    let options = || AgentOptions::new().with_label(padded("label-", MAX_LABEL_LEN));
    // Six agents: the first delegates to the second, which delegates on,
    // five hops in all (the broker's limit).
    let agents: Vec<_> = (0..6)
        .map(|i| {
            let task = padded(&format!("task-{i}-"), MAX_TASK_ID_LEN);
            app.create_agent_with(&orch, &task, &scope, options())
                .unwrap()
        })
        .collect();
    for agent in &agents {
        assert!(
            agent.agent_id().len() <= MAX_DELEGATE_ID_LEN,
            "{}",
            agent.agent_id()
        );
    }
    let mut tokens = vec![("agent".to_owned(), agents[0].access_token())];
    let mut hop = agents[0]
        .delegate(&agents[1].agent_id(), &scope, None)
        .unwrap();
    tokens.push(("hop 1".to_owned(), hop.access_token()));
    for (i, next) in agents.iter().enumerate().skip(2) {
        hop = hop.delegate(&next.agent_id(), &scope, None).unwrap();
        tokens.push((format!("hop {i}"), hop.access_token()));
    }
    assert_eq!(hop.delegation_chain().len(), 5);
    for (what, token) in &tokens {
        let token = token.expose_secret();
        assert!(
            token.len() <= agentwrit_tower::MAX_TOKEN_LEN,
            "{what}: {} bytes",
            token.len()
        );
        let (status, body) = layer_accepts(&runtime, broker.url(), token);
        assert_eq!(status, 200, "{what} ({} bytes): {body}", token.len());
    }
    // The longest of them, for the record (`--nocapture`).
    let longest = tokens
        .iter()
        .map(|(_, t)| t.expose_secret().len())
        .max()
        .unwrap();
    println!("longest token at the limits: {longest} bytes");
}

#[test]
fn one_byte_or_entry_over_a_limit_is_refused_naming_the_field() {
    let broker = DevBroker::start().unwrap();
    let reg = broker.register_universal_app().unwrap();
    let app = App::new(
        broker.url(),
        &reg.client_id,
        reg.client_secret.expose_secret(),
    )
    .unwrap();
    let orch = padded("orch-", MAX_ORCH_ID_LEN);
    let task = padded("task-", MAX_TASK_ID_LEN);
    let scope = scopes(MAX_SCOPES, MAX_SCOPE_LEN);
    let field_of = |result: Result<agentwrit_blocking::Agent, Error>| match result {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    };

    let over_orch = padded("orch-", MAX_ORCH_ID_LEN + 1);
    assert_eq!(
        field_of(app.create_agent(&over_orch, &task, &scope)),
        "orch_id"
    );
    let over_task = padded("task-", MAX_TASK_ID_LEN + 1);
    assert_eq!(
        field_of(app.create_agent(&orch, &over_task, &scope)),
        "task_id"
    );
    let mut over_entry = scope.clone();
    over_entry[3].push('x');
    assert_eq!(
        field_of(app.create_agent(&orch, &task, &over_entry)),
        "scope[3]"
    );
    let over_count = scopes(MAX_SCOPES + 1, MAX_SCOPE_LEN);
    assert_eq!(
        field_of(app.create_agent(&orch, &task, &over_count)),
        "scope"
    );
    let over_label = AgentOptions::new().with_label(padded("label-", MAX_LABEL_LEN + 1));
    assert_eq!(
        field_of(app.create_agent_with(&orch, &task, &scope, over_label)),
        "label"
    );

    // Nothing was sent for any of them: no launch token was minted.
    let operator =
        agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret().clone()).unwrap();
    let events = operator
        .audit_events_all(agentwrit_blocking::wire::AuditQuery::new())
        .unwrap();
    assert!(
        events
            .iter()
            .all(|e| !e.event_type.contains("launch_token")),
        "{events:#?}"
    );

    let agent = app.create_agent(&orch, &task, &scope).unwrap();
    let over_delegate = padded("spiffe://agentwrit.local/agent/", MAX_DELEGATE_ID_LEN + 1);
    match agent.delegate(&over_delegate, &scope[..1], None) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "delegate_to"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    match agent.delegate(&agent.agent_id(), &over_entry, None) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "scope[3]"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    match agent.delegate(&agent.agent_id(), &over_count, None) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "scope"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    agent.release().unwrap();
}
