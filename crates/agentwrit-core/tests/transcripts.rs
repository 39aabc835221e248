//! Transcript tests of every flow `agentwrit-core` exports: a fixed `now`,
//! a fixed key seed, canned responses (the real broker's captured bytes
//! wherever one exists), and exact checks of every outgoing request
//! (method, absolute URI, headers, JSON body) and of the outcome.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentwrit_core::wire::{
    AccessToken, AdminSecret, AuditQuery, ClientSecret, CreateAppRequest, ErrorCode,
    LaunchTokenRequest, ProblemDetail, RevocationLevel, UpdateAppRequest,
};
use agentwrit_core::{
    AdminAuth, AgentCredentials, AgentState, AppAuth, AuditEvents, ClientConfig, CreateAgent,
    CreateAgentRequest, CreateApp, CreateLaunchToken, Delegate, DeleteApp, Error, Flow, GetApp,
    Health, ListApps, Release, ReleaseOutcome, Renew, RetryPolicy, Revoke, SharedAgent,
    SharedSession, Step, TransportFailure, UpdateApp, Validate, Validation, next_audit_page,
};
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::json;
use support::*;

const APP_TOKEN: &str = "app.token.value";
const ADMIN_TOKEN: &str = "admin.token.value";
const AGENT_TOKEN: &str = "agent.token.value";

fn tok(s: &str) -> AccessToken {
    AccessToken::new(s)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The problem a captured problem+json body decodes to.
fn captured_problem(c: &Capture) -> ProblemDetail {
    serde_json::from_str(&c.body).unwrap()
}

/// Credentials for an agent whose token is `token` with `claims`.
fn credentials(token: &str, received_at: SystemTime, expires_in: i64) -> AgentCredentials {
    let mut flow = CreateAgent::new(
        &config(),
        &tok(APP_TOKEN),
        CreateAgentRequest::new("orch-1", "task-1", ["read:data:*"], key()),
    )
    .unwrap();
    let t = drive_at(
        &mut flow,
        received_at,
        answers![
            &capture(26, "POST", "/v1/app/launch-tokens"),
            &capture(2, "GET", "/v1/challenge"),
            ok_json(
                200,
                &json!({
                    "agent_id": "spiffe://agentwrit.local/agent/orch-1/task-1/00112233aabbccdd",
                    "access_token": token,
                    "expires_in": expires_in,
                })
            ),
        ],
    );
    t.end.ok()
}

fn agent_token(jti: &str, ttl: i64) -> String {
    jwt(&agent_claims(
        "orch-1",
        "task-1",
        &["read:data:*"],
        jti,
        ttl,
    ))
}

// ------------------------------------------------------------- health --

#[test]
fn health_is_an_unauthenticated_get() {
    let c = capture(1, "GET", "/v1/health");
    let t = drive(&mut Health::new(&config()), answers![&c]);
    assert_eq!(t.sent.len(), 1);
    t.sent[0].check("GET", "/v1/health", None, None);
    let h = t.end.ok();
    assert_eq!(h.status, "ok");
    assert_eq!(h.version, "2.0.0");
    assert!(h.db_connected);
}

// ------------------------------------------------------------ app auth --

#[test]
fn app_auth_sends_the_credentials_and_keeps_the_session() {
    let c = capture(25, "POST", "/v1/app/auth");
    let mut flow =
        AppAuth::new(&config(), "cm-37a7c9c10885", &ClientSecret::new("4ca1b208")).unwrap();
    assert_eq!(flow.name(), "app_auth");
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check(
        "POST",
        "/v1/app/auth",
        None,
        Some(&json!({"client_id": "cm-37a7c9c10885", "client_secret": "4ca1b208"})),
    );
    let s = t.end.ok();
    assert_eq!(s.access_token.expose_secret(), c.json()["access_token"]);
    assert_eq!(s.expires_in, 1800);
    assert_eq!(s.issued_at, now());
    assert_eq!(s.expires_at, now() + Duration::from_secs(1800));
    assert_eq!(
        s.scopes,
        ["app:launch-tokens:*", "app:agents:*", "app:audit:read"]
    );
    // Re-authentication is due once at most 60 s remain.
    assert!(!s.needs_reauth(now()));
    assert!(!s.needs_reauth(now() + Duration::from_secs(1739)));
    assert!(s.needs_reauth(now() + Duration::from_secs(1740)));
    assert!(s.needs_reauth(now() + Duration::from_secs(1800)));
    assert!(!s.is_expired(now() + Duration::from_secs(1799)));
    assert!(s.is_expired(now() + Duration::from_secs(1800)));
}

#[test]
fn app_auth_wrong_secret_is_an_authentication_error_with_the_whole_problem() {
    let c = capture(23, "POST", "/v1/app/auth");
    let mut flow = AppAuth::new(&config(), "cm-37a7c9c10885", &ClientSecret::new("wrong")).unwrap();
    let t = drive(&mut flow, answers![&c]);
    assert_eq!(t.sent.len(), 1, "a 401 is not retried");
    let e = t.end.err();
    assert!(
        matches!(e, Error::Authentication { status: 401, .. }),
        "{e:?}"
    );
    assert_eq!(e.problem(), Some(&captured_problem(&c)));
    assert_eq!(e.error_code(), Some(ErrorCode::Unauthorized));
    assert!(e.request_id().is_some());
    assert!(!e.to_string().contains("wrong"));
}

#[test]
fn app_auth_rate_limited_with_a_long_retry_after_stops_at_once() {
    let c = capture(75, "POST", "/v1/app/auth");
    let mut flow = AppAuth::new(&config(), "cm-37a7c9c10885", &ClientSecret::new("s")).unwrap();
    let t = drive(&mut flow, answers![&c]);
    assert_eq!(t.sent.len(), 1);
    assert!(t.waits.is_empty());
    let e = t.end.err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(60)));
    assert!(matches!(e, Error::RateLimited { status: 429, .. }));
    assert_eq!(e.problem(), Some(&captured_problem(&c)));
    assert!(e.is_retryable());
}

#[test]
fn rate_limited_with_a_short_retry_after_waits_exactly_that_long() {
    let limited = || {
        problem(
            429,
            "rate_limited",
            "rate limit exceeded",
            "/v1/app/auth",
            Some("1"),
        )
    };
    let mut flow = AppAuth::new(&config(), "cm-1", &ClientSecret::new("s")).unwrap();
    let t = drive(&mut flow, answers![limited(), limited(), limited()]);
    assert_eq!(t.sent.len(), 3, "three attempts");
    assert_eq!(t.waits, [at_ms(1000), at_ms(2000)]);
    assert_eq!(t.sent[1].at, at_ms(1000));
    assert_eq!(t.sent[1].body, t.sent[0].body, "the same request again");
    let e = t.end.err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(e.status(), Some(429));

    // Then success on the second attempt.
    let mut flow = AppAuth::new(&config(), "cm-1", &ClientSecret::new("s")).unwrap();
    let t = drive(
        &mut flow,
        answers![limited(), &capture(25, "POST", "/v1/app/auth")],
    );
    assert_eq!(t.sent.len(), 2);
    assert_eq!(t.end.ok().issued_at, at_ms(1000));
}

#[test]
fn rate_limited_without_retry_after_backs_off_exponentially() {
    let limited = || {
        problem(
            429,
            "rate_limited",
            "rate limit exceeded",
            "/v1/app/auth",
            None,
        )
    };
    let mut flow = AppAuth::new(&config(), "cm-1", &ClientSecret::new("s")).unwrap();
    let t = drive(&mut flow, answers![limited(), limited(), limited()]);
    assert_eq!(t.waits, [at_ms(200), at_ms(600)]);
    let e = t.end.err();
    assert!(
        matches!(
            e,
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{e:?}"
    );

    // An HTTP-date Retry-After is measured from `now`.
    let date = "Fri, 15 Jan 2027 08:00:02 GMT"; // 1_800_000_002
    let mut flow = AppAuth::new(&config(), "cm-1", &ClientSecret::new("s")).unwrap();
    let t = drive(
        &mut flow,
        answers![
            problem(429, "rate_limited", "x", "/v1/app/auth", Some(date)),
            &capture(25, "POST", "/v1/app/auth")
        ],
    );
    assert_eq!(t.waits, [at_ms(2000)]);
    t.end.ok();
}

#[test]
fn app_auth_rejects_empty_input_before_sending() {
    let e = AppAuth::new(&config(), "", &ClientSecret::new("s")).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "client_id"),
        "{e}"
    );
    let e = AppAuth::new(&config(), "cm-1", &ClientSecret::new("")).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "client_secret"),
        "{e}"
    );
}

// ---------------------------------------------------------- admin auth --

#[test]
fn admin_auth_reads_the_scopes_from_the_token() {
    let c = capture(6, "POST", "/v1/admin/auth");
    let mut flow = AdminAuth::new(&config(), &AdminSecret::new("s3cr3t")).unwrap();
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check(
        "POST",
        "/v1/admin/auth",
        None,
        Some(&json!({"secret": "s3cr3t"})),
    );
    let s = t.end.ok();
    assert_eq!(s.expires_in, 300);
    assert_eq!(
        s.scopes,
        ["admin:launch-tokens:*", "admin:revoke:*", "admin:audit:*"]
    );
    // 300 s lifetime: re-auth at 60 s before the end.
    assert!(!s.needs_reauth(now() + Duration::from_secs(239)));
    assert!(s.needs_reauth(now() + Duration::from_secs(240)));

    let c = capture(3, "POST", "/v1/admin/auth");
    let mut flow = AdminAuth::new(&config(), &AdminSecret::new("nope")).unwrap();
    let e = drive(&mut flow, answers![&c]).end.err();
    assert!(e.is_authentication());
    assert_eq!(e.problem().unwrap().detail, "invalid credentials");
    assert!(AdminAuth::new(&config(), &AdminSecret::new("")).is_err());
}

#[test]
fn a_short_session_re_authenticates_at_half_its_life() {
    let body =
        json!({"access_token": "a.b.c", "expires_in": 100, "token_type": "Bearer", "scopes": []});
    let mut flow = AppAuth::new(&config(), "cm-1", &ClientSecret::new("s")).unwrap();
    let s = drive(&mut flow, answers![ok_json(200, &body)]).end.ok();
    assert!(!s.needs_reauth(now() + Duration::from_secs(49)));
    assert!(s.needs_reauth(now() + Duration::from_secs(50)));
}

// -------------------------------------------------------- create agent --

fn create_agent_request() -> CreateAgentRequest {
    CreateAgentRequest::new(
        "orch-1",
        "task-1",
        ["read:data:*", "write:reports:q3"],
        key(),
    )
}

