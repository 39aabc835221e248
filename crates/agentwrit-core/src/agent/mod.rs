//! Agents: what a created agent is, and everything done with it.
//!
//! * here: [`AgentCredentials`] (what the broker issued), [`AgentState`]
//!   (credentials and whether released, as pure data) and [`SharedAgent`]
//!   (that state shared by an agent's clones and its auto-renewal worker);
//! * `create.rs`: [`CreateAgent`], the create-agent ceremony;
//! * `renew.rs`: [`Renew`] and [`RenewInPlace`];
//! * `release.rs`: [`Release`] and [`ReleaseInPlace`];
//! * `delegate.rs`: [`Delegate`] and the [`DelegatedToken`] it yields;
//! * `end_task.rs`: [`EndTask`], which tokens ending a task releases, in
//!   which order, and what is reported;
//! * `auto_renew.rs`: [`AutoRenew`].

mod auto_renew;
mod create;
mod delegate;
mod end_task;
mod release;
mod renew;

use core::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use agentwrit_wire::{AccessToken, Claims};

pub use auto_renew::AutoRenew;
pub use create::{CreateAgent, CreateAgentRequest, DEFAULT_MAX_TTL};
pub use delegate::{Delegate, DelegatedToken};
pub use end_task::{EndTask, task_result};
pub use release::{Release, ReleaseInPlace, ReleaseOutcome};
pub use renew::{Renew, RenewInPlace, Renewal};

use crate::config::ClientConfig;
use crate::error::Error;
use crate::keys::AgentKey;
use crate::request::check_token;
use crate::response::Reply;
use crate::sync::lock;
use crate::token::{decode_claims, from_unix_seconds};

/// A token the broker just issued, with what its claims say.
#[derive(Clone, Debug)]
struct Issued {
    access_token: AccessToken,
    expires_in: i64,
    expires_at: SystemTime,
    received_at: SystemTime,
    claims: Claims,
}

/// Checks a freshly issued token and reads its claims. `expires_at` comes
/// from the `exp` claim (the broker's clock); when the claim is missing,
/// from `now + expires_in`.
fn issued(
    reply: &Reply<'_>,
    access_token: AccessToken,
    expires_in: i64,
    now: SystemTime,
) -> Result<Issued, Error> {
    if check_token("access_token", &access_token).is_err() {
        return Err(reply.malformed("access_token is empty or not a valid header value"));
    }
    if expires_in <= 0 {
        return Err(reply.malformed("expires_in must be a positive number of seconds"));
    }
    let claims = decode_claims(&access_token).map_err(|e| match e {
        Error::Decode { message, .. } => reply.malformed(message),
        other => other,
    })?;
    let expires_at = if claims.exp > 0 {
        from_unix_seconds(claims.exp)
    } else {
        now.checked_add(Duration::from_secs(expires_in.unsigned_abs()))
            .unwrap_or(now)
    };
    Ok(Issued {
        access_token,
        expires_in,
        expires_at,
        received_at: now,
        claims,
    })
}

/// A registered agent's credentials, as the broker issued them.
///
/// Scope, expiry, jti, task and orch are read from the issued token's
/// claims, not from the request (the broker decides what was granted).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AgentCredentials {
    /// The agent's SPIFFE id,
    /// `spiffe://{trust_domain}/agent/{orch}/{task}/{16 hex}`.
    pub agent_id: String,
    /// The agent token.
    pub access_token: AccessToken,
    /// Lifetime granted, in seconds.
    pub expires_in: i64,
    /// When the token expires: its `exp` claim (the broker's clock).
    pub expires_at: SystemTime,
    /// When the token arrived (local clock); renewal is scheduled from it.
    pub received_at: SystemTime,
    /// The token's claims.
    pub claims: Claims,
    /// The agent's key.
    pub key: AgentKey,
    /// The orchestrator id (the `orch_id` claim, else the requested one).
    pub orch_id: String,
    /// The task id (the `task_id` claim, else the requested one).
    pub task_id: String,
}

/// A created agent as pure data: its credentials and whether it has been
/// released. The transports keep one per `Agent` (behind their own lock)
/// and ask it for flows, so the rules live here: a released agent renews
/// and delegates no more, and releasing twice sends nothing the second
/// time.
///
/// ```
/// # use agentwrit_core::*;
/// # fn demo(credentials: AgentCredentials, config: &ClientConfig) -> Result<(), Error> {
/// let mut agent = AgentState::new(credentials);
/// let release = agent.release_flow(config); // Some(flow): drive it, then
/// agent.mark_released();
/// assert!(agent.release_flow(config).is_none()); // idempotent
/// assert!(matches!(agent.renew_flow(config), Err(Error::Released)));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AgentState {
    credentials: AgentCredentials,
    released: bool,
}

