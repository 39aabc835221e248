//! The operator's client: apps, admin launch tokens, revocation, audit.

use agentwrit_core::{ClientBuilder, OperatorCore};

use crate::app::Transport;

/// The operator: registers apps, mints launch tokens with admin
/// authority, revokes, reads the audit trail. Authenticates with the
/// admin secret on first use and again before the 300 s admin token
/// expires. Cheap to clone, `Send + Sync`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let url = broker.url();
/// # let admin_secret = broker.admin_secret().expose_secret();
/// use agentwrit_async::Operator;
/// use agentwrit_async::wire::{AuditQuery, CreateAppRequest, RevocationLevel};
///
/// let operator = Operator::new(url, admin_secret)?;
/// let app = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()])).await?;
/// assert!(app.client_secret.is_some());
/// assert_eq!(operator.list_apps().await?.apps.len(), 1);
/// operator.revoke(RevocationLevel::Task, "task-that-went-wrong").await?;
/// let events = operator.audit_events_all(AuditQuery::new().event_type("app_registered")).await?;
/// assert_eq!(events.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Operator {
    pub(crate) core: OperatorCore,
    pub(crate) transport: Transport,
}

/// Builds an [`Operator`] with non-default settings (as [`crate::AppBuilder`]).
///
/// ```
/// let operator = agentwrit_async::Operator::builder("http://127.0.0.1:8080", "s3cr3t")
///     .timeout(std::time::Duration::from_secs(3))
///     .build()?;
/// # Ok::<(), agentwrit_async::Error>(())
/// ```
pub type OperatorBuilder = ClientBuilder<Operator, reqwest::Client>;
