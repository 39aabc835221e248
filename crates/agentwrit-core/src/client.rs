//! The SDK's calls as ready-made flows: what the transports' `App` and
//! `Operator` drive.
//!
//! [`AppCore`] and [`OperatorCore`] hold a [`ClientConfig`] and a
//! [`SharedSession`]; each method checks its input and returns the flow
//! for one SDK call, with authentication and the one retry after a 401
//! built in. A transport's method is then one line: drive this flow.

use std::sync::Arc;

use agentwrit_wire::{
    AccessToken, AdminSecret, AuditQuery, BearerToken, ClientSecret, CreateAppRequest,
    LaunchTokenRequest, RevocationLevel, UpdateAppRequest,
};
use rand_core::CryptoRngCore;

use crate::agent::{CreateAgent, CreateAgentRequest, DEFAULT_MAX_TTL};
use crate::config::{BrokerUrl, ClientConfig};
use crate::error::Error;
use crate::health::Health;
use crate::input;
use crate::keys::AgentKey;
use crate::operator::{
    AuditEvents, CreateApp, CreateLaunchToken, DeleteApp, GetApp, ListApps, Revoke, UpdateApp,
};
use crate::session::{SharedSession, WithSession};
use crate::validate::Validate;

/// The environment variable holding the broker's URL.
pub const ENV_BROKER_URL: &str = "AGENTWRIT_BROKER_URL";
/// The environment variable holding the app's client id.
pub const ENV_CLIENT_ID: &str = "AGENTWRIT_CLIENT_ID";
/// The environment variable holding the app's client secret.
pub const ENV_CLIENT_SECRET: &str = "AGENTWRIT_CLIENT_SECRET";
/// The environment variable holding the operator's admin secret (the
/// broker's `AA_ADMIN_SECRET`).
pub const ENV_ADMIN_SECRET: &str = "AGENTWRIT_ADMIN_SECRET";

fn required(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, Error> {
    lookup(name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| Error::invalid_input(name, "is not set"))
}

/// What to read from the environment for an app: the broker URL, client id
/// and client secret, from [`ENV_BROKER_URL`], [`ENV_CLIENT_ID`] and
/// [`ENV_CLIENT_SECRET`], through `lookup` (pass `|k| std::env::var(k).ok()`).
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the first variable that is unset or
/// empty, or a broker URL that does not parse.
///
/// ```
/// use agentwrit_core::app_settings_from;
/// let env = |k: &str| match k {
///     "AGENTWRIT_BROKER_URL" => Some("http://127.0.0.1:8080".to_owned()),
///     "AGENTWRIT_CLIENT_ID" => Some("cm-37a7c9c10885".to_owned()),
///     _ => None,
/// };
/// let err = app_settings_from(env).unwrap_err();
/// assert!(err.to_string().contains("AGENTWRIT_CLIENT_SECRET"));
/// ```
pub fn app_settings_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(BrokerUrl, String, ClientSecret), Error> {
    let url = BrokerUrl::parse(&required(&lookup, ENV_BROKER_URL)?)?;
    let client_id = required(&lookup, ENV_CLIENT_ID)?;
    let secret = ClientSecret::from(required(&lookup, ENV_CLIENT_SECRET)?);
    Ok((url, client_id, secret))
}

/// What to read from the environment for the operator: the broker URL and
/// the admin secret, from [`ENV_BROKER_URL`] and [`ENV_ADMIN_SECRET`],
/// through `lookup` (pass `|k| std::env::var(k).ok()`).
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the first variable that is unset or
/// empty, or a broker URL that does not parse.
///
/// ```
/// use agentwrit_core::operator_settings_from;
/// let env = |k: &str| (k == "AGENTWRIT_BROKER_URL").then(|| "http://127.0.0.1:8080".to_owned());
/// let err = operator_settings_from(env).unwrap_err();
/// assert!(err.to_string().contains("AGENTWRIT_ADMIN_SECRET"));
/// ```
pub fn operator_settings_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(BrokerUrl, AdminSecret), Error> {
    let url = BrokerUrl::parse(&required(&lookup, ENV_BROKER_URL)?)?;
    let secret = AdminSecret::from(required(&lookup, ENV_ADMIN_SECRET)?);
    Ok((url, secret))
}

/// How to create an agent, beyond orch, task and scope.
///
/// ```
/// use std::time::Duration;
/// use agentwrit_core::{AgentKey, AgentOptions};
/// let options = AgentOptions::new()
///     .label("nightly-report")
///     .max_ttl(Duration::from_secs(600))
///     .key(AgentKey::from_seed([7; 32]))
///     .auto_renew(true);
/// assert_eq!(options.get_max_ttl(), Duration::from_secs(600));
/// assert!(options.get_auto_renew());
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AgentOptions {
    key: Option<AgentKey>,
    max_ttl: Option<i64>,
    label: Option<String>,
    auto_renew: bool,
}

impl AgentOptions {
    /// The defaults: a fresh key, `max_ttl` 300 s, `agent_name` =
    /// `orch/task`, no auto-renewal.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Use this key instead of generating one.
    #[must_use]
    pub fn key(mut self, key: AgentKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The token's lifetime (default 300 s; whole seconds, rounded up;
    /// the broker caps it).
    #[must_use]
    pub fn max_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.max_ttl = Some(input::ttl_seconds(ttl));
        self
    }

    /// The launch token's `agent_name`, shown in the audit trail.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Renew the token in the background at 80 % of its lifetime until
    /// the agent is released.
    #[must_use]
    pub fn auto_renew(mut self, on: bool) -> Self {
        self.auto_renew = on;
        self
    }

    /// The lifetime that will be requested.
    #[must_use]
    pub fn get_max_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_ttl_seconds().unsigned_abs())
    }

    fn max_ttl_seconds(&self) -> i64 {
        self.max_ttl.unwrap_or(DEFAULT_MAX_TTL)
    }

    /// Whether auto-renewal was asked for.
    #[must_use]
    pub fn get_auto_renew(&self) -> bool {
        self.auto_renew
    }
}

