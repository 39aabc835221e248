//! The rejections: RFC 7807 problem bodies in the broker's own shape, with
//! RFC 6750 `WWW-Authenticate` challenges.

use core::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use agentwrit_wire::{ErrorCode, ProblemDetail};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body::{Body, Frame, SizeHint};

use crate::body::EitherBody;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// No `Authorization: Bearer` credentials: 401, `WWW-Authenticate:
    /// Bearer` with no error code (RFC 6750 §3.1).
    MissingToken,
    /// Malformed, forged, expired, released or revoked: 401,
    /// `error="invalid_token"`.
    InvalidToken,
    /// A valid token without the scope the route needs: 403,
    /// `error="insufficient_scope"`.
    InsufficientScope,
    /// The broker could not be asked: 503 (fail closed), `Retry-After: 1`.
    BrokerUnavailable,
    /// The service is wired wrongly (an extractor or scope layer without
    /// the authentication layer in front, or a scope template naming a
    /// path parameter the route lacks): 500.
    Misconfigured,
    /// A valid token, but the request asks for something no scope grants
    /// (an MCP tool with no scope requirement configured): 403,
    /// `error_code` `forbidden`, no challenge (no other token would help).
    Forbidden,
    /// The request body cannot be authorized: not JSON-RPC, or a scope
    /// placeholder's argument missing or unusable (a value holding `:`,
    /// `*` or a space would change the scope it fills): 400,
    /// `error_code` `invalid_request`.
    BadRequest,
    /// The request body is over the configured limit: 413, `error_code`
    /// `payload_too_large`.
    PayloadTooLarge,
}

impl RejectionKind {
    /// A stable name for the kind, in `snake_case`: the `decision` of the
    /// request span, and what a language binding reports as a refusal's
    /// code.
    ///
    /// ```
    /// use agentwrit_tower::RejectionKind;
    /// assert_eq!(RejectionKind::InsufficientScope.code(), "insufficient_scope");
    /// assert_eq!(RejectionKind::MissingToken.code(), "missing_token");
    /// ```
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            RejectionKind::MissingToken => "missing_token",
            RejectionKind::InvalidToken => "invalid_token",
            RejectionKind::InsufficientScope => "insufficient_scope",
            RejectionKind::BrokerUnavailable => "broker_unavailable",
            RejectionKind::Misconfigured => "misconfigured",
            RejectionKind::Forbidden => "forbidden",
            RejectionKind::BadRequest => "bad_request",
            RejectionKind::PayloadTooLarge => "payload_too_large",
        }
    }
}

/// The JSON-RPC error code an MCP rejection carries
/// ([`Rejection::jsonrpc_body`]; the table is in the crate documentation):
/// codes of the implementation-defined server-error range, except for
/// bodies that are not JSON-RPC.
fn jsonrpc_code(kind: RejectionKind, parse_error: bool) -> i64 {
    match kind {
        RejectionKind::MissingToken | RejectionKind::InvalidToken => -32001,
        RejectionKind::InsufficientScope | RejectionKind::Forbidden => -32003,
        RejectionKind::BadRequest if parse_error => -32700,
        RejectionKind::BadRequest | RejectionKind::PayloadTooLarge => -32600,
        RejectionKind::BrokerUnavailable => -32004,
        RejectionKind::Misconfigured => -32603,
    }
}

/// A refused request, rendered as `application/problem+json` in the
/// broker's problem shape.
///
/// The detail never contains the token.
///
/// ```
/// use agentwrit_tower::{Rejection, RejectionKind};
///
/// let r = Rejection::insufficient_scope(&["read:data:customer-7291"]).with_instance("/customers/7291");
/// assert_eq!(r.kind(), RejectionKind::InsufficientScope);
/// assert_eq!(r.status(), 403);
/// assert_eq!(
///     r.www_authenticate().unwrap(),
///     r#"Bearer error="insufficient_scope", error_description="token lacks required scope: read:data:customer-7291", scope="read:data:customer-7291""#,
/// );
/// assert_eq!(
///     String::from_utf8(r.body().to_vec()).unwrap(),
///     r#"{"type":"urn:agentwrit:error:insufficient_scope","title":"Forbidden","status":403,"detail":"token lacks required scope: read:data:customer-7291","instance":"/customers/7291","error_code":"insufficient_scope"}"#,
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    detail: String,
    instance: String,
    scope: Option<String>,
    resource_metadata: Option<Arc<str>>,
    parse_error: bool,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status().as_u16(), self.detail)
    }
}

