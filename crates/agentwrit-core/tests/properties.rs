//! Property tests: every flow, fed arbitrary responses (any status, any
//! headers, arbitrary bytes and mutated real-broker bodies) and transport
//! failures while `now` moves forward, finishes — `Done(Ok)`, `Done(Err)`
//! or a give-up on a transport failure — within a bounded number of steps,
//! never panics, only ever sends to the broker, and never shows a secret
//! in a step's or an error's `Debug`/`Display`.
//!
//! The number of cases follows `PROPTEST_CASES` (256 by default).

mod support;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use agentwrit_core::wire::{
    AccessToken, AdminSecret, AuditQuery, ClientSecret, CreateAppRequest, LaunchTokenRequest,
    RevocationLevel, UpdateAppRequest,
};
use agentwrit_core::{
    AdminAuth, AgentCredentials, AppAuth, AuditEvents, CreateAgent, CreateAgentRequest, CreateApp,
    CreateLaunchToken, Delegate, DeleteApp, Error, Flow, GetApp, Health, ListApps, Release, Renew,
    Revoke, SharedAgent, SharedSession, Step, TransportFailure, UpdateApp, Validate,
};
use proptest::prelude::*;
use serde_json::json;
use support::*;

const CLIENT_SECRET: &str = "prop-client-secret-5f0e1d2c3b4a";
const ADMIN_SECRET: &str = "prop-admin-secret-a1b2c3d4e5f6";
const APP_TOKEN: &str = "prop.app-token.b6a7c8d9e0f1";
const ADMIN_TOKEN: &str = "prop.admin-token.0a9b8c7d6e5f";

/// Strings that must never appear in a step's or an error's output.
const SECRETS: [&str; 4] = [CLIENT_SECRET, ADMIN_SECRET, APP_TOKEN, ADMIN_TOKEN];

/// Most steps any flow may take with default retries: the longest flow
/// (a call with a session: auth, call, re-auth, call — or create_agent's
/// three requests) sends at most 12 requests and waits between them; an
/// auto-renewal runs once per successful renewal, at most once per input.
const MAX_STEPS: usize = 200;

fn tok(s: &str) -> AccessToken {
    AccessToken::new(s)
}

/// Response bodies worth mutating: every captured body, plus success
/// bodies whose tokens carry claims relative to the test's `now`.
fn seed_bodies() -> &'static [Vec<u8>] {
    static BODIES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    BODIES.get_or_init(|| {
        let mut out: Vec<Vec<u8>> = agentwrit_test_support::captures()
            .into_iter()
            .map(|c| c.body.into_bytes())
            .collect();
        let token = jwt(&agent_claims(
            "orch-1",
            "task-1",
            &["read:data:*"],
            "0123456789abcdef0123456789abcdef",
            300,
        ));
        for body in [
            json!({"access_token": token, "expires_in": 300}),
            json!({"access_token": token, "expires_in": 300, "delegation_chain": []}),
            json!({"agent_id": "spiffe://agentwrit.local/agent/orch-1/task-1/0011223344556677",
                   "access_token": token, "expires_in": 300}),
            json!({"access_token": token, "expires_in": 1800, "token_type": "Bearer", "scopes": []}),
            json!({"events": [], "total": 0, "offset": 0, "limit": 100}),
        ] {
            out.push(serde_json::to_vec(&body).unwrap());
        }
        out
    })
}

fn credentials() -> AgentCredentials {
    static CRED: OnceLock<AgentCredentials> = OnceLock::new();
    CRED.get_or_init(|| {
        let token = jwt(&agent_claims(
            "orch-1",
            "task-1",
            &["read:data:*"],
            "fedcba9876543210fedcba9876543210",
            300,
        ));
        let mut flow = CreateAgent::new(
            &config(),
            &tok(APP_TOKEN),
            CreateAgentRequest::new("orch-1", "task-1", ["read:data:*"], key()),
        )
        .unwrap();
        drive(
            &mut flow,
            answers![
                &capture(26, "POST", "/v1/app/launch-tokens"),
                &capture(2, "GET", "/v1/challenge"),
                ok_json(
                    200,
                    &json!({"agent_id": "spiffe://agentwrit.local/agent/orch-1/task-1/0011223344556677",
                            "access_token": token, "expires_in": 300})
                )
            ],
        )
        .end
        .ok()
    })
    .clone()
}

