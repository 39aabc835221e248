//! State shared between threads or tasks, and the flows that use it.
//!
//! A transport's `App` is cloned across threads and tasks; its `Agent`s
//! may be renewed by a background worker while the task uses them. The
//! rules for that shared state — one authentication at a time, re-use of
//! a fresh session, a retry after a 401 on the session token, renewal in
//! place, idempotent release, when auto-renewal runs — are decided here,
//! in flows like every other, so that a transport only drives them.
//!
//! The state sits behind [`std::sync::Mutex`]es that are held for
//! microseconds and never across a request, so the same types serve a
//! blocking and an async transport.

use core::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use agentwrit_wire::{AccessToken, AdminSecret, Claims, ClientSecret};

use crate::agent::{
    AgentCredentials, AgentState, Delegate, DelegatedToken, Release, ReleaseOutcome, Renew,
};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{Flow, Step, TransportFailure};
use crate::session::{AdminAuth, AppAuth, Session, SessionCache};

/// How often a caller that found another caller authenticating looks
/// again at the shared session.
pub const AUTH_POLL_INTERVAL: Duration = Duration::from_millis(10);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent at every await-free step, so a
    // panic elsewhere while holding the lock leaves nothing half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------- session --

enum Principal {
    App {
        client_id: String,
        client_secret: ClientSecret,
    },
    Admin(AdminSecret),
}

#[derive(Default)]
struct Slot {
    cache: SessionCache,
    /// The [`WithSession`] flow currently authenticating, if any.
    authenticating: Option<u64>,
}

/// An app's or operator's session, shared by every clone of a client:
/// who authenticates, and the cached [`Session`].
///
/// Calls go through [`SharedSession::call`], which re-uses a fresh
/// session, authenticates when there is none (one caller at a time: the
/// others wait [`AUTH_POLL_INTERVAL`] and look again, so 64 threads
/// starting together log in once), and after a 401 on the session's own
/// token drops the session, authenticates again and retries the call once.
///
/// ```
/// use std::sync::Arc;
/// use agentwrit_core::{ClientConfig, Flow, Health, SharedSession, Step};
/// use agentwrit_wire::ClientSecret;
///
/// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
/// let session = Arc::new(SharedSession::app("cm-37a7c9c10885", ClientSecret::new("4ca1b208"))?);
/// let for_health = config.clone();
/// let mut flow = session.call(&config, move |_app_token| Ok(Health::new(&for_health)));
/// // No session yet: the flow authenticates first.
/// let Step::Send(request) = flow.start(std::time::UNIX_EPOCH) else { unreachable!() };
/// assert_eq!(request.uri().path(), "/v1/app/auth");
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
pub struct SharedSession {
    principal: Principal,
    slot: Mutex<Slot>,
    next_flow: AtomicU64,
}

impl fmt::Debug for SharedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SharedSession");
        match &self.principal {
            Principal::App { client_id, .. } => d.field("client_id", client_id),
            Principal::Admin(_) => d.field("principal", &"operator"),
        };
        d.field(
            "session",
            &lock(&self.slot).cache.session().map(|s| s.expires_at),
        )
        .finish_non_exhaustive()
    }
}

impl SharedSession {
    /// The session of the app `client_id`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when either value is empty.
    pub fn app(client_id: impl Into<String>, client_secret: ClientSecret) -> Result<Self, Error> {
        let client_id = client_id.into();
        if client_id.trim().is_empty() {
            return Err(Error::invalid_input("client_id", "must not be empty"));
        }
        if client_secret.is_empty() {
            return Err(Error::invalid_input("client_secret", "must not be empty"));
        }
        Ok(Self::with(Principal::App {
            client_id,
            client_secret,
        }))
    }

    /// The operator's session, authenticated with the admin secret.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the secret is empty.
    pub fn admin(secret: AdminSecret) -> Result<Self, Error> {
        if secret.is_empty() {
            return Err(Error::invalid_input("secret", "must not be empty"));
        }
        Ok(Self::with(Principal::Admin(secret)))
    }

    fn with(principal: Principal) -> Self {
        SharedSession {
            principal,
            slot: Mutex::new(Slot::default()),
            next_flow: AtomicU64::new(1),
        }
    }