impl From<AgentCredentials> for AgentState {
    fn from(credentials: AgentCredentials) -> Self {
        AgentState::new(credentials)
    }
}

impl AgentState {
    /// A live agent.
    #[must_use]
    pub fn new(credentials: AgentCredentials) -> Self {
        AgentState {
            credentials,
            released: false,
        }
    }

    /// The credentials.
    #[must_use]
    pub fn credentials(&self) -> &AgentCredentials {
        &self.credentials
    }

    /// Whether the agent has been released.
    #[must_use]
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// The agent's SPIFFE id.
    #[must_use]
    pub fn agent_id(&self) -> &str {
        &self.credentials.agent_id
    }

    /// The current token.
    #[must_use]
    pub fn access_token(&self) -> &AccessToken {
        &self.credentials.access_token
    }

    /// `Bearer <token>` for an `Authorization` header, marked sensitive.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the token holds a byte a header cannot.
    pub fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
        crate::request::bearer_value(&self.credentials.access_token)
    }

    /// The granted scope (from the token's claims).
    #[must_use]
    pub fn scope(&self) -> &[String] {
        &self.credentials.claims.scope
    }

    /// When the current token expires (its `exp` claim).
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.credentials.expires_at
    }

    /// The current token's jti.
    #[must_use]
    pub fn jti(&self) -> &str {
        &self.credentials.claims.jti
    }

    /// The task id.
    #[must_use]
    pub fn task_id(&self) -> &str {
        &self.credentials.task_id
    }

    /// The orchestrator id.
    #[must_use]
    pub fn orch_id(&self) -> &str {
        &self.credentials.orch_id
    }

    /// The current token's claims.
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.credentials.claims
    }

    /// The agent's key.
    #[must_use]
    pub fn key(&self) -> &AgentKey {
        &self.credentials.key
    }

    /// A flow renewing the current token.
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once the agent has been released.
    pub fn renew_flow(&self, config: &ClientConfig) -> Result<Renew, Error> {
        if self.released {
            return Err(Error::Released);
        }
        Ok(Renew::unchecked(config, &self.credentials.access_token))
    }

    /// Installs a renewed token in place (same agent id).
    ///
    /// # Errors
    ///
    /// [`Error::Released`] if the agent was released while the renewal was
    /// in flight; the caller should then release `renewal`'s token too.
    pub fn apply_renewal(&mut self, renewal: Renewal) -> Result<(), Error> {
        if self.released {
            return Err(Error::Released);
        }
        let c = &mut self.credentials;
        c.access_token = renewal.access_token;
        c.expires_in = renewal.expires_in;
        c.expires_at = renewal.expires_at;
        c.received_at = renewal.received_at;
        c.claims = renewal.claims;
        Ok(())
    }

    /// A flow releasing the current token, or `None` when the agent has
    /// already been released (nothing to send: release is idempotent).
    /// Call [`AgentState::mark_released`] once it finishes with either
    /// [`ReleaseOutcome`].
    #[must_use]
    pub fn release_flow(&self, config: &ClientConfig) -> Option<Release> {
        (!self.released).then(|| Release::unchecked(config, &self.credentials.access_token))
    }

    /// Records that the token is dead (released or already dead).
    pub fn mark_released(&mut self) {
        self.released = true;
    }

    /// A flow delegating `scope` to `delegate_to` from the agent's token.
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once released; otherwise as [`Delegate::new`].
    pub fn delegate_flow<S: AsRef<str>>(
        &self,
        config: &ClientConfig,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<Delegate, Error> {
        if self.released {
            return Err(Error::Released);
        }
        Delegate::new(
            config,
            &self.credentials.access_token,
            delegate_to,
            scope,
            ttl,
        )
    }

    /// When the opt-in auto-renewal should renew: at 80 % of the token's
    /// lifetime, measured on the local clock from when the token arrived
    /// (so client/broker clock skew does not matter), and never earlier
    /// than `now`. `None` once released.
    ///
    /// The broker's `exp` is in whole seconds, so a token can arrive with
    /// up to one second less than `expires_in` left; the lifetime counted
    /// here leaves that second out, so the renewal falls before `exp` (a
    /// 3 s token that arrived late in the broker's second renews 1.6 s
    /// after it arrived, not 2.4 s, which could be after `exp`). It is
    /// never earlier than half the lifetime, so a 1 s token renews every
    /// 0.5 s rather than in a loop.
    ///
    /// ```
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// # use agentwrit_core::*;
    /// # fn demo(state: AgentState) {
    /// // A 300 s token received at t renews at t + 80 % of 299 s.
    /// let t = state.credentials().received_at;
    /// assert_eq!(state.next_renewal_at(t), Some(t + Duration::from_millis(239_200)));
    /// # }
    /// ```
    #[must_use]
    pub fn next_renewal_at(&self, now: SystemTime) -> Option<SystemTime> {
        if self.released {
            return None;
        }
        let lifetime = Duration::from_secs(self.credentials.expires_in.unsigned_abs());
        let after = (lifetime.saturating_sub(Duration::from_secs(1)) / 5 * 4).max(lifetime / 2);
        let at = self
            .credentials
            .received_at
            .checked_add(after)
            .unwrap_or(self.credentials.received_at);
        Some(at.max(now))
    }
}

