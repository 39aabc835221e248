//! Shared helpers of the black-box tests: a plain HTTP client (ureq) and
//! the agent-side crypto, nothing from the SDK.
#![allow(dead_code)]

use std::fmt;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};

/// One HTTP answer.
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl fmt::Debug for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} {}", self.status, self.headers, self.text())
    }
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn str(&self, key: &str) -> String {
        self.json()[key]
            .as_str()
            .unwrap_or_else(|| panic!("no string {key:?} in {}", self.text()))
            .to_owned()
    }

    /// The three security headers are present with the broker's values.
    pub fn assert_security_headers(&self) {
        assert_eq!(
            self.header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{self:?}"
        );
        assert_eq!(
            self.header("cache-control").as_deref(),
            Some("no-store"),
            "{self:?}"
        );
        assert_eq!(
            self.header("x-frame-options").as_deref(),
            Some("DENY"),
            "{self:?}"
        );
    }

    /// A problem+json answer with this status, code and detail, whose
    /// `request_id` equals the `X-Request-ID` header.
    pub fn assert_problem(&self, status: u16, code: &str, detail: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "{self:?}"
        );
        let p = self.json();
        assert_eq!(p["status"], status, "{self:?}");
        assert_eq!(p["error_code"], code, "{self:?}");
        assert_eq!(p["type"], format!("urn:agentwrit:error:{code}"), "{self:?}");
        assert_eq!(p["detail"], detail, "{self:?}");
        assert_eq!(
            p["request_id"].as_str(),
            self.header("x-request-id").as_deref(),
            "{self:?}"
        );
        self.assert_security_headers();
    }
}

/// A blocking client for one broker.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .allow_non_standard_methods(true)
            .build()
            .into();
        Client {
            agent,
            base: base.to_owned(),
        }
    }

    /// A client on an agent configured by the caller (TLS roots, client
    /// certificate); the agent must not turn statuses into errors.
    pub fn with_agent(base: &str, agent: ureq::Agent) -> Self {
        Client {
            agent,
            base: base.to_owned(),
        }
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let result = match body {
            Some(body) => self.agent.run(
                b.header("content-type", "application/json")
                    .body(body.to_vec())
                    .unwrap(),
            ),
            None => self.agent.run(b.body(ureq::SendBody::none()).unwrap()),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.body_mut().read_to_vec().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], None)
    }

    pub fn get_auth(&self, path: &str, token: &str) -> Resp {
        let auth = format!("Bearer {token}");
        self.send("GET", path, &[("authorization", &auth)], None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.send("POST", path, &[], Some(body.to_string().as_bytes()))
    }

    pub fn post_auth(&self, path: &str, token: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {token}");
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.send("POST", path, &[("authorization", &auth)], bytes.as_deref())
    }

    // ------------------------------------------------------------ flows --

    pub fn admin_token(&self, secret: &str) -> String {
        let r = self.post("/v1/admin/auth", &json!({ "secret": secret }));
        assert_eq!(r.status, 200, "{r:?}");
        r.str("access_token")
    }

    /// Registers an app over HTTP: (client_id, client_secret, app_id).
    pub fn create_app(&self, admin: &str, name: &str, scopes: &[&str]) -> (String, String, String) {
        let r = self.post_auth(
            "/v1/admin/apps",
            admin,
            Some(&json!({ "name": name, "scopes": scopes })),
        );
        assert_eq!(r.status, 201, "{r:?}");
        (r.str("client_id"), r.str("client_secret"), r.str("app_id"))
    }

    pub fn app_token(&self, client_id: &str, secret: &str) -> String {
        let r = self.post(
            "/v1/app/auth",
            &json!({ "client_id": client_id, "client_secret": secret }),
        );
        assert_eq!(r.status, 200, "{r:?}");
        r.str("access_token")
    }

    /// A launch token from the admin route.
    pub fn launch_token(&self, admin: &str, body: Value) -> String {
        let r = self.post_auth("/v1/admin/launch-tokens", admin, Some(&body));
        assert_eq!(r.status, 201, "{r:?}");
        r.str("launch_token")
    }

    pub fn nonce(&self) -> String {
        let r = self.get("/v1/challenge");
        assert_eq!(r.status, 200, "{r:?}");
        r.str("nonce")
    }

    /// A full registration; the answer is returned unchecked.
    pub fn register_raw(
        &self,
        launch_token: &str,
        nonce: &str,
        key: &SigningKey,
        orch: &str,
        task: &str,
        scope: &[&str],
    ) -> Resp {
        self.post(
            "/v1/register",
            &register_body(launch_token, nonce, key, orch, task, scope),
        )
    }

    /// Registers an agent: (agent_id, access_token).
    pub fn register(
        &self,
        launch_token: &str,
        orch: &str,
        task: &str,
        scope: &[&str],
    ) -> (String, String) {
        let nonce = self.nonce();
        let r = self.register_raw(launch_token, &nonce, &key(rand_seed()), orch, task, scope);
        assert_eq!(r.status, 200, "{r:?}");
        (r.str("agent_id"), r.str("access_token"))
    }

    /// Admin launch token + registration in one go.
    pub fn agent(&self, admin: &str, orch: &str, task: &str, scope: &[&str]) -> (String, String) {
        let lt = self.launch_token(admin, json!({ "agent_name": "t", "allowed_scope": scope }));
        self.register(&lt, orch, task, scope)
    }
}

pub fn register_body(
    launch_token: &str,
    nonce: &str,
    key: &SigningKey,
    orch: &str,
    task: &str,
    scope: &[&str],
) -> Value {
    json!({
        "launch_token": launch_token,
        "nonce": nonce,
        "public_key": public_key_b64(key),
        "signature": sign_nonce(key, nonce),
        "orch_id": orch,
        "task_id": task,
        "requested_scope": scope,
    })
}

pub fn rand_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn key(seed: u64) -> SigningKey {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    b[31] = 0xA5;
    SigningKey::from_bytes(&b)
}

pub fn public_key_b64(key: &SigningKey) -> String {
    STANDARD.encode(key.verifying_key().as_bytes())
}

/// The agent's proof: an Ed25519 signature over the hex-decoded nonce.
pub fn sign_nonce(key: &SigningKey, nonce_hex: &str) -> String {
    let bytes = hex::decode(nonce_hex).unwrap();
    STANDARD.encode(key.sign(&bytes).to_bytes())
}

/// The claims of a JWT, decoded without verification.
pub fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The JOSE header of a JWT.
pub fn jwt_header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The shape of a JSON document with object keys in document order:
/// what a client can see apart from the values.
#[derive(Debug, PartialEq, Eq)]
pub enum Shape {
    Object(Vec<(String, Shape)>),
    Array(Vec<Shape>),
    String,
    Number,
    Bool,
    Null,
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::Bool)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::Number)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::Number)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::Number)
            }
            fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::String)
            }
            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Shape, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = s.next_element()? {
                    v.push(x);
                }
                Ok(Shape::Array(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Shape, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = m.next_entry()? {
                    v.push((k, x));
                }
                Ok(Shape::Object(v))
            }
        }
        d.deserialize_any(V)
    }
}

pub fn shape(body: &[u8]) -> Shape {
    serde_json::from_slice(body).unwrap()
}

/// A raw HTTP/1.1 exchange on a fresh connection (for what a client
/// library would not send, like a 2 MiB body the server refuses early).
pub fn raw_http(base: &str, request: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before reading everything.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}
