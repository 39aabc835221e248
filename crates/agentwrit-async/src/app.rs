//! `App`, `Agent` and `DelegatedToken`: thin async handles over the core flows.

use std::future::Future;
use std::sync::Arc;

use agentwrit_core::{AppCore, AutoRenew, ClientBuilder};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

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
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let (url, client_id, client_secret) = (broker.url(), reg.client_id.as_str(), reg.client_secret.expose_secret());
/// use agentwrit_async::App;
///
/// let app = App::new(url, client_id, client_secret)?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
/// assert_eq!(agent.scope(), ["read:data:customer-7291"]);
/// agent.release().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct App {
    core: AppCore,
    transport: Transport,
}

/// Builds an [`App`] with non-default settings: timeouts, user agent,
/// retry policy, your own `reqwest::Client`, a clock.
///
/// ```
/// use std::time::Duration;
/// use agentwrit_async::{App, RetryPolicy};
///
/// let app = App::builder("http://127.0.0.1:8080", "cm-37a7c9c10885", "4ca1b208")
///     .timeout(Duration::from_secs(3))
///     .user_agent("billing-worker/1.4")
///     .retry(RetryPolicy::none())
///     .build()?;
/// assert_eq!(app.client_id(), "cm-37a7c9c10885");
/// # Ok::<(), agentwrit_async::Error>(())
/// ```
pub type AppBuilder = ClientBuilder<App, reqwest::Client>;

impl App {
    /// Runs `work` with a new agent and releases the agent afterwards:
    /// after success, error and early return the release is awaited here.
    ///
    /// If `work` panics, or the returned future is dropped before it
    /// finishes (cancelled: `tokio::select!`, a timeout, an aborted task),
    /// the guard inside is dropped and spawns the release on the current
    /// tokio runtime; it runs unless the runtime is shutting down, in
    /// which case the token simply expires at the end of its TTL.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
    /// let token = app
    ///     .with_agent("orch-1", "task-1", &["read:data:*"], |agent| async move {
    ///         Ok::<_, agentwrit_async::Error>(agent.access_token())
    ///     })
    ///     .await?;
    /// assert!(!app.validate(token.expose_secret()).await?.is_valid()); // released
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `work`'s error, or creating the agent failed. A failed release
    /// after success is returned too; after `work` failed, `work`'s error
    /// wins.
    pub async fn with_agent<S, T, E, F, Fut>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
        work: F,
    ) -> Result<T, E>
    where
        S: AsRef<str>,
        E: From<Error>,
        F: FnOnce(Agent) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let guard = self
            .create_agent(orch_id, task_id, scope)
            .await?
            .release_on_drop();
        let result = work(guard.agent.clone()).await;
        let released = guard.release().await;
        let output = result?;
        released?;
        Ok(output)
    }
}

// ------------------------------------------------------------------ agent --

/// The auto-renewal worker: a task driving the core's `AutoRenew` flow on
/// the current tokio runtime, woken early (notified) to stop.
struct Renewer {
    wake: Arc<Notify>,
    handle: JoinHandle<Result<u64, Error>>,
}

impl Renewer {
    fn spawn(transport: Transport, flow: AutoRenew) -> Option<Renewer> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("auto-renewal needs a tokio runtime; not started");
            return None;
        };
        let wake = Arc::new(Notify::new());
        let waker = Arc::clone(&wake);
        let handle = runtime.spawn(async move { transport.drive_waking(flow, Some(&waker)).await });
        Some(Renewer { wake, handle })
    }

    fn wake(&self) {
        self.wake.notify_one();
    }

    fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    async fn join(self) -> Result<u64, Error> {
        self.handle.await.unwrap_or_else(|_| {
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
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
/// assert!(agent.agent_id().starts_with("spiffe://"));
/// let old = agent.jti();
/// agent.renew().await?;
/// assert_ne!(agent.jti(), old);
/// agent.release().await?;
/// agent.release().await?; // idempotent
/// assert!(agent.renew().await.is_err()); // released: fails without a request
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Agent {
    inner: Arc<AgentInner>,
}

/// Releases its agent when dropped. Derefs to [`Agent`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?.release_on_drop();
/// let token = agent.access_token();
/// // ... if this code panics or is cancelled, dropping `agent` spawns the release ...
/// agent.release().await?; // the normal path: release and see the outcome
/// assert!(!app.validate(token.expose_secret()).await?.is_valid());
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard releases the agent"]
pub struct AgentGuard {
    agent: Agent,
}

impl Drop for AgentGuard {
    fn drop(&mut self) {
        if self.agent.is_released() {
            return;
        }
        let agent = self.agent.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = agent.release().await {
                        tracing::warn!(%error, "releasing the agent on drop failed; its token expires by itself");
                    }
                });
            }
            Err(_) => tracing::warn!(
                "agent guard dropped outside a tokio runtime; its token expires by itself"
            ),
        }
    }
}

// --------------------------------------------------------------- delegate --

/// A token delegated to another agent; it can delegate further (A → B →
/// C) and be released.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// let a = app.create_agent("orch", "a", &["read:data:*"]).await?;
/// let b = app.create_agent("orch", "b", &["read:data:*"]).await?;
/// let c = app.create_agent("orch", "c", &["read:data:*"]).await?;
/// let to_b = a.delegate(&b.agent_id(), &["read:data:reports"], Some(60)).await?;
/// let to_c = to_b.delegate(&c.agent_id(), &["read:data:reports"], None).await?;
/// assert_eq!(to_c.delegation_chain.len(), 2);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DelegatedToken {
    app: App,
    token: agentwrit_core::DelegatedToken,
}

agentwrit_core::__transport_api!([async] [.await] reqwest::Client);
