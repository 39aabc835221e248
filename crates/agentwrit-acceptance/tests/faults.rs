//! Fault injection on both transports: a hostile loopback server (or a
//! hostile proxy in front of a development broker) breaks one thing per
//! test, and each test asserts the exact typed error, that the call came
//! back (the client's own short timeout fired; a watchdog turns a hang
//! into a failure), and how many requests the server saw — retried
//! exactly as the core policy says, register and release never twice.
//!
//! Every case is written once, generic over [`Hardened`], and run for
//! `agentwrit-blocking` and `agentwrit-async` by `fault_matrix!`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::time::Duration;

use agentwrit_acceptance::{AgentApi, Async, Blocking, Env, Sdk};
use agentwrit_core::{Error, ReleaseOutcome, RetryPolicy, TransportFailure};
use support::hostile::{Fault, Hostile, closed_port_url};
use support::{Hardened, within};

/// The client's overall (and connect) timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(400);

/// How long a call may take before the watchdog calls it a hang: every
/// attempt timing out, the backoff between them, and generous slack for
/// a loaded machine. Never reached by a passing test.
fn bound(attempts: u32) -> Duration {
    TIMEOUT * attempts + Duration::from_secs(8)
}

/// Three attempts with a short backoff (the default count, quick waits).
fn three() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(20))
}

/// A valid `/v1/health` body.
const HEALTH: &str =
    r#"{"status":"ok","version":"2.0.0","uptime":7,"db_connected":true,"audit_events_count":0}"#;

fn failure(err: &Error) -> TransportFailure {
    match err {
        Error::Transport { kind, .. } => *kind,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

fn step(err: &Error) -> &'static str {
    match err {
        Error::Transport { step, .. } => step,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// `health` on a fresh app at `url` with `policy`, under the watchdog.
fn health_at<S: Hardened>(
    url: &str,
    policy: RetryPolicy,
) -> Result<agentwrit_core::wire::HealthResponse, Error> {
    health_within::<S>(url, policy, TIMEOUT)
}

/// [`health_at`] with another timeout.
fn health_within<S: Hardened>(
    url: &str,
    policy: RetryPolicy,
    timeout: Duration,
) -> Result<agentwrit_core::wire::HealthResponse, Error> {
    let attempts = policy.max_attempts();
    let app = S::app_with(url, "fault-app", "fault-secret", timeout, policy);
    let bound = timeout * attempts + Duration::from_secs(8);
    within(&format!("{} health", S::NAME), bound, move || {
        S::health(&app)
    })
    .0
}

// --- the cases ---------------------------------------------------------

/// Nothing listens: `Connect`, on an idempotent and a non-idempotent call.
pub fn refused<S: Hardened>() {
    let url = closed_port_url();
    let err = health_at::<S>(&url, three()).unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Connect, "{err:?}");

    let app = S::app_with(&url, "fault-app", "fault-secret", TIMEOUT, three());
    let (result, _) = within("create_agent on a closed port", bound(3), move || {
        S::create_agent(&app, "orch", "task", &["read:data:*"]).map(|_| ())
    });
    let err = result.unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Connect, "{err:?}");
}

/// Accepted, never answered: `Timeout` after the client's timeout, which
/// bounds the whole call: the attempt that used all of it is not followed
/// by another, although the call is idempotent and has attempts left
/// (before the deadline covered the retries, it was sent `max_attempts`
/// times, each with the full timeout). Also when a second attempt would
/// have been answered.
pub fn never_answers<S: Hardened>() {
    let server = Hostile::start(|_| Fault::Hang);
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Timeout, "{err:?}");
    assert_eq!(step(&err), "health");
    assert_eq!(server.count("GET", "/v1/health"), 1, "{:?}", server.seen());

    let server = Hostile::start(|seen| {
        if seen.nth == 1 {
            Fault::Hang
        } else {
            Fault::json(200, "application/json", HEALTH)
        }
    });
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Timeout, "{err:?}");
    assert_eq!(server.count("GET", "/v1/health"), 1, "{:?}", server.seen());
}

/// A whole response dripped one byte a second: the timeout fires while
/// the status line is still arriving.
pub fn slow_drip<S: Hardened>() {
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{HEALTH}",
        HEALTH.len()
    );
    let server = Hostile::start(move |_| Fault::Drip(response.clone().into_bytes()));
    let err = health_at::<S>(&server.url(), RetryPolicy::none()).unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Timeout, "{err:?}");
    assert_eq!(server.count("GET", "/v1/health"), 1);
}

