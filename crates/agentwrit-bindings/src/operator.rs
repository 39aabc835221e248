//! The operator (admin secret): apps, launch tokens, revocation, audit.
//! Answers are the broker's bodies as value trees.

use std::time::Duration;

use agentwrit_blocking::wire::{
    AppResponse, AuditEventsResponse, AuditQuery, CreateAppRequest, LaunchTokenRequest,
    LaunchTokenResponse, ListAppsResponse, RevokeResponse, Timestamp, UpdateAppRequest,
};

use crate::call::Call;
use crate::error::{BindingError, Result};
use crate::settings::Settings;
use crate::value::AsTree;
use crate::{Client, Flavour};

pub use agentwrit_blocking::wire::RevocationLevel;

/// The operator at a broker, of either [`Flavour`].
#[derive(Debug)]
pub struct Operator {
    client: Client<agentwrit_blocking::Operator, agentwrit_async::Operator>,
    deadline: Option<Duration>,
}

/// A revocation level from its wire name.
///
/// ```
/// use agentwrit_bindings::{RevocationLevel, revocation_level};
/// assert_eq!(revocation_level("task")?, RevocationLevel::Task);
/// assert!(revocation_level("everything").is_err());
/// # Ok::<(), agentwrit_bindings::BindingError>(())
/// ```
///
/// # Errors
///
/// Anything but `token`, `agent`, `task` or `chain`.
pub fn revocation_level(level: &str) -> Result<RevocationLevel> {
    match level {
        "token" => Ok(RevocationLevel::Token),
        "agent" => Ok(RevocationLevel::Agent),
        "task" => Ok(RevocationLevel::Task),
        "chain" => Ok(RevocationLevel::Chain),
        other => Err(BindingError::invalid_input(
            "level",
            &format!("expected token, agent, task or chain, got {other:?}"),
        )),
    }
}

/// The filters of [`Operator::audit_events`], as a language passes them.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this agent's events.
    pub agent_id: Option<String>,
    /// Only this task's events.
    pub task_id: Option<String>,
    /// Only events of this type.
    pub event_type: Option<String>,
    /// Only events with this outcome.
    pub outcome: Option<String>,
    /// Events at or after this RFC 3339 instant.
    pub since: Option<String>,
    /// Events at or before this RFC 3339 instant.
    pub until: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Events to skip.
    pub offset: Option<u32>,
}

impl AuditFilter {
    fn query(self) -> Result<AuditQuery> {
        let time = |field: &str, text: &str| {
            Timestamp::parse(text).map_err(|e| BindingError::invalid_input(field, &e.to_string()))
        };
        let mut q = AuditQuery::new();
        if let Some(v) = self.agent_id {
            q = q.agent_id(v);
        }
        if let Some(v) = self.task_id {
            q = q.task_id(v);
        }
        if let Some(v) = self.event_type {
            q = q.event_type(v);
        }
        if let Some(v) = self.outcome {
            q = q.outcome(v);
        }
        if let Some(v) = self.since {
            q = q.since(time("since", &v)?);
        }
        if let Some(v) = self.until {
            q = q.until(time("until", &v)?);
        }
        if let Some(v) = self.limit {
            q = q.limit(v);
        }
        if let Some(v) = self.offset {
            q = q.offset(v);
        }
        Ok(q)
    }
}

impl Operator {
    /// The operator at `broker_url`, logging in with `admin_secret`.
    ///
    /// # Errors
    ///
    /// A malformed URL, an empty secret, unusable TLS material.
    pub fn new(
        flavour: Flavour,
        broker_url: &str,
        admin_secret: &str,
        settings: &Settings,
    ) -> Result<Operator> {
        let err = |e: agentwrit_blocking::Error| BindingError::from_sdk(&e, broker_url);
        let client = match flavour {
            Flavour::Blocking => Client::Blocking(
                settings
                    .blocking_broker(broker_url)?
                    .operator(admin_secret.to_owned())
                    .map_err(err)?,
            ),
            Flavour::Async => Client::Async(
                settings
                    .async_broker(broker_url)?
                    .operator(admin_secret.to_owned())
                    .map_err(err)?,
            ),
        };
        Ok(Operator {
            client,
            deadline: Some(settings.timeout()),
        })
    }

