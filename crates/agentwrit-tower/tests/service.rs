//! End-to-end: an axum service on 127.0.0.1:0 behind the layer, a
//! development broker on a manual clock, real HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use agentwrit_async::wire::RevocationLevel;
use agentwrit_tower::{AgentAuth, BrokerKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use support::*;

const SCOPES: [&str; 2] = ["read:data:customer-7291", "write:data:order-4823"];
const STALE: Duration = Duration::from_secs(5);

async fn new_agent(env: &Env, scopes: &[&str]) -> (agentwrit_async::Agent, String) {
    let agent = env
        .app
        .create_agent("order-worker", "process-ord-4823", scopes)
        .await
        .unwrap();
    let bearer = format!("Bearer {}", agent.access_token().expose_secret());
    (agent, bearer)
}

fn broker_auth(env: &Env, url: &str) -> AgentAuth {
    AgentAuth::broker(url)
        .clock(env.clk())
        .max_staleness(STALE)
        .public_path("/healthz")
        .build()
        .unwrap()
}

fn problem(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn allowed_blocked_and_public() {
    let env = env();
    let auth = broker_auth(&env, env.broker.url());
    let base = serve(service(&auth)).await;
    let (agent, bearer) = new_agent(&env, &SCOPES).await;

    let ok = call(&base, "GET", "/customers/7291", Some(&bearer)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body, format!("ok for {}", agent.agent_id()));
    assert_eq!(
        call(&base, "POST", "/orders/4823", Some(&bearer))
            .await
            .status,
        200
    );
    let me = call(&base, "GET", "/me", Some(&bearer)).await;
    assert_eq!(
        (me.status, me.body.as_str()),
        (200, agent.claims().jti.as_str())
    );
    // Public path: no token needed.
    let health = call(&base, "GET", "/healthz", None).await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));

    // Insufficient scope: the exact body and challenge.
    let denied = call(&base, "GET", "/customers/9999", Some(&bearer)).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.headers["content-type"], "application/problem+json");
    assert_eq!(
        denied.headers["www-authenticate"],
        r#"Bearer error="insufficient_scope", error_description="token lacks required scope: read:data:customer-9999", scope="read:data:customer-9999""#
    );
    assert_eq!(
        denied.body,
        r#"{"type":"urn:agentwrit:error:insufficient_scope","title":"Forbidden","status":403,"detail":"token lacks required scope: read:data:customer-9999","instance":"/customers/9999","error_code":"insufficient_scope"}"#
    );
    assert_eq!(
        call(&base, "POST", "/orders/0000", Some(&bearer))
            .await
            .status,
        403
    );
    // A template naming a parameter the route lacks fails closed.
    let mis = call(&base, "GET", "/misconfigured/1", Some(&bearer)).await;
    assert_eq!(mis.status, 500);
    assert_eq!(problem(&mis.body)["error_code"], "internal_error");
    // The problem bodies never carry the token.
    for r in [&denied, &mis] {
        assert!(!r.body.contains(agent.access_token().expose_secret()));
    }
}

