//! Replays the 78 request/response pairs captured from the real broker
//! (v2.0.0) against a fresh development broker, in order, and compares
//! what a client can see: status, content type, security headers,
//! `Retry-After`, `Content-Length`, every problem field (the whole problem
//! body, byte for byte), `request_id` = `X-Request-ID`, and the shape of
//! every success body (keys in order, value kinds, array lengths).
//!
//! The capture holds responses only; each request is rebuilt from the
//! case's title. Requests the capture does not show (a second agent to
//! delegate to, the apps of the rate-limit cases) are sent without a
//! request id. The broker runs on a manual clock that starts at the
//! capture's first timestamp and moves 1 ms per request, so token
//! timestamps, expiry times and nanosecond audit timestamps have the
//! lengths of the captured ones; case 74 advances it by 31 s instead of
//! sleeping.

mod common;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use agentwrit_devbroker::{DevBroker, DevBrokerHandle, ManualClock};
use agentwrit_test_support::{Capture, captures};
use agentwrit_wire::AdminSecret;
use common::*;
use serde_json::{Value, json};

/// The capture's first timestamp (evt-000001).
const START_NANOS: u64 = 1_795_304_434_454_530_144;

struct Replay {
    broker: DevBrokerHandle,
    http: Client,
    clock: Arc<ManualClock>,
    caps: Vec<Capture>,
    next: usize,
    /// (ours, captured) id pairs substituted in paths and bodies.
    subst: Vec<(String, String)>,
}

impl Replay {
    fn tick(&self) {
        self.clock.advance(Duration::from_millis(1));
    }

    /// An uncaptured request (no request id), still on the manual clock.
    fn quiet(&self) -> &Client {
        self.tick();
        &self.http
    }

    /// Sends captured case `n` (which must be the next one) with `auth`
    /// and `body`, and compares the answer with the capture.
    fn case(&mut self, n: u32, auth: Option<&str>, body: Option<&[u8]>) -> Resp {
        let cap = &self.caps[self.next];
        assert_eq!(cap.number, n, "cases must be replayed in order");
        self.next += 1;
        self.tick();
        let mut path = cap.path.clone();
        for (ours, theirs) in &self.subst {
            path = path.replace(theirs.as_str(), ours);
        }
        let bearer = auth.map(|t| {
            if t.starts_with("Basic ") {
                t.to_owned()
            } else {
                format!("Bearer {t}")
            }
        });
        let mut headers = vec![("x-request-id", request_id(cap))];
        if let Some(b) = &bearer {
            headers.push(("authorization", b));
        }
        let resp = self.http.send(&cap.method, &path, &headers, body);
        compare(cap, &resp, &self.subst);
        resp
    }
}

/// The captured `X-Request-ID` (every case has one).
fn request_id(cap: &Capture) -> &str {
    cap.header("x-request-id").unwrap()
}

fn compare(cap: &Capture, resp: &Resp, subst: &[(String, String)]) {
    let what = format!("case {} ({})", cap.number, cap.title);
    assert_eq!(resp.status, cap.status, "{what}: status; got {resp:?}");
    assert_eq!(
        resp.header("content-type").as_deref(),
        cap.content_type(),
        "{what}: content type"
    );
    assert_eq!(
        resp.header("x-request-id").as_deref(),
        Some(request_id(cap)),
        "{what}: request id"
    );
    resp.assert_security_headers();
    assert_eq!(
        resp.header("retry-after").as_deref(),
        cap.header("retry-after"),
        "{what}: Retry-After"
    );
    let length = resp
        .header("content-length")
        .map(|v| v.parse::<usize>().unwrap());
    assert_eq!(
        length,
        cap.content_length(),
        "{what}: Content-Length; got {}",
        resp.text()
    );
    let mut body = resp.text();
    if cap.content_length().is_some() {
        assert!(
            body.ends_with('\n'),
            "{what}: Go's encoder ends bodies with a newline"
        );
        body.pop();
    }
    for (ours, theirs) in subst {
        body = body.replace(ours.as_str(), theirs);
    }
    if cap.is_problem() {
        // Every field, in order, byte for byte.
        assert_eq!(body, cap.body, "{what}: problem body");
        let p: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(p["request_id"], request_id(cap), "{what}");
    } else if cap.body.is_empty() {
        assert!(body.is_empty(), "{what}: body should be empty");
    } else {
        assert_eq!(
            shape(body.as_bytes()),
            shape(cap.body.as_bytes()),
            "{what}: body shape\n ours:   {body}\n theirs: {}",
            cap.body
        );
    }
}

