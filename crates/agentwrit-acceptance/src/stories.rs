//! The stories: the official SDK's fifteen acceptance stories and ours.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use agentwrit_core::scope::scope_is_subset;
use agentwrit_core::wire::{
    AuditQuery, CreateAppRequest, ErrorCode, LaunchTokenRequest, RevocationLevel, UpdateAppRequest,
};
use agentwrit_core::{AgentOptions, Error, ReleaseOutcome, RetryPolicy, TransportFailure};

use crate::{AgentApi, DelegatedApi, Env, Sdk, unique};

fn setup<S: Sdk>() -> (Env, S::App) {
    let env = Env::new::<S>();
    let app = S::app(&env.url, &env.client_id, &env.client_secret).unwrap();
    (env, app)
}

fn token_of<S: Sdk>(agent: &S::Agent) -> String {
    agent.access_token().expose_secret().to_owned()
}

fn is_valid<S: Sdk>(app: &S::App, token: &str) -> bool {
    S::validate(app, token).unwrap().is_valid()
}

/// Polls until `token` no longer validates (a release spawned on a
/// runtime by a dropped guard completes on its own schedule).
fn eventually_dead<S: Sdk>(app: &S::App, token: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !is_valid::<S>(app, token) {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// Story 1: Create an agent: SPIFFE id, scope, expiry and jti from the token.
pub fn create_agent<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let agent = S::create_agent(&app, "orch-1", "task-1", &["read:data:customer-7291"]).unwrap();
    assert!(
        agent
            .agent_id()
            .starts_with("spiffe://agentwrit.local/agent/orch-1/task-1/")
    );
    assert_eq!(agent.scope(), ["read:data:customer-7291"]);
    assert_eq!(agent.expires_in(), Duration::from_secs(300));
    assert_eq!(agent.task_id(), "task-1");
    assert_eq!(agent.orch_id(), "orch-1");
    assert_eq!(agent.jti().len(), 32);
    let header = agent.bearer_header_value().unwrap();
    assert!(header.is_sensitive());
    assert!(header.to_str().unwrap().starts_with("Bearer ey"));
    S::release(&agent).unwrap();
}

/// Story 2: Renew: new token, same id, old token dead.
pub fn renew<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let agent = S::create_agent(&app, "orch", "renew", &["read:data:*"]).unwrap();
    let (old_token, old_jti, id) = (token_of::<S>(&agent), agent.jti(), agent.agent_id());
    S::renew(&agent).unwrap();
    assert_ne!(token_of::<S>(&agent), old_token);
    assert_ne!(agent.jti(), old_jti);
    assert_eq!(agent.agent_id(), id);
    assert!(!is_valid::<S>(&app, &old_token), "the old token is revoked");
    assert!(is_valid::<S>(&app, &token_of::<S>(&agent)));
    S::release(&agent).unwrap();
}

/// Story 3: Release: dead at the broker; a second release is safe and local.
pub fn release<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let agent = S::create_agent(&app, "orch", "release", &["read:data:*"]).unwrap();
    let token = token_of::<S>(&agent);
    assert_eq!(S::release(&agent).unwrap(), ReleaseOutcome::Released);
    assert!(agent.is_released());
    assert!(!is_valid::<S>(&app, &token));
    assert_eq!(S::release(&agent).unwrap(), ReleaseOutcome::AlreadyDead);
    // A clone sees the same state.
    assert!(agent.clone().is_released());
}

/// Story 4: Validate a live token: every claim.
pub fn validate_live_claims<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let agent =
        S::create_agent(&app, "orch-v", "task-v", &["read:data:x", "write:data:x"]).unwrap();
    let validation = S::validate(&app, &token_of::<S>(&agent)).unwrap();
    let claims = validation.claims().expect("valid");
    assert_eq!(claims.sub, agent.agent_id());
    assert_eq!(claims.scope, ["read:data:x", "write:data:x"]);
    assert_eq!(claims.task_id.as_deref(), Some("task-v"));
    assert_eq!(claims.orch_id.as_deref(), Some("orch-v"));
    assert_eq!(claims.jti, agent.jti());
    assert_eq!(claims.exp - claims.iat, 300);
    // The free function and the app agree.
    assert_eq!(
        S::validate_free(&_env.url, &token_of::<S>(&agent))
            .unwrap()
            .claims(),
        Some(claims)
    );
    S::release(&agent).unwrap();
}