#[tokio::test]
async fn missing_wrong_scheme_garbage_truncated_forged() {
    let env = env();
    let proxy = CountingProxy::start(env.broker.url(), false).await;
    let auth = broker_auth(&env, &proxy.url);
    let base = serve(service(&auth)).await;
    let (_agent, bearer) = new_agent(&env, &SCOPES).await;
    let token = bearer.trim_start_matches("Bearer ").to_owned();

    let missing = call(&base, "GET", "/customers/7291", None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    assert_eq!(
        missing.body,
        r#"{"type":"urn:agentwrit:error:unauthorized","title":"Unauthorized","status":401,"detail":"missing authorization header","instance":"/customers/7291","error_code":"unauthorized"}"#
    );
    let basic = call(&base, "GET", "/customers/7291", Some("Basic dXNlcjpwYXNz")).await;
    assert_eq!(
        (basic.status, &basic.headers["www-authenticate"]),
        (401, &"Bearer".parse().unwrap())
    );
    assert_eq!(
        problem(&basic.body)["detail"],
        "the authorization scheme is not Bearer"
    );

    // Refused before any broker call.
    for bad in [
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        "Bearer a.b",
        "Bearer a.b.c.d",
        "Bearer a..c",
    ] {
        let r = call(&base, "GET", "/customers/7291", Some(bad)).await;
        assert_eq!(r.status, 401, "{bad}");
    }
    assert_eq!(proxy.calls(), 0);

    // Truncated (signature cut) and forged (signed by another key): the
    // broker refuses them.
    let truncated = &token[..token.len() - 10];
    let mut parts = token.split('.');
    let (h, p) = (parts.next().unwrap(), parts.next().unwrap());
    let other = SigningKey::from_bytes(&[7; 32]);
    let sig = other.sign(format!("{h}.{p}").as_bytes());
    let forged = format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
    for bad in [truncated, forged.as_str()] {
        let r = call(
            &base,
            "GET",
            "/customers/7291",
            Some(&format!("Bearer {bad}")),
        )
        .await;
        assert_eq!(r.status, 401);
        assert_eq!(
            r.headers["www-authenticate"],
            r#"Bearer error="invalid_token", error_description="token is invalid or expired""#
        );
        assert_eq!(problem(&r.body)["error_code"], "unauthorized");
        assert!(!r.body.contains(bad));
    }
    assert_eq!(proxy.calls(), 2);
    // Negative verdicts are cached too: no second call within max_staleness.
    let r = call(
        &base,
        "GET",
        "/customers/7291",
        Some(&format!("Bearer {forged}")),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(proxy.calls(), 2);
    // Scheme is case-insensitive; the genuine token still works.
    let lower = format!("bearer {token}");
    assert_eq!(
        call(&base, "GET", "/customers/7291", Some(&lower))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn expired_released_and_revoked_after_max_staleness() {
    let env = env();
    let proxy = CountingProxy::start(env.broker.url(), false).await;
    let auth = broker_auth(&env, &proxy.url);
    let base = serve(service(&auth)).await;

    // Released: cached as valid until max_staleness has passed, then 401.
    let (agent, bearer) = new_agent(&env, &SCOPES).await;
    assert_eq!(
        call(&base, "GET", "/customers/7291", Some(&bearer))
            .await
            .status,
        200
    );
    agent.release().await.unwrap();
    assert_eq!(
        call(&base, "GET", "/customers/7291", Some(&bearer))
            .await
            .status,
        200
    );
    assert_eq!(proxy.calls(), 1);
    env.advance(STALE);
    let r = call(&base, "GET", "/customers/7291", Some(&bearer)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(proxy.calls(), 2);

    // Revoked by the operator: the same.
    let operator =
        agentwrit_async::Operator::new(env.broker.url(), env.broker.admin_secret().expose_secret())
            .unwrap();
    let (agent, bearer) = new_agent(&env, &SCOPES).await;
    assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 200);
    operator
        .revoke(RevocationLevel::Token, &agent.claims().jti)
        .await
        .unwrap();
    assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 200);
    env.advance(STALE - Duration::from_secs(1));
    assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 200);
    env.advance(Duration::from_secs(1));
    assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 401);

    // Expired: never served from the cache past exp, even with a long
    // max_staleness.
    let long = AgentAuth::broker(&proxy.url)
        .clock(env.clk())
        .max_staleness(Duration::from_secs(3600))
        .build()
        .unwrap();
    let base = serve(service(&long)).await;
    let (agent, bearer) = new_agent(&env, &SCOPES).await;
    assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 200);
    let exp = agent.claims().exp;
    let now = |c: &agentwrit_core::ManualClock| {
        agentwrit_core::Clock::now(c)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    env.advance(Duration::from_secs((exp - now(&env.clk()) + 1) as u64));
    let r = call(&base, "GET", "/me", Some(&bearer)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        r.headers["www-authenticate"],
        r#"Bearer error="invalid_token", error_description="token is invalid or expired""#
    );
}

#[tokio::test]
async fn max_staleness_zero_asks_every_time() {
    let env = env();
    let proxy = CountingProxy::start(env.broker.url(), false).await;
    let auth = AgentAuth::broker(&proxy.url)
        .max_staleness(Duration::ZERO)
        .build()
        .unwrap();
    let base = serve(service(&auth)).await;
    let (_agent, bearer) = new_agent(&env, &SCOPES).await;
    for _ in 0..3 {
        assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 200);
    }
    assert_eq!(proxy.calls(), 3);
    assert_eq!(auth.cached_entries(), 0);
}

