//! The service side every language shares: `agentwrit-tower`'s
//! verifier (broker or local mode, the bounded cache, fail closed, RFC
//! 6750 challenges, RFC 9728 discovery) and its MCP scope rule, as plain
//! values a language's middleware turns into its framework's responses.
//!
//! No decision is made here: which token is accepted, which status and
//! challenge a refusal gets, what a tool call needs, are tower's. A shell
//! hands over the `Authorization` header (or the token), the request path
//! and, for MCP, the JSON-RPC body; it gets back the verified claims or a
//! [`Refusal`] with the status, headers and body to answer with.
//!
//! ```
//! use agentwrit_bindings::{ServiceOptions, Verdict, Verifier};
//! # let broker = agentwrit_devbroker::DevBroker::start()?;
//! let verifier = Verifier::new(ServiceOptions::broker(broker.url()))?;
//! match verifier.authenticate(None, Some("/orders".into())).wait()? {
//!     Verdict::Refused(refusal) => {
//!         assert_eq!(refusal.status(), 401);
//!         assert!(refusal.headers().iter().any(|(n, v)| n == "www-authenticate" && v == "Bearer"));
//!     }
//!     Verdict::Accepted(_) => unreachable!(),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agentwrit_blocking::wire::Claims;
use agentwrit_tower_verify::usage::{Counters, JsonlSink, Recorder, UsageError};
use agentwrit_tower_verify::{
    AgentAuth, BrokerKey, ConfigError, McpScopes, ProtectedResource, Rejection, RejectionKind,
    ScopeTemplates,
};

use crate::call::{Abandon, Call, Effect};
use crate::error::{BindingError, ErrorKind, Result};
use crate::runtime::process_id;

/// How a service checks tokens, as a language hands the options over.
///
/// Broker mode when `keys` is empty (`broker_url` required); local mode
/// (EdDSA against pinned broker keys) otherwise, re-checked at
/// `broker_url` when one is given.
#[derive(Clone, Default)]
pub struct ServiceOptions {
    /// The broker to validate at (broker mode), or to re-check at (local
    /// mode).
    pub broker_url: Option<String>,
    /// Local mode: the broker's public keys, each base64url (the JWK's
    /// `x`) or a whole JWK.
    pub keys: Vec<String>,
    /// How long a verdict is reused (tower's default when `None`; zero
    /// turns the cache off).
    pub max_staleness: Option<Duration>,
    /// The most verdicts kept.
    pub cache_capacity: Option<usize>,
    /// The timeout of one broker call (then 503).
    pub broker_timeout: Option<Duration>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required member of `aud`.
    pub audience: Option<String>,
    /// Tolerated clock difference on `exp` and `nbf`.
    pub leeway: Option<Duration>,
    /// Extra roots for the broker's HTTPS certificate (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate chain for a broker in mTLS mode (PEM).
    pub client_cert_pem: Option<Vec<u8>>,
    /// Its key (PEM).
    pub client_key_pem: Option<Vec<u8>>,
    /// Paths let through without a token (exact).
    pub public_paths: Vec<String>,
    /// Path prefixes let through without a token.
    pub public_prefixes: Vec<String>,
    /// Publish the service as an OAuth protected resource (RFC 9728).
    pub resource: Option<ResourceOptions>,
    /// Record scope-usage evidence (off when `None`).
    pub usage: Option<UsageOptions>,
}

