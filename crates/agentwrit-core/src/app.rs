//! The app: [`AppCore`], every app call as a ready-made flow with the
//! app's session built in, and [`AgentOptions`], how to create an agent.
//!
//! A transport's `App` holds an [`AppCore`]; each of its methods checks
//! its input and returns the flow for one SDK call, with authentication
//! and the one retry after a 401 built in, so the transport's method is
//! one line: drive this flow.

use std::sync::Arc;

use agentwrit_wire::{AccessToken, BearerToken, ClientSecret, LaunchTokenRequest};
use rand_core::CryptoRngCore;

use crate::agent::{CreateAgent, CreateAgentRequest, DEFAULT_MAX_TTL};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::health::Health;
use crate::keys::AgentKey;
use crate::launch_token::CreateLaunchToken;
use crate::session::{SharedSession, WithSession};
use crate::validate::Validate;

/// How to create an agent, beyond orch, task and scope. Set with
/// `with_*`, read with the plain names.
///
/// ```
/// # use agentwrit_core as agentwrit_blocking;
/// use std::time::Duration;
/// use agentwrit_blocking::{AgentKey, AgentOptions};
/// let options = AgentOptions::new()
///     .with_label("nightly-report")
///     .with_max_ttl(Duration::from_secs(600))
///     .with_key(AgentKey::from_seed([7; 32]))
///     .with_auto_renew(true);
/// assert_eq!(options.max_ttl(), Duration::from_secs(600));
/// assert_eq!(options.label(), Some("nightly-report"));
/// assert!(options.key().is_some());
/// assert!(options.auto_renew());
/// assert_eq!(AgentOptions::new().max_ttl(), Duration::from_secs(300));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AgentOptions {
    key: Option<AgentKey>,
    max_ttl: Option<std::time::Duration>,
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
    pub fn with_key(mut self, key: AgentKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The token's lifetime (default 300 s; whole seconds, rounded up;
    /// the broker caps it).
    #[must_use]
    pub fn with_max_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.max_ttl = Some(ttl);
        self
    }

    /// The launch token's `agent_name`, shown in the audit trail.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Renew the token in the background at 80 % of its lifetime until
    /// the agent is released.
    #[must_use]
    pub fn with_auto_renew(mut self, on: bool) -> Self {
        self.auto_renew = on;
        self
    }

    /// The key given with [`with_key`](AgentOptions::with_key), if any
    /// (else one is generated).
    #[must_use]
    pub fn key(&self) -> Option<&AgentKey> {
        self.key.as_ref()
    }

    /// The lifetime that will be requested.
    #[must_use]
    pub fn max_ttl(&self) -> std::time::Duration {
        self.max_ttl.unwrap_or(std::time::Duration::from_secs(
            DEFAULT_MAX_TTL.unsigned_abs(),
        ))
    }

    /// The label given with [`with_label`](AgentOptions::with_label), if
    /// any (else `orch/task`).
    #[must_use]
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Whether auto-renewal was asked for.
    #[must_use]
    pub fn auto_renew(&self) -> bool {
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
        .with_max_ttl(options.max_ttl());
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
