//! Agents and delegated tokens: each getter written once for both
//! flavours, each call once as a [`Call`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use agentwrit_blocking::wire::{Claims, DelegationRecord};

use crate::call::{Abandon, Call, Effect};
use crate::error::{BindingError, Result};
use crate::runtime::{self, process_id};
use crate::value::ReleaseOutcome;
use crate::{Client, Flavour};

/// An agent of either flavour: the handle a language object owns.
///
/// Dropping it does **not** release the token (it expires at the end of
/// its TTL), but it ends automatic renewal: renewal lives as long as the
/// last handle, not as long as the process. In a process forked from the
/// one that started the renewal, the renewal stays the parent's: the
/// child neither stops nor continues it, and never waits for it.
#[derive(Debug)]
pub struct Agent {
    client: Client<agentwrit_blocking::Agent, agentwrit_async::Agent>,
    broker_url: String,
    deadline: Option<Duration>,
    /// The process that started this agent's automatic renewal (0: none).
    renewing_in: AtomicU32,
}

impl From<agentwrit_blocking::Agent> for Agent {
    fn from(a: agentwrit_blocking::Agent) -> Self {
        Agent::with(Client::Blocking(a))
    }
}

impl From<agentwrit_async::Agent> for Agent {
    fn from(a: agentwrit_async::Agent) -> Self {
        Agent::with(Client::Async(a))
    }
}

impl Abandon for Agent {
    /// Nobody took this agent (its creation was cancelled): its task is
    /// ended at once, on the runtime.
    fn abandon(self) {
        let url = self.broker_url.clone();
        let result = match self.client.clone() {
            Client::Blocking(a) => {
                runtime::unblock(move || report(a.release_task(), &url)).map(drop)
            }
            Client::Async(a) => {
                runtime::spawn(async move { report(a.release_task().await, &url) }).map(drop)
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "could not release an agent nobody took; it expires at the end of its TTL");
        }
    }
}

fn report(
    result: std::result::Result<agentwrit_blocking::ReleaseOutcome, agentwrit_blocking::Error>,
    url: &str,
) {
    if let Err(error) = result {
        let error = BindingError::from_sdk(&error, url);
        tracing::warn!(%error, "releasing an agent nobody took failed; it expires at the end of its TTL");
    }
}

impl Agent {
    fn with(client: Client<agentwrit_blocking::Agent, agentwrit_async::Agent>) -> Agent {
        Agent {
            client,
            broker_url: String::new(),
            deadline: None,
            renewing_in: AtomicU32::new(0),
        }
    }

    /// Sets the broker URL its errors name and its calls' deadline; notes
    /// a renewal the creation started.
    pub(crate) fn with_context(
        mut self,
        broker_url: &str,
        deadline: Option<Duration>,
        renewing: bool,
    ) -> Agent {
        broker_url.clone_into(&mut self.broker_url);
        self.deadline = deadline;
        if renewing {
            self.renewing_in.store(process_id(), Ordering::SeqCst);
        }
        self
    }

    /// Which transport it is built on.
    #[must_use]
    pub fn flavour(&self) -> Flavour {
        self.client.flavour()
    }

    /// The agent's SPIFFE id.
    #[must_use]
    pub fn agent_id(&self) -> String {
        both!(&self.client, a => a.agent_id())
    }

    /// The current token, in clear (a language hands it to the caller).
    #[must_use]
    pub fn access_token(&self) -> String {
        both!(&self.client, a => a.access_token().expose_secret().to_owned())
    }

    /// The scope the broker granted.
    #[must_use]
    pub fn scope(&self) -> Vec<String> {
        both!(&self.client, a => a.scope())
    }

