//! Keeping an agent's token fresh: [`AutoRenew`], which waits until 80 %
//! of the token's lifetime, renews in place, and again, until stopped.

use core::fmt;
use std::time::SystemTime;

use super::WeakAgent;
use super::renew::RenewInPlace;
use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{Flow, Step, TransportFailure};

/// Keeps an agent's token fresh (from
/// [`SharedAgent::auto_renew_flow`](crate::SharedAgent::auto_renew_flow)):
/// waits until
/// [`AgentState::next_renewal_at`](super::AgentState::next_renewal_at),
/// renews in place, and again, until the agent is released, renewal is
/// stopped, or the agent's last handle is gone. Its output is the number
/// of renewals made.
///
/// It holds the agent through a weak reference, so a worker driving it
/// never keeps the agent alive: when every
/// [`SharedAgent`](crate::SharedAgent) of the agent has been dropped, its
/// next step finishes the flow without a request.
///
/// A transport runs it on a worker (a thread or a task) and wakes that
/// worker early after
/// [`SharedAgent::stop_auto_renewal`](crate::SharedAgent::stop_auto_renewal)
/// or a release;
/// the flow answers an early [`Flow::resume`] with the same wait, or with
/// `Done` when it was stopped.
#[must_use = "a flow does nothing until a transport drives it"]
pub struct AutoRenew {
    agent: WeakAgent,
    config: ClientConfig,
    renewing: Option<RenewInPlace>,
    renewals: u64,
    /// `start` has been called.
    started: bool,
    /// The flow has returned `Done` or given up: every later call is out
    /// of order.
    finished: bool,
}

impl fmt::Debug for AutoRenew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoRenew")
            .field("renewing", &self.renewing.is_some())
            .field("renewals", &self.renewals)
            .finish_non_exhaustive()
    }
}

impl AutoRenew {
    /// Auto-renewal of `agent` (see `SharedAgent::auto_renew_flow`).
    pub(super) fn new(agent: WeakAgent, config: &ClientConfig) -> Self {
        AutoRenew {
            agent,
            config: config.clone(),
            renewing: None,
            renewals: 0,
            started: false,
            finished: false,
        }
    }

    fn schedule(&mut self, now: SystemTime) -> Step<u64> {
        if self.agent.renewal_stopped() {
            return Step::Done(Ok(self.renewals));
        }
        // Every handle gone: nobody uses the token any more; it expires.
        let Some(agent) = self.agent.upgrade() else {
            return Step::Done(Ok(self.renewals));
        };
        match agent.read(|s| s.next_renewal_at(now)) {
            Some(until) if until > now => Step::Wait { until },
            Some(_) => match agent.renew_flow(&self.config) {
                Ok(mut flow) => {
                    let step = flow.start(now);
                    self.renewing = Some(flow);
                    self.on_renew(step, now)
                }
                Err(Error::Released) => Step::Done(Ok(self.renewals)),
                Err(e) => Step::Done(Err(e)),
            },
            None => Step::Done(Ok(self.renewals)),
        }
    }

    fn on_renew(&mut self, step: Step<()>, now: SystemTime) -> Step<u64> {
        match step {
            Step::Send(request) => Step::Send(request),
            Step::Wait { until } => Step::Wait { until },
            Step::Done(Ok(())) => {
                self.renewing = None;
                self.renewals = self.renewals.saturating_add(1);
                self.schedule(now)
            }
            Step::Done(Err(Error::Released)) => {
                self.renewing = None;
                Step::Done(Ok(self.renewals))
            }
            Step::Done(Err(e)) => {
                self.renewing = None;
                Step::Done(Err(e))
            }
        }
    }
}

impl Flow for AutoRenew {
    type Output = u64;

    fn name(&self) -> &'static str {
        match &self.renewing {
            Some(f) => f.name(),
            None => "auto_renew.wait",
        }
    }

    fn start(&mut self, now: SystemTime) -> Step<u64> {
        if std::mem::replace(&mut self.started, true) || self.finished {
            return self.track(Step::Done(Err(Error::invalid_state("start called twice"))));
        }
        let step = self.schedule(now);
        self.track(step)
    }

    fn handle_response(&mut self, response: http::Response<Vec<u8>>, now: SystemTime) -> Step<u64> {
        let step = match &mut self.renewing {
            Some(f) if !self.finished => {
                let step = f.handle_response(response, now);
                self.on_renew(step, now)
            }
            _ => Step::Done(Err(Error::invalid_state("no request in flight"))),
        };
        self.track(step)
    }

    fn resume(&mut self, now: SystemTime) -> Step<u64> {
        let step = match &mut self.renewing {
            _ if self.finished || !self.started => {
                Step::Done(Err(Error::invalid_state("resume called without a wait")))
            }
            Some(f) => {
                let step = f.resume(now);
                self.on_renew(step, now)
            }
            None => self.schedule(now),
        };
        self.track(step)
    }

    fn handle_transport_failure(
        &mut self,
        failure: TransportFailure,
        give_up: Error,
        now: SystemTime,
    ) -> Step<u64> {
        let step = match &mut self.renewing {
            Some(f) if !self.finished => {
                let step = f.handle_transport_failure(failure, give_up, now);
                self.on_renew(step, now)
            }
            _ => Step::Done(Err(Error::invalid_state(
                "handle_transport_failure called without a request in flight",
            ))),
        };
        self.track(step)
    }
}

impl AutoRenew {
    /// Remembers that the flow has finished when `step` is `Done`, so that
    /// every later call is out of order (as the [`Flow`] contract says).
    fn track(&mut self, step: Step<u64>) -> Step<u64> {
        if step.is_done() {
            self.finished = true;
        }
        step
    }
}