// By hand: the client key is a secret.
impl fmt::Debug for ServiceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceOptions")
            .field("broker_url", &self.broker_url)
            .field("keys", &self.keys.len())
            .field("max_staleness", &self.max_staleness)
            .field(
                "identity",
                &self.client_key_pem.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl ServiceOptions {
    /// Broker mode at `broker_url`, everything else at tower's defaults.
    #[must_use]
    pub fn broker(broker_url: &str) -> ServiceOptions {
        ServiceOptions {
            broker_url: Some(broker_url.to_owned()),
            ..ServiceOptions::default()
        }
    }
}

/// The RFC 9728 metadata of a protected resource.
#[derive(Clone, Debug, Default)]
pub struct ResourceOptions {
    /// The resource identifier (its absolute URL, e.g. an MCP endpoint).
    pub resource: String,
    /// Authorization servers to name (none by default: the broker is not
    /// one).
    pub authorization_servers: Vec<String>,
    /// `scopes_supported`.
    pub scopes_supported: Vec<String>,
    /// `resource_documentation`.
    pub documentation: Option<String>,
    /// `resource_name`.
    pub name: Option<String>,
}

/// Scope-usage evidence (`agentwrit-usage`, through tower's
/// `record_usage`): per token, what it was granted against what the
/// service's requests required, allowed and denied, written as JSON Lines
/// files (one per process) in `dir`.
#[derive(Clone, Debug, Default)]
pub struct UsageOptions {
    /// The service's name in every record.
    pub service_name: String,
    /// The directory the JSON Lines files go to (created if missing).
    pub dir: PathBuf,
}

impl UsageOptions {
    /// A recorder writing into `dir`, registered for [`finish_usage`] in
    /// this process.
    fn recorder(&self) -> Result<Recorder> {
        let failed = |e: &dyn fmt::Display| BindingError::invalid_input("usage", &e.to_string());
        let sink = JsonlSink::dir(&self.dir).map_err(|e| failed(&e))?;
        let recorder = Recorder::builder()
            .service_name(self.service_name.clone())
            .sink(sink)
            .build()
            .map_err(|e| failed(&e))?;
        lock(&RECORDERS).push((process_id(), recorder.clone()));
        Ok(recorder)
    }
}

/// Every recorder made, with the process that made it; [`finish_usage`]
/// shuts down this process's.
static RECORDERS: Mutex<Vec<(u32, Recorder)>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn usage_error(e: &dyn fmt::Display) -> BindingError {
    BindingError::plain(ErrorKind::Other, format!("scope-usage records: {e}"))
}

/// Shuts a recorder down; one already shut down is not an error.
fn shut(recorder: &Recorder) -> Result<()> {
    match recorder.shutdown() {
        Ok(()) | Err(UsageError::Closed) => Ok(()),
        Err(e) => Err(usage_error(&e)),
    }
}

/// Writes out and stops every scope-usage recorder of this process: what a
/// language runs when its interpreter exits (records of tokens still alive
/// are written as they stand). In a forked child, the recorders its parent
/// made are left alone (their writer thread is not in the child; the
/// child's own verifiers built recorders of their own).
///
/// # Errors
///
/// The first recorder that could not write everything (the others are
/// still shut down).
pub fn finish_usage() -> Result<()> {
    let pid = process_id();
    let recorders = std::mem::take(&mut *lock(&RECORDERS));
    let mut first = None;
    for (owner, recorder) in recorders {
        if owner != pid {
            // Never dropped here (see `Shared::drop`).
            std::mem::forget(recorder);
            continue;
        }
        if let Err(e) = shut(&recorder) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

fn config_error(field: &str, e: &ConfigError) -> BindingError {
    BindingError::invalid_input(field, &e.to_string())
}

/// A service's token verifier: tower's `AgentAuth`, and its scope-usage
/// recorder when [`ServiceOptions::usage`] turns one on. Cheap to clone.
///
/// Fork-safe: a forked child (a pre-forking server's worker) builds its
/// own authenticator, cache and usage recorder (its own JSON Lines file)
/// from the same options on first use; the parent's are never used nor
/// dropped there (their threads do not exist in the child).
#[derive(Clone)]
pub struct Verifier {
    shared: Arc<Shared>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("options", &self.shared.options)
            .field("records_usage", &self.shared.options.usage.is_some())
            .finish_non_exhaustive()
    }
}

/// What a [`Verifier`] holds in one process.
#[derive(Clone)]
struct Service {
    auth: AgentAuth,
    recorder: Option<Recorder>,
}

struct Shared {
    options: ServiceOptions,
    /// The process `home` was built in.
    owner: u32,
    /// Taken only by `drop`.
    home: Option<Service>,
    /// The service of a forked child (built there on first use).
    forked: Mutex<Option<(u32, Service)>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        let pid = process_id();
        // Another process's service is never dropped here: dropping its
        // usage recorder would wait for a writer thread that does not
        // exist in this process. Leaked once per fork.
        if self.owner != pid {
            std::mem::forget(self.home.take());
        }
        let forked = self
            .forked
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if forked.as_ref().is_some_and(|(owner, _)| *owner != pid) {
            std::mem::forget(forked.take());
        }
    }
}

fn build_service(options: &ServiceOptions) -> Result<Service> {
    let recorder = options
        .usage
        .as_ref()
        .map(UsageOptions::recorder)
        .transpose()?;
    let auth = build_auth(options.clone(), recorder.clone())?;
    Ok(Service { auth, recorder })
}

/// What a check concluded: the verified claims, or the answer to send.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Genuine, unexpired, not released or revoked (as far as the mode
    /// can see), issuer and audience as configured.
    Accepted(Box<Claims>),
    /// Refused: answer with this.
    Refused(Box<Refusal>),
}

