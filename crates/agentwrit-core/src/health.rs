//! The broker's health: [`Health`] (no credentials needed).

use agentwrit_wire::{HealthResponse, paths};

use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::request::Spec;

call_flow!(
    /// `GET /v1/health` (no auth): liveness, version, store and audit
    /// status. Idempotent.
    ///
    /// ```
    /// use agentwrit_core::{ClientConfig, Flow, Health, Step};
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let mut flow = Health::new(&config);
    /// let Step::Send(request) = flow.start(std::time::UNIX_EPOCH) else { unreachable!() };
    /// assert_eq!(request.method(), "GET");
    /// assert_eq!(request.uri(), "http://127.0.0.1:8080/v1/health");
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    Health -> HealthResponse
);

impl Health {
    /// Checks the broker's health.
    pub fn new(config: &ClientConfig) -> Self {
        let prepared = Spec::get(paths::HEALTH).prepare(config);
        Health(Call::new(
            "health",
            config,
            prepared,
            Idempotency::Idempotent,
            |outcome, _| outcome?.json(),
        ))
    }
}
