//! What the fault and secret tests share: the hostile server, the
//! transports' builders behind one trait, and a watchdog.
#![allow(dead_code)]

pub mod hostile;

use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use agentwrit_acceptance::{Async, Blocking, Sdk};
use agentwrit_core::wire::{AdminSecret, LaunchTokenRequest, LaunchTokenResponse};
use agentwrit_core::{Error, RetryPolicy};

/// What the acceptance [`Sdk`] lacks: clients built with a short timeout
/// and a chosen retry policy, and the transport-specific types to format.
pub trait Hardened: Sdk {
    /// An app with this overall timeout (and connect timeout) and policy.
    fn app_with(
        url: &str,
        client_id: &str,
        secret: &str,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Self::App;
    /// `validate` through a `Validator` built with this timeout.
    fn validate_with(
        url: &str,
        token: &str,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<agentwrit_core::Validation, Error>;
    /// A launch token minted with the app's session.
    fn app_launch_token(
        app: &Self::App,
        request: LaunchTokenRequest,
    ) -> Result<LaunchTokenResponse, Error>;
    /// The app's cached session token.
    fn app_session_token(app: &Self::App) -> Option<String>;
    /// `{:?}` of the transport's own types that the matrix does not hold:
    /// a `BrokerBuilder`, a `Broker`, an `App` and an `Operator` made from
    /// it (holding the secrets), an `AgentGuard`, and the
    /// app's core.
    fn render_transport_types(
        app: &Self::App,
        agent: Self::Agent,
        url: &str,
        client_secret: &str,
        admin_secret: &AdminSecret,
    ) -> String;
}

macro_rules! hardened {
    ($sdk:ty, $krate:ident, [$($block:tt)*]) => {
        impl Hardened for $sdk {
            fn app_with(
                url: &str,
                client_id: &str,
                secret: &str,
                timeout: Duration,
                retry: RetryPolicy,
            ) -> Self::App {
                $krate::Broker::builder(url)
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .retry(retry)
                    .build()
                    .unwrap()
                    .app(client_id, secret)
                    .unwrap()
            }

            fn validate_with(
                url: &str,
                token: &str,
                timeout: Duration,
                retry: RetryPolicy,
            ) -> Result<agentwrit_core::Validation, Error> {
                // A validator on an app's transport: the app's timeout
                // and policy, no app credentials used.
                let app = Self::app_with(url, "validator", "unused", timeout, retry);
                Self::validate(&app, token)
            }

            fn app_launch_token(
                app: &Self::App,
                request: LaunchTokenRequest,
            ) -> Result<LaunchTokenResponse, Error> {
                hardened!(@run [$($block)*] app.launch_token(request))
            }

            fn app_session_token(app: &Self::App) -> Option<String> {
                let session = app.sansio().session().session()?;
                Some(session.access_token.expose_secret().to_owned())
            }

            fn render_transport_types(
                app: &Self::App,
                agent: Self::Agent,
                url: &str,
                client_secret: &str,
                admin_secret: &AdminSecret,
            ) -> String {
                let broker_builder = $krate::Broker::builder(url)
                    .timeout(Duration::from_secs(3))
                    .user_agent("secrets-test/1");
                let broker = $krate::Broker::new(url).unwrap();
                let new_app = broker.app(app.client_id(), client_secret).unwrap();
                let operator = broker.operator(admin_secret.clone()).unwrap();
                let guard = agent.release_on_drop();
                let rendered = format!(
                    "{broker_builder:?} {broker:?} {new_app:?} {operator:?} {guard:?} {:?} {:?} {:?}",
                    app.sansio(),
                    app.sansio().config(),
                    app.sansio().session(),
                );
                // Released by the guard's drop; the outcome is the test's
                // business elsewhere.
                drop(guard);
                rendered
            }
        }
    };
    (@run [block_on] $e:expr) => {
        agentwrit_acceptance_rt_block_on($e)
    };
    (@run [] $e:expr) => {
        $e
    };
}

hardened!(Blocking, agentwrit_blocking, []);
hardened!(Async, agentwrit_async, [block_on]);

/// Runs a future of the async client to completion on a runtime of its
/// own thread (the calls here are short).
fn agentwrit_acceptance_rt_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `call` on its own thread and waits for it at most `bound`: a call
/// that hangs fails the test (instead of hanging it), a panic inside is
/// re-raised here. Returns the result and how long it took.
pub fn within<T: Send + 'static>(
    what: &str,
    bound: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> (T, Duration) {
    let (tx, rx) = channel();
    let started = Instant::now();
    let handle = std::thread::spawn(move || {
        let out = call();
        let _ = tx.send(out);
    });
    match rx.recv_timeout(bound) {
        Ok(out) => {
            let took = started.elapsed();
            handle.join().unwrap();
            (out, took)
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: no answer within {bound:?}: the client hung")
        }
        Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the call thread ended without an answer"),
        },
    }
}
