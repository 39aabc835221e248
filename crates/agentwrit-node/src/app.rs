//! `App`, and agent creation that can be given up (`PendingAgent`).

use std::sync::Arc;

use agentwrit_bindings::{AgentRequest, Pending};
use napi::Env;
use napi::bindgen_prelude::{Buffer, Object};
use napi_derive::napi;

use crate::agent::Agent;
use crate::promise::{Resolver, promise, throw};
use crate::values::{ClientOptions, Health, Validation, settings};

/// What `createAgent` takes.
#[napi(object)]
pub struct AgentSpec {
    /// The orchestrator id.
    pub orch_id: String,
    /// The task id.
    pub task_id: String,
    /// The scopes the agent asks for.
    pub scope: Vec<String>,
    /// The longest lifetime of its tokens (seconds).
    pub max_ttl: Option<f64>,
    /// The launch token's agent name.
    pub label: Option<String>,
    /// Renew in the background before each token expires.
    pub auto_renew: Option<bool>,
    /// The agent's Ed25519 private key (its 32-byte seed) instead of a
    /// fresh one.
    pub private_key: Option<Buffer>,
}

/// An app at a broker (on [`crate::FLAVOUR`]).
#[napi]
pub struct App {
    inner: agentwrit_bindings::App,
}

#[napi]
impl App {
    /// The app `clientId` at `brokerUrl`.
    #[napi(constructor)]
    pub fn new(
        env: Env,
        broker_url: String,
        client_id: String,
        client_secret: String,
        options: Option<ClientOptions>,
    ) -> napi::Result<Self> {
        let settings = settings(&env, options)?;
        let inner = agentwrit_bindings::App::new(
            crate::FLAVOUR,
            &broker_url,
            &client_id,
            &client_secret,
            &settings,
        )
        .map_err(|e| throw(&env, &e))?;
        Ok(App { inner })
    }

    /// The app named by `AGENTWRIT_BROKER_URL`, `AGENTWRIT_CLIENT_ID` and
    /// `AGENTWRIT_CLIENT_SECRET` (and the TLS variables).
    #[napi(factory)]
    pub fn from_env(env: Env) -> napi::Result<Self> {
        let inner =
            agentwrit_bindings::App::from_env(crate::FLAVOUR).map_err(|e| throw(&env, &e))?;
        Ok(App { inner })
    }

    /// The broker's base URL, normalised.
    #[napi(getter)]
    pub fn broker_url(&self) -> String {
        self.inner.broker_url().to_owned()
    }

    /// The app's client id.
    #[napi(getter)]
    pub fn client_id(&self) -> String {
        self.inner.client_id().to_owned()
    }

    /// Starts creating an agent on the runtime and returns at once; see
    /// [`PendingAgent`].
    #[napi]
    pub fn start_create_agent(&self, env: Env, spec: AgentSpec) -> napi::Result<PendingAgent> {
        let request = request(spec).map_err(|e| throw(&env, &e))?;
        Ok(PendingAgent {
            inner: Arc::new(self.inner.create_agent(request).start()),
        })
    }

    /// `POST /v1/token/validate` on this app's connections.
    #[napi(ts_return_type = "Promise<Validation>")]
    pub fn validate<'env>(&self, env: &'env Env, token: String) -> napi::Result<Object<'env>> {
        promise(env, self.inner.validate(token), Validation::from)
    }

    /// `GET /v1/health`.
    #[napi(ts_return_type = "Promise<Health>")]
    pub fn health<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        promise(env, self.inner.health(), Health::from)
    }
}

fn request(spec: AgentSpec) -> agentwrit_bindings::Result<AgentRequest> {
    let mut request = AgentRequest::new(spec.orch_id, spec.task_id, spec.scope)
        .label(spec.label)
        .auto_renew(spec.auto_renew.unwrap_or(false));
    if let Some(ttl) = spec.max_ttl {
        request = request.max_ttl_secs(ttl)?;
    }
    if let Some(key) = spec.private_key {
        request = request.key_seed(&key)?;
    }
    Ok(request)
}

/// An agent being created on the runtime. `wait()` resolves with the
/// agent (or rejects with the creation's error, or the deadline's) once
/// the creation has ended; `abandon()` gives it up: an agent that has
/// arrived, or arrives later, is released at once (its task ended). The
/// JavaScript layer abandons when the caller's `AbortSignal` fires, so an
/// aborted creation never leaves a live token.
#[napi]
pub struct PendingAgent {
    inner: Arc<Pending<agentwrit_bindings::Agent>>,
}

#[napi]
impl PendingAgent {
    /// Resolves with the agent once the creation ends (taken on the
    /// JavaScript thread as the promise settles, so no agent is ever
    /// between owners); rejects with its error, the deadline's, or a
    /// plain error when it was abandoned first.
    #[napi(ts_return_type = "Promise<Agent>")]
    pub fn wait<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let slot = Arc::clone(&self.inner);
        let (deferred, promise) = env.create_deferred::<Agent, Resolver<Agent>>()?;
        // Settled from where the creation ends; the agent is taken on the
        // JavaScript thread, as the promise settles.
        self.inner.when_finished(move || {
            deferred.resolve(Box::new(move |env| match slot.take() {
                Ok(agent) => Ok(Agent::from(agent)),
                Err(error) => Err(throw(&env, &error)),
            }));
        });
        Ok(promise)
    }

    /// Gives the creation up (idempotent; nothing once the agent was
    /// taken).
    #[napi]
    pub fn abandon(&self) {
        self.inner.abandon();
    }

    /// Whether the creation has ended.
    #[napi(getter)]
    pub fn done(&self) -> bool {
        self.inner.is_finished()
    }
}
