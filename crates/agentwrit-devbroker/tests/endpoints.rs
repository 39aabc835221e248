//! Black-box tests of every endpoint's success shape and error rows, the
//! Go-mux behaviour, tokens, delegation, revocation, audit and rate limits.

mod common;

use std::sync::Arc;
use std::time::Duration;

use agentwrit_devbroker::{DevBroker, DevBrokerHandle, ManualClock, RateLimit};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

struct Env {
    broker: DevBrokerHandle,
    http: Client,
    clock: Arc<ManualClock>,
    admin: String,
}

fn env() -> Env {
    env_with(|b| b)
}

fn env_with(
    f: impl FnOnce(agentwrit_devbroker::DevBrokerBuilder) -> agentwrit_devbroker::DevBrokerBuilder,
) -> Env {
    let clock = Arc::new(ManualClock::at_unix_seconds(1_795_304_434));
    let broker = f(DevBroker::builder().clock(clock.clone()).no_rate_limits())
        .start()
        .unwrap();
    let http = Client::new(broker.url());
    let admin = http.admin_token(broker.admin_secret().expose_secret());
    Env {
        broker,
        http,
        clock,
        admin,
    }
}

fn keys_of(v: &Value) -> Vec<String> {
    // serde_json sorts keys; shape() keeps their order: compare sets here.
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn health_challenge_metrics() {
    let e = env();
    let h = e.http.get("/v1/health");
    assert_eq!(h.status, 200);
    assert_eq!(
        h.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        shape(&h.body),
        shape(br#"{"status":"ok","version":"2.0.0","uptime":0,"db_connected":true,"audit_events_count":0}"#)
    );
    assert_eq!(h.json()["audit_events_count"], 1, "the admin login");
    e.clock.advance(Duration::from_secs(5));
    assert_eq!(e.http.get("/v1/health").json()["uptime"], 5);

    let c = e.http.get("/v1/challenge").json();
    let nonce = c["nonce"].as_str().unwrap();
    assert!(nonce.len() == 64 && nonce.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(c["expires_in"], 30);

    let (agent, token) = e.http.agent(&e.admin, "o", "t", &["read:data:x"]);
    assert!(agent.starts_with("spiffe://agentwrit.local/agent/o/t/"));
    assert_eq!(
        e.http.post_auth("/v1/token/release", &token, None).status,
        204
    );
    e.http.post_auth(
        "/v1/revoke",
        &e.admin,
        Some(&json!({"level": "task", "target": "t"})),
    );
    let m = e.http.get("/v1/metrics");
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8; escaping=underscores")
    );
    let text = m.text();
    for line in [
        "agentwrit_registrations_total{status=\"success\"} 1",
        "agentwrit_tokens_issued_total{scope=\"read:data:x\"} 1",
        "agentwrit_tokens_issued_total{scope=\"admin:launch-tokens:*\"} 1",
        "agentwrit_tokens_revoked_total{level=\"release\"} 1",
        "agentwrit_tokens_revoked_total{level=\"task\"} 1",
        "agentwrit_admin_auth_total{status=\"success\"} 1",
        "agentwrit_launch_tokens_created_total 1",
        "# TYPE agentwrit_registrations_total counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn request_id_echoed_or_generated() {
    let e = env();
    let r = e.http.post("/v1/token/validate", &json!({}));
    let id = r.header("x-request-id").unwrap();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    r.assert_problem(400, "invalid_request", "token field is required");
    let r = e
        .http
        .send("GET", "/v1/nope", &[("x-request-id", "my-id-42")], None);
    assert_eq!(r.header("x-request-id").as_deref(), Some("my-id-42"));
    let r = e.http.send(
        "POST",
        "/v1/token/validate",
        &[("X-Request-ID", "abc")],
        Some(b"{"),
    );
    assert_eq!(r.json()["request_id"], "abc");
    assert_eq!(r.json()["instance"], "/v1/token/validate");
}

#[test]
fn go_mux_404_405_head_redirect() {
    let e = env();
    let r = e.http.get("/v1/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), "404 page not found\n");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    r.assert_security_headers();
    assert!(r.header("x-request-id").is_some());

    let r = e.http.post("/v1/health", &json!({}));
    assert_eq!(r.status, 405);
    assert_eq!(r.text(), "Method Not Allowed\n");
    assert_eq!(r.header("allow").as_deref(), Some("GET, HEAD"));
    r.assert_security_headers();
    let r = e.http.send("PATCH", "/v1/admin/apps/x", &[], None);
    assert_eq!(r.header("allow").as_deref(), Some("DELETE, GET, HEAD, PUT"));
    let r = e.http.get("/v1/register");
    assert_eq!(
        (r.status, r.header("allow").as_deref()),
        (405, Some("POST"))
    );

    assert_eq!(
        e.http.get("/v1/health/").status,
        404,
        "no trailing-slash routes"
    );
    assert_eq!(e.http.get("/v1/admin/apps/").status, 404);
    let r = e.http.send("HEAD", "/v1/health", &[], None);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(
        e.http.get("/v1/%68ealth").status,
        200,
        "segments are unescaped"
    );

    let raw = raw_http(
        &e.http.base,
        b"GET /v1/./health?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with("HTTP/1.1 301"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("location: /v1/health?x=1"),
        "{raw}"
    );
    assert!(
        raw.contains("<a href=\"/v1/health?x=1\">Moved Permanently</a>."),
        "{raw}"
    );
    assert!(
        raw.to_ascii_lowercase().contains("x-frame-options: deny"),
        "{raw}"
    );
}

#[test]
fn bodies_over_one_mib_get_413() {
    let e = env();
    let mut req = format!(
        "POST /v1/token/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Request-ID: big\r\nContent-Length: {}\r\n\r\n",
        (1 << 20) + 1
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b' ', (1 << 20) + 1));
    let raw = raw_http(&e.http.base, &req);
    assert!(
        raw.starts_with("HTTP/1.1 413"),
        "{}",
        &raw[..raw.len().min(300)]
    );
    let lower = raw.to_ascii_lowercase();
    for h in [
        "content-type: application/problem+json",
        "x-content-type-options: nosniff",
        "cache-control: no-store",
        "x-frame-options: deny",
        "x-request-id: big",
        "connection: close",
    ] {
        assert!(lower.contains(h), "{h} missing in {raw}");
    }
    let body = raw.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(
        body,
        "{\"type\":\"urn:agentwrit:error:payload_too_large\",\"title\":\"Request Entity Too Large\",\"status\":413,\"detail\":\"request body must not exceed 1 MB\",\"instance\":\"/v1/token/validate\",\"error_code\":\"payload_too_large\",\"request_id\":\"big\"}\n"
    );
    // Exactly 1 MiB is read and decoded.
    let mut body = br#"{"token":""}"#.to_vec();
    body.resize(1 << 20, b' ');
    e.http
        .send("POST", "/v1/token/validate", &[], Some(&body))
        .assert_problem(400, "invalid_request", "token field is required");
}

#[test]
fn malformed_json_is_400_on_every_json_route() {
    let e = env();
    let (_, agent) = e.http.agent(&e.admin, "o", "t", &["read:data:*"]);
    let (cid, sec, app_id) = e.http.create_app(&e.admin, "mal", &["read:data:*"]);
    let app = e.http.app_token(&cid, &sec);
    let routes: Vec<(&str, String, Option<&str>)> = vec![
        ("POST", "/v1/token/validate".into(), None),
        ("POST", "/v1/register".into(), None),
        ("POST", "/v1/admin/auth".into(), None),
        ("POST", "/v1/app/auth".into(), None),
        ("POST", "/v1/delegate".into(), Some(&agent)),
        ("POST", "/v1/revoke".into(), Some(&e.admin)),
        ("POST", "/v1/admin/launch-tokens".into(), Some(&e.admin)),
        ("POST", "/v1/app/launch-tokens".into(), Some(&app)),
        ("POST", "/v1/admin/apps".into(), Some(&e.admin)),
        ("PUT", format!("/v1/admin/apps/{app_id}"), Some(&e.admin)),
    ];
    for (m, path, token) in &routes {
        for bad in [
            &b"{"[..],
            b"",
            b"[]",
            b"\"x\"",
            b"{\"a\":}",
            b"{\"token\":1}",
        ] {
            let auth = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("authorization", a.as_str())).collect();
            let r = e.http.send(m, path, &headers, Some(bad));
            if bad == b"{\"token\":1}" && path != "/v1/token/validate" {
                continue; // an unknown field of the wrong type is ignored
            }
            r.assert_problem(400, "invalid_request", "malformed JSON body");
        }
    }
    // Go's decoder reads the first value only; Unmarshal (admin auth) wants one.
    let r = e.http.send(
        "POST",
        "/v1/token/validate",
        &[],
        Some(b"{\"token\":\"x\"} trailing"),
    );
    assert_eq!(r.status, 200);
    let r = e.http.send(
        "POST",
        "/v1/admin/auth",
        &[],
        Some(
            format!(
                "{{\"secret\":\"{}\"}} x",
                e.broker.admin_secret().expose_secret()
            )
            .as_bytes(),
        ),
    );
    r.assert_problem(400, "invalid_request", "malformed JSON body");
    // Keys match case-insensitively, as in Go.
    let r = e
        .http
        .post("/v1/token/validate", &json!({ "TOKEN": "x.y.z" }));
    assert_eq!(r.json()["valid"], false);
    let r = e.http.post(
        "/v1/admin/auth",
        &json!({ "client_id": "a", "client_secret": "b" }),
    );
    r.assert_problem(
        400,
        "invalid_request",
        "Admin auth format changed. Use {\"secret\": \"...\"} instead of client_id/client_secret",
    );
}

#[test]
fn bearer_errors_on_every_protected_route() {
    let e = env();
    let (_, agent) = e.http.agent(&e.admin, "o", "t", &["read:data:*"]);
    let routes = [
        ("POST", "/v1/token/renew", false),
        ("POST", "/v1/token/release", false),
        ("POST", "/v1/delegate", false),
        ("POST", "/v1/revoke", true),
        ("GET", "/v1/audit/events", true),
        ("POST", "/v1/admin/launch-tokens", true),
        ("POST", "/v1/app/launch-tokens", true),
        ("POST", "/v1/admin/apps", true),
        ("GET", "/v1/admin/apps", true),
        ("GET", "/v1/admin/apps/app-x", true),
        ("PUT", "/v1/admin/apps/app-x", true),
        ("DELETE", "/v1/admin/apps/app-x", true),
    ];
    let required = |path: &str| match path {
        "/v1/revoke" => "admin:revoke:*",
        "/v1/audit/events" => "admin:audit:*",
        "/v1/app/launch-tokens" => "app:launch-tokens:*",
        _ => "admin:launch-tokens:*",
    };
    for (m, path, scoped) in routes {
        let body: Option<&[u8]> = if m == "POST" || m == "PUT" {
            Some(b"{}")
        } else {
            None
        };
        e.http.send(m, path, &[], body).assert_problem(
            401,
            "unauthorized",
            "missing authorization header",
        );
        e.http
            .send(m, path, &[("authorization", "Basic abc")], body)
            .assert_problem(401, "unauthorized", "invalid authorization scheme");
        e.http
            .send(m, path, &[("authorization", "Bearer garbage")], body)
            .assert_problem(401, "unauthorized", "token verification failed");
        if scoped {
            let auth = format!("Bearer {agent}");
            e.http
                .send(m, path, &[("authorization", &auth)], body)
                .assert_problem(
                    403,
                    "insufficient_scope",
                    &format!("token lacks required scope: {}", required(path)),
                );
        }
    }
    // Expiry, on the manual clock: valid through exp, dead after it.
    e.clock.advance(Duration::from_secs(300));
    assert_eq!(
        e.http
            .post("/v1/token/validate", &json!({"token": agent}))
            .json()["valid"],
        true
    );
    e.clock.advance(Duration::from_secs(1));
    assert_eq!(
        e.http
            .post("/v1/token/validate", &json!({"token": agent}))
            .json()["valid"],
        false
    );
    e.http
        .post_auth("/v1/token/renew", &agent, None)
        .assert_problem(401, "unauthorized", "token verification failed");
}

fn forge(header: &Value, claims: &Value, sig: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        sig
    )
}

#[test]
fn tokens_are_eddsa_with_rfc7638_kid_and_forgeries_fail() {
    let e = env_with(|b| b.signing_key_seed([9; 32]));
    let (_, token) = e.http.agent(&e.admin, "o", "t", &["read:data:*"]);
    // Header and kid.
    let header = jwt_header(&token);
    let x = URL_SAFE_NO_PAD.encode(e.broker.public_key());
    let thumb = URL_SAFE_NO_PAD.encode(Sha256::digest(format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#
    )));
    assert_eq!(header, json!({"alg": "EdDSA", "typ": "JWT", "kid": thumb}));
    assert_eq!(e.broker.kid(), thumb);
    let raw_header = String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        raw_header,
        format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{thumb}"}}"#)
    );
    // Signature over the compact signing input with the broker key.
    let (input, sig) = token.rsplit_once('.').unwrap();
    let vk = VerifyingKey::from_bytes(&e.broker.public_key()).unwrap();
    let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
    vk.verify(input.as_bytes(), &sig).unwrap();
    // Claims, in the broker's order.
    let body = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let Shape::Object(fields) = shape(&body) else {
        panic!()
    };
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "iss", "sub", "exp", "nbf", "iat", "jti", "scope", "task_id", "orch_id"
        ]
    );
    let c = claims(&token);
    assert_eq!(c["iss"], "");
    assert_eq!(c["jti"].as_str().unwrap().len(), 32);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);

    let sig_part = token.rsplit('.').next().unwrap();
    let mut escalated = c.clone();
    escalated["scope"] = json!(["admin:revoke:*"]);
    let mut wrong_kid = header.clone();
    wrong_kid["kid"] = json!("not-the-kid");
    let other = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let self_signed = {
        let unsigned = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(escalated.to_string())
        );
        use ed25519_dalek::Signer as _;
        format!(
            "{unsigned}.{}",
            URL_SAFE_NO_PAD.encode(other.sign(unsigned.as_bytes()).to_bytes())
        )
    };
    let forgeries = [
        forge(&json!({"alg": "none", "typ": "JWT"}), &c, ""),
        forge(&json!({"alg": "none"}), &escalated, sig_part),
        forge(
            &json!({"alg": "HS256", "typ": "JWT", "kid": thumb}),
            &c,
            sig_part,
        ),
        forge(&header, &escalated, sig_part),
        forge(&wrong_kid, &c, sig_part),
        self_signed,
        format!("{token}.extra"),
        token.replacen('.', "", 1),
        String::from("a.b.c"),
    ];
    for f in &forgeries {
        assert_eq!(
            e.http
                .post("/v1/token/validate", &json!({"token": f}))
                .json(),
            json!({"valid": false, "error": "token is invalid or expired"}),
            "{f}"
        );
        e.http.post_auth("/v1/token/renew", f, None).assert_problem(
            401,
            "unauthorized",
            "token verification failed",
        );
    }
}