    /// The current token's lifetime, as issued.
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        both!(&self.client, a => a.expires_in())
    }

    /// When the current token expires.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        both!(&self.client, a => a.expires_at())
    }

    /// The current token's id.
    #[must_use]
    pub fn jti(&self) -> String {
        both!(&self.client, a => a.jti())
    }

    /// The task id.
    #[must_use]
    pub fn task_id(&self) -> String {
        both!(&self.client, a => a.task_id())
    }

    /// The orchestrator id.
    #[must_use]
    pub fn orch_id(&self) -> String {
        both!(&self.client, a => a.orch_id())
    }

    /// Whether it has been released.
    #[must_use]
    pub fn is_released(&self) -> bool {
        both!(&self.client, a => a.is_released())
    }

    /// Whether its scope covers every scope in `required`.
    #[must_use]
    pub fn allows(&self, required: &[String]) -> bool {
        both!(&self.client, a => a.allows(required))
    }

    /// The current token's claims.
    #[must_use]
    pub fn claims(&self) -> Claims {
        both!(&self.client, a => a.claims())
    }

    /// Renews the token in place.
    pub fn renew(&self) -> Call<()> {
        call!(self.client.clone(), &self.broker_url, "renew", Write, a => a.renew())
            .deadline(self.deadline)
    }

    /// Releases the token (idempotent). Never cut: once started it runs
    /// to its end whatever the caller does.
    pub fn release(&self) -> Call<ReleaseOutcome> {
        call!(self.client.clone(), &self.broker_url, "release", Write, a => a.release())
            .deadline(self.deadline)
    }

    /// Releases every token this agent delegated, then the agent.
    pub fn release_task(&self) -> Call<ReleaseOutcome> {
        call!(self.client.clone(), &self.broker_url, "release_task", Write, a => a.release_task())
            .deadline(self.deadline)
    }

    /// Delegates `scope` to the registered agent `delegate_to` for `ttl`.
    pub fn delegate(
        &self,
        delegate_to: String,
        scope: Vec<String>,
        ttl: Option<Duration>,
    ) -> Call<Delegated> {
        let (url, deadline) = (self.broker_url.clone(), self.deadline);
        call!(self.client.clone(), &self.broker_url, "delegate", Write, a =>
            a.delegate(&delegate_to, &scope, ttl))
        .map(move |d: Delegated| d.with_context(&url, deadline))
        .deadline(self.deadline)
    }

    /// Starts renewing in the background (a thread for a blocking agent,
    /// a task on the runtime for an async one).
    ///
    /// # Errors
    ///
    /// The runtime could not start (async agents).
    pub fn start_auto_renewal(&self) -> Result<()> {
        match &self.client {
            Client::Blocking(a) => a.start_auto_renewal(),
            Client::Async(a) => {
                let _context = runtime::runtime()?.enter();
                a.start_auto_renewal();
            }
        }
        // A renewal still running in a parent process is not restarted
        // (the SDK sees it as running); only this process's counts.
        let _ =
            self.renewing_in
                .compare_exchange(0, process_id(), Ordering::SeqCst, Ordering::SeqCst);
        Ok(())
    }

    /// Stops background renewal: the number of renewals made, `None` if
    /// none was running in this process.
    pub fn stop_auto_renewal(&self) -> Call<Option<u64>> {
        let pid = process_id();
        if self.renewing_in.load(Ordering::SeqCst) != pid {
            // Never started, or started by a parent before a fork: nothing
            // of it runs here, and its worker must not be waited for.
            return Call::ready("stop_auto_renewal", Ok(None));
        }
        self.renewing_in.store(0, Ordering::SeqCst);
        let url = self.broker_url.clone();
        let err = move |e: agentwrit_blocking::Error| BindingError::from_sdk(&e, &url);
        match self.client.clone() {
            Client::Blocking(a) => Call::blocking("stop_auto_renewal", Effect::Write, move || {
                a.stop_auto_renewal().transpose().map_err(err)
            }),
            Client::Async(a) => Call::nonblocking("stop_auto_renewal", Effect::Write, async move {
                a.stop_auto_renewal().await.transpose().map_err(err)
            }),
        }
    }
}