/// Story 5: Delegate a narrower scope.
pub fn delegate_narrower<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let a = S::create_agent(&app, "orch", "a", &["read:data:*"]).unwrap();
    let b = S::create_agent(&app, "orch", "b", &["read:data:*"]).unwrap();
    let d = S::delegate(
        &a,
        &b.agent_id(),
        &["read:data:reports"],
        Some(Duration::from_secs(120)),
    )
    .unwrap();
    assert_eq!(d.subject(), b.agent_id());
    assert_eq!(d.scope(), ["read:data:reports"]);
    assert_eq!(d.expires_in(), Duration::from_secs(120));
    assert_eq!(d.delegation_chain().len(), 1);
    assert_eq!(d.delegation_chain()[0].agent, a.agent_id());
    assert!(is_valid::<S>(&app, d.access_token().expose_secret()));
}

/// Story 6: Delegate beyond scope: 403 with the full ProblemDetail.
pub fn delegate_beyond_scope<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let a = S::create_agent(&app, "orch", "a", &["read:data:reports"]).unwrap();
    let b = S::create_agent(&app, "orch", "b", &["read:data:*"]).unwrap();
    let err = S::delegate(&a, &b.agent_id(), &["write:data:reports"], None).unwrap_err();
    assert!(
        matches!(err, Error::Authorization { status: 403, .. }),
        "{err:?}"
    );
    let problem = err.problem().unwrap();
    assert_eq!(problem.status, 403);
    assert_eq!(problem.code(), Some(ErrorCode::ScopeViolation));
    assert!(!problem.detail.is_empty());
    assert!(problem.request_id.is_some());
}

/// Story 7: A → B → C with the SDK alone: scope narrows each hop, the chain
/// is recorded.
pub fn chain_a_b_c<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let a = S::create_agent(&app, "orch", "a", &["read:data:*", "write:data:*"]).unwrap();
    let b = S::create_agent(&app, "orch", "b", &["read:data:*"]).unwrap();
    let c = S::create_agent(&app, "orch", "c", &["read:data:*"]).unwrap();
    let ab = S::delegate(&a, &b.agent_id(), &["read:data:*"], None).unwrap();
    let bc = S::delegate_from(&ab, &c.agent_id(), &["read:data:customer-7291"], None).unwrap();
    assert_eq!(bc.subject(), c.agent_id());
    assert_eq!(bc.scope(), ["read:data:customer-7291"]);
    let chain: Vec<&str> = bc
        .delegation_chain()
        .iter()
        .map(|r| r.agent.as_str())
        .collect();
    assert_eq!(chain, [a.agent_id(), b.agent_id()]);
    assert!(
        bc.claims()
            .chain_hash
            .as_deref()
            .is_some_and(|h| h.len() == 64)
    );
    // C cannot widen what B gave it.
    let err = S::delegate_from(&bc, &a.agent_id(), &["read:data:*"], None).unwrap_err();
    assert_eq!(err.status(), Some(403));
}

/// Story 8: Same-scope delegation is allowed.
pub fn same_scope_delegation<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let a = S::create_agent(&app, "orch", "a", &["read:data:x"]).unwrap();
    let b = S::create_agent(&app, "orch", "b", &["read:data:*"]).unwrap();
    let d = S::delegate(&a, &b.agent_id(), &["read:data:x"], None).unwrap();
    assert_eq!(d.scope(), ["read:data:x"]);
}

/// Story 9: Scope gating with the validated claims.
pub fn scope_gating<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let agent = S::create_agent(
        &app,
        "orch",
        "gate",
        &["read:data:customer-7291", "write:data:order-4823"],
    )
    .unwrap();
    let v = S::validate(&app, &token_of::<S>(&agent)).unwrap();
    let held = &v.claims().unwrap().scope;
    assert!(scope_is_subset(&["read:data:customer-7291"], held));
    assert!(scope_is_subset(&["write:data:order-4823"], held));
    assert!(!scope_is_subset(&["read:data:customer-9999"], held));
    assert!(!scope_is_subset(&["delete:data:customer-7291"], held));
    assert!(v.allows(&["read:data:customer-7291"]));
    assert!(!v.allows(&["read:analytics:customer-7291"]));
}