#[test]
fn create_agent_walks_launch_token_challenge_register() {
    let lt = capture(26, "POST", "/v1/app/launch-tokens");
    let ch = capture(2, "GET", "/v1/challenge");
    // The broker's token says something else than the request did: the
    // credentials must follow the token.
    let issued = jwt(&agent_claims(
        "orch-from-token",
        "task-from-token",
        &["read:data:narrowed"],
        "0123456789abcdef0123456789abcdef",
        600,
    ));
    let register = json!({
        "agent_id": "spiffe://agentwrit.local/agent/orch-1/task-1/2895b0eaef6fea3e",
        "access_token": issued,
        "expires_in": 600,
    });
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    assert_eq!(flow.name(), "create_agent.launch_token");
    let t = drive(&mut flow, answers![&lt, &ch, ok_json(200, &register)]);
    assert_eq!(t.sent.len(), 3);
    assert!(t.waits.is_empty());
    // Only the registration may leave a credential only this flow holds.
    let marked: Vec<bool> = t.sent.iter().map(|s| s.point_of_no_return).collect();
    assert_eq!(marked, [false, false, true]);

    t.sent[0].check(
        "POST",
        "/v1/app/launch-tokens",
        Some(APP_TOKEN),
        Some(&json!({
            "agent_name": "orch-1/task-1",
            "allowed_scope": ["read:data:*", "write:reports:q3"],
            "max_ttl": 300,
            "single_use": true,
        })),
    );
    t.sent[1].check("GET", "/v1/challenge", None, None);

    let nonce = ch.json()["nonce"].as_str().unwrap().to_owned();
    let launch_token = lt.json()["launch_token"].as_str().unwrap().to_owned();
    let body = t.sent[2].json();
    let b64 = base64::engine::general_purpose::STANDARD;
    let public_key = b64.encode(key().public_key_bytes());
    let signature = body["signature"].as_str().unwrap().to_owned();
    t.sent[2].check(
        "POST",
        "/v1/register",
        None,
        Some(&json!({
            "launch_token": launch_token,
            "nonce": nonce,
            "public_key": public_key,
            "signature": signature,
            "orch_id": "orch-1",
            "task_id": "task-1",
            "requested_scope": ["read:data:*", "write:reports:q3"],
        })),
    );
    // The signature is over the hex-DECODED nonce and verifies with the
    // public key that was sent.
    let sent_key: [u8; 32] = b64.decode(&public_key).unwrap().try_into().unwrap();
    let vk = VerifyingKey::from_bytes(&sent_key).unwrap();
    let sig_bytes: [u8; 64] = b64.decode(&signature).unwrap().try_into().unwrap();
    let sig = Signature::from_bytes(&sig_bytes);
    let raw_nonce = hex::decode(&nonce).unwrap();
    assert_eq!(raw_nonce.len(), 32);
    vk.verify(&raw_nonce, &sig)
        .expect("signature over the raw nonce bytes");
    assert!(
        vk.verify(nonce.as_bytes(), &sig).is_err(),
        "not over the hex text"
    );
    // Deterministic: the same seed and nonce sign the same bytes.
    assert_eq!(key().sign_nonce(&nonce).unwrap(), signature);

    let cred = t.end.ok();
    assert_eq!(
        cred.agent_id,
        "spiffe://agentwrit.local/agent/orch-1/task-1/2895b0eaef6fea3e"
    );
    assert_eq!(cred.access_token.expose_secret(), issued);
    assert_eq!(
        cred.claims.scope,
        ["read:data:narrowed"],
        "scope from the token"
    );
    assert_eq!(cred.orch_id, "orch-from-token");
    assert_eq!(cred.task_id, "task-from-token");
    assert_eq!(cred.claims.jti, "0123456789abcdef0123456789abcdef");
    assert_eq!(cred.expires_in, 600);
    assert_eq!(
        cred.expires_at,
        now() + Duration::from_secs(600),
        "exp claim"
    );
    assert_eq!(cred.received_at, now());
    assert_eq!(cred.key.public_key_bytes(), key().public_key_bytes());
    let state = AgentState::new(cred);
    assert_eq!(state.scope(), ["read:data:narrowed"]);
    assert_eq!(state.jti(), "0123456789abcdef0123456789abcdef");
}

#[test]
fn create_agent_with_the_captured_register_reply_and_a_label() {
    let reg = capture(42, "POST", "/v1/register");
    let req = create_agent_request()
        .with_label("nightly-report")
        .with_max_ttl(std::time::Duration::from_secs(600));
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), req).unwrap();
    let t = drive(
        &mut flow,
        answers![
            &capture(26, "POST", "/v1/app/launch-tokens"),
            &capture(2, "GET", "/v1/challenge"),
            &reg
        ],
    );
    let body = t.sent[0].json();
    assert_eq!(body["agent_name"], "nightly-report");
    assert_eq!(body["max_ttl"], 600);
    assert_eq!(body["single_use"], true);
    let cred = t.end.ok();
    // The captured token names conf-orch/conf-task; the request said orch-1/task-1.
    assert_eq!(cred.orch_id, "conf-orch");
    assert_eq!(cred.task_id, "conf-task");
    assert_eq!(cred.claims.scope, ["read:data:*"]);
    assert_eq!(cred.claims.jti, "2a3eeccf5312b0547f192b3f9d9d33a1");
    assert_eq!(
        cred.expires_at,
        UNIX_EPOCH + Duration::from_secs(1_795_304_737)
    );
}

#[test]
fn create_agent_stops_at_the_first_rejection() {
    // Launch token beyond the app's ceiling: 403, nothing else sent.
    let c = capture(27, "POST", "/v1/app/launch-tokens");
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let t = drive(&mut flow, answers![&c]);
    assert_eq!(t.sent.len(), 1);
    let e = t.end.err();
    assert!(
        matches!(e, Error::Authorization { status: 403, .. }),
        "{e:?}"
    );
    assert_eq!(e.problem(), Some(&captured_problem(&c)));
    assert_eq!(flow.name(), "create_agent");

    // Register refused (nonce reused): 401.
    let c = capture(43, "POST", "/v1/register");
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let t = drive(
        &mut flow,
        answers![
            &capture(26, "POST", "/v1/app/launch-tokens"),
            &capture(2, "GET", "/v1/challenge"),
            &c
        ],
    );
    assert_eq!(t.sent.len(), 3);
    let e = t.end.err();
    assert!(e.is_authentication());
    assert_eq!(e.problem().unwrap().detail, "nonce: nonce already consumed");
    assert_eq!(e.problem().unwrap().instance, "/v1/register");

    // Scope beyond the launch token: 403 scope_violation.
    let c = capture(37, "POST", "/v1/register");
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let e = drive(
        &mut flow,
        answers![
            &capture(26, "POST", "/v1/app/launch-tokens"),
            &capture(2, "GET", "/v1/challenge"),
            &c
        ],
    )
    .end
    .err();
    assert_eq!(e.error_code(), Some(ErrorCode::ScopeViolation));
}

#[test]
fn create_agent_retries_the_challenge_but_never_resends_a_register_that_may_have_arrived() {
    let lt = capture(26, "POST", "/v1/app/launch-tokens");
    let ch = capture(2, "GET", "/v1/challenge");
    // Challenge is idempotent: a timeout and a 502 are retried.
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let t = drive(
        &mut flow,
        answers![
            &lt,
            TransportFailure::Timeout,
            problem(502, "bad_gateway", "upstream", "/v1/challenge", None),
            &ch,
            &capture(42, "POST", "/v1/register"),
        ],
    );
    assert_eq!(
        t.sent.iter().map(|s| s.uri.as_str()).collect::<Vec<_>>(),
        [
            "http://127.0.0.1:8080/v1/app/launch-tokens",
            "http://127.0.0.1:8080/v1/challenge",
            "http://127.0.0.1:8080/v1/challenge",
            "http://127.0.0.1:8080/v1/challenge",
            "http://127.0.0.1:8080/v1/register",
        ]
    );
    assert_eq!(t.waits, [at_ms(200), at_ms(600)]);
    t.end.ok();

    // Register timed out: given up, not sent again.
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let t = drive(&mut flow, answers![&lt, &ch, TransportFailure::Timeout]);
    assert_eq!(t.sent.len(), 3);
    assert!(matches!(t.end, End::GaveUp(TransportFailure::Timeout)));
    // And the flow is finished: further calls are out of order.
    let again = flow.start(now());
    assert!(
        matches!(again, Step::Done(Err(Error::InvalidState { .. }))),
        "{again:?}"
    );

    // Register could not connect: certainly not sent, so sent again.
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let t = drive(
        &mut flow,
        answers![
            &lt,
            &ch,
            TransportFailure::Connect,
            &capture(42, "POST", "/v1/register")
        ],
    );
    assert_eq!(t.sent.len(), 4);
    assert_eq!(t.sent[3].body, t.sent[2].body);
    t.end.ok();

    // The launch token request timed out: given up.
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let t = drive(&mut flow, answers![TransportFailure::Io]);
    assert!(matches!(t.end, End::GaveUp(TransportFailure::Io)));
}

#[test]
fn create_agent_rejects_bad_input_before_any_request() {
    let cfg = config();
    let cases: Vec<(CreateAgentRequest, &str)> = vec![
        (
            CreateAgentRequest::new("", "t", ["read:data:*"], key()),
            "orch_id",
        ),
        (
            CreateAgentRequest::new("o", "", ["read:data:*"], key()),
            "task_id",
        ),
        (
            CreateAgentRequest::new("o/x", "t", ["read:data:*"], key()),
            "orch_id",
        ),
        (
            CreateAgentRequest::new("o", "t", Vec::<String>::new(), key()),
            "scope",
        ),
        (
            CreateAgentRequest::new("o", "t", ["read:data:*", "read:data:"], key()),
            "scope[1]",
        ),
        (
            CreateAgentRequest::new("o", "t", ["nocolons"], key()),
            "scope[0]",
        ),
        (
            CreateAgentRequest::new("o", "t", ["read:data:*"], key())
                .with_max_ttl(std::time::Duration::from_secs(0)),
            "max_ttl",
        ),
        (
            CreateAgentRequest::new("o", "t", ["read:data:*"], key()).with_label(""),
            "label",
        ),
    ];
    for (req, culprit) in cases {
        let e = CreateAgent::new(&cfg, &tok(APP_TOKEN), req).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidInput { field, .. } if field == culprit),
            "{culprit}: {e}"
        );
    }
    let e = CreateAgent::new(&cfg, &tok(""), create_agent_request()).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { field, .. } if field == "app_token"),
        "{e}"
    );
}

#[test]
fn create_agent_with_a_malformed_nonce_or_token_is_an_error_not_a_panic() {
    let lt = capture(26, "POST", "/v1/app/launch-tokens");
    let bad_nonce = ok_json(200, &json!({"nonce": "zz-not-hex", "expires_in": 30}));
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let t = drive(&mut flow, answers![&lt, bad_nonce]);
    assert_eq!(t.sent.len(), 2, "nothing is registered with a bad nonce");
    assert!(matches!(t.end.err(), Error::Crypto { .. }));

    let not_a_jwt = ok_json(
        200,
        &json!({"agent_id": "spiffe://x/agent/o/t/1", "access_token": "opaque", "expires_in": 300}),
    );
    let mut flow = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let t = drive(
        &mut flow,
        answers![&lt, &capture(2, "GET", "/v1/challenge"), not_a_jwt],
    );
    let e = t.end.err();
    assert!(
        matches!(
            e,
            Error::Decode {
                status: Some(200),
                ..
            }
        ),
        "{e:?}"
    );
}

// ------------------------------------------------- renew and release --

#[test]
fn renew_posts_no_body_with_the_bearer() {
    let c = capture(49, "POST", "/v1/token/renew");
    let mut flow = Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check("POST", "/v1/token/renew", Some(AGENT_TOKEN), None);
    let r = t.end.ok();
    assert_eq!(r.access_token.expose_secret(), c.json()["access_token"]);
    assert_eq!(r.expires_in, 300);
    assert_eq!(r.claims.jti, "3b3158d76c2925930464e2b66ea572ad");
    assert_eq!(r.received_at, now());

    let c = capture(50, "POST", "/v1/token/renew");
    let mut flow = Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let e = drive(&mut flow, answers![&c]).end.err();
    assert!(e.is_authentication());
    assert_eq!(e.problem(), Some(&captured_problem(&c)));

    // Not idempotent: a timeout is given up; a 502 is not retried.
    let mut flow = Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    assert!(matches!(
        drive(&mut flow, answers![TransportFailure::Timeout]).end,
        End::GaveUp(_)
    ));
    assert!(Renew::new(&config(), &tok("")).is_err());
}