    /// The app's client id (`None` for the operator).
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::App { client_id, .. } => Some(client_id),
            Principal::Admin(_) => None,
        }
    }

    /// A copy of the cached session, fresh or not.
    #[must_use]
    pub fn session(&self) -> Option<Session> {
        lock(&self.slot).cache.session().cloned()
    }

    /// Forgets the cached session; the next call authenticates.
    pub fn invalidate(&self) {
        lock(&self.slot).cache.invalidate();
    }

    /// A flow that runs the flow `make` builds from the session's token,
    /// authenticating first when needed. `make` may be called twice: again
    /// after a 401 on the session token and a fresh authentication.
    pub fn call<F, M>(self: &Arc<Self>, config: &ClientConfig, make: M) -> WithSession<F>
    where
        F: Flow,
        M: FnMut(&AccessToken) -> Result<F, Error> + Send + 'static,
    {
        WithSession {
            shared: Arc::clone(self),
            config: config.clone(),
            make: Box::new(make),
            id: self.next_flow.fetch_add(1, Ordering::Relaxed),
            stage: Stage::Idle,
            retried: false,
        }
    }

    fn auth_flow(&self, config: &ClientConfig) -> Result<AuthFlow, Error> {
        Ok(match &self.principal {
            Principal::App {
                client_id,
                client_secret,
            } => AuthFlow::App(AppAuth::new(config, client_id, client_secret)?),
            Principal::Admin(secret) => AuthFlow::Admin(AdminAuth::new(config, secret)?),
        })
    }
}

enum AuthFlow {
    App(AppAuth),
    Admin(AdminAuth),
}

impl AuthFlow {
    fn flow(&mut self) -> &mut dyn Flow<Output = Session> {
        match self {
            AuthFlow::App(f) => f,
            AuthFlow::Admin(f) => f,
        }
    }
}

// Lives for one call: boxing the authentication would only add an
// allocation to every call that needs one.
#[allow(clippy::large_enum_variant)]
enum Stage<F> {
    Idle,
    Authenticating(AuthFlow),
    WaitingForOther {
        until: SystemTime,
    },
    Running {
        flow: F,
        token: AccessToken,
        used_token: bool,
    },
    Finished,
}

type Make<F> = Box<dyn FnMut(&AccessToken) -> Result<F, Error> + Send>;

/// A flow run with a [`SharedSession`]'s token (from
/// [`SharedSession::call`]). Its output is the inner flow's.
///
/// Dropping it while it authenticates lets the next caller authenticate.
#[must_use = "a flow does nothing until a transport drives it"]
pub struct WithSession<F> {
    shared: Arc<SharedSession>,
    config: ClientConfig,
    make: Make<F>,
    id: u64,
    stage: Stage<F>,
    retried: bool,
}

impl<F> fmt::Debug for WithSession<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::Idle => "idle",
            Stage::Authenticating(_) => "authenticating",
            Stage::WaitingForOther { .. } => "waiting for another caller's authentication",
            Stage::Running { .. } => "running",
            Stage::Finished => "finished",
        };
        f.debug_struct("WithSession")
            .field("stage", &stage)
            .field("retried", &self.retried)
            .finish_non_exhaustive()
    }
}

impl<F: Flow> WithSession<F> {
    fn finish(&mut self, result: Result<F::Output, Error>) -> Step<F::Output> {
        self.stop_authenticating();
        self.stage = Stage::Finished;
        Step::Done(result)
    }

    fn stop_authenticating(&self) {
        let mut slot = lock(&self.shared.slot);
        if slot.authenticating == Some(self.id) {
            slot.authenticating = None;
        }
    }

    /// Uses a fresh session, starts authenticating, or waits for the
    /// caller who is.
    fn acquire(&mut self, now: SystemTime) -> Step<F::Output> {
        let mut slot = lock(&self.shared.slot);
        if let Some(token) = slot.cache.fresh_token(now) {
            drop(slot);
            return self.run_with(token, now);
        }
        match slot.authenticating {
            Some(other) if other != self.id => {
                drop(slot);
                let until = now.checked_add(AUTH_POLL_INTERVAL).unwrap_or(now);
                self.stage = Stage::WaitingForOther { until };
                Step::Wait { until }
            }
            _ => {
                slot.authenticating = Some(self.id);
                drop(slot);
                match self.shared.auth_flow(&self.config) {
                    Ok(auth) => {
                        self.stage = Stage::Authenticating(auth);
                        self.auth_step(|f| f.start(now), now)
                    }
                    Err(e) => self.finish(Err(e)),
                }
            }
        }
    }