#[test]
fn issuer_is_configurable() {
    let e = env_with(|b| b.issuer("https://broker.test").trust_domain("example.org"));
    let (agent_id, token) = e.http.agent(&e.admin, "o", "t", &["read:data:*"]);
    assert!(agent_id.starts_with("spiffe://example.org/agent/o/t/"));
    assert_eq!(claims(&token)["iss"], "https://broker.test");
    assert_eq!(
        e.http
            .post("/v1/token/validate", &json!({"token": token}))
            .json()["valid"],
        true
    );
}

#[test]
fn app_crud_rules() {
    let e = env();
    let post = |body: Value| e.http.post_auth("/v1/admin/apps", &e.admin, Some(&body));
    for bad in [
        "A-app",
        "a",
        "a-b",
        "app-",
        "app--x",
        "app_x",
        &"a".repeat(65),
    ] {
        post(json!({"name": bad, "scopes": ["read:data:*"]})).assert_problem(
            400,
            "invalid_request",
            "invalid app name: must be lowercase letters, digits, and hyphens",
        );
    }
    post(json!({"scopes": ["read:data:*"]})).assert_problem(
        400,
        "invalid_request",
        "name is required",
    );
    for (ttl, status) in [
        (59i64, 400),
        (86401, 400),
        (-5, 400),
        (60, 201),
        (86400, 201),
    ] {
        let r = post(
            json!({"name": format!("ttl{}", ttl.abs()), "scopes": ["r:d:x"], "token_ttl": ttl}),
        );
        if status == 400 {
            r.assert_problem(
                400,
                "invalid_ttl",
                &format!("invalid token TTL: must be between 60 and 86400 seconds, got {ttl}"),
            );
        } else {
            assert_eq!(r.status, 201, "{r:?}");
            assert_eq!(r.json()["token_ttl"], ttl);
        }
    }
    let r = post(json!({"name": "two-part-name", "scopes": ["read:data:*"]}));
    assert_eq!(r.status, 201);
    let created = r.json();
    assert_eq!(created["name"], "");
    assert_eq!(created["status"], "");
    assert_eq!(created["token_ttl"], 1800);
    let app_id = created["app_id"].as_str().unwrap();
    assert!(
        app_id.starts_with("app-two-part-name-") && app_id.len() == "app-two-part-name-".len() + 6
    );
    assert!(created["client_id"].as_str().unwrap().starts_with("tpn-"));
    assert_eq!(created["client_secret"].as_str().unwrap().len(), 64);
    assert!(created.get("created_at").is_none());

    let get = e
        .http
        .get_auth(&format!("/v1/admin/apps/{app_id}"), &e.admin)
        .json();
    assert_eq!(get["status"], "active");
    assert_eq!(get["created_at"], "2026-11-21T23:40:34Z");
    assert!(get.get("client_secret").is_none());
    let put = |body: Value| {
        e.http.send(
            "PUT",
            &format!("/v1/admin/apps/{app_id}"),
            &[("authorization", &format!("Bearer {}", e.admin))],
            Some(body.to_string().as_bytes()),
        )
    };
    put(json!({})).assert_problem(
        400,
        "invalid_request",
        "at least one of scopes or token_ttl must be provided",
    );
    put(json!({"scopes": ["bad"]})).assert_problem(
        400,
        "invalid_request",
        "invalid scope format: use action:resource:identifier",
    );
    assert_eq!(
        put(json!({"scopes": ["write:data:x"]})).json()["scopes"],
        json!(["write:data:x"])
    );
    let list = e.http.get_auth("/v1/admin/apps", &e.admin).json();
    assert_eq!(list["total"], 3);
    assert_eq!(keys_of(&list), ["apps", "total"]);

    let del = |id: &str| {
        e.http.send(
            "DELETE",
            &format!("/v1/admin/apps/{id}"),
            &[("authorization", &format!("Bearer {}", e.admin))],
            None,
        )
    };
    for _ in 0..2 {
        let d = del(app_id);
        assert_eq!(d.status, 200);
        assert_eq!(
            d.text(),
            format!(
                "{{\"app_id\":\"{app_id}\",\"name\":\"\",\"client_id\":\"\",\"scopes\":null,\"token_ttl\":0,\"status\":\"inactive\",\"deregistered_at\":\"2026-11-21T23:40:34Z\"}}\n"
            )
        );
    }
    del("app-nope-000000").assert_problem(404, "not_found", "app not found");
    let (cid, sec) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );
    e.http
        .post(
            "/v1/app/auth",
            &json!({"client_id": cid, "client_secret": sec}),
        )
        .assert_problem(401, "unauthorized", "Authentication failed");
    // The name stays taken: 500, as the real broker's UNIQUE constraint.
    post(json!({"name": "two-part-name", "scopes": ["read:data:*"]})).assert_problem(
        500,
        "internal_error",
        "failed to register app",
    );
}

