//! `Operator` (admin secret): apps, launch tokens, revocation, audit.
//! Answers are the broker's bodies with camelCase keys.

use agentwrit_bindings::AuditFilter;
use napi::Env;
use napi::bindgen_prelude::Object;
use napi_derive::napi;

use crate::promise::{promise, throw};
use crate::values::{ClientOptions, camel_tree, settings};

/// The filters of `auditEvents`.
#[napi(object)]
#[derive(Default)]
pub struct AuditQuery {
    /// Only this agent's events.
    pub agent_id: Option<String>,
    /// Only this task's events.
    pub task_id: Option<String>,
    /// Only events of this type.
    pub event_type: Option<String>,
    /// Only events with this outcome.
    pub outcome: Option<String>,
    /// At or after this RFC 3339 instant.
    pub since: Option<String>,
    /// At or before this RFC 3339 instant.
    pub until: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Events to skip.
    pub offset: Option<u32>,
}

/// What a launch token allows.
#[napi(object)]
pub struct LaunchTokenSpec {
    /// The agent name.
    pub agent_name: String,
    /// The scope ceiling of the agent it registers.
    pub allowed_scope: Vec<String>,
    /// The agent token's longest lifetime (seconds).
    pub max_ttl: Option<i64>,
    /// Whether it can register one agent only.
    pub single_use: Option<bool>,
    /// The launch token's own lifetime (seconds).
    pub ttl: Option<i64>,
}

/// The operator at a broker.
#[napi]
pub struct Operator {
    inner: agentwrit_bindings::Operator,
}

fn tree(value: serde_json::Value) -> serde_json::Value {
    camel_tree(value)
}

#[napi]
impl Operator {
    /// The operator at `brokerUrl`, logging in with `adminSecret`.
    #[napi(constructor)]
    pub fn new(
        env: Env,
        broker_url: String,
        admin_secret: String,
        options: Option<ClientOptions>,
    ) -> napi::Result<Self> {
        let settings = settings(&env, options)?;
        let inner = agentwrit_bindings::Operator::new(
            crate::FLAVOUR,
            &broker_url,
            &admin_secret,
            &settings,
        )
        .map_err(|e| throw(&env, &e))?;
        Ok(Operator { inner })
    }

    /// From `AGENTWRIT_BROKER_URL` and `AGENTWRIT_ADMIN_SECRET` (and the
    /// TLS variables).
    #[napi(factory)]
    pub fn from_env(env: Env) -> napi::Result<Self> {
        let inner =
            agentwrit_bindings::Operator::from_env(crate::FLAVOUR).map_err(|e| throw(&env, &e))?;
        Ok(Operator { inner })
    }

    /// The broker's base URL.
    #[napi(getter)]
    pub fn broker_url(&self) -> String {
        self.inner.broker_url().to_owned()
    }

    /// Registers an app with a scope ceiling; the answer holds its client
    /// secret.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn create_app<'env>(
        &self,
        env: &'env Env,
        name: String,
        scopes: Vec<String>,
        token_ttl: Option<i64>,
    ) -> napi::Result<Object<'env>> {
        promise(env, self.inner.create_app(name, scopes, token_ttl), tree)
    }

    /// Every app.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn list_apps<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        promise(env, self.inner.list_apps(), tree)
    }

    /// One app.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn get_app<'env>(&self, env: &'env Env, app_id: String) -> napi::Result<Object<'env>> {
        promise(env, self.inner.get_app(app_id), tree)
    }

    /// Changes an app's ceiling or token TTL.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn update_app<'env>(
        &self,
        env: &'env Env,
        app_id: String,
        scopes: Option<Vec<String>>,
        token_ttl: Option<i64>,
    ) -> napi::Result<Object<'env>> {
        promise(env, self.inner.update_app(app_id, scopes, token_ttl), tree)
    }

    /// Deregisters an app.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn delete_app<'env>(&self, env: &'env Env, app_id: String) -> napi::Result<Object<'env>> {
        promise(env, self.inner.delete_app(app_id), tree)
    }

    /// A launch token for registering an agent directly.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn launch_token<'env>(
        &self,
        env: &'env Env,
        spec: LaunchTokenSpec,
    ) -> napi::Result<Object<'env>> {
        promise(
            env,
            self.inner.launch_token(
                spec.agent_name,
                spec.allowed_scope,
                spec.max_ttl,
                spec.single_use,
                spec.ttl,
            ),
            tree,
        )
    }

    /// Revokes at `level` (`token`, `agent`, `task` or `chain`).
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn revoke<'env>(
        &self,
        env: &'env Env,
        level: String,
        target: String,
    ) -> napi::Result<Object<'env>> {
        let level = agentwrit_bindings::revocation_level(&level).map_err(|e| throw(env, &e))?;
        promise(env, self.inner.revoke(level, target), tree)
    }

    /// One page of the audit trail.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn audit_events<'env>(
        &self,
        env: &'env Env,
        query: Option<AuditQuery>,
    ) -> napi::Result<Object<'env>> {
        let q = query.unwrap_or_default();
        let filter = AuditFilter {
            agent_id: q.agent_id,
            task_id: q.task_id,
            event_type: q.event_type,
            outcome: q.outcome,
            since: q.since,
            until: q.until,
            limit: q.limit,
            offset: q.offset,
        };
        promise(env, self.inner.audit_events(filter), tree)
    }
}
