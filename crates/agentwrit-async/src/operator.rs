//! The operator's client: apps, admin launch tokens, revocation, audit.

use std::sync::Arc;
use std::time::Duration;

use agentwrit_core::wire::{
    AdminSecret, AppResponse, AuditEvent, AuditEventsResponse, AuditQuery, CreateAppRequest,
    LaunchTokenRequest, LaunchTokenResponse, ListAppsResponse, RevocationLevel, RevokeResponse,
    UpdateAppRequest,
};
use agentwrit_core::{
    ClientSettings, Clock, Error, OperatorCore, RetryPolicy, next_audit_page,
    operator_settings_from, tls_settings_from,
};

use crate::transport::Transport;

/// The operator: registers apps, mints launch tokens with admin
/// authority, revokes, reads the audit trail. Authenticates with the
/// admin secret (the broker's `AA_ADMIN_SECRET`) on first use and again
/// before the admin token expires. Cheap to clone, `Send + Sync`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let (url, admin_secret) = (broker.url(), broker.admin_secret());
/// use agentwrit_async::Operator;
/// use agentwrit_async::wire::{AuditQuery, CreateAppRequest, RevocationLevel};
///
/// let operator = Operator::new(url, admin_secret)?;
/// let app = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()])).await?;
/// assert!(app.client_secret.is_some());
/// for listed in operator.list_apps().await? {
///     println!("{} {}", listed.name, listed.client_id);
/// }
/// operator.revoke(RevocationLevel::Task, "task-that-went-wrong").await?;
/// let events = operator.audit_events_all(AuditQuery::new().event_type("app_registered")).await?;
/// assert_eq!(events.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Operator {
    core: OperatorCore,
    transport: Transport,
}

/// Builds an [`Operator`] with non-default settings.
///
/// ```
/// use std::time::Duration;
///
/// let operator = agentwrit_async::Operator::builder("http://127.0.0.1:8080", "s3cr3t")
///     .timeout(Duration::from_secs(3))
///     .user_agent("ops-console/2.0")
///     .build()?;
/// # Ok::<(), agentwrit_async::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "call build() to get the operator"]
pub struct OperatorBuilder {
    settings: ClientSettings,
    admin_secret: AdminSecret,
    http_client: Option<reqwest::Client>,
}

