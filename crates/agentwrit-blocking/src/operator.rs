//! The operator's client: apps, admin launch tokens, revocation, audit.

use agentwrit_core::wire::{
    AdminSecret, AppResponse, AuditEvent, AuditEventsResponse, AuditQuery, CreateAppRequest,
    LaunchTokenRequest, LaunchTokenResponse, RevocationLevel, RevokeResponse, UpdateAppRequest,
};
use agentwrit_core::{ClientBuilder, FromParts, OperatorCore, Parts, next_audit_page};

use crate::Error;
use crate::transport::Transport;

/// The operator: registers apps, mints launch tokens with admin
/// authority, revokes, reads the audit trail. Authenticates with the
/// admin secret on first use and again before the 300 s admin token
/// expires. Cheap to clone, `Send + Sync`.
///
/// ```
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let url = broker.url();
/// # let admin_secret = broker.admin_secret().expose_secret();
/// use agentwrit_blocking::Operator;
/// use agentwrit_blocking::wire::{AuditQuery, CreateAppRequest, RevocationLevel};
///
/// let operator = Operator::new(url, admin_secret)?;
/// let app = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()]))?;
/// assert!(app.client_secret.is_some());
/// assert_eq!(operator.list_apps()?.apps.len(), 1);
/// operator.revoke(RevocationLevel::Task, "task-that-went-wrong")?;
/// let events = operator.audit_events_all(AuditQuery::new().event_type("app_registered"))?;
/// assert_eq!(events.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Operator {
    core: OperatorCore,
    transport: Transport,
}

/// Builds an [`Operator`] with non-default settings (as [`crate::AppBuilder`]).
///
/// ```
/// let operator = agentwrit_blocking::Operator::builder("http://127.0.0.1:8080", "s3cr3t")
///     .timeout(std::time::Duration::from_secs(3))
///     .build()?;
/// # Ok::<(), agentwrit_blocking::Error>(())
/// ```
pub type OperatorBuilder = ClientBuilder<Operator, ureq::Agent>;

impl FromParts<ureq::Agent> for Operator {
    type Core = OperatorCore;
    fn from_parts(parts: Parts<OperatorCore, ureq::Agent>) -> Result<Operator, Error> {
        let transport = Transport::new(parts.core.config().clone(), &parts);
        Ok(Operator {
            core: parts.core,
            transport,
        })
    }
}

impl Operator {
    /// The operator of the broker at `broker_url`.
    ///
    /// # Errors
    ///
    /// As [`ClientBuilder::build`].
    pub fn new(broker_url: &str, admin_secret: impl Into<AdminSecret>) -> Result<Operator, Error> {
        Self::builder(broker_url, admin_secret).build()
    }

    /// A builder.
    pub fn builder(broker_url: &str, admin_secret: impl Into<AdminSecret>) -> OperatorBuilder {
        OperatorBuilder::new(broker_url, admin_secret.into())
    }

    /// Registers an app; the answer holds its client secret, shown once.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad name, scope or TTL; the broker's rejection.
    pub fn create_app(&self, request: CreateAppRequest) -> Result<AppResponse, Error> {
        self.transport.drive(self.core.create_app(request)?)
    }

    /// Every app.
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn list_apps(&self) -> Result<agentwrit_core::wire::ListAppsResponse, Error> {
        self.transport.drive(self.core.list_apps()?)
    }

    /// One app (404 when unknown).
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn get_app(&self, app_id: &str) -> Result<AppResponse, Error> {
        self.transport.drive(self.core.get_app(app_id)?)
    }

    /// Changes an app's ceiling and/or token TTL.
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn update_app(&self, app_id: &str, update: UpdateAppRequest) -> Result<AppResponse, Error> {
        self.transport.drive(self.core.update_app(app_id, update)?)
    }

    /// Deregisters an app.
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn delete_app(&self, app_id: &str) -> Result<AppResponse, Error> {
        self.transport.drive(self.core.delete_app(app_id)?)
    }

    /// Mints a launch token with admin authority.
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn launch_token(&self, request: LaunchTokenRequest) -> Result<LaunchTokenResponse, Error> {
        self.transport.drive(self.core.launch_token(request)?)
    }

    /// Revokes a token (jti), an agent (SPIFFE id), a task or a chain.
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn revoke(&self, level: RevocationLevel, target: &str) -> Result<RevokeResponse, Error> {
        self.transport.drive(self.core.revoke(level, target)?)
    }

    /// One page of audit events.
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub fn audit_events(&self, query: AuditQuery) -> Result<AuditEventsResponse, Error> {
        self.transport.drive(self.core.audit_events(query)?)
    }

    /// Every audit event matching `query`, page after page.
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
