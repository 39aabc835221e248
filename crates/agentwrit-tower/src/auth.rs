//! The authenticator: how a token is checked, cached and turned into
//! verified claims or a rejection.

use core::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentwrit_core::{ClaimChecks, Clock};
use http::HeaderMap;

use crate::cache::{Cache, Key};
use crate::check::{BrokerCheck, LocalCheck, Verdict};
use crate::{
    AgentAuthLayer, AgentClaims, BrokerKey, McpLayer, McpScopes, ProtectedResource, Rejection,
    RejectionKind,
};

mod builder;

pub use builder::AgentAuthBuilder;
use builder::Target;

/// The default `max_staleness`: how long a broker verdict is reused.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(5);
/// The default cache capacity (entries).
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// The default timeout of one broker call (connect and answer).
pub const DEFAULT_BROKER_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks agent tokens for a service: in *broker* mode at the broker's
/// `/v1/token/validate`, in *local* mode against pinned broker keys (with
/// an optional broker re-check); either way through a bounded cache keyed
/// by a keyed hash of the token (SipHash-1-3-128 under a per-process
/// random key; the token itself is never stored).
///
/// Cheap to clone (one `Arc`). Install it with [`AgentAuth::layer`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// # let agent = app.create_agent("orch-1", "task-1", &["read:data:customer-7291"]).await?;
/// use std::time::Duration;
/// use agentwrit_tower::AgentAuth;
///
/// let auth = AgentAuth::broker(broker.url())
///     .max_staleness(Duration::from_secs(2))
///     .build()?;
/// let claims = auth.verify_token(agent.access_token().expose_secret()).await?;
/// assert_eq!(claims.task_id(), Some("task-1"));
/// assert_eq!(auth.verify_token("not-a-token").await.unwrap_err().status(), 401);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AgentAuth {
    inner: Arc<Inner>,
}

struct Inner {
    mode: Mode,
    cache: Cache,
    clock: Arc<dyn Clock>,
    checks: ClaimChecks,
    audience: Option<String>,
    public_paths: Vec<String>,
    public_prefixes: Vec<String>,
    resource: Option<ProtectedResource>,
    usage: Option<agentwrit_usage::Recorder>,
}

/// What the cache alone can say about a token.
enum Cached {
    Decided(Result<AgentClaims, Rejection>),
    Miss(Key),
}

enum Mode {
    Broker(BrokerCheck),
    Local {
        local: LocalCheck,
        recheck: Option<BrokerCheck>,
    },
}

impl fmt::Debug for AgentAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &self.inner.mode {
            Mode::Broker(_) => "broker",
            Mode::Local { recheck: None, .. } => "local",
            Mode::Local {
                recheck: Some(_), ..
            } => "local+broker-recheck",
        };
        f.debug_struct("AgentAuth")
            .field("mode", &mode)
            .field("checks", &self.inner.checks)
            .field("audience", &self.inner.audience)
            .field(
                "resource",
                &self
                    .inner
                    .resource
                    .as_ref()
                    .map(ProtectedResource::resource),
            )
            .field("cached_entries", &self.cached_entries())
            .field("records_usage", &self.inner.usage.is_some())
            .finish_non_exhaustive()
    }
}

