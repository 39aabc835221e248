//! A transcript harness for the sans-IO flows: a fixed `now`, a fixed key
//! seed, canned responses (the real broker's captured bytes wherever one
//! exists), and a record of every request a flow asks to send.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentwrit_core::{AgentKey, ClientConfig, Error, Flow, Step, TransportFailure};
use base64::Engine as _;
use serde_json::Value;

/// The broker every transcript talks to (nothing is ever sent).
pub const BROKER: &str = "http://127.0.0.1:8080";

/// The fixed `now` of every transcript.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// `now()` plus `ms` milliseconds.
pub fn at_ms(ms: u64) -> SystemTime {
    now() + Duration::from_millis(ms)
}

/// The configuration of every transcript: default retry policy.
pub fn config() -> ClientConfig {
    ClientConfig::new(BROKER.parse().unwrap())
}

/// The fixed agent key.
pub fn key() -> AgentKey {
    AgentKey::from_seed([7; 32])
}

pub use agentwrit_test_support::Capture;

/// What a transcript does with a captured response.
pub trait CaptureExt {
    /// The captured response as the flow would receive it (without the
    /// captured `content-length`: the body is the one given).
    fn response(&self) -> http::Response<Vec<u8>>;
    /// The body as JSON.
    fn json(&self) -> Value;
}