#[test]
fn release_204_is_released_and_401_is_already_dead() {
    let c = capture(61, "POST", "/v1/token/release");
    assert_eq!(c.status, 204);
    let mut flow = Release::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check("POST", "/v1/token/release", Some(AGENT_TOKEN), None);
    assert_eq!(t.end.ok(), ReleaseOutcome::Released);

    let c = capture(62, "POST", "/v1/token/release");
    let mut flow = Release::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    assert_eq!(
        drive(&mut flow, answers![&c]).end.ok(),
        ReleaseOutcome::AlreadyDead
    );

    // Anything else is an error.
    let mut flow = Release::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let e = drive(
        &mut flow,
        answers![problem(
            500,
            "internal_error",
            "boom",
            "/v1/token/release",
            None
        )],
    )
    .end
    .err();
    assert_eq!(e.status(), Some(500));

    // A timed-out release is not sent again.
    let mut flow = Release::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let t = drive(&mut flow, answers![TransportFailure::Timeout]);
    assert_eq!(t.sent.len(), 1);
    assert!(matches!(t.end, End::GaveUp(TransportFailure::Timeout)));
}

#[test]
fn a_short_token_renews_before_its_whole_second_exp() {
    // exp is whole seconds: a 3 s token issued late in the broker's second
    // has a little over 2 s left when it arrives. 80 % of 3 s (2.4 s) would
    // fall after it; the renewal counts 2 s and comes at 1.6 s.
    let token = agent_token("33333333333333333333333333333333", 3);
    let state = AgentState::new(credentials(&token, now(), 3));
    let at = state.next_renewal_at(now()).unwrap();
    assert_eq!(at, now() + Duration::from_millis(1_600));
    assert!(at < now() + Duration::from_secs(2));
    // A 1 s token cannot be renewed safely before a late exp; it renews at
    // half its lifetime, never in a loop.
    let token = agent_token("44444444444444444444444444444444", 1);
    let state = AgentState::new(credentials(&token, now(), 1));
    assert_eq!(
        state.next_renewal_at(now()),
        Some(now() + Duration::from_millis(500))
    );
}

#[test]
fn agent_state_renews_in_place_and_a_second_release_sends_nothing() {
    let first = agent_token("11111111111111111111111111111111", 300);
    let mut state = AgentState::new(credentials(&first, now(), 300));
    // Renewal is due at 80 % of the lifetime.
    assert_eq!(
        state.next_renewal_at(now()),
        Some(now() + Duration::from_millis(239_200))
    );
    let second = agent_token("22222222222222222222222222222222", 300);
    let later = now() + Duration::from_millis(239_200);
    let mut flow = state.renew_flow(&config()).unwrap();
    let t = drive_at(
        &mut flow,
        later,
        answers![ok_json(
            200,
            &json!({"access_token": second, "expires_in": 300})
        )],
    );
    t.sent[0].check("POST", "/v1/token/renew", Some(&first), None);
    state.apply_renewal(t.end.ok()).unwrap();
    assert_eq!(state.access_token().expose_secret(), second);
    assert_eq!(state.jti(), "22222222222222222222222222222222");
    assert_eq!(
        state.next_renewal_at(later),
        Some(later + Duration::from_millis(239_200))
    );

    let mut flow = state.release_flow(&config()).unwrap();
    let t = drive(
        &mut flow,
        answers![&capture(61, "POST", "/v1/token/release")],
    );
    t.sent[0].check("POST", "/v1/token/release", Some(&second), None);
    assert_eq!(t.end.ok(), ReleaseOutcome::Released);
    state.mark_released();
    assert!(
        state.release_flow(&config()).is_none(),
        "nothing to send twice"
    );
    assert!(matches!(state.renew_flow(&config()), Err(Error::Released)));
    assert!(matches!(
        state.delegate_flow(&config(), "spiffe://x", &["read:data:*"], None),
        Err(Error::Released)
    ));
    assert_eq!(state.next_renewal_at(now()), None);
}

// ----------------------------------------------------------- delegate --

#[test]
fn delegate_from_an_agent_and_again_from_the_delegated_token() {
    let c = capture(57, "POST", "/v1/delegate");
    let to = "spiffe://agentwrit.local/agent/conf-orch/conf-task-2/fc93a2e0c767592c";
    let mut flow = Delegate::new(
        &config(),
        &tok(AGENT_TOKEN),
        to,
        &["read:data:reports"],
        Some(std::time::Duration::from_secs(30)),
    )
    .unwrap();
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check(
        "POST",
        "/v1/delegate",
        Some(AGENT_TOKEN),
        Some(&json!({"delegate_to": to, "scope": ["read:data:reports"], "ttl": 30})),
    );
    let d = t.end.ok();
    let body = c.json();
    assert_eq!(d.access_token.expose_secret(), body["access_token"]);
    assert_eq!(d.expires_in.as_secs(), body["expires_in"].as_u64().unwrap());
    assert_eq!(d.subject(), to);
    assert_eq!(
        d.delegation_chain.len(),
        body["delegation_chain"].as_array().unwrap().len()
    );
    assert!(!d.delegation_chain.is_empty());

    // B → C, with the delegated token as bearer and no ttl.
    let next_token = jwt(&json!({
        "iss": "", "sub": "spiffe://agentwrit.local/agent/o/c/1", "exp": 1_800_000_060,
        "nbf": 1_800_000_000, "iat": 1_800_000_000, "jti": "c".repeat(32),
        "scope": ["read:data:reports"], "task_id": "t", "orch_id": "o",
    }));
    let reply = json!({"access_token": next_token, "expires_in": 60, "delegation_chain": body["delegation_chain"]});
    let mut flow = d
        .delegate_flow(
            &config(),
            "spiffe://agentwrit.local/agent/o/c/1",
            &["read:data:reports"],
            None,
        )
        .unwrap();
    let t = drive(&mut flow, answers![ok_json(200, &reply)]);
    t.sent[0].check(
        "POST",
        "/v1/delegate",
        Some(d.access_token.expose_secret()),
        Some(&json!({"delegate_to": "spiffe://agentwrit.local/agent/o/c/1", "scope": ["read:data:reports"]})),
    );
    let c2 = t.end.ok();
    assert_eq!(c2.subject(), "spiffe://agentwrit.local/agent/o/c/1");
    assert_eq!(
        c2.expires_at,
        UNIX_EPOCH + Duration::from_secs(1_800_000_060)
    );

    // A delegated token can be released too.
    let mut flow = d.release_flow(&config()).unwrap();
    let t = drive(
        &mut flow,
        answers![&capture(61, "POST", "/v1/token/release")],
    );
    t.sent[0].check(
        "POST",
        "/v1/token/release",
        Some(d.access_token.expose_secret()),
        None,
    );
}

#[test]
fn delegate_rejections_and_bad_input() {
    for (n, variant_status, code) in [
        (54, 403, ErrorCode::ScopeViolation),
        (55, 404, ErrorCode::NotFound),
    ] {
        let c = capture(n, "POST", "/v1/delegate");
        let mut flow = Delegate::new(
            &config(),
            &tok(AGENT_TOKEN),
            "spiffe://x/agent/o/t/1",
            &["read:data:*"],
            None,
        )
        .unwrap();
        let e = drive(&mut flow, answers![&c]).end.err();
        assert_eq!(e.status(), Some(variant_status));
        assert_eq!(e.error_code(), Some(code));
        assert_eq!(e.problem(), Some(&captured_problem(&c)));
    }
    let cfg = config();
    let t = tok(AGENT_TOKEN);
    let field = |e: Error| match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(Delegate::new(&cfg, &t, "", &["read:data:*"], None).unwrap_err()),
        "delegate_to"
    );
    assert_eq!(
        field(Delegate::new(&cfg, &t, "x", &["read::*"], None).unwrap_err()),
        "scope[0]"
    );
    assert_eq!(
        field(Delegate::new::<&str>(&cfg, &t, "x", &[], None).unwrap_err()),
        "scope"
    );
    assert_eq!(
        field(
            Delegate::new(
                &cfg,
                &t,
                "x",
                &["read:data:*"],
                Some(std::time::Duration::ZERO)
            )
            .unwrap_err()
        ),
        "ttl"
    );
    assert_eq!(
        field(Delegate::new(&cfg, &tok(""), "x", &["read:data:*"], None).unwrap_err()),
        "access_token"
    );
}

// ----------------------------------------------------------- validate --

#[test]
fn validate_valid_invalid_and_refused() {
    let c = capture(45, "POST", "/v1/token/validate");
    let mut flow = Validate::new(&config(), &tok("eyJ.some.token")).unwrap();
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check(
        "POST",
        "/v1/token/validate",
        None,
        Some(&json!({"token": "eyJ.some.token"})),
    );
    let v = t.end.ok();
    assert!(v.is_valid());
    assert_eq!(v.claims().unwrap().jti, "2a3eeccf5312b0547f192b3f9d9d33a1");
    assert!(v.allows(&["read:data:anything"]));
    assert!(!v.allows(&["write:data:anything"]));

    let c = capture(46, "POST", "/v1/token/validate");
    let mut flow = Validate::new(&config(), &tok("garbage")).unwrap();
    let v = drive(&mut flow, answers![&c]).end.ok();
    assert_eq!(
        v,
        Validation::Invalid {
            reason: "token is invalid or expired".into()
        }
    );
    assert!(!v.allows(&["read:data:x"]));

    let c = capture(47, "POST", "/v1/token/validate");
    let mut flow = Validate::new(&config(), &tok("x")).unwrap();
    let e = drive(&mut flow, answers![&c]).end.err();
    assert!(matches!(e, Error::Problem { status: 400, .. }));
    assert_eq!(e.problem(), Some(&captured_problem(&c)));

    // valid:true without claims is not believed.
    let mut flow = Validate::new(&config(), &tok("x")).unwrap();
    let e = drive(&mut flow, answers![ok_json(200, &json!({"valid": true}))])
        .end
        .err();
    assert!(matches!(
        e,
        Error::Decode {
            status: Some(200),
            ..
        }
    ));
    assert!(Validate::new(&config(), &tok("")).is_err());
}

// ------------------------------------------------------- one deadline --

/// What a `Step::Send` gives its attempt.
fn attempt_timeout<T>(step: &Step<T>) -> Duration {
    let Step::Send(request) = step else {
        panic!("expected a request")
    };
    request
        .extensions()
        .get::<agentwrit_core::AttemptTimeout>()
        .expect("every request says how long its attempt may take")
        .0
}