/// One thing the transport reports back for a `Send`.
#[derive(Clone, Debug)]
enum Input {
    Respond {
        status: u16,
        content_type: Option<&'static str>,
        retry_after: Option<String>,
        request_id: Option<String>,
        body: Vec<u8>,
    },
    Fail(TransportFailure),
}

impl Input {
    fn response(&self) -> Option<http::Response<Vec<u8>>> {
        let Input::Respond {
            status,
            content_type,
            retry_after,
            request_id,
            body,
        } = self
        else {
            return None;
        };
        let mut b = http::Response::builder().status(*status);
        if let Some(ct) = content_type {
            b = b.header("content-type", *ct);
        }
        if let Some(ra) = retry_after {
            b = b.header("retry-after", ra.as_str());
        }
        if let Some(id) = request_id {
            b = b.header("x-request-id", id.as_str());
        }
        Some(b.body(body.clone()).unwrap())
    }
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => prop::sample::select(vec![
            200u16, 201, 204, 400, 401, 403, 404, 409, 413, 429, 500, 502, 503, 504,
        ]),
        1 => 100u16..=599,
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seed_bodies().len();
    prop_oneof![
        // A real body as it is.
        3 => (0..seeds).prop_map(|i| seed_bodies()[i].clone()),
        // A real body truncated, with a byte flipped, or with bytes spliced in.
        3 => (0..seeds, any::<prop::sample::Index>(), any::<u8>(), 0u8..3).prop_map(
            |(i, at, byte, how)| {
                let mut b = seed_bodies()[i].clone();
                if b.is_empty() {
                    return vec![byte];
                }
                let k = at.index(b.len());
                match how {
                    0 => b.truncate(k),
                    1 => b[k] ^= byte.max(1),
                    _ => {
                        b.insert(k, byte);
                    }
                }
                b
            }
        ),
        // Arbitrary bytes and arbitrary text.
        2 => prop::collection::vec(any::<u8>(), 0..200),
        1 => "\\PC{0,80}".prop_map(String::into_bytes),
        1 => Just(Vec::new()),
    ]
}

/// A response with an interesting status and a real body (for tests where
/// the order of calls matters more than the bytes).
fn cheap_input() -> impl Strategy<Value = Input> {
    (status(), 0..seed_bodies().len()).prop_map(|(status, i)| Input::Respond {
        status,
        content_type: Some("application/json"),
        retry_after: None,
        request_id: None,
        body: seed_bodies()[i].clone(),
    })
}

fn input() -> impl Strategy<Value = Input> {
    let respond = (
        status(),
        prop::option::of(prop::sample::select(vec![
            "application/json",
            "application/problem+json",
            "text/html",
            "text/plain; charset=utf-8",
            "",
        ])),
        prop::option::of(prop_oneof![
            (0u32..100).prop_map(|n| n.to_string()),
            prop::sample::select(vec![
                "Fri, 15 Jan 2027 08:00:02 GMT".to_owned(),
                "Thu, 01 Jan 1970 00:00:00 GMT".to_owned(),
                "Sun, 06 Nov 1994 08:49:37 UTC".to_owned(),
                "99999999999999999999999".to_owned(),
                "soon".to_owned(),
                "-1".to_owned(),
                "1.5".to_owned(),
                String::new(),
            ]),
        ]),
        prop::option::of(prop::sample::select(vec![
            "b77b86de35b80e65".to_owned(),
            " padded ".to_owned(),
            String::new(),
            "x".repeat(200),
        ])),
        body(),
    )
        .prop_map(
            |(status, content_type, retry_after, request_id, body)| Input::Respond {
                status,
                content_type,
                retry_after,
                request_id,
                body,
            },
        );
    prop_oneof![
        4 => respond,
        1 => prop::sample::select(vec![
            TransportFailure::Connect,
            TransportFailure::Timeout,
            TransportFailure::Io,
            TransportFailure::BodyTooLarge,
            TransportFailure::Other,
        ])
        .prop_map(Input::Fail),
    ]
}