impl Abandon for Verdict {}

/// A refused request, with the response tower makes for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    rejection: Rejection,
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        Refusal { rejection }
    }
}

fn header_pairs<B>(response: &http::Response<B>) -> Vec<(String, String)> {
    response
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_owned(), v.to_owned()))
        })
        .collect()
}

impl Refusal {
    /// 401, 403, 400, 413, 503 or 500.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.rejection.status().as_u16()
    }

    /// Why, as a stable name: `missing_token`, `invalid_token`,
    /// `insufficient_scope`, `broker_unavailable`, `misconfigured`,
    /// `forbidden`, `bad_request`, `payload_too_large`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self.rejection.kind() {
            RejectionKind::MissingToken => "missing_token",
            RejectionKind::InvalidToken => "invalid_token",
            RejectionKind::InsufficientScope => "insufficient_scope",
            RejectionKind::BrokerUnavailable => "broker_unavailable",
            RejectionKind::Misconfigured => "misconfigured",
            RejectionKind::Forbidden => "forbidden",
            RejectionKind::BadRequest => "bad_request",
            RejectionKind::PayloadTooLarge => "payload_too_large",
            _ => "refused",
        }
    }

    /// The human-readable detail (never the token).
    #[must_use]
    pub fn detail(&self) -> &str {
        self.rejection.detail()
    }

    /// For `insufficient_scope`: the scopes needed, space-separated.
    #[must_use]
    pub fn required_scope(&self) -> Option<&str> {
        self.rejection.required_scope()
    }

    /// The `resource_metadata` URL the challenge names, if any.
    #[must_use]
    pub fn resource_metadata(&self) -> Option<&str> {
        self.rejection.resource_metadata()
    }

    /// The response headers (lower-case names): content type, cache
    /// control, the `WWW-Authenticate` challenge, `Retry-After` for a 503.
    #[must_use]
    pub fn headers(&self) -> Vec<(String, String)> {
        header_pairs(&self.rejection.to_response::<()>())
    }

    /// The `application/problem+json` body.
    #[must_use]
    pub fn body(&self) -> Vec<u8> {
        self.rejection.body().to_vec()
    }

    /// The headers of the JSON-RPC form (an MCP endpoint's answer).
    #[must_use]
    pub fn jsonrpc_headers(&self) -> Vec<(String, String)> {
        header_pairs(&self.rejection.to_jsonrpc_response::<()>(None))
    }

    /// The JSON-RPC error body, with the request's `id` when known.
    #[must_use]
    pub fn jsonrpc_body(&self, id: Option<&serde_json::Value>) -> Vec<u8> {
        self.rejection.jsonrpc_body(id).to_vec()
    }
}

/// A response the service sends itself (the protected resource's
/// metadata document).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Verifier {
    /// Builds the verifier (no network yet).
    ///
    /// # Errors
    ///
    /// An [`InvalidInput`](crate::ErrorKind::InvalidInput) naming what is
    /// wrong: no broker URL in broker mode, a bad URL, key, PEM or
    /// resource identifier, a usage directory that cannot be created.
    pub fn new(options: ServiceOptions) -> Result<Verifier> {
        let home = build_service(&options)?;
        Ok(Verifier {
            shared: Arc::new(Shared {
                options,
                owner: process_id(),
                home: Some(home),
                forked: Mutex::new(None),
            }),
        })
    }

    /// This process's service: the one built by `new`, or in a forked
    /// child its own, built on first use.
    fn service(&self) -> Result<Service> {
        let shared = &*self.shared;
        let pid = process_id();
        if pid == shared.owner
            && let Some(home) = &shared.home
        {
            return Ok(home.clone());
        }
        let mut forked = shared.forked.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((owner, service)) = &*forked
            && *owner == pid
        {
            return Ok(service.clone());
        }
        let built = build_service(&shared.options)?;
        if let Some(theirs) = forked.replace((pid, built.clone())) {
            // A grandparent's: never dropped here (see `Shared::drop`).
            std::mem::forget(theirs);
        }
        Ok(built)
    }

    /// This process's service if it has one already (never builds one).
    fn existing_service(&self) -> Option<Service> {
        let shared = &*self.shared;
        let pid = process_id();
        if pid == shared.owner {
            return shared.home.clone();
        }
        let forked = shared.forked.lock().unwrap_or_else(PoisonError::into_inner);
        forked
            .as_ref()
            .filter(|(owner, _)| *owner == pid)
            .map(|(_, service)| service.clone())
    }

    /// The authenticator of this process.
    fn auth(&self) -> Result<AgentAuth> {
        self.service().map(|s| s.auth)
    }
}

