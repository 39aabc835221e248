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
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use agentwrit_blocking::wire::Claims;
use agentwrit_tower_verify::usage::{JsonlSink, Recorder};
use agentwrit_tower_verify::{
    AgentAuth, BrokerKey, ConfigError, McpScopes, ProtectedResource, Rejection, RejectionKind,
};

use crate::call::{Abandon, Call, Effect};
use crate::error::{BindingError, Result};

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

/// Every recorder made in this process, shut down (their last records
/// written) by [`finish_usage`].
static RECORDERS: Mutex<Vec<Recorder>> = Mutex::new(Vec::new());

/// Writes out and stops every scope-usage recorder of this process: what a
/// language runs when its interpreter exits (records of tokens still alive
/// are written as they stand).
///
/// # Errors
///
/// The first recorder that could not write everything (the others are
/// still shut down).
pub fn finish_usage() -> Result<()> {
    let recorders = std::mem::take(&mut *RECORDERS.lock().unwrap_or_else(PoisonError::into_inner));
    let mut first = None;
    for recorder in recorders {
        if let Err(e) = recorder.shutdown() {
            first.get_or_insert(BindingError::plain(
                crate::ErrorKind::Other,
                format!("scope-usage records: {e}"),
            ));
        }
    }
    first.map_or(Ok(()), Err)
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

fn config_error(field: &str, e: &ConfigError) -> BindingError {
    BindingError::invalid_input(field, &e.to_string())
}

/// A service's token verifier: tower's `AgentAuth`, and its scope-usage
/// recorder when one is on. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Verifier {
    auth: AgentAuth,
    usage: Option<Recorder>,
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
    /// resource identifier.
    pub fn new(options: ServiceOptions) -> Result<Verifier> {
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
        let usage = match options.usage {
            Some(u) => {
                let failed =
                    |e: &dyn fmt::Display| BindingError::invalid_input("usage", &e.to_string());
                let sink = JsonlSink::dir(&u.dir).map_err(|e| failed(&e))?;
                let recorder = Recorder::builder()
                    .service_name(u.service_name)
                    .sink(sink)
                    .build()
                    .map_err(|e| failed(&e))?;
                RECORDERS
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(recorder.clone());
                builder = builder.record_usage(recorder.clone());
                Some(recorder)
            }
            None => None,
        };
        // The broker client's connections live on the bindings runtime.
        let _context = crate::runtime::runtime()?.enter();
        let auth = builder.build().map_err(|e| config_error("service", &e))?;
        Ok(Verifier { auth, usage })
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
    /// recording is on).
    fn record<S: AsRef<str>>(&self, jti: &str, required: &[S], allowed: bool) {
        if let Some(usage) = &self.usage {
            usage.check(jti, required, allowed);
        }
    }

    /// Writes the scope-usage records of tokens that ended, now.
    ///
    /// # Errors
    ///
    /// A sink that failed since the last flush.
    pub fn flush_usage(&self) -> Result<()> {
        match &self.usage {
            Some(usage) => usage.flush().map_err(|e| {
                BindingError::plain(crate::ErrorKind::Other, format!("scope-usage records: {e}"))
            }),
            None => Ok(()),
        }
    }

    /// Writes every record (tokens still alive as they stand) and stops the
    /// recorder; later decisions are not recorded.
    ///
    /// # Errors
    ///
    /// A sink that failed.
    pub fn shutdown_usage(&self) -> Result<()> {
        match &self.usage {
            Some(usage) => usage.shutdown().map_err(|e| {
                BindingError::plain(crate::ErrorKind::Other, format!("scope-usage records: {e}"))
            }),
            None => Ok(()),
        }
    }

    /// Authenticates a request from its `Authorization` header (`None`:
    /// the request has none). `instance` (the request path) goes into a
    /// refusal's problem.
    pub fn authenticate(
        &self,
        authorization: Option<String>,
        instance: Option<String>,
    ) -> Call<Verdict> {
        let auth = self.auth.clone();
        Call::nonblocking("authenticate", Effect::Read, async move {
            let verdict = auth.authenticate_header(authorization.as_deref()).await;
            Ok(verdict_of(verdict, instance))
        })
    }

    /// Verifies one bearer token (what an MCP `requireBearerAuth` verifier
    /// is handed).
    pub fn verify_token(&self, token: String) -> Call<Verdict> {
        let auth = self.auth.clone();
        Call::nonblocking("verify_token", Effect::Read, async move {
            Ok(verdict_of(auth.verify_token(&token).await, None))
        })
    }

    /// The 403 for a token that lacks `required`, with this service's
    /// `resource_metadata` when it publishes one.
    #[must_use]
    pub fn insufficient_scope(&self, required: &[String], instance: Option<String>) -> Refusal {
        let mut rejection = self
            .auth
            .attach_metadata(Rejection::insufficient_scope(required));
        if let Some(instance) = instance {
            rejection = rejection.with_instance(instance);
        }
        rejection.into()
    }

    /// Whether `path` is let through without a token.
    #[must_use]
    pub fn is_public(&self, path: &str) -> bool {
        self.auth.is_public(path)
    }

    /// The answer to a discovery request (`GET` of the protected
    /// resource's metadata path), or `None` for any other request.
    #[must_use]
    pub fn discovery(&self, method: &str, path: &str) -> Option<Answer> {
        let method = http::Method::from_bytes(method.as_bytes()).ok()?;
        self.auth
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
        self.auth
            .protected_resource()
            .map(|r| (r.resource().to_owned(), r.metadata_url().to_owned()))
    }

    /// How many verdicts the cache holds.
    #[must_use]
    pub fn cached_entries(&self) -> usize {
        self.auth.cached_entries()
    }

    /// `refusal` with this service's `resource_metadata`, when it
    /// publishes one.
    fn attach(&self, rejection: Rejection) -> Refusal {
        self.auth.attach_metadata(rejection).into()
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

    /// Decides `body` for a token holding `held` (its id `jti`, for the
    /// scope-usage records when `verifier` keeps them): the required
    /// scopes, or the refusal (with `verifier`'s `resource_metadata`).
    ///
    /// # Errors
    ///
    /// The refusal: 403 `insufficient_scope` naming every needed scope,
    /// 403 `forbidden` for an unlisted tool, 400 for a body that is not
    /// usable JSON-RPC or an unusable placeholder value, 413 over the
    /// limit.
    pub fn authorize(
        &self,
        verifier: &Verifier,
        jti: Option<&str>,
        body: &[u8],
        held: &[String],
    ) -> std::result::Result<Vec<String>, Box<Refusal>> {
        let verdict = self.scopes.authorize(body, held);
        if let Some(jti) = jti {
            match &verdict {
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
        verdict.map_err(|r| Box::new(verifier.attach(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_mode_needs_a_url_and_local_mode_a_good_key() {
        let e = Verifier::new(ServiceOptions::default()).unwrap_err();
        assert!(e.message().contains("broker_url"), "{e}");
        let e = Verifier::new(ServiceOptions {
            keys: vec!["not-base64!".into()],
            ..ServiceOptions::default()
        })
        .unwrap_err();
        assert!(e.message().contains("keys"), "{e}");
        assert!(
            Verifier::new(ServiceOptions {
                keys: vec!["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into()],
                ..ServiceOptions::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn a_missing_header_is_a_bare_challenge_with_the_metadata_url() {
        let verifier = Verifier::new(ServiceOptions {
            resource: Some(ResourceOptions {
                resource: "http://127.0.0.1:9/mcp".into(),
                ..ResourceOptions::default()
            }),
            ..ServiceOptions::broker("http://127.0.0.1:9")
        })
        .unwrap();
        let Verdict::Refused(r) = verifier
            .authenticate(None, Some("/mcp".into()))
            .wait()
            .unwrap()
        else {
            panic!("accepted without a token")
        };
        assert_eq!((r.status(), r.code()), (401, "missing_token"));
        let challenge = r
            .headers()
            .into_iter()
            .find(|(n, _)| n == "www-authenticate")
            .unwrap()
            .1;
        assert_eq!(
            challenge,
            r#"Bearer resource_metadata="http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp""#
        );
        let problem: serde_json::Value = serde_json::from_slice(&r.body()).unwrap();
        assert_eq!(problem["instance"], "/mcp");
        let doc = verifier
            .discovery("GET", "/.well-known/oauth-protected-resource/mcp")
            .unwrap();
        assert_eq!(doc.status, 200);
        assert!(verifier.discovery("GET", "/mcp").is_none());
    }

    #[test]
    fn tool_scopes_refuse_with_the_scope_to_step_up_to() {
        let verifier = Verifier::new(ServiceOptions::broker("http://127.0.0.1:9")).unwrap();
        let scopes = McpToolScopes::new(
            vec![(
                "get_customer_profile".into(),
                vec!["read:data:customer-{customer_id}".into()],
            )],
            vec![],
            false,
            None,
        )
        .unwrap();
        let call = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_customer_profile","arguments":{"customer_id":"cust-7291"}}}"#;
        assert_eq!(
            scopes
                .authorize(&verifier, None, call, &["read:data:*".into()])
                .unwrap(),
            ["read:data:customer-cust-7291"]
        );
        let r = scopes
            .authorize(
                &verifier,
                None,
                call,
                &["read:data:customer-cust-9999".into()],
            )
            .unwrap_err();
        assert_eq!((r.status(), r.code()), (403, "insufficient_scope"));
        assert_eq!(r.required_scope(), Some("read:data:customer-cust-7291"));
        let body: serde_json::Value =
            serde_json::from_slice(&r.jsonrpc_body(Some(&serde_json::json!(3)))).unwrap();
        assert_eq!(body["id"], 3);
        assert_eq!(body["error"]["code"], -32003);
    }
}
