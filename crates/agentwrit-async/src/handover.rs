//! Creations that outlive their caller.
//!
//! Core marks the create-agent ceremony's `POST /v1/register` as its
//! [`PointOfNoReturn`](agentwrit_core::PointOfNoReturn): once that request
//! may have reached the broker, an agent token may exist that only the
//! flow's output holds. A future can be dropped at any `.await` (a
//! `tokio::time::timeout`, a `select!`, an aborted task, a runtime shutting
//! down), so from that request on the flow runs on the SDK's releaser
//! ([`crate::releaser`]), detached from the caller, and the caller awaits a
//! [`Pending`]. If the caller is gone when the agent arrives — or goes
//! between its arrival and the caller taking it — the releaser releases it
//! at once. Dropping a `Pending` hands over like a guard's drop does
//! ([`releaser::hold`]): it never blocks a worker of a live runtime, and a
//! runtime's shutdown does not complete before the creation and that
//! release.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use agentwrit_core::{
    Action, AgentCredentials, Driver, Error, Flow, SharedAgent, TransportFailure,
};
use tokio::sync::Notify;

use crate::releaser::{self, Ticket};
use crate::transport::Transport;

/// Drives `flow`, an agent creation, on `transport` up to its point of no
/// return, and the rest on the releaser; the caller's future only waits
/// for the outcome from there (see the module docs). Without a releaser
/// (its thread or client could not be made, which is logged) the flow is
/// finished here, as any other.
pub(crate) async fn drive_owned<F>(
    transport: &Transport,
    flow: F,
) -> Result<AgentCredentials, Error>
where
    F: Flow<Output = AgentCredentials> + Send + 'static,
{
    let mut driver = transport.driver(flow);
    let mut action = driver.start();
    loop {
        action = match action {
            Action::Send(attempt) if attempt.point_of_no_return => {
                let action = Action::Send(attempt);
                return match transport.for_release() {
                    Some(releaser) => {
                        let bound = transport.wait_bound(2);
                        hand_over(releaser, driver, action, bound)?.await
                    }
                    None => transport.run(&mut driver, action, None).await,
                };
            }
            Action::Done(result) => return result,
            action => transport.perform(&mut driver, action, None).await,
        };
    }
}

/// Runs the rest of the creation on the releaser.
fn hand_over<F>(
    releaser: Arc<Transport>,
    mut driver: Driver<F>,
    action: Action<AgentCredentials>,
    bound: Duration,
) -> Result<Pending, Error>
where
    F: Flow<Output = AgentCredentials> + Send + 'static,
{
    let slot = Arc::new(Slot::default());
    let delivered = Arc::clone(&slot);
    let job = |end| async move {
        let result = releaser.run(&mut driver, action, None).await;
        drop(driver);
        if let Some(orphan) = delivered.deliver(result).await {
            release_orphan(&releaser, orphan).await;
        }
        drop(end);
    };
    let Some(ticket) = releaser::submit(job) else {
        // The request was not sent: nothing to own.
        return Err(Error::transport(
            TransportFailure::Other,
            "create_agent.register",
            Some("the SDK's releaser thread is not running".into()),
        ));
    };
    Ok(Pending {
        slot,
        ticket,
        bound,
    })
}

/// Releases an agent that nobody was there to take.
async fn release_orphan(releaser: &Transport, credentials: AgentCredentials) {
    let agent = SharedAgent::new(credentials);
    let agent_id = agent.agent_id();
    match releaser
        .drive(agent.release_agent_flow(&releaser.config))
        .await
    {
        Ok(_) => tracing::debug!(%agent_id, "released an agent whose creator had gone"),
        Err(error) => tracing::warn!(
            %agent_id,
            %error,
            "could not release an agent whose creator had gone; its token expires at the end of \
             its TTL"
        ),
    }
}

/// The outcome of a creation finishing on the releaser, between the job
/// and the caller.
#[derive(Default)]
struct Slot {
    state: Mutex<State>,
    /// Tells the job that the caller took the outcome, or left.
    settled: Notify,
}

enum State {
    /// The job runs; the caller waits with this waker.
    Running(Option<Waker>),
    /// The job finished; the caller has not taken the outcome yet.
    Ready(Result<AgentCredentials, Error>),
    /// The caller took the outcome.
    Taken,
    /// The caller left; the agent it never took, if the job had
    /// delivered one, is the job's to release.
    Abandoned(Option<AgentCredentials>),
}

impl Default for State {
    fn default() -> Self {
        State::Running(None)
    }
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The job's end: hands `result` to the caller and waits until the
    /// caller has taken it or left. An agent the caller will never take
    /// is returned, to be released.
    async fn deliver(&self, result: Result<AgentCredentials, Error>) -> Option<AgentCredentials> {
        {
            let mut state = self.lock();
            match std::mem::replace(&mut *state, State::Taken) {
                State::Running(waker) => {
                    *state = State::Ready(result);
                    drop(state);
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                }
                State::Abandoned(_) => {
                    *state = State::Abandoned(None);
                    return result.ok();
                }
                other => {
                    *state = other;
                    return None;
                }
            }
        }
        loop {
            let settled = self.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            {
                let mut state = self.lock();
                match std::mem::replace(&mut *state, State::Taken) {
                    ready @ State::Ready(_) => *state = ready,
                    State::Abandoned(orphan) => {
                        *state = State::Abandoned(None);
                        return orphan;
                    }
                    State::Taken | State::Running(_) => return None,
                }
            }
            settled.await;
        }
    }
}

/// The caller's side of a creation that finishes on the releaser: the
/// outcome, once the job delivers it. Dropped before it has taken the
/// outcome, it leaves the agent to the job (which releases it) and holds
/// the process until the job has ended (see the module docs).
#[must_use = "a pending creation does nothing unless awaited"]
pub(crate) struct Pending {
    slot: Arc<Slot>,
    ticket: Ticket,
    bound: Duration,
}

impl Future for Pending {
    type Output = Result<AgentCredentials, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        match std::mem::replace(&mut *state, State::Taken) {
            State::Ready(result) => {
                drop(state);
                self.slot.settled.notify_waiters();
                Poll::Ready(result)
            }
            State::Running(_) => {
                *state = State::Running(Some(cx.waker().clone()));
                Poll::Pending
            }
            other => {
                *state = other;
                Poll::Ready(Err(Error::invalid_state(
                    "a creation's outcome was already taken",
                )))
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let left_early = {
            let mut state = self.slot.lock();
            match std::mem::replace(&mut *state, State::Taken) {
                State::Running(_) => {
                    *state = State::Abandoned(None);
                    true
                }
                State::Ready(result) => {
                    *state = State::Abandoned(result.ok());
                    true
                }
                other => {
                    *state = other;
                    false
                }
            }
        };
        if left_early {
            self.slot.settled.notify_waiters();
            let bound = self.bound;
            releaser::hold(self.ticket.clone(), bound, move || {
                tracing::warn!(
                    ?bound,
                    "an agent creation whose caller had gone did not finish in time; if the \
                     process exits first, the agent's token expires at the end of its TTL"
                );
            });
        }
    }
}
