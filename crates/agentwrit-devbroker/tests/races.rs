//! Concurrency: many clients racing for one single-use launch token, one
//! nonce or one token, and many registrations at once. Plain HTTP (ureq),
//! threads lined up on a `Barrier` so the requests really overlap.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;

use agentwrit_devbroker::{DevBroker, DevBrokerHandle};
use common::*;
use serde_json::{Value, json};

/// Threads per race.
const N: usize = 32;

struct Env {
    _broker: DevBrokerHandle,
    http: Client,
    admin: String,
}

fn env() -> Env {
    let broker = DevBroker::builder().no_rate_limits().start().unwrap();
    let http = Client::new(broker.url());
    let admin = http.admin_token(broker.admin_secret().expose_secret());
    Env {
        _broker: broker,
        http,
        admin,
    }
}

/// Runs `n` jobs on `n` threads released together by a barrier; returns
/// their results in job order.
fn race<T: Send + 'static>(jobs: Vec<Box<dyn FnOnce() -> T + Send>>) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                job()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn ok_and_rest(results: &[Resp], ok: u16) -> (Vec<&Resp>, Vec<&Resp>) {
    results.iter().partition(|r| r.status == ok)
}

#[test]
fn one_single_use_launch_token_registers_exactly_once() {
    let e = env();
    let lt = e.http.launch_token(
        &e.admin,
        json!({"agent_name": "race", "allowed_scope": ["read:data:*"]}),
    );
    // Every contender has its own nonce and key: only the launch token is shared.
    let jobs: Vec<Box<dyn FnOnce() -> Resp + Send>> = (0..N)
        .map(|i| {
            let http = e.http.clone();
            let lt = lt.clone();
            let nonce = http.nonce();
            let k = key(10_000 + i as u64);
            Box::new(move || {
                http.register_raw(&lt, &nonce, &k, "race", &format!("t{i}"), &["read:data:x"])
            }) as Box<dyn FnOnce() -> Resp + Send>
        })
        .collect();
    let results = race(jobs);
    let (won, lost) = ok_and_rest(&results, 200);
    assert_eq!(won.len(), 1, "exactly one registration wins: {results:?}");
    assert_eq!(lost.len(), N - 1);
    for r in lost {
        assert_eq!(r.status, 401, "{r:?}");
        let p = r.json();
        assert_eq!(p["error_code"], "unauthorized", "{r:?}");
        // Checked before the signature ("launch token: ...") or when
        // consumed after it ("consume launch token: ..."), as in the broker.
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.ends_with("launch token already consumed"),
            "{detail}"
        );
        assert_eq!(
            p["request_id"].as_str(),
            r.header("x-request-id").as_deref()
        );
    }
    // The winner's token is good; the launch token stays spent.
    let token = won[0].str("access_token");
    assert_eq!(
        e.http
            .post("/v1/token/validate", &json!({"token": token}))
            .json()["valid"],
        true
    );
    let n = e.http.nonce();
    e.http
        .register_raw(&lt, &n, &key(9_999), "race", "late", &["read:data:x"])
        .assert_problem(
            401,
            "unauthorized",
            "launch token: launch token already consumed",
        );
}

#[test]
fn one_nonce_registers_exactly_once() {
    let e = env();
    let nonce = e.http.nonce();
    // Own launch tokens (single use), one shared nonce.
    let jobs: Vec<Box<dyn FnOnce() -> (Resp, String) + Send>> = (0..N)
        .map(|i| {
            let http = e.http.clone();
            let lt = http.launch_token(
                &e.admin,
                json!({"agent_name": "n", "allowed_scope": ["read:data:*"]}),
            );
            let nonce = nonce.clone();
            let k = key(20_000 + i as u64);
            Box::new(move || {
                let r = http.register_raw(&lt, &nonce, &k, "nonce", "t", &["read:data:x"]);
                (r, lt)
            }) as Box<dyn FnOnce() -> (Resp, String) + Send>
        })
        .collect();
    let results = race(jobs);
    let won: Vec<_> = results.iter().filter(|(r, _)| r.status == 200).collect();
    assert_eq!(won.len(), 1, "exactly one use of the nonce wins");
    for (r, lt) in results.iter().filter(|(r, _)| r.status != 200) {
        r.assert_problem(401, "unauthorized", "nonce: nonce already consumed");
        // A lost nonce race does not spend the loser's launch token.
        let n = e.http.nonce();
        let again = e.http.register_raw(
            lt,
            &n,
            &key(rand_seed() + 40_000),
            "nonce",
            "retry",
            &["read:data:x"],
        );
        assert_eq!(again.status, 200, "{again:?}");
    }
}

