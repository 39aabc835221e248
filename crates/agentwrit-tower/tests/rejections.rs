//! Every kind of rejection, over real HTTP: the `WWW-Authenticate`
//! challenge and the problem body say the same thing (the challenge's
//! `error_description` is the body's `detail`), and each names its cause.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use agentwrit_tower::{AgentAuth, BrokerKey, MAX_TOKEN_LEN};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use support::*;

const SCOPES: [&str; 1] = ["read:data:customer-7291"];

/// The parameter `name` of a challenge (quoted-string, no escapes: the
/// layer never writes `"` or `\` inside one).
fn param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let len = challenge[start..].find('"')?;
    Some(&challenge[start..start + len])
}

/// Asserts the reply is a problem with `status` and `detail`, and that its
/// challenge agrees with it: `error` is `error_code` (none for a missing
/// token, no challenge at all for 5xx) and `error_description` is the
/// `detail`, word for word.
fn assert_agrees(r: &Reply, status: u16, error: Option<&str>, detail: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["detail"], detail, "{}", r.body);
    assert_eq!(body["status"], status);
    let challenge = r
        .headers
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    match (status, error) {
        (500 | 503, _) => assert_eq!(challenge, None, "{detail}"),
        (_, None) => assert_eq!(challenge.as_deref(), Some("Bearer"), "{detail}"),
        (_, Some(error)) => {
            let challenge = challenge.unwrap();
            assert_eq!(param(&challenge, "error"), Some(error), "{challenge}");
            assert_eq!(
                param(&challenge, "error_description"),
                Some(detail),
                "{challenge}"
            );
        }
    }
}

#[tokio::test]
async fn header_problems_are_named_and_agree() {
    let env = env();
    let proxy = CountingProxy::start(env.broker.url(), false).await;
    let auth = AgentAuth::broker(&proxy.url)
        .clock(env.clk())
        .build()
        .unwrap();
    let base = serve(service(&auth)).await;
    let get = |authorization: Option<&'static str>| {
        let base = base.clone();
        async move { call(&base, "GET", "/me", authorization).await }
    };

    assert_agrees(&get(None).await, 401, None, "missing authorization header");
    assert_agrees(
        &get(Some("Basic dXNlcjpwYXNz")).await,
        401,
        None,
        "the authorization scheme is not Bearer",
    );
    for empty in ["Bearer", "Bearer ", "bearer   "] {
        assert_agrees(
            &get(Some(empty)).await,
            401,
            Some("invalid_token"),
            "the bearer token is empty",
        );
    }
    for garbage in [
        "Bearer garbage",
        "Bearer a.b",
        "Bearer a..c",
        "Bearer a.b.c=",
    ] {
        assert_agrees(
            &get(Some(garbage)).await,
            401,
            Some("invalid_token"),
            "the bearer token is not a compact JWS",
        );
    }
    // Two Authorization headers.
    let two = client()
        .get(format!("{base}/me"))
        .header("authorization", "Bearer a.b.c")
        .header("authorization", "Bearer a.b.c")
        .send()
        .await
        .unwrap();
    let two = Reply {
        status: two.status().as_u16(),
        headers: two.headers().clone(),
        body: two.text().await.unwrap(),
    };
    assert_agrees(
        &two,
        401,
        Some("invalid_token"),
        "more than one authorization header",
    );

    // Oversized: one byte over the limit, named by its size; nothing is
    // asked of the broker for any of the above.
    let over = format!("Bearer a.b.{}", "c".repeat(MAX_TOKEN_LEN - 3));
    let r = call(&base, "GET", "/me", Some(&over)).await;
    assert_agrees(
        &r,
        401,
        Some("invalid_token"),
        "the bearer token exceeds 16 KiB",
    );
    assert!(!r.body.contains("cccc"));
    assert_eq!(proxy.calls(), 0);
}