    fn run_with(&mut self, token: AccessToken, now: SystemTime) -> Step<F::Output> {
        match (self.make)(&token) {
            Ok(flow) => {
                self.stage = Stage::Running {
                    flow,
                    token,
                    used_token: false,
                };
                self.inner_step(|f| f.start(now), now)
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    fn auth_step(
        &mut self,
        drive: impl FnOnce(&mut dyn Flow<Output = Session>) -> Step<Session>,
        now: SystemTime,
    ) -> Step<F::Output> {
        let Stage::Authenticating(auth) = &mut self.stage else {
            return self.finish(Err(Error::invalid_state("no authentication in flight")));
        };
        match drive(auth.flow()) {
            Step::Send(request) => Step::Send(request),
            Step::Wait { until } => Step::Wait { until },
            Step::Done(Ok(session)) => {
                let token = session.access_token.clone();
                {
                    let mut slot = lock(&self.shared.slot);
                    slot.cache.store(session);
                    if slot.authenticating == Some(self.id) {
                        slot.authenticating = None;
                    }
                }
                self.run_with(token, now)
            }
            Step::Done(Err(e)) => self.finish(Err(e)),
        }
    }

    fn inner_step(
        &mut self,
        drive: impl FnOnce(&mut F) -> Step<F::Output>,
        now: SystemTime,
    ) -> Step<F::Output> {
        let Stage::Running {
            flow,
            token,
            used_token,
        } = &mut self.stage
        else {
            return self.finish(Err(Error::invalid_state("no call in flight")));
        };
        match drive(flow) {
            Step::Send(request) => {
                let bearer = token.bearer_header_value();
                *used_token = request
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .is_some_and(|v| v.as_bytes() == bearer.as_bytes());
                Step::Send(request)
            }
            Step::Wait { until } => Step::Wait { until },
            Step::Done(Err(e)) if *used_token && !self.retried && e.is_authentication() => {
                // The broker no longer accepts the session's token (revoked,
                // app deactivated, broker restarted): log in again, once.
                let stale = token.clone();
                lock(&self.shared.slot).cache.invalidate_if(&stale);
                self.retried = true;
                self.acquire(now)
            }
            Step::Done(result) => self.finish(result),
        }
    }
}

impl<F: Flow> Flow for WithSession<F> {
    type Output = F::Output;

    fn name(&self) -> &'static str {
        match &self.stage {
            Stage::Authenticating(AuthFlow::App(f)) => f.name(),
            Stage::Authenticating(AuthFlow::Admin(f)) => f.name(),
            Stage::Running { flow, .. } => flow.name(),
            Stage::WaitingForOther { .. } => "session.wait",
            Stage::Idle | Stage::Finished => "session",
        }
    }

    fn start(&mut self, now: SystemTime) -> Step<F::Output> {
        if !matches!(self.stage, Stage::Idle) {
            return self.finish(Err(Error::invalid_state("start called twice")));
        }
        self.acquire(now)
    }

    fn handle_response(
        &mut self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Step<F::Output> {
        match self.stage {
            Stage::Authenticating(_) => self.auth_step(|f| f.handle_response(response, now), now),
            Stage::Running { .. } => self.inner_step(|f| f.handle_response(response, now), now),
            _ => self.finish(Err(Error::invalid_state(
                "handle_response called without a request in flight",
            ))),
        }
    }

    fn resume(&mut self, now: SystemTime) -> Step<F::Output> {
        match self.stage {
            Stage::WaitingForOther { until } if now < until => Step::Wait { until },
            Stage::WaitingForOther { .. } => self.acquire(now),
            Stage::Authenticating(_) => self.auth_step(|f| f.resume(now), now),
            Stage::Running { .. } => self.inner_step(|f| f.resume(now), now),
            _ => self.finish(Err(Error::invalid_state("resume called without a wait"))),
        }
    }

    fn handle_transport_error(
        &mut self,
        failure: TransportFailure,
        now: SystemTime,
    ) -> Option<Step<F::Output>> {
        let next = match &mut self.stage {
            Stage::Authenticating(auth) => auth.flow().handle_transport_error(failure, now),
            Stage::Running { flow, .. } => {
                return flow.handle_transport_error(failure, now);
            }
            _ => {
                return Some(self.finish(Err(Error::invalid_state(
                    "handle_transport_error called without a request in flight",
                ))));
            }
        };
        match next {
            Some(Step::Done(Ok(_))) => Some(self.finish(Err(Error::invalid_state(
                "authentication finished on a transport error",
            )))),
            Some(Step::Done(Err(e))) => Some(self.finish(Err(e))),
            Some(Step::Send(request)) => Some(Step::Send(request)),
            Some(Step::Wait { until }) => Some(Step::Wait { until }),
            None => {
                self.stop_authenticating();
                self.stage = Stage::Finished;
                None
            }
        }
    }
}

impl<F> Drop for WithSession<F> {
    fn drop(&mut self) {
        let mut slot = lock(&self.shared.slot);
        if slot.authenticating == Some(self.id) {
            slot.authenticating = None;
        }
    }
}

// ------------------------------------------------------------------ agent --

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
        Ok(RenewInPlace {
            agent: self.clone(),
            config: config.clone(),
            stage: RenewStage::Renewing(flow),
        })
    }

    /// A flow releasing the token and marking the agent released. On a
    /// released agent it sends nothing and finishes with
    /// [`ReleaseOutcome::AlreadyDead`]. Either outcome stops auto-renewal.
    pub fn release_flow(&self, config: &ClientConfig) -> ReleaseInPlace {
        self.stop_renewal.store(true, Ordering::SeqCst);
        ReleaseInPlace {
            agent: self.clone(),
            flow: self.read(|s| s.release_flow(config)),
            started: false,
        }
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
    /// ([`AgentState::next_renewal_at`]) until the agent is released or
    /// [`SharedAgent::stop_auto_renewal`] is called. A failed renewal ends
    /// it with that error.
    pub fn auto_renew_flow(&self, config: &ClientConfig) -> AutoRenew {
        self.stop_renewal.store(false, Ordering::SeqCst);
        AutoRenew {
            agent: self.clone(),
            config: config.clone(),
            renewing: None,
            renewals: 0,
            started: false,
            finished: false,
        }
    }

    /// Asks a running [`AutoRenew`] flow to finish at its next step (a
    /// renewal in flight completes first). The transport should then wake
    /// the worker that is waiting.
    pub fn stop_auto_renewal(&self) {
        self.stop_renewal.store(true, Ordering::SeqCst);
    }

    fn renewal_stopped(&self) -> bool {
        self.stop_renewal.load(Ordering::SeqCst)
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
    fn on_renew(&mut self, step: Step<crate::agent::Renewal>, now: SystemTime) -> Step<()> {
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

    fn handle_transport_error(
        &mut self,
        failure: TransportFailure,
        now: SystemTime,
    ) -> Option<Step<()>> {
        match &mut self.stage {
            RenewStage::Renewing(f) => {
                let step = f.handle_transport_error(failure, now)?;
                Some(self.on_renew(step, now))
            }
            RenewStage::ReleasingOrphan(f) => {
                let step = f.handle_transport_error(failure, now)?;
                Some(self.on_orphan(step))
            }
            RenewStage::Finished => Some(self.done(Err(Error::invalid_state("flow has finished")))),
        }
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
    fn on(&mut self, step: Step<ReleaseOutcome>) -> Step<ReleaseOutcome> {
        if let Step::Done(Ok(_)) = &step {
            lock(&self.agent.state).mark_released();
            self.flow = None;
        }
        step
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
                self.on(step)
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
                self.on(step)
            }
            None => Step::Done(Err(Error::invalid_state("no request in flight"))),
        }
    }

    fn resume(&mut self, now: SystemTime) -> Step<ReleaseOutcome> {
        match &mut self.flow {
            Some(f) => {
                let step = f.resume(now);
                self.on(step)
            }
            None => Step::Done(Err(Error::invalid_state("no wait in progress"))),
        }
    }

    fn handle_transport_error(
        &mut self,
        failure: TransportFailure,
        now: SystemTime,
    ) -> Option<Step<ReleaseOutcome>> {
        let step = self.flow.as_mut()?.handle_transport_error(failure, now)?;
        Some(self.on(step))
    }
}

/// Keeps an agent's token fresh (from [`SharedAgent::auto_renew_flow`]): waits
/// until [`AgentState::next_renewal_at`], renews in place, and again,
/// until the agent is released or renewal is stopped. Its output is the
/// number of renewals made.
///
/// A transport runs it on a worker (a thread or a task) and wakes that
/// worker early after [`SharedAgent::stop_auto_renewal`] or a release;
/// the flow answers an early [`Flow::resume`] with the same wait, or with
/// `Done` when it was stopped.
#[must_use = "a flow does nothing until a transport drives it"]
pub struct AutoRenew {
    agent: SharedAgent,
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
    fn schedule(&mut self, now: SystemTime) -> Step<u64> {
        if self.agent.renewal_stopped() {
            return Step::Done(Ok(self.renewals));
        }
        match self.agent.read(|s| s.next_renewal_at(now)) {
            Some(until) if until > now => Step::Wait { until },
            Some(_) => match self.agent.renew_flow(&self.config) {
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

    fn handle_transport_error(
        &mut self,
        failure: TransportFailure,
        now: SystemTime,
    ) -> Option<Step<u64>> {
        if self.finished {
            return Some(Step::Done(Err(Error::invalid_state(
                "handle_transport_error called after the flow finished",
            ))));
        }
        let next = match self.renewing.as_mut() {
            Some(f) => f.handle_transport_error(failure, now),
            None => None,
        };
        match next {
            Some(step) => {
                let step = self.on_renew(step, now);
                Some(self.track(step))
            }
            None => {
                self.finished = true;
                None
            }
        }
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