/// How one drive ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    Ok,
    Err,
    GaveUp,
}

fn no_secret(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "a secret leaked: {text}");
    }
}

/// Drives `flow` with `inputs` (then a plain 400 for every further send,
/// which no flow retries), moving `now` forward by `advance` after every
/// input and resuming each wait first early, then on time.
fn run<F: Flow>(mut flow: F, inputs: &[(Input, u16)]) -> Ending
where
    F::Output: std::fmt::Debug,
{
    let mut clock = now();
    let mut inputs = inputs.iter();
    // The last request sent, how many times in a row it was sent, and what
    // answered it.
    let mut last: Option<(String, Vec<u8>)> = None;
    let mut in_a_row = 0;
    let mut answered_by: Option<&Input> = None;
    let mut last_status: Option<u16> = None;
    let mut step = flow.start(clock);
    for _ in 0..MAX_STEPS {
        let _ = flow.name();
        step = match step {
            Step::Send(request) => {
                let uri = request.uri().to_string();
                assert!(uri.starts_with(BROKER), "{uri}");
                let this = (
                    format!("{} {uri}", request.method()),
                    request.body().clone(),
                );
                let idempotent = request.method() == http::Method::GET
                    || request.uri().path() == "/v1/token/validate";
                // After a 2xx the same request is a new call (an auto-renewal
                // presenting the token it got back), not a retry.
                let retry = last.as_ref() == Some(&this)
                    && !last_status.is_some_and(|s| (200..300).contains(&s));
                if retry {
                    in_a_row += 1;
                    // A request that may have reached the broker is never
                    // sent again unless it is idempotent.
                    if let Some(Input::Fail(failure)) = answered_by {
                        assert!(
                            idempotent || failure.certainly_not_sent(),
                            "{} re-sent after {failure:?}",
                            this.0
                        );
                    }
                } else {
                    in_a_row = 1;
                }
                assert!(
                    in_a_row <= 3,
                    "{} sent more than max_attempts times",
                    this.0
                );
                last = Some(this);
                no_secret(&format!("{:?}", Step::<()>::Send(request)));
                match inputs.next() {
                    Some((input, advance)) => {
                        clock += Duration::from_millis(u64::from(*advance));
                        answered_by = Some(input);
                        match input {
                            Input::Fail(failure) => {
                                last_status = None;
                                let give_up = Error::transport(*failure, flow.name(), None);
                                match flow.handle_transport_failure(*failure, give_up, clock) {
                                    Step::Done(Err(Error::Transport { kind, .. }))
                                        if kind == *failure =>
                                    {
                                        return Ending::GaveUp;
                                    }
                                    next => next,
                                }
                            }
                            Input::Respond { status, .. } => {
                                last_status = Some(*status);
                                flow.handle_response(input.response().unwrap(), clock)
                            }
                        }
                    }
                    None => {
                        answered_by = None;
                        last_status = Some(400);
                        flow.handle_response(reply(400, None, b""), clock)
                    }
                }
            }
            Step::Wait { until } => {
                assert!(until >= clock, "a wait never goes back in time");
                // Early: the same wait again.
                if until > clock {
                    match flow.resume(clock) {
                        Step::Wait { until: again } => assert_eq!(again, until),
                        other => panic!("an early resume must wait again: {other:?}"),
                    }
                }
                clock = until;
                flow.resume(clock)
            }
            Step::Done(result) => {
                no_secret(&format!("{result:?}"));
                let failed = last_status.filter(|s| !(200..300).contains(s));
                let ending = match result {
                    Ok(_) => {
                        // Only a release turns a rejection (401) into success.
                        if let Some(status) = failed {
                            assert!(
                                status == 401 && flow.name() == "release",
                                "{} succeeded on HTTP {status}",
                                flow.name()
                            );
                        }
                        Ending::Ok
                    }
                    Err(e) => {
                        no_secret(&e.to_string());
                        let _ = (e.problem(), e.retry_after(), e.is_retryable());
                        // A rejection carries its HTTP status (the problem keeps the
                        // body's own `status` member, verbatim, when it has one).
                        if let Some(status) = failed {
                            assert_eq!(e.status(), Some(status), "{e:?}");
                        }
                        Ending::Err
                    }
                };
                // Finished: any further call is out of order, not a panic.
                assert!(matches!(
                    flow.handle_response(reply(200, None, b"{}"), clock),
                    Step::Done(Err(_))
                ));
                assert!(matches!(flow.resume(clock), Step::Done(Err(_))));
                return ending;
            }
        };
    }
    panic!("the flow did not finish within {MAX_STEPS} steps");
}