#[tokio::test]
async fn path_templates_with_colons() {
    let env = env();
    let auth = broker_auth(&env, env.broker.url());
    let base = serve(service(&auth)).await;
    let (_agent, bearer) = new_agent(
        &env,
        &["read:data:customer-acme:7291", "read:data:customer-a b"],
    )
    .await;
    assert_eq!(
        call(&base, "GET", "/customers/acme:7291", Some(&bearer))
            .await
            .status,
        200
    );
    // Percent-encoded colon: decoded before filling the template.
    assert_eq!(
        call(&base, "GET", "/customers/acme%3A7291", Some(&bearer))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&base, "GET", "/customers/a%20b", Some(&bearer))
            .await
            .status,
        200
    );
    let r = call(&base, "GET", "/customers/acme:7292", Some(&bearer)).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["detail"],
        "token lacks required scope: read:data:customer-acme:7292"
    );
    // A wildcard in the path does not widen anything: it must be held.
    assert_eq!(
        call(&base, "GET", "/customers/*", Some(&bearer))
            .await
            .status,
        403
    );
    assert_eq!(
        call(&base, "GET", "/customers/acme", Some(&bearer))
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_requests_make_one_broker_call() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let env = env();
    let proxy = CountingProxy::start(env.broker.url(), true).await;
    let auth = broker_auth(&env, &proxy.url);
    // Counts requests entering the service; from there to joining the
    // in-flight check there is no await point.
    let entered = Arc::new(AtomicUsize::new(0));
    let counter = entered.clone();
    let router = service(&auth).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            counter.fetch_add(1, Ordering::SeqCst);
            next.run(req)
        },
    ));
    let base = serve(router).await;
    let (_agent, bearer) = new_agent(&env, &SCOPES).await;

    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (client, base, bearer) = (client.clone(), base.clone(), bearer.clone());
        tasks.spawn(async move {
            call_with(&client, &base, "GET", "/me", Some(&bearer))
                .await
                .status
        });
    }
    // The broker call is held at the proxy until all 64 requests are in.
    until(|| entered.load(Ordering::SeqCst) == 64 && proxy.calls() >= 1).await;
    proxy.release_all();
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.push(s.unwrap());
    }
    assert_eq!(statuses, vec![200; 64]);
    assert_eq!(proxy.calls(), 1);
}

#[tokio::test]
async fn the_cache_never_exceeds_its_cap() {
    let env = env();
    let auth = AgentAuth::broker(env.broker.url())
        .clock(env.clk())
        .cache_capacity(8)
        .build()
        .unwrap();
    let base = serve(service(&auth)).await;
    // Many distinct tokens: forged variants (each a distinct key) and real ones.
    let (_agent, bearer) = new_agent(&env, &SCOPES).await;
    let token = bearer.trim_start_matches("Bearer ");
    let (h, rest) = token.split_once('.').unwrap();
    let (p, _) = rest.split_once('.').unwrap();
    for i in 0..40u8 {
        let sig = SigningKey::from_bytes(&[i; 32]).sign(format!("{h}.{p}").as_bytes());
        let forged = format!("Bearer {h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
        assert_eq!(call(&base, "GET", "/me", Some(&forged)).await.status, 401);
        assert!(auth.cached_entries() <= 8, "{}", auth.cached_entries());
    }
    for _ in 0..4 {
        let (_a, bearer) = new_agent(&env, &SCOPES).await;
        assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 200);
        assert!(auth.cached_entries() <= 8);
    }
    assert_eq!(auth.cached_entries(), 8);
}