/// Headers at once, the body one byte a second: the timeout covers the
/// body too.
pub fn slow_drip_body<S: Hardened>() {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        HEALTH.len()
    );
    let server = Hostile::start(move |_| Fault::DripBody {
        head: head.clone().into_bytes(),
        body: HEALTH.as_bytes().to_vec(),
    });
    let err = health_at::<S>(&server.url(), RetryPolicy::none()).unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Timeout, "{err:?}");
    assert_eq!(server.count("GET", "/v1/health"), 1);
}

/// Bytes that are not HTTP: an `Io` transport failure, retried for an
/// idempotent call like any other transport failure.
pub fn garbage<S: Hardened>() {
    let server =
        Hostile::start(|_| Fault::Raw(b"\x00\x07SSH-2.0-nonsense\xff\xfe\r\n\r\n".to_vec()));
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Io, "{err:?}");
    assert_eq!(server.count("GET", "/v1/health"), 3);
}

/// A proxy's HTML 502 page: `Problem` with a ProblemDetail synthesised
/// from the status, a redacted excerpt and the `X-Request-ID` header;
/// 502 is retried for an idempotent call.
pub fn html_502<S: Hardened>() {
    let page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><p>upstream sent token eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl</p></body></html>";
    let server = Hostile::start(move |_| {
        Fault::json(502, "text/html", page).with_header("X-Request-ID", "req-502-html")
    });
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    match &err {
        Error::Problem {
            status, problem, ..
        } => {
            assert_eq!(*status, 502);
            assert_eq!(problem.status, 502);
            assert_eq!(problem.request_id.as_deref(), Some("req-502-html"));
            assert!(problem.detail.contains("502 Bad Gateway"), "{problem:?}");
            assert!(problem.detail.len() <= 1024, "{problem:?}");
            assert!(
                !problem.detail.contains("c2lnbmF0dXJl"),
                "a JWT in the page is redacted: {problem:?}"
            );
        }
        other => panic!("expected Problem, got {other:?}"),
    }
    assert_eq!(err.request_id(), Some("req-502-html"));
    assert_eq!(server.count("GET", "/v1/health"), 3);
}

/// `Content-Length` promises more than is sent, then the connection
/// closes: a transport I/O failure (the body is incomplete), never a
/// half-parsed success.
pub fn truncated_json<S: Hardened>() {
    let partial = &HEALTH[..HEALTH.len() / 2];
    let server = Hostile::start(move |_| Fault::Truncated {
        status: 200,
        declared: HEALTH.len(),
        body: partial.as_bytes().to_vec(),
    });
    let err = health_at::<S>(&server.url(), RetryPolicy::none()).unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Io, "{err:?}");
    assert_eq!(server.count("GET", "/v1/health"), 1);
}

