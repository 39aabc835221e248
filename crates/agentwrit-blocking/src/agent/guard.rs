//! [`AgentGuard`]: ends its agent's task when dropped.

use agentwrit_core::{Error, ReleaseOutcome};

use super::Agent;

/// Ends its agent's task when dropped: releases the tokens the agent
/// delegated, then the agent ([`Agent::release_task`]). Derefs to
/// [`Agent`].
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
/// let guard = app.create_agent("orch-1", "task-1", &["read:data:*"])?.release_on_drop();
/// let token = guard.access_token();
/// // ... if this code panics or returns early, dropping `guard` releases ...
/// guard.release_task()?; // the normal path: end the task and see the outcome
/// assert!(!app.validate(&token)?.is_valid());
/// # Ok::<(), Box<dyn std::error::Error>>(())
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
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// let guard = app.create_agent("orch-1", "task-1", &["read:data:*"])?.release_on_drop();
    /// assert_eq!(guard.release_task()?, agentwrit_blocking::ReleaseOutcome::Released);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Agent::release_task`].
    pub fn release_task(self) -> Result<ReleaseOutcome, Error> {
        self.agent.release_task()
    }
}

impl std::ops::Deref for AgentGuard {
    type Target = Agent;

    fn deref(&self) -> &Agent {
        &self.agent
    }
}

impl Drop for AgentGuard {
    /// Ends the task on the dropping thread ([`Agent::release_task`]),
    /// before the drop returns: the tokens still alive that the agent
    /// delegated, then the agent (also after an explicit
    /// [`Agent::release`], whose delegations are still alive). A failure
    /// is logged (`warn`, naming the agent, never a token); the tokens
    /// concerned then expire at the end of their TTL.
    fn drop(&mut self) {
        if !self.agent.inner.shared.has_pending_release() {
            return;
        }
        if let Err(error) = self.agent.release_task() {
            tracing::warn!(
                agent_id = %self.agent.agent_id(),
                %error,
                "ending the task on drop failed; the tokens not released expire at the end of their TTL"
            );
        }
    }
}
