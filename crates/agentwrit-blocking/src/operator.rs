//! The operator's client: apps, admin launch tokens, revocation, audit.

use agentwrit_core::wire::{
    AdminSecret, AppResponse, AuditEvent, AuditEventsResponse, AuditQuery, CreateAppRequest,
    LaunchTokenRequest, LaunchTokenResponse, ListAppsResponse, RevocationLevel, RevokeResponse,
    UpdateAppRequest,
};
use agentwrit_core::{Error, OperatorCore, next_audit_page};

use crate::broker::Broker;

/// The operator: registers apps, mints launch tokens with admin
/// authority, revokes, reads the audit trail. Authenticates with the
/// admin secret (the broker's `AA_ADMIN_SECRET`) on first use and again
/// before the admin token expires. Cheap to clone, `Send + Sync`.
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let (url, admin_secret) = (broker.url(), broker.admin_secret());
/// use agentwrit_blocking::Operator;
/// use agentwrit_blocking::wire::{AuditQuery, CreateAppRequest, RevocationLevel};
///
/// let operator = Operator::new(url, admin_secret)?;
/// let app = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()]))?;
/// assert!(app.client_secret.is_some());
/// for listed in operator.list_apps()? {
///     println!("{} {}", listed.name, listed.client_id);
/// }
/// operator.revoke(RevocationLevel::Task, "task-that-went-wrong")?;
/// let events = operator.audit_events_all(AuditQuery::new().event_type("app_registered"))?;
/// assert_eq!(events.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Operator {
    core: OperatorCore,
    broker: Broker,
}

impl Operator {
    /// The operator at `broker_url`, proven by `admin_secret` (a `&str`,
    /// `String` or `AdminSecret`), on a [`Broker`] of its own with the
    /// default settings. Sends nothing yet. For other settings, or to
    /// share one connection pool with an app or a validator, build a
    /// [`Broker`] and call [`Broker::operator`].
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// let admin_secret: String = broker.admin_secret().expose_secret().to_owned(); // e.g. from a vault
    /// let operator = agentwrit_blocking::Operator::new(broker.url(), &admin_secret)?;
    /// assert!(operator.list_apps()?.is_empty()); // a fresh broker
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad URL or an empty secret.
    pub fn new(broker_url: &str, admin_secret: impl Into<AdminSecret>) -> Result<Operator, Error> {
        Broker::new(broker_url)?.operator(admin_secret)
    }

    /// The operator named by `AGENTWRIT_BROKER_URL` and
    /// `AGENTWRIT_ADMIN_SECRET` (the broker's `AA_ADMIN_SECRET`), with the
    /// TLS settings of `AGENTWRIT_CA_FILE`, `AGENTWRIT_CLIENT_CERT` and
    /// `AGENTWRIT_CLIENT_KEY`, when set: [`Broker::from_env`], then
    /// [`Broker::operator_from_env`].
    ///
    /// ```
    /// use agentwrit_blocking::Operator;
    ///
    /// match Operator::from_env() {
    ///     Ok(operator) => println!("operator at {}", operator.broker_url()),
    ///     Err(error) => eprintln!("not configured: {error}"),
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the first variable unset or empty, or
    /// a TLS file that cannot be read.
    pub fn from_env() -> Result<Operator, Error> {
        Broker::from_env()?.operator_from_env()
    }

    /// The operator on `broker` (what [`Broker::operator`] returns).
    pub(crate) fn on(broker: Broker, admin_secret: AdminSecret) -> Result<Operator, Error> {
        let core = OperatorCore::new(broker.transport().config.clone(), admin_secret)?;
        Ok(Operator { core, broker })
    }

    /// The broker this operator talks to: its connection pool and
    /// settings, shared with the apps and validators made from it.
    ///
    /// ```
    /// let operator = agentwrit_blocking::Operator::new("http://127.0.0.1:8080", "s3cr3t")?;
    /// let app = operator.broker().app("cm-37a7c9c10885", "4ca1b208")?; // on the operator's pool
    /// # let _ = app;
    /// # Ok::<(), agentwrit_blocking::Error>(())
    /// ```
    #[must_use]
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The broker's base URL, normalised (as `operator.broker().url()`).
    ///
    /// ```
    /// let operator = agentwrit_blocking::Operator::new("http://127.0.0.1:8080/", "s3cr3t")?;
    /// assert_eq!(operator.broker_url(), "http://127.0.0.1:8080");
    /// # Ok::<(), agentwrit_blocking::Error>(())
    /// ```
    #[must_use]
    pub fn broker_url(&self) -> &str {
        self.broker.url()
    }

    /// Registers an app; the answer holds its client secret, shown once.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_blocking::App;
    /// use agentwrit_blocking::wire::CreateAppRequest;
    ///
    /// let request = CreateAppRequest::new("billing", vec!["read:data:*".into(), "write:reports:*".into()])
    ///     .with_token_ttl(std::time::Duration::from_secs(900));
    /// let created = operator.create_app(request)?;
    /// let secret = created.client_secret.clone().ok_or("the secret comes once, with the answer")?;
    /// // Serialising the answer (to log it, say) never writes the secret.
    /// assert!(!serde_json::to_string(&created)?.contains(secret.expose_secret()));
    /// let billing = App::new(broker.url(), &created.client_id, secret)?;
    /// let agent = billing.create_agent("billing", "invoice-17", &["read:data:invoices"])?;
    /// agent.release()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad name, scope or TTL; the broker's
    /// rejection.
    pub fn create_app(&self, request: CreateAppRequest) -> Result<AppResponse, Error> {
        self.broker.drive(self.core.create_app(request)?)
    }

