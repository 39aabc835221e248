//! How long what the SDK obtains lives, checked at the broker's audit
//! trail on both transports:
//!
//! * `renewal`: dropping the last clone of an auto-renewing agent stops
//!   its renewal, and the token expires (the drop releases nothing).
//! * `guard_drop`: the async guard's drop never blocks a worker of a live
//!   runtime — on a current-thread runtime whose only thread also serves
//!   the broker's proxy, and on a multi-thread runtime with every worker
//!   busy — and the release still happens.
//! * `creation`: an async creation cancelled at any point of the ceremony
//!   (a timeout, an aborted task, a runtime shutting down, `with_agent`'s
//!   future dropped), behind a proxy that delays every request, leaves no
//!   agent alive: one whose registration reached the broker is released.

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

    /// Blocks until `done` holds for the trail (polled), at most 20 s.
    fn wait_for(&self, what: &str, done: impl Fn(&Audit) -> bool) {
        let give_up = Instant::now() + Duration::from_secs(20);
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

    /// Auto-renewal with a one-second token: a renewal every 0.5 s (half the lifetime).
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

mod guard_drop {
    use super::*;
    use agentwrit_test_support::DelayProxy;
    use std::sync::mpsc::channel;

    /// The app at `url` (through a proxy), with this request timeout.
    fn app_at(url: &str, broker: &DevBrokerHandle, timeout: Duration) -> agentwrit_async::App {
        let reg = broker.register_universal_app().unwrap();
        agentwrit_async::Broker::builder(url)
            .timeout(timeout)
            .build()
            .unwrap()
            .app(&reg.client_id, &reg.client_secret)
            .unwrap()
    }

    /// A current-thread runtime whose only thread also runs the proxy in
    /// front of the broker: a drop that waited for the release on this
    /// thread would keep the proxy from forwarding it (before, the drop
    /// waited out its bound and the release timed out).
    #[test]
    fn on_a_current_thread_runtime_serving_the_broker() {
        let broker = broker();
        let upstream = broker.local_addr();
        let admin = broker.admin_secret().clone();
        let direct = broker.url().to_owned();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
            });
            let app = app_at(&url, &broker, Duration::from_secs(2));
            let guard = app
                .create_agent("guard", "current-thread", &SCOPE)
                .await
                .unwrap()
                .release_on_drop();
            let id = guard.agent_id();
            let agent = (*guard).clone();
            drop(guard);
            // The broker, asked directly (not through this thread's proxy).
            let operator = agentwrit_async::Broker::new(&direct)
                .unwrap()
                .operator(admin)
                .unwrap();
            let give_up = Instant::now() + Duration::from_secs(20);
            loop {
                let released = operator
                    .audit_events_all(AuditQuery::new().agent_id(&id).event_type("token_released"))
                    .await
                    .unwrap();
                if !released.is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < give_up,
                    "the guard's release never reached the broker"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // And the SDK saw the broker's answer: a release whose client
            // gave up while this thread was blocked may still be forwarded
            // later, but its agent is not marked released.
            while !agent.is_released() {
                assert!(Instant::now() < give_up, "the release was never answered");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        drop(runtime);
        assert!(Audit::of(&broker).unreleased_agents().is_empty());
    }

    /// Every worker of a multi-thread runtime busy, the broker unreachable
    /// (the proxy holds traffic) when the guard is dropped on one of them:
    /// the drop returns at once, and the release goes through once the
    /// proxy lets it. Before, the drop waited (blocking its worker) until
    /// its bound ran out, by which time the release had timed out.
    #[test]
    fn on_a_busy_multi_thread_runtime() {
        let broker = broker();
        let proxy = DelayProxy::start(broker.local_addr(), Duration::ZERO).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let app = app_at(&proxy.url(), &broker, Duration::from_secs(3));
        let guard = runtime
            .block_on(app.create_agent("guard", "busy", &SCOPE))
            .unwrap()
            .release_on_drop();
        let id = guard.agent_id();
        let agent = (*guard).clone();
        proxy.pause();
        let (busy, is_busy) = channel();
        let (free_first, first_freed) = channel::<()>();
        let (free_second, second_freed) = channel::<()>();
        let (dropped, has_dropped) = channel();
        // Blocking the worker threads on purpose: they are what must not
        // wait on the release.
        runtime.spawn(async move {
            busy.send(()).unwrap();
            let _ = first_freed.recv();
        });
        runtime.spawn(async move {
            is_busy.recv().unwrap();
            drop(guard);
            dropped.send(()).unwrap();
            let _ = second_freed.recv();
        });
        has_dropped
            .recv_timeout(Duration::from_secs(60))
            .expect("the guard's drop never returned");
        proxy.resume();
        free_first.send(()).unwrap();
        free_second.send(()).unwrap();
        let audit = Audit::of(&broker);
        audit.wait_for("the guard's release", |a| {
            a.count(0, "token_released", &id) >= 1
        });
        // Answered, not only forwarded late after its client gave up.
        audit.wait_for("the SDK to see the release answered", |_| {
            agent.is_released()
        });
        drop(runtime);
        assert!(audit.unreleased_agents().is_empty());
    }
}

mod creation {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use agentwrit_async::App;
    use agentwrit_core::Error;
    use agentwrit_test_support::DelayProxy;
    use tokio::runtime::{Builder, Runtime};

    /// Each chunk's delay through the proxy, both ways.
    const DELAY: Duration = Duration::from_millis(15);
    /// How many cancellation points each way of cancelling gets, spread
    /// over the ceremony's length and a little past it.
    const STEPS: u32 = 14;

    fn runtime(multi_thread: bool) -> Runtime {
        let mut builder = if multi_thread {
            let mut b = Builder::new_multi_thread();
            b.worker_threads(2);
            b
        } else {
            Builder::new_current_thread()
        };
        builder.enable_all().build().unwrap()
    }

    #[derive(Clone, Copy, Debug)]
    enum Cancel {
        /// `tokio::time::timeout` around `create_agent`.
        Timeout,
        /// The task running `create_agent` is aborted.
        Abort,
        /// The runtime shuts down under the task running it.
        Shutdown,
        /// `with_agent`'s future is dropped (its work never ends).
        WithAgent,
    }

    impl Cancel {
        fn task(self) -> &'static str {
            match self {
                Cancel::Timeout => "timeout",
                Cancel::Abort => "abort",
                Cancel::Shutdown => "shutdown",
                Cancel::WithAgent => "with-agent",
            }
        }
    }

    /// One creation, cancelled `how`, `after` its start, on a runtime of
    /// its own that is dropped at the end (its shutdown waits for what was
    /// handed over). True when the caller got the agent (and released it
    /// or dropped its guard).
    fn cancelled(app: &App, how: Cancel, after: Duration, multi_thread: bool) -> bool {
        let runtime = runtime(multi_thread);
        let task = how.task();
        let got = match how {
            Cancel::Timeout => runtime.block_on(async {
                match tokio::time::timeout(after, app.create_agent("cancel", task, &SCOPE)).await {
                    Ok(agent) => {
                        agent.unwrap().release().await.unwrap();
                        true
                    }
                    Err(_) => false,
                }
            }),
            Cancel::Abort => runtime.block_on(async {
                let app = app.clone();
                let creating =
                    tokio::spawn(async move { app.create_agent("cancel", task, &SCOPE).await });
                tokio::time::sleep(after).await;
                creating.abort();
                match creating.await {
                    Ok(agent) => {
                        agent.unwrap().release().await.unwrap();
                        true
                    }
                    Err(e) => {
                        assert!(e.is_cancelled(), "{e}");
                        false
                    }
                }
            }),
            Cancel::Shutdown => {
                let (app, got) = (app.clone(), Arc::new(AtomicBool::new(false)));
                let seen = Arc::clone(&got);
                runtime.spawn(async move {
                    let guard = app
                        .create_agent("cancel", task, &SCOPE)
                        .await
                        .unwrap()
                        .release_on_drop();
                    seen.store(true, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                    drop(guard);
                });
                runtime.block_on(async { tokio::time::sleep(after).await });
                got.load(Ordering::SeqCst)
            }
            Cancel::WithAgent => runtime.block_on(async {
                let work = app.with_agent("cancel", task, &SCOPE, async |_agent| {
                    std::future::pending::<()>().await;
                    Ok::<(), Error>(())
                });
                let _ = tokio::time::timeout(after, work).await;
                false
            }),
        };
        drop(runtime);
        got
    }

    #[test]
    fn cancelled_anywhere_leaves_no_live_agent() {
        let broker = broker();
        let reg = broker.register_universal_app().unwrap();
        let proxy = DelayProxy::start(broker.local_addr(), DELAY).unwrap();
        let app = App::new(&proxy.url(), &reg.client_id, &reg.client_secret).unwrap();
        // One creation, uncancelled, logs the app in and measures the
        // ceremony on this machine: the cancellation points spread over it.
        let ceremony = runtime(false).block_on(async {
            let started = Instant::now();
            let agent = app.create_agent("cancel", "measure", &SCOPE).await.unwrap();
            let took = started.elapsed();
            agent.release().await.unwrap();
            took
        });
        let mut received = std::collections::HashMap::<&str, usize>::new();
        for (i, how) in [
            Cancel::Timeout,
            Cancel::Abort,
            Cancel::Shutdown,
            Cancel::WithAgent,
        ]
        .into_iter()
        .enumerate()
        {
            for k in 1..=STEPS + 2 {
                let after = ceremony * k / STEPS;
                if cancelled(&app, how, after, (k as usize + i).is_multiple_of(2)) {
                    *received.entry(how.task()).or_default() += 1;
                }
            }
        }
        let audit = Audit::of(&broker);
        assert_eq!(
            audit.unreleased_agents(),
            Vec::<String>::new(),
            "agents registered and never released"
        );
        // The point of the test: registrations that reached the broker
        // while their caller was being cancelled (an agent the caller
        // never received, released by the SDK).
        let registered = |task: &str| {
            audit
                .all()
                .iter()
                .filter(|e| {
                    e.event_type == "agent_registered" && e.task_id.as_deref() == Some(task)
                })
                .count()
        };
        let orphans: usize = ["timeout", "abort"]
            .iter()
            .map(|task| registered(task) - received.get(task).copied().unwrap_or(0))
            .sum();
        assert!(
            orphans > 0,
            "no cancellation landed while a registration was in flight (ceremony {ceremony:?})"
        );
    }
}