impl std::error::Error for Rejection {}

impl Rejection {
    /// The detail is the one text of the rejection: the problem body's
    /// `detail` and the challenge's `error_description` both carry it, so
    /// it is kept to the characters RFC 6750 allows there (printable
    /// ASCII without `"` and `\`; anything else becomes `?`).
    pub(crate) fn new(kind: RejectionKind, detail: impl Into<String>) -> Self {
        let mut detail = detail.into();
        if !detail.bytes().all(description_byte) {
            detail = detail
                .chars()
                .map(|c| match c {
                    '"' => '\'',
                    c if c.is_ascii() && description_byte(c as u8) => c,
                    _ => '?',
                })
                .collect();
        }
        Rejection {
            kind,
            detail,
            instance: String::new(),
            scope: None,
            resource_metadata: None,
            parse_error: false,
        }
    }

    /// A 400 for a body that is not JSON at all (its JSON-RPC code is
    /// -32700, parse error).
    pub(crate) fn parse_error(detail: impl Into<String>) -> Self {
        Rejection {
            parse_error: true,
            ..Rejection::new(RejectionKind::BadRequest, detail)
        }
    }

    /// The 403 for a token that lacks `required` (detail `token lacks
    /// required scope: ...`, as the broker words it).
    ///
    /// ```
    /// let r = agentwrit_tower::Rejection::insufficient_scope(&["read:data:a", "write:data:b"]);
    /// assert_eq!(r.detail(), "token lacks required scope: read:data:a write:data:b");
    /// ```
    #[must_use]
    pub fn insufficient_scope<S: AsRef<str>>(required: &[S]) -> Self {
        let scope = required
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(" ");
        Rejection {
            scope: Some(scope.clone()),
            ..Rejection::new(
                RejectionKind::InsufficientScope,
                format!("token lacks required scope: {scope}"),
            )
        }
    }