    /// Every app. The answer iterates over them.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_blocking::wire::CreateAppRequest;
    ///
    /// for name in ["billing", "reports"] {
    ///     operator.create_app(CreateAppRequest::new(name, vec!["read:data:*".into()]))?;
    /// }
    /// let mut names: Vec<String> = operator.list_apps()?.into_iter().map(|app| app.name).collect();
    /// names.sort_unstable();
    /// assert_eq!(names, ["billing", "reports"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn list_apps(&self) -> Result<ListAppsResponse, Error> {
        self.broker.drive(self.core.list_apps()?)
    }

    /// One app (a 404 problem when unknown).
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_blocking::wire::CreateAppRequest;
    ///
    /// let created = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()]))?;
    /// let app = operator.get_app(&created.app_id)?;
    /// assert_eq!(app.client_id, created.client_id);
    /// assert!(app.client_secret.is_none()); // shown once, at creation
    ///
    /// let missing = operator.get_app("app-unknown-000000").unwrap_err();
    /// assert_eq!(missing.status(), Some(404));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn get_app(&self, app_id: &str) -> Result<AppResponse, Error> {
        self.broker.drive(self.core.get_app(app_id)?)
    }

    /// Changes an app's ceiling and/or token TTL.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_blocking::wire::{CreateAppRequest, UpdateAppRequest};
    ///
    /// let created = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()]))?;
    /// let update = UpdateAppRequest::new()
    ///     .scopes(vec!["read:data:*".into(), "write:reports:*".into()])
    ///     .token_ttl(std::time::Duration::from_secs(600));
    /// let updated = operator.update_app(&created.app_id, update)?;
    /// assert_eq!(updated.token_ttl, 600);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn update_app(&self, app_id: &str, update: UpdateAppRequest) -> Result<AppResponse, Error> {
        self.broker.drive(self.core.update_app(app_id, update)?)
    }

    /// Deregisters an app: its client can no longer log in.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_blocking::wire::CreateAppRequest;
    ///
    /// let created = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()]))?;
    /// let deleted = operator.delete_app(&created.app_id)?;
    /// assert_eq!(deleted.status, "inactive");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn delete_app(&self, app_id: &str) -> Result<AppResponse, Error> {
        self.broker.drive(self.core.delete_app(app_id)?)
    }

    /// Mints a launch token with admin authority.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_blocking::wire::LaunchTokenRequest;
    ///
    /// let request = LaunchTokenRequest::new("ops-agent", vec!["read:data:*".into()]).with_max_ttl(std::time::Duration::from_secs(60));
    /// let minted = operator.launch_token(request)?;
    /// assert_eq!(minted.policy.allowed_scope, ["read:data:*"]);
    /// assert_eq!(minted.policy.max_ttl, 60);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn launch_token(&self, request: LaunchTokenRequest) -> Result<LaunchTokenResponse, Error> {
        self.broker.drive(self.core.launch_token(request)?)
    }

    /// Revokes a token (jti), an agent (SPIFFE id), a task or a chain.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_blocking::wire::RevocationLevel;
    ///
    /// let agent = app.create_agent("orch-1", "task-7", &["read:data:*"])?;
    /// let revoked = operator.revoke(RevocationLevel::Task, "task-7")?;
    /// assert!(revoked.revoked);
    /// assert!(!app.validate(&agent.access_token())?.is_valid());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn revoke(&self, level: RevocationLevel, target: &str) -> Result<RevokeResponse, Error> {
        self.broker.drive(self.core.revoke(level, target)?)
    }

    /// One page of audit events.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_blocking::wire::{AuditQuery, CreateAppRequest};
    ///
    /// operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()]))?;
    /// let page = operator.audit_events(AuditQuery::new().event_type("app_registered").limit(10))?;
    /// assert_eq!(page.total, 1);
    /// assert_eq!(page.events[0].event_type, "app_registered");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn audit_events(&self, query: AuditQuery) -> Result<AuditEventsResponse, Error> {
        self.broker.drive(self.core.audit_events(query)?)
    }

    /// Every audit event matching `query`, page after page.
    ///
    /// ```
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let operator = agentwrit_blocking::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_blocking::wire::AuditQuery;
    ///
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"])?;
    /// agent.release()?;
    /// let events = operator.audit_events_all(AuditQuery::new().limit(2))?; // two per page
    /// assert!(events.len() > 2);
    /// // The trail is hash-chained: each event's prev_hash is the previous event's hash.
    /// assert!(events.windows(2).all(|pair| pair[1].prev_hash == pair[0].hash));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Operator::audit_events`].
    pub fn audit_events_all(&self, query: AuditQuery) -> Result<Vec<AuditEvent>, Error> {
        let mut events = Vec::new();
        let mut next = Some(query);
        while let Some(query) = next {
            let page = self.audit_events(query.clone())?;
            next = next_audit_page(&query, &page);
            events.extend(page.events);
        }
        Ok(events)
    }
}