fn build_auth(options: ServiceOptions, recorder: Option<Recorder>) -> Result<AgentAuth> {
    {
        let mut builder = if options.keys.is_empty() {
            let url = options.broker_url.clone().ok_or_else(|| {
                BindingError::invalid_input(
                    "broker_url",
                    "is required (or give the broker's keys for local mode)",
                )
            })?;
            AgentAuth::broker(url)
        } else {
            let keys = options
                .keys
                .iter()
                .map(|k| {
                    let k = k.trim();
                    if k.starts_with('{') {
                        BrokerKey::from_jwk(k)
                    } else {
                        BrokerKey::from_base64url(k)
                    }
                    .map_err(|e| config_error("keys", &e))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut b = AgentAuth::local(keys);
            if let Some(url) = options.broker_url.clone() {
                b = b.broker_recheck(url);
            }
            b
        };
        if let Some(d) = options.max_staleness {
            builder = builder.max_staleness(d);
        }
        if let Some(n) = options.cache_capacity {
            builder = builder.cache_capacity(n);
        }
        if let Some(d) = options.broker_timeout {
            builder = builder.broker_timeout(d);
        }
        if let Some(iss) = options.issuer {
            builder = builder.issuer(iss);
        }
        if let Some(aud) = options.audience {
            builder = builder.audience(aud);
        }
        if let Some(d) = options.leeway {
            builder = builder.leeway(d);
        }
        if let Some(pem) = &options.ca_pem {
            builder = builder.add_broker_root_certificate_pem(pem);
        }
        match (&options.client_cert_pem, &options.client_key_pem) {
            (Some(cert), Some(key)) => builder = builder.broker_identity_pem(cert, key),
            (None, None) => {}
            _ => {
                return Err(BindingError::invalid_input(
                    "client_cert",
                    "a client certificate needs its key (client_key), and a key its certificate",
                ));
            }
        }
        for path in options.public_paths {
            builder = builder.public_path(path);
        }
        for prefix in options.public_prefixes {
            builder = builder.public_prefix(prefix);
        }
        if let Some(r) = options.resource {
            let mut resource =
                ProtectedResource::new(r.resource).map_err(|e| config_error("resource", &e))?;
            for server in r.authorization_servers {
                resource = resource.authorization_server(server);
            }
            if !r.scopes_supported.is_empty() {
                resource = resource.scopes_supported(r.scopes_supported);
            }
            if let Some(url) = r.documentation {
                resource = resource.resource_documentation(url);
            }
            if let Some(name) = r.name {
                resource = resource.resource_name(name);
            }
            builder = builder.protected_resource(resource);
        }
        if let Some(recorder) = recorder {
            builder = builder.record_usage(recorder);
        }
        // The broker client's connections live on the bindings runtime.
        let _context = crate::runtime::runtime()?.enter();
        builder.build().map_err(|e| config_error("service", &e))
    }
}

impl Verifier {
    /// The authenticator of the process that built the verifier, for
    /// what depends on the configuration only (public paths, discovery,
    /// challenges): usable in any process, since it touches no thread,
    /// connection or cache.
    fn config(&self) -> Option<&AgentAuth> {
        self.shared.home.as_ref().map(|s| &s.auth)
    }

    /// Authenticates a request from its `Authorization` header (`None`:
    /// the request has none). `instance` (the request path) goes into a
    /// refusal's problem.
    pub fn authenticate(
        &self,
        authorization: Option<String>,
        instance: Option<String>,
    ) -> Call<Verdict> {
        let auth = self.auth();
        Call::nonblocking("authenticate", Effect::Read, async move {
            let verdict = auth?.authenticate_header(authorization.as_deref()).await;
            Ok(verdict_of(verdict, instance))
        })
    }

    /// Authenticates a request from every value of its `Authorization`
    /// header, as raw bytes (what an ASGI or Node server hands over): the
    /// rules of [`Verifier::authenticate`], plus tower's for duplicates
    /// (two headers are refused, 401 `invalid_token`).
    pub fn authenticate_values(
        &self,
        values: Vec<Vec<u8>>,
        instance: Option<String>,
    ) -> Call<Verdict> {
        let auth = self.auth();
        Call::nonblocking("authenticate", Effect::Read, async move {
            let auth = auth?;
            let mut headers = http::HeaderMap::new();
            for value in &values {
                match http::HeaderValue::from_bytes(value) {
                    Ok(v) => {
                        headers.append(http::header::AUTHORIZATION, v);
                    }
                    // Not a header value: tower's own refusal of it.
                    Err(_) => {
                        let text = String::from_utf8_lossy(value);
                        let verdict = auth.authenticate_header(Some(&text)).await;
                        return Ok(verdict_of(verdict, instance));
                    }
                }
            }
            Ok(verdict_of(auth.authenticate(&headers).await, instance))
        })
    }

    /// Verifies one bearer token (what an MCP `requireBearerAuth` verifier
    /// is handed).
    pub fn verify_token(&self, token: String) -> Call<Verdict> {
        let auth = self.auth();
        Call::nonblocking("verify_token", Effect::Read, async move {
            Ok(verdict_of(auth?.verify_token(&token).await, None))
        })
    }

    /// Decides a route's requirement for a verified token (its `jti` and
    /// granted `held` scopes) by the broker's rule, and records the
    /// decision when usage recording is on: `Ok`, or the 403
    /// `insufficient_scope` refusal (with this service's
    /// `resource_metadata`).
    ///
    /// # Errors
    ///
    /// The refusal.
    pub fn check_scopes(
        &self,
        jti: &str,
        held: &[String],
        required: &[String],
        instance: Option<String>,
    ) -> std::result::Result<(), Box<Refusal>> {
        let allowed = crate::scope_is_subset(required, held);
        self.record(jti, required, allowed);
        if allowed {
            Ok(())
        } else {
            Err(Box::new(self.insufficient_scope(required, instance)))
        }
    }

    /// Records a scope decision made for the token `jti` (when usage
    /// recording is on), in this process's recorder.
    fn record<S: AsRef<str>>(&self, jti: &str, required: &[S], allowed: bool) {
        if self.shared.options.usage.is_none() {
            return;
        }
        if let Ok(Service {
            recorder: Some(recorder),
            ..
        }) = self.service()
        {
            recorder.check(jti, required, allowed);
        }
    }

    /// The 403 for a token that lacks `required`, with this service's
    /// `resource_metadata` when it publishes one.
    #[must_use]
    pub fn insufficient_scope(&self, required: &[String], instance: Option<String>) -> Refusal {
        let mut rejection = self.attach_rejection(Rejection::insufficient_scope(required));
        if let Some(instance) = instance {
            rejection = rejection.with_instance(instance);
        }
        rejection.into()
    }

    /// Whether `path` is let through without a token.
    #[must_use]
    pub fn is_public(&self, path: &str) -> bool {
        self.config().is_some_and(|auth| auth.is_public(path))
    }

    /// The answer to a discovery request (`GET` of the protected
    /// resource's metadata path), or `None` for any other request.
    #[must_use]
    pub fn discovery(&self, method: &str, path: &str) -> Option<Answer> {
        let method = http::Method::from_bytes(method.as_bytes()).ok()?;
        self.config()?
            .discovery_response(&method, path)
            .map(|response| Answer {
                status: response.status().as_u16(),
                headers: header_pairs(&response),
                body: response.body().to_vec(),
            })
    }

    /// The protected resource's identifier and metadata URL, when one is
    /// published.
    #[must_use]
    pub fn resource(&self) -> Option<(String, String)> {
        self.config()?
            .protected_resource()
            .map(|r| (r.resource().to_owned(), r.metadata_url().to_owned()))
    }

    /// How many verdicts the cache of this process holds.
    #[must_use]
    pub fn cached_entries(&self) -> usize {
        self.existing_service()
            .map_or(0, |service| service.auth.cached_entries())
    }

    /// Whether this verifier records scope usage.
    #[must_use]
    pub fn records_usage(&self) -> bool {
        self.shared.options.usage.is_some()
    }

    /// The usage recorder's counters in this process (`None` when usage
    /// is not recorded, or this process has not used the verifier yet).
    #[must_use]
    pub fn usage_counters(&self) -> Option<Counters> {
        self.existing_service()?
            .recorder
            .map(|recorder| recorder.counters())
    }

    /// Writes the scope-usage records of tokens with activity since their
    /// last record, now, and waits until the file has them (blocks the
    /// calling thread). Nothing to do without usage recording.
    ///
    /// # Errors
    ///
    /// A sink that failed since the last flush, or a recorder already
    /// stopped.
    pub fn flush_usage(&self) -> Result<()> {
        match self.existing_service().and_then(|s| s.recorder) {
            Some(recorder) => recorder.flush().map_err(|e| usage_error(&e)),
            None => Ok(()),
        }
    }

    /// Writes every record (tokens still alive as they stand) and stops the
    /// recorder of this process; later decisions are not recorded
    /// (verification goes on). Idempotent; nothing to do without usage
    /// recording.
    ///
    /// # Errors
    ///
    /// A sink that failed.
    pub fn shutdown_usage(&self) -> Result<()> {
        match self.existing_service().and_then(|s| s.recorder) {
            Some(recorder) => shut(&recorder),
            None => Ok(()),
        }
    }

    /// `rejection` with this service's `resource_metadata`, when it
    /// publishes one.
    fn attach_rejection(&self, rejection: Rejection) -> Rejection {
        match self.config() {
            Some(auth) => auth.attach_metadata(rejection),
            None => rejection,
        }
    }
}

fn verdict_of(
    verdict: std::result::Result<agentwrit_tower_verify::AgentClaims, Rejection>,
    instance: Option<String>,
) -> Verdict {
    match verdict {
        Ok(claims) => Verdict::Accepted(Box::new(claims.claims().clone())),
        Err(rejection) => {
            let rejection = match instance {
                Some(instance) => rejection.with_instance(instance),
                None => rejection,
            };
            Verdict::Refused(Box::new(rejection.into()))
        }
    }
}

/// The scopes an MCP server's JSON-RPC messages need: tower's
/// `McpScopes` (per tool, filled from the call's arguments; per method,
/// from `params`), decided by the broker's subset rule. A placeholder
/// value that would change the scope it fills is refused, never widened.
#[derive(Clone, Debug)]
pub struct McpToolScopes {
    scopes: McpScopes,
}

impl McpToolScopes {
    /// Requirements: `tools` and `methods` as (name, scope templates)
    /// pairs; unlisted tools refused unless `allow_unlisted_tools`; bodies
    /// over `max_body_bytes` refused (tower's default when `None`).
    ///
    /// # Errors
    ///
    /// A template that is not a scope.
    pub fn new(
        tools: Vec<(String, Vec<String>)>,
        methods: Vec<(String, Vec<String>)>,
        allow_unlisted_tools: bool,
        max_body_bytes: Option<usize>,
    ) -> Result<McpToolScopes> {
        let mut builder = McpScopes::builder();
        for (name, scopes) in tools {
            builder = builder.tool(name, &scopes);
        }
        for (name, scopes) in methods {
            builder = builder.method(name, &scopes);
        }
        if allow_unlisted_tools {
            builder = builder.allow_unlisted_tools();
        }
        if let Some(n) = max_body_bytes {
            builder = builder.max_body_bytes(n);
        }
        let scopes = builder.build().map_err(|e| config_error("scopes", &e))?;
        Ok(McpToolScopes { scopes })
    }

    /// The scope families the requirements name (for `scopes_supported`).
    #[must_use]
    pub fn scope_families(&self) -> Vec<String> {
        self.scopes.scope_families()
    }

    /// The largest body decided on (a larger one is refused with 413).
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.scopes.max_body_bytes()
    }

    /// The whole decision on `body` for a verified token holding `held`,
    /// as the MCP layer of `agentwrit-tower` makes it (one parse of the
    /// body): the required scopes, or the refusal (with `verifier`'s
    /// `resource_metadata`, and `instance`, the request path, in its
    /// problem) and the request's JSON-RPC `id` when the body is one
    /// request (for the error response). With usage recording on, the
    /// scope decision is recorded for the token `jti` (allowed, or denied
    /// naming the missing scopes; nothing without a `jti`, e.g. claims from
    /// another verifier).
    ///
    /// Every shell decides here: Python's `McpAuth`/`ToolScopes` and
    /// Node's `mcpToolScopes`.
    ///
    /// The refusal is a 403 `insufficient_scope` naming every needed
    /// scope, a 403 `forbidden` for an unlisted tool, a 400 for a body that
    /// is not usable JSON-RPC or an unusable placeholder value, a 413 over
    /// the limit.
    #[must_use]
    pub fn decide(
        &self,
        verifier: &Verifier,
        body: &[u8],
        jti: Option<&str>,
        held: &[String],
        instance: Option<String>,
    ) -> McpDecision {
        let (id, verdict) = self.scopes.authorize_with_id(body, held);
        if let Some(jti) = jti {
            record_decision(verifier, jti, &verdict);
        }
        match verdict {
            Ok(required) => McpDecision {
                id: None,
                verdict: Ok(required),
            },
            Err(rejection) => {
                let rejection = verifier.attach_rejection(rejection);
                let rejection = match instance {
                    Some(instance) => rejection.with_instance(instance),
                    None => rejection,
                };
                McpDecision {
                    id,
                    verdict: Err(Box::new(rejection.into())),
                }
            }
        }
    }
}

/// Records an MCP scope decision for the token `jti`, as tower's MCP layer
/// does: the required scopes allowed, or the scopes an
/// `insufficient_scope` refusal names denied (other refusals decide no
/// scope).
fn record_decision(
    verifier: &Verifier,
    jti: &str,
    verdict: &std::result::Result<Vec<String>, Rejection>,
) {
    match verdict {
        Ok(required) if !required.is_empty() => verifier.record(jti, required, true),
        Err(r) if r.kind() == RejectionKind::InsufficientScope => {
            let required: Vec<&str> = r
                .required_scope()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            verifier.record(jti, &required, false);
        }
        _ => {}
    }
}

/// [`McpToolScopes::decide`]'s answer.
#[derive(Debug)]
pub struct McpDecision {
    /// The request's JSON-RPC `id` when refused and the body was one
    /// request (`None` otherwise).
    pub id: Option<serde_json::Value>,
    /// The scopes required (all held), or the refusal.
    pub verdict: std::result::Result<Vec<String>, Box<Refusal>>,
}

/// Scope templates filled from named text values, such as an HTTP
/// route's path parameters (`read:data:customer-{customer_id}`): tower's
/// `ScopeTemplates`, with the placeholder rules of the MCP scopes (a
/// value holding `:`, `*`, whitespace, quotes, control or non-ASCII
/// characters, empty or too long, is refused with 400, never filled in).
#[derive(Clone, Debug)]
pub struct ScopeRequirement {
    templates: ScopeTemplates,
}

impl ScopeRequirement {
    /// The requirement of every template in `templates`.
    ///
    /// # Errors
    ///
    /// A template that is not a scope.
    pub fn new(templates: &[String]) -> Result<ScopeRequirement> {
        let templates = ScopeTemplates::new(templates).map_err(|e| config_error("scopes", &e))?;
        Ok(ScopeRequirement { templates })
    }

    /// The placeholder names the templates use.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.templates.names()
    }

    /// Fills the templates with `values` and decides them for the
    /// verified `claims` with [`Verifier::check_scopes`] (recorded with
    /// usage recording on): the required scopes, or the refusal (400 for a
    /// value that cannot fill a scope, 500 for a placeholder without a
    /// value, 403 `insufficient_scope` naming the scopes).
    ///
    /// # Errors
    ///
    /// The refusal.
    pub fn check(
        &self,
        verifier: &Verifier,
        claims: &Claims,
        values: &[(String, String)],
        instance: Option<String>,
    ) -> std::result::Result<Vec<String>, Box<Refusal>> {
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let required = self.templates.fill(&pairs).map_err(|rejection| {
            let rejection = verifier.attach_rejection(rejection);
            Box::new(Refusal::from(match &instance {
                Some(instance) => rejection.with_instance(instance.as_str()),
                None => rejection,
            }))
        })?;
        verifier.check_scopes(&claims.jti, &claims.scope, &required, instance)?;
        Ok(required)
    }
}

#[cfg(test)]
mod tests;