/// An agent's state shared by its handle, its clones and its auto-renewal
/// worker: an [`AgentState`] behind a mutex, with flows that apply their
/// results in place.
///
/// ```
/// # use agentwrit_core::*;
/// # fn demo(credentials: AgentCredentials, config: &ClientConfig) -> Result<(), Error> {
/// let agent = SharedAgent::new(credentials);
/// let mut release = agent.release_flow(config); // drive it: the state is marked released
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedAgent {
    state: Arc<Mutex<AgentState>>,
    stop_renewal: Arc<AtomicBool>,
    delegations: Arc<Mutex<Vec<DelegatedToken>>>,
}

impl fmt::Debug for SharedAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        lock(&self.state).fmt(f)
    }
}

impl SharedAgent {
    /// A live agent with these credentials.
    #[must_use]
    pub fn new(credentials: AgentCredentials) -> Self {
        SharedAgent {
            state: Arc::new(Mutex::new(AgentState::new(credentials))),
            stop_renewal: Arc::new(AtomicBool::new(false)),
            delegations: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Reads the state: `agent.read(|s| s.jti().to_owned())`.
    pub fn read<T>(&self, f: impl FnOnce(&AgentState) -> T) -> T {
        f(&lock(&self.state))
    }

    /// The agent's SPIFFE id.
    #[must_use]
    pub fn agent_id(&self) -> String {
        self.read(|s| s.agent_id().to_owned())
    }

    /// The current token (a renewal replaces it).
    #[must_use]
    pub fn access_token(&self) -> AccessToken {
        self.read(|s| s.access_token().clone())
    }

    /// The current token's claims.
    #[must_use]
    pub fn claims(&self) -> Claims {
        self.read(|s| s.claims().clone())
    }

    /// Whether the agent has been released.
    #[must_use]
    pub fn is_released(&self) -> bool {
        self.read(AgentState::is_released)
    }

    /// `Bearer <token>`, for an `Authorization` header, marked sensitive
    /// (its `Debug` does not show it).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the token holds a byte a header cannot.
    pub fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
        self.read(|s| crate::request::bearer_value(s.access_token()))
    }

    /// The granted scope, from the token's claims.
    #[must_use]
    pub fn scope(&self) -> Vec<String> {
        self.read(|s| s.scope().to_vec())
    }

    /// Whether the token's scope covers every scope in `required` (the
    /// broker's rule, [`scope_is_subset`](agentwrit_scope::scope_is_subset)),
    /// without copying the scope list.
    #[must_use]
    pub fn allows<S: AsRef<str>>(&self, required: &[S]) -> bool {
        self.read(|s| agentwrit_scope::scope_is_subset(required, s.scope()))
    }

    /// Records a token this agent (or a token delegated from it) handed
    /// to another agent, so that releasing the task releases it too.
    pub fn track_delegation(&self, token: &DelegatedToken) {
        lock(&self.delegations).push(token.clone());
    }

    /// Takes the tokens recorded by [`SharedAgent::track_delegation`], to
    /// release them when the task ends.
    #[must_use]
    pub fn take_delegations(&self) -> Vec<DelegatedToken> {
        std::mem::take(&mut *lock(&self.delegations))
    }

    /// When the current token expires (its `exp` claim).
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.read(AgentState::expires_at)
    }

