//! The MCP dialect as a tower layer: protected-resource discovery, bearer
//! authentication, per-tool scopes from the JSON-RPC body, and rejections
//! an MCP client can read.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{Method, Request, Response, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::body::EitherBody;
use crate::mcp_scopes::too_large;
use crate::{AgentAuth, AuthBody, McpScopes, Rejection, RejectionKind};

/// A tower `Layer` for an MCP server's endpoint (streamable HTTP), made
/// with [`AgentAuth::mcp_layer`]. For every request it:
///
/// 1. answers `GET` on the [`ProtectedResource`](crate::ProtectedResource)'s
///    metadata path itself, without a token (when the authenticator has
///    one);
/// 2. authenticates `Authorization: Bearer` as [`AgentAuthLayer`](crate::AgentAuthLayer)
///    does, and **removes the `Authorization` header** before your service
///    runs: tools get the verified [`AgentClaims`](crate::AgentClaims)
///    from the request's extensions (rmcp hands them over in the
///    request context's `http::request::Parts`), never the token, so none
///    can pass it on;
/// 3. for a `POST`, reads the body (at most [`McpScopes::max_body_bytes`];
///    413 beyond), decides the scopes its JSON-RPC messages need with
///    [`McpScopes::authorize`] and refuses with 403 `insufficient_scope`
///    (naming them in `scope=`) before the MCP server parses it; otherwise
///    hands your service the body it read.
///
/// Every rejection is a JSON-RPC error response (`Content-Type:
/// application/json`, the problem in `error.data`, the request's `id` when
/// known) with the RFC 6750 challenge, which carries `resource_metadata`
/// when a protected resource is configured: readable by MCP clients, and
/// enough for an OAuth client to discover the resource and step up.
///
/// ```
/// use axum::Router;
/// use agentwrit_tower::{AgentAuth, McpScopes, ProtectedResource};
///
/// let scopes = McpScopes::builder()
///     .tool("get_customer_profile", &["read:data:customer-{customer_id}"])
///     .build()?;
/// let resource = ProtectedResource::new("http://127.0.0.1:8000/mcp")?
///     .scopes_supported(scopes.scope_families());
/// let auth = AgentAuth::broker("http://127.0.0.1:8080")
///     .protected_resource(resource)
///     .build()?;
/// let mcp_endpoint = axum::routing::post(|| async { "the MCP service (rmcp's StreamableHttpService)" });
/// let app: Router = Router::new()
///     .route("/mcp", mcp_endpoint)
///     .layer(auth.mcp_layer(scopes));
/// # let _ = app; Ok::<(), agentwrit_tower::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct McpLayer {
    auth: AgentAuth,
    scopes: McpScopes,
}

impl McpLayer {
    /// The layer for `auth` and `scopes` (same as [`AgentAuth::mcp_layer`]).
    ///
    /// ```
    /// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").build()?;
    /// let scopes = agentwrit_tower::McpScopes::builder().build()?;
    /// let layer = agentwrit_tower::McpLayer::new(auth, scopes);
    /// # let _ = layer; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn new(auth: AgentAuth, scopes: McpScopes) -> Self {
        McpLayer { auth, scopes }
    }
}