const KINDS: usize = 23;

/// Runs flow number `kind` (one of every exported flow).
fn run_kind(kind: usize, inputs: &[(Input, u16)]) -> Ending {
    let cfg = config();
    let admin = tok(ADMIN_TOKEN);
    match kind {
        0 => run(Health::new(&cfg), inputs),
        1 => run(
            Validate::new(&cfg, &tok("some.token.value")).unwrap(),
            inputs,
        ),
        2 => run(
            AppAuth::new(&cfg, "cm-1", &ClientSecret::new(CLIENT_SECRET)).unwrap(),
            inputs,
        ),
        3 => run(
            AdminAuth::new(&cfg, &AdminSecret::new(ADMIN_SECRET)).unwrap(),
            inputs,
        ),
        4 => run(
            CreateAgent::new(
                &cfg,
                &tok(APP_TOKEN),
                CreateAgentRequest::new("orch-1", "task-1", ["read:data:*"], key()),
            )
            .unwrap(),
            inputs,
        ),
        5 => run(Renew::new(&cfg, &tok("agent.token.x")).unwrap(), inputs),
        6 => run(Release::new(&cfg, &tok("agent.token.x")).unwrap(), inputs),
        7 => run(
            Delegate::new(
                &cfg,
                &tok("agent.token.x"),
                "spiffe://agentwrit.local/agent/o/t/1",
                &["read:data:*"],
                Some(std::time::Duration::from_secs(30)),
            )
            .unwrap(),
            inputs,
        ),
        8 => run(
            CreateApp::new(
                &cfg,
                &admin,
                &CreateAppRequest::new("billing", vec!["read:data:*".into()]),
            )
            .unwrap(),
            inputs,
        ),
        9 => run(ListApps::new(&cfg, &admin).unwrap(), inputs),
        10 => run(GetApp::new(&cfg, &admin, "app-1").unwrap(), inputs),
        11 => run(
            UpdateApp::new(
                &cfg,
                &admin,
                "app-1",
                &UpdateAppRequest::new().token_ttl(std::time::Duration::from_secs(600)),
            )
            .unwrap(),
            inputs,
        ),
        12 => run(DeleteApp::new(&cfg, &admin, "app-1").unwrap(), inputs),
        13 => run(
            CreateLaunchToken::for_app(
                &cfg,
                &tok(APP_TOKEN),
                &LaunchTokenRequest::new("a", vec!["read:data:*".into()]),
            )
            .unwrap(),
            inputs,
        ),
        14 => run(
            CreateLaunchToken::for_admin(
                &cfg,
                &admin,
                &LaunchTokenRequest::new("a", vec!["read:data:*".into()]),
            )
            .unwrap(),
            inputs,
        ),
        15 => run(
            Revoke::new(&cfg, &admin, RevocationLevel::Task, "task-1").unwrap(),
            inputs,
        ),
        16 => run(
            AuditEvents::new(&cfg, &admin, &AuditQuery::new().limit(10)).unwrap(),
            inputs,
        ),
        17 => {
            let shared =
                Arc::new(SharedSession::app("cm-1", ClientSecret::new(CLIENT_SECRET)).unwrap());
            let c = cfg.clone();
            run(
                shared.call(&cfg, move |t: &AccessToken| {
                    CreateLaunchToken::for_app(
                        &c,
                        t,
                        &LaunchTokenRequest::new("a", vec!["read:data:*".into()]),
                    )
                }),
                inputs,
            )
        }
        18 => {
            let shared = Arc::new(SharedSession::admin(AdminSecret::new(ADMIN_SECRET)).unwrap());
            let c = cfg.clone();
            run(
                shared.call(&cfg, move |t: &AccessToken| ListApps::new(&c, t)),
                inputs,
            )
        }
        19 => run(
            SharedAgent::new(credentials()).renew_flow(&cfg).unwrap(),
            inputs,
        ),
        20 => run(SharedAgent::new(credentials()).release_flow(&cfg), inputs),
        21 => run(
            SharedAgent::new(credentials()).auto_renew_flow(&cfg),
            inputs,
        ),
        _ => {
            let agent = SharedAgent::new(credentials());
            run(
                agent
                    .delegate_flow(
                        &cfg,
                        "spiffe://agentwrit.local/agent/o/t/2",
                        &["read:data:*"],
                        None,
                    )
                    .unwrap(),
                inputs,
            )
        }
    }
}