#[test]
fn the_timeout_bounds_the_whole_call_with_its_retries() {
    let cfg = config().with_timeout(Duration::from_secs(2));
    let give_up = |f| Error::transport(f, "validate", None);

    // An attempt that used the whole timeout is not followed by another.
    let mut flow = Validate::new(&cfg, &tok("x")).unwrap();
    let first = flow.start(now());
    assert_eq!(attempt_timeout(&first), Duration::from_secs(2));
    let after = now() + Duration::from_secs(2);
    let end = flow.handle_transport_failure(
        TransportFailure::Timeout,
        give_up(TransportFailure::Timeout),
        after,
    );
    assert!(
        matches!(
            end,
            Step::Done(Err(Error::Transport {
                kind: TransportFailure::Timeout,
                ..
            }))
        ),
        "{end:?}"
    );

    // A quick failure is retried after the backoff, with what is left.
    let mut flow = Validate::new(&cfg, &tok("x")).unwrap();
    let _ = flow.start(now());
    let failed_at = now() + Duration::from_millis(300);
    let wait = flow.handle_transport_failure(
        TransportFailure::Io,
        give_up(TransportFailure::Io),
        failed_at,
    );
    let Step::Wait { until } = wait else {
        panic!("expected a backoff, got {wait:?}")
    };
    assert_eq!(until, failed_at + Duration::from_millis(200));
    let second = flow.resume(until);
    assert_eq!(attempt_timeout(&second), Duration::from_millis(1500));
    // A backoff that would end past the deadline is not waited.
    let end = flow.handle_transport_failure(
        TransportFailure::Io,
        give_up(TransportFailure::Io),
        now() + Duration::from_millis(1700),
    );
    assert!(
        matches!(end, Step::Done(Err(Error::Transport { .. }))),
        "{end:?}"
    );

    // A Retry-After beyond the deadline ends the call with the broker's
    // answer instead of waiting.
    let mut flow = Validate::new(&cfg, &tok("x")).unwrap();
    let _ = flow.start(now());
    let unavailable = problem(503, "unavailable", "busy", "/v1/token/validate", Some("3"));
    let end = flow.handle_response(unavailable, now());
    assert!(
        matches!(&end, Step::Done(Err(e)) if e.status() == Some(503)),
        "{end:?}"
    );
}

#[test]
fn every_request_of_a_ceremony_has_its_own_timeout() {
    let cfg = config().with_timeout(Duration::from_secs(2));
    let mut flow = CreateAgent::new(
        &cfg,
        &tok(APP_TOKEN),
        CreateAgentRequest::new("orch-1", "task-1", ["read:data:*"], key()),
    )
    .unwrap();
    let launch = flow.start(now());
    assert_eq!(attempt_timeout(&launch), Duration::from_secs(2));
    let later = now() + Duration::from_millis(1900);
    let challenge = flow.handle_response(
        capture(26, "POST", "/v1/app/launch-tokens").response(),
        later,
    );
    assert_eq!(attempt_timeout(&challenge), Duration::from_secs(2));
}

// ---------------------------------------------------------- operator --

#[test]
fn operator_app_crud() {
    let created = capture(7, "POST", "/v1/admin/apps");
    let req = CreateAppRequest::new(
        "conf-main",
        vec!["read:data:*".into(), "write:data:*".into()],
    )
    .with_token_ttl(std::time::Duration::from_secs(1800));
    let mut flow = CreateApp::new(&config(), &tok(ADMIN_TOKEN), &req).unwrap();
    let t = drive(&mut flow, answers![&created]);
    t.sent[0].check(
        "POST",
        "/v1/admin/apps",
        Some(ADMIN_TOKEN),
        Some(&json!({"name": "conf-main", "scopes": ["read:data:*", "write:data:*"], "token_ttl": 1800})),
    );
    let app = t.end.ok();
    assert_eq!(app.app_id, "app-conf-main-4dc31a");
    assert_eq!(app.client_id, "cm-37a7c9c10885");
    assert!(app.client_secret.is_some());

    // A 201 without the secret would lose it for good: refused.
    let mut no_secret = created.json();
    no_secret.as_object_mut().unwrap().remove("client_secret");
    let mut flow = CreateApp::new(&config(), &tok(ADMIN_TOKEN), &req).unwrap();
    assert!(matches!(
        drive(&mut flow, answers![ok_json(201, &no_secret)])
            .end
            .err(),
        Error::Decode { .. }
    ));

    // Duplicate name: the real broker's generic 500.
    let dup = capture(8, "POST", "/v1/admin/apps");
    let mut flow = CreateApp::new(&config(), &tok(ADMIN_TOKEN), &req).unwrap();
    let t = drive(&mut flow, answers![&dup]);
    assert_eq!(t.sent.len(), 1, "a non-idempotent 500 is not retried");
    let e = t.end.err();
    assert!(matches!(e, Error::Problem { status: 500, .. }));
    assert_eq!(e.problem(), Some(&captured_problem(&dup)));

    let list = capture(14, "GET", "/v1/admin/apps");
    let mut flow = ListApps::new(&config(), &tok(ADMIN_TOKEN)).unwrap();
    let t = drive(&mut flow, answers![&list]);
    t.sent[0].check("GET", "/v1/admin/apps", Some(ADMIN_TOKEN), None);
    let l = t.end.ok();
    assert_eq!(l.total, list.json()["total"].as_u64().unwrap());
    assert_eq!(l.apps.len(), list.json()["apps"].as_array().unwrap().len());

    let get = capture(15, "GET", "/v1/admin/apps/");
    let mut flow = GetApp::new(&config(), &tok(ADMIN_TOKEN), "app-conf-crud-71c121").unwrap();
    let t = drive(&mut flow, answers![&get]);
    t.sent[0].check(
        "GET",
        "/v1/admin/apps/app-conf-crud-71c121",
        Some(ADMIN_TOKEN),
        None,
    );
    assert_eq!(t.end.ok().token_ttl, 900);

    // Path segments are percent-encoded.
    let mut flow = GetApp::new(&config(), &tok(ADMIN_TOKEN), "a/b c").unwrap();
    let t = drive(&mut flow, answers![&capture(16, "GET", "/v1/admin/apps/")]);
    assert_eq!(t.sent[0].uri, format!("{BROKER}/v1/admin/apps/a%2Fb%20c"));
    let e = t.end.err();
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.error_code(), Some(ErrorCode::NotFound));

    let put = capture(17, "PUT", "/v1/admin/apps/");
    let update = UpdateAppRequest::new()
        .scopes(vec!["read:data:*".into(), "write:data:x".into()])
        .token_ttl(std::time::Duration::from_secs(1200));
    let mut flow = UpdateApp::new(
        &config(),
        &tok(ADMIN_TOKEN),
        "app-conf-crud-71c121",
        &update,
    )
    .unwrap();
    let t = drive(&mut flow, answers![&put]);
    t.sent[0].check(
        "PUT",
        "/v1/admin/apps/app-conf-crud-71c121",
        Some(ADMIN_TOKEN),
        Some(&json!({"scopes": ["read:data:*", "write:data:x"], "token_ttl": 1200})),
    );
    assert_eq!(t.end.ok().token_ttl, 1200);
    let only_ttl = UpdateAppRequest::new().token_ttl(std::time::Duration::from_secs(600));
    let mut flow = UpdateApp::new(&config(), &tok(ADMIN_TOKEN), "app-1", &only_ttl).unwrap();
    let t = drive(&mut flow, answers![&put]);
    assert_eq!(t.sent[0].json(), json!({"token_ttl": 600}));

    let del = capture(20, "DELETE", "/v1/admin/apps/");
    let mut flow = DeleteApp::new(&config(), &tok(ADMIN_TOKEN), "app-conf-crud-71c121").unwrap();
    let t = drive(&mut flow, answers![&del]);
    t.sent[0].check(
        "DELETE",
        "/v1/admin/apps/app-conf-crud-71c121",
        Some(ADMIN_TOKEN),
        None,
    );
    assert_eq!(t.end.ok().status, "inactive");

    // Input checked before sending.
    let cfg = config();
    let a = tok(ADMIN_TOKEN);
    let field = |e: Error| match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(GetApp::new(&cfg, &a, "").unwrap_err()), "app_id");
    assert_eq!(field(DeleteApp::new(&cfg, &a, "").unwrap_err()), "app_id");
    assert_eq!(
        field(UpdateApp::new(&cfg, &a, "x", &UpdateAppRequest::new()).unwrap_err()),
        "update"
    );
    assert_eq!(
        field(
            UpdateApp::new(
                &cfg,
                &a,
                "x",
                &UpdateAppRequest::new().token_ttl(std::time::Duration::from_secs(0))
            )
            .unwrap_err()
        ),
        "token_ttl"
    );
    assert_eq!(
        field(
            CreateApp::new(
                &cfg,
                &a,
                &CreateAppRequest::new("Bad Name", vec!["read:data:*".into()])
            )
            .unwrap_err()
        ),
        "name"
    );
    assert_eq!(
        field(
            CreateApp::new(
                &cfg,
                &a,
                &CreateAppRequest::new("ok", vec!["read:data:*".into(), "bad".into()])
            )
            .unwrap_err()
        ),
        "scopes[1]"
    );
    assert_eq!(
        field(ListApps::new(&cfg, &tok("")).unwrap_err()),
        "admin_token"
    );
}

#[test]
fn launch_tokens_for_admin_and_app() {
    let c = capture(30, "POST", "/v1/admin/launch-tokens");
    let req = LaunchTokenRequest::new("ops-agent", vec!["read:data:*".into()])
        .with_max_ttl(std::time::Duration::from_secs(120));
    let mut flow = CreateLaunchToken::for_admin(&config(), &tok(ADMIN_TOKEN), &req).unwrap();
    assert_eq!(flow.name(), "admin_launch_token");
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check(
        "POST",
        "/v1/admin/launch-tokens",
        Some(ADMIN_TOKEN),
        Some(&json!({"agent_name": "ops-agent", "allowed_scope": ["read:data:*"], "max_ttl": 120})),
    );
    let r = t.end.ok();
    assert_eq!(r.policy.max_ttl, 120);
    assert_eq!(r.launch_token.expose_secret(), c.json()["launch_token"]);

    let c = capture(28, "POST", "/v1/app/launch-tokens");
    let req = req
        .with_single_use(false)
        .with_ttl(std::time::Duration::from_secs(60));
    let mut flow = CreateLaunchToken::for_app(&config(), &tok(APP_TOKEN), &req).unwrap();
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check(
        "POST",
        "/v1/app/launch-tokens",
        Some(APP_TOKEN),
        Some(&json!({"agent_name": "ops-agent", "allowed_scope": ["read:data:*"], "max_ttl": 120, "single_use": false, "ttl": 60})),
    );
    let e = t.end.err();
    assert!(matches!(e, Error::Authorization { status: 403, .. }));
    assert_eq!(e.error_code(), Some(ErrorCode::InsufficientScope));

    let bad = LaunchTokenRequest::new("", vec!["read:data:*".into()]);
    assert!(CreateLaunchToken::for_app(&config(), &tok(APP_TOKEN), &bad).is_err());
}

#[test]
fn revoke_at_all_four_levels() {
    for (level, target, capture_no) in [
        (
            RevocationLevel::Token,
            "639933d5de2c4f0a5dfbfbe96587a840",
            Some(68),
        ),
        (
            RevocationLevel::Agent,
            "spiffe://agentwrit.local/agent/conf-orch/conf-task-2/fc93a2e0c767592c",
            Some(70),
        ),
        (RevocationLevel::Task, "task-7", None),
        (
            RevocationLevel::Chain,
            "spiffe://agentwrit.local/agent/o/t/1",
            None,
        ),
    ] {
        let answer = match capture_no {
            Some(n) => capture(n, "POST", "/v1/revoke").response(),
            None => ok_json(
                200,
                &json!({"revoked": true, "level": level.as_str(), "target": target, "count": 2}),
            ),
        };
        let mut flow = Revoke::new(&config(), &tok(ADMIN_TOKEN), level, target).unwrap();
        let t = drive(&mut flow, answers![answer]);
        t.sent[0].check(
            "POST",
            "/v1/revoke",
            Some(ADMIN_TOKEN),
            Some(&json!({"level": level.as_str(), "target": target})),
        );
        let r = t.end.ok();
        assert!(r.revoked);
        assert_eq!(r.level, level.as_str());
        assert_eq!(r.target, target);
    }
    assert!(Revoke::new(&config(), &tok(ADMIN_TOKEN), RevocationLevel::Task, "").is_err());
    // An agent token lacks the scope: 403.
    let c = capture(59, "POST", "/v1/revoke");
    let mut flow = Revoke::new(&config(), &tok(AGENT_TOKEN), RevocationLevel::Task, "t").unwrap();
    let e = drive(&mut flow, answers![&c]).end.err();
    assert!(matches!(e, Error::Authorization { .. }));
}