#[tokio::test]
async fn token_problems_are_named_and_agree() {
    let env = env_with(
        agentwrit_devbroker::DevBroker::builder()
            .signing_key_seed([3; 32])
            .issuer("https://broker.example"),
    );
    let agent = env
        .app
        .create_agent("order-worker", "process-ord-4823", &SCOPES)
        .await
        .unwrap();
    let token = agent.access_token().expose_secret().to_owned();
    let bearer = format!("Bearer {token}");

    // Refused by the broker (forged: signed by another key).
    let broker = serve(service(
        &AgentAuth::broker(env.broker.url())
            .clock(env.clk())
            .build()
            .unwrap(),
    ))
    .await;
    let mut parts = token.split('.');
    let (h, p) = (parts.next().unwrap(), parts.next().unwrap());
    let sig = SigningKey::from_bytes(&[7; 32]).sign(format!("{h}.{p}").as_bytes());
    let forged = format!("Bearer {h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
    assert_agrees(
        &call(&broker, "GET", "/me", Some(&forged)).await,
        401,
        Some("invalid_token"),
        "token is invalid or expired",
    );

    // The service's own claim rules, in broker mode too: issuer, audience.
    for (auth, detail) in [
        (
            AgentAuth::broker(env.broker.url()).issuer("https://other.example"),
            "the issuer does not match",
        ),
        (
            AgentAuth::broker(env.broker.url()).audience("orders-api"),
            "the audience does not match",
        ),
    ] {
        let base = serve(service(&auth.clock(env.clk()).build().unwrap())).await;
        assert_agrees(
            &call(&base, "GET", "/me", Some(&bearer)).await,
            401,
            Some("invalid_token"),
            detail,
        );
    }

    // Local mode: a key that does not verify, then expiry.
    let local = serve(service(
        &AgentAuth::local([BrokerKey::from_bytes(env.broker.public_key()).unwrap()])
            .issuer("https://broker.example")
            .clock(env.clk())
            .build()
            .unwrap(),
    ))
    .await;
    assert_agrees(
        &call(&local, "GET", "/me", Some(&forged)).await,
        401,
        Some("invalid_token"),
        "the signature does not verify",
    );
    assert_eq!(call(&local, "GET", "/me", Some(&bearer)).await.status, 200);
    let ttl = agent.claims().exp - agent.claims().iat;
    env.advance(Duration::from_secs(u64::try_from(ttl).unwrap() + 1));
    assert_agrees(
        &call(&local, "GET", "/me", Some(&bearer)).await,
        401,
        Some("invalid_token"),
        "the token has expired",
    );
}

#[tokio::test]
async fn scope_wiring_and_broker_outage_agree() {
    let env = env();
    let auth = AgentAuth::broker(env.broker.url())
        .clock(env.clk())
        .build()
        .unwrap();
    let base = serve(service(&auth)).await;
    let agent = env
        .app
        .create_agent("order-worker", "process-ord-4823", &SCOPES)
        .await
        .unwrap();
    let bearer = format!("Bearer {}", agent.access_token().expose_secret());

    // 403 from a route's scope layer and from a handler's `require`.
    let r = call(&base, "GET", "/customers/9999", Some(&bearer)).await;
    assert_agrees(
        &r,
        403,
        Some("insufficient_scope"),
        "token lacks required scope: read:data:customer-9999",
    );
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert_eq!(
        param(challenge, "scope"),
        Some("read:data:customer-9999"),
        "{challenge}"
    );
    // 500: a template naming a parameter the route lacks.
    let r = call(&base, "GET", "/misconfigured/1", Some(&bearer)).await;
    assert_eq!(r.status, 500);
    let detail = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_agrees(&r, 500, None, &detail);

    // 503: a broker that cannot answer.
    let stub = axum::Router::new().route(
        "/v1/token/validate",
        axum::routing::post(|| async { http::StatusCode::BAD_GATEWAY }),
    );
    let stub_url = serve(stub).await;
    let down = serve(service(
        &AgentAuth::broker(&stub_url)
            .clock(env.clk())
            .build()
            .unwrap(),
    ))
    .await;
    assert_agrees(
        &call(&down, "GET", "/me", Some(&bearer)).await,
        503,
        None,
        "the token broker cannot be reached",
    );
}