fn inputs() -> impl Strategy<Value = Vec<(Input, u16)>> {
    prop::collection::vec((input(), 0u16..3000), 0..14)
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every flow ends, whatever the broker (or anything pretending to be
    /// it) answers.
    #[test]
    fn every_flow_ends_on_arbitrary_responses(kind in 0..KINDS, inputs in inputs()) {
        run_kind(kind, &inputs);
    }

    /// Methods called in any order never panic, and a finished flow stays
    /// finished.
    #[test]
    fn any_call_order_never_panics(kind in 0usize..6, ops in prop::collection::vec((0u8..4, cheap_input(), 0u32..5000), 0..12)) {
        let cfg = config();
        let mut flow: Applier = match kind {
            0 => {
                let mut f = Health::new(&cfg);
                Box::new(move |op, input, at| apply(&mut f, op, input, at))
            }
            1 => {
                let mut f = CreateAgent::new(
                    &cfg,
                    &tok(APP_TOKEN),
                    CreateAgentRequest::new("orch-1", "task-1", ["read:data:*"], key()),
                )
                .unwrap();
                Box::new(move |op, input, at| apply(&mut f, op, input, at))
            }
            2 => {
                let shared = Arc::new(SharedSession::app("cm-1", ClientSecret::new(CLIENT_SECRET)).unwrap());
                let c = cfg.clone();
                let mut f = shared.call(&cfg, move |t: &AccessToken| ListApps::new(&c, t));
                Box::new(move |op, input, at| apply(&mut f, op, input, at))
            }
            3 => {
                let mut f = SharedAgent::new(credentials()).auto_renew_flow(&cfg);
                Box::new(move |op, input, at| apply(&mut f, op, input, at))
            }
            4 => {
                let mut f = SharedAgent::new(credentials()).renew_flow(&cfg).unwrap();
                Box::new(move |op, input, at| apply(&mut f, op, input, at))
            }
            _ => {
                let mut f = SharedAgent::new(credentials()).release_flow(&cfg);
                Box::new(move |op, input, at| apply(&mut f, op, input, at))
            }
        };
        let mut finished = false;
        let mut trail = Vec::new();
        for (op, input, advance_ms) in &ops {
            let at = now() + Duration::from_millis(u64::from(*advance_ms));
            let (done, shown) = flow(*op, input, at);
            trail.push(format!("op {op} -> {shown}"));
            if finished && *op != 3 {
                prop_assert!(done, "a finished flow stays finished: {trail:?}");
            }
            finished |= done;
        }
    }
}

/// One flow behind a closure that applies a method call to it.
type Applier = Box<dyn FnMut(u8, &Input, SystemTime) -> (bool, String)>;

/// Applies one method call; true when it returned `Done` (or gave up),
/// with the step as shown by `Debug`.
fn apply<F: Flow>(flow: &mut F, op: u8, input: &Input, at: SystemTime) -> (bool, String)
where
    F::Output: std::fmt::Debug,
{
    let step = match op {
        0 => Some(flow.start(at)),
        1 => flow
            .handle_response(
                input.response().unwrap_or_else(|| reply(500, None, b"")),
                at,
            )
            .into(),
        2 => Some(flow.resume(at)),
        _ => Some(flow.handle_transport_failure(
            TransportFailure::Io,
            Error::transport(TransportFailure::Io, "apply", None),
            at,
        )),
    };
    match step {
        Some(step) => {
            let shown = format!("{step:?}");
            no_secret(&shown);
            (step.is_done(), shown)
        }
        None => (true, "gave up".to_owned()),
    }
}