/// Story 10: Natural expiry with a short TTL.
pub fn natural_expiry<S: Sdk>() {
    let (env, app) = setup::<S>();
    let agent = S::create_agent_with(
        &app,
        "orch",
        "short",
        &["read:data:*"],
        AgentOptions::new().with_max_ttl(Duration::from_secs(2)),
    )
    .unwrap();
    assert_eq!(agent.expires_in(), Duration::from_secs(2));
    let token = token_of::<S>(&agent);
    assert!(is_valid::<S>(&app, &token));
    env.advance(Duration::from_secs(3));
    assert!(!is_valid::<S>(&app, &token));
    // Releasing a token that expired counts as released.
    assert_eq!(S::release(&agent).unwrap(), ReleaseOutcome::AlreadyDead);
}

/// Story 11: RFC 7807 fields on a broker rejection.
pub fn problem_details<S: Sdk>() {
    let (env, _app) = setup::<S>();
    let bad = S::app(&env.url, &env.client_id, "wrong-secret").unwrap();
    let err = S::create_agent(&bad, "orch", "task", &["read:data:*"]).unwrap_err();
    assert_eq!(err.status(), Some(401));
    let p = err.problem().unwrap();
    assert_eq!(p.problem_type, "urn:agentwrit:error:unauthorized");
    assert_eq!(p.title, "Unauthorized");
    assert_eq!(p.status, 401);
    assert_eq!(p.detail, "Authentication failed");
    assert_eq!(p.instance, "/v1/app/auth");
    assert_eq!(p.code(), Some(ErrorCode::Unauthorized));
    assert!(err.request_id().is_some_and(|id| id.len() == 16));
    // Beyond the app's ceiling: 403 at the launch-token step.
    let (_env2, app) = setup::<S>();
    let err = S::create_agent(&app, "orch", "task", &["admin:everything:*"]).unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.problem().unwrap().instance.ends_with("/launch-tokens"));
}

/// Story 12: Three agents are isolated: distinct ids, tokens and scopes.
pub fn three_agents_isolated<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let agents: Vec<S::Agent> = (0..3)
        .map(|i| {
            S::create_agent(
                &app,
                "orch",
                &format!("t{i}"),
                &[&format!("read:data:c{i}") as &str],
            )
            .unwrap()
        })
        .collect();
    let ids: HashSet<String> = agents.iter().map(|a| a.agent_id()).collect();
    assert_eq!(ids.len(), 3);
    S::release(&agents[1]).unwrap();
    assert!(is_valid::<S>(&app, &token_of::<S>(&agents[0])));
    assert!(!is_valid::<S>(&app, &token_of::<S>(&agents[1])));
    assert!(is_valid::<S>(&app, &token_of::<S>(&agents[2])));
    let v = S::validate(&app, &token_of::<S>(&agents[2])).unwrap();
    assert!(!v.allows(&["read:data:c0"]));
}

/// Story 13: Renew after release fails locally, without a request.
pub fn renew_after_release<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let agent = S::create_agent(&app, "orch", "t", &["read:data:*"]).unwrap();
    S::release(&agent).unwrap();
    let err = S::renew(&agent).unwrap_err();
    assert!(matches!(err, Error::Released), "{err:?}");
    let b = S::create_agent(&app, "orch", "b", &["read:data:*"]).unwrap();
    let err = S::delegate(&agent, &b.agent_id(), &["read:data:*"], None).unwrap_err();
    assert!(matches!(err, Error::Released), "{err:?}");
}

/// Story 14: Garbage tokens: valid = false, no error.
pub fn garbage_tokens<S: Sdk>() {
    let (env, app) = setup::<S>();
    for garbage in [
        "not-a-jwt",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "Bearer x",
        "\u{1F600}",
    ] {
        let v = S::validate(&app, garbage).unwrap();
        assert!(!v.is_valid(), "{garbage}");
        assert!(!S::validate_free(&env.url, garbage).unwrap().is_valid());
    }
    // An empty token is refused locally.
    assert!(S::validate(&app, "").is_err());
}

/// Story 15: Health.
pub fn health<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let h = S::health(&app).unwrap();
    assert_eq!(h.status, "ok");
    assert!(!h.version.is_empty());
}

/// 64 workers share one App against the broker's real app-auth rate
/// limit (3 quick logins): one login, zero 429s, 64 distinct ids.
pub fn shared_app_under_rate_limits<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let results = S::concurrent_lifecycles(&app, 64);
    let ids: HashSet<String> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(ids.len(), 64);
}

