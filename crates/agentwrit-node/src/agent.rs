//! `Agent` and `Delegated`: the binding layer's handles as classes; each
//! broker call a promise.

use napi::Env;
use napi::bindgen_prelude::Object;
use napi_derive::napi;

use crate::promise::{promise, throw};
use crate::values::{Claims, DelegationRecord, secs, unix_ms};

fn ttl(env: &Env, ttl: Option<f64>) -> napi::Result<Option<std::time::Duration>> {
    ttl.map(|t| agentwrit_bindings::seconds("ttl", t))
        .transpose()
        .map_err(|e| throw(env, &e))
}

/// An agent. Dropping it (its JavaScript object collected) ends its
/// automatic renewal; it is not released, and its token expires at the end
/// of its TTL.
#[napi]
pub struct Agent {
    inner: agentwrit_bindings::Agent,
}

impl From<agentwrit_bindings::Agent> for Agent {
    fn from(inner: agentwrit_bindings::Agent) -> Self {
        Agent { inner }
    }
}

#[napi]
impl Agent {
    /// The agent's SPIFFE id.
    #[napi(getter)]
    pub fn agent_id(&self) -> String {
        self.inner.agent_id()
    }
    /// The current token, in clear.
    #[napi(getter)]
    pub fn access_token(&self) -> String {
        self.inner.access_token()
    }
    /// The scope the broker granted.
    #[napi(getter)]
    pub fn scope(&self) -> Vec<String> {
        self.inner.scope()
    }
    /// The current token's lifetime as issued (seconds).
    #[napi(getter)]
    pub fn expires_in(&self) -> f64 {
        secs(self.inner.expires_in())
    }
    /// When the current token expires (milliseconds since the epoch).
    #[napi(getter)]
    pub fn expires_at_ms(&self) -> f64 {
        unix_ms(self.inner.expires_at())
    }
    /// The current token's id.
    #[napi(getter)]
    pub fn jti(&self) -> String {
        self.inner.jti()
    }
    /// The task id.
    #[napi(getter)]
    pub fn task_id(&self) -> String {
        self.inner.task_id()
    }
    /// The orchestrator id.
    #[napi(getter)]
    pub fn orch_id(&self) -> String {
        self.inner.orch_id()
    }
    /// Whether it has been released.
    #[napi(getter)]
    pub fn released(&self) -> bool {
        self.inner.is_released()
    }
    /// Whether its scope covers every scope in `required`.
    #[napi]
    pub fn allows(&self, required: Vec<String>) -> bool {
        self.inner.allows(&required)
    }
    /// The current token's claims.
    #[napi]
    pub fn claims(&self) -> Claims {
        Claims::from(&self.inner.claims())
    }
    /// Renews the token in place.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn renew<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        promise(env, self.inner.renew(), |()| ())
    }
    /// Releases the token (idempotent): `"released"` or `"already_dead"`.
    #[napi(ts_return_type = "Promise<'released' | 'already_dead'>")]
    pub fn release<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        promise(env, self.inner.release(), |o| o.as_str())
    }
    /// Releases every token this agent delegated, then the agent.
    #[napi(ts_return_type = "Promise<'released' | 'already_dead'>")]
    pub fn release_task<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        promise(env, self.inner.release_task(), |o| o.as_str())
    }
    /// Delegates `scope` to the registered agent `delegateTo` for `ttl`
    /// seconds.
    #[napi(ts_return_type = "Promise<Delegated>")]
    pub fn delegate<'env>(
        &self,
        env: &'env Env,
        delegate_to: String,
        scope: Vec<String>,
        ttl_secs: Option<f64>,
    ) -> napi::Result<Object<'env>> {
        let ttl = ttl(env, ttl_secs)?;
        promise(
            env,
            self.inner.delegate(delegate_to, scope, ttl),
            Delegated::from,
        )
    }
    /// Starts renewing in the background.
    #[napi]
    pub fn start_auto_renewal(&self, env: Env) -> napi::Result<()> {
        self.inner.start_auto_renewal().map_err(|e| throw(&env, &e))
    }
    /// Stops background renewal: the number of renewals made, `null` if
    /// none was running.
    #[napi(ts_return_type = "Promise<number | null>")]
    pub fn stop_auto_renewal<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        promise(env, self.inner.stop_auto_renewal(), |n| n.map(|n| n as f64))
    }
}

/// A token an agent (or a delegated token) handed to another agent.
#[napi]
pub struct Delegated {
    inner: agentwrit_bindings::Delegated,
}

impl From<agentwrit_bindings::Delegated> for Delegated {
    fn from(inner: agentwrit_bindings::Delegated) -> Self {
        Delegated { inner }
    }
}

#[napi]
impl Delegated {
    /// The delegated token, in clear.
    #[napi(getter)]
    pub fn access_token(&self) -> String {
        self.inner.access_token()
    }
    /// Its lifetime (seconds).
    #[napi(getter)]
    pub fn expires_in(&self) -> f64 {
        secs(self.inner.expires_in())
    }
    /// When it expires (milliseconds since the epoch).
    #[napi(getter)]
    pub fn expires_at_ms(&self) -> f64 {
        unix_ms(self.inner.expires_at())
    }
    /// The delegate's SPIFFE id.
    #[napi(getter)]
    pub fn subject(&self) -> String {
        self.inner.subject()
    }
    /// The delegated scope.
    #[napi(getter)]
    pub fn scope(&self) -> Vec<String> {
        self.inner.scope()
    }
    /// The chain, oldest hop first.
    #[napi]
    pub fn chain(&self) -> Vec<DelegationRecord> {
        self.inner
            .chain()
            .iter()
            .map(DelegationRecord::from)
            .collect()
    }
    /// Whether the delegated scope covers `required`.
    #[napi]
    pub fn allows(&self, required: Vec<String>) -> bool {
        self.inner.allows(&required)
    }
    /// The delegated token's claims.
    #[napi]
    pub fn claims(&self) -> Claims {
        Claims::from(&self.inner.claims())
    }
    /// Delegates onwards (A → B → C).
    #[napi(ts_return_type = "Promise<Delegated>")]
    pub fn delegate<'env>(
        &self,
        env: &'env Env,
        delegate_to: String,
        scope: Vec<String>,
        ttl_secs: Option<f64>,
    ) -> napi::Result<Object<'env>> {
        let ttl = ttl(env, ttl_secs)?;
        promise(
            env,
            self.inner.delegate(delegate_to, scope, ttl),
            Delegated::from,
        )
    }
    /// Releases the delegated token.
    #[napi(ts_return_type = "Promise<'released' | 'already_dead'>")]
    pub fn release<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        promise(env, self.inner.release(), |o| o.as_str())
    }
}