#[test]
fn launch_token_rules_and_registration() {
    let e = env();
    let (cid, sec, _) = e
        .http
        .create_app(&e.admin, "lt-app", &["read:data:*", "write:data:x"]);
    let app = e.http.app_token(&cid, &sec);
    let r = e.http.post_auth(
        "/v1/app/launch-tokens",
        &app,
        Some(&json!({"agent_name": "a", "allowed_scope": ["read:data:y"]})),
    );
    assert_eq!(r.status, 201);
    let lt = r.json();
    assert_eq!(
        lt["policy"],
        json!({"allowed_scope": ["read:data:y"], "max_ttl": 300})
    );
    assert_eq!(lt["expires_at"], "2026-11-21T23:41:04Z", "ttl 30 s");
    assert_eq!(lt["launch_token"].as_str().unwrap().len(), 64);
    e.http
        .post_auth(
            "/v1/app/launch-tokens",
            &app,
            Some(&json!({"agent_name": "a", "allowed_scope": ["write:data:*"]})),
        )
        .assert_problem(
            403,
            "forbidden",
            "requested scopes exceed app ceiling; allowed: [read:data:* write:data:x]",
        );
    e.http
        .post_auth(
            "/v1/app/launch-tokens",
            &app,
            Some(&json!({"agent_name": "a", "allowed_scope": []})),
        )
        .assert_problem(400, "invalid_request", "allowed_scope must not be empty");

    // Single use: the second registration fails; multi-use does not.
    let single = lt["launch_token"].as_str().unwrap();
    e.http.register(single, "o", "t", &["read:data:y"]);
    let n = e.http.nonce();
    e.http
        .register_raw(single, &n, &key(7), "o", "t", &["read:data:y"])
        .assert_problem(
            401,
            "unauthorized",
            "launch token: launch token already consumed",
        );
    let multi = e.http.launch_token(&e.admin, json!({"agent_name": "m", "allowed_scope": ["x:y:*"], "single_use": false, "max_ttl": 100000}));
    let (_, t1) = e.http.register(&multi, "o", "t", &["x:y:1"]);
    let (_, t2) = e.http.register(&multi, "o", "t", &["x:y:2"]);
    let c1 = claims(&t1);
    assert_eq!(
        c1["exp"].as_i64().unwrap() - c1["iat"].as_i64().unwrap(),
        86400,
        "capped at the broker max"
    );
    assert_ne!(claims(&t2)["sub"], c1["sub"]);

    // The signature covers the hex-DECODED nonce, not its text.
    let n = e.http.nonce();
    let k = key(8);
    let mut body = register_body(&multi, &n, &k, "o", "t", &["x:y:1"]);
    use ed25519_dalek::Signer as _;
    body["signature"] =
        json!(base64::engine::general_purpose::STANDARD.encode(k.sign(n.as_bytes()).to_bytes()));
    e.http.post("/v1/register", &body).assert_problem(
        401,
        "unauthorized",
        "nonce signature verification failed",
    );

    // An orch id that is not a SPIFFE path segment fails after consuming
    // the single-use launch token, as in the real broker.
    let lt = e.http.launch_token(
        &e.admin,
        json!({"agent_name": "s", "allowed_scope": ["x:y:*"]}),
    );
    let n = e.http.nonce();
    e.http
        .register_raw(&lt, &n, &key(9), "bad/orch", "t", &["x:y:1"])
        .assert_problem(500, "internal_error", "registration failed");
    let n = e.http.nonce();
    e.http
        .register_raw(&lt, &n, &key(9), "o", "t", &["x:y:1"])
        .assert_problem(
            401,
            "unauthorized",
            "launch token: launch token already consumed",
        );

    // Launch tokens and nonces expire on the clock.
    let lt = e.http.launch_token(
        &e.admin,
        json!({"agent_name": "e", "allowed_scope": ["x:y:*"], "ttl": 10}),
    );
    let n = e.http.nonce();
    e.clock.advance(Duration::from_secs(11));
    e.http
        .register_raw(&lt, &n, &key(10), "o", "t", &["x:y:1"])
        .assert_problem(401, "unauthorized", "launch token: launch token expired");
    let lt = e.http.launch_token(
        &e.admin,
        json!({"agent_name": "e", "allowed_scope": ["x:y:*"]}),
    );
    let n = e.http.nonce();
    e.clock.advance(Duration::from_secs(30));
    assert_eq!(
        e.http
            .register_raw(&lt, &n, &key(11), "o", "t", &["x:y:1"])
            .status,
        200,
        "30 s is still in time"
    );
}