/// `with_agent` releases when the work fails.
pub fn scoped_release_on_error<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let (token, err) = S::with_agent_failing(&app, "orch", "fails", &["read:data:*"]);
    assert!(err.to_string().contains("failed on purpose"));
    assert!(!token.is_empty());
    assert!(!is_valid::<S>(&app, &token));
}

/// `with_agent` releases when the work panics.
pub fn scoped_release_on_panic<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let token = S::with_agent_panicking(&app, "orch", "panics", &["read:data:*"]);
    assert!(!token.is_empty());
    assert!(eventually_dead::<S>(&app, &token));
}

/// Operator: apps CRUD, admin launch tokens, revoke at all four levels,
/// audit events.
pub fn operator_flows<S: Sdk>() {
    let (env, app) = setup::<S>();
    let op = S::operator(&env.url, &env.admin_secret).unwrap();
    let name = format!("ops-{}", unique());
    let created = S::create_app(
        &op,
        CreateAppRequest::new(name.clone(), vec!["read:data:*".into()]),
    )
    .unwrap();
    assert!(created.client_secret.is_some());
    assert!(
        S::list_apps(&op)
            .unwrap()
            .apps
            .iter()
            .any(|a| a.app_id == created.app_id)
    );
    assert_eq!(S::get_app(&op, &created.app_id).unwrap().name, name);
    let updated = S::update_app(
        &op,
        &created.app_id,
        UpdateAppRequest::new().token_ttl(std::time::Duration::from_secs(600)),
    )
    .unwrap();
    assert_eq!(updated.token_ttl, 600);
    let lt = S::admin_launch_token(
        &op,
        LaunchTokenRequest::new("ops-agent", vec!["read:data:*".into()]),
    )
    .unwrap();
    assert_eq!(lt.launch_token.expose_secret().len(), 64);

    // Revoke at each level.
    let t = S::create_agent(&app, "orch-r", "task-token", &["read:data:*"]).unwrap();
    S::revoke(&op, RevocationLevel::Token, &t.jti()).unwrap();
    assert!(!is_valid::<S>(&app, &token_of::<S>(&t)));
    let a = S::create_agent(&app, "orch-r", "task-agent", &["read:data:*"]).unwrap();
    S::revoke(&op, RevocationLevel::Agent, &a.agent_id()).unwrap();
    assert!(!is_valid::<S>(&app, &token_of::<S>(&a)));
    let k = S::create_agent(&app, "orch-r", "task-task", &["read:data:*"]).unwrap();
    S::revoke(&op, RevocationLevel::Task, "task-task").unwrap();
    assert!(!is_valid::<S>(&app, &token_of::<S>(&k)));
    let root = S::create_agent(&app, "orch-r", "task-chain", &["read:data:*"]).unwrap();
    let leaf = S::create_agent(&app, "orch-r", "task-leaf", &["read:data:*"]).unwrap();
    let d = S::delegate(&root, &leaf.agent_id(), &["read:data:*"], None).unwrap();
    S::revoke(&op, RevocationLevel::Chain, &root.agent_id()).unwrap();
    assert!(!is_valid::<S>(&app, d.access_token().expose_secret()));
    // A revoked agent's release counts as already dead.
    assert_eq!(S::release(&t).unwrap(), ReleaseOutcome::AlreadyDead);

    let events = S::audit_all(&op, AuditQuery::new().event_type("token_revoked").limit(2)).unwrap();
    assert!(events.len() >= 4, "{} revocations audited", events.len());
    let deleted = S::delete_app(&op, &created.app_id).unwrap();
    assert!(deleted.deregistered_at.is_some() || deleted.status == "inactive");
}

/// No secret in any `{:?}` or `{}` of the SDK's values and errors.
pub fn secrets_never_in_debug<S: Sdk>() {
    let (env, app) = setup::<S>();
    let op = S::operator(&env.url, &env.admin_secret).unwrap();
    let a = S::create_agent(&app, "orch", "a", &["read:data:*"]).unwrap();
    let b = S::create_agent(&app, "orch", "b", &["read:data:*"]).unwrap();
    let d = S::delegate(&a, &b.agent_id(), &["read:data:x"], None).unwrap();
    let bad = S::app(&env.url, &env.client_id, "wrong-secret-value").unwrap();
    let err = S::create_agent(&bad, "orch", "t", &["read:data:*"]).unwrap_err();
    let rendered = format!(
        "{app:?} {op:?} {a:?} {b:?} {d:?} {err:?} {err} {:?} {:?}",
        a.access_token(),
        S::validate(&app, &token_of::<S>(&a)).unwrap()
    );
    let delegated = d.access_token();
    let secrets = [
        env.client_secret.as_str(),
        env.admin_secret.expose_secret(),
        "wrong-secret-value",
        &token_of::<S>(&a),
        &token_of::<S>(&b),
        delegated.expose_secret(),
    ];
    for secret in secrets {
        assert!(
            !rendered.contains(secret),
            "a secret leaked into: {rendered}"
        );
        // Not even the signature part of a token.
        if let Some(sig) = secret.rsplit('.').next().filter(|s| s.len() > 20) {
            assert!(!rendered.contains(sig));
        }
    }
}