/// 200 with JSON of the wrong shape: `Decode` with the status and a
/// bounded excerpt; not retried (the broker answered).
pub fn wrong_shape<S: Hardened>() {
    // Members of the wrong types (health's members are all optional, so
    // merely unknown members would decode).
    let body = format!(
        r#"{{"status":5,"version":["hello"],"uptime":"long","padding":"{}"}}"#,
        "p".repeat(4000)
    );
    let server = Hostile::start(move |_| Fault::json(200, "application/json", &body));
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    match &err {
        Error::Decode {
            status, excerpt, ..
        } => {
            assert_eq!(*status, Some(200));
            assert!(excerpt.contains("hello"), "{excerpt}");
            assert!(
                excerpt.len() <= 512 + 16,
                "excerpt bounded: {}",
                excerpt.len()
            );
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    assert_eq!(server.count("GET", "/v1/health"), 1);
}

/// A problem+json body missing its members: still a `Problem` with the
/// HTTP status (the missing members defaulted), not a decode failure.
pub fn problem_missing_fields<S: Hardened>() {
    let server = Hostile::start(|_| {
        Fault::json(
            400,
            "application/problem+json",
            r#"{"title":"Bad Request"}"#,
        )
        .with_header("X-Request-ID", "req-400")
    });
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    match &err {
        Error::Problem {
            status, problem, ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(problem.status, 400);
            assert_eq!(problem.request_id.as_deref(), Some("req-400"));
        }
        other => panic!("expected Problem, got {other:?}"),
    }
    assert_eq!(server.count("GET", "/v1/health"), 1, "400 is not retried");
}

/// A 10 MiB body: the client stops reading one byte past its 1 MiB cap
/// and hangs up (the server sees its writes fail before it sent
/// everything), and the call fails with `Decode` naming the limit and
/// carrying the 200 — on both transports.
fn huge<S: Hardened>(declare_length: bool) {
    const TOTAL: usize = 10 * 1024 * 1024;
    let server = Hostile::start(move |_| Fault::Huge {
        total: TOTAL,
        declare_length,
    });
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    match &err {
        Error::Decode {
            status,
            message,
            excerpt,
            ..
        } => {
            assert_eq!(*status, Some(200));
            assert!(message.contains("1048576-byte limit"), "{message}");
            assert!(
                excerpt.len() <= 512 + 16,
                "excerpt bounded: {}",
                excerpt.len()
            );
        }
        other => panic!("expected Decode for an oversized body, got {other:?}"),
    }
    let outcome = server
        .huge_outcome(Duration::from_secs(15))
        .expect("the server reports the stream's end");
    assert!(
        outcome.client_hung_up && outcome.written < outcome.total,
        "the client hung up before the whole body: {outcome:?}"
    );
    assert_eq!(
        server.count("GET", "/v1/health"),
        1,
        "an oversized body is not retried"
    );
}

pub fn huge_with_length<S: Hardened>() {
    huge::<S>(true);
}

pub fn huge_until_close<S: Hardened>() {
    huge::<S>(false);
}

/// 429 with a `Retry-After` longer than the policy waits: `RateLimited`
/// at once, carrying the delay, one request.
pub fn rate_limited_long_retry_after<S: Hardened>() {
    let server = Hostile::start(|_| {
        Fault::json(
            429,
            "application/problem+json",
            r#"{"type":"urn:agentwrit:error:rate_limited","title":"Too Many Requests","status":429,"detail":"slow down"}"#,
        )
        .with_header("Retry-After", "120")
    });
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    match &err {
        Error::RateLimited {
            status,
            retry_after,
            problem,
            ..
        } => {
            assert_eq!(*status, 429);
            assert_eq!(*retry_after, Some(Duration::from_secs(120)));
            assert_eq!(problem.detail, "slow down");
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(server.count("GET", "/v1/health"), 1);
}

/// 429 without `Retry-After`: retried on the backoff, then
/// `RateLimited` with no delay.
pub fn rate_limited_no_retry_after<S: Hardened>() {
    let server = Hostile::start(|_| {
        Fault::json(
            429,
            "application/problem+json",
            r#"{"type":"urn:agentwrit:error:rate_limited","title":"Too Many Requests","status":429,"detail":"slow down"}"#,
        )
    });
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    match &err {
        Error::RateLimited {
            status,
            retry_after,
            ..
        } => {
            assert_eq!(*status, 429);
            assert_eq!(*retry_after, None);
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(server.count("GET", "/v1/health"), 3);
}

/// 429 with a short `Retry-After`, then 200: the policy waits and the
/// call succeeds — when the wait fits in the call's timeout. When it does
/// not, the call ends at once with the 429 (waiting could only end in a
/// timeout).
pub fn rate_limited_then_recovers<S: Hardened>() {
    let script = |seen: &support::hostile::Seen| {
        if seen.nth == 1 {
            Fault::json(429, "application/problem+json", r#"{"status":429}"#)
                .with_header("Retry-After", "1")
        } else {
            Fault::json(200, "application/json", HEALTH)
        }
    };
    let server = Hostile::start(script);
    let health = health_within::<S>(&server.url(), three(), Duration::from_secs(5)).unwrap();
    assert_eq!(health.version, "2.0.0");
    assert_eq!(server.count("GET", "/v1/health"), 2);

    let server = Hostile::start(script);
    let err = health_at::<S>(&server.url(), three()).unwrap_err();
    assert!(
        matches!(&err, Error::RateLimited { retry_after: Some(wait), .. } if *wait == Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(server.count("GET", "/v1/health"), 1);
}

/// 503, then a valid answer: an idempotent call recovers by itself.
pub fn unavailable_then_recovers<S: Hardened>() {
    let server = Hostile::start(|seen| {
        if seen.nth == 1 {
            Fault::json(
                503,
                "application/problem+json",
                r#"{"title":"Service Unavailable","status":503,"detail":"starting"}"#,
            )
        } else {
            Fault::json(200, "application/json", HEALTH)
        }
    });
    let health = health_at::<S>(&server.url(), three()).unwrap();
    assert_eq!(health.uptime, 7);
    assert_eq!(server.count("GET", "/v1/health"), 2);
}

/// `validate` through a proxy to a real development broker whose first
/// answer is replaced by a 503 and whose second connection is dropped
/// mid-answer: retried until the broker's verdict arrives.
pub fn validate_recovers_through_proxy<S: Hardened>() {
    let env = Env::in_process::<S>();
    let direct = S::app(&env.url, &env.client_id, &env.client_secret).unwrap();
    let agent = S::create_agent(&direct, "orch", "task", &["read:data:*"]).unwrap();
    let token = agent.access_token().expose_secret().to_owned();
    let proxy = Hostile::proxy(&env.url, |seen| match seen.nth {
        1 => Fault::json(503, "application/problem+json", r#"{"status":503}"#),
        2 => Fault::ForwardThenClose,
        _ => Fault::Forward,
    });
    let url = proxy.url();
    let (validation, _) = within("validate through the proxy", bound(3), move || {
        S::validate_with(&url, &token, TIMEOUT, three())
    });
    assert!(validation.unwrap().is_valid());
    assert_eq!(proxy.count("POST", "/v1/token/validate"), 3);
    S::release(&agent).unwrap();
}

/// An app, with a short timeout, talking to the development broker
/// through `proxy`.
fn proxied_app<S: Hardened>(env: &Env, proxy: &Hostile) -> S::App {
    S::app_with(
        &proxy.url(),
        &env.client_id,
        &env.client_secret,
        TIMEOUT,
        three(),
    )
}

/// Register reaches the broker but its answer never comes back: a
/// `Timeout` naming the register step, and register was sent once — the
/// broker consumed the single-use launch token, a silent retry would
/// have been a second registration.
pub fn register_timeout_not_retried<S: Hardened>() {
    let env = Env::in_process::<S>();
    let proxy = Hostile::proxy(&env.url, |seen| {
        if seen.is("POST", "/v1/register") {
            Fault::ForwardThenHang
        } else {
            Fault::Forward
        }
    });
    let app = proxied_app::<S>(&env, &proxy);
    let (result, _) = within("create_agent, register hangs", bound(3), move || {
        S::create_agent(&app, "orch", "task", &["read:data:*"]).map(|_| ())
    });
    let err = result.unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Timeout, "{err:?}");
    assert!(step(&err).contains("register"), "{err:?}");
    assert_eq!(proxy.count("POST", "/v1/register"), 1, "{:?}", proxy.seen());
    assert_eq!(proxy.count("POST", "/v1/app/launch-tokens"), 1);
}

/// Register reaches the broker, then the connection closes without an
/// answer: `Io`, register sent once.
pub fn register_reset_not_retried<S: Hardened>() {
    let env = Env::in_process::<S>();
    let proxy = Hostile::proxy(&env.url, |seen| {
        if seen.is("POST", "/v1/register") {
            Fault::ForwardThenClose
        } else {
            Fault::Forward
        }
    });
    let app = proxied_app::<S>(&env, &proxy);
    let (result, _) = within("create_agent, register dropped", bound(3), move || {
        S::create_agent(&app, "orch", "task", &["read:data:*"]).map(|_| ())
    });
    let err = result.unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Io, "{err:?}");
    assert_eq!(proxy.count("POST", "/v1/register"), 1, "{:?}", proxy.seen());
}

/// Release reaches the broker but its answer never comes back: a
/// `Timeout`, release sent once, and the broker did release the token
/// (validate, asked directly, says invalid).
pub fn release_timeout_not_retried<S: Hardened>() {
    let env = Env::in_process::<S>();
    let proxy = Hostile::proxy(&env.url, |seen| {
        if seen.is("POST", "/v1/token/release") && seen.nth == 1 {
            Fault::ForwardThenHang
        } else {
            Fault::Forward
        }
    });
    let app = proxied_app::<S>(&env, &proxy);
    let agent = S::create_agent(&app, "orch", "task", &["read:data:*"]).unwrap();
    let token = agent.access_token().expose_secret().to_owned();
    let held = agent.clone();
    let (result, _) = within("release hangs", bound(3), move || S::release(&held));
    let err = result.unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Timeout, "{err:?}");
    assert_eq!(
        proxy.count("POST", "/v1/token/release"),
        1,
        "{:?}",
        proxy.seen()
    );
    let verdict = S::validate_free(&env.url, &token).unwrap();
    assert!(!verdict.is_valid(), "the broker released the token");
    // The agent stays unreleased after the error; releasing again goes
    // through and finds the token already dead.
    assert_eq!(S::release(&agent).unwrap(), ReleaseOutcome::AlreadyDead);
    assert_eq!(proxy.count("POST", "/v1/token/release"), 2);
}

/// Release: 503 (certainly not acted on) is retried, then the broker's
/// 204 arrives; one release reached the broker.
pub fn release_503_retried<S: Hardened>() {
    let env = Env::in_process::<S>();
    let proxy = Hostile::proxy(&env.url, |seen| {
        if seen.is("POST", "/v1/token/release") && seen.nth == 1 {
            Fault::json(503, "application/problem+json", r#"{"status":503}"#)
        } else {
            Fault::Forward
        }
    });
    let app = proxied_app::<S>(&env, &proxy);
    let agent = S::create_agent(&app, "orch", "task", &["read:data:*"]).unwrap();
    let held = agent.clone();
    let (result, _) = within("release after a 503", bound(3), move || S::release(&held));
    assert_eq!(result.unwrap(), ReleaseOutcome::Released);
    assert_eq!(proxy.count("POST", "/v1/token/release"), 2);
    // Released: a second release sends nothing.
    assert_eq!(S::release(&agent).unwrap(), ReleaseOutcome::AlreadyDead);
    assert_eq!(proxy.count("POST", "/v1/token/release"), 2);
}

/// Register answered 503 by the proxy (the broker never saw it): retried
/// — a 503 means not acted on — and the agent is created; the broker saw
/// one registration.
pub fn register_503_retried<S: Hardened>() {
    let env = Env::in_process::<S>();
    let proxy = Hostile::proxy(&env.url, |seen| {
        if seen.is("POST", "/v1/register") && seen.nth == 1 {
            Fault::json(503, "application/problem+json", r#"{"status":503}"#)
        } else {
            Fault::Forward
        }
    });
    let app = proxied_app::<S>(&env, &proxy);
    let (result, _) = within("create_agent after a 503", bound(3), move || {
        S::create_agent(&app, "orch", "task", &["read:data:*"])
    });
    let agent = result.unwrap();
    assert_eq!(proxy.count("POST", "/v1/register"), 2);
    assert_eq!(proxy.count("POST", "/v1/app/launch-tokens"), 1);
    let token = agent.access_token().expose_secret().to_owned();
    assert!(S::validate_free(&env.url, &token).unwrap().is_valid());
}

/// Renew reaches the broker but its answer never comes back: a
/// `Timeout`, renew sent once (a second renew would present a token the
/// broker has just revoked, or renew twice).
pub fn renew_timeout_not_retried<S: Hardened>() {
    let env = Env::in_process::<S>();
    let proxy = Hostile::proxy(&env.url, |seen| {
        if seen.is("POST", "/v1/token/renew") {
            Fault::ForwardThenHang
        } else {
            Fault::Forward
        }
    });
    let app = proxied_app::<S>(&env, &proxy);
    let agent = S::create_agent(&app, "orch", "task", &["read:data:*"]).unwrap();
    let before = agent.access_token().expose_secret().to_owned();
    let held = agent.clone();
    let (result, _) = within("renew hangs", bound(3), move || S::renew(&held));
    let err = result.unwrap_err();
    assert_eq!(failure(&err), TransportFailure::Timeout, "{err:?}");
    assert_eq!(
        proxy.count("POST", "/v1/token/renew"),
        1,
        "{:?}",
        proxy.seen()
    );
    // The agent keeps the token it had; the broker revoked it when it
    // renewed, which validate (asked directly) shows.
    assert_eq!(agent.access_token().expose_secret(), before);
    assert!(!S::validate_free(&env.url, &before).unwrap().is_valid());
}

// --- both transports ---------------------------------------------------

macro_rules! fault_matrix {
    ($module:ident, $sdk:ty) => {
        mod $module {
            use super::*;
            fault_matrix!(@tests $sdk;
                refused, never_answers, slow_drip, slow_drip_body, garbage, html_502,
                truncated_json, wrong_shape, problem_missing_fields, huge_with_length,
                huge_until_close, rate_limited_long_retry_after, rate_limited_no_retry_after,
                rate_limited_then_recovers, unavailable_then_recovers,
                validate_recovers_through_proxy, register_timeout_not_retried,
                register_reset_not_retried, register_503_retried, renew_timeout_not_retried,
                release_timeout_not_retried, release_503_retried);
        }
    };
    (@tests $sdk:ty; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                super::$case::<$sdk>();
            }
        )*
    };
}

fault_matrix!(blocking, Blocking);
fault_matrix!(asynchronous, Async);

/// Both adapters are [`Sdk`]s (keeps the import honest).
#[test]
fn both_transports_named() {
    assert_eq!(<Blocking as Sdk>::NAME, "blocking");
    assert_eq!(<Async as Sdk>::NAME, "async");
}