    /// From `AGENTWRIT_BROKER_URL` and `AGENTWRIT_ADMIN_SECRET` (and the
    /// TLS variables).
    ///
    /// # Errors
    ///
    /// A variable missing or malformed.
    pub fn from_env(flavour: Flavour) -> Result<Operator> {
        let err = |e: agentwrit_blocking::Error| BindingError::from_sdk(&e, "");
        let client = match flavour {
            Flavour::Blocking => {
                Client::Blocking(agentwrit_blocking::Operator::from_env().map_err(err)?)
            }
            Flavour::Async => {
                let _context = crate::runtime::runtime()?.enter();
                Client::Async(agentwrit_async::Operator::from_env().map_err(err)?)
            }
        };
        Ok(Operator {
            client,
            deadline: None,
        })
    }

    /// The broker's base URL.
    #[must_use]
    pub fn broker_url(&self) -> &str {
        both!(&self.client, o => o.broker_url())
    }

    /// The call with its answer as a value tree, within the deadline.
    fn finish<T: AsTree + crate::Abandon>(&self, call: Call<T>) -> Call<serde_json::Value> {
        call.and_then(|answer| answer.as_tree())
            .deadline(self.deadline)
    }

    /// Registers an app with a scope ceiling; the answer holds its client
    /// secret.
    pub fn create_app(
        &self,
        name: String,
        scopes: Vec<String>,
        token_ttl: Option<i64>,
    ) -> Call<serde_json::Value> {
        let mut request = CreateAppRequest::new(name, scopes);
        request.token_ttl = token_ttl;
        self.finish::<AppResponse>(
            call!(self.client.clone(), self.broker_url(), "create_app", Write, o =>
                o.create_app(request)),
        )
    }

    /// Every app.
    pub fn list_apps(&self) -> Call<serde_json::Value> {
        self.finish::<ListAppsResponse>(
            call!(self.client.clone(), self.broker_url(), "list_apps", Read, o => o.list_apps()),
        )
    }

    /// One app.
    pub fn get_app(&self, app_id: String) -> Call<serde_json::Value> {
        self.finish::<AppResponse>(
            call!(self.client.clone(), self.broker_url(), "get_app", Read, o => o.get_app(&app_id)),
        )
    }

    /// Changes an app's ceiling or token TTL.
    pub fn update_app(
        &self,
        app_id: String,
        scopes: Option<Vec<String>>,
        token_ttl: Option<i64>,
    ) -> Call<serde_json::Value> {
        let mut update = UpdateAppRequest::new();
        update.scopes = scopes;
        update.token_ttl = token_ttl;
        self.finish::<AppResponse>(
            call!(self.client.clone(), self.broker_url(), "update_app", Write, o =>
                o.update_app(&app_id, update)),
        )
    }

    /// Deregisters an app.
    pub fn delete_app(&self, app_id: String) -> Call<serde_json::Value> {
        self.finish::<AppResponse>(
            call!(self.client.clone(), self.broker_url(), "delete_app", Write, o =>
                o.delete_app(&app_id)),
        )
    }

    /// A launch token for registering an agent directly.
    pub fn launch_token(
        &self,
        agent_name: String,
        allowed_scope: Vec<String>,
        max_ttl: Option<i64>,
        single_use: Option<bool>,
        ttl: Option<i64>,
    ) -> Call<serde_json::Value> {
        let mut request = LaunchTokenRequest::new(agent_name, allowed_scope);
        request.max_ttl = max_ttl;
        request.single_use = single_use;
        request.ttl = ttl;
        self.finish::<LaunchTokenResponse>(
            call!(self.client.clone(), self.broker_url(), "launch_token", Write, o =>
                o.launch_token(request)),
        )
    }

    /// Revokes at `level` (`target`: a jti, a SPIFFE id, a task id or a
    /// chain's root agent).
    pub fn revoke(&self, level: RevocationLevel, target: String) -> Call<serde_json::Value> {
        self.finish::<RevokeResponse>(
            call!(self.client.clone(), self.broker_url(), "revoke", Write, o =>
                o.revoke(level, &target)),
        )
    }

    /// One page of the audit trail.
    pub fn audit_events(&self, filter: AuditFilter) -> Call<serde_json::Value> {
        let query = match filter.query() {
            Ok(q) => q,
            Err(e) => return Call::ready("audit_events", Err(e)),
        };
        self.finish::<AuditEventsResponse>(
            call!(self.client.clone(), self.broker_url(), "audit_events", Read, o =>
                o.audit_events(query)),
        )
    }
}
