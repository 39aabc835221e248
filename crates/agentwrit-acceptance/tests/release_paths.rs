//! "Released on every path", checked at the broker on both transports.
//!
//! Each scenario ends a task one way — a guard dropped after an explicit
//! release, a guard dropped with live delegations, a panic or an early
//! `?` inside `with_agent`, an aborted task, a runtime shutting down, a
//! guard dropped outside any runtime, a renewal racing the release — and
//! hands back every token that must be dead afterwards. The table runs
//! them all against one development broker and asks the broker (the
//! validation endpoint) about each token. Every failing scenario is named
//! in the one panic message, so a regression in one transport shows
//! which path broke.
//!
//! That the async guard's drop does not block a worker of a live runtime
//! (a current-thread runtime that also serves the broker's proxy, a
//! multi-thread runtime with every worker busy) is checked in
//! `lifetimes.rs` (`guard_drop`), at the audit trail.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Barrier, Mutex};

use agentwrit_core::Error;
use agentwrit_devbroker::DevBroker;

/// What a scenario needs: the broker and an app's credentials.
struct Env {
    url: String,
    client_id: String,
    client_secret: String,
}

/// A token that must be dead, with what it is (for the failure message).
type Expect = Vec<(&'static str, String)>;

type Scenario = fn(&Env) -> Expect;

const DELEGATED: [&str; 1] = ["read:data:reports"];
const SCOPE: [&str; 1] = ["read:data:*"];

mod blocking {
    use super::*;
    use agentwrit_blocking::App;

    fn app(env: &Env) -> App {
        App::new(&env.url, &env.client_id, &env.client_secret).unwrap()
    }

    fn token(agent: &agentwrit_blocking::Agent) -> String {
        agent.access_token().expose_secret().to_owned()
    }

    pub fn guard_dropped_after_explicit_release(env: &Env) -> Expect {
        let app = app(env);
        let b = app.create_agent("paths", "b", &SCOPE).unwrap();
        let guard = app
            .create_agent("paths", "a", &SCOPE)
            .unwrap()
            .release_on_drop();
        let to_b = guard.delegate(&b.agent_id(), &DELEGATED, None).unwrap();
        guard.release().unwrap();
        let agent = token(&guard);
        drop(guard);
        b.release().unwrap();
        vec![
            ("agent", agent),
            ("delegated", to_b.access_token().expose_secret().to_owned()),
        ]
    }

    pub fn guard_dropped_with_live_delegations(env: &Env) -> Expect {
        let app = app(env);
        let b = app.create_agent("paths", "b", &SCOPE).unwrap();
        let c = app.create_agent("paths", "c", &SCOPE).unwrap();
        let guard = app
            .create_agent("paths", "a", &SCOPE)
            .unwrap()
            .release_on_drop();
        let to_b = guard.delegate(&b.agent_id(), &SCOPE, None).unwrap();
        let to_c = to_b.delegate(&c.agent_id(), &DELEGATED, None).unwrap();
        let agent = token(&guard);
        drop(guard);
        b.release().unwrap();
        c.release().unwrap();
        vec![
            ("agent", agent),
            ("a -> b", to_b.access_token().expose_secret().to_owned()),
            ("b -> c", to_c.access_token().expose_secret().to_owned()),
        ]
    }

    pub fn panic_inside_with_agent(env: &Env) -> Expect {
        let app = app(env);
        let b = app.create_agent("paths", "b", &SCOPE).unwrap();
        let seen = Mutex::new(Vec::new());
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            app.with_agent("paths", "a", &SCOPE, |agent| {
                let to_b = agent.delegate(&b.agent_id(), &DELEGATED, None)?;
                seen.lock().unwrap().extend([
                    ("agent", token(agent)),
                    ("delegated", to_b.access_token().expose_secret().to_owned()),
                ]);
                if !agent.agent_id().is_empty() {
                    panic!("the work panics on purpose");
                }
                Ok::<(), Error>(())
            })
        }));
        assert!(result.is_err());
        b.release().unwrap();
        seen.into_inner().unwrap()
    }

    pub fn early_return_inside_with_agent(env: &Env) -> Expect {
        let app = app(env);
        let b = app.create_agent("paths", "b", &SCOPE).unwrap();
        let mut seen = Vec::new();
        let result = app.with_agent("paths", "a", &SCOPE, |agent| {
            let to_b = agent.delegate(&b.agent_id(), &DELEGATED, None)?;
            seen.extend([
                ("agent", token(agent)),
                ("delegated", to_b.access_token().expose_secret().to_owned()),
            ]);
            // A failing call, propagated with `?`.
            agent.delegate(&b.agent_id(), &["write:data:x"], None)?;
            Ok::<(), Error>(())
        });
        assert!(matches!(result, Err(Error::Authorization { .. })));
        b.release().unwrap();
        seen
    }

    pub fn renewal_racing_release(env: &Env) -> Expect {
        let app = app(env);
        let agent = app.create_agent("paths", "a", &SCOPE).unwrap();
        let first = token(&agent);
        let barrier = Arc::new(Barrier::new(2));
        let renewer = {
            let (agent, barrier) = (agent.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                // Either order is fine: renewed then released, or
                // released first (the renewal then fails).
                let _ = agent.renew();
            })
        };
        barrier.wait();
        agent.release_task().unwrap();
        renewer.join().unwrap();
        vec![("first token", first), ("current token", token(&agent))]
    }
}

