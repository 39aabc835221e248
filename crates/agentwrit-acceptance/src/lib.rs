//! The acceptance matrix that both transport crates pass.
//!
//! Every story is written once, generic over [`Sdk`]; [`Blocking`] and
//! [`Async`] adapt `agentwrit-blocking` and `agentwrit-async` to it, and
//! `tests/blocking.rs` and `tests/async.rs` instantiate the whole matrix
//! for each with [`acceptance_matrix!`].
//!
//! By default each story starts its own in-process development broker
//! on `127.0.0.1:0` (real rate limits on). With `AGENTWRIT_TEST_BROKER_URL`
//! and `AGENTWRIT_TEST_ADMIN_SECRET` set, the stories run against that
//! broker instead (`cargo xtask conformance`); stories that need the
//! development broker's manual clock then use a short real TTL.
#![forbid(unsafe_code)]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod adapters;
mod stories;

use std::sync::Arc;
use std::time::Duration;

use agentwrit_core::wire::{AdminSecret, CreateAppRequest};
use agentwrit_devbroker::{DevBroker, DevBrokerHandle, ManualClock};

pub use adapters::{AgentApi, Async, Blocking, DelegatedApi, Sdk};
pub use stories::*;

/// The universal sample app's scope ceiling.
pub const CEILING: [&str; 4] = [
    "read:data:*",
    "write:data:*",
    "read:analytics:*",
    "write:reports:*",
];

/// Where a story runs: a broker, an app registered on it, the admin
/// secret, and (in process) the broker's manual clock.
pub struct Env {
    pub url: String,
    pub admin_secret: AdminSecret,
    pub client_id: String,
    pub client_secret: String,
    pub clock: Option<Arc<ManualClock>>,
    _broker: Option<DevBrokerHandle>,
}

impl Env {
    /// A fresh environment: a new development broker, or an app registered
    /// on the external broker named by the environment.
    pub fn new<S: Sdk>() -> Env {
        let external = std::env::var("AGENTWRIT_TEST_BROKER_URL").ok();
        let (url, admin_secret, clock, broker) = match external {
            Some(url) => {
                let secret = std::env::var("AGENTWRIT_TEST_ADMIN_SECRET").expect(
                    "AGENTWRIT_TEST_ADMIN_SECRET must be set with AGENTWRIT_TEST_BROKER_URL",
                );
                (url, AdminSecret::from(secret), None, None)
            }
            None => {
                let clock = Arc::new(ManualClock::starting_now());
                let broker = DevBroker::builder()
                    .clock(clock.clone())
                    .start()
                    .expect("development broker starts");
                let url = broker.url().to_owned();
                let secret = broker.admin_secret().clone();
                (url, secret, Some(clock), Some(broker))
            }
        };
        let name = format!("acceptance-{}", unique());
        let app = S::operator_create_app(
            &url,
            &admin_secret,
            CreateAppRequest::new(name, CEILING.iter().map(|s| (*s).to_owned()).collect()),
        )
        .expect("registering the test app");
        Env {
            url,
            admin_secret,
            client_id: app.client_id,
            client_secret: app
                .client_secret
                .map(|s| s.expose_secret().to_owned())
                .unwrap_or_default(),
            clock,
            _broker: broker,
        }
    }

    /// Moves the broker's clock (in process) or waits (external broker).
    pub fn advance(&self, by: Duration) {
        match &self.clock {
            Some(clock) => clock.advance(by),
            // A real broker's clock cannot be moved: wait for it.
            None => std::thread::sleep(by),
        }
    }
}

/// A string unique within the process and across runs.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", nanos, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Declares one `#[test]` per story for an [`Sdk`].
#[macro_export]
macro_rules! acceptance_matrix {
    ($sdk:ty) => {
        $crate::acceptance_matrix!(@tests $sdk;
            create_agent, renew, release, validate_live_claims, delegate_narrower,
            delegate_beyond_scope, chain_a_b_c, same_scope_delegation, scope_gating,
            natural_expiry, problem_details, three_agents_isolated, renew_after_release,
            garbage_tokens, health, shared_app_under_rate_limits, scoped_release_on_error,
            scoped_release_on_panic, operator_flows, secrets_never_in_debug,
            invalid_input_is_local, auto_renewal, revoked_session_reauthenticates,
            dead_broker_is_a_transport_error);
    };
    (@tests $sdk:ty; $($story:ident),* $(,)?) => {
        $(
            #[test]
            fn $story() {
                $crate::$story::<$sdk>();
            }
        )*
    };
}

// The code snippets of `docs/`, compiled (and, where they have a `main`, run
// against a development broker) as doc tests, so they keep matching the API.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/getting-started.md")]
mod getting_started_md {}
#[cfg(doctest)]
#[doc = include_str!("../../../docs/guide.md")]
mod guide_md {}
#[cfg(doctest)]
#[doc = include_str!("../../../docs/architecture.md")]
mod architecture_md {}
