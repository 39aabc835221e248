//! The binding layer against the development broker: both flavours driven
//! both ways, errors, cancel-safe creation (checked at the broker's audit
//! trail), one deadline, and renewal that ends with the last handle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use agentwrit_bindings::{AgentRequest, App, ErrorKind, Flavour, ReleaseOutcome, Validator, drain};
use support::{DelayProxy, Silent, broker, eventually, settings, unreleased};

const SCOPE: &str = "read:data:customer-7291";

fn request(task: &str) -> AgentRequest {
    AgentRequest::new("orch", task, vec![SCOPE.to_owned()])
}

#[test]
fn both_flavours_run_the_lifecycle_blocking_and_on_another_runtime() {
    let (broker, id, secret) = broker();
    for flavour in [Flavour::Blocking, Flavour::Async] {
        let app = App::new(flavour, broker.url(), &id, &secret, &settings(10.0)).unwrap();
        assert_eq!(app.flavour(), flavour);
        // Blocking: the calling thread waits.
        let a = app.create_agent(request("a")).wait().unwrap();
        let b = app.create_agent(request("b")).wait().unwrap();
        assert!(app.validate(a.access_token()).wait().unwrap().valid);
        let old = a.jti();
        a.renew().wait().unwrap();
        assert_ne!(a.jti(), old);
        let to_b = a
            .delegate(b.agent_id(), vec![SCOPE.to_owned()], None)
            .wait()
            .unwrap();
        assert_eq!(to_b.subject(), b.agent_id());
        assert_eq!(to_b.chain()[0].agent, a.agent_id());
        // Awaited on a runtime of the caller's own: the work runs on the
        // bindings runtime, the caller's only waits.
        let own = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let c = own.block_on(app.create_agent(request("c")).run()).unwrap();
        assert_eq!(
            own.block_on(a.release_task().run()).unwrap(),
            ReleaseOutcome::Released
        );
        assert!(!app.validate(to_b.access_token()).wait().unwrap().valid);
        assert_eq!(
            own.block_on(c.release().run()).unwrap(),
            ReleaseOutcome::Released
        );
        assert_eq!(b.release().wait().unwrap(), ReleaseOutcome::Released);
        assert_eq!(b.release().wait().unwrap(), ReleaseOutcome::AlreadyDead);
        assert_eq!(app.health().wait().unwrap().status, "ok");
    }
    assert!(unreleased(&broker).is_empty());
}

#[test]
fn a_rejection_keeps_status_problem_and_request_id() {
    let (broker, id, secret) = broker();
    for flavour in [Flavour::Blocking, Flavour::Async] {
        let app = App::new(flavour, broker.url(), &id, &secret, &settings(10.0)).unwrap();
        let e = app
            .create_agent(AgentRequest::new("o", "t", vec!["delete:data:*".into()]))
            .wait()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Authorization, "{e}");
        assert_eq!(e.status(), Some(403));
        assert!(e.problem().is_some_and(|p| !p.detail.is_empty()));
        assert!(e.request_id().is_some_and(|r| !r.is_empty()));
        assert!(!e.retryable());
    }
}

#[test]
fn a_connection_failure_names_the_broker_url() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for flavour in [Flavour::Blocking, Flavour::Async] {
        let app = App::new(flavour, &url, "id", "secret", &settings(5.0)).unwrap();
        let e = app.health().wait().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.message().contains(&url), "{e}");
    }
}

#[test]
fn a_creation_cancelled_at_any_point_leaves_no_live_token() {
    let (broker, id, secret) = broker();
    let proxy = DelayProxy::start(broker.url(), Duration::from_millis(40));
    let app = App::new(Flavour::Async, &proxy.url, &id, &secret, &settings(10.0)).unwrap();
    // Warm the app token and the connection, so the cancel points below
    // fall on the creation's own requests.
    let warm = app.create_agent(request("warm")).wait().unwrap();
    warm.release().wait().unwrap();
    for round in 0..3 {
        // 0: before anything is sent; 1: launch token in flight; 2: the
        // challenge; 3: the registration in flight (the answer, carrying
        // the token, is still held back by the proxy).
        for point in 0..=3 {
            proxy.drain();
            let pending = app
                .create_agent(request(&format!("c-{round}-{point}")))
                .start();
            for _ in 0..point {
                assert!(proxy.next_request());
            }
            drop(pending); // the caller is gone
        }
    }
    assert!(drain(Duration::from_secs(60)), "calls still running");
    assert!(
        eventually(Duration::from_secs(10), || unreleased(&broker).is_empty()),
        "live tokens: {:?}",
        unreleased(&broker)
    );
    // At least the registrations cancelled in flight were issued, and
    // released by the layer, not by anyone waiting.
    assert!(support::issued(&broker) >= 4);
}