impl OperatorBuilder {
    /// Overall timeout of one request (default 10 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let built = agentwrit_async::Operator::builder("http://127.0.0.1:8080", "admin-s3cr3t")
    ///     .timeout(Duration::from_secs(3))
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.timeout(timeout);
        self
    }

    /// Connect timeout (default 5 s, at most the overall timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let built = agentwrit_async::Operator::builder("http://127.0.0.1:8080", "admin-s3cr3t")
    ///     .connect_timeout(Duration::from_millis(500))
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings = self.settings.connect_timeout(timeout);
        self
    }

    /// The `User-Agent` header (default `agentwrit-rs/<version>`).
    ///
    /// ```
    /// let built = agentwrit_async::Operator::builder("http://127.0.0.1:8080", "admin-s3cr3t")
    ///     .user_agent("billing-worker/1.4")
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.settings = self.settings.user_agent(user_agent);
        self
    }

    /// Which calls are retried, how often, after what backoff.
    ///
    /// ```
    /// use agentwrit_async::RetryPolicy;
    /// let built = agentwrit_async::Operator::builder("http://127.0.0.1:8080", "admin-s3cr3t")
    ///     .retry(RetryPolicy::default().with_max_attempts(5))
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.settings = self.settings.retry(policy);
        self
    }

    /// The largest response body accepted (default 1 MiB).
    ///
    /// ```
    /// let built = agentwrit_async::Operator::builder("http://127.0.0.1:8080", "admin-s3cr3t")
    ///     .max_response_bytes(256 * 1024)
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.settings = self.settings.max_response_bytes(bytes);
        self
    }

    /// Trusts the CA certificate(s) in `pem` (one or more PEM `CERTIFICATE`
    /// blocks) besides the built-in roots: for a broker behind a private
    /// CA. May be called again to add more. Checked by `build()`.
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// # let ca_pem = pki.ca_pem().as_bytes();
    /// let builder = agentwrit_async::Operator::builder("https://broker.example", "s3cr3t")
    ///     .add_root_certificate_pem(ca_pem);
    /// # builder.build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.settings = self.settings.add_root_certificate_pem(pem);
        self
    }

    /// Whether the built-in roots are trusted (default `true`: Mozilla's
    /// roots bundled in the binary, or the OS store with the `native-roots`
    /// feature). With `false` only the roots added with
    /// `add_root_certificate_pem` are.
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// // Trust only the private CA, not the bundled public roots.
    /// let built = agentwrit_async::Operator::builder("https://127.0.0.1:8443", "admin-s3cr3t")
    ///     .tls_built_in_roots(false)
    ///     .add_root_certificate_pem(pki.ca_pem().as_bytes())
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tls_built_in_roots(mut self, enabled: bool) -> Self {
        self.settings = self.settings.tls_built_in_roots(enabled);
        self
    }

    /// The client certificate chain and private key (both PEM; the key
    /// PKCS#8, PKCS#1 or SEC1) presented to a broker that requires mutual
    /// TLS. The key is never shown in `Debug` or errors. Checked by
    /// `build()` (a key that does not fit the certificate is
    /// [`Error::InvalidInput`]).
    ///
    /// ```
    /// # let pki = agentwrit_devbroker::tls::TestPki::generate()?;
    /// # let (ca_pem, cert_pem, key_pem) = (pki.ca_pem().as_bytes(), pki.client().cert_pem().as_bytes(), pki.client().key_pem().as_bytes());
    /// let builder = agentwrit_async::Operator::builder("https://broker.example", "s3cr3t")
    ///     .add_root_certificate_pem(ca_pem)
    ///     .identity_pem(cert_pem, key_pem);
    /// assert!(!format!("{builder:?}").contains("PRIVATE KEY"));
    /// # builder.build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn identity_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.settings = self.settings.identity_pem(cert_chain_pem, key_pem);
        self
    }

    /// Refuse a plain `http://` broker URL (default `false`): `build()`
    /// then fails with [`Error::InvalidInput`] for one. (Without it, an
    /// `http://` URL to a host that is not loopback logs one warning per
    /// client built: tokens would travel in clear.)
    ///
    /// ```
    /// let err = agentwrit_async::Operator::builder("http://broker.example", "s3cr3t")
    ///     .https_only(true)
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("https_only"));
    /// ```
    pub fn https_only(mut self, enabled: bool) -> Self {
        self.settings = self.settings.https_only(enabled);
        self
    }

    /// Your own `reqwest::Client`; see [`AppBuilder::http_client`](crate::AppBuilder::http_client).
    ///
    /// ```
    /// let built = agentwrit_async::Operator::builder("http://127.0.0.1:8080", "admin-s3cr3t")
    ///     .http_client(reqwest::Client::new())
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Where the SDK reads the time (for tests).
    #[doc(hidden)]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings = self.settings.clock(clock);
        self
    }

    /// The operator. Sends nothing: it authenticates on first use.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad URL or an empty secret.
    ///
    /// ```
    /// let built = agentwrit_async::Operator::builder("http://127.0.0.1:8080", "admin-s3cr3t")
    ///     .build()?; // sends nothing yet
    /// # let _ = built;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Operator, Error> {
        let transport = Transport::new(&self.settings, self.http_client)?;
        let core = OperatorCore::new(transport.config.clone(), self.admin_secret)?;
        Ok(Operator { core, transport })
    }
}

impl Operator {
    /// The operator at `broker_url`, proven by `admin_secret` (a `&str`,
    /// `String` or `AdminSecret`). Sends nothing yet.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// let admin_secret: String = broker.admin_secret().expose_secret().to_owned(); // e.g. from a vault
    /// let operator = agentwrit_async::Operator::new(broker.url(), &admin_secret)?;
    /// assert!(operator.list_apps().await?.is_empty()); // a fresh broker
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad URL or an empty secret.
    pub fn new(broker_url: &str, admin_secret: impl Into<AdminSecret>) -> Result<Operator, Error> {
        Self::builder(broker_url, admin_secret).build()
    }

