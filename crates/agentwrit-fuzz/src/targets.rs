//! The fuzz targets. Each takes arbitrary bytes and must not panic; the
//! scope target also checks the scope rules' invariants.

use std::time::{Duration, UNIX_EPOCH};

use agentwrit_core::wire::{
    self, AccessToken, AdminSecret, AuditQuery, ClientSecret, CreateAppRequest, LaunchTokenRequest,
    RevocationLevel, UpdateAppRequest,
};
use agentwrit_core::{
    AdminAuth, AgentKey, AppAuth, AuditEvents, ClientConfig, CreateAgent, CreateAgentRequest,
    CreateApp, CreateLaunchToken, Delegate, DeleteApp, Error, Flow, GetApp, Health, ListApps,
    Release, Renew, Revoke, SharedSession, Step, TokenVerifier, TransportFailure, UpdateApp,
    Validate, decode_claims,
};
use agentwrit_scope::{Scope, first_invalid, scope_is_subset};

use crate::Rng;

/// A named fuzz target.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: [Target; 4] = [
    Target {
        name: "scope",
        run: scope,
    },
    Target {
        name: "wire",
        run: wire_decoders,
    },
    Target {
        name: "claims",
        run: claims,
    },
    Target {
        name: "flows",
        run: flows,
    },
];

fn scope(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let list: Vec<&str> = text.split([' ', '\n']).collect();
    for s in &list {
        match Scope::parse(s) {
            Ok(scope) => {
                assert!(scope.covers(&scope), "a valid scope covers itself: {s:?}");
                assert!(scope_is_subset(&[*s], &[*s]));
                assert_eq!(scope.as_str(), *s);
            }
            Err(e) => {
                assert!(
                    !scope_is_subset(&[*s], &[*s]),
                    "an invalid scope covers nothing: {s:?}"
                );
                let _ = e.to_string();
            }
        }
    }
    let (held, required) = list.split_at(list.len() / 2);
    let subset = scope_is_subset(required, held);
    if subset {
        // Every required scope is valid and covered by some held scope.
        assert!(first_invalid(required).is_none());
    }
    let _ = scope_is_subset(held, required);
    let _ = scope_is_subset::<&str, &str>(&[], held);
}

fn wire_decoders(input: &[u8]) {
    macro_rules! decode {
        ($($t:ty),* $(,)?) => {
            $(
                if let Ok(v) = serde_json::from_slice::<$t>(input) {
                    // What decodes re-encodes.
                    let _ = serde_json::to_vec(&v).unwrap();
                    let _ = format!("{v:?}");
                }
            )*
        };
    }
    decode!(
        wire::HealthResponse,
        wire::ChallengeResponse,
        wire::ValidateResponse,
        wire::AdminAuthResponse,
        wire::AppAuthResponse,
        wire::AppResponse,
        wire::ListAppsResponse,
        wire::LaunchTokenResponse,
        wire::RegisterResponse,
        wire::RenewResponse,
        wire::DelegateResponse,
        wire::RevokeResponse,
        wire::AuditEventsResponse,
        wire::ProblemDetail,
        wire::Claims,
        wire::DelegationRecord,
        wire::JwtHeader,
    );
    let text = String::from_utf8_lossy(input);
    if let Ok(t) = wire::Timestamp::parse(&text) {
        let _ = (t.unix_nanos(), t.as_str());
    }
    if let Ok(level) = text.parse::<RevocationLevel>() {
        assert_eq!(level.as_str(), text);
    }
    let _ = wire::to_go_json(&serde_json::Value::String(text.into_owned()));
    let _ = AuditQuery::new()
        .agent_id(String::from_utf8_lossy(input))
        .to_query_string();
}

fn claims(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let token = AccessToken::new(text.as_ref());
    if let Ok(c) = decode_claims(&token) {
        let _ = (c.ttl_seconds(), c.delegation_depth());
    }
    let verifier = TokenVerifier::new(AgentKey::from_seed([7; 32]).public_key_bytes()).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_795_304_437);
    assert!(
        verifier.verify(text.as_ref(), now).is_err(),
        "nothing verifies against an unrelated key"
    );
}

const STATUSES: [u16; 16] = [
    200, 200, 200, 200, 201, 201, 204, 400, 401, 403, 404, 409, 413, 429, 500, 503,
];
const CONTENT_TYPES: [Option<&str>; 5] = [
    Some("application/json"),
    Some("application/json"),
    Some("application/problem+json"),
    Some("text/html"),
    None,
];
const RETRY_AFTER: [&str; 7] = ["0", "1", "5", "60", "-1", "soon", "99999999999999999999"];

fn hash(bytes: &[u8], salt: u64) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325 ^ salt, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One response (or transport failure) per 0x00-separated chunk.
fn responses(input: &[u8]) -> Vec<Result<http::Response<Vec<u8>>, TransportFailure>> {
    input
        .split(|b| *b == 0)
        .enumerate()
        .map(|(i, chunk)| {
            let mut rng = Rng::new(hash(chunk, i as u64));
            if rng.chance(20) {
                let failures = [
                    TransportFailure::Connect,
                    TransportFailure::Timeout,
                    TransportFailure::Io,
                    TransportFailure::BodyTooLarge,
                    TransportFailure::Other,
                ];
                return Err(failures[rng.below(failures.len())]);
            }
            let mut b = http::Response::builder().status(STATUSES[rng.below(STATUSES.len())]);
            if let Some(ct) = CONTENT_TYPES[rng.below(CONTENT_TYPES.len())] {
                b = b.header("content-type", ct);
            }
            if rng.chance(4) {
                b = b.header("retry-after", RETRY_AFTER[rng.below(RETRY_AFTER.len())]);
            }
            if rng.chance(2) {
                b = b.header("x-request-id", "0123456789abcdef");
            }
            Ok(b.body(chunk.to_vec()).unwrap())
        })
        .collect()
}

