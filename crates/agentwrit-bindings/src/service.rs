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
use std::sync::{Arc, Mutex, PoisonError};

use agentwrit_blocking::wire::Claims;
use agentwrit_tower_verify::usage::{Counters, Recorder, UsageError};
use agentwrit_tower_verify::{AgentAuth, ConfigError, Rejection};

use crate::call::{Abandon, Call, Effect};
use crate::error::{BindingError, ErrorKind, Result};
use crate::runtime::process_id;

mod options;
mod scopes;

use options::build_auth;
pub use options::{ResourceOptions, ServiceOptions, UsageOptions};
pub use scopes::{McpDecision, McpToolScopes, ScopeRequirement};

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
        self.rejection.kind().code()
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

#[cfg(test)]
mod tests;
