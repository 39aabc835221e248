//! Client CPU per create-agent with the network excluded: key generation,
//! then the `CreateAgent` flow driven against canned broker responses
//! (launch token, challenge, register with a token the real broker issued),
//! i.e. keygen + nonce signature + JSON encode/decode + claims decode; and
//! each of those parts on its own.

use std::hint::black_box;
use std::time::SystemTime;

use agentwrit_core::wire::{AccessToken, LaunchToken, RegisterRequest, RegisterResponse};
use agentwrit_core::{
    AgentKey, ClientConfig, CreateAgent, CreateAgentRequest, Flow, Step, decode_claims,
};
use criterion::{Criterion, criterion_group, criterion_main};
use rand_core::OsRng;

const LAUNCH: &str = r#"{"launch_token":"a370447c039606f89aad32705f4e34934daa5621b1080afc1bd73f3551d2a85b","expires_at":"2026-11-21T23:41:07Z","policy":{"allowed_scope":["read:data:*"],"max_ttl":300}}"#;
const CHALLENGE: &str = r#"{"nonce":"7b67a75af6fb8aec9b9ccfb2fba4e8eed87f9f4b185912b01cecac7e15d20b1c","expires_in":30}"#;
/// A register response captured from the real broker (a real EdDSA token).
const REGISTER: &str = r#"{"agent_id":"spiffe://agentwrit.local/agent/conf-orch/conf-task/2895b0eaef6fea3e","access_token":"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InZ1MlRjSGMyR1dySmQ5NW9kNW5vRkdyNWNSY1NPR2J4WlIzUm8zUW9USWMifQ.eyJpc3MiOiIiLCJzdWIiOiJzcGlmZmU6Ly9hZ2VudHdyaXQubG9jYWwvYWdlbnQvY29uZi1vcmNoL2NvbmYtdGFzay8yODk1YjBlYWVmNmZlYTNlIiwiZXhwIjoxNzk1MzA0NzM3LCJuYmYiOjE3OTUzMDQ0MzcsImlhdCI6MTc5NTMwNDQzNywianRpIjoiMmEzZWVjY2Y1MzEyYjA1NDdmMTkyYjNmOWQ5ZDMzYTEiLCJzY29wZSI6WyJyZWFkOmRhdGE6KiJdLCJ0YXNrX2lkIjoiY29uZi10YXNrIiwib3JjaF9pZCI6ImNvbmYtb3JjaCJ9.euSK8ypTQUDXo_G2_Scg1d8oy2CSCDYL-NxM3lp90BIWc83DXXyPWWUAez4sbJAWfB5HvjNIbghWWSyuDRPLBg","expires_in":300}"#;

fn reply(status: u16, body: &str) -> http::Response<Vec<u8>> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn expect_send<T: std::fmt::Debug>(step: Step<T>) {
    assert!(matches!(step, Step::Send(_)), "expected Send, got {step:?}");
}

/// One whole create-agent, network excluded.
fn create_agent(config: &ClientConfig, app_token: &AccessToken, key: AgentKey) {
    let now = SystemTime::now();
    let request = CreateAgentRequest::new("conf-orch", "conf-task", ["read:data:*"], key);
    let mut flow = CreateAgent::new(config, app_token, request).unwrap();
    expect_send(flow.start(now));
    expect_send(flow.handle_response(reply(201, LAUNCH), now));
    expect_send(flow.handle_response(reply(200, CHALLENGE), now));
    match flow.handle_response(reply(200, REGISTER), now) {
        Step::Done(Ok(credentials)) => {
            assert_eq!(credentials.claims.scope, ["read:data:*"]);
            black_box(credentials);
        }
        other => panic!("expected Done(Ok), got {other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let config = ClientConfig::new("http://127.0.0.1:8080".parse().unwrap());
    let app_token = AccessToken::new("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhcHA6YmVuY2gifQ.c2ln");
    let mut group = c.benchmark_group("create_agent");

    group.bench_function("full (keygen + flow)", |b| {
        b.iter(|| create_agent(&config, &app_token, AgentKey::generate(&mut OsRng)))
    });
    let fixed = AgentKey::from_seed([7; 32]);
    group.bench_function("flow only (given key)", |b| {
        b.iter(|| create_agent(&config, &app_token, fixed.clone()))
    });

    group.bench_function("keygen", |b| {
        b.iter(|| black_box(AgentKey::generate(&mut OsRng)))
    });
    let nonce = "7b67a75af6fb8aec9b9ccfb2fba4e8eed87f9f4b185912b01cecac7e15d20b1c";
    group.bench_function("sign nonce", |b| {
        b.iter(|| black_box(fixed.sign_nonce(black_box(nonce)).unwrap()))
    });
    let signature = fixed.sign_nonce(nonce).unwrap();
    let register = RegisterRequest::new(
        LaunchToken::new("a370447c039606f89aad32705f4e34934daa5621b1080afc1bd73f3551d2a85b"),
        nonce,
        fixed.public_key_base64(),
        signature,
        "conf-orch",
        "conf-task",
        vec!["read:data:*".to_owned()],
    );
    group.bench_function("encode register request", |b| {
        b.iter(|| black_box(serde_json::to_vec(black_box(&register)).unwrap()))
    });
    group.bench_function("decode register response", |b| {
        b.iter(|| black_box(serde_json::from_str::<RegisterResponse>(black_box(REGISTER)).unwrap()))
    });
    let token = serde_json::from_str::<RegisterResponse>(REGISTER)
        .unwrap()
        .access_token;
    group.bench_function("decode claims", |b| {
        b.iter(|| black_box(decode_claims(black_box(&token)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
