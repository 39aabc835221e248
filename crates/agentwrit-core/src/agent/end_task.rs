//! Ending a task: [`EndTask`], the one place that decides which tokens
//! are released when an agent's work is over, in which order, and what
//! is reported.

use core::fmt;
use std::time::SystemTime;

use super::SharedAgent;
use super::delegate::DelegatedToken;
use super::release::{Release, ReleaseInPlace, ReleaseOutcome};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{Flow, Step, TransportFailure};

/// Ends an agent's task, or releases the agent alone (from
/// [`SharedAgent::end_task_flow`] and [`SharedAgent::release_agent_flow`]).
///
/// What every transport's `release_task()`, `release()`, `with_agent`
/// and release guard drive, so the rules live here once:
///
/// * **which tokens**: for a task, every token the agent delegated (and
///   those delegated onwards from them, [`SharedAgent::track_delegation`])
///   that has not been released by an earlier end of the task, then the
///   agent; for `release()`, the agent only. An agent released already
///   sends nothing for itself, but its delegations are still released.
/// * **in which order**: the most recent delegation first (an onward hop
///   before the token it came from), the agent last;
/// * **failures**: each release is attempted whatever happened to the
///   others, a transport failure included; the flow finishes with the
///   first error, else with the agent's [`ReleaseOutcome`]. A delegated
///   token whose release failed is tracked again, so that ending the task
///   once more retries it; an agent whose release failed stays unreleased
///   (as [`ReleaseInPlace`]).
///
/// A 401 on any release means the token was already dead and counts as
/// released. Auto-renewal is told to stop as soon as the flow is built.
///
/// ```
/// # use agentwrit_core::*;
/// # fn demo(agent: SharedAgent, config: &ClientConfig) {
/// let end = agent.end_task_flow(config); // drive it: delegations, then the agent
/// assert!(end.releases_left() >= 1); // the agent's own release is always planned
/// # }
/// ```
#[must_use = "a flow does nothing until a transport drives it"]
pub struct EndTask {
    agent: SharedAgent,
    config: ClientConfig,
    /// Still to release; the next one is the last.
    delegations: Vec<DelegatedToken>,
    /// Whether the agent's own release is still to come.
    agent_pending: bool,
    current: Current,
    outcome: ReleaseOutcome,
    first_error: Option<Error>,
    started: bool,
    finished: bool,
}

// One per flow, replaced per release: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
enum Current {
    Idle,
    Delegated(Box<DelegatedToken>, Release),
    Agent(ReleaseInPlace),
}

impl fmt::Debug for EndTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndTask")
            .field("delegations_left", &self.delegations.len())
            .field("agent_pending", &self.agent_pending)
            .field("failed", &self.first_error.is_some())
            .finish_non_exhaustive()
    }
}

impl EndTask {
    pub(super) fn new(agent: SharedAgent, config: &ClientConfig, whole_task: bool) -> Self {
        agent.stop_auto_renewal();
        let delegations = if whole_task {
            agent.take_delegations()
        } else {
            Vec::new()
        };
        EndTask {
            agent,
            config: config.clone(),
            delegations,
            agent_pending: true,
            current: Current::Idle,
            outcome: ReleaseOutcome::AlreadyDead,
            first_error: None,
            started: false,
            finished: false,
        }
    }

    /// How many requests this flow may still send (one per token left),
    /// for a transport that bounds how long it waits for the whole flow.
    #[must_use]
    pub fn releases_left(&self) -> usize {
        self.delegations.len()
            + usize::from(self.agent_pending)
            + usize::from(!matches!(self.current, Current::Idle))
    }

    fn record(&mut self, error: Error) {
        self.first_error.get_or_insert(error);
    }

    /// The first step of the next release, or `None` when none is left.
    fn start_next(&mut self, now: SystemTime) -> Option<Step<ReleaseOutcome>> {
        while let Some(token) = self.delegations.pop() {
            match token.release_flow(&self.config) {
                Ok(mut flow) => {
                    let step = flow.start(now);
                    self.current = Current::Delegated(Box::new(token), flow);
                    return Some(step);
                }
                Err(error) => self.record(error),
            }
        }
        if std::mem::take(&mut self.agent_pending) {
            let mut flow = self.agent.release_flow(&self.config);
            let step = flow.start(now);
            self.current = Current::Agent(flow);
            return Some(step);
        }
        None
    }

    /// Takes note of how the current release finished.
    fn settle(&mut self, result: Result<ReleaseOutcome, Error>) {
        match (std::mem::replace(&mut self.current, Current::Idle), result) {
            (Current::Delegated(..), Ok(_)) | (Current::Idle, Ok(_)) => {}
            (Current::Delegated(token, _), Err(error)) => {
                if !matches!(error, Error::InvalidInput { .. }) {
                    self.agent.track_delegation(&token);
                }
                self.record(error);
            }
            (Current::Agent(_), Ok(outcome)) => self.outcome = outcome,
            (Current::Agent(_), Err(error)) | (Current::Idle, Err(error)) => self.record(error),
        }
    }