#[test]
fn renew_preserves_identity_and_ttl() {
    let e = env();
    let lt = e.http.launch_token(
        &e.admin,
        json!({"agent_name": "r", "allowed_scope": ["read:data:*"], "max_ttl": 120}),
    );
    let (agent, t1) = e.http.register(&lt, "orch", "task", &["read:data:*"]);
    e.clock.advance(Duration::from_secs(10));
    let r = e.http.post_auth("/v1/token/renew", &t1, None);
    assert_eq!(r.status, 200);
    assert_eq!(keys_of(&r.json()), ["access_token", "expires_in"]);
    assert_eq!(r.json()["expires_in"], 120);
    let t2 = r.str("access_token");
    let (c1, c2) = (claims(&t1), claims(&t2));
    assert_eq!(c2["sub"], agent.as_str());
    for k in ["sub", "scope", "task_id", "orch_id", "iss"] {
        assert_eq!(c1[k], c2[k], "{k}");
    }
    assert_ne!(c1["jti"], c2["jti"]);
    assert_eq!(
        c2["exp"].as_i64().unwrap() - c2["iat"].as_i64().unwrap(),
        120
    );
    assert_eq!(
        c2["iat"].as_i64().unwrap(),
        c1["iat"].as_i64().unwrap() + 10
    );
    assert_eq!(
        e.http
            .post("/v1/token/validate", &json!({"token": t1}))
            .json()["valid"],
        false
    );
    assert_eq!(
        e.http
            .post("/v1/token/validate", &json!({"token": t2}))
            .json()["valid"],
        true
    );
}