/// Bad input is refused before anything is sent, naming the culprit.
pub fn invalid_input_is_local<S: Sdk>() {
    let (_env, app) = setup::<S>();
    let cases: [(&str, &str, &[&str], &str); 4] = [
        ("", "t", &["read:data:*"], "orch_id"),
        ("o", "t", &["read:data"], "scope[0]"),
        ("o", "t", &["read:data:x", "::"], "scope[1]"),
        ("o", "t", &[], "scope"),
    ];
    for (orch, task, scope, culprit) in cases {
        let err = S::create_agent(&app, orch, task, scope).unwrap_err();
        match err {
            Error::InvalidInput { field, .. } => {
                assert_eq!(field, culprit)
            }
            other => panic!("expected InvalidInput for {culprit}, got {other:?}"),
        }
    }
    assert!(S::app("not a url", "id", "secret").is_err());
    assert!(S::app("http://127.0.0.1:1", "", "secret").is_err());
}

/// Opt-in auto-renewal renews before expiry and stops on release.
pub fn auto_renewal<S: Sdk>() {
    let (_env, app) = setup::<S>();
    // A 2 s token renews at 1.6 s: real time, short TTL.
    let agent = S::create_agent_with(
        &app,
        "orch",
        "long",
        &["read:data:*"],
        AgentOptions::new()
            .with_max_ttl(Duration::from_secs(2))
            .with_auto_renew(true),
    )
    .unwrap();
    let first = agent.jti();
    let deadline = Instant::now() + Duration::from_secs(15);
    while agent.jti() == first && Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_ne!(agent.jti(), first, "auto-renewal renewed the token");
    assert!(is_valid::<S>(&app, &token_of::<S>(&agent)));
    S::release(&agent).unwrap();
    let renewals = S::stop_auto_renewal(&agent)
        .expect("it was running")
        .unwrap();
    assert!(renewals >= 1);
    assert!(!is_valid::<S>(&app, &token_of::<S>(&agent)));
}

/// A 401 on the cached app token (the operator revoked it) makes the App
/// log in again and retry, once.
pub fn revoked_session_reauthenticates<S: Sdk>() {
    let (env, app) = setup::<S>();
    let first = S::create_agent(&app, "orch", "t1", &["read:data:*"]).unwrap();
    let op = S::operator(&env.url, &env.admin_secret).unwrap();
    // Revoke the app's cached session token, as an operator might.
    let jti = S::app_session_jti(&app).expect("the app has a session");
    S::revoke(&op, RevocationLevel::Token, &jti).unwrap();
    let second = S::create_agent(&app, "orch", "t2", &["read:data:*"]).unwrap();
    assert_ne!(first.agent_id(), second.agent_id());
    assert_ne!(S::app_session_jti(&app).unwrap(), jti, "a new session");
}

/// A dead broker is a transport error, quickly, not a hang.
pub fn dead_broker_is_a_transport_error<S: Sdk>() {
    // Bind then drop a listener: nothing listens on that port now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let app = S::app_with_retry(&url, "id", "secret", RetryPolicy::none()).unwrap();
    let err = S::health(&app).unwrap_err();
    match &err {
        Error::Transport { kind, .. } => assert_eq!(*kind, TransportFailure::Connect),
        other => panic!("expected a transport error, got {other:?}"),
    }
    // The refused connection itself is reachable through the source chain.
    let mut source = std::error::Error::source(&err);
    let mut io = None;
    while let Some(cause) = source {
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            io = Some(e.kind());
        }
        source = cause.source();
    }
    assert_eq!(
        io,
        Some(std::io::ErrorKind::ConnectionRefused),
        "no io::Error in the chain of {err:?}"
    );
    let err = S::create_agent(&app, "o", "t", &["read:data:*"]).unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}