/// An app's calls as ready-made flows, each checking its input and
/// carrying authentication and the one retry after a 401. Cheap to clone:
/// clones share the session.
#[derive(Clone, Debug)]
pub struct AppCore {
    config: ClientConfig,
    session: Arc<SharedSession>,
}

impl AppCore {
    /// The app `client_id` at the broker of `config`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the id or secret is empty.
    pub fn new(
        config: ClientConfig,
        client_id: impl Into<String>,
        client_secret: ClientSecret,
    ) -> Result<Self, Error> {
        Ok(AppCore {
            config,
            session: Arc::new(SharedSession::app(client_id, client_secret)?),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The shared session.
    #[must_use]
    pub fn session(&self) -> &Arc<SharedSession> {
        &self.session
    }

    /// The app's client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        self.session.client_id().unwrap_or_default()
    }

    /// The create-agent ceremony with the app's session. The key is the
    /// one in `options`, else one generated from `rng`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the culprit (orch or task id, a
    /// scope, the label, `max_ttl`), before anything is sent.
    pub fn create_agent<S: AsRef<str>, R: CryptoRngCore + ?Sized>(
        &self,
        orch_id: &str,
        task_id: &str,
        scope: &[S],
        options: &AgentOptions,
        rng: &mut R,
    ) -> Result<WithSession<CreateAgent>, Error> {
        let key = match &options.key {
            Some(key) => key.clone(),
            None => AgentKey::generate(rng),
        };
        let mut request = CreateAgentRequest::new(
            orch_id,
            task_id,
            scope.iter().map(|s| s.as_ref().to_owned()),
            key,
        )
        .with_max_ttl(options.max_ttl_seconds());
        if let Some(label) = &options.label {
            request = request.with_label(label.clone());
        }
        request.validate()?;
        let config = self.config.clone();
        Ok(self.session.call(&self.config, move |app_token| {
            CreateAgent::new(&config, app_token, request.clone())
        }))
    }

    /// Mints a launch token with the app's session (for agents created
    /// elsewhere, e.g. by the Python SDK).
    ///
    /// # Errors
    ///
    /// As [`CreateLaunchToken::for_app`].
    pub fn launch_token(
        &self,
        request: LaunchTokenRequest,
    ) -> Result<WithSession<CreateLaunchToken>, Error> {
        let config = self.config.clone();
        let _checked = CreateLaunchToken::for_app(&config, &AccessToken::new("check"), &request)?;
        Ok(self.session.call(&self.config, move |app_token| {
            CreateLaunchToken::for_app(&config, app_token, &request)
        }))
    }

    /// Validates `token` at the broker.
    ///
    /// # Errors
    ///
    /// As [`Validate::new`].
    pub fn validate<T: BearerToken + ?Sized>(&self, token: &T) -> Result<Validate, Error> {
        Validate::new(&self.config, token)
    }

    /// The broker's health.
    pub fn health(&self) -> Health {
        Health::new(&self.config)
    }
}

/// The operator's calls as flows, authenticated with the admin secret.
/// Cheap to clone: clones share the session.
#[derive(Clone, Debug)]
pub struct OperatorCore {
    config: ClientConfig,
    session: Arc<SharedSession>,
}

/// Declares an operator call: check the input once with a placeholder
/// token, then build the flow with the session's token.
macro_rules! operator_call {
    ($self:ident, $flow:ident :: $ctor:ident ($($arg:expr),*)) => {{
        let config = $self.config.clone();
        // Checks the input now, before any authentication.
        let _checked = $flow::$ctor(&config, &AccessToken::new("check") $(, &$arg)*)?;
        Ok($self.session.call(&$self.config, move |admin_token| {
            $flow::$ctor(&config, admin_token $(, &$arg)*)
        }))
    }};
}

impl OperatorCore {
    /// The operator at the broker of `config`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the secret is empty.
    pub fn new(config: ClientConfig, admin_secret: AdminSecret) -> Result<Self, Error> {
        Ok(OperatorCore {
            config,
            session: Arc::new(SharedSession::admin(admin_secret)?),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Registers an app.
    ///
    /// # Errors
    ///
    /// As [`CreateApp::new`].
    pub fn create_app(&self, request: CreateAppRequest) -> Result<WithSession<CreateApp>, Error> {
        operator_call!(self, CreateApp::new(request))
    }

    /// Lists the apps.
    ///
    /// # Errors
    ///
    /// None today; kept for symmetry.
    pub fn list_apps(&self) -> Result<WithSession<ListApps>, Error> {
        operator_call!(self, ListApps::new())
    }

    /// One app by id.
    ///
    /// # Errors
    ///
    /// As [`GetApp::new`].
    pub fn get_app(&self, app_id: &str) -> Result<WithSession<GetApp>, Error> {
        let app_id = app_id.to_owned();
        operator_call!(self, GetApp::new(app_id))
    }

    /// Changes an app's scope ceiling and/or token TTL.
    ///
    /// # Errors
    ///
    /// As [`UpdateApp::new`].
    pub fn update_app(
        &self,
        app_id: &str,
        update: UpdateAppRequest,
    ) -> Result<WithSession<UpdateApp>, Error> {
        let app_id = app_id.to_owned();
        operator_call!(self, UpdateApp::new(app_id, update))
    }

    /// Deregisters an app.
    ///
    /// # Errors
    ///
    /// As [`DeleteApp::new`].
    pub fn delete_app(&self, app_id: &str) -> Result<WithSession<DeleteApp>, Error> {
        let app_id = app_id.to_owned();
        operator_call!(self, DeleteApp::new(app_id))
    }

    /// Mints a launch token with the operator's authority.
    ///
    /// # Errors
    ///
    /// As [`CreateLaunchToken::for_admin`].
    pub fn launch_token(
        &self,
        request: LaunchTokenRequest,
    ) -> Result<WithSession<CreateLaunchToken>, Error> {
        operator_call!(self, CreateLaunchToken::for_admin(request))
    }

    /// Revokes at `level` (token jti, agent id, task id or chain root).
    ///
    /// # Errors
    ///
    /// As [`Revoke::new`].
    pub fn revoke(
        &self,
        level: RevocationLevel,
        target: &str,
    ) -> Result<WithSession<Revoke>, Error> {
        let config = self.config.clone();
        let target = target.to_owned();
        let _checked = Revoke::new(&config, &AccessToken::new("check"), level, &target)?;
        Ok(self.session.call(&self.config, move |admin_token| {
            Revoke::new(&config, admin_token, level, &target)
        }))
    }

    /// One page of audit events.
    ///
    /// # Errors
    ///
    /// As [`AuditEvents::new`].
    pub fn audit_events(&self, query: AuditQuery) -> Result<WithSession<AuditEvents>, Error> {
        operator_call!(self, AuditEvents::new(query))
    }
}