#[tokio::test]
async fn broker_down_is_503_and_recovers() {
    let seed = [42u8; 32];
    let env = env_with(agentwrit_devbroker::DevBroker::builder().signing_key_seed(seed));
    let addr = env.broker.local_addr();
    let auth = AgentAuth::broker(env.broker.url())
        .max_staleness(Duration::ZERO)
        .broker_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let base = serve(service(&auth)).await;
    let (_agent, bearer) = new_agent(&env, &SCOPES).await;
    assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 200);

    let Env { broker, clock, app } = env;
    drop(app);
    tokio::task::spawn_blocking(move || broker.shutdown())
        .await
        .unwrap();
    let down = call(&base, "GET", "/me", Some(&bearer)).await;
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.headers["retry-after"], "1");
    assert!(down.headers.get("www-authenticate").is_none());
    assert_eq!(
        down.body,
        r#"{"type":"urn:agentwrit:error:service_unavailable","title":"Service Unavailable","status":503,"detail":"the token broker cannot be reached","instance":"/me","error_code":"service_unavailable"}"#
    );

    // The broker comes back on the same address with the same key.
    let _back = tokio::task::spawn_blocking(move || {
        agentwrit_devbroker::DevBroker::builder()
            .signing_key_seed(seed)
            .clock(clock)
            .bind(addr)
            .start()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(call(&base, "GET", "/me", Some(&bearer)).await.status, 200);
}

#[tokio::test]
async fn local_mode_with_rotated_keys() {
    let old = env_with(
        agentwrit_devbroker::DevBroker::builder()
            .signing_key_seed([1; 32])
            .issuer("https://broker.example"),
    );
    let new = env_with(
        agentwrit_devbroker::DevBroker::builder()
            .signing_key_seed([2; 32])
            .issuer("https://broker.example"),
    );
    let old_key = BrokerKey::from_bytes(old.broker.public_key()).unwrap();
    let new_key = BrokerKey::from_bytes(new.broker.public_key()).unwrap();
    assert_eq!(new_key.kid(), new.broker.kid());

    let both = AgentAuth::local([old_key.clone(), new_key.clone()])
        .issuer("https://broker.example")
        .clock(old.clk())
        .build()
        .unwrap();
    let only_new = AgentAuth::local([new_key])
        .clock(old.clk())
        .build()
        .unwrap();
    let wrong_issuer = AgentAuth::local([old_key])
        .issuer("https://other.example")
        .clock(old.clk())
        .build()
        .unwrap();
    let (both_base, new_base, iss_base) = (
        serve(service(&both)).await,
        serve(service(&only_new)).await,
        serve(service(&wrong_issuer)).await,
    );
    let (_a, old_bearer) = new_agent(&old, &SCOPES).await;
    let (_b, new_bearer) = new_agent(&new, &SCOPES).await;
    assert_eq!(
        call(&both_base, "GET", "/me", Some(&old_bearer))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&both_base, "GET", "/me", Some(&new_bearer))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&both_base, "GET", "/customers/9999", Some(&new_bearer))
            .await
            .status,
        403
    );
    // The old key is retired: its tokens are refused.
    assert_eq!(
        call(&new_base, "GET", "/me", Some(&new_bearer))
            .await
            .status,
        200
    );
    let r = call(&new_base, "GET", "/me", Some(&old_bearer)).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        problem(&r.body)["detail"],
        "no pinned key verifies the token"
    );
    let r = call(&iss_base, "GET", "/me", Some(&old_bearer)).await;
    assert_eq!(
        (r.status, problem(&r.body)["detail"].as_str()),
        (401, Some("the issuer does not match"))
    );
    // A JWK and a base64url x give the same key.
    let x = URL_SAFE_NO_PAD.encode(old.broker.public_key());
    let jwk = format!(
        r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"{}"}}"#,
        old.broker.kid()
    );
    assert_eq!(
        BrokerKey::from_jwk(&jwk).unwrap(),
        BrokerKey::from_base64url(&x).unwrap()
    );
    // Expiry is seen locally.
    old.advance(Duration::from_secs(301));
    assert_eq!(
        call(&both_base, "GET", "/me", Some(&old_bearer))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn local_mode_cannot_see_release_but_the_recheck_does() {
    let env = env();
    let key = BrokerKey::from_bytes(env.broker.public_key()).unwrap();
    let proxy = CountingProxy::start(env.broker.url(), false).await;
    let local = AgentAuth::local([key.clone()])
        .clock(env.clk())
        .max_staleness(STALE)
        .build()
        .unwrap();
    let recheck = AgentAuth::local([key])
        .broker_recheck(&proxy.url)
        .clock(env.clk())
        .max_staleness(STALE)
        .build()
        .unwrap();
    let (local_base, recheck_base) = (serve(service(&local)).await, serve(service(&recheck)).await);
    let (agent, bearer) = new_agent(&env, &SCOPES).await;
    assert_eq!(
        call(&local_base, "GET", "/me", Some(&bearer)).await.status,
        200
    );
    assert_eq!(
        call(&recheck_base, "GET", "/me", Some(&bearer))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&recheck_base, "GET", "/me", Some(&bearer))
            .await
            .status,
        200
    );
    assert_eq!(proxy.calls(), 1);
    // Forged tokens never reach the broker in re-check mode.
    let token = bearer.trim_start_matches("Bearer ");
    let (hp, _) = token.rsplit_once('.').unwrap();
    let sig = SigningKey::from_bytes(&[3; 32]).sign(hp.as_bytes());
    let forged = format!("Bearer {hp}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
    assert_eq!(
        call(&recheck_base, "GET", "/me", Some(&forged))
            .await
            .status,
        401
    );
    assert_eq!(proxy.calls(), 1);

    agent.release().await.unwrap();
    env.advance(STALE);
    // Local mode alone still accepts the released token (documented)...
    assert_eq!(
        call(&local_base, "GET", "/me", Some(&bearer)).await.status,
        200
    );
    // ...the re-check refuses it once max_staleness has passed.
    assert_eq!(
        call(&recheck_base, "GET", "/me", Some(&bearer))
            .await
            .status,
        401
    );
    assert_eq!(proxy.calls(), 2);
}

#[tokio::test]
async fn optional_claims_on_public_routes_and_a_missing_layer() {
    let env = env();
    let auth = broker_auth(&env, env.broker.url());
    let whoami = |claims: Option<agentwrit_tower::AgentClaims>| async move {
        claims.map_or_else(|| String::from("anonymous"), |c| c.sub().to_owned())
    };
    let with_layer = axum::Router::new()
        .route("/healthz", axum::routing::get(whoami))
        .layer(auth.layer());
    // An extractor on a route without the layer fails closed with a 500.
    let without_layer = axum::Router::new().route(
        "/me",
        axum::routing::get(|c: agentwrit_tower::AgentClaims| async move { c.sub().to_owned() }),
    );
    let (a, b) = (serve(with_layer).await, serve(without_layer).await);
    let (agent, bearer) = new_agent(&env, &SCOPES).await;
    assert_eq!(call(&a, "GET", "/healthz", None).await.body, "anonymous");
    // On a public path the layer does not look at the token at all.
    assert_eq!(
        call(&a, "GET", "/healthz", Some(&bearer)).await.body,
        "anonymous"
    );
    let r = call(&b, "GET", "/me", Some(&bearer)).await;
    assert_eq!(r.status, 500);
    assert_eq!(problem(&r.body)["error_code"], "internal_error");
    assert!(!r.body.contains(agent.access_token().expose_secret()));
}

#[tokio::test]
async fn broker_errors_fail_closed_and_are_not_cached() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A stand-in broker whose validate endpoint answers 500, then 429.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let stub = axum::Router::new().route(
        "/v1/token/validate",
        axum::routing::post(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                let status = if n == 0 { 500 } else { 429 };
                let mut r = axum::response::Response::new(axum::body::Body::from(format!(
                    r#"{{"type":"urn:agentwrit:error:x","title":"x","status":{status},"detail":"x","instance":"/v1/token/validate"}}"#
                )));
                *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
                r.headers_mut().insert("content-type", "application/problem+json".parse().unwrap());
                r.headers_mut().insert("retry-after", "0".parse().unwrap());
                r
            }
        }),
    );
    let stub_url = serve(stub).await;
    let auth = AgentAuth::broker(&stub_url).build().unwrap();
    let base = serve(service(&auth)).await;
    let env = env();
    let (_agent, bearer) = new_agent(&env, &SCOPES).await;
    for _ in 0..2 {
        let r = call(&base, "GET", "/me", Some(&bearer)).await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(problem(&r.body)["error_code"], "service_unavailable");
    }
    // Each request asked again (failures are not cached).
    assert!(calls.load(Ordering::SeqCst) >= 2);
    assert_eq!(auth.cached_entries(), 0);
}