#[test]
fn audit_events_with_filters_and_pagination() {
    let c = capture(72, "GET", "/v1/audit/events");
    let q = AuditQuery::new().limit(2);
    let mut flow = AuditEvents::new(&config(), &tok(ADMIN_TOKEN), &q).unwrap();
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check("GET", "/v1/audit/events?limit=2", Some(ADMIN_TOKEN), None);
    let page = t.end.ok();
    assert_eq!(page.events.len(), 2);
    assert!(page.total > 2);
    let next = next_audit_page(&q, &page).expect("more pages");
    assert_eq!(next.offset, Some(2));
    assert_eq!(next.limit, Some(2));

    let mut flow = AuditEvents::new(&config(), &tok(ADMIN_TOKEN), &next).unwrap();
    let t = drive(&mut flow, answers![&c]);
    assert_eq!(
        t.sent[0].uri,
        format!("{BROKER}/v1/audit/events?limit=2&offset=2")
    );

    let q = AuditQuery::new()
        .agent_id("spiffe://agentwrit.local/agent/o/t/1")
        .task_id("t 1")
        .event_type("token_released")
        .outcome("success")
        .limit(10)
        .offset(20);
    let c = capture(73, "GET", "/v1/audit/events");
    let mut flow = AuditEvents::new(&config(), &tok(ADMIN_TOKEN), &q).unwrap();
    let t = drive(&mut flow, answers![&c]);
    t.sent[0].check(
        "GET",
        "/v1/audit/events?agent_id=spiffe%3A%2F%2Fagentwrit.local%2Fagent%2Fo%2Ft%2F1&task_id=t%201&event_type=token_released&outcome=success&limit=10&offset=20",
        Some(ADMIN_TOKEN),
        None,
    );
    let page = t.end.ok();
    assert!(page.events.iter().all(|e| e.event_type == "token_released"));

    // The last page ends the walk.
    let last = json!({"events": [], "total": 2, "offset": 2, "limit": 2});
    let mut flow = AuditEvents::new(&config(), &tok(ADMIN_TOKEN), &AuditQuery::new()).unwrap();
    let t = drive(&mut flow, answers![ok_json(200, &last)]);
    assert_eq!(t.sent[0].uri, format!("{BROKER}/v1/audit/events"));
    assert_eq!(next_audit_page(&AuditQuery::new(), &t.end.ok()), None);

    let e =
        AuditEvents::new(&config(), &tok(ADMIN_TOKEN), &AuditQuery::new().limit(0)).unwrap_err();
    assert!(matches!(&e, Error::InvalidInput { field, .. } if field == "limit"));
    assert!(
        AuditEvents::new(&config(), &tok(ADMIN_TOKEN), &AuditQuery::new().limit(1001)).is_err()
    );

    // An agent token lacks the scope.
    let c = capture(60, "GET", "/v1/audit/events");
    let mut flow = AuditEvents::new(&config(), &tok(AGENT_TOKEN), &AuditQuery::new()).unwrap();
    assert_eq!(drive(&mut flow, answers![&c]).end.err().status(), Some(403));
}

// ------------------------------------------------------ error matrix --

/// Every flow, boxed, with whether its call is idempotent and the path it
/// sends to. Multi-request flows are represented by their first request.
struct Maker {
    name: &'static str,
    idempotent: bool,
    path: &'static str,
    run: fn(Vec<Answer>) -> Transcript<String>,
}

fn run_flow<F: Flow>(mut flow: F, answers: Vec<Answer>) -> Transcript<String>
where
    F::Output: std::fmt::Debug,
{
    let t = drive(&mut flow, answers);
    Transcript {
        sent: t.sent,
        waits: t.waits,
        end: match t.end {
            End::Done(r) => End::Done(r.map(|v| format!("{v:?}"))),
            End::GaveUp(f) => End::GaveUp(f),
            End::Exhausted => End::Exhausted,
        },
    }
}