impl AgentAuth {
    /// *Broker* mode (the default choice): every token is checked at the
    /// broker's `/v1/token/validate`, so a released or revoked token is
    /// refused at most `max_staleness` after the broker learns of it.
    ///
    /// ```
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").build()?;
    /// # let _ = auth; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    pub fn broker(broker_url: impl Into<String>) -> AgentAuthBuilder {
        AgentAuthBuilder::new(Target::Broker(broker_url.into()))
    }

    /// *Local* mode: EdDSA verification against pinned broker keys (one
    /// per key in rotation, matched by the token's `kid`). Without
    /// [`AgentAuthBuilder::broker_recheck`] it **cannot see revocation or
    /// release**: a token stays accepted until its `exp`.
    ///
    /// ```
    /// use agentwrit_tower::{AgentAuth, BrokerKey};
    /// let key = BrokerKey::from_base64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")?;
    /// let auth = AgentAuth::local([key]).issuer("https://broker.example").build()?;
    /// # let _ = auth; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    pub fn local(keys: impl IntoIterator<Item = BrokerKey>) -> AgentAuthBuilder {
        AgentAuthBuilder::new(Target::Local(keys.into_iter().collect()))
    }

    /// The tower layer that authenticates every request with this
    /// authenticator.
    ///
    /// ```
    /// let layer = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").build()?.layer();
    /// # let _ = layer; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn layer(&self) -> AgentAuthLayer {
        AgentAuthLayer::new(self.clone())
    }

    /// The layer for an MCP server's endpoint: protected-resource
    /// discovery, this authenticator, and per-tool scopes decided from the
    /// JSON-RPC body by `scopes`. See [`McpLayer`] and
    /// [docs/mcp.md](https://github.com/agentwrit/agentwrit-rs/blob/main/docs/mcp.md).
    ///
    /// ```
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").build()?;
    /// let scopes = agentwrit_tower::McpScopes::builder()
    ///     .tool("get_customer_profile", &["read:data:customer-{customer_id}"])
    ///     .build()?;
    /// let layer = auth.mcp_layer(scopes);
    /// # let _ = layer; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn mcp_layer(&self, scopes: McpScopes) -> McpLayer {
        McpLayer::new(self.clone(), scopes)
    }

    /// The protected resource this service publishes, if configured with
    /// [`AgentAuthBuilder::protected_resource`].
    ///
    /// ```
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").build()?;
    /// assert!(auth.protected_resource().is_none());
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn protected_resource(&self) -> Option<&ProtectedResource> {
        self.inner.resource.as_ref()
    }

    /// The answer to a discovery request (`GET` of the protected
    /// resource's metadata path), or `None` when `path` is not that path
    /// or no protected resource is configured. The layers call it first;
    /// a service without them (a binding, another framework) can too.
    ///
    /// ```
    /// let resource = agentwrit_tower::ProtectedResource::new("http://127.0.0.1:8000/mcp")?;
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080")
    ///     .protected_resource(resource)
    ///     .build()?;
    /// let found = auth.discovery_response(&http::Method::GET, "/.well-known/oauth-protected-resource/mcp");
    /// assert_eq!(found.unwrap().status(), 200);
    /// assert!(auth.discovery_response(&http::Method::GET, "/mcp").is_none());
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn discovery_response(
        &self,
        method: &http::Method,
        path: &str,
    ) -> Option<http::Response<bytes::Bytes>> {
        self.inner
            .resource
            .as_ref()
            .and_then(|r| r.discovery_response(method, path))
    }

    /// `rejection` with this service's `resource_metadata` URL, when a
    /// protected resource is configured (for rejections made elsewhere,
    /// such as [`McpScopes::authorize`]'s).
    ///
    /// ```
    /// let resource = agentwrit_tower::ProtectedResource::new("http://127.0.0.1:8000/mcp")?;
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080")
    ///     .protected_resource(resource)
    ///     .build()?;
    /// let r = auth.attach_metadata(agentwrit_tower::Rejection::insufficient_scope(&["a:b:c"]));
    /// assert_eq!(r.resource_metadata(), Some("http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp"));
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn attach_metadata(&self, rejection: Rejection) -> Rejection {
        match &self.inner.resource {
            Some(resource) => rejection.with_resource_metadata(resource.metadata_url_arc()),
            None => rejection,
        }
    }

    /// How many verdicts the cache holds now (never more than its
    /// capacity).
    ///
    /// ```
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").build()?;
    /// assert_eq!(auth.cached_entries(), 0);
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn cached_entries(&self) -> usize {
        self.inner.cache.len()
    }

    /// Whether `path` is public (configured with
    /// [`AgentAuthBuilder::public_path`] or
    /// [`AgentAuthBuilder::public_prefix`]): the layer lets it through
    /// without a token.
    ///
    /// ```
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080")
    ///     .public_path("/healthz")
    ///     .public_prefix("/docs/")
    ///     .build()?;
    /// assert!(auth.is_public("/healthz") && auth.is_public("/docs/a"));
    /// assert!(!auth.is_public("/healthz/x") && !auth.is_public("/customers/1"));
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn is_public(&self, path: &str) -> bool {
        self.inner.public_paths.iter().any(|p| p == path)
            || self
                .inner
                .public_prefixes
                .iter()
                .any(|p| path.starts_with(p.as_str()))
    }

    /// Authenticates a request from its headers: exactly one
    /// `Authorization: Bearer <token>` header, then [`AgentAuth::verify_token`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agentwrit_tower::ConfigError> {
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:9").build()?;
    /// let mut headers = http::HeaderMap::new();
    /// assert_eq!(auth.authenticate(&headers).await.unwrap_err().status(), 401);
    /// headers.insert("authorization", "Basic dTpw".parse().unwrap());
    /// assert_eq!(auth.authenticate(&headers).await.unwrap_err().status(), 401);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The [`Rejection`] to send back.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<AgentClaims, Rejection> {
        let token = crate::bearer::bearer_token(headers).map_err(|r| {
            if let Some(usage) = &self.inner.usage {
                usage.missing_token();
            }
            self.attach_metadata(r)
        })?;
        self.verify_token(token).await
    }

    /// Authenticates from the value of the `Authorization` header alone
    /// (`None` when the request has none): the same rules as
    /// [`AgentAuth::authenticate`], for a caller that holds the header as
    /// text (a Python or Node binding, another framework).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agentwrit_tower::ConfigError> {
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:9").build()?;
    /// assert_eq!(auth.authenticate_header(None).await.unwrap_err().status(), 401);
    /// let bad = auth.authenticate_header(Some("Bearer not-a-jws")).await.unwrap_err();
    /// assert_eq!(bad.detail(), "the bearer token is not a compact JWS");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The [`Rejection`] to send back.
    pub async fn authenticate_header(
        &self,
        authorization: Option<&str>,
    ) -> Result<AgentClaims, Rejection> {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            let value = http::HeaderValue::from_str(value).map_err(|_| {
                self.attach_metadata(Rejection::new(
                    RejectionKind::InvalidToken,
                    "the authorization header is not a valid header value",
                ))
            })?;
            headers.insert(http::header::AUTHORIZATION, value);
        }
        self.authenticate(&headers).await
    }

    /// Verifies one bearer token: shape check, then the cache or the
    /// configured check, then issuer and audience.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), agentwrit_tower::ConfigError> {
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:9").build()?;
    /// // Refused before any broker call: not a compact JWS.
    /// assert_eq!(auth.verify_token("garbage").await.unwrap_err().status(), 401);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// 401 for a bad token, 503 when the broker cannot be asked (with the
    /// `resource_metadata` URL when a protected resource is configured).
    pub async fn verify_token(&self, token: &str) -> Result<AgentClaims, Rejection> {
        self.verify_token_inner(token)
            .await
            .map_err(|r| self.attach_metadata(r))
    }

    async fn verify_token_inner(&self, token: &str) -> Result<AgentClaims, Rejection> {
        match self.verify_cached(token.as_bytes()) {
            Cached::Decided(result) => result,
            Cached::Miss(key) => {
                crate::bearer::check_shape(token).inspect_err(|_| {
                    self.inner.usage.as_ref().inspect(|u| u.refused(token));
                })?;
                let now = || self.inner.clock.now();
                // Boxed: the check's future (an HTTP call, in broker mode)
                // is large, and only a miss needs it; unboxed, every
                // request's future would carry (and move) its space.
                let verdict = self
                    .inner
                    .cache
                    .get_or_check(key, now, || Box::pin(self.check(token)))
                    .await;
                self.conclude(verdict, now(), token.as_bytes())
            }
        }
    }

    /// [`AgentAuth::authenticate`] when it needs no wait: no token, a
    /// malformed header, or a fresh cached verdict; `None` on a cache miss
    /// (a check to run, or another request's to join).
    pub(crate) fn authenticate_now(
        &self,
        headers: &HeaderMap,
    ) -> Option<Result<AgentClaims, Rejection>> {
        let token = match crate::bearer::bearer_bytes(headers) {
            Ok(token) => token,
            Err(rejection) => {
                self.inner.usage.as_ref().inspect(|u| u.missing_token());
                return Some(Err(self.attach_metadata(rejection)));
            }
        };
        match self.verify_cached(token) {
            Cached::Decided(result) => Some(result.map_err(|r| self.attach_metadata(r))),
            Cached::Miss(_) => None,
        }
    }

    /// The verdict of `token` if the cache holds a fresh one (or the token
    /// is too long to look up), else the key to check it under.
    fn verify_cached(&self, token: &[u8]) -> Cached {
        // The length bound first, so an oversized token is never hashed.
        if let Err(rejection) = crate::bearer::check_len(token) {
            self.record_refused(token);
            return Cached::Decided(Err(rejection));
        }
        let key = self.inner.cache.key(token);
        let now = self.inner.clock.now();
        match self.inner.cache.fresh(key, now) {
            // Only a token that passed the shape check can have a verdict
            // cached, and a hit is that same token (see the cache's
            // security argument): no need to check its shape again.
            Some(verdict) => Cached::Decided(self.conclude(verdict, now, token)),
            None => Cached::Miss(key),
        }
    }

    /// Counts a refused token, when usage is recorded. The recorder reads
    /// the token as text; one that is not UTF-8 is not a compact JWS and
    /// is counted when `authenticate` refuses it.
    fn record_refused(&self, token: &[u8]) {
        if let (Some(usage), Ok(text)) = (&self.inner.usage, std::str::from_utf8(token)) {
            usage.refused(text);
        }
    }

    /// A verdict made an answer: the claims, once the service's own rules
    /// accept them, or the rejection (counted by the usage recorder, when
    /// there is one).
    fn conclude(
        &self,
        verdict: Verdict,
        now: SystemTime,
        token: &[u8],
    ) -> Result<AgentClaims, Rejection> {
        match verdict {
            Verdict::Valid(claims) => {
                self.accept(&claims, now)
                    .inspect_err(|_| self.record_refused(token))?;
                // A token with a verdict passed the shape check: UTF-8
                // (read as text only when usage is recorded).
                let recorder =
                    self.inner.usage.as_ref().and_then(|usage| {
                        std::str::from_utf8(token).ok().map(|text| (usage, text))
                    });
                Ok(match recorder {
                    Some((usage, text)) => crate::record::accepted(usage, text, claims),
                    None => AgentClaims::new(claims),
                })
            }
            Verdict::Invalid(reason) => {
                self.record_refused(token);
                Err(Rejection::new(RejectionKind::InvalidToken, reason))
            }
            Verdict::Unavailable(error) => {
                self.inner
                    .usage
                    .as_ref()
                    .inspect(|u| u.verifier_unavailable());
                tracing::warn!(%error, "the token broker cannot be reached; failing closed");
                Err(Rejection::new(
                    RejectionKind::BrokerUnavailable,
                    "the token broker cannot be reached",
                ))
            }
        }
    }

    async fn check(&self, token: &str) -> Verdict {
        match &self.inner.mode {
            Mode::Broker(broker) => broker.check(token).await,
            Mode::Local { local, recheck } => {
                let verdict = local.check(token, self.inner.clock.now());
                match (verdict, recheck) {
                    (Verdict::Valid(claims), Some(broker)) => match broker.check(token).await {
                        Verdict::Valid(_) => Verdict::Valid(claims),
                        other => other,
                    },
                    (verdict, _) => verdict,
                }
            }
        }
    }

    /// The service's claim rules, the same for every verdict (the broker's
    /// answer, a local verification, a cached one): core's
    /// [`ClaimChecks`] (subject, jti, `exp`, `nbf`, issuer, with the
    /// leeway), then the audience when one is configured.
    fn accept(&self, claims: &agentwrit_wire::Claims, now: SystemTime) -> Result<(), Rejection> {
        let inner = &self.inner;
        inner.checks.check(claims, now).map_err(|e| match e {
            agentwrit_core::Error::InvalidToken { reason, .. } => {
                Rejection::new(RejectionKind::InvalidToken, reason)
            }
            other => Rejection::new(RejectionKind::InvalidToken, other.to_string()),
        })?;
        if let Some(audience) = &inner.audience
            && !claims
                .aud
                .as_ref()
                .is_some_and(|aud| aud.contains(audience))
        {
            return Err(Rejection::new(
                RejectionKind::InvalidToken,
                "the audience does not match",
            ));
        }
        Ok(())
    }
}
