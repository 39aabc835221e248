//! [`AgentGuard`]: ends its agent's task when dropped.

use agentwrit_core::{Error, ReleaseOutcome};

use super::Agent;

/// Ends its agent's task when dropped: releases the tokens the agent
/// delegated, then the agent ([`Agent::release_task`]). Derefs to
/// [`Agent`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
/// let guard = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?.release_on_drop();
/// let token = guard.access_token();
/// // ... if this code panics or returns early, dropping `guard` releases ...
/// guard.release_task().await?; // the normal path: end the task and see the outcome
/// assert!(!app.validate(&token).await?.is_valid());
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard releases the agent at once"]
pub struct AgentGuard {
    pub(super) agent: Agent,
}

impl AgentGuard {
    /// Ends the task now ([`Agent::release_task`]) and reports the
    /// outcome; the drop then sends nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let guard = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?.release_on_drop();
    /// assert_eq!(guard.release_task().await?, agentwrit_async::ReleaseOutcome::Released);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Agent::release_task`].
    pub async fn release_task(self) -> Result<ReleaseOutcome, Error> {
        self.agent.release_task().await
    }
}

impl std::ops::Deref for AgentGuard {
    type Target = Agent;

    fn deref(&self) -> &Agent {
        &self.agent
    }
}

impl Drop for AgentGuard {
    /// Ends the task on every path — `main` returning, a task aborted, a
    /// runtime shutting down, a current-thread or a multi-thread runtime,
    /// no runtime at all — without blocking a worker of a live runtime.
    /// The releases (the tokens still alive that the agent delegated,
    /// then the agent — also after an explicit [`Agent::release`]) are
    /// handed to the SDK's own releaser thread, which does not depend on
    /// the caller's runtime. Then:
    ///
    /// * inside a task, or on a current-thread runtime's own thread, the
    ///   drop returns at once; a small waiter task on the runtime keeps
    ///   the runtime's shutdown (the end of `#[tokio::main]`) from
    ///   completing before the releases are answered, at most the request
    ///   timeout per token plus a second. A runtime already shutting down
    ///   drops that waiter at once, and it waits right there;
    /// * outside any task on a multi-thread runtime (its `block_on`
    ///   thread, which is not a worker) or outside any runtime, the drop
    ///   waits for them itself, within the same bound.
    ///
    /// A failure, or a wait that ran out, is logged (`warn`, naming the
    /// agent, never a token): the tokens concerned expire at the end of
    /// their TTL. Nothing is sent, and nothing waits, when there is
    /// nothing left to release.
    fn drop(&mut self) {
        if self.agent.inner.shared.has_pending_release() {
            self.agent.hand_over_end_task();
        }
    }
}
