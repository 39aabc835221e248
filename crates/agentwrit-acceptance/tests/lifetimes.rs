//! How long what the SDK obtains lives, checked at the broker's audit
//! trail on both transports:
//!
//! * `renewal`: dropping the last clone of an auto-renewing agent stops
//!   its renewal, and the token expires (the drop releases nothing).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use agentwrit_core::AgentOptions;
use agentwrit_core::wire::{AuditEvent, AuditQuery};
use agentwrit_devbroker::{DevBroker, DevBrokerHandle};

const SCOPE: [&str; 1] = ["read:data:*"];

/// The broker's audit trail, read by its operator.
struct Audit {
    operator: agentwrit_blocking::Operator,
}

impl Audit {
    fn of(broker: &DevBrokerHandle) -> Audit {
        let operator = agentwrit_blocking::Broker::new(broker.url())
            .unwrap()
            .operator(broker.admin_secret().clone())
            .unwrap();
        Audit { operator }
    }

    /// Every event so far, oldest first.
    fn all(&self) -> Vec<AuditEvent> {
        self.operator.audit_events_all(AuditQuery::new()).unwrap()
    }

    /// The events of `event_type` for `agent_id` after the first `skip`
    /// events of the trail.
    fn count(&self, skip: usize, event_type: &str, agent_id: &str) -> usize {
        self.all()
            .iter()
            .skip(skip)
            .filter(|e| e.event_type == event_type && e.agent_id.as_deref() == Some(agent_id))
            .count()
    }

    /// Blocks until `done` holds for the trail (polled), at most a minute.
    fn wait_for(&self, what: &str, done: impl Fn(&Audit) -> bool) {
        let give_up = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(
                Instant::now() < give_up,
                "the audit trail never showed {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The agents registered that have no `token_released` event.
    fn unreleased_agents(&self) -> Vec<String> {
        let events = self.all();
        let released: HashSet<_> = events
            .iter()
            .filter(|e| e.event_type == "token_released")
            .filter_map(|e| e.agent_id.clone())
            .collect();
        events
            .iter()
            .filter(|e| e.event_type == "agent_registered")
            .filter_map(|e| e.agent_id.clone())
            .filter(|id| !released.contains(id))
            .collect()
    }
}

fn broker() -> DevBrokerHandle {
    DevBroker::builder().no_rate_limits().start().unwrap()
}

mod renewal {
    use super::*;

    /// Auto-renewal with a one-second token: a renewal every 0.8 s.
    fn fast_renewing() -> AgentOptions {
        AgentOptions::new()
            .with_auto_renew(true)
            .with_max_ttl(Duration::from_secs(1))
    }

    /// An auto-renewing agent: its id, its current token, and how it
    /// ends (`true`: released, then dropped; `false`: dropped only).
    type Made = (String, String, Box<dyn FnOnce(bool)>);

    /// The same story on both transports. A first agent renews, then its
    /// last clone is dropped; a witness agent made after the drop renews
    /// twice, which takes longer than the first one's next renewal was
    /// due; then the audit trail must show no renewal of the first agent
    /// after its drop, and no release either: its token expires.
    fn check(
        broker: &DevBrokerHandle,
        create: &mut dyn FnMut() -> Made,
        valid: &dyn Fn(&str) -> bool,
    ) {
        let audit = Audit::of(broker);
        let (dropped_id, token, end) = create();
        audit.wait_for("a first renewal", |a| {
            a.count(0, "token_renewed", &dropped_id) >= 1
        });
        end(false);
        let mark = audit.all().len();
        let (witness_id, _, end_witness) = create();
        audit.wait_for("two renewals of the witness", |a| {
            a.count(mark, "token_renewed", &witness_id) >= 2
        });
        end_witness(true);
        assert_eq!(
            audit.count(mark, "token_renewed", &dropped_id),
            0,
            "the agent was renewed after its last clone was dropped"
        );
        assert_eq!(
            audit.count(0, "token_released", &dropped_id),
            0,
            "dropping an agent releases nothing (that is what guards are for)"
        );
        // Its last token was issued before the drop, for one second, and
        // more than 1.6 s have passed since.
        assert!(!valid(&token), "the dropped agent's token is still alive");
        assert_eq!(audit.unreleased_agents(), [dropped_id]);
    }

    #[test]
    fn blocking_renewal_ends_with_the_last_clone() {
        let broker = broker();
        let reg = broker.register_universal_app().unwrap();
        let app =
            agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret).unwrap();
        let mut create = || -> Made {
            let agent = app
                .create_agent_with("renewal", "task", &SCOPE, fast_renewing())
                .unwrap();
            let (id, token) = (agent.agent_id(), agent.access_token());
            let clone = agent.clone();
            let end = Box::new(move |release: bool| {
                drop(clone);
                if release {
                    agent.release().unwrap();
                }
                drop(agent);
            });
            (id, token.expose_secret().to_owned(), end)
        };
        let valid = |token: &str| app.validate(token).unwrap().is_valid();
        check(&broker, &mut create, &valid);
    }

    #[test]
    fn async_renewal_ends_with_the_last_clone() {
        let broker = broker();
        let reg = broker.register_universal_app().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app =
            agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret).unwrap();
        let handle = runtime.handle().clone();
        let mut create = || -> Made {
            // Auto-renewal runs on the runtime current when it starts.
            let agent = handle
                .block_on(app.create_agent_with("renewal", "task", &SCOPE, fast_renewing()))
                .unwrap();
            let (id, token) = (agent.agent_id(), agent.access_token());
            let clone = agent.clone();
            let handle = handle.clone();
            let end = Box::new(move |release: bool| {
                drop(clone);
                if release {
                    handle.block_on(agent.release()).unwrap();
                }
                drop(agent);
            });
            (id, token.expose_secret().to_owned(), end)
        };
        let valid = |token: &str| runtime.block_on(app.validate(token)).unwrap().is_valid();
        check(&broker, &mut create, &valid);
    }
}
