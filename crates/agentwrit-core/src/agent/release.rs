//! Releasing a token: [`Release`], the broker call (a dead token counts as
//! released), and [`ReleaseInPlace`], which marks the agent released and
//! sends nothing the second time.

use core::fmt;
use std::time::SystemTime;

use agentwrit_wire::{AccessToken, paths};

use super::SharedAgent;
use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{Flow, Step, TransportFailure};
use crate::request::{Spec, check_token};
use crate::sync::lock;

/// What became of a released token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReleaseOutcome {
    /// 204: the broker revoked the token now.
    Released,
    /// 401: the broker no longer accepts the token — it was already
    /// released, renewed, revoked or has expired. Either way it is dead,
    /// which is what releasing wanted; not an error.
    AlreadyDead,
}

call_flow!(
    /// `POST /v1/token/release` (Bearer, no body): revoke the presented
    /// token. A 204 is [`ReleaseOutcome::Released`]; a 401 is
    /// [`ReleaseOutcome::AlreadyDead`] (the real broker answers a second
    /// release with 401 "token verification failed").
    ///
    /// Not retried after an ambiguous transport failure (no silent
    /// duplicate request); the caller may simply release again, which is
    /// safe because of the 401 rule.
    Release -> ReleaseOutcome
);

impl Release {
    /// Releases `token`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the token is empty or not header-safe.
    pub fn new(config: &ClientConfig, token: &AccessToken) -> Result<Self, Error> {
        check_token("access_token", token)?;
        Ok(Self::unchecked(config, token))
    }

    pub(super) fn unchecked(config: &ClientConfig, token: &AccessToken) -> Self {
        let prepared = Spec::post(paths::RELEASE).bearer(token).prepare(config);
        Release(Call::new(
            "release",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| match outcome {
                Ok(_) => Ok(ReleaseOutcome::Released),
                Err(Error::Authentication { .. }) => Ok(ReleaseOutcome::AlreadyDead),
                Err(e) => Err(e),
            },
        ))
    }
}

/// Releases an agent's token and marks the agent released (from
/// [`SharedAgent::release_flow`]). Idempotent: a released agent sends nothing.
///
/// When the transport gives up (a timeout: the release may or may not
/// have reached the broker), the agent stays unreleased so that a second
/// `release` sends it again, which is safe: a dead token answers 401,
/// which counts as released.
#[must_use = "a flow does nothing until a transport drives it"]
pub struct ReleaseInPlace {
    agent: SharedAgent,
    config: ClientConfig,
    /// The token being released (compared with the agent's when done).
    token: Option<AccessToken>,
    flow: Option<Release>,
    started: bool,
}

impl fmt::Debug for ReleaseInPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReleaseInPlace")
            .field("sends", &self.flow.is_some())
            .finish_non_exhaustive()
    }
}

impl ReleaseInPlace {
    /// Releases `agent`'s current token, or sends nothing when `token` is
    /// `None` (the agent is released already; see
    /// [`SharedAgent::release_flow`]).
    pub(super) fn new(
        agent: SharedAgent,
        config: &ClientConfig,
        token: Option<AccessToken>,
    ) -> Self {
        let flow = token.as_ref().map(|t| Release::unchecked(config, t));
        ReleaseInPlace {
            agent,
            config: config.clone(),
            token,
            flow,
            started: false,
        }
    }

    /// On a finished release, marks the agent released, unless a renewal
    /// racing it installed another token meanwhile (the broker then
    /// answered 401 to the replaced one): that token is released next, so
    /// that nothing the agent held stays alive.
    fn on(&mut self, mut step: Step<ReleaseOutcome>, now: SystemTime) -> Step<ReleaseOutcome> {
        loop {
            if !matches!(step, Step::Done(Ok(_))) {
                return step;
            }
            let mut state = lock(&self.agent.state);
            let current = state.access_token();
            if self
                .token
                .as_ref()
                .is_none_or(|sent| sent.expose_secret() == current.expose_secret())
            {
                state.mark_released();
                self.flow = None;
                return step;
            }
            let current = current.clone();
            drop(state);
            let mut flow = Release::unchecked(&self.config, &current);
            self.token = Some(current);
            step = flow.start(now);
            self.flow = Some(flow);
        }
    }
}

impl Flow for ReleaseInPlace {
    type Output = ReleaseOutcome;

    fn name(&self) -> &'static str {
        "release"
    }

    fn start(&mut self, now: SystemTime) -> Step<ReleaseOutcome> {
        if std::mem::replace(&mut self.started, true) {
            // Out of order: the inner flow (already started) answers with
            // `InvalidState` and finishes, so that nothing continues after
            // this `Done`.
            return match &mut self.flow {
                Some(f) => f.start(now),
                None => Step::Done(Err(Error::invalid_state("start called twice"))),
            };
        }
        match &mut self.flow {
            Some(f) => {
                let step = f.start(now);
                self.on(step, now)
            }
            None => Step::Done(Ok(ReleaseOutcome::AlreadyDead)),
        }
    }

    fn handle_response(
        &mut self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Step<ReleaseOutcome> {
        match &mut self.flow {
            Some(f) => {
                let step = f.handle_response(response, now);
                self.on(step, now)
            }
            None => Step::Done(Err(Error::invalid_state("no request in flight"))),
        }
    }

    fn resume(&mut self, now: SystemTime) -> Step<ReleaseOutcome> {
        match &mut self.flow {
            Some(f) => {
                let step = f.resume(now);
                self.on(step, now)
            }
            None => Step::Done(Err(Error::invalid_state("no wait in progress"))),
        }
    }

    fn handle_transport_failure(
        &mut self,
        failure: TransportFailure,
        give_up: Error,
        now: SystemTime,
    ) -> Step<ReleaseOutcome> {
        match &mut self.flow {
            Some(f) => {
                let step = f.handle_transport_failure(failure, give_up, now);
                self.on(step, now)
            }
            None => Step::Done(Err(Error::invalid_state("no request in flight"))),
        }
    }
}
