//! Renewing an agent's token: [`Renew`], the broker call, and
//! [`RenewInPlace`], which installs the new token in the agent (and
//! releases it again if the agent was released meanwhile).

use core::fmt;
use std::time::SystemTime;

use agentwrit_wire::{AccessToken, Claims, RenewResponse, paths};

use super::release::{Release, ReleaseOutcome};
use super::{SharedAgent, issued};
use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{Flow, Step, TransportFailure};
use crate::request::{Spec, check_token};
use crate::sync::lock;

/// A renewed token (from [`Renew`]): same agent, same scope and lifetime,
/// new jti; the previous token is revoked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Renewal {
    /// The new token.
    pub access_token: AccessToken,
    /// Lifetime in seconds (the old token's).
    pub expires_in: i64,
    /// Its `exp` claim.
    pub expires_at: SystemTime,
    /// When it arrived (local clock).
    pub received_at: SystemTime,
    /// Its claims.
    pub claims: Claims,
}

call_flow!(
    /// `POST /v1/token/renew` (Bearer, no body): a fresh token with the
    /// same subject, scope and lifetime; the presented token is revoked
    /// first. A dead token gets [`Error::Authentication`].
    ///
    /// Not retried after an ambiguous transport failure: the broker may
    /// have revoked the old token already.
    Renew -> Renewal
);

impl Renew {
    /// Renews `token`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the token is empty or not header-safe.
    pub fn new(config: &ClientConfig, token: &AccessToken) -> Result<Self, Error> {
        check_token("access_token", token)?;
        Ok(Self::unchecked(config, token))
    }

    pub(super) fn unchecked(config: &ClientConfig, token: &AccessToken) -> Self {
        let prepared = Spec::post(paths::RENEW).bearer(token).prepare(config);
        Renew(Call::new(
            "renew",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, ctx| {
                let reply = outcome?;
                let r: RenewResponse = reply.json()?;
                let i = issued(&reply, r.access_token, r.expires_in, ctx.now)?;
                Ok(Renewal {
                    access_token: i.access_token,
                    expires_in: i.expires_in,
                    expires_at: i.expires_at,
                    received_at: i.received_at,
                    claims: i.claims,
                })
            },
        ))
    }
}

enum RenewStage {
    Renewing(Renew),
    ReleasingOrphan(Release),
    Finished,
}

/// Renews an agent's token in place (from [`SharedAgent::renew_flow`]).
#[must_use = "a flow does nothing until a transport drives it"]
pub struct RenewInPlace {
    agent: SharedAgent,
    config: ClientConfig,
    stage: RenewStage,
}

impl fmt::Debug for RenewInPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenewInPlace").finish_non_exhaustive()
    }
}

impl RenewInPlace {
    /// Drives `flow`, a renewal of `agent`'s token (see
    /// [`SharedAgent::renew_flow`]).
    pub(super) fn new(agent: SharedAgent, config: &ClientConfig, flow: Renew) -> Self {
        RenewInPlace {
            agent,
            config: config.clone(),
            stage: RenewStage::Renewing(flow),
        }
    }

    fn on_renew(&mut self, step: Step<Renewal>, now: SystemTime) -> Step<()> {
        match step {
            Step::Done(Ok(renewal)) => {
                let orphan = renewal.access_token.clone();
                let applied = lock(&self.agent.state).apply_renewal(renewal);
                match applied {
                    Ok(()) => self.done(Ok(())),
                    Err(_) => {
                        // Released while renewing: the new token must not
                        // outlive the agent.
                        match Release::new(&self.config, &orphan) {
                            Ok(mut flow) => {
                                let step = flow.start(now);
                                self.stage = RenewStage::ReleasingOrphan(flow);
                                self.on_orphan(step)
                            }
                            Err(_) => self.done(Err(Error::Released)),
                        }
                    }
                }
            }
            other => {
                if other.is_done() {
                    self.stage = RenewStage::Finished;
                }
                other.map(|_| ())
            }
        }
    }

    fn on_orphan(&mut self, step: Step<ReleaseOutcome>) -> Step<()> {
        match step {
            Step::Done(_) => self.done(Err(Error::Released)),
            other => other.map(|_| ()),
        }
    }

    fn done(&mut self, result: Result<(), Error>) -> Step<()> {
        self.stage = RenewStage::Finished;
        Step::Done(result)
    }
}

impl Flow for RenewInPlace {
    type Output = ();

    fn name(&self) -> &'static str {
        match &self.stage {
            RenewStage::Renewing(f) => f.name(),
            RenewStage::ReleasingOrphan(f) => f.name(),
            RenewStage::Finished => "renew",
        }
    }

    fn start(&mut self, now: SystemTime) -> Step<()> {
        match &mut self.stage {
            RenewStage::Renewing(f) => {
                let step = f.start(now);
                self.on_renew(step, now)
            }
            _ => self.done(Err(Error::invalid_state("start called twice"))),
        }
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime) -> Step<()> {
        match &mut self.stage {
            RenewStage::Renewing(f) => {
                let step = f.handle_response(response, now);
                self.on_renew(step, now)
            }
            RenewStage::ReleasingOrphan(f) => {
                let step = f.handle_response(response, now);
                self.on_orphan(step)
            }
            RenewStage::Finished => self.done(Err(Error::invalid_state("flow has finished"))),
        }
    }

    fn resume(&mut self, now: SystemTime) -> Step<()> {
        match &mut self.stage {
            RenewStage::Renewing(f) => {
                let step = f.resume(now);
                self.on_renew(step, now)
            }
            RenewStage::ReleasingOrphan(f) => {
                let step = f.resume(now);
                self.on_orphan(step)
            }
            RenewStage::Finished => self.done(Err(Error::invalid_state("flow has finished"))),
        }
    }

    fn handle_transport_failure(
        &mut self,
        failure: TransportFailure,
        give_up: Error,
        now: SystemTime,
    ) -> Step<()> {
        match &mut self.stage {
            RenewStage::Renewing(f) => {
                let step = f.handle_transport_failure(failure, give_up, now);
                self.on_renew(step, now)
            }
            RenewStage::ReleasingOrphan(f) => {
                match f.handle_transport_failure(failure, give_up, now) {
                    // The orphan's release gave up: say why, not only `Released`.
                    Step::Done(Err(error)) => self.done(Err(error)),
                    step => self.on_orphan(step),
                }
            }
            RenewStage::Finished => self.done(Err(Error::invalid_state("flow has finished"))),
        }
    }
}