mod asynchronous {
    use super::*;
    use agentwrit_async::App;
    use tokio::runtime::{Builder, Runtime};

    fn multi_thread() -> Runtime {
        Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    fn current_thread() -> Runtime {
        Builder::new_current_thread().enable_all().build().unwrap()
    }

    fn app(env: &Env) -> App {
        App::new(&env.url, &env.client_id, &env.client_secret).unwrap()
    }

    fn token(agent: &agentwrit_async::Agent) -> String {
        agent.access_token().expose_secret().to_owned()
    }

    pub fn guard_dropped_after_explicit_release(env: &Env) -> Expect {
        multi_thread().block_on(async {
            let app = app(env);
            let b = app.create_agent("paths", "b", &SCOPE).await.unwrap();
            let guard = app
                .create_agent("paths", "a", &SCOPE)
                .await
                .unwrap()
                .release_on_drop();
            let to_b = guard
                .delegate(&b.agent_id(), &DELEGATED, None)
                .await
                .unwrap();
            guard.release().await.unwrap();
            let agent = token(&guard);
            drop(guard);
            b.release().await.unwrap();
            vec![
                ("agent", agent),
                ("delegated", to_b.access_token().expose_secret().to_owned()),
            ]
        })
    }

    /// As `main` in `#[tokio::main]`: the guard lives to the end of the
    /// runtime's root future, and the runtime is dropped right after.
    fn guard_dropped_as_main_returns(env: &Env, runtime: Runtime) -> Expect {
        let expect = runtime.block_on(async {
            let app = app(env);
            let b = app.create_agent("paths", "b", &SCOPE).await.unwrap();
            let c = app.create_agent("paths", "c", &SCOPE).await.unwrap();
            let guard = app
                .create_agent("paths", "a", &SCOPE)
                .await
                .unwrap()
                .release_on_drop();
            let to_b = guard.delegate(&b.agent_id(), &SCOPE, None).await.unwrap();
            let to_c = to_b
                .delegate(&c.agent_id(), &DELEGATED, None)
                .await
                .unwrap();
            b.release().await.unwrap();
            c.release().await.unwrap();
            vec![
                ("agent", token(&guard)),
                ("a -> b", to_b.access_token().expose_secret().to_owned()),
                ("b -> c", to_c.access_token().expose_secret().to_owned()),
            ]
            // `guard` is dropped here, as the root future completes.
        });
        drop(runtime);
        expect
    }

    pub fn guard_dropped_with_live_delegations_multi_thread(env: &Env) -> Expect {
        guard_dropped_as_main_returns(env, multi_thread())
    }

    pub fn guard_dropped_with_live_delegations_current_thread(env: &Env) -> Expect {
        guard_dropped_as_main_returns(env, current_thread())
    }

    pub fn panic_inside_with_agent(env: &Env) -> Expect {
        let runtime = multi_thread();
        let app = app(env);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let inner = seen.clone();
        runtime.block_on(async move {
            let b = app.create_agent("paths", "b", &SCOPE).await.unwrap();
            let b_id = b.agent_id();
            let work = tokio::spawn(async move {
                app.with_agent("paths", "a", &SCOPE, async |agent| {
                    let to_b = agent.delegate(&b_id, &DELEGATED, None).await?;
                    inner.lock().unwrap().extend([
                        ("agent", token(agent)),
                        ("delegated", to_b.access_token().expose_secret().to_owned()),
                    ]);
                    if !agent.agent_id().is_empty() {
                        panic!("the work panics on purpose");
                    }
                    Ok::<(), Error>(())
                })
                .await
            });
            assert!(work.await.unwrap_err().is_panic());
            b.release().await.unwrap();
        });
        drop(runtime);
        std::mem::take(&mut *seen.lock().unwrap())
    }

    pub fn early_return_inside_with_agent(env: &Env) -> Expect {
        current_thread().block_on(async {
            let app = app(env);
            let b = app.create_agent("paths", "b", &SCOPE).await.unwrap();
            let mut seen = Vec::new();
            let result = app
                .with_agent("paths", "a", &SCOPE, async |agent| {
                    let to_b = agent.delegate(&b.agent_id(), &DELEGATED, None).await?;
                    seen.extend([
                        ("agent", token(agent)),
                        ("delegated", to_b.access_token().expose_secret().to_owned()),
                    ]);
                    agent
                        .delegate(&b.agent_id(), &["write:data:x"], None)
                        .await?;
                    Ok::<(), Error>(())
                })
                .await;
            assert!(matches!(result, Err(Error::Authorization { .. })));
            b.release().await.unwrap();
            seen
        })
    }

    /// A task holding a guard, parked forever once it has told what it
    /// holds.
    async fn spawn_holder(
        app: App,
        b_id: String,
        seen: Arc<Mutex<Expect>>,
        ready: tokio::sync::oneshot::Sender<()>,
    ) {
        let guard = app
            .create_agent("paths", "a", &SCOPE)
            .await
            .unwrap()
            .release_on_drop();
        let to_b = guard.delegate(&b_id, &DELEGATED, None).await.unwrap();
        seen.lock().unwrap().extend([
            ("agent", token(&guard)),
            ("delegated", to_b.access_token().expose_secret().to_owned()),
        ]);
        let _ = ready.send(());
        std::future::pending::<()>().await;
        drop(guard);
    }

    pub fn task_aborted(env: &Env) -> Expect {
        let runtime = multi_thread();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = app(env);
        let inner = seen.clone();
        runtime.block_on(async move {
            let b = app.create_agent("paths", "b", &SCOPE).await.unwrap();
            let (ready, is_ready) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(spawn_holder(app.clone(), b.agent_id(), inner, ready));
            is_ready.await.unwrap();
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            b.release().await.unwrap();
        });
        let expect = std::mem::take(&mut *seen.lock().unwrap());
        drop(runtime);
        expect
    }

    pub fn runtime_shut_down(env: &Env) -> Expect {
        let runtime = multi_thread();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = app(env);
        let inner = seen.clone();
        let b = runtime.block_on(async {
            let b = app.create_agent("paths", "b", &SCOPE).await.unwrap();
            let (ready, is_ready) = tokio::sync::oneshot::channel();
            tokio::spawn(spawn_holder(app.clone(), b.agent_id(), inner, ready));
            is_ready.await.unwrap();
            b
        });
        // The runtime stops with the task still parked: its future (and
        // the guard in it) is dropped during the shutdown.
        drop(runtime);
        current_thread().block_on(b.release()).unwrap();
        std::mem::take(&mut *seen.lock().unwrap())
    }

    pub fn guard_dropped_outside_any_runtime(env: &Env) -> Expect {
        let runtime = current_thread();
        let (guard, to_b, b) = runtime.block_on(async {
            let app = app(env);
            let b = app.create_agent("paths", "b", &SCOPE).await.unwrap();
            let guard = app
                .create_agent("paths", "a", &SCOPE)
                .await
                .unwrap()
                .release_on_drop();
            let to_b = guard
                .delegate(&b.agent_id(), &DELEGATED, None)
                .await
                .unwrap();
            (guard, to_b, b)
        });
        drop(runtime);
        let agent = token(&guard);
        drop(guard); // no runtime at all on this thread now
        current_thread().block_on(b.release()).unwrap();
        vec![
            ("agent", agent),
            ("delegated", to_b.access_token().expose_secret().to_owned()),
        ]
    }

    pub fn renewal_racing_release(env: &Env) -> Expect {
        multi_thread().block_on(async {
            let app = app(env);
            let agent = app.create_agent("paths", "a", &SCOPE).await.unwrap();
            let first = token(&agent);
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let renewer = {
                let (agent, barrier) = (agent.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let _ = agent.renew().await;
                })
            };
            barrier.wait().await;
            agent.release_task().await.unwrap();
            renewer.await.unwrap();
            vec![("first token", first), ("current token", token(&agent))]
        })
    }
}

