//! The development broker under attack: oversized and malformed bodies,
//! bad registration signatures, replays, forged and tampered tokens, and a
//! property test firing random requests at one broker. Every refusal must
//! carry the contract's status and problem body, and the server must keep
//! answering.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::Duration;

use agentwrit_devbroker::{DevBroker, DevBrokerHandle};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use ed25519_dalek::Signer as _;
use proptest::prelude::*;
use serde_json::{Value, json};

struct Env {
    broker: DevBrokerHandle,
    http: Client,
    admin: String,
}

fn env() -> Env {
    let broker = DevBroker::builder().no_rate_limits().start().unwrap();
    let http = Client::new(broker.url());
    let admin = http.admin_token(broker.admin_secret().expose_secret());
    Env {
        broker,
        http,
        admin,
    }
}

fn assert_alive(http: &Client) {
    let r = http.get("/v1/health");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["status"], "ok");
}

// ------------------------------------------------------------ raw HTTP --

/// A response read off the wire, checked for HTTP/1.1 well-formedness.
#[derive(Debug)]
struct Wire {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` on a fresh connection and parses the whole answer
/// (the request must ask for `Connection: close`). `Err` says how the
/// answer is not a well-formed HTTP/1.1 response.
fn exchange(base: &str, request: &[u8], head: bool) -> Result<Wire, String> {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    // The server may answer (413) and close before reading everything.
    let _ = s.write_all(request);
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw)
        && raw.is_empty()
    {
        return Err(format!("no answer: {e}"));
    }
    parse_response(&raw, head)
}

fn parse_response(raw: &[u8], head: bool) -> Result<Wire, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {:?}", String::from_utf8_lossy(raw)))?;
    let text = std::str::from_utf8(&raw[..end]).map_err(|_| "head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let status: u16 = rest
        .get(..3)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status code in {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        if k.is_empty() || k.contains(' ') {
            return Err(format!("bad header name in {line:?}"));
        }
        headers.push((k.to_owned(), v.trim().to_owned()));
    }
    let body = raw[end + 4..].to_vec();
    let w = Wire {
        status,
        headers,
        body,
    };
    if w.header("transfer-encoding").is_some() {
        return Err("unexpected chunked answer".into());
    }
    if status == 204 || status == 304 {
        // No body, and (RFC 9110 §8.6) no Content-Length needed.
        if !w.body.is_empty() {
            return Err(format!("{status} with a {}-byte body", w.body.len()));
        }
        return Ok(w);
    }
    let len: usize = w
        .header("content-length")
        .ok_or("no content-length")?
        .parse()
        .map_err(|_| "bad content-length")?;
    let expected = if head { 0 } else { len };
    if w.body.len() != expected {
        return Err(format!(
            "body is {} bytes, content-length {len}",
            w.body.len()
        ));
    }
    Ok(w)
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        r.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    bytes
}

// ---------------------------------------------------- bodies and JSON --

fn assert_413(w: &Wire, rid: &str, path: &str) {
    assert_eq!(w.status, 413, "{w:?}");
    assert_eq!(w.header("content-type"), Some("application/problem+json"));
    assert_eq!(w.header("connection"), Some("close"));
    assert_eq!(w.header("x-request-id"), Some(rid));
    let p: Value = serde_json::from_slice(&w.body).unwrap();
    assert_eq!(p["error_code"], "payload_too_large");
    assert_eq!(p["status"], 413);
    assert_eq!(p["request_id"], rid);
    assert_eq!(p["instance"], path);
}

#[test]
fn oversized_bodies_are_413_on_every_route_declared_or_chunked() {
    let e = env();
    let (_, agent) = e.http.agent(&e.admin, "o", "t", &["read:data:*"]);
    let big = vec![b'{'; (1 << 20) + 1];
    let bearer = format!("Bearer {agent}");
    for (m, path) in [
        ("POST", "/v1/register"),
        ("POST", "/v1/token/validate"),
        ("POST", "/v1/admin/auth"),
        ("POST", "/v1/app/auth"),
        ("POST", "/v1/delegate"),
        ("POST", "/v1/token/renew"),
        ("GET", "/v1/health"),
        ("PUT", "/v1/admin/apps/x"),
        ("POST", "/v1/no-such-route"),
    ] {
        let rid = format!("big-{}", path.replace('/', "-"));
        let req = request(
            m,
            path,
            &[("X-Request-ID", &rid), ("Authorization", &bearer)],
            Some(&big),
        );
        let w = exchange(&e.http.base, &req, false).unwrap();
        assert_413(&w, &rid, path);
    }
    // Chunked, with no declared length: refused once 1 MiB is passed.
    let mut req = b"POST /v1/token/validate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Request-ID: chunked\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..17 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let w = exchange(&e.http.base, &req, false).unwrap();
    assert_413(&w, "chunked", "/v1/token/validate");
    assert_alive(&e.http);
}

#[test]
fn malformed_json_is_400_and_harmless() {
    let e = env();
    let deep_array = "[".repeat(100_000);
    let deep_object = "{\"a\":".repeat(50_000);
    let nul = b"{\"token\":\0}".to_vec();
    let bom = b"\xef\xbb\xbf{\"token\":\"x\"}".to_vec();
    let bodies: Vec<Vec<u8>> = vec![
        deep_array.into_bytes(),
        deep_object.into_bytes(),
        nul,
        bom,
        b"{\"token\":\"x\"".to_vec(),
        b"{\"token\" \"x\"}".to_vec(),
        b"{'token':'x'}".to_vec(),
        b"{\"token\":\"\\u12\"}".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        b"true".to_vec(),
        b"123".to_vec(),
    ];
    for path in ["/v1/token/validate", "/v1/register", "/v1/app/auth"] {
        for body in &bodies {
            e.http.send("POST", path, &[], Some(body)).assert_problem(
                400,
                "invalid_request",
                "malformed JSON body",
            );
        }
    }
    // Wrong types for known fields.
    for body in [
        json!({"token": ["x"]}),
        json!({"token": {"a": 1}}),
        json!({"token": true}),
    ] {
        e.http.post("/v1/token/validate", &body).assert_problem(
            400,
            "invalid_request",
            "malformed JSON body",
        );
    }
    let (_, agent) = e.http.agent(&e.admin, "o", "t", &["read:data:*"]);
    for body in [
        json!({"delegate_to": "x", "scope": "read:data:x"}),
        json!({"delegate_to": 1, "scope": ["read:data:x"]}),
        json!({"delegate_to": "x", "scope": ["read:data:x"], "ttl": "60"}),
        json!({"delegate_to": "x", "scope": ["read:data:x"], "ttl": 1.5}),
        json!({"delegate_to": "x", "scope": ["read:data:x"], "ttl": 1e30}),
    ] {
        e.http
            .post_auth("/v1/delegate", &agent, Some(&body))
            .assert_problem(400, "invalid_request", "malformed JSON body");
    }
    assert_alive(&e.http);
}

// ------------------------------------------------ registration attacks --

#[test]
fn bad_registration_signatures_are_401_and_spend_the_nonce_not_the_launch_token() {
    let e = env();
    let lt = e.http.launch_token(
        &e.admin,
        json!({"agent_name": "sig", "allowed_scope": ["read:data:*"]}),
    );
    let k = key(rand_seed() + 50_000);
    let other = key(rand_seed() + 60_000);
    type Mutate = fn(&mut Value, &str, &ed25519_dalek::SigningKey);
    let cases: Vec<(&str, Mutate)> = vec![
        ("nonce signature verification failed", |b, n, other| {
            b["signature"] = json!(sign_nonce(other, n));
        }),
        ("nonce signature verification failed", |b, _, _| {
            b["signature"] = json!(STANDARD.encode([0u8; 64]));
        }),
        ("nonce signature verification failed", |b, _, _| {
            b["signature"] = json!(STANDARD.encode([7u8; 10]));
        }),
        (
            "nonce signature verification failed: base64 decode failed",
            |b, _, _| {
                b["signature"] = json!("not*base64!");
            },
        ),
        ("nonce signature verification failed", |b, _, _| {
            // URL-safe alphabet where the standard one is required.
            let s = b["signature"].as_str().unwrap().to_owned();
            let raw = STANDARD.decode(&s).unwrap();
            let mut flipped = raw.clone();
            flipped[0] ^= 1;
            b["signature"] = json!(STANDARD.encode(flipped));
        }),
        ("invalid Ed25519 public key: wrong key size", |b, _, _| {
            b["public_key"] = json!(STANDARD.encode([1u8; 31]));
        }),
        (
            "invalid Ed25519 public key: base64 decode failed",
            |b, _, _| {
                b["public_key"] = json!("%%%");
            },
        ),
        ("nonce signature verification failed", |b, _, other| {
            // Someone else's public key with our signature.
            b["public_key"] = json!(public_key_b64(other));
        }),
    ];
    for (detail, mutate) in cases {
        let n = e.http.nonce();
        let mut body = register_body(&lt, &n, &k, "o", "t", &["read:data:x"]);
        mutate(&mut body, &n, &other);
        e.http
            .post("/v1/register", &body)
            .assert_problem(401, "unauthorized", detail);
        // The nonce is spent even though the registration failed ...
        e.http
            .register_raw(&lt, &n, &k, "o", "t", &["read:data:x"])
            .assert_problem(401, "unauthorized", "nonce: nonce already consumed");
    }
    // ... but the single-use launch token is not.
    let n = e.http.nonce();
    let r = e.http.register_raw(&lt, &n, &k, "o", "t", &["read:data:x"]);
    assert_eq!(r.status, 200, "{r:?}");
    // An unknown (made-up) nonce.
    let lt2 = e.http.launch_token(
        &e.admin,
        json!({"agent_name": "sig", "allowed_scope": ["read:data:*"]}),
    );
    let made_up = hex::encode([0x42u8; 32]);
    e.http
        .register_raw(&lt2, &made_up, &k, "o", "t", &["read:data:x"])
        .assert_problem(401, "unauthorized", "nonce: nonce not found or expired");
    assert_alive(&e.http);
}

#[test]
fn replayed_registrations_nonces_and_launch_tokens_are_refused() {
    let e = env();
    let lt = e.http.launch_token(
        &e.admin,
        json!({"agent_name": "rp", "allowed_scope": ["read:data:*"]}),
    );
    let k = key(rand_seed() + 70_000);
    let n = e.http.nonce();
    let body = register_body(&lt, &n, &k, "o", "t", &["read:data:x"]);
    let first = e.http.post("/v1/register", &body);
    assert_eq!(first.status, 200, "{first:?}");
    // The same bytes again: the launch token is checked first.
    e.http.post("/v1/register", &body).assert_problem(
        401,
        "unauthorized",
        "launch token: launch token already consumed",
    );
    // The spent launch token with a fresh nonce and a fresh key.
    let n2 = e.http.nonce();
    e.http
        .register_raw(
            &lt,
            &n2,
            &key(rand_seed() + 70_000),
            "o",
            "t",
            &["read:data:x"],
        )
        .assert_problem(
            401,
            "unauthorized",
            "launch token: launch token already consumed",
        );
    // The spent nonce with a fresh launch token (a replay of the proof).
    let multi = e.http.launch_token(
        &e.admin,
        json!({"agent_name": "rp", "allowed_scope": ["read:data:*"], "single_use": false}),
    );
    let mut replay = body.clone();
    replay["launch_token"] = json!(multi);
    e.http.post("/v1/register", &replay).assert_problem(
        401,
        "unauthorized",
        "nonce: nonce already consumed",
    );
    // A multi-use launch token still needs a fresh nonce per registration.
    let n3 = e.http.nonce();
    let ok = e
        .http
        .register_raw(&multi, &n3, &k, "o", "t2", &["read:data:x"]);
    assert_eq!(ok.status, 200, "{ok:?}");
    e.http
        .register_raw(&multi, &n3, &k, "o", "t2", &["read:data:x"])
        .assert_problem(401, "unauthorized", "nonce: nonce already consumed");
    // A made-up launch token.
    let n4 = e.http.nonce();
    e.http
        .register_raw(&"ab".repeat(32), &n4, &k, "o", "t", &["read:data:x"])
        .assert_problem(401, "unauthorized", "launch token: launch token not found");
    assert_alive(&e.http);
}

// -------------------------------------------------- forged tokens --

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Tokens that must all be refused, derived from a genuine one.
fn forgeries(token: &str, kid: &str) -> Vec<(String, String)> {
    let parts: Vec<&str> = token.split('.').collect();
    let (h, c, sig) = (parts[0], parts[1], parts[2]);
    let header = jwt_header(token);
    let claims = claims(token);
    let with_claims = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        format!("{h}.{}.{sig}", b64(&c))
    };
    let with_header = |v: Value, s: &str| format!("{}.{c}.{s}", b64(&v));
    let mut sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig_bytes[10] ^= 0x40;
    let flipped = URL_SAFE_NO_PAD.encode(&sig_bytes);
    let other = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let resigned = {
        let mut c = claims.clone();
        c["scope"] = json!(["admin:revoke:*"]);
        let input = format!("{h}.{}", b64(&c));
        let s = URL_SAFE_NO_PAD.encode(other.sign(input.as_bytes()).to_bytes());
        format!("{input}.{s}")
    };
    let mut v = vec![
        (
            "widened scope",
            with_claims(&|c| c["scope"] = json!(["read:data:*", "admin:revoke:*"])),
        ),
        (
            "extended exp",
            with_claims(&|c| c["exp"] = json!(c["exp"].as_i64().unwrap() + 1_000_000)),
        ),
        (
            "other sub",
            with_claims(&|c| {
                c["sub"] = json!("spiffe://agentwrit.local/agent/o/t/0000000000000000")
            }),
        ),
        (
            "other jti",
            with_claims(&|c| c["jti"] = json!("0".repeat(32))),
        ),
        (
            "added chain",
            with_claims(
                &|c| c["delegation_chain"] = json!([{"agent": "x", "scope": ["a:b:c"], "delegated_at": "2026-01-01T00:00:00Z"}]),
            ),
        ),
        (
            "claims array",
            format!("{h}.{}.{sig}", b64(&json!([claims.clone()]))),
        ),
        (
            "claims not JSON",
            format!("{h}.{}.{sig}", URL_SAFE_NO_PAD.encode("not json")),
        ),
        (
            "alg none, no sig",
            with_header(json!({"alg": "none", "typ": "JWT"}), ""),
        ),
        (
            "alg none, orig sig",
            with_header(json!({"alg": "none", "typ": "JWT", "kid": kid}), sig),
        ),
        (
            "alg None",
            with_header(json!({"alg": "None", "typ": "JWT", "kid": kid}), sig),
        ),
        (
            "alg HS256",
            with_header(json!({"alg": "HS256", "typ": "JWT", "kid": kid}), sig),
        ),
        (
            "alg eddsa",
            with_header(json!({"alg": "eddsa", "typ": "JWT", "kid": kid}), sig),
        ),
        (
            "wrong kid",
            with_header(json!({"alg": "EdDSA", "typ": "JWT", "kid": "x"}), sig),
        ),
        (
            "no kid",
            with_header(json!({"alg": "EdDSA", "typ": "JWT"}), sig),
        ),
        (
            "header not JSON",
            format!("{}.{c}.{sig}", URL_SAFE_NO_PAD.encode("{")),
        ),
        ("flipped signature bit", format!("{h}.{c}.{flipped}")),
        ("other key's signature", resigned),
        ("signature dropped", format!("{h}.{c}.")),
        ("signature only header", format!("{h}..{sig}")),
        ("truncated by one", token[..token.len() - 1].to_owned()),
        ("truncated by half", token[..token.len() / 2].to_owned()),
        ("two parts", format!("{h}.{c}")),
        ("four parts", format!("{token}.{sig}")),
        (
            "non-base64 in claims",
            format!("{h}.{}*.{sig}", &c[..c.len() - 1]),
        ),
        ("padded signature", format!("{token}==")),
        (
            "standard alphabet",
            format!("{h}.{c}.{}", sig.replace('-', "+").replace('_', "/") + "+/"),
        ),
        ("whitespace inside", format!("{h}. {c}.{sig}")),
        ("empty", String::new()),
        ("dots", String::from("..")),
        ("huge", "A".repeat(30_000)),
        ("header object only", format!("{}..", b64(&header))),
    ];
    v.retain(|(_, t)| t != token);
    v.into_iter().map(|(n, t)| (n.to_owned(), t)).collect()
}

#[test]
fn forged_and_tampered_tokens_are_refused_everywhere() {
    let e = env();
    let (other, _) = e.http.agent(&e.admin, "o", "other", &["read:data:*"]);
    let (_, token) = e.http.agent(&e.admin, "o", "t", &["read:data:*"]);
    let kid = e.broker.kid().to_owned();
    let delegate = json!({"delegate_to": other, "scope": ["read:data:x"]});
    for (name, forged) in forgeries(&token, &kid) {
        let v = e.http.post("/v1/token/validate", &json!({"token": forged}));
        if forged.is_empty() {
            v.assert_problem(400, "invalid_request", "token field is required");
        } else {
            assert_eq!(v.status, 200, "{name}: {v:?}");
            assert_eq!(
                v.json(),
                json!({"valid": false, "error": "token is invalid or expired"}),
                "{name}"
            );
        }
        for (path, body) in [
            ("/v1/token/renew", None),
            ("/v1/token/release", None),
            ("/v1/delegate", Some(&delegate)),
            ("/v1/audit/events", None),
        ] {
            let m = if path == "/v1/audit/events" {
                "GET"
            } else {
                "POST"
            };
            let auth = format!("Bearer {forged}");
            let bytes = body.map(|b| b.to_string().into_bytes());
            let r = e
                .http
                .send(m, path, &[("authorization", &auth)], bytes.as_deref());
            // An empty bearer is trimmed to "Bearer", which is no scheme.
            let detail = if forged.is_empty() || forged.trim().is_empty() {
                "invalid authorization scheme"
            } else {
                "token verification failed"
            };
            assert_eq!(r.status, 401, "{name} on {path}: {r:?}");
            r.assert_problem(401, "unauthorized", detail);
        }
    }
    // The genuine token survived all of that.
    assert_eq!(
        e.http
            .post("/v1/token/validate", &json!({"token": token}))
            .json()["valid"],
        true
    );
    // Authorization header variants.
    for (auth, detail) in [
        ("bearer x", "invalid authorization scheme"),
        ("BEARER x", "invalid authorization scheme"),
        ("Token x", "invalid authorization scheme"),
        ("Bearer", "invalid authorization scheme"),
    ] {
        e.http
            .send("POST", "/v1/token/renew", &[("authorization", auth)], None)
            .assert_problem(401, "unauthorized", detail);
    }
    // The genuine token under another scheme is not accepted.
    let basic = format!("Basic {token}");
    e.http
        .send(
            "POST",
            "/v1/token/renew",
            &[("authorization", &basic)],
            None,
        )
        .assert_problem(401, "unauthorized", "invalid authorization scheme");
    assert_alive(&e.http);
}

// ------------------------------------------------------ random requests --

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO",
];

const PATHS: &[&str] = &[
    "/v1/challenge",
    "/v1/health",
    "/v1/metrics",
    "/v1/token/validate",
    "/v1/register",
    "/v1/token/renew",
    "/v1/delegate",
    "/v1/token/release",
    "/v1/revoke",
    "/v1/audit/events",
    "/v1/audit/events?limit=5&offset=-3&since=yesterday",
    "/v1/admin/auth",
    "/v1/admin/launch-tokens",
    "/v1/app/launch-tokens",
    "/v1/admin/apps",
    "/v1/admin/apps/app-x-000000",
    "/v1/app/auth",
    // junk
    "/",
    "/v1",
    "/v1/",
    "/v1//health",
    "/v1/./health",
    "/v1/../v1/health",
    "/v1/health/",
    "/V1/HEALTH",
    "/v1/admin/apps/%2e%2e",
    "/v1/admin/apps/a%2Fb",
    "/%zz",
    "/v1/admin/apps/%ff%fe",
    "*",
    "/v1/token/validate?token=x",
    "/v2/register",
];

/// JSON bodies the routes accept, for mutation.
fn templates() -> Vec<Value> {
    vec![
        json!({"token": "eyJ.eyJ.sig"}),
        json!({"launch_token": "ab", "nonce": "cd", "public_key": "AAAA", "signature": "AAAA", "orch_id": "o", "task_id": "t", "requested_scope": ["read:data:x"]}),
        json!({"delegate_to": "spiffe://agentwrit.local/agent/o/t/0", "scope": ["read:data:x"], "ttl": 60}),
        json!({"level": "task", "target": "t"}),
        json!({"secret": "nope"}),
        json!({"client_id": "x", "client_secret": "y"}),
        json!({"name": "fuzz-app", "scopes": ["read:data:*"], "token_ttl": 600}),
        json!({"agent_name": "a", "allowed_scope": ["read:data:x"], "max_ttl": 60, "single_use": true, "ttl": 30}),
    ]
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Junk(String),
    Admin,
    Agent,
    Forged(usize),
    OtherScheme,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Bytes(Vec<u8>),
    Mutated(usize, Vec<(usize, u8)>, Option<usize>),
    Template(usize),
}

fn auth_strategy() -> impl Strategy<Value = Auth> {
    prop_oneof![
        Just(Auth::None),
        "[ -~]{0,40}".prop_map(Auth::Junk),
        Just(Auth::Admin),
        Just(Auth::Agent),
        (0usize..64).prop_map(Auth::Forged),
        Just(Auth::OtherScheme),
    ]
}

fn body_strategy() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::None),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Body::Bytes),
        (
            0usize..8,
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            proptest::option::of(any::<usize>())
        )
            .prop_map(|(t, edits, cut)| Body::Mutated(t, edits, cut)),
        (0usize..8).prop_map(Body::Template),
    ]
}

struct Shared {
    broker: DevBrokerHandle,
    http: Client,
    admin: String,
    agent: String,
    forged: Vec<String>,
}

/// One broker for every case (with its default rate limits on).
fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let broker = DevBroker::builder().start().unwrap();
        let http = Client::new(broker.url());
        let admin = http.admin_token(broker.admin_secret().expose_secret());
        let (_, agent) = http.agent(&admin, "o", "t", &["read:data:*"]);
        let forged = forgeries(&agent, broker.kid())
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        Shared {
            broker,
            http,
            admin,
            agent,
            forged,
        }
    })
}

const ALLOWED: &[u16] = &[200, 201, 204, 301, 400, 401, 403, 404, 405, 413, 429, 500];

/// Cases for the random-request property: `PROPTEST_CASES` when set, but
/// never more than 512, so the test stays well under 30 s in a debug build
/// on two cores even when CI sets PROPTEST_CASES=10000.
fn random_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256u32)
        .min(512)
}

type Case = (
    &'static str,
    String,
    Auth,
    Option<String>,
    Option<String>,
    Body,
);

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        proptest::sample::select(METHODS),
        prop_oneof![
            3 => proptest::sample::select(PATHS).prop_map(String::from),
            1 => "/[a-zA-Z0-9/._%~-]{0,30}",
        ],
        auth_strategy(),
        proptest::option::of("[A-Za-z0-9_.-]{1,32}"),
        proptest::option::of(prop_oneof![
            Just(String::from("application/json")),
            Just(String::from("text/plain")),
            "[a-z/+.-]{0,20}",
        ]),
        body_strategy(),
    )
}

/// One random request and the checks on its answer.
fn check_case(s: &Shared, case: Case) -> Result<(), TestCaseError> {
    let (method, path, auth, rid, content_type, body) = case;
    let templates = templates();
    let auth_value = match &auth {
        Auth::None => None,
        Auth::Junk(j) => Some(j.clone()),
        Auth::Admin => Some(format!("Bearer {}", s.admin)),
        Auth::Agent => Some(format!("Bearer {}", s.agent)),
        Auth::Forged(i) => Some(format!("Bearer {}", s.forged[i % s.forged.len()])),
        Auth::OtherScheme => Some(format!("Basic {}", s.agent)),
    };
    let body_bytes: Option<Vec<u8>> = match &body {
        Body::None => None,
        Body::Bytes(b) => Some(b.clone()),
        Body::Template(t) => Some(templates[*t].to_string().into_bytes()),
        Body::Mutated(t, edits, cut) => {
            let mut b = templates[*t].to_string().into_bytes();
            for (at, byte) in edits {
                let i = at % b.len();
                b[i] = *byte;
            }
            if let Some(c) = cut {
                b.truncate(c % (b.len() + 1));
            }
            Some(b)
        }
    };
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &auth_value {
        headers.push(("Authorization", a.as_str()));
    }
    if let Some(r) = &rid {
        headers.push(("X-Request-ID", r.as_str()));
    }
    if let Some(ct) = &content_type {
        headers.push(("Content-Type", ct.as_str()));
    }
    let req = request(method, &path, &headers, body_bytes.as_deref());
    let head = method == "HEAD";
    let w = exchange(&s.http.base, &req, head)
        .map_err(|e| TestCaseError::fail(format!("{method} {path}: {e}")))?;
    prop_assert!(
        ALLOWED.contains(&w.status),
        "{method} {path}: status {}",
        w.status
    );
    let header_rid = w.header("x-request-id").map(str::to_owned);
    prop_assert!(
        header_rid.as_deref().is_some_and(|r| !r.is_empty()),
        "no X-Request-ID"
    );
    if let Some(r) = &rid {
        prop_assert_eq!(header_rid.as_deref(), Some(r.as_str()));
    }
    prop_assert_eq!(w.header("x-content-type-options"), Some("nosniff"));
    prop_assert_eq!(w.header("x-frame-options"), Some("DENY"));
    if w.status >= 400 && !head {
        let ct = w.header("content-type").unwrap_or_default();
        if ct == "application/problem+json" {
            let p: Value = serde_json::from_slice(&w.body)
                .map_err(|e| TestCaseError::fail(format!("problem body not JSON: {e}")))?;
            prop_assert_eq!(p["status"].as_u64(), Some(u64::from(w.status)));
            prop_assert!(p["error_code"].as_str().is_some_and(|c| !c.is_empty()));
            prop_assert_eq!(
                p["type"].as_str().map(str::to_owned),
                p["error_code"]
                    .as_str()
                    .map(|c| format!("urn:agentwrit:error:{c}"))
            );
            prop_assert!(p["detail"].is_string() && p["title"].is_string());
            prop_assert_eq!(p["request_id"].as_str(), header_rid.as_deref());
        } else {
            // Only the Go mux's own answers are plain text: unknown
            // path, wrong method, an undecodable path.
            let text = String::from_utf8_lossy(&w.body).into_owned();
            let mux = matches!(
                (w.status, text.as_str()),
                (404, "404 page not found\n")
                    | (405, "Method Not Allowed\n")
                    | (400, "400 Bad Request")
                    | (400, "")
            );
            prop_assert!(mux, "{method} {path}: {} {ct:?} {text:?}", w.status);
        }
    }
    if w.status == 405 {
        prop_assert!(w.header("allow").is_some());
    }
    if w.status == 301 {
        prop_assert!(w.header("location").is_some());
    }
    Ok(())
}

#[test]
fn random_requests_get_well_formed_answers_and_leave_the_broker_answering() {
    let config = ProptestConfig {
        cases: random_cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    // Its own broker, default rate limits on.
    let s = shared();
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&case_strategy(), |case| check_case(s, case))
        .unwrap();
    // Afterwards the broker still answers health and a whole registration
    // (through a fresh app: the random requests may have released the
    // admin token or worn down the admin login's rate limit).
    assert_alive(&s.http);
    let app = s
        .broker
        .register_app("after-fuzz", &["read:data:*"], None)
        .unwrap();
    let app_token = s
        .http
        .app_token(&app.client_id, app.client_secret.expose_secret());
    let r = s.http.post_auth(
        "/v1/app/launch-tokens",
        &app_token,
        Some(&json!({"agent_name": "after", "allowed_scope": ["read:data:x"]})),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let (_, t) = s
        .http
        .register(&r.str("launch_token"), "o", "after", &["read:data:x"]);
    assert_eq!(
        s.http
            .post("/v1/token/validate", &json!({"token": t}))
            .json()["valid"],
        true
    );
}