#[test]
fn two_hundred_parallel_registrations_get_distinct_agents() {
    const M: usize = 200;
    let e = env();
    // Prepared up front (launch token, nonce, key), fired together.
    let jobs: Vec<Box<dyn FnOnce() -> Resp + Send>> = (0..M)
        .map(|i| {
            let http = e.http.clone();
            let lt = http.launch_token(
                &e.admin,
                json!({"agent_name": "p", "allowed_scope": ["read:data:*"]}),
            );
            let nonce = http.nonce();
            let k = key(30_000 + i as u64);
            Box::new(move || http.register_raw(&lt, &nonce, &k, "par", "t", &["read:data:x"]))
                as Box<dyn FnOnce() -> Resp + Send>
        })
        .collect();
    let results = race(jobs);
    let mut ids = HashSet::new();
    let mut jtis = HashSet::new();
    for r in &results {
        assert_eq!(r.status, 200, "{r:?}");
        let id = r.str("agent_id");
        assert!(
            id.starts_with("spiffe://agentwrit.local/agent/par/t/"),
            "{id}"
        );
        assert_eq!(claims(&r.str("access_token"))["sub"], id.as_str());
        jtis.insert(
            claims(&r.str("access_token"))["jti"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        ids.insert(id);
    }
    assert_eq!(ids.len(), M, "agent ids are distinct");
    assert_eq!(jtis.len(), M, "token ids are distinct");
}

#[test]
fn concurrent_renewals_of_one_token_yield_one_new_token() {
    let e = env();
    let (_, token) = e.http.agent(&e.admin, "o", "renew", &["read:data:*"]);
    let jobs: Vec<Box<dyn FnOnce() -> Resp + Send>> = (0..N)
        .map(|_| {
            let http = e.http.clone();
            let token = token.clone();
            Box::new(move || http.post_auth("/v1/token/renew", &token, None))
                as Box<dyn FnOnce() -> Resp + Send>
        })
        .collect();
    let results = race(jobs);
    let (won, lost) = ok_and_rest(&results, 200);
    assert_eq!(won.len(), 1, "{results:?}");
    for r in lost {
        // Refused at the Bearer check or inside the renewal, both 401.
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(r.json()["error_code"], "unauthorized", "{r:?}");
    }
    let validate = |t: &str| {
        e.http
            .post("/v1/token/validate", &json!({"token": t}))
            .json()
    };
    assert_eq!(validate(&token)["valid"], false);
    assert_eq!(validate(&won[0].str("access_token"))["valid"], true);
}

/// A token that the broker no longer accepts anywhere.
fn assert_dead_everywhere(e: &Env, token: &str, delegate_to: &str) {
    let v = e.http.post("/v1/token/validate", &json!({"token": token}));
    assert_eq!(v.status, 200, "{v:?}");
    assert_eq!(
        v.json(),
        json!({"valid": false, "error": "token is invalid or expired"})
    );
    let delegate_body: Value = json!({"delegate_to": delegate_to, "scope": ["read:data:x"]});
    for (path, body) in [
        ("/v1/token/renew", None),
        ("/v1/token/release", None),
        ("/v1/delegate", Some(&delegate_body)),
    ] {
        e.http.post_auth(path, token, body).assert_problem(
            401,
            "unauthorized",
            "token verification failed",
        );
    }
}

#[test]
fn released_and_revoked_tokens_fail_validate_and_every_bearer_endpoint() {
    let e = env();
    let (other, _) = e.http.agent(&e.admin, "o", "other", &["read:data:*"]);

    // Released by the agent itself.
    let (_, released) = e.http.agent(&e.admin, "o", "rel", &["read:data:*"]);
    let r = e.http.post_auth("/v1/token/release", &released, None);
    assert_eq!(r.status, 204, "{r:?}");
    assert!(r.body.is_empty());
    assert_dead_everywhere(&e, &released, &other);

    // Revoked by the operator, by jti.
    let (_, revoked) = e.http.agent(&e.admin, "o", "rev", &["read:data:*"]);
    let jti = claims(&revoked)["jti"].as_str().unwrap().to_owned();
    let r = e.http.post_auth(
        "/v1/revoke",
        &e.admin,
        Some(&json!({"level": "token", "target": jti})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["revoked"], true);
    assert_dead_everywhere(&e, &revoked, &other);

    // A delegated token whose chain is revoked at its root is dead too.
    let (root, root_token) = e.http.agent(&e.admin, "o", "root", &["read:data:*"]);
    let d = e.http.post_auth(
        "/v1/delegate",
        &root_token,
        Some(&json!({"delegate_to": other, "scope": ["read:data:x"]})),
    );
    assert_eq!(d.status, 200, "{d:?}");
    let delegated = d.str("access_token");
    let r = e.http.post_auth(
        "/v1/revoke",
        &e.admin,
        Some(&json!({"level": "chain", "target": root})),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_dead_everywhere(&e, &delegated, &other);

    // Releasing concurrently: every answer is 204 or 401, and afterwards
    // the token is dead.
    let (_, token) = e.http.agent(&e.admin, "o", "relrace", &["read:data:*"]);
    let jobs: Vec<Box<dyn FnOnce() -> Resp + Send>> = (0..N)
        .map(|_| {
            let http = e.http.clone();
            let token = token.clone();
            Box::new(move || http.post_auth("/v1/token/release", &token, None))
                as Box<dyn FnOnce() -> Resp + Send>
        })
        .collect();
    let results = race(jobs);
    assert!(results.iter().any(|r| r.status == 204));
    assert!(
        results.iter().all(|r| r.status == 204 || r.status == 401),
        "{results:?}"
    );
    assert_dead_everywhere(&e, &token, &other);
}