    /// The current token's lifetime, as issued.
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        Duration::from_secs(
            self.read(|s| s.credentials().expires_in)
                .max(0)
                .unsigned_abs(),
        )
    }

    /// The current token's id.
    #[must_use]
    pub fn jti(&self) -> String {
        self.read(|s| s.jti().to_owned())
    }

    /// The task id.
    #[must_use]
    pub fn task_id(&self) -> String {
        self.read(|s| s.task_id().to_owned())
    }

    /// The orchestrator id.
    #[must_use]
    pub fn orch_id(&self) -> String {
        self.read(|s| s.orch_id().to_owned())
    }

    /// A flow renewing the token and installing the new one in place. If
    /// the agent is released while the renewal is in flight, the flow
    /// releases the new token too, so that nothing stays alive.
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once the agent has been released.
    pub fn renew_flow(&self, config: &ClientConfig) -> Result<RenewInPlace, Error> {
        let flow = self.read(|s| s.renew_flow(config))?;
        Ok(RenewInPlace::new(self.clone(), config, flow))
    }

    /// A flow releasing the token and marking the agent released. On a
    /// released agent it sends nothing and finishes with
    /// [`ReleaseOutcome::AlreadyDead`]. Either outcome stops auto-renewal.
    pub fn release_flow(&self, config: &ClientConfig) -> ReleaseInPlace {
        self.stop_renewal.store(true, Ordering::SeqCst);
        ReleaseInPlace::new(
            self.clone(),
            config,
            self.read(|s| (!s.is_released()).then(|| s.access_token().clone())),
        )
    }

    /// Marks the agent released without telling the broker (for a token
    /// known to be dead).
    pub fn mark_released(&self) {
        self.stop_renewal.store(true, Ordering::SeqCst);
        lock(&self.state).mark_released();
    }

    /// A flow delegating `scope` to `delegate_to` from the current token.
    ///
    /// # Errors
    ///
    /// [`Error::Released`] once released; otherwise as [`Delegate::new`].
    pub fn delegate_flow<S: AsRef<str>>(
        &self,
        config: &ClientConfig,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<Delegate, Error> {
        self.read(|s| s.delegate_flow(config, delegate_to, scope, ttl))
    }

    /// A flow that renews the token at 80 % of each lifetime
    /// ([`AgentState::next_renewal_at`]) until the agent is released,
    /// [`SharedAgent::stop_auto_renewal`] is called, or every
    /// `SharedAgent` of this agent is gone. A failed renewal ends it with
    /// that error.
    ///
    /// The flow holds the agent through a weak reference: it never keeps
    /// the agent alive, and once the last handle is dropped it finishes at
    /// its next step without sending anything (the token then expires at
    /// the end of its lifetime: dropping an agent does not release it).
    pub fn auto_renew_flow(&self, config: &ClientConfig) -> AutoRenew {
        self.stop_renewal.store(false, Ordering::SeqCst);
        AutoRenew::new(self.downgrade(), config)
    }

    /// Asks a running [`AutoRenew`] flow to finish at its next step (a
    /// renewal in flight completes first). The transport should then wake
    /// the worker that is waiting.
    pub fn stop_auto_renewal(&self) {
        self.stop_renewal.store(true, Ordering::SeqCst);
    }

    /// A reference to this agent that does not keep it alive.
    fn downgrade(&self) -> WeakAgent {
        WeakAgent {
            state: Arc::downgrade(&self.state),
            stop_renewal: Arc::clone(&self.stop_renewal),
            delegations: Arc::downgrade(&self.delegations),
        }
    }
}

/// A [`SharedAgent`] that does not keep the agent alive: what the
/// auto-renewal worker holds, so that the agent's last handle ends it.
#[derive(Clone)]
pub(crate) struct WeakAgent {
    state: Weak<Mutex<AgentState>>,
    /// Only a flag: holding it keeps no token alive.
    stop_renewal: Arc<AtomicBool>,
    delegations: Weak<Mutex<Vec<DelegatedToken>>>,
}

impl WeakAgent {
    /// The agent, while a handle to it is alive.
    pub(crate) fn upgrade(&self) -> Option<SharedAgent> {
        Some(SharedAgent {
            state: self.state.upgrade()?,
            stop_renewal: Arc::clone(&self.stop_renewal),
            delegations: self.delegations.upgrade()?,
        })
    }

    /// Whether renewal was stopped (or the agent released).
    pub(crate) fn renewal_stopped(&self) -> bool {
        self.stop_renewal.load(Ordering::SeqCst)
    }
}