#[test]
fn delegation_chains_hashes_signatures_and_depth() {
    let e = env();
    let all = ["read:data:*", "write:data:*"];
    let agents: Vec<(String, String)> = (0..7)
        .map(|i| e.http.agent(&e.admin, "o", &format!("t{i}"), &all))
        .collect();
    let vk = VerifyingKey::from_bytes(&e.broker.public_key()).unwrap();
    let mut token = agents[0].1.clone();
    let mut expect_scope = json!(all);
    for hop in 1..=5 {
        let scope = if hop == 1 {
            json!(["read:data:*"])
        } else {
            json!(["read:data:x"])
        };
        let r = e.http.post_auth(
            "/v1/delegate",
            &token,
            Some(&json!({"delegate_to": agents[hop].0, "scope": scope})),
        );
        assert_eq!(r.status, 200, "hop {hop}: {r:?}");
        let body = r.json();
        assert_eq!(
            keys_of(&body),
            ["access_token", "delegation_chain", "expires_in"]
        );
        assert_eq!(body["expires_in"], 60, "default delegation TTL");
        let chain = body["delegation_chain"].as_array().unwrap().clone();
        assert_eq!(chain.len(), hop);
        let last = &chain[hop - 1];
        assert_eq!(last["agent"], agents[hop - 1].0.as_str());
        assert_eq!(last["scope"], expect_scope, "the delegator's full scope");
        let scopes: Vec<&str> = last["scope"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let input = format!(
            "{}|{}|{}",
            last["agent"].as_str().unwrap(),
            scopes.join(","),
            last["delegated_at"].as_str().unwrap()
        );
        let sig = Signature::from_slice(&hex::decode(last["signature"].as_str().unwrap()).unwrap())
            .unwrap();
        vk.verify(input.as_bytes(), &sig).unwrap();
        token = body["access_token"].as_str().unwrap().to_owned();
        let c = claims(&token);
        assert_eq!(c["sub"], agents[hop].0.as_str());
        assert_eq!(
            c["task_id"], "t0",
            "task and orch come from the first presenter"
        );
        assert_eq!(c["scope"], scope);
        // chain_hash = hex SHA-256 of the chain's compact JSON, as sent.
        let chain_json = {
            let raw = String::from_utf8(
                URL_SAFE_NO_PAD
                    .decode(token.split('.').nth(1).unwrap())
                    .unwrap(),
            )
            .unwrap();
            let start = raw.find("\"delegation_chain\":").unwrap() + "\"delegation_chain\":".len();
            let end = raw.find(",\"chain_hash\"").unwrap();
            raw[start..end].to_owned()
        };
        assert_eq!(
            c["chain_hash"],
            hex::encode(Sha256::digest(chain_json.as_bytes()))
        );
        expect_scope = scope;
    }
    e.http
        .post_auth(
            "/v1/delegate",
            &token,
            Some(&json!({"delegate_to": agents[6].0, "scope": ["read:data:x"]})),
        )
        .assert_problem(403, "scope_violation", "delegation depth limit exceeded");
    let root = &agents[0].1;
    e.http
        .post_auth(
            "/v1/delegate",
            root,
            Some(&json!({"delegate_to": "", "scope": ["read:data:x"]})),
        )
        .assert_problem(500, "internal_error", "delegation failed");
    e.http
        .post_auth(
            "/v1/delegate",
            root,
            Some(&json!({"delegate_to": agents[1].0, "scope": ["read:other:x"]})),
        )
        .assert_problem(
            403,
            "scope_violation",
            "delegated scope exceeds delegator scope",
        );
    let r = e.http.post_auth(
        "/v1/delegate",
        root,
        Some(&json!({"delegate_to": agents[1].0, "scope": all, "ttl": 500})),
    );
    assert_eq!(
        r.json()["expires_in"],
        500,
        "equal scope and an explicit TTL are fine"
    );
}

#[test]
fn revocation_levels() {
    let e = env();
    let s = ["read:data:*"];
    let (a, ta) = e.http.agent(&e.admin, "o", "task-a", &s);
    let (b, tb) = e.http.agent(&e.admin, "o", "task-b", &s);
    let (c, tc) = e.http.agent(&e.admin, "o", "task-c", &s);
    let delegated = e
        .http
        .post_auth(
            "/v1/delegate",
            &ta,
            Some(&json!({"delegate_to": b, "scope": s})),
        )
        .str("access_token");
    let valid = |t: &str| {
        e.http
            .post("/v1/token/validate", &json!({"token": t}))
            .json()["valid"]
            == true
    };
    let revoke = |level: &str, target: &str| {
        let r = e.http.post_auth(
            "/v1/revoke",
            &e.admin,
            Some(&json!({"level": level, "target": target})),
        );
        assert_eq!(
            r.json(),
            json!({"revoked": true, "level": level, "target": target, "count": 1})
        );
    };
    revoke("chain", &a);
    assert!(
        !valid(&delegated),
        "chain: tokens whose chain starts with a"
    );
    assert!(
        valid(&ta) && valid(&tb),
        "chain does not touch the root's own token"
    );
    revoke("task", "task-b");
    assert!(!valid(&tb) && valid(&tc));
    revoke("agent", &c);
    assert!(!valid(&tc));
    revoke("token", claims(&ta)["jti"].as_str().unwrap());
    assert!(!valid(&ta));
    revoke("token", "no-such-jti");
    e.http
        .post_auth(
            "/v1/revoke",
            &e.admin,
            Some(&json!({"level": "galaxy", "target": "x"})),
        )
        .assert_problem(400, "invalid_request", "invalid revocation level: galaxy");
    e.http
        .post_auth("/v1/revoke", &e.admin, Some(&json!({"level": "token"})))
        .assert_problem(400, "invalid_request", "level and target are required");
}

#[test]
fn audit_trail_is_hash_chained_filtered_and_paged() {
    let e = env();
    let (agent, token) = e.http.agent(&e.admin, "o", "t", &["read:data:*"]);
    e.http.post_auth("/v1/token/release", &token, None);
    e.http.post("/v1/admin/auth", &json!({"secret": "wrong"}));
    e.clock.advance(Duration::from_secs(60));
    for _ in 0..1005 {
        e.http.post("/v1/token/renew", &json!({}));
    }
    let page = |q: &str| {
        e.http
            .get_auth(&format!("/v1/audit/events{q}"), &e.admin)
            .json()
    };
    let all = page("?limit=1000");
    assert_eq!(all["limit"], 1000);
    let events = all["events"].as_array().unwrap();
    assert_eq!(events.len(), 1000);
    let total = all["total"].as_u64().unwrap();
    assert!(total > 1005);
    // Recompute the chain as the broker does.
    let mut prev = "0".repeat(64);
    for ev in events {
        let s = |k: &str| ev.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let n = |k: &str| ev.get(k).and_then(Value::as_i64).unwrap_or(0);
        assert_eq!(s("prev_hash"), prev);
        let data = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            prev,
            s("id"),
            s("timestamp"),
            s("event_type"),
            s("agent_id"),
            s("task_id"),
            s("orch_id"),
            s("detail"),
            s("resource"),
            s("outcome"),
            n("deleg_depth"),
            s("deleg_chain_hash"),
            n("bytes_transferred")
        );
        assert_eq!(
            s("hash"),
            hex::encode(Sha256::digest(data.as_bytes())),
            "{ev}"
        );
        prev = s("hash");
    }
    assert_eq!(events[0]["id"], "evt-000001");
    assert_eq!(events[0]["event_type"], "admin_auth");

    let d = page("");
    assert_eq!(
        (d["limit"].as_u64(), d["offset"].as_u64()),
        (Some(100), Some(0))
    );
    assert_eq!(d["events"].as_array().unwrap().len(), 100);
    let big = page("?limit=5000&offset=1000");
    assert_eq!(big["limit"], 5000, "echoed as sent");
    assert_eq!(big["offset"], 1000);
    assert_eq!(
        big["events"].as_array().unwrap().len() as u64,
        total.min(2000) - 1000
    );
    let neg = page("?offset=-3&limit=-1");
    assert_eq!(
        (neg["offset"].as_i64(), neg["limit"].as_i64()),
        (Some(-3), Some(100))
    );

    let by_agent = page(&format!(
        "?agent_id={}",
        agent.replace(':', "%3A").replace('/', "%2F")
    ));
    let types: Vec<&str> = by_agent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["agent_registered", "token_issued", "token_released"]
    );
    let released = page("?event_type=token_released&task_id=t");
    assert_eq!(released["total"], 1);
    assert_eq!(
        released["events"][0]["detail"],
        format!(
            "token released | jti={}",
            claims(&token)["jti"].as_str().unwrap()
        )
    );
    assert_eq!(
        page("?outcome=denied&event_type=admin_auth_failed")["total"],
        1
    );
    assert_eq!(page("?until=2026-11-21T23:40:35Z")["total"], 6);
    let since = page("?since=2026-11-21T23:41:00Z&limit=1");
    assert_eq!(since["total"], 1005);
    assert_eq!(since["events"][0]["resource"], "/v1/token/renew");
    assert_eq!(
        since["events"][0]["detail"],
        "missing authorization header | path=/v1/token/renew"
    );
}