/// Drives `flow` with the scripted responses; it must end (Done, or give
/// up on a transport failure) within a bounded number of steps, and its
/// waits must never go back in time.
fn drive<F: Flow>(mut flow: F, script: &[Result<http::Response<Vec<u8>>, TransportFailure>]) {
    let mut now = UNIX_EPOCH + Duration::from_secs(1_795_304_437);
    let mut step = flow.start(now);
    let mut next = script.iter().cycle();
    for _ in 0..64 {
        step = match step {
            Step::Send(request) => {
                assert!(request.uri().scheme().is_some(), "absolute URIs only");
                let _ = flow.name();
                match next.next() {
                    Some(Ok(response)) => flow.handle_response(response.clone(), now),
                    Some(Err(failure)) => {
                        let give_up = Error::transport(*failure, flow.name(), None);
                        flow.handle_transport_failure(*failure, give_up, now)
                    }
                    None => return,
                }
            }
            Step::Wait { until } => {
                assert!(until >= now, "a wait never goes back in time");
                assert!(
                    until.duration_since(now).unwrap_or_default() <= Duration::from_secs(3600),
                    "a wait is bounded"
                );
                // Resuming early answers the same wait.
                if let Step::Wait { until: again } = flow.resume(now) {
                    assert_eq!(again, until);
                }
                now = until;
                flow.resume(now)
            }
            Step::Done(result) => {
                let _ = result.map_err(|e| (e.to_string(), format!("{e:?}")));
                // Out of order now: a typed error, never a panic.
                let _ = flow.resume(now);
                let give_up = Error::transport(TransportFailure::Io, "fuzz", None);
                let _ = flow.handle_transport_failure(TransportFailure::Io, give_up, now);
                return;
            }
        };
    }
    panic!("flow did not finish within 64 steps");
}

fn flows(input: &[u8]) {
    let script = responses(input);
    let config = ClientConfig::new("http://127.0.0.1:8080".parse().unwrap());
    let token = AccessToken::new("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln");
    let which = hash(input, 99) % 18;
    match which {
        0 => drive(
            AppAuth::new(&config, "cm-1", &ClientSecret::new("s")).unwrap(),
            &script,
        ),
        1 => drive(
            AdminAuth::new(&config, &AdminSecret::new("s")).unwrap(),
            &script,
        ),
        2..=4 => {
            let request = CreateAgentRequest::new(
                "orch",
                "task",
                ["read:data:*"],
                AgentKey::from_seed([3; 32]),
            );
            drive(CreateAgent::new(&config, &token, request).unwrap(), &script);
        }
        5 => drive(Renew::new(&config, &token).unwrap(), &script),
        6 => drive(Release::new(&config, &token).unwrap(), &script),
        7 => drive(
            Delegate::new(
                &config,
                &token,
                "spiffe://x/agent/o/t/1",
                &["read:data:x"],
                Some(std::time::Duration::from_secs(30)),
            )
            .unwrap(),
            &script,
        ),
        8 => drive(Validate::new(&config, &token).unwrap(), &script),
        9 => drive(Health::new(&config), &script),
        10 => drive(
            CreateApp::new(
                &config,
                &token,
                &CreateAppRequest::new("app", vec!["read:data:*".into()]),
            )
            .unwrap(),
            &script,
        ),
        11 => drive(ListApps::new(&config, &token).unwrap(), &script),
        12 => drive(
            GetApp::new(&config, &token, "app-x-123456").unwrap(),
            &script,
        ),
        13 => drive(
            UpdateApp::new(
                &config,
                &token,
                "app-x-123456",
                &UpdateAppRequest::new().token_ttl(std::time::Duration::from_secs(600)),
            )
            .unwrap(),
            &script,
        ),
        14 => drive(
            DeleteApp::new(&config, &token, "app-x-123456").unwrap(),
            &script,
        ),
        15 => drive(
            CreateLaunchToken::for_app(
                &config,
                &token,
                &LaunchTokenRequest::new("a", vec!["read:data:*".into()]),
            )
            .unwrap(),
            &script,
        ),
        16 => drive(
            Revoke::new(&config, &token, RevocationLevel::Task, "t").unwrap(),
            &script,
        ),
        _ => {
            drive(
                AuditEvents::new(&config, &token, &AuditQuery::new().limit(5)).unwrap(),
                &script,
            );
            // The shared session around a call: authenticate, then call.
            let session =
                std::sync::Arc::new(SharedSession::app("cm-1", ClientSecret::new("s")).unwrap());
            let for_health = config.clone();
            drive(
                session.call(&config, move |_| Ok(Health::new(&for_health))),
                &script,
            );
        }
    }
}