    /// The operator named by `AGENTWRIT_BROKER_URL` and
    /// `AGENTWRIT_ADMIN_SECRET` (the broker's `AA_ADMIN_SECRET`), with the
    /// TLS settings of `AGENTWRIT_CA_FILE`, `AGENTWRIT_CLIENT_CERT` and
    /// `AGENTWRIT_CLIENT_KEY`, when set.
    ///
    /// ```
    /// use agentwrit_async::Operator;
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
        let env = |k: &str| std::env::var(k).ok();
        let (url, secret) = operator_settings_from(env)?;
        let mut builder = Self::builder(url.as_str(), secret);
        builder.settings = tls_settings_from(builder.settings, env)?;
        builder.build()
    }

    /// A builder.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// let operator = agentwrit_async::Operator::builder(broker.url(), broker.admin_secret())
    ///     .timeout(std::time::Duration::from_secs(3))
    ///     .build()?;
    /// assert_eq!(operator.list_apps().await?.len(), 0);
    /// # Ok(()) }
    /// ```
    pub fn builder(broker_url: &str, admin_secret: impl Into<AdminSecret>) -> OperatorBuilder {
        OperatorBuilder {
            settings: ClientSettings::new(broker_url),
            admin_secret: admin_secret.into(),
            http_client: None,
        }
    }

    /// The broker's base URL, normalised.
    ///
    /// ```
    /// let operator = agentwrit_async::Operator::new("http://127.0.0.1:8080/", "s3cr3t")?;
    /// assert_eq!(operator.broker_url(), "http://127.0.0.1:8080");
    /// # Ok::<(), agentwrit_async::Error>(())
    /// ```
    #[must_use]
    pub fn broker_url(&self) -> &str {
        self.transport.config.broker().as_str()
    }

    /// Registers an app; the answer holds its client secret, shown once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_async::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_async::App;
    /// use agentwrit_async::wire::CreateAppRequest;
    ///
    /// let request = CreateAppRequest::new("billing", vec!["read:data:*".into(), "write:reports:*".into()])
    ///     .with_token_ttl(std::time::Duration::from_secs(900));
    /// let created = operator.create_app(request).await?;
    /// let secret = created.client_secret.clone().ok_or("the secret comes once, with the answer")?;
    /// // Serialising the answer (to log it, say) never writes the secret.
    /// assert!(!serde_json::to_string(&created)?.contains(secret.expose_secret()));
    /// let billing = App::new(broker.url(), &created.client_id, secret)?;
    /// let agent = billing.create_agent("billing", "invoice-17", &["read:data:invoices"]).await?;
    /// agent.release().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad name, scope or TTL; the broker's
    /// rejection.
    pub async fn create_app(&self, request: CreateAppRequest) -> Result<AppResponse, Error> {
        self.transport.drive(self.core.create_app(request)?).await
    }

    /// Every app. The answer iterates over them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_async::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_async::wire::CreateAppRequest;
    ///
    /// for name in ["billing", "reports"] {
    ///     operator.create_app(CreateAppRequest::new(name, vec!["read:data:*".into()])).await?;
    /// }
    /// let mut names: Vec<String> = operator.list_apps().await?.into_iter().map(|app| app.name).collect();
    /// names.sort_unstable();
    /// assert_eq!(names, ["billing", "reports"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub async fn list_apps(&self) -> Result<ListAppsResponse, Error> {
        self.transport.drive(self.core.list_apps()?).await
    }

    /// One app (a 404 problem when unknown).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_async::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_async::wire::CreateAppRequest;
    ///
    /// let created = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()])).await?;
    /// let app = operator.get_app(&created.app_id).await?;
    /// assert_eq!(app.client_id, created.client_id);
    /// assert!(app.client_secret.is_none()); // shown once, at creation
    ///
    /// let missing = operator.get_app("app-unknown-000000").await.unwrap_err();
    /// assert_eq!(missing.status(), Some(404));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub async fn get_app(&self, app_id: &str) -> Result<AppResponse, Error> {
        self.transport.drive(self.core.get_app(app_id)?).await
    }

    /// Changes an app's ceiling and/or token TTL.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_async::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_async::wire::{CreateAppRequest, UpdateAppRequest};
    ///
    /// let created = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()])).await?;
    /// let update = UpdateAppRequest::new()
    ///     .scopes(vec!["read:data:*".into(), "write:reports:*".into()])
    ///     .token_ttl(std::time::Duration::from_secs(600));
    /// let updated = operator.update_app(&created.app_id, update).await?;
    /// assert_eq!(updated.token_ttl, 600);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub async fn update_app(
        &self,
        app_id: &str,
        update: UpdateAppRequest,
    ) -> Result<AppResponse, Error> {
        self.transport
            .drive(self.core.update_app(app_id, update)?)
            .await
    }

    /// Deregisters an app: its client can no longer log in.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_async::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_async::wire::CreateAppRequest;
    ///
    /// let created = operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()])).await?;
    /// let deleted = operator.delete_app(&created.app_id).await?;
    /// assert_eq!(deleted.status, "inactive");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub async fn delete_app(&self, app_id: &str) -> Result<AppResponse, Error> {
        self.transport.drive(self.core.delete_app(app_id)?).await
    }

    /// Mints a launch token with admin authority.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_async::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_async::wire::LaunchTokenRequest;
    ///
    /// let request = LaunchTokenRequest::new("ops-agent", vec!["read:data:*".into()]).with_max_ttl(std::time::Duration::from_secs(60));
    /// let minted = operator.launch_token(request).await?;
    /// assert_eq!(minted.policy.allowed_scope, ["read:data:*"]);
    /// assert_eq!(minted.policy.max_ttl, 60);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub async fn launch_token(
        &self,
        request: LaunchTokenRequest,
    ) -> Result<LaunchTokenResponse, Error> {
        self.transport.drive(self.core.launch_token(request)?).await
    }

    /// Revokes a token (jti), an agent (SPIFFE id), a task or a chain.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let operator = agentwrit_async::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_async::wire::RevocationLevel;
    ///
    /// let agent = app.create_agent("orch-1", "task-7", &["read:data:*"]).await?;
    /// let revoked = operator.revoke(RevocationLevel::Task, "task-7").await?;
    /// assert!(revoked.revoked);
    /// assert!(!app.validate(&agent.access_token()).await?.is_valid());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub async fn revoke(
        &self,
        level: RevocationLevel,
        target: &str,
    ) -> Result<RevokeResponse, Error> {
        self.transport.drive(self.core.revoke(level, target)?).await
    }

    /// One page of audit events.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let operator = agentwrit_async::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_async::wire::{AuditQuery, CreateAppRequest};
    ///
    /// operator.create_app(CreateAppRequest::new("billing", vec!["read:data:*".into()])).await?;
    /// let page = operator.audit_events(AuditQuery::new().event_type("app_registered").limit(10)).await?;
    /// assert_eq!(page.total, 1);
    /// assert_eq!(page.events[0].event_type, "app_registered");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The broker's rejection or a transport failure.
    pub async fn audit_events(&self, query: AuditQuery) -> Result<AuditEventsResponse, Error> {
        self.transport.drive(self.core.audit_events(query)?).await
    }

    /// Every audit event matching `query`, page after page.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let broker = agentwrit_devbroker::DevBroker::start()?;
    /// # let reg = broker.register_universal_app()?;
    /// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, &reg.client_secret)?;
    /// # let operator = agentwrit_async::Operator::new(broker.url(), broker.admin_secret())?;
    /// use agentwrit_async::wire::AuditQuery;
    ///
    /// let agent = app.create_agent("orch-1", "task-1", &["read:data:*"]).await?;
    /// agent.release().await?;
    /// let events = operator.audit_events_all(AuditQuery::new().limit(2)).await?; // two per page
    /// assert!(events.len() > 2);
    /// // The trail is hash-chained: each event's prev_hash is the previous event's hash.
    /// assert!(events.windows(2).all(|pair| pair[1].prev_hash == pair[0].hash));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Operator::audit_events`].
    pub async fn audit_events_all(&self, query: AuditQuery) -> Result<Vec<AuditEvent>, Error> {
        let mut events = Vec::new();
        let mut next = Some(query);
        while let Some(query) = next {
            let page = self.audit_events(query.clone()).await?;
            next = next_audit_page(&query, &page);
            events.extend(page.events);
        }
        Ok(events)
    }
}