const SCENARIOS: &[(&str, Scenario)] = &[
    (
        "blocking: guard dropped after explicit release",
        blocking::guard_dropped_after_explicit_release,
    ),
    (
        "blocking: guard dropped with live delegations",
        blocking::guard_dropped_with_live_delegations,
    ),
    (
        "blocking: panic inside with_agent",
        blocking::panic_inside_with_agent,
    ),
    (
        "blocking: early ? inside with_agent",
        blocking::early_return_inside_with_agent,
    ),
    (
        "blocking: renewal racing a release",
        blocking::renewal_racing_release,
    ),
    (
        "async: guard dropped after explicit release",
        asynchronous::guard_dropped_after_explicit_release,
    ),
    (
        "async: guard dropped with live delegations as main returns (multi-thread)",
        asynchronous::guard_dropped_with_live_delegations_multi_thread,
    ),
    (
        "async: guard dropped with live delegations as main returns (current-thread)",
        asynchronous::guard_dropped_with_live_delegations_current_thread,
    ),
    (
        "async: panic inside with_agent",
        asynchronous::panic_inside_with_agent,
    ),
    (
        "async: early ? inside with_agent",
        asynchronous::early_return_inside_with_agent,
    ),
    ("async: task aborted", asynchronous::task_aborted),
    ("async: runtime shut down", asynchronous::runtime_shut_down),
    (
        "async: guard dropped outside any runtime",
        asynchronous::guard_dropped_outside_any_runtime,
    ),
    (
        "async: renewal racing a release",
        asynchronous::renewal_racing_release,
    ),
];

#[test]
fn every_path_leaves_no_live_token_at_the_broker() {
    // Every scenario logs its own apps in (one runtime each): no auth rate limit.
    let broker = DevBroker::builder().no_rate_limits().start().unwrap();
    let reg = broker.register_universal_app().unwrap();
    let env = Env {
        url: broker.url().to_owned(),
        client_id: reg.client_id.clone(),
        client_secret: reg.client_secret.expose_secret().to_owned(),
    };
    let checker =
        agentwrit_blocking::App::new(&env.url, &env.client_id, &env.client_secret).unwrap();
    let mut failures = Vec::new();
    for (name, scenario) in SCENARIOS {
        let expect = scenario(&env);
        assert!(!expect.is_empty(), "{name}: the scenario saw no token");
        for (what, token) in expect {
            if checker.validate(token.as_str()).unwrap().is_valid() {
                failures.push(format!("{name}: the {what} is still alive"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "tokens left alive:\n  {}",
        failures.join("\n  ")
    );
}
