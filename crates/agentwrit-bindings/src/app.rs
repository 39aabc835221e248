//! The app (client id and secret) and cancel-safe agent creation.

use std::time::Duration;

use agentwrit_blocking::wire::HealthResponse;
use agentwrit_blocking::{AgentKey, AgentOptions};

use crate::agent::Agent;
use crate::call::Call;
use crate::error::{BindingError, Result};
use crate::settings::{Settings, seconds};
use crate::value::ValidationResult;
use crate::{Client, Flavour};

/// An app at a broker, of either [`Flavour`].
#[derive(Debug)]
pub struct App {
    client: Client<agentwrit_blocking::App, agentwrit_async::App>,
    deadline: Option<Duration>,
}

/// What [`App::create_agent`] needs, owned.
#[derive(Clone, Debug)]
pub struct AgentRequest {
    orch_id: String,
    task_id: String,
    scope: Vec<String>,
    max_ttl: Option<Duration>,
    label: Option<String>,
    auto_renew: bool,
    key_seed: Option<[u8; 32]>,
}

impl AgentRequest {
    /// An agent for `task_id` of `orch_id` with `scope`.
    #[must_use]
    pub fn new(orch_id: impl Into<String>, task_id: impl Into<String>, scope: Vec<String>) -> Self {
        AgentRequest {
            orch_id: orch_id.into(),
            task_id: task_id.into(),
            scope,
            max_ttl: None,
            label: None,
            auto_renew: false,
            key_seed: None,
        }
    }

    /// The longest lifetime the agent's tokens may have, in seconds.
    ///
    /// # Errors
    ///
    /// Not a positive number of seconds.
    pub fn max_ttl_secs(mut self, secs: f64) -> Result<Self> {
        self.max_ttl = Some(seconds("max_ttl", secs)?);
        Ok(self)
    }

    /// The launch token's agent name.
    #[must_use]
    pub fn label(mut self, label: Option<String>) -> Self {
        self.label = label;
        self
    }

    /// Renew in the background before each token expires.
    #[must_use]
    pub fn auto_renew(mut self, on: bool) -> Self {
        self.auto_renew = on;
        self
    }

    /// The agent's Ed25519 private key (its 32-byte seed) instead of a
    /// fresh one.
    ///
    /// # Errors
    ///
    /// A [`Crypto`](crate::ErrorKind::Crypto) error unless 32 bytes.
    pub fn key_seed(mut self, seed: &[u8]) -> Result<Self> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| {
            BindingError::plain(
                crate::ErrorKind::Crypto,
                format!(
                    "cryptographic error: private_key: an Ed25519 private key is 32 bytes, got {}",
                    seed.len()
                ),
            )
        })?;
        self.key_seed = Some(seed);
        Ok(self)
    }

    fn options(&self) -> AgentOptions {
        let mut options = AgentOptions::new().with_auto_renew(self.auto_renew);
        if let Some(ttl) = self.max_ttl {
            options = options.with_max_ttl(ttl);
        }
        if let Some(label) = &self.label {
            options = options.with_label(label.clone());
        }
        if let Some(seed) = self.key_seed {
            options = options.with_key(AgentKey::from_seed(seed));
        }
        options
    }
}

impl App {
    /// The app `client_id` at `broker_url`.
    ///
    /// # Errors
    ///
    /// A malformed URL, empty credentials, unusable TLS material.
    pub fn new(
        flavour: Flavour,
        broker_url: &str,
        client_id: &str,
        client_secret: &str,
        settings: &Settings,
    ) -> Result<App> {
        let err = |e: agentwrit_blocking::Error| BindingError::from_sdk(&e, broker_url);
        let client = match flavour {
            Flavour::Blocking => Client::Blocking(
                settings
                    .blocking_broker(broker_url)?
                    .app(client_id, client_secret.to_owned())
                    .map_err(err)?,
            ),
            Flavour::Async => Client::Async(
                settings
                    .async_broker(broker_url)?
                    .app(client_id, client_secret.to_owned())
                    .map_err(err)?,
            ),
        };
        Ok(App {
            client,
            deadline: Some(settings.timeout()),
        })
    }

    /// The app named by `AGENTWRIT_BROKER_URL`, `AGENTWRIT_CLIENT_ID` and
    /// `AGENTWRIT_CLIENT_SECRET` (and the TLS variables).
    ///
    /// # Errors
    ///
    /// A variable missing or malformed.
    pub fn from_env(flavour: Flavour) -> Result<App> {
        let err = |e: agentwrit_blocking::Error| BindingError::from_sdk(&e, "");
        let client = match flavour {
            Flavour::Blocking => {
                Client::Blocking(agentwrit_blocking::App::from_env().map_err(err)?)
            }
            Flavour::Async => {
                let _context = crate::runtime::runtime()?.enter();
                Client::Async(agentwrit_async::App::from_env().map_err(err)?)
            }
        };
        Ok(App {
            client,
            deadline: None,
        })
    }

    /// Which transport it is built on.
    #[must_use]
    pub fn flavour(&self) -> Flavour {
        self.client.flavour()
    }

    /// The broker's base URL, normalised.
    #[must_use]
    pub fn broker_url(&self) -> &str {
        both!(&self.client, a => a.broker_url())
    }

    /// The app's client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        both!(&self.client, a => a.client_id())
    }

    /// Creates an agent (launch token, challenge, signature,
    /// registration). Cancel-safe once [started](Call::start): the
    /// creation runs to its end on the runtime, and an agent that arrives
    /// when nobody waits is released at once (its task ended: delegations,
    /// then the agent).
    pub fn create_agent(&self, request: AgentRequest) -> Call<Agent> {
        let options = request.options();
        let deadline = self.deadline;
        let renewing = request.auto_renew;
        let (orch, task, scope) = (request.orch_id, request.task_id, request.scope);
        let url = self.broker_url().to_owned();
        call!(self.client.clone(), self.broker_url(), "create_agent", Write, a =>
            a.create_agent_with(&orch, &task, &scope, options))
        .map(move |agent: Agent| agent.with_context(&url, deadline, renewing))
        .deadline(self.deadline)
    }

    /// `POST /v1/token/validate` on this app's connections.
    pub fn validate(&self, token: String) -> Call<ValidationResult> {
        call!(self.client.clone(), self.broker_url(), "validate", Read, a => a.validate(token.as_str()))
            .deadline(self.deadline)
    }

    /// `GET /v1/health`.
    pub fn health(&self) -> Call<HealthResponse> {
        call!(self.client.clone(), self.broker_url(), "health", Read, a => a.health())
            .deadline(self.deadline)
    }
}