impl Drop for Agent {
    /// Ends this process's automatic renewal of the agent (without
    /// waiting); the token is not released and expires at the end of its
    /// TTL. A renewal started by a parent process is left alone, and the
    /// agent is not dropped here at all: its renewal worker belongs to the
    /// parent, and nothing of it may be waited for or torn down in a child.
    fn drop(&mut self) {
        let owner = self.renewing_in.load(Ordering::SeqCst);
        if owner == 0 {
            return;
        }
        if owner != process_id() {
            std::mem::forget(self.client.clone());
            return;
        }
        if self.is_released() {
            return; // its release ended the renewal
        }
        match self.client.clone() {
            Client::Blocking(a) => {
                let spawned = std::thread::Builder::new()
                    .name("agentwrit-renew-stop".into())
                    .spawn(move || drop(a.stop_auto_renewal()));
                if let Err(error) = spawned {
                    tracing::warn!(%error, "could not stop the renewal of a dropped agent");
                }
            }
            Client::Async(a) => {
                if let Err(error) = runtime::spawn(async move { drop(a.stop_auto_renewal().await) })
                {
                    tracing::warn!(%error, "could not stop the renewal of a dropped agent");
                }
            }
        }
    }
}

/// A token an agent delegated, of either flavour.
#[derive(Debug)]
pub struct Delegated {
    client: Client<agentwrit_blocking::DelegatedToken, agentwrit_async::DelegatedToken>,
    broker_url: String,
    deadline: Option<Duration>,
}

impl From<agentwrit_blocking::DelegatedToken> for Delegated {
    fn from(d: agentwrit_blocking::DelegatedToken) -> Self {
        Delegated::with(Client::Blocking(d))
    }
}

impl From<agentwrit_async::DelegatedToken> for Delegated {
    fn from(d: agentwrit_async::DelegatedToken) -> Self {
        Delegated::with(Client::Async(d))
    }
}

/// A delegated token nobody took is still released with its origin's
/// task (the origin agent tracks it).
impl Abandon for Delegated {}

impl Delegated {
    fn with(
        client: Client<agentwrit_blocking::DelegatedToken, agentwrit_async::DelegatedToken>,
    ) -> Delegated {
        Delegated {
            client,
            broker_url: String::new(),
            deadline: None,
        }
    }

    fn with_context(mut self, broker_url: &str, deadline: Option<Duration>) -> Delegated {
        broker_url.clone_into(&mut self.broker_url);
        self.deadline = deadline;
        self
    }

    /// The delegated token, in clear.
    #[must_use]
    pub fn access_token(&self) -> String {
        both!(&self.client, d => d.access_token().expose_secret().to_owned())
    }

    /// Its lifetime.
    #[must_use]
    pub fn expires_in(&self) -> Duration {
        both!(&self.client, d => d.expires_in())
    }

    /// When it expires.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        both!(&self.client, d => d.expires_at())
    }

    /// The delegate's SPIFFE id.
    #[must_use]
    pub fn subject(&self) -> String {
        both!(&self.client, d => d.subject())
    }

    /// The delegated scope.
    #[must_use]
    pub fn scope(&self) -> Vec<String> {
        both!(&self.client, d => d.scope())
    }

    /// The delegated token's claims (its chain hash among them).
    #[must_use]
    pub fn claims(&self) -> Claims {
        both!(&self.client, d => d.claims())
    }

    /// The chain, oldest hop first.
    #[must_use]
    pub fn chain(&self) -> Vec<DelegationRecord> {
        both!(&self.client, d => d.delegation_chain().to_vec())
    }

    /// Whether the delegated scope covers `required`.
    #[must_use]
    pub fn allows(&self, required: &[String]) -> bool {
        both!(&self.client, d => d.allows(required))
    }

    /// Delegates onwards (A → B → C).
    pub fn delegate(
        &self,
        delegate_to: String,
        scope: Vec<String>,
        ttl: Option<Duration>,
    ) -> Call<Delegated> {
        let (url, deadline) = (self.broker_url.clone(), self.deadline);
        call!(self.client.clone(), &self.broker_url, "delegate", Write, d =>
            d.delegate(&delegate_to, &scope, ttl))
        .map(move |next: Delegated| next.with_context(&url, deadline))
        .deadline(self.deadline)
    }

    /// Releases the delegated token.
    pub fn release(&self) -> Call<ReleaseOutcome> {
        call!(self.client.clone(), &self.broker_url, "release", Write, d => d.release())
            .deadline(self.deadline)
    }
}