#[test]
fn rate_limits_on_the_manual_clock() {
    let clock = Arc::new(ManualClock::at_unix_seconds(1_800_000_000));
    let broker = DevBroker::builder().clock(clock.clone()).start().unwrap();
    let http = Client::new(broker.url());
    let app = broker
        .register_app("limited", &["read:data:*"], None)
        .unwrap();
    let other = broker
        .register_app("other", &["read:data:*"], None)
        .unwrap();
    let auth = |id: &str, secret: &str| {
        http.post(
            "/v1/app/auth",
            &json!({"client_id": id, "client_secret": secret}),
        )
    };
    let secret = app.client_secret.expose_secret();
    assert_eq!(auth(&app.client_id, "wrong").status, 401);
    assert_eq!(auth(&app.client_id, "").status, 400);
    assert_eq!(auth(&app.client_id, secret).status, 200);
    let r = auth(&app.client_id, secret);
    r.assert_problem(429, "rate_limited", "rate limit exceeded, try again later");
    assert_eq!(r.header("retry-after").as_deref(), Some("60"));
    assert_eq!(
        auth(&other.client_id, other.client_secret.expose_secret()).status,
        200
    );
    clock.advance(Duration::from_secs(6));
    assert_eq!(
        auth(&app.client_id, secret).status,
        200,
        "one token per 6 s"
    );
    assert_eq!(auth(&app.client_id, secret).status, 429);

    let admin = |s: &str| http.post("/v1/admin/auth", &json!({"secret": s}));
    for _ in 0..10 {
        assert_eq!(admin("wrong").status, 401);
    }
    let r = admin(broker.admin_secret().expose_secret());
    r.assert_problem(429, "rate_limited", "rate limit exceeded, try again later");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    // X-Forwarded-For is trusted as the client IP, as in the real broker.
    let r = http.send(
        "POST",
        "/v1/admin/auth",
        &[("x-forwarded-for", "10.1.2.3, 10.0.0.1")],
        Some(b"{\"secret\":\"wrong\"}"),
    );
    assert_eq!(r.status, 401);
    clock.advance(Duration::from_millis(200));
    assert_eq!(admin(broker.admin_secret().expose_secret()).status, 200);

    let free = DevBroker::builder()
        .app_auth_rate_limit(Some(RateLimit {
            per_second: 0.0,
            burst: 1,
        }))
        .admin_auth_rate_limit(None)
        .start()
        .unwrap();
    let fh = Client::new(free.url());
    for _ in 0..30 {
        assert_eq!(
            fh.post("/v1/admin/auth", &json!({"secret": "x"})).status,
            401
        );
    }
}