impl CaptureExt for Capture {
    fn response(&self) -> http::Response<Vec<u8>> {
        let mut b = http::Response::builder().status(self.status);
        for (k, v) in self.headers.iter().filter(|(k, _)| k != "content-length") {
            b = b.header(k.as_str(), v.as_str());
        }
        b.body(self.body.as_bytes().to_vec()).unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// Capture number `n`, checked against the expected request line.
pub fn capture(n: u32, method: &str, path_prefix: &str) -> Capture {
    let c = agentwrit_test_support::capture(n);
    assert_eq!(c.method, method, "capture {n}: {}", c.title);
    assert!(
        c.path.starts_with(path_prefix),
        "capture {n}: {} is not {path_prefix}",
        c.path
    );
    c
}

/// A response with a status, an optional content type and a body.
pub fn reply(status: u16, content_type: Option<&str>, body: &[u8]) -> http::Response<Vec<u8>> {
    let mut b = http::Response::builder().status(status);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    b.body(body.to_vec()).unwrap()
}

/// A JSON 200/201 response.
pub fn ok_json(status: u16, body: &Value) -> http::Response<Vec<u8>> {
    reply(
        status,
        Some("application/json"),
        &serde_json::to_vec(body).unwrap(),
    )
}

/// The problem body the broker sends for `status`/`code`.
pub fn problem_body(status: u16, code: &str, detail: &str, instance: &str, rid: &str) -> Value {
    serde_json::json!({
        "type": format!("urn:agentwrit:error:{code}"),
        "title": http::StatusCode::from_u16(status).unwrap().canonical_reason().unwrap_or(""),
        "status": status,
        "detail": detail,
        "instance": instance,
        "error_code": code,
        "request_id": rid,
    })
}

/// A problem+json response, with `X-Request-ID` and an optional `Retry-After`.
pub fn problem(
    status: u16,
    code: &str,
    detail: &str,
    instance: &str,
    retry_after: Option<&str>,
) -> http::Response<Vec<u8>> {
    let rid = format!("{status:04}abcdef012345");
    let body = problem_body(status, code, detail, instance, &rid);
    let mut b = http::Response::builder()
        .status(status)
        .header("content-type", "application/problem+json")
        .header("x-request-id", rid.as_str());
    if let Some(ra) = retry_after {
        b = b.header("retry-after", ra);
    }
    b.body(serde_json::to_vec(&body).unwrap()).unwrap()
}

/// An unsigned-but-well-formed compact JWS carrying `claims` (the core
/// decodes claims without verifying; verification is `TokenVerifier`'s job).
pub fn jwt(claims: &Value) -> String {
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        e.encode(br#"{"alg":"EdDSA","typ":"JWT","kid":"test-kid"}"#),
        e.encode(serde_json::to_vec(claims).unwrap()),
        e.encode([9u8; 64])
    )
}

/// Agent-token claims issued at `now()` for `ttl` seconds.
pub fn agent_claims(orch: &str, task: &str, scope: &[&str], jti: &str, ttl: i64) -> Value {
    let iat = now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    serde_json::json!({
        "iss": "",
        "sub": format!("spiffe://agentwrit.local/agent/{orch}/{task}/00112233aabbccdd"),
        "exp": iat + ttl,
        "nbf": iat,
        "iat": iat,
        "jti": jti,
        "scope": scope,
        "task_id": task,
        "orch_id": orch,
    })
}

/// What the transport is told to answer to one `Send`.
#[derive(Debug)]
pub enum Answer {
    Respond(http::Response<Vec<u8>>),
    Fail(TransportFailure),
}

impl From<http::Response<Vec<u8>>> for Answer {
    fn from(r: http::Response<Vec<u8>>) -> Self {
        Answer::Respond(r)
    }
}

impl From<TransportFailure> for Answer {
    fn from(f: TransportFailure) -> Self {
        Answer::Fail(f)
    }
}

impl From<&Capture> for Answer {
    fn from(c: &Capture) -> Self {
        Answer::Respond(c.response())
    }
}

/// One request the flow asked to send.
#[derive(Debug, Clone)]
pub struct Sent {
    pub method: String,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    /// When it was sent (the transcript's clock).
    pub at: SystemTime,
    /// Marked as its flow's point of no return.
    pub point_of_no_return: bool,
}

impl Sent {
    fn of(r: &http::Request<Vec<u8>>, at: SystemTime) -> Self {
        Sent {
            method: r.method().to_string(),
            uri: r.uri().to_string(),
            headers: r.headers().clone(),
            body: r.body().clone(),
            at,
            point_of_no_return: r
                .extensions()
                .get::<agentwrit_core::PointOfNoReturn>()
                .is_some(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Checks the request line and the headers that matter: `Accept`,
    /// `User-Agent`, `Content-Type` exactly when there is a body, and the
    /// bearer token exactly where expected (marked sensitive); then the
    /// body as JSON against `body`.
    pub fn check(&self, method: &str, path: &str, bearer: Option<&str>, body: Option<&Value>) {
        assert_eq!(self.method, method, "{self:?}");
        assert_eq!(self.uri, format!("{BROKER}{path}"));
        assert_eq!(self.header("accept"), Some("application/json"));
        assert_eq!(
            self.header("user-agent"),
            Some(agentwrit_core::DEFAULT_USER_AGENT)
        );
        match bearer {
            Some(token) => {
                let v = self.headers.get("authorization").expect("authorization");
                assert_eq!(v.to_str().unwrap(), format!("Bearer {token}"));
                assert!(v.is_sensitive(), "the bearer header is marked sensitive");
            }
            None => assert!(
                self.headers.get("authorization").is_none(),
                "no Authorization on {method} {path}"
            ),
        }
        match body {
            Some(expected) => {
                assert_eq!(self.header("content-type"), Some("application/json"));
                assert_eq!(&self.json(), expected, "{method} {path}");
            }
            None => {
                assert!(
                    self.headers.get("content-type").is_none(),
                    "{method} {path}"
                );
                assert!(self.body.is_empty(), "{method} {path} has no body");
            }
        }
    }
}

/// How a transcript ended.
#[derive(Debug)]
pub enum End<T> {
    /// `Done`.
    Done(Result<T, Error>),
    /// `handle_transport_failure` finished at once with the transport
    /// error it was handed: the flow gave up.
    GaveUp(TransportFailure),
    /// The canned answers ran out while the flow still wanted to send.
    Exhausted,
}

impl<T: std::fmt::Debug> End<T> {
    pub fn ok(self) -> T {
        match self {
            End::Done(Ok(v)) => v,
            other => panic!("expected success, got {other:?}"),
        }
    }

    pub fn err(self) -> Error {
        match self {
            End::Done(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

/// What happened in one drive of a flow.
#[derive(Debug)]
pub struct Transcript<T> {
    pub sent: Vec<Sent>,
    /// Every `Wait { until }`, in order.
    pub waits: Vec<SystemTime>,
    pub end: End<T>,
}

/// Drives `flow` from `start` at `start_at`, answering each `Send` with the
/// next canned answer and resuming every `Wait` exactly at its `until`.
pub fn drive_at<F: Flow>(
    flow: &mut F,
    start_at: SystemTime,
    answers: impl IntoIterator<Item = Answer>,
) -> Transcript<F::Output> {
    let mut answers: VecDeque<Answer> = answers.into_iter().collect();
    let mut clock = start_at;
    let mut sent = Vec::new();
    let mut waits = Vec::new();
    let mut step = flow.start(clock);
    for _ in 0..1000 {
        step = match step {
            Step::Send(request) => {
                sent.push(Sent::of(&request, clock));
                match answers.pop_front() {
                    None => {
                        return Transcript {
                            sent,
                            waits,
                            end: End::Exhausted,
                        };
                    }
                    Some(Answer::Respond(r)) => flow.handle_response(r, clock),
                    Some(Answer::Fail(f)) => {
                        let give_up = Error::transport(f, flow.name(), None);
                        match flow.handle_transport_failure(f, give_up, clock) {
                            Step::Done(Err(Error::Transport { kind, .. })) if kind == f => {
                                return Transcript {
                                    sent,
                                    waits,
                                    end: End::GaveUp(f),
                                };
                            }
                            next => next,
                        }
                    }
                }
            }
            Step::Wait { until } => {
                waits.push(until);
                assert!(until >= clock, "a wait never goes back in time");
                clock = until;
                flow.resume(clock)
            }
            Step::Done(result) => {
                assert!(
                    answers.is_empty(),
                    "the flow finished with unused answers: {answers:?}"
                );
                return Transcript {
                    sent,
                    waits,
                    end: End::Done(result),
                };
            }
        };
    }
    panic!("the flow did not finish in 1000 steps");
}

/// [`drive_at`] from `now()`.
pub fn drive<F: Flow>(
    flow: &mut F,
    answers: impl IntoIterator<Item = Answer>,
) -> Transcript<F::Output> {
    drive_at(flow, now(), answers)
}

/// Shorthand: a boxed answer list.
#[macro_export]
macro_rules! answers {
    ($($a:expr),* $(,)?) => {
        vec![$($crate::support::Answer::from($a)),*]
    };
}