fn makers() -> Vec<Maker> {
    vec![
        Maker {
            name: "health",
            idempotent: true,
            path: "/v1/health",
            run: |a| run_flow(Health::new(&config()), a),
        },
        Maker {
            name: "validate",
            idempotent: true,
            path: "/v1/token/validate",
            run: |a| run_flow(Validate::new(&config(), &tok("t.o.k")).unwrap(), a),
        },
        Maker {
            name: "list_apps",
            idempotent: true,
            path: "/v1/admin/apps",
            run: |a| run_flow(ListApps::new(&config(), &tok(ADMIN_TOKEN)).unwrap(), a),
        },
        Maker {
            name: "get_app",
            idempotent: true,
            path: "/v1/admin/apps/app-1",
            run: |a| {
                run_flow(
                    GetApp::new(&config(), &tok(ADMIN_TOKEN), "app-1").unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "audit_events",
            idempotent: true,
            path: "/v1/audit/events",
            run: |a| {
                run_flow(
                    AuditEvents::new(&config(), &tok(ADMIN_TOKEN), &AuditQuery::new()).unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "app_auth",
            idempotent: false,
            path: "/v1/app/auth",
            run: |a| {
                run_flow(
                    AppAuth::new(&config(), "cm-1", &ClientSecret::new("s")).unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "admin_auth",
            idempotent: false,
            path: "/v1/admin/auth",
            run: |a| {
                run_flow(
                    AdminAuth::new(&config(), &AdminSecret::new("s")).unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "create_agent",
            idempotent: false,
            path: "/v1/app/launch-tokens",
            run: |a| {
                run_flow(
                    CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "renew",
            idempotent: false,
            path: "/v1/token/renew",
            run: |a| run_flow(Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap(), a),
        },
        Maker {
            name: "release",
            idempotent: false,
            path: "/v1/token/release",
            run: |a| run_flow(Release::new(&config(), &tok(AGENT_TOKEN)).unwrap(), a),
        },
        Maker {
            name: "delegate",
            idempotent: false,
            path: "/v1/delegate",
            run: |a| {
                run_flow(
                    Delegate::new(
                        &config(),
                        &tok(AGENT_TOKEN),
                        "spiffe://x/agent/o/t/1",
                        &["read:data:*"],
                        None,
                    )
                    .unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "create_app",
            idempotent: false,
            path: "/v1/admin/apps",
            run: |a| {
                run_flow(
                    CreateApp::new(
                        &config(),
                        &tok(ADMIN_TOKEN),
                        &CreateAppRequest::new("billing", vec!["read:data:*".into()]),
                    )
                    .unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "update_app",
            idempotent: false,
            path: "/v1/admin/apps/app-1",
            run: |a| {
                run_flow(
                    UpdateApp::new(
                        &config(),
                        &tok(ADMIN_TOKEN),
                        "app-1",
                        &UpdateAppRequest::new().token_ttl(std::time::Duration::from_secs(600)),
                    )
                    .unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "delete_app",
            idempotent: false,
            path: "/v1/admin/apps/app-1",
            run: |a| {
                run_flow(
                    DeleteApp::new(&config(), &tok(ADMIN_TOKEN), "app-1").unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "launch_token",
            idempotent: false,
            path: "/v1/admin/launch-tokens",
            run: |a| {
                run_flow(
                    CreateLaunchToken::for_admin(
                        &config(),
                        &tok(ADMIN_TOKEN),
                        &LaunchTokenRequest::new("a", vec!["read:data:*".into()]),
                    )
                    .unwrap(),
                    a,
                )
            },
        },
        Maker {
            name: "revoke",
            idempotent: false,
            path: "/v1/revoke",
            run: |a| {
                run_flow(
                    Revoke::new(&config(), &tok(ADMIN_TOKEN), RevocationLevel::Chain, "x").unwrap(),
                    a,
                )
            },
        },
    ]
}

#[test]
fn every_error_status_maps_to_its_error_with_the_full_problem_and_the_right_retries() {
    let codes = [
        (400, "invalid_request"),
        (401, "unauthorized"),
        (403, "insufficient_scope"),
        (404, "not_found"),
        (409, "conflict"),
        (413, "payload_too_large"),
        (429, "rate_limited"),
        (500, "internal_error"),
        (502, "bad_gateway"),
        (503, "service_unavailable"),
        (504, "gateway_timeout"),
    ];
    for m in makers() {
        for (status, code) in codes {
            let retried = match status {
                429 | 503 => true,
                502 | 504 => m.idempotent,
                _ => false,
            };
            let sends = if retried { 3 } else { 1 };
            let answers = (0..sends)
                .map(|_| Answer::from(problem(status, code, "it went wrong", m.path, None)))
                .collect();
            let t = (m.run)(answers);
            let ctx = format!("{} {status}", m.name);
            assert_eq!(t.sent.len(), sends, "{ctx}");
            assert!(
                t.sent
                    .iter()
                    .all(|s| s.uri == format!("{BROKER}{}", m.path)),
                "{ctx}"
            );
            if retried {
                assert_eq!(t.waits, [at_ms(200), at_ms(600)], "{ctx}");
            } else {
                assert!(t.waits.is_empty(), "{ctx}");
            }
            if m.name == "release" && status == 401 {
                assert_eq!(t.end.ok(), "AlreadyDead");
                continue;
            }
            let e = t.end.err();
            match status {
                401 => assert!(
                    matches!(e, Error::Authentication { status: 401, .. }),
                    "{ctx}: {e:?}"
                ),
                403 => assert!(
                    matches!(e, Error::Authorization { status: 403, .. }),
                    "{ctx}: {e:?}"
                ),
                429 => assert!(
                    matches!(
                        e,
                        Error::RateLimited {
                            status: 429,
                            retry_after: None,
                            ..
                        }
                    ),
                    "{ctx}: {e:?}"
                ),
                s => assert!(
                    matches!(&e, Error::Problem { status, .. } if *status == s),
                    "{ctx}: {e:?}"
                ),
            }
            let p = e.problem().unwrap();
            let rid = format!("{status:04}abcdef012345");
            let expected: ProblemDetail =
                serde_json::from_value(problem_body(status, code, "it went wrong", m.path, &rid))
                    .unwrap();
            assert_eq!(p, &expected, "{ctx}");
            assert_eq!(p.problem_type, format!("urn:agentwrit:error:{code}"));
            assert_eq!(p.status, status);
            assert_eq!(p.detail, "it went wrong");
            assert_eq!(p.instance, m.path);
            assert_eq!(p.error_code.as_ref().map(|c| c.as_str()), Some(code));
            assert_eq!(e.request_id(), Some(rid.as_str()));
            assert_eq!(e.is_retryable(), matches!(status, 429 | 502..=504), "{ctx}");
            let shown = e.to_string();
            assert!(
                shown.contains("it went wrong") && shown.contains(&rid),
                "{ctx}: {shown}"
            );
        }
    }
}

#[test]
fn transport_failures_follow_the_retry_table() {
    use TransportFailure::*;
    for m in makers() {
        for failure in [Connect, Timeout, Io, Other, BodyTooLarge] {
            let ctx = format!("{} {failure:?}", m.name);
            let retried = match failure {
                BodyTooLarge => false,
                Connect => true,
                _ => m.idempotent,
            };
            let t = (m.run)(
                vec![failure.into(), failure.into(), failure.into()]
                    .into_iter()
                    .take(if retried { 3 } else { 1 })
                    .collect(),
            );
            if failure == BodyTooLarge {
                assert_eq!(t.sent.len(), 1, "{ctx}");
                let e = t.end.err();
                assert!(
                    matches!(e, Error::Decode { status: None, .. }),
                    "{ctx}: {e:?}"
                );
                continue;
            }
            if retried {
                assert_eq!(t.sent.len(), 3, "{ctx}");
                assert_eq!(t.waits, [at_ms(200), at_ms(600)], "{ctx}");
                assert!(t.sent.windows(2).all(|w| w[0].body == w[1].body), "{ctx}");
            } else {
                assert_eq!(t.sent.len(), 1, "{ctx}: must not be sent twice");
                assert!(t.waits.is_empty(), "{ctx}");
            }
            assert!(
                matches!(t.end, End::GaveUp(f) if f == failure),
                "{ctx}: {:?}",
                t.end
            );
        }
    }
}

#[test]
fn a_retried_request_succeeds_on_the_next_attempt() {
    // Idempotent: timeout, 504, then the answer.
    let mut flow = Health::new(&config());
    let t = drive(
        &mut flow,
        answers![
            TransportFailure::Timeout,
            problem(504, "gateway_timeout", "slow", "/v1/health", None),
            &capture(1, "GET", "/v1/health")
        ],
    );
    assert_eq!(t.sent.len(), 3);
    t.end.ok();
    // Not idempotent: 503 with Retry-After 2 is retried after exactly 2 s.
    let mut flow = Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let t = drive(
        &mut flow,
        answers![
            problem(
                503,
                "service_unavailable",
                "busy",
                "/v1/token/renew",
                Some("2")
            ),
            &capture(49, "POST", "/v1/token/renew")
        ],
    );
    assert_eq!(t.waits, [at_ms(2000)]);
    t.end.ok();
    // A 503 whose Retry-After exceeds the policy ends at once with the problem.
    let mut flow = Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let t = drive(
        &mut flow,
        answers![problem(
            503,
            "service_unavailable",
            "busy",
            "/v1/token/renew",
            Some("30")
        )],
    );
    assert_eq!(t.sent.len(), 1);
    assert_eq!(t.end.err().status(), Some(503));
}

#[test]
fn a_custom_retry_policy_is_followed() {
    let cfg = config().with_retry(
        RetryPolicy::default()
            .with_max_attempts(5)
            .with_backoff(ms(100), ms(250)),
    );
    let mut flow = Health::new(&cfg);
    let t = drive(
        &mut flow,
        (0..5)
            .map(|_| Answer::from(TransportFailure::Io))
            .collect::<Vec<_>>(),
    );
    assert_eq!(t.sent.len(), 5);
    assert_eq!(t.waits, [at_ms(100), at_ms(300), at_ms(550), at_ms(800)]);
    let mut flow = Health::new(&config().with_retry(RetryPolicy::none()));
    let t = drive(
        &mut flow,
        answers![problem(503, "x", "y", "/v1/health", None)],
    );
    assert_eq!(t.sent.len(), 1);
    t.end.err();
}

// ---------------------------------------------------- bodies that lie --

#[test]
fn non_problem_bodies_get_a_synthesised_problem_with_a_redacted_excerpt() {
    let jwt_like = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl";
    let html = format!("<html><body><h1>502 Bad Gateway</h1><p>{jwt_like}</p></body></html>");
    let r = http::Response::builder()
        .status(502)
        .header("content-type", "text/html")
        .header("x-request-id", "proxy-req-1")
        .body(html.clone().into_bytes())
        .unwrap();
    let mut flow = Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let t = drive(&mut flow, answers![r]);
    let e = t.end.err();
    let p = e.problem().unwrap();
    assert!(matches!(e, Error::Problem { status: 502, .. }));
    assert_eq!(p.status, 502);
    assert_eq!(p.title, "Bad Gateway");
    assert_eq!(p.instance, "/v1/token/renew");
    assert_eq!(p.request_id.as_deref(), Some("proxy-req-1"));
    assert_eq!(p.error_code, None);
    assert!(p.detail.contains("502 Bad Gateway"), "{}", p.detail);
    assert!(
        !p.detail.contains("c2lnbmF0dXJl"),
        "the JWT is redacted: {}",
        p.detail
    );
    assert!(p.detail.contains("<redacted>"));

    // An empty 500 body.
    let mut flow = Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let e = drive(&mut flow, answers![reply(500, None, b"")]).end.err();
    assert_eq!(e.problem().unwrap().detail, "(empty response body)");
    assert_eq!(e.problem().unwrap().title, "Internal Server Error");

    // A problem body echoing a secret member keeps it out of the error.
    let body = br#"{"type":"urn:agentwrit:error:invalid_request","title":"Bad Request","status":400,"detail":"bad","instance":"/v1/app/auth","error_code":"invalid_request","client_secret":"hunter2"}"#;
    let mut flow = AppAuth::new(&config(), "cm-1", &ClientSecret::new("hunter2")).unwrap();
    let e = drive(
        &mut flow,
        answers![reply(400, Some("application/problem+json"), body)],
    )
    .end
    .err();
    assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
    assert!(!e.to_string().contains("hunter2"));
}

fn decode_error<F: Flow>(mut flow: F, r: http::Response<Vec<u8>>) -> (u16, String, String)
where
    F::Output: std::fmt::Debug,
{
    match drive(&mut flow, answers![r]).end.err() {
        Error::Decode {
            status,
            message,
            excerpt,
            ..
        } => (status.unwrap(), message, excerpt),
        other => panic!("expected Decode, got {other:?}"),
    }
}

#[test]
fn malformed_truncated_mistyped_incomplete_and_oversized_bodies_are_decode_errors() {
    let health = || Health::new(&config());
    let good = capture(1, "GET", "/v1/health").body;

    let (s, m, x) = decode_error(health(), reply(200, Some("application/json"), b"{not json"));
    assert_eq!(s, 200);
    assert!(m.contains("not valid JSON"), "{m}");
    assert_eq!(x, "{not json");

    let truncated = &good.as_bytes()[..good.len() / 2];
    let (_, m, x) = decode_error(health(), reply(200, Some("application/json"), truncated));
    assert!(m.contains("truncated"), "{m}");
    assert_eq!(x.as_bytes(), truncated);

    // A proxy's HTML page with a 200: refused by its content type, with
    // the status and an excerpt.
    let (s, m, x) = decode_error(
        health(),
        reply(200, Some("text/html"), b"<html>maintenance</html>"),
    );
    assert_eq!(s, 200);
    assert_eq!(
        m,
        "unexpected content type `text/html` (expected application/json)"
    );
    assert_eq!(x, "<html>maintenance</html>");
    // Even when the body happens to be the expected JSON.
    let (_, m, _) = decode_error(
        health(),
        reply(200, Some("text/plain; charset=utf-8"), good.as_bytes()),
    );
    assert!(m.contains("`text/plain; charset=utf-8`"), "{m}");
    // JSON media types in any spelling, and a missing header, are fine.
    for ct in [
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("Application/JSON"),
        Some("application/vnd.agentwrit+json"),
        None,
    ] {
        let mut flow = health();
        drive(&mut flow, answers![reply(200, ct, good.as_bytes())])
            .end
            .ok();
    }
    // A 204 without a content type and without a body is a release.
    let mut flow = Release::new(&config(), &tok(AGENT_TOKEN)).unwrap();
    let t = drive(&mut flow, answers![reply(204, Some("text/plain"), b"")]);
    assert_eq!(t.end.ok(), ReleaseOutcome::Released);

    let (_, m, _) = decode_error(
        Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap(),
        ok_json(200, &json!({"access_token": "a.b.c"})),
    );
    assert!(m.starts_with("missing field `expires_in`"), "{m}");
    let (_, m, _) = decode_error(
        Validate::new(&config(), &tok("x")).unwrap(),
        ok_json(200, &json!({"claims": null})),
    );
    assert!(m.starts_with("missing field `valid`"), "{m}");
    let (_, m, _) = decode_error(
        health(),
        reply(200, Some("application/json"), br#"{"status":1}"#),
    );
    assert!(m.contains("expected shape"), "{m}");
    let (_, m, _) = decode_error(health(), reply(204, None, b""));
    assert!(m.contains("truncated"), "{m}");

    // Missing fields in a 2xx of a multi-step flow.
    let (s, m, _) = decode_error(
        Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap(),
        ok_json(200, &json!({"expires_in": 300})),
    );
    assert_eq!(s, 200);
    assert!(m.contains("access_token"), "{m}");
    // A secret in a mis-shaped body never reaches the error.
    let secret_jwt = agent_token("33333333333333333333333333333333", 300);
    let (_, m, x) = decode_error(
        Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap(),
        ok_json(
            200,
            &json!({"access_token": secret_jwt, "expires_in": "soon"}),
        ),
    );
    assert!(
        !m.contains(&secret_jwt) && !x.contains(&secret_jwt),
        "{m} / {x}"
    );
    assert!(x.contains("<redacted>"), "{x}");

    // Oversized: over max_response_bytes, whatever the status.
    let cfg = config().with_max_response_bytes(64);
    let big = format!(r#"{{"status":"ok","version":"{}"}}"#, "x".repeat(5000));
    let (s, m, x) = decode_error(
        Health::new(&cfg),
        reply(200, Some("application/json"), big.as_bytes()),
    );
    assert_eq!(s, 200);
    assert!(m.contains("64-byte limit"), "{m}");
    assert!(
        x.len() <= 512 + '…'.len_utf8(),
        "bounded excerpt: {}",
        x.len()
    );
    // An oversized 503 is not retried, it is a decode error at once.
    let mut flow = Health::new(&cfg);
    let t = drive(
        &mut flow,
        answers![reply(503, Some("text/html"), big.as_bytes())],
    );
    assert_eq!(t.sent.len(), 1);
    assert!(matches!(
        t.end.err(),
        Error::Decode {
            status: Some(503),
            ..
        }
    ));
    // Exactly at the limit is fine.
    let exact = config().with_max_response_bytes(good.len());
    drive(
        &mut Health::new(&exact),
        answers![reply(200, Some("application/json"), good.as_bytes())],
    )
    .end
    .ok();
    // The excerpt of a huge non-JSON body is bounded too.
    let huge = "é".repeat(100_000);
    let (_, _, x) = decode_error(health(), reply(200, Some("text/plain"), huge.as_bytes()));
    assert!(x.len() <= 512 + '…'.len_utf8(), "{}", x.len());
}

#[test]
fn session_responses_with_impossible_lifetimes_are_decode_errors() {
    for expires_in in [0, -5] {
        let body = json!({"access_token": "a.b.c", "expires_in": expires_in, "token_type": "Bearer", "scopes": []});
        let mut flow = AppAuth::new(&config(), "cm-1", &ClientSecret::new("s")).unwrap();
        assert!(matches!(
            drive(&mut flow, answers![ok_json(200, &body)]).end.err(),
            Error::Decode { .. }
        ));
    }
    let body = json!({"access_token": "", "expires_in": 60, "token_type": "Bearer", "scopes": []});
    let mut flow = AppAuth::new(&config(), "cm-1", &ClientSecret::new("s")).unwrap();
    assert!(matches!(
        drive(&mut flow, answers![ok_json(200, &body)]).end.err(),
        Error::Decode { .. }
    ));
}

// -------------------------------------------------------- out of order --

fn assert_out_of_order<T: std::fmt::Debug>(step: Step<T>, ctx: &str) {
    assert!(
        matches!(step, Step::Done(Err(Error::InvalidState { .. }))),
        "{ctx}: {step:?}"
    );
}

fn out_of_order_checks<F: Flow>(make: impl Fn() -> F, name: &str)
where
    F::Output: std::fmt::Debug,
{
    let ok = || reply(200, Some("application/json"), b"{}");
    // A response before start.
    assert_out_of_order(make().handle_response(ok(), now()), name);
    // resume without a wait.
    assert_out_of_order(make().resume(now()), name);
    // A transport error before start.
    let mut f = make();
    assert_out_of_order(
        f.handle_transport_failure(
            TransportFailure::Io,
            Error::transport(TransportFailure::Io, "out_of_order", None),
            now(),
        ),
        name,
    );
    // start twice.
    let mut f = make();
    assert!(matches!(f.start(now()), Step::Send(_)), "{name}");
    assert_out_of_order(f.start(now()), name);
    // After Done, everything is out of order.
    let mut f = make();
    let _ = f.start(now());
    let done = f.handle_response(reply(400, None, b""), now());
    assert!(done.is_done(), "{name}");
    assert_out_of_order(f.handle_response(ok(), now()), name);
    assert_out_of_order(f.resume(now()), name);
    assert_out_of_order(f.start(now()), name);
    // Resuming early repeats the Wait.
    let mut f = make();
    let _ = f.start(now());
    let Step::Wait { until } = f.handle_response(problem(503, "x", "y", "/", None), now()) else {
        panic!("{name}: a 503 waits");
    };
    assert!(
        matches!(f.resume(now()), Step::Wait { until: u } if u == until),
        "{name}"
    );
    assert_out_of_order(f.handle_response(ok(), now()), name);
}

#[test]
fn out_of_order_calls_are_invalid_state_never_a_panic() {
    out_of_order_checks(|| Health::new(&config()), "health");
    out_of_order_checks(|| Validate::new(&config(), &tok("x")).unwrap(), "validate");
    out_of_order_checks(
        || AppAuth::new(&config(), "c", &ClientSecret::new("s")).unwrap(),
        "app_auth",
    );
    out_of_order_checks(
        || AdminAuth::new(&config(), &AdminSecret::new("s")).unwrap(),
        "admin_auth",
    );
    out_of_order_checks(
        || CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap(),
        "create_agent",
    );
    out_of_order_checks(
        || Renew::new(&config(), &tok(AGENT_TOKEN)).unwrap(),
        "renew",
    );
    out_of_order_checks(
        || Release::new(&config(), &tok(AGENT_TOKEN)).unwrap(),
        "release",
    );
    out_of_order_checks(
        || Delegate::new(&config(), &tok(AGENT_TOKEN), "x", &["read:data:*"], None).unwrap(),
        "delegate",
    );
    out_of_order_checks(
        || ListApps::new(&config(), &tok(ADMIN_TOKEN)).unwrap(),
        "list_apps",
    );
    out_of_order_checks(
        || Revoke::new(&config(), &tok(ADMIN_TOKEN), RevocationLevel::Token, "j").unwrap(),
        "revoke",
    );
}

// ------------------------------------------------ secrets in Debug --

#[test]
fn debug_of_a_send_step_shows_no_secret() {
    let client_secret = "4ca1b20858707d760ea8e9bf0ac0b330";
    let mut f = AppAuth::new(&config(), "cm-1", &ClientSecret::new(client_secret)).unwrap();
    let step = f.start(now());
    let shown = format!("{step:?} {f:?}");
    assert!(shown.contains("/v1/app/auth"), "{shown}");
    assert!(!shown.contains(client_secret), "{shown}");

    let mut f = AdminAuth::new(&config(), &AdminSecret::new("admin-s3cr3t")).unwrap();
    let shown = format!("{:?} {f:?}", f.start(now()));
    assert!(!shown.contains("admin-s3cr3t"), "{shown}");

    let bearer = agent_token("44444444444444444444444444444444", 300);
    let mut f = Renew::new(&config(), &tok(&bearer)).unwrap();
    let step = f.start(now());
    let Step::Send(req) = &step else { panic!() };
    assert!(req.headers()["authorization"].is_sensitive());
    let shown = format!("{step:?} {f:?} {:?}", req.headers());
    assert!(!shown.contains(&bearer), "{shown}");

    let mut f = Validate::new(&config(), &tok(&bearer)).unwrap();
    let shown = format!("{:?} {f:?}", f.start(now()));
    assert!(!shown.contains(&bearer), "{shown}");

    // The register request carries the launch token in its body.
    let lt = capture(26, "POST", "/v1/app/launch-tokens");
    let launch_token = lt.json()["launch_token"].as_str().unwrap().to_owned();
    let mut f = CreateAgent::new(&config(), &tok(APP_TOKEN), create_agent_request()).unwrap();
    let s1 = f.start(now());
    let s2 = f.handle_response(lt.response(), now());
    let s3 = f.handle_response(capture(2, "GET", "/v1/challenge").response(), now());
    let Step::Send(register) = &s3 else {
        panic!("{s3:?}")
    };
    assert!(String::from_utf8_lossy(register.body()).contains(&launch_token));
    let shown = format!("{s1:?} {s2:?} {s3:?} {f:?}");
    assert!(shown.contains("/v1/register"), "{shown}");
    assert!(!shown.contains(&launch_token), "{shown}");
    assert!(!shown.contains(APP_TOKEN), "{shown}");

    // Credentials and sessions in Debug.
    let cred = credentials(&bearer, now(), 300);
    let shown = format!("{cred:?} {:?}", AgentState::new(cred.clone()));
    assert!(!shown.contains(&bearer), "{shown}");
    let mut f = AppAuth::new(&config(), "cm-1", &ClientSecret::new("s")).unwrap();
    let c25 = capture(25, "POST", "/v1/app/auth");
    let app_token = c25.json()["access_token"].as_str().unwrap().to_owned();
    let s = drive(&mut f, answers![&c25]).end.ok();
    assert!(!format!("{s:?}").contains(&app_token));
}

// --------------------------------------------------- shared flows --

fn app_session() -> Arc<SharedSession> {
    Arc::new(SharedSession::app("cm-37a7c9c10885", ClientSecret::new("4ca1b208")).unwrap())
}

fn short_app_auth(token: &str, expires_in: i64) -> http::Response<Vec<u8>> {
    ok_json(
        200,
        &json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer", "scopes": ["app:launch-tokens:*"]}),
    )
}

#[test]
fn with_session_authenticates_once_then_reuses_the_session() {
    let shared = app_session();
    let cfg = config();
    let make = |cfg: ClientConfig| {
        move |t: &AccessToken| {
            CreateLaunchToken::for_app(
                &cfg,
                t,
                &LaunchTokenRequest::new("a", vec!["read:data:*".into()]),
            )
        }
    };
    let lt = capture(26, "POST", "/v1/app/launch-tokens");
    let mut flow = shared.call(&cfg, make(cfg.clone()));
    let t = drive(
        &mut flow,
        answers![short_app_auth("app.one.tok", 1800), &lt],
    );
    t.sent[0].check(
        "POST",
        "/v1/app/auth",
        None,
        Some(&json!({"client_id": "cm-37a7c9c10885", "client_secret": "4ca1b208"})),
    );
    assert_eq!(
        t.sent[1].header("authorization"),
        Some("Bearer app.one.tok")
    );
    t.end.ok();
    assert_eq!(
        shared.session().unwrap().access_token.expose_secret(),
        "app.one.tok"
    );

    // A second call re-uses the session: no auth request.
    let mut flow = shared.call(&cfg, make(cfg.clone()));
    let t = drive_at(&mut flow, now() + Duration::from_secs(1739), answers![&lt]);
    assert_eq!(t.sent.len(), 1);
    t.sent[0].check(
        "POST",
        "/v1/app/launch-tokens",
        Some("app.one.tok"),
        Some(&json!({"agent_name": "a", "allowed_scope": ["read:data:*"]})),
    );
    t.end.ok();

    // Under 60 s left: authenticate again first.
    let mut flow = shared.call(&cfg, make(cfg.clone()));
    let t = drive_at(
        &mut flow,
        now() + Duration::from_secs(1740),
        answers![short_app_auth("app.two.tok", 1800), &lt],
    );
    assert_eq!(t.sent[0].uri, format!("{BROKER}/v1/app/auth"));
    assert_eq!(
        t.sent[1].header("authorization"),
        Some("Bearer app.two.tok")
    );
    t.end.ok();
}

#[test]
fn with_session_re_authenticates_once_after_a_401_on_its_token() {
    let shared = app_session();
    let cfg = config();
    let make = |cfg: ClientConfig| move |t: &AccessToken| ListApps::new(&cfg, t);
    let unauthorized = || capture(50, "POST", "/v1/token/renew").response();
    let list = capture(14, "GET", "/v1/admin/apps");
    let mut flow = shared.call(&cfg, make(cfg.clone()));
    let t = drive(
        &mut flow,
        answers![
            short_app_auth("stale.tok.en", 1800),
            unauthorized(),
            short_app_auth("fresh.tok.en", 1800),
            &list
        ],
    );
    let auths: Vec<_> = t
        .sent
        .iter()
        .map(|s| (s.uri.clone(), s.header("authorization").map(str::to_owned)))
        .collect();
    assert_eq!(
        auths,
        [
            (format!("{BROKER}/v1/app/auth"), None),
            (
                format!("{BROKER}/v1/admin/apps"),
                Some("Bearer stale.tok.en".into())
            ),
            (format!("{BROKER}/v1/app/auth"), None),
            (
                format!("{BROKER}/v1/admin/apps"),
                Some("Bearer fresh.tok.en".into())
            ),
        ]
    );
    t.end.ok();

    // A second 401 is the caller's error (retried once only).
    let shared = app_session();
    let mut flow = shared.call(&cfg, make(cfg.clone()));
    let t = drive(
        &mut flow,
        answers![
            short_app_auth("a.a.a", 1800),
            unauthorized(),
            short_app_auth("b.b.b", 1800),
            unauthorized()
        ],
    );
    assert_eq!(t.sent.len(), 4);
    assert!(t.end.err().is_authentication());

    // A failed authentication ends the call with its error.
    let shared = app_session();
    let mut flow = shared.call(&cfg, make(cfg.clone()));
    let t = drive(&mut flow, answers![&capture(23, "POST", "/v1/app/auth")]);
    assert_eq!(t.sent.len(), 1);
    assert!(t.end.err().is_authentication());
    assert!(shared.session().is_none());
}

#[test]
fn with_session_makes_a_second_caller_wait_for_the_first_authentication() {
    let shared = app_session();
    let cfg = config();
    let mut first = shared.call(&cfg, {
        let cfg = cfg.clone();
        move |t: &AccessToken| ListApps::new(&cfg, t)
    });
    let mut second = shared.call(&cfg, {
        let cfg = cfg.clone();
        move |t: &AccessToken| ListApps::new(&cfg, t)
    });
    let Step::Send(auth) = first.start(now()) else {
        panic!()
    };
    assert_eq!(auth.uri().path(), "/v1/app/auth");
    let Step::Wait { until } = second.start(now()) else {
        panic!("the second caller waits")
    };
    assert_eq!(until, now() + agentwrit_core::AUTH_POLL_INTERVAL);
    let Step::Send(list) = first.handle_response(short_app_auth("one.one.one", 1800), now()) else {
        panic!()
    };
    assert_eq!(list.uri().path(), "/v1/admin/apps");
    // The second caller wakes up and uses the session: no second login.
    let Step::Send(list2) = second.resume(until) else {
        panic!()
    };
    assert_eq!(list2.uri().path(), "/v1/admin/apps");
    assert_eq!(list2.headers()["authorization"], "Bearer one.one.one");
}

#[test]
fn renew_in_place_release_in_place_and_auto_renew() {
    let first = agent_token("55555555555555555555555555555555", 100);
    let agent = SharedAgent::new(credentials(&first, now(), 100));
    let cfg = config();

    // AutoRenew waits until 80 % of the lifetime (less exp's
    // rounding second: 79.2 s of a 100 s token), then renews in place.
    let mut auto = agent.auto_renew_flow(&cfg);
    let step = auto.start(now());
    let due = now() + Duration::from_millis(79_200);
    assert!(
        matches!(step, Step::Wait { until } if until == due),
        "{step:?}"
    );
    assert!(
        matches!(auto.resume(now() + Duration::from_secs(78)), Step::Wait { until } if until == due)
    );
    let Step::Send(renew) = auto.resume(due) else {
        panic!()
    };
    assert_eq!(renew.uri().path(), "/v1/token/renew");
    assert_eq!(
        renew.headers()["authorization"],
        format!("Bearer {first}").as_str()
    );
    let second = agent_token("66666666666666666666666666666666", 100);
    let next = auto.handle_response(
        ok_json(200, &json!({"access_token": second, "expires_in": 100})),
        due,
    );
    assert!(
        matches!(next, Step::Wait { until } if until == due + Duration::from_millis(79_200)),
        "{next:?}"
    );
    assert_eq!(agent.access_token().expose_secret(), second);
    assert_eq!(agent.jti(), "66666666666666666666666666666666");

    // RenewInPlace on its own.
    let third = agent_token("77777777777777777777777777777777", 100);
    let mut flow = agent.renew_flow(&cfg).unwrap();
    let t = drive(
        &mut flow,
        answers![ok_json(
            200,
            &json!({"access_token": third, "expires_in": 100})
        )],
    );
    t.sent[0].check("POST", "/v1/token/renew", Some(&second), None);
    t.end.ok();
    assert_eq!(agent.access_token().expose_secret(), third);

    // Release in place stops auto-renewal; a second release sends nothing.
    let mut flow = agent.release_flow(&cfg);
    let t = drive(
        &mut flow,
        answers![&capture(61, "POST", "/v1/token/release")],
    );
    t.sent[0].check("POST", "/v1/token/release", Some(&third), None);
    assert_eq!(t.end.ok(), ReleaseOutcome::Released);
    assert!(agent.is_released());
    let mut again = agent.release_flow(&cfg);
    let t = drive(&mut again, answers![]);
    assert!(t.sent.is_empty(), "the second release sends nothing");
    assert_eq!(t.end.ok(), ReleaseOutcome::AlreadyDead);
    assert!(matches!(agent.renew_flow(&cfg), Err(Error::Released)));
    // The auto-renewal flow sees the release and ends with its count.
    assert!(matches!(
        auto.resume(due + Duration::from_secs(80)),
        Step::Done(Ok(1))
    ));
}

#[test]
fn auto_renewal_ends_with_the_last_handle_and_sends_nothing() {
    let first = agent_token("99999999999999999999999999999999", 100);
    let agent = SharedAgent::new(credentials(&first, now(), 100));
    let cfg = config();
    let mut auto = agent.auto_renew_flow(&cfg);
    let due = now() + Duration::from_millis(79_200);
    assert!(matches!(auto.start(now()), Step::Wait { until } if until == due));
    // A clone keeps the agent alive: an early wake-up waits again.
    let clone = agent.clone();
    drop(agent);
    assert!(matches!(auto.resume(now()), Step::Wait { until } if until == due));
    // The last handle goes: at its due time the flow ends without
    // renewing (the worker held no strong reference to the agent).
    drop(clone);
    assert!(
        matches!(auto.resume(due), Step::Done(Ok(0))),
        "a dropped agent is not renewed"
    );
}

#[test]
fn a_renewal_that_lands_after_release_is_released_again() {
    let first = agent_token("88888888888888888888888888888888", 300);
    let agent = SharedAgent::new(credentials(&first, now(), 300));
    let cfg = config();
    let mut renew = agent.renew_flow(&cfg).unwrap();
    let Step::Send(_) = renew.start(now()) else {
        panic!()
    };
    agent.mark_released();
    let orphan = agent_token("99999999999999999999999999999999", 300);
    let step = renew.handle_response(
        ok_json(200, &json!({"access_token": orphan, "expires_in": 300})),
        now(),
    );
    let Step::Send(release) = step else {
        panic!("the orphan is released: {step:?}")
    };
    assert_eq!(release.uri().path(), "/v1/token/release");
    assert_eq!(
        release.headers()["authorization"],
        format!("Bearer {orphan}").as_str()
    );
    let end = renew.handle_response(capture(61, "POST", "/v1/token/release").response(), now());
    assert!(matches!(end, Step::Done(Err(Error::Released))), "{end:?}");
    assert_eq!(
        agent.access_token().expose_secret(),
        first,
        "the orphan is not installed"
    );
}

#[test]
fn release_in_place_after_a_401_marks_the_agent_released() {
    let token = agent_token("abababababababababababababababab", 300);
    let agent = SharedAgent::new(credentials(&token, now(), 300));
    let mut flow = agent.release_flow(&config());
    let t = drive(
        &mut flow,
        answers![&capture(62, "POST", "/v1/token/release")],
    );
    assert_eq!(t.end.ok(), ReleaseOutcome::AlreadyDead);
    assert!(agent.is_released());
    // A failed release (500) leaves it releasable.
    let agent = SharedAgent::new(credentials(&token, now(), 300));
    let mut flow = agent.release_flow(&config());
    let t = drive(
        &mut flow,
        answers![problem(
            500,
            "internal_error",
            "x",
            "/v1/token/release",
            None
        )],
    );
    t.end.err();
    assert!(!agent.is_released());
    let mut flow = agent.release_flow(&config());
    assert_eq!(
        drive(
            &mut flow,
            answers![&capture(61, "POST", "/v1/token/release")]
        )
        .sent
        .len(),
        1
    );
}

#[test]
fn shared_agent_flows_stay_finished_after_an_out_of_order_call() {
    let token = agent_token("cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd", 100);
    let cfg = config();

    // AutoRenew: a response before start ends it, and it stays ended (it
    // used to start renewing on the next call).
    let agent = SharedAgent::new(credentials(&token, now(), 100));
    let mut auto = agent.auto_renew_flow(&cfg);
    let ok = || reply(200, None, b"{}");
    assert_out_of_order(auto.handle_response(ok(), now()), "auto_renew");
    assert_out_of_order(auto.start(now()), "auto_renew");
    assert_out_of_order(auto.resume(now() + Duration::from_secs(80)), "auto_renew");
    // Resume before start, and start twice.
    let mut auto = agent.auto_renew_flow(&cfg);
    assert_out_of_order(auto.resume(now()), "auto_renew");
    let mut auto = agent.auto_renew_flow(&cfg);
    assert!(matches!(auto.start(now()), Step::Wait { .. }));
    assert_out_of_order(auto.start(now()), "auto_renew");
    assert_out_of_order(auto.resume(now() + Duration::from_secs(80)), "auto_renew");
    // A renewal that gave up on a transport failure ends the worker.
    let mut auto = agent.auto_renew_flow(&cfg);
    let _ = auto.start(now());
    assert!(matches!(
        auto.resume(now() + Duration::from_secs(80)),
        Step::Send(_)
    ));
    assert!(matches!(
        auto.handle_transport_failure(
            TransportFailure::Timeout,
            Error::transport(TransportFailure::Timeout, "renew", None),
            now() + Duration::from_secs(80)
        ),
        Step::Done(Err(Error::Transport { .. }))
    ));
    assert_out_of_order(auto.resume(now() + Duration::from_secs(81)), "auto_renew");

    // ReleaseInPlace: start twice ends the release in flight too.
    let mut release = agent.release_flow(&cfg);
    assert!(matches!(release.start(now()), Step::Send(_)));
    assert_out_of_order(release.start(now()), "release_in_place");
    assert_out_of_order(
        release.handle_response(capture(61, "POST", "/v1/token/release").response(), now()),
        "release_in_place",
    );
    assert!(
        !agent.is_released(),
        "the release was abandoned, not applied"
    );
}

#[test]
fn audit_time_filters_are_sent_as_rfc3339() {
    use agentwrit_core::wire::Timestamp;
    let q = AuditQuery::new()
        .since(Timestamp::parse("2026-11-21T23:40:34Z").unwrap())
        .until(Timestamp::parse("2026-11-21T23:41:00.5Z").unwrap());
    let mut flow = AuditEvents::new(&config(), &tok(ADMIN_TOKEN), &q).unwrap();
    let t = drive(&mut flow, answers![&capture(72, "GET", "/v1/audit/events")]);
    t.sent[0].check(
        "GET",
        "/v1/audit/events?since=2026-11-21T23%3A40%3A34Z&until=2026-11-21T23%3A41%3A00.5Z",
        Some(ADMIN_TOKEN),
        None,
    );
    t.end.ok();
}

#[test]
fn an_operator_session_logs_in_with_the_admin_secret_first() {
    let shared = Arc::new(SharedSession::admin(AdminSecret::new("s3cr3t")).unwrap());
    assert_eq!(shared.client_id(), None);
    let cfg = config();
    let mut flow = shared.call(&cfg, {
        let cfg = cfg.clone();
        move |t: &AccessToken| Revoke::new(&cfg, t, RevocationLevel::Token, "j1")
    });
    let admin = capture(6, "POST", "/v1/admin/auth");
    let admin_token = admin.json()["access_token"].as_str().unwrap().to_owned();
    let t = drive(
        &mut flow,
        answers![&admin, &capture(68, "POST", "/v1/revoke")],
    );
    t.sent[0].check(
        "POST",
        "/v1/admin/auth",
        None,
        Some(&json!({"secret": "s3cr3t"})),
    );
    t.sent[1].check(
        "POST",
        "/v1/revoke",
        Some(&admin_token),
        Some(&json!({"level": "token", "target": "j1"})),
    );
    assert!(t.end.ok().revoked);
    let session = shared.session().unwrap();
    assert_eq!(
        session.scopes,
        ["admin:launch-tokens:*", "admin:revoke:*", "admin:audit:*"]
    );
    assert!(!format!("{shared:?}").contains("s3cr3t"));
    assert!(!format!("{shared:?}").contains(&admin_token));

    // Invalid input inside the call surfaces before its request is sent
    // (after the login, which the session needed anyway).
    let mut flow = shared.call(&cfg, {
        let cfg = cfg.clone();
        move |t: &AccessToken| Revoke::new(&cfg, t, RevocationLevel::Token, "")
    });
    let t = drive(&mut flow, answers![]);
    assert!(t.sent.is_empty(), "the session is fresh: nothing sent");
    assert!(matches!(&t.end.err(), Error::InvalidInput { field, .. } if field == "target"));
}

#[test]
fn jittered_backoff_is_deterministic_and_within_bounds() {
    let policy = RetryPolicy::default().with_jitter_seed(42);
    let cfg = config().with_retry(policy.clone());
    let run = || {
        let mut flow = Health::new(&cfg);
        drive(
            &mut flow,
            answers![
                TransportFailure::Io,
                TransportFailure::Io,
                TransportFailure::Io
            ],
        )
        .waits
    };
    let waits = run();
    assert_eq!(waits, run(), "same seed, same schedule");
    let first = policy.backoff(1);
    let second = policy.backoff(2);
    assert_eq!(waits, [now() + first, now() + first + second]);
    assert!(first >= ms(100) && first <= ms(200), "{first:?}");
    assert!(second >= ms(200) && second <= ms(400), "{second:?}");
}
