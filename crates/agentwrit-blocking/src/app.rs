//! `App`, `Agent` and `DelegatedToken`: thin handles over the core flows.

use std::sync::Arc;
use std::thread::{JoinHandle, Thread};

use agentwrit_core::{AppCore, AutoRenew, ClientBuilder};

use crate::Error;
use crate::operator::{Operator, OperatorBuilder};
use crate::transport::http_client;
use crate::validate::Validator;

/// An app registered at the broker: it creates agents for tasks.
///
/// Cheap to clone, `Send + Sync`: share one per process. It logs in on
/// first use and again shortly before its app token expires; however
/// many threads use it, one logs in at a time (the broker allows an app
/// three quick logins).
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let (url, client_id, client_secret) = (broker.url(), reg.client_id.as_str(), reg.client_secret.expose_secret());
/// use agentwrit_blocking::App;
///
/// let app = App::new(url, client_id, client_secret)?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
/// assert_eq!(agent.scope(), ["read:data:customer-7291"]);
/// agent.release()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct App {
    core: AppCore,
    transport: Transport,
}

/// Builds an [`App`] with non-default settings: timeouts, user agent,
/// retry policy, your own `ureq::Agent`, a clock.
///
/// ```
/// use std::time::Duration;
/// use agentwrit_blocking::{App, RetryPolicy};
///
/// let app = App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
///     .timeout(Duration::from_secs(3))
///     .user_agent("billing-worker/1.4")
///     .retry(RetryPolicy::none())
///     .build()?;
/// assert_eq!(app.client_id(), "cm-37a7c9c10885");
/// # Ok::<(), agentwrit_blocking::Error>(())
/// ```
pub type AppBuilder = ClientBuilder<App, ureq::Agent>;

impl App {
    /// Runs `work` with a new agent and releases the agent afterwards on
    /// every path: success, error, early return, panic.
    ///
    /// After `work` returns (`Ok` or `Err`) the release is sent here and
    /// its outcome reported. If `work` panics, the guard holding the agent
    /// is dropped while the stack unwinds and its `Drop` sends the release
    /// on this thread before the panic carries on to the caller; a failed
    /// release there is logged (`tracing`, warn) and the token expires at
    /// the end of its TTL. With `panic = "abort"` nothing runs after a
    /// panic, so the token simply expires.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
    /// let token = app.with_agent("orch-1", "task-1", &["read:data:*"], |agent| {
    ///     Ok::<_, agentwrit_blocking::Error>(agent.access_token())
    /// })?;
    /// assert!(!app.validate(token.expose_secret())?.is_valid()); // released
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `work`'s error, or creating the agent failed. A failed release
    /// after success is returned too; after `work` failed, `work`'s error
    /// wins.
    pub fn with_agent<S, T, E>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
        work: impl FnOnce(&Agent) -> Result<T, E>,
    ) -> Result<T, E>
    where
        S: AsRef<str>,
        E: From<Error>,
    {
        let guard = self
            .create_agent(orch_id, task_id, scope)?
            .release_on_drop();
        let result = work(&guard);
        let released = guard.release();
        let output = result?;
        released?;
        Ok(output)
    }
}

// ------------------------------------------------------------------ agent --

/// The auto-renewal worker: a thread driving the core's `AutoRenew` flow,
/// woken early (unparked) to stop.
struct Renewer {
    thread: Thread,
    handle: JoinHandle<Result<u64, Error>>,
}

impl Renewer {
    fn spawn(transport: Transport, flow: AutoRenew) -> Option<Renewer> {
        let spawned = std::thread::Builder::new()
            .name("agentwrit-renew".into())
            .spawn(move || transport.drive(flow));
        match spawned {
            Ok(handle) => Some(Renewer {
                thread: handle.thread().clone(),
                handle,
            }),
            Err(error) => {
                tracing::warn!(%error, "could not start the auto-renewal thread");
                None
            }
        }
    }

    fn wake(&self) {
        self.thread.unpark();
    }

    fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    fn join(self) -> Result<u64, Error> {
        self.handle.join().unwrap_or_else(|_| {
            Err(agentwrit_core::Error::invalid_input("auto_renewal", "the worker panicked").into())
        })
    }
}

/// An agent: a SPIFFE identity holding a short-lived token for one task.
///
/// Cheap to clone; clones share the token, so a renewal is seen by all.
/// Dropping the last clone does **not** release the token (it expires by
/// itself); use [`Agent::release`], [`App::with_agent`] or
/// [`Agent::release_on_drop`].
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"])?;
/// assert!(agent.agent_id().starts_with("spiffe://"));
/// let old = agent.jti();
/// agent.renew()?;
/// assert_ne!(agent.jti(), old);
/// agent.release()?;
/// agent.release()?; // idempotent
/// assert!(agent.renew().is_err()); // released: fails without a request
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentInner>,
}

/// Releases its agent when dropped. Derefs to [`Agent`].
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let token = {
///     let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?.release_on_drop();
///     agent.access_token()
/// }; // released here
/// assert!(!app.validate(token.expose_secret())?.is_valid());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard releases the agent at once"]
pub struct AgentGuard {
    agent: Agent,
}

impl Drop for AgentGuard {
    fn drop(&mut self) {
        if let Err(error) = self.agent.release() {
            tracing::warn!(%error, "releasing the agent on drop failed; its token expires by itself");
        }
    }
}

// --------------------------------------------------------------- delegate --

/// A token delegated to another agent; it can delegate further (A → B →
/// C) and be released.
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let a = app.create_agent("orch", "a", &["read:data:*"])?;
/// let b = app.create_agent("orch", "b", &["read:data:*"])?;
/// let c = app.create_agent("orch", "c", &["read:data:*"])?;
/// let to_b = a.delegate(&b.agent_id(), &["read:data:reports"], Some(60))?;
/// let to_c = to_b.delegate(&c.agent_id(), &["read:data:reports"], None)?;
/// assert_eq!(to_c.delegation_chain.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DelegatedToken {
    app: App,
    token: agentwrit_core::DelegatedToken,
}

agentwrit_core::__transport_api!([] [] ureq::Agent);