impl<S> Layer<S> for McpLayer {
    type Service = McpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpService {
            inner,
            auth: self.auth.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

/// The service [`McpLayer`] wraps around yours. Each request runs in a
/// `tracing` span `agentwrit.mcp` with `sub`, `jti`, `task_id`, the
/// required `scope` and the `decision`; never the token.
///
/// ```
/// use tower::Layer as _;
/// let auth = agentwrit_tower::AgentAuth::broker("http://127.0.0.1:8080").build()?;
/// let scopes = agentwrit_tower::McpScopes::builder().build()?;
/// let service = auth.mcp_layer(scopes).layer(tower::service_fn(
///     |_req: http::Request<agentwrit_tower::McpRequestBody<String>>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
///     },
/// ));
/// # let _: agentwrit_tower::McpService<_> = service;
/// # Ok::<(), agentwrit_tower::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct McpService<S> {
    inner: S,
    auth: AgentAuth,
    scopes: McpScopes,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for McpService<S>
where
    S: Service<Request<McpRequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Body<Data = Bytes> + Send + Unpin + 'static,
    ReqBody::Error: std::fmt::Display,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let scopes = self.scopes.clone();
        let span = tracing::info_span!(
            "agentwrit.mcp",
            method = %req.method(),
            path = %req.uri().path(),
            sub = tracing::field::Empty,
            jti = tracing::field::Empty,
            task_id = tracing::field::Empty,
            scope = tracing::field::Empty,
            decision = tracing::field::Empty,
        );
        let fut = async move {
            let span = tracing::Span::current();
            let path = req.uri().path().to_owned();
            if let Some(response) = auth.discovery_response(req.method(), &path) {
                span.record("decision", "discovery");
                return Ok(response.map(AuthBody::problem));
            }
            if auth.is_public(&path) {
                span.record("decision", "public");
                let response = inner.call(req.map(McpRequestBody::inner)).await?;
                return Ok(response.map(AuthBody::inner));
            }
            let refuse = |rejection: Rejection, id: Option<&serde_json::Value>| {
                span.record("decision", rejection.kind().code());
                tracing::debug!(
                    status = rejection.status().as_u16(),
                    detail = rejection.detail(),
                    "MCP request rejected"
                );
                auth.attach_metadata(rejection)
                    .with_instance(path.as_str())
                    .to_jsonrpc_response(id)
            };
            let claims = match auth.authenticate(req.headers()).await {
                Ok(claims) => claims,
                Err(rejection) => return Ok(refuse(rejection, None)),
            };
            span.record("sub", claims.sub());
            span.record("jti", claims.jti());
            if let Some(task) = claims.task_id() {
                span.record("task_id", task);
            }
            let (mut parts, body) = req.into_parts();
            // The token stops here: the MCP service and its tools see the
            // verified claims, never the bearer token.
            parts.headers.remove(header::AUTHORIZATION);
            let body = if parts.method == Method::POST {
                let bytes = match read_bounded(body, scopes.max_body_bytes()).await {
                    Ok(bytes) => bytes,
                    Err(rejection) => return Ok(refuse(rejection, None)),
                };
                let (id, verdict) = scopes.authorize_with_id(&bytes, claims.scope());
                match verdict {
                    Ok(required) => {
                        if !required.is_empty() {
                            span.record("scope", required.join(" "));
                            claims.record_check(&required, true);
                        }
                    }
                    Err(rejection) => {
                        if let Some(scope) = rejection.required_scope() {
                            span.record("scope", scope);
                            if rejection.kind() == crate::RejectionKind::InsufficientScope {
                                let required: Vec<&str> = scope.split(' ').collect();
                                claims.record_check(&required, false);
                            }
                        }
                        return Ok(refuse(rejection, id.as_ref()));
                    }
                }
                McpRequestBody::buffered(bytes)
            } else {
                McpRequestBody::inner(body)
            };
            span.record("decision", "allowed");
            parts.extensions.insert(claims);
            let response = inner.call(Request::from_parts(parts, body)).await?;
            Ok(response.map(AuthBody::inner))
        };
        Box::pin(fut.instrument(span))
    }
}

/// Reads at most `limit` bytes of `body`: the bytes, a 413 past the limit
/// (checked against `Content-Length` first, then while reading), or a 400
/// when the body cannot be read.
async fn read_bounded<B>(mut body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    if body
        .size_hint()
        .lower()
        .try_into()
        .map_or(true, |lower: usize| lower > limit)
    {
        return Err(too_large(limit));
    }
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Rejection::new(
                RejectionKind::BadRequest,
                format!("the request body could not be read: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if buffer.len().saturating_add(data.len()) > limit {
                return Err(too_large(limit));
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

/// The request body [`McpService`] hands to your service: the body it read
/// to decide the scopes (a `POST`), or the original body (anything else).
///
/// The original body must be `Unpin` (axum's and hyper's bodies are).
///
/// ```
/// use http_body::Body as _;
/// let body = agentwrit_tower::McpRequestBody::inner(String::from("hi"));
/// assert_eq!(body.size_hint().exact(), Some(2));
/// ```
#[derive(Debug)]
pub struct McpRequestBody<B> {
    inner: EitherBody<B>,
}

impl<B> McpRequestBody<B> {
    /// Wraps an original body.
    ///
    /// ```
    /// let _ = agentwrit_tower::McpRequestBody::inner(String::new());
    /// ```
    pub fn inner(body: B) -> Self {
        McpRequestBody {
            inner: EitherBody::Inner(body),
        }
    }

    pub(crate) fn buffered(bytes: Bytes) -> Self {
        McpRequestBody {
            inner: EitherBody::Bytes(Some(bytes).filter(|b| !b.is_empty())),
        }
    }
}

impl<B> Body for McpRequestBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
