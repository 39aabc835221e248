//! Property test: arbitrary `Authorization` bytes never panic and never get
//! anything but a 401 (local mode, no network; and broker mode against a
//! development broker).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use agentwrit_tower::{AgentAuth, BrokerKey};
use http::{HeaderValue, Request, Response};
use proptest::prelude::*;
use tower::{Layer as _, ServiceExt as _};

fn status_for(auth: &AgentAuth, rt: &tokio::runtime::Runtime, value: &[u8]) -> Option<u16> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let service = auth
        .layer()
        .layer(tower::service_fn(|_req: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::from("secret data")))
        }));
    let mut req = Request::new(String::new());
    req.headers_mut().insert("authorization", value);
    let resp = rt.block_on(service.oneshot(req)).unwrap();
    Some(resp.status().as_u16())
}

fn bearer_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "[A-Za-z0-9_.=+/ -]{0,120}".prop_map(|s| format!("Bearer {s}").into_bytes()),
        (
            "[A-Za-z0-9_-]{1,40}",
            "[A-Za-z0-9_-]{1,40}",
            "[A-Za-z0-9_-]{1,90}"
        )
            .prop_map(|(a, b, c)| format!("Bearer {a}.{b}.{c}").into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..80).prop_map(|mut v| {
            let mut out = b"Bearer eyJhbGciOiJFZERTQSJ9.".to_vec();
            out.append(&mut v);
            out
        }),
    ]
}

proptest! {
    // Cases from PROPTEST_CASES (CI sets 10 000), else proptest's default.

    #[test]
    fn local_mode_any_header_is_a_401(value in bearer_like()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let key = BrokerKey::from_bytes(
            ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key().to_bytes(),
        ).unwrap();
        let auth = AgentAuth::local([key]).build().unwrap();
        if let Some(status) = status_for(&auth, &rt, &value) {
            prop_assert_eq!(status, 401);
        }
    }
}

/// Fewer cases: a quarter of them are a round trip to the broker.
#[test]
fn broker_mode_any_header_is_a_401() {
    let broker = agentwrit_devbroker::DevBroker::start().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let auth = AgentAuth::broker(broker.url()).build().unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(96));
    runner
        .run(&bearer_like(), |value| {
            if let Some(status) = status_for(&auth, &rt, &value) {
                prop_assert_eq!(status, 401);
            }
            Ok(())
        })
        .unwrap();
}
