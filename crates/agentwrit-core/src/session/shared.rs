//! The session every clone of a client shares, and the single-flight
//! login: [`SharedSession`] and the [`WithSession`] flow that runs a call
//! with its token.
//!
//! A transport's `App` or `Operator` is cloned across threads and tasks.
//! The rules for the session they share are decided here, in a flow like
//! every other, so that a transport only drives them: re-use a fresh
//! session, let one caller at a time authenticate (the others wait
//! [`AUTH_POLL_INTERVAL`] and look again), and after a 401 on the
//! session's own token log in again and retry the call once.
//!
//! The session sits behind a [`std::sync::Mutex`] held for microseconds and
//! never across a request, so the same types serve a blocking and an
//! async transport.

use core::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agentwrit_wire::{AccessToken, AdminSecret, ClientSecret};

use super::{AdminAuth, AppAuth, Session, SessionCache};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{Flow, Step, TransportFailure};
use crate::sync::lock;

/// How often a caller that found another caller authenticating looks
/// again at the shared session.
pub const AUTH_POLL_INTERVAL: Duration = Duration::from_millis(10);

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
    /// The [`WithSession`] flow currently authenticating, if any, and the
    /// process it runs in: in a process forked while a flow of its parent
    /// was authenticating, that flow never finishes, and its mark must not
    /// keep the child's callers waiting.
    authenticating: Option<(u64, u32)>,
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
        if slot.authenticating.is_some_and(|(id, _)| id == self.id) {
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
            Some((other, process)) if other != self.id && process == crate::process::id() => {
                drop(slot);
                let until = now.checked_add(AUTH_POLL_INTERVAL).unwrap_or(now);
                self.stage = Stage::WaitingForOther { until };
                Step::Wait { until }
            }
            _ => {
                slot.authenticating = Some((self.id, crate::process::id()));
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
                    if slot.authenticating.is_some_and(|(id, _)| id == self.id) {
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
                let bearer = zeroize::Zeroizing::new(crate::request::bearer_string(token));
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

    fn handle_transport_failure(
        &mut self,
        failure: TransportFailure,
        give_up: Error,
        now: SystemTime,
    ) -> Step<F::Output> {
        match self.stage {
            Stage::Authenticating(_) => {
                self.auth_step(|f| f.handle_transport_failure(failure, give_up, now), now)
            }
            Stage::Running { .. } => {
                self.inner_step(|f| f.handle_transport_failure(failure, give_up, now), now)
            }
            _ => self.finish(Err(Error::invalid_state(
                "handle_transport_failure called without a request in flight",
            ))),
        }
    }
}

impl<F> Drop for WithSession<F> {
    fn drop(&mut self) {
        let mut slot = lock(&self.shared.slot);
        if slot.authenticating.is_some_and(|(id, _)| id == self.id) {
            slot.authenticating = None;
        }
    }
}

#[cfg(test)]
mod fork_tests {
    use std::sync::Arc;

    use agentwrit_wire::ClientSecret;

    use super::*;
    use crate::health::Health;

    #[test]
    fn a_parent_process_authenticating_does_not_hold_up_a_child() {
        let config = ClientConfig::new("http://127.0.0.1:8080".parse().unwrap());
        let session = Arc::new(SharedSession::app("cm-1", ClientSecret::new("s")).unwrap());
        let health = config.clone();
        let make = move |_: &AccessToken| Ok(Health::new(&health));
        // Another caller of this process is authenticating: wait for it.
        lock(&session.slot).authenticating = Some((u64::MAX, crate::process::id()));
        let mut waiting = session.call(&config, make.clone());
        assert!(matches!(
            waiting.start(std::time::UNIX_EPOCH),
            Step::Wait { .. }
        ));
        // The mark was left by the process this one was forked from (its
        // flow does not exist here): authenticate instead of waiting.
        lock(&session.slot).authenticating = Some((u64::MAX, crate::process::id().wrapping_add(1)));
        let mut flow = session.call(&config, make);
        let Step::Send(request) = flow.start(std::time::UNIX_EPOCH) else {
            panic!("expected the login request")
        };
        assert_eq!(request.uri().path(), "/v1/app/auth");
    }
}