#[test]
fn a_result_awaited_past_the_deadline_is_released_when_it_arrives() {
    let (broker, id, secret) = broker();
    let proxy = DelayProxy::start(broker.url(), Duration::from_millis(150));
    let app = App::new(Flavour::Async, &proxy.url, &id, &secret, &settings(0.4)).unwrap();
    let error = app.create_agent(request("late")).wait().unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(error.message().contains(&proxy.url), "{error}");
    assert!(drain(Duration::from_secs(60)));
    assert!(eventually(Duration::from_secs(10), || unreleased(&broker).is_empty()));
}

#[test]
fn a_read_ends_at_the_deadline_without_retries() {
    let silent = Silent::start();
    let s = settings(0.3);
    // The async flavour's deadline is the layer's (and its transport's);
    // the blocking one's, its transport's one deadline per call.
    for (n, flavour) in [Flavour::Async, Flavour::Blocking].into_iter().enumerate() {
        let v = Validator::new(flavour, &silent.url, &s).unwrap();
        let e = v.validate("token".into()).wait().unwrap_err();
        assert!(e.is_timeout(), "{flavour:?}: {e}");
        assert!(e.message().contains(&silent.url), "{flavour:?}: {e}");
        assert_eq!(
            silent.accepted(),
            n + 1,
            "{flavour:?}: one attempt, no retry"
        );
    }
}

/// What the Rust acceptance test checks on both transports, with a witness
/// instead of a clock, on both flavours: a first agent renews while its
/// handle lives, then the handle is dropped; a witness agent made after
/// the drop renews twice, which takes longer than the first one's next
/// renewal was due; then the audit trail must show the first agent's
/// renewal stopped, and no release either: its token dies at its TTL.
#[test]
fn dropping_the_last_handle_ends_renewal_without_releasing() {
    // Two-second tokens: a renewal every 1.6 s (80 % of the lifetime).
    let (broker, id, secret) = support::broker_with(
        agentwrit_devbroker::DevBroker::builder()
            .no_rate_limits()
            .max_ttl(Duration::from_secs(2)),
    );
    // The events of `kind` for `agent_id` past the first `after` of the trail.
    let count = |after: usize, kind: &str, agent_id: &str| {
        support::audit(&broker)
            .iter()
            .skip(after)
            .filter(|e| e["event_type"] == kind && e["agent_id"] == agent_id)
            .count()
    };
    for flavour in [Flavour::Blocking, Flavour::Async] {
        let app = App::new(flavour, broker.url(), &id, &secret, &settings(10.0)).unwrap();
        // An auto-renewing agent, once its first renewal is on the trail.
        let create = |task: &str| {
            let agent = app
                .create_agent(request(task).max_ttl_secs(2.0).unwrap().auto_renew(true))
                .wait()
                .unwrap();
            let agent_id = agent.agent_id();
            assert!(
                eventually(Duration::from_secs(30), || count(
                    0,
                    "token_renewed",
                    &agent_id
                ) >= 1),
                "{flavour:?}: {task} was not renewed while its handle lived"
            );
            agent
        };
        let dropped = create(&format!("{flavour:?}-dropped"));
        let (dropped_id, token) = (dropped.agent_id(), dropped.access_token());
        drop(dropped);
        let mark = support::audit(&broker).len();
        let witness = create(&format!("{flavour:?}-witness"));
        let witness_id = witness.agent_id();
        assert!(
            eventually(Duration::from_secs(30), || count(
                mark,
                "token_renewed",
                &witness_id
            ) >= 2),
            "{flavour:?}: the witness never renewed twice"
        );
        witness.release().wait().unwrap();
        // A renewer still running would have renewed the dropped agent at
        // least twice since the mark (its period is the witness's, and it
        // started earlier); one renewal in flight at the drop may land
        // after it.
        let after = count(mark, "token_renewed", &dropped_id);
        assert!(
            after <= 1,
            "{flavour:?}: renewed {after} times after its last handle was dropped"
        );
        // Not released: a drop releases nothing; the token dies at its TTL.
        assert_eq!(count(0, "token_released", &dropped_id), 0, "{flavour:?}");
        assert!(
            eventually(Duration::from_secs(10), || !app
                .validate(token.clone())
                .wait()
                .unwrap()
                .valid),
            "{flavour:?}: the dropped agent's token lives on"
        );
    }
}