fn b(v: Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[test]
fn replay_the_78_captured_cases() {
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_nanos(START_NANOS),
    ));
    let secret = "replay-admin-secret";
    let broker = DevBroker::builder()
        .clock(clock.clone())
        .admin_secret(AdminSecret::new(secret))
        .start()
        .unwrap();
    let http = Client::new(broker.url());
    let mut r = Replay {
        broker,
        http,
        clock,
        caps: captures(),
        next: 0,
        subst: Vec::new(),
    };
    assert_eq!(r.caps.len(), 78);
    let main_scopes = [
        "read:data:*",
        "write:data:*",
        "read:analytics:*",
        "write:reports:*",
    ];

    // Public endpoints and admin auth.
    let health = r.case(1, None, None);
    assert_eq!(health.json()["version"], "2.0.0");
    let ch = r.case(2, None, None);
    assert_eq!(ch.str("nonce").len(), 64);
    r.case(3, None, Some(&b(json!({ "secret": "wrong" }))));
    r.case(4, None, Some(b"{}"));
    r.case(5, None, Some(b"{\"secret\": "));
    let admin = r
        .case(6, None, Some(&b(json!({ "secret": secret }))))
        .str("access_token");
    assert_eq!(jwt_header(&admin)["kid"], r.broker.kid());

    // Apps.
    let main = r.case(
        7,
        Some(&admin),
        Some(&b(json!({ "name": "conf-main", "scopes": main_scopes }))),
    );
    let (main_id, main_secret) = (main.str("client_id"), main.str("client_secret"));
    assert!(main_id.starts_with("cm-") && main_id.len() == 15);
    r.case(
        8,
        Some(&admin),
        Some(&b(
            json!({ "name": "conf-main", "scopes": ["read:data:*"] }),
        )),
    );
    r.case(
        9,
        Some(&admin),
        Some(&b(json!({ "name": "conf-noscopes" }))),
    );
    r.case(
        10,
        Some(&admin),
        Some(&b(
            json!({ "name": "conf-ttl", "scopes": ["read:data:*"], "token_ttl": 0 }),
        )),
    );
    r.case(
        11,
        Some(&admin),
        Some(&b(json!({ "name": "conf-bad", "scopes": ["read-data"] }))),
    );
    r.case(
        12,
        None,
        Some(&b(json!({ "name": "x", "scopes": ["read:data:*"] }))),
    );
    let crud = r.case(
        13,
        Some(&admin),
        Some(&b(
            json!({ "name": "conf-crud", "scopes": ["read:data:*"], "token_ttl": 900 }),
        )),
    );
    let crud_app = crud.str("app_id");
    let (crud_id, crud_secret) = (crud.str("client_id"), crud.str("client_secret"));
    r.subst
        .push((crud_app.clone(), "app-conf-crud-71c121".to_owned()));
    let list = r.case(14, Some(&admin), None);
    assert_eq!(list.json()["apps"][0]["name"], "conf-crud", "newest first");
    r.case(15, Some(&admin), None);
    r.case(16, Some(&admin), None);
    let put = r.case(
        17,
        Some(&admin),
        Some(&b(
            json!({ "scopes": ["read:data:*", "write:data:x"], "token_ttl": 1200 }),
        )),
    );
    assert_eq!(put.json()["token_ttl"], 1200);
    r.case(18, Some(&admin), Some(&b(json!({ "token_ttl": -1 }))));
    r.case(
        19,
        Some(&admin),
        Some(&b(json!({ "scopes": ["read:data:*"] }))),
    );
    r.case(20, Some(&admin), None);
    r.case(21, Some(&admin), None);

    // App auth (three attempts on conf-main's bucket of 3).
    r.case(
        22,
        None,
        Some(&b(
            json!({ "client_id": crud_id, "client_secret": crud_secret }),
        )),
    );
    r.case(
        23,
        None,
        Some(&b(
            json!({ "client_id": main_id, "client_secret": "wrong" }),
        )),
    );
    r.case(24, None, Some(&b(json!({ "client_id": main_id }))));
    let app = r
        .case(
            25,
            None,
            Some(&b(
                json!({ "client_id": main_id, "client_secret": main_secret }),
            )),
        )
        .str("access_token");

    // Launch tokens.
    let lt = r
        .case(
            26,
            Some(&app),
            Some(&b(
                json!({ "agent_name": "conf-agent", "allowed_scope": ["read:data:*"] }),
            )),
        )
        .str("launch_token");
    r.case(
        27,
        Some(&app),
        Some(&b(
            json!({ "agent_name": "conf-agent", "allowed_scope": ["admin:revoke:*"] }),
        )),
    );
    r.case(
        28,
        Some(&admin),
        Some(&b(
            json!({ "agent_name": "x", "allowed_scope": ["read:data:*"] }),
        )),
    );
    r.case(
        29,
        Some(&app),
        Some(&b(
            json!({ "agent_name": "x", "allowed_scope": ["read:data:*"] }),
        )),
    );
    let admin_lt = r
        .case(
            30,
            Some(&admin),
            Some(&b(json!({
                "agent_name": "conf-admin-agent",
                "allowed_scope": ["read:data:*"],
                "max_ttl": 120,
                "ttl": 60,
            }))),
        )
        .str("launch_token");
    r.case(
        31,
        Some(&app),
        Some(&b(json!({ "allowed_scope": ["read:data:*"] }))),
    );

    // Registration, in the broker's check order.
    let agent_key = key(1);
    let scope = ["read:data:*"];
    let n1 = r.quiet().nonce();
    let mut bad_sig = register_body(&lt, &n1, &agent_key, "conf-orch", "conf-task", &scope);
    bad_sig["signature"] = json!(sign_nonce(&key(2), &n1));
    r.case(32, None, Some(&b(bad_sig.clone())));
    r.case(33, None, Some(&b(bad_sig)));
    let n2 = r.quiet().nonce();
    let mut not_b64 = register_body(&lt, &n2, &agent_key, "conf-orch", "conf-task", &scope);
    not_b64["signature"] = json!("***not base64***");
    r.case(34, None, Some(&b(not_b64)));
    let n3 = r.quiet().nonce();
    let mut short_key = register_body(&lt, &n3, &agent_key, "conf-orch", "conf-task", &scope);
    short_key["public_key"] = json!("AAAAAAAAAAAAAAAAAAAAAA==");
    r.case(35, None, Some(&b(short_key)));
    let unknown = "00".repeat(32);
    r.case(
        36,
        None,
        Some(&b(register_body(
            &lt,
            &unknown,
            &agent_key,
            "conf-orch",
            "conf-task",
            &scope,
        ))),
    );
    let n5 = r.quiet().nonce();
    r.case(
        37,
        None,
        Some(&b(register_body(
            &lt,
            &n5,
            &agent_key,
            "conf-orch",
            "conf-task",
            &["write:data:*"],
        ))),
    );
    r.case(
        38,
        None,
        Some(&b(register_body(
            &"ff".repeat(32),
            &n5,
            &agent_key,
            "conf-orch",
            "conf-task",
            &scope,
        ))),
    );
    let mut no_scope = register_body(&lt, &n5, &agent_key, "conf-orch", "conf-task", &scope);
    no_scope.as_object_mut().unwrap().remove("requested_scope");
    r.case(39, None, Some(&b(no_scope)));
    let mut no_orch = register_body(&lt, &n5, &agent_key, "conf-orch", "conf-task", &scope);
    no_orch.as_object_mut().unwrap().remove("orch_id");
    r.case(40, None, Some(&b(no_orch)));
    r.case(41, None, Some(b"{\"launch_token\": [}"));
    let n6 = r.quiet().nonce();
    let reg = r.case(
        42,
        None,
        Some(&b(register_body(
            &lt,
            &n6,
            &agent_key,
            "conf-orch",
            "conf-task",
            &scope,
        ))),
    );
    let (agent_a, token_a) = (reg.str("agent_id"), reg.str("access_token"));
    assert!(agent_a.starts_with("spiffe://agentwrit.local/agent/conf-orch/conf-task/"));
    r.case(
        43,
        None,
        Some(&b(register_body(
            &admin_lt,
            &n6,
            &agent_key,
            "conf-orch",
            "conf-task",
            &scope,
        ))),
    );
    let n7 = r.quiet().nonce();
    r.case(
        44,
        None,
        Some(&b(register_body(
            &lt,
            &n7,
            &agent_key,
            "conf-orch",
            "conf-task",
            &scope,
        ))),
    );

    // Validate and renew.
    let v = r.case(45, None, Some(&b(json!({ "token": token_a }))));
    assert_eq!(v.json()["claims"]["sub"], agent_a.as_str());
    r.case(46, None, Some(&b(json!({ "token": "not-a-jwt" }))));
    r.case(47, None, Some(b"{}"));
    // Flip the signature's first character: its last character carries
    // padding bits that Go's non-strict base64 decoder ignores, so
    // changing it may leave the signature bytes as they were.
    let sig_at = token_a.rfind('.').unwrap() + 1;
    let mut tampered = token_a.clone();
    let first = &token_a[sig_at..=sig_at];
    tampered.replace_range(sig_at..=sig_at, if first == "A" { "B" } else { "A" });
    r.case(48, None, Some(&b(json!({ "token": tampered }))));
    let token_a2 = r.case(49, Some(&token_a), None).str("access_token");
    r.case(50, Some(&token_a), None);
    r.case(51, None, Some(&b(json!({ "token": token_a }))));
    r.case(52, None, None);
    r.case(53, Some("Basic dXNlcjpwYXNz"), None);

    // Delegation, to a second agent the capture does not show registering.
    let lt_b = r.quiet().launch_token(
        &admin,
        json!({ "agent_name": "conf-agent-2", "allowed_scope": ["read:data:*"] }),
    );
    let n8 = r.quiet().nonce();
    let reg_b = r
        .quiet()
        .register_raw(&lt_b, &n8, &key(3), "conf-orch", "conf-task-2", &scope);
    assert_eq!(reg_b.status, 200, "{reg_b:?}");
    let (agent_b, token_b) = (reg_b.str("agent_id"), reg_b.str("access_token"));
    r.case(
        54,
        Some(&token_a2),
        Some(&b(
            json!({ "delegate_to": agent_b, "scope": ["write:data:*"] }),
        )),
    );
    r.case(
        55,
        Some(&token_a2),
        Some(&b(json!({
            "delegate_to": "spiffe://agentwrit.local/agent/conf-orch/nope/0000000000000000",
            "scope": ["read:data:reports"],
        }))),
    );
    r.case(
        56,
        Some(&token_a2),
        Some(&b(json!({ "delegate_to": agent_b }))),
    );
    let deleg = r.case(
        57,
        Some(&token_a2),
        Some(&b(
            json!({ "delegate_to": agent_b, "scope": ["read:data:reports"], "ttl": 30 }),
        )),
    );
    let delegated = deleg.str("access_token");
    assert_eq!(
        deleg.json()["delegation_chain"][0]["agent"],
        agent_a.as_str()
    );
    r.case(
        58,
        None,
        Some(&b(
            json!({ "delegate_to": agent_b, "scope": ["read:data:reports"] }),
        )),
    );
    r.case(
        59,
        Some(&token_a2),
        Some(&b(json!({ "level": "agent", "target": agent_b }))),
    );
    r.case(60, Some(&token_a2), None);

    // Release.
    r.case(61, Some(&token_a2), None);
    r.case(62, Some(&token_a2), None);
    r.case(63, Some(&token_a2), None);
    r.case(64, None, Some(&b(json!({ "token": token_a2 }))));
    r.case(
        65,
        Some(&token_a2),
        Some(&b(
            json!({ "delegate_to": agent_b, "scope": ["read:data:reports"] }),
        )),
    );

    // Revocation.
    r.case(66, Some(&admin), Some(&b(json!({ "target": "x" }))));
    r.case(
        67,
        Some(&admin),
        Some(&b(json!({ "level": "galaxy", "target": "x" }))),
    );
    let jti = claims(&delegated)["jti"].as_str().unwrap().to_owned();
    r.subst
        .push((jti.clone(), "639933d5de2c4f0a5dfbfbe96587a840".to_owned()));
    r.case(
        68,
        Some(&admin),
        Some(&b(json!({ "level": "token", "target": jti }))),
    );
    r.case(69, None, Some(&b(json!({ "token": delegated }))));
    r.subst.push((
        agent_b.clone(),
        "spiffe://agentwrit.local/agent/conf-orch/conf-task-2/fc93a2e0c767592c".to_owned(),
    ));
    r.case(
        70,
        Some(&admin),
        Some(&b(json!({ "level": "agent", "target": agent_b }))),
    );
    r.case(71, Some(&token_b), None);

    // Audit.
    let page = r.case(72, Some(&admin), None).json();
    assert_eq!(page["events"][0]["event_type"], "admin_auth_failed");
    assert_eq!(page["events"][1]["prev_hash"], page["events"][0]["hash"]);
    let released = r.case(73, Some(&admin), None).json();
    assert_eq!(released["events"][0]["agent_id"], agent_a.as_str());

    // A nonce older than 30 s: the manual clock moves, nothing sleeps.
    let old = r.quiet().nonce();
    r.clock.advance(Duration::from_secs(31));
    r.case(
        74,
        None,
        Some(&b(register_body(
            &admin_lt,
            &old,
            &agent_key,
            "conf-orch",
            "conf-task",
            &scope,
        ))),
    );

    // App auth rate limit: burst 3 per client_id.
    let (rl_id, rl_secret, _) = r
        .quiet()
        .create_app(&admin, "conf-ratelimit", &["read:data:*"]);
    let (rl2_id, rl2_secret, rl2_app) =
        r.quiet()
            .create_app(&admin, "conf-ratelimit-2", &["read:data:*"]);
    r.subst
        .push((rl2_app, "app-conf-ratelimit-2-91e3dd".to_owned()));
    for _ in 0..3 {
        r.quiet().app_token(&rl_id, &rl_secret);
    }
    r.case(
        75,
        None,
        Some(&b(
            json!({ "client_id": rl_id, "client_secret": rl_secret }),
        )),
    );
    r.case(
        76,
        None,
        Some(&b(json!({ "client_id": rl_id, "client_secret": "wrong" }))),
    );
    r.case(
        77,
        None,
        Some(&b(
            json!({ "client_id": rl2_id, "client_secret": rl2_secret }),
        )),
    );

    // Admin auth rate limit: 24 wrong secrets at one instant; burst 10.
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..23 {
        let resp = r.http.post("/v1/admin/auth", &json!({ "secret": "wrong" }));
        *counts.entry(resp.status).or_insert(0) += 1;
    }
    let last = r.case(78, None, Some(&b(json!({ "secret": "wrong" }))));
    *counts.entry(last.status).or_insert(0) += 1;
    assert_eq!(
        counts,
        [(401, 10), (429, 14)].into_iter().collect(),
        "as captured"
    );
    assert_eq!(r.next, 78, "every case replayed");
}