    /// Passes `Send` and `Wait` through; on a `Done`, moves on to the next
    /// release, and finishes when there is none.
    fn advance(&mut self, mut step: Step<ReleaseOutcome>, now: SystemTime) -> Step<ReleaseOutcome> {
        loop {
            match step {
                Step::Done(result) => {
                    self.settle(result);
                    match self.start_next(now) {
                        Some(next) => step = next,
                        None => return self.finish(),
                    }
                }
                other => return other,
            }
        }
    }

    fn finish(&mut self) -> Step<ReleaseOutcome> {
        self.finished = true;
        Step::Done(match self.first_error.take() {
            Some(error) => Err(error),
            None => Ok(self.outcome),
        })
    }

    fn out_of_order(&mut self, reason: &'static str) -> Step<ReleaseOutcome> {
        self.finished = true;
        Step::Done(Err(Error::invalid_state(reason)))
    }
}

impl Flow for EndTask {
    type Output = ReleaseOutcome;

    fn name(&self) -> &'static str {
        match self.current {
            Current::Delegated(..) => "release_task.delegated",
            Current::Agent(_) | Current::Idle => "release",
        }
    }

    fn start(&mut self, now: SystemTime) -> Step<ReleaseOutcome> {
        if std::mem::replace(&mut self.started, true) || self.finished {
            return self.out_of_order("start called twice");
        }
        match self.start_next(now) {
            Some(step) => self.advance(step, now),
            None => self.finish(),
        }
    }

    fn handle_response(
        &mut self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Step<ReleaseOutcome> {
        let step = match &mut self.current {
            Current::Delegated(_, flow) => flow.handle_response(response, now),
            Current::Agent(flow) => flow.handle_response(response, now),
            Current::Idle => return self.out_of_order("no request in flight"),
        };
        self.advance(step, now)
    }

    fn resume(&mut self, now: SystemTime) -> Step<ReleaseOutcome> {
        let step = match &mut self.current {
            Current::Delegated(_, flow) => flow.resume(now),
            Current::Agent(flow) => flow.resume(now),
            Current::Idle => return self.out_of_order("no wait in progress"),
        };
        self.advance(step, now)
    }

    fn handle_transport_failure(
        &mut self,
        failure: TransportFailure,
        give_up: Error,
        now: SystemTime,
    ) -> Step<ReleaseOutcome> {
        let step = match &mut self.current {
            Current::Delegated(_, flow) => flow.handle_transport_failure(failure, give_up, now),
            Current::Agent(flow) => flow.handle_transport_failure(failure, give_up, now),
            Current::Idle => return self.out_of_order("no request in flight"),
        };
        self.advance(step, now)
    }
}

impl SharedAgent {
    /// A flow ending the agent's task ([`EndTask`]): every token it
    /// delegated that is still tracked, most recent first, then the agent.
    /// Takes the tracked delegations (a failed one is tracked again).
    pub fn end_task_flow(&self, config: &ClientConfig) -> EndTask {
        EndTask::new(self.clone(), config, true)
    }

    /// A flow releasing the agent alone ([`EndTask`] without the
    /// delegations, which stay tracked for the end of the task). On a
    /// released agent it sends nothing and finishes with
    /// [`ReleaseOutcome::AlreadyDead`].
    pub fn release_agent_flow(&self, config: &ClientConfig) -> EndTask {
        EndTask::new(self.clone(), config, false)
    }

    /// Whether ending the task would still send anything: the agent is not
    /// released, or a token it delegated is still tracked.
    #[must_use]
    pub fn has_pending_release(&self) -> bool {
        !self.is_released() || !crate::sync::lock(&self.delegations).is_empty()
    }
}

/// What `with_agent` returns once `work` has finished and the task has
/// been ended: `work`'s error if it failed (it wins over a failed
/// release), else the release's error, else `work`'s value. Both
/// transports' `with_agent` return this, so the precedence is decided
/// here once.
///
/// ```
/// use agentwrit_core::{Error, ReleaseOutcome, task_result};
///
/// let released = || Ok(ReleaseOutcome::Released);
/// let failed = || Err(Error::Released);
/// assert_eq!(task_result::<_, Error>(Ok(7), released()).unwrap(), 7);
/// assert!(matches!(task_result::<i32, Error>(Ok(7), failed()), Err(Error::Released)));
/// let work: Result<i32, Error> = Err(Error::invalid_input("x", "bad"));
/// assert!(matches!(task_result(work, failed()), Err(Error::InvalidInput { .. })));
/// ```
///
/// # Errors
///
/// `work`'s error, else the release's.
pub fn task_result<T, E: From<Error>>(
    work: Result<T, E>,
    released: Result<ReleaseOutcome, Error>,
) -> Result<T, E> {
    let output = work?;
    released?;
    Ok(output)
}

impl Drop for EndTask {
    /// A flow dropped before it finished (a cancelled future, a runtime
    /// shutting down) hands the delegated tokens it had not settled back
    /// to the agent, so that the next end of the task (a release guard's
    /// drop) still releases them.
    fn drop(&mut self) {
        // Oldest first, as they were tracked: the one in flight is the
        // most recent of them.
        for token in self.delegations.drain(..) {
            self.agent.track_delegation(&token);
        }
        if let Current::Delegated(token, _) = std::mem::replace(&mut self.current, Current::Idle) {
            self.agent.track_delegation(&token);
        }
    }
}