    /// Sets the problem's `instance` (the request path; the layer sets it).
    ///
    /// ```
    /// let r = agentwrit_tower::Rejection::insufficient_scope(&["read:data:a"]).with_instance("/a");
    /// assert_eq!(r.problem().instance, "/a");
    /// ```
    #[must_use]
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = instance.into();
        self
    }

    /// Adds `resource_metadata="<url>"` (RFC 9728 §5.1) to the
    /// challenge, so an OAuth client can discover this protected resource's
    /// metadata. An authenticator with a
    /// [`ProtectedResource`](crate::ProtectedResource) sets it on every
    /// rejection it makes.
    ///
    /// ```
    /// let r = agentwrit_tower::Rejection::insufficient_scope(&["read:data:a"])
    ///     .with_resource_metadata("https://tools.example/.well-known/oauth-protected-resource/mcp");
    /// assert!(r.www_authenticate().unwrap().to_str()?.ends_with(
    ///     r#"resource_metadata="https://tools.example/.well-known/oauth-protected-resource/mcp""#,
    /// ));
    /// # Ok::<(), http::header::ToStrError>(())
    /// ```
    #[must_use]
    pub fn with_resource_metadata(mut self, url: impl Into<Arc<str>>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// The `resource_metadata` URL the challenge carries, if any.
    ///
    /// ```
    /// assert_eq!(agentwrit_tower::Rejection::insufficient_scope(&["a:b:c"]).resource_metadata(), None);
    /// ```
    #[must_use]
    pub fn resource_metadata(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }

    /// For an `insufficient_scope` rejection, the scopes the request needs,
    /// space-separated, as the challenge's `scope` says them: what an agent
    /// asks the broker for in a new token (step-up).
    ///
    /// ```
    /// let r = agentwrit_tower::Rejection::insufficient_scope(&["read:data:a", "write:data:b"]);
    /// assert_eq!(r.required_scope(), Some("read:data:a write:data:b"));
    /// ```
    #[must_use]
    pub fn required_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// Why the request was refused.
    ///
    /// ```
    /// # use agentwrit_tower::{Rejection, RejectionKind};
    /// assert_eq!(Rejection::insufficient_scope(&["a:b:c"]).kind(), RejectionKind::InsufficientScope);
    /// ```
    #[must_use]
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The human-readable detail (never the token).
    ///
    /// ```
    /// assert!(agentwrit_tower::Rejection::insufficient_scope(&["a:b:c"]).detail().ends_with("a:b:c"));
    /// ```
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// 401, 403, 400, 413, 503 or 500.
    ///
    /// ```
    /// assert_eq!(agentwrit_tower::Rejection::insufficient_scope(&["a:b:c"]).status(), 403);
    /// ```
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self.kind {
            RejectionKind::MissingToken | RejectionKind::InvalidToken => StatusCode::UNAUTHORIZED,
            RejectionKind::InsufficientScope | RejectionKind::Forbidden => StatusCode::FORBIDDEN,
            RejectionKind::BrokerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            RejectionKind::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
            RejectionKind::BadRequest => StatusCode::BAD_REQUEST,
            RejectionKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The problem body, in the broker's shape (`type`
    /// `urn:agentwrit:error:{code}`, `title`, `status`, `detail`,
    /// `instance`, `error_code`).
    ///
    /// ```
    /// let p = agentwrit_tower::Rejection::insufficient_scope(&["a:b:c"]).problem();
    /// assert_eq!(p.problem_type, "urn:agentwrit:error:insufficient_scope");
    /// assert_eq!(p.title, "Forbidden");
    /// ```
    #[must_use]
    pub fn problem(&self) -> ProblemDetail {
        let code = match self.kind {
            RejectionKind::MissingToken | RejectionKind::InvalidToken => ErrorCode::Unauthorized,
            RejectionKind::InsufficientScope => ErrorCode::InsufficientScope,
            RejectionKind::BrokerUnavailable => ErrorCode::Other("service_unavailable".to_owned()),
            RejectionKind::Misconfigured => ErrorCode::InternalError,
            RejectionKind::Forbidden => ErrorCode::Forbidden,
            RejectionKind::BadRequest => ErrorCode::InvalidRequest,
            RejectionKind::PayloadTooLarge => ErrorCode::PayloadTooLarge,
        };
        ProblemDetail::new(
            self.status().as_u16(),
            code,
            self.detail.clone(),
            self.instance.clone(),
        )
    }

    /// The serialized problem body.
    ///
    /// ```
    /// let body = agentwrit_tower::Rejection::insufficient_scope(&["a:b:c"]).body();
    /// assert!(body.starts_with(br#"{"type":"urn:agentwrit:error:insufficient_scope""#));
    /// ```
    #[must_use]
    pub fn body(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(&self.problem()).unwrap_or_default())
    }

    /// The RFC 6750 challenge: `Bearer` for a missing token (no error
    /// information, as §3.1 asks), `Bearer error="invalid_token",
    /// error_description="..."` for a bad one, `Bearer
    /// error="insufficient_scope", error_description="...", scope="..."`
    /// for a 403, and none for the other statuses. The
    /// `error_description` is always the body's [`detail`](Rejection::detail).
    /// With [`with_resource_metadata`](Rejection::with_resource_metadata),
    /// each challenge ends with `resource_metadata="<url>"` (RFC 9728), the
    /// bare one too (`Bearer resource_metadata="<url>"`).
    ///
    /// ```
    /// # use agentwrit_tower::Rejection;
    /// let r = Rejection::insufficient_scope(&["a:b:c"]);
    /// let challenge = r.www_authenticate().unwrap();
    /// assert!(challenge.to_str()?.contains(&format!(r#"error_description="{}""#, r.detail())));
    /// # Ok::<(), http::header::ToStrError>(())
    /// ```
    #[must_use]
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        let mut value = match self.kind {
            RejectionKind::MissingToken => "Bearer".to_owned(),
            RejectionKind::InvalidToken => format!(
                r#"Bearer error="invalid_token", error_description="{}""#,
                self.detail
            ),
            RejectionKind::InsufficientScope => format!(
                r#"Bearer error="insufficient_scope", error_description="{}", scope="{}""#,
                self.detail,
                self.scope
                    .as_deref()
                    .unwrap_or_default()
                    .replace(['"', '\\'], "")
            ),
            RejectionKind::BrokerUnavailable
            | RejectionKind::Misconfigured
            | RejectionKind::Forbidden
            | RejectionKind::BadRequest
            | RejectionKind::PayloadTooLarge => return None,
        };
        if let Some(url) = &self.resource_metadata {
            value.push_str(if self.kind == RejectionKind::MissingToken {
                " "
            } else {
                ", "
            });
            value.push_str(&format!(
                r#"resource_metadata="{}""#,
                url.replace(['"', '\\'], "")
            ));
        }
        HeaderValue::from_str(&value).ok()
    }

    /// The rejection as a JSON-RPC 2.0 error response, for MCP clients:
    /// `{"jsonrpc":"2.0","id":..,"error":{"code":..,"message":<detail>,
    /// "data":<the problem body>}}`. `id` is the request's id when it is
    /// known (one request), `null` otherwise; the code is in the crate
    /// documentation's table (-32001 unauthorized, -32003 insufficient scope
    /// or forbidden, -32600 or -32700 for a body that is not a usable
    /// request).
    ///
    /// ```
    /// let r = agentwrit_tower::Rejection::insufficient_scope(&["read:data:customer-9"]);
    /// let body: serde_json::Value = serde_json::from_slice(&r.jsonrpc_body(Some(&serde_json::json!(7)))).unwrap();
    /// assert_eq!(body["id"], 7);
    /// assert_eq!(body["error"]["code"], -32003);
    /// assert_eq!(body["error"]["message"], "token lacks required scope: read:data:customer-9");
    /// assert_eq!(body["error"]["data"]["error_code"], "insufficient_scope");
    /// ```
    #[must_use]
    pub fn jsonrpc_body(&self, id: Option<&serde_json::Value>) -> Bytes {
        let problem = serde_json::to_value(self.problem()).unwrap_or(serde_json::Value::Null);
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id.cloned().unwrap_or(serde_json::Value::Null),
            "error": {
                "code": jsonrpc_code(self.kind, self.parse_error),
                "message": self.detail,
                "data": problem,
            },
        });
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// The whole HTTP response with the [`jsonrpc_body`](Rejection::jsonrpc_body)
    /// (`Content-Type: application/json`), the status and the challenge:
    /// what an MCP endpoint answers.
    ///
    /// ```
    /// let response = agentwrit_tower::Rejection::insufficient_scope(&["a:b:c"])
    ///     .to_jsonrpc_response::<String>(None);
    /// assert_eq!(response.status(), 403);
    /// assert_eq!(response.headers()["content-type"], "application/json");
    /// ```
    #[must_use]
    pub fn to_jsonrpc_response<B>(
        &self,
        id: Option<&serde_json::Value>,
    ) -> http::Response<AuthBody<B>> {
        let mut response = http::Response::new(AuthBody::problem(self.jsonrpc_body(id)));
        self.set_head(&mut response);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }

    /// The whole HTTP response, with any body type the service uses.
    ///
    /// ```
    /// let response = agentwrit_tower::Rejection::insufficient_scope(&["a:b:c"])
    ///     .to_response::<String>();
    /// assert_eq!(response.status(), 403);
    /// assert_eq!(response.headers()["content-type"], "application/problem+json");
    /// ```
    #[must_use]
    pub fn to_response<B>(&self) -> http::Response<AuthBody<B>> {
        let mut response = http::Response::new(AuthBody::problem(self.body()));
        self.set_head(&mut response);
        response
    }

    pub(crate) fn set_head<B>(&self, response: &mut http::Response<B>) {
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.www_authenticate() {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if self.kind == RejectionKind::BrokerUnavailable {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
    }
}

/// Whether `b` may appear in an RFC 6750 `error_description`
/// (`%x20-21 / %x23-5B / %x5D-7E`).
fn description_byte(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// The response body of [`AgentAuthService`](crate::AgentAuthService):
/// the inner service's body, or a rejection's problem JSON.
///
/// The inner body must be `Unpin` (axum's and hyper's bodies are; box
/// yours otherwise).
///
/// ```
/// use http_body::Body as _;
/// let body: agentwrit_tower::AuthBody<String> = agentwrit_tower::AuthBody::inner(String::from("hi"));
/// assert_eq!(body.size_hint().exact(), Some(2));
/// ```
#[derive(Debug)]
pub struct AuthBody<B> {
    inner: EitherBody<B>,
}

impl<B> AuthBody<B> {
    /// Wraps the inner service's body.
    ///
    /// ```
    /// let _ = agentwrit_tower::AuthBody::inner(String::new());
    /// ```
    pub fn inner(body: B) -> Self {
        AuthBody {
            inner: EitherBody::Inner(body),
        }
    }

    pub(crate) fn problem(bytes: Bytes) -> Self {
        AuthBody {
            inner: EitherBody::Bytes(Some(bytes)),
        }
    }
}

impl<B> Body for AuthBody<B>
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

#[cfg(test)]
mod tests {
    use super::*;

    fn description(r: &Rejection) -> Option<String> {
        let challenge = r.www_authenticate()?.to_str().ok()?.to_owned();
        let start = challenge.find("error_description=\"")? + "error_description=\"".len();
        let len = challenge[start..].find('"')?;
        Some(challenge[start..start + len].to_owned())
    }

    #[test]
    fn the_challenge_and_the_body_say_the_same() {
        let kinds = [
            RejectionKind::MissingToken,
            RejectionKind::InvalidToken,
            RejectionKind::InsufficientScope,
            RejectionKind::BrokerUnavailable,
            RejectionKind::Misconfigured,
        ];
        for kind in kinds {
            let r = Rejection::new(kind, "the token has expired");
            let problem = r.problem();
            assert_eq!(problem.detail, r.detail());
            match kind {
                RejectionKind::InvalidToken | RejectionKind::InsufficientScope => {
                    assert_eq!(description(&r).as_deref(), Some(r.detail()), "{kind:?}");
                }
                RejectionKind::MissingToken => {
                    assert_eq!(r.www_authenticate().unwrap(), "Bearer");
                }
                _ => assert!(r.www_authenticate().is_none(), "{kind:?}"),
            }
        }
        let r = Rejection::insufficient_scope(&["read:data:a", "write:data:b"]);
        assert_eq!(description(&r).as_deref(), Some(r.detail()));
    }

    #[test]
    fn a_detail_outside_the_header_alphabet_is_made_to_fit_once() {
        // A broker's reason could hold anything: quotes, backslashes,
        // control characters, non-ASCII.
        let r = Rejection::new(RejectionKind::InvalidToken, "bad \"kid\" \\ caf\u{e9}\r\n!");
        assert_eq!(r.detail(), "bad 'kid' ? caf???!");
        assert_eq!(description(&r).as_deref(), Some(r.detail()));
        let body: serde_json::Value = serde_json::from_slice(&r.body()).unwrap();
        assert_eq!(body["detail"], r.detail());
    }
}
