//! RFC 7807 problem details, as the broker writes them.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The URN prefix of every broker problem `type`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:agentwrit:error:";

/// An RFC 7807 `application/problem+json` body.
///
/// The broker sends `type`, `title`, `status`, `detail`, `instance`,
/// `error_code` and `request_id` on every error and `hint` sometimes.
/// Decoding is tolerant: any field may be missing (it takes its default) and
/// unknown members are kept in [`ProblemDetail::extensions`].
///
/// ```
/// use agentwrit_wire::{ErrorCode, ProblemDetail};
/// let body = r#"{"type":"urn:agentwrit:error:scope_violation","title":"Forbidden","status":403,
///   "detail":"delegated scope exceeds delegator scope","instance":"/v1/delegate",
///   "error_code":"scope_violation","request_id":"d9211e37a4b4da95"}"#;
/// let p: ProblemDetail = serde_json::from_str(body)?;
/// assert_eq!(p.error_code, Some(ErrorCode::ScopeViolation));
/// assert_eq!(p.request_id.as_deref(), Some("d9211e37a4b4da95"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProblemDetail {
    /// A URI naming the problem type: `urn:agentwrit:error:{code}`.
    #[serde(rename = "type", default)]
    pub problem_type: String,
    /// The HTTP status text, e.g. `Forbidden`.
    #[serde(default)]
    pub title: String,
    /// The HTTP status code (0 when the body did not say).
    #[serde(default)]
    pub status: u16,
    /// A human-readable explanation of this occurrence.
    #[serde(default)]
    pub detail: String,
    /// The request path that failed.
    #[serde(default)]
    pub instance: String,
    /// The machine-readable error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<ErrorCode>,
    /// The broker's request id (equal to the `X-Request-ID` header), for log
    /// correlation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// An optional hint on how to fix the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Members this crate does not know, kept as received.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl ProblemDetail {
    /// A problem as the broker writes it: `type` is
    /// `urn:agentwrit:error:{code}`, `title` the status text, and the error
    /// code repeated in `error_code`.
    ///
    /// ```
    /// use agentwrit_wire::{ErrorCode, ProblemDetail};
    /// let p = ProblemDetail::new(404, ErrorCode::NotFound, "app not found", "/v1/admin/apps/x");
    /// assert_eq!(p.problem_type, "urn:agentwrit:error:not_found");
    /// assert_eq!(p.title, "Not Found");
    /// ```
    #[must_use]
    pub fn new(
        status: u16,
        code: ErrorCode,
        detail: impl Into<String>,
        instance: impl Into<String>,
    ) -> Self {
        ProblemDetail {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{}", code.as_str()),
            title: status_text(status).to_owned(),
            status,
            detail: detail.into(),
            instance: instance.into(),
            error_code: Some(code),
            request_id: None,
            hint: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Sets the hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The error code: `error_code` when present, else the suffix of a
    /// `urn:agentwrit:error:` `type`, else `None`.
    #[must_use]
    pub fn code(&self) -> Option<ErrorCode> {
        if let Some(code) = &self.error_code {
            return Some(code.clone());
        }
        self.problem_type
            .strip_prefix(PROBLEM_TYPE_PREFIX)
            .filter(|s| !s.is_empty())
            .map(ErrorCode::from)
    }
}

impl fmt::Display for ProblemDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if !self.title.is_empty() {
            write!(f, " {}", self.title)?;
        }
        if let Some(code) = self.code() {
            write!(f, " [{code}]")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request_id {id})")?;
        }
        Ok(())
    }
}

/// The broker's machine-readable error codes, with a fallback for codes
/// this version does not know.
///
/// ```
/// use agentwrit_wire::ErrorCode;
/// assert_eq!(ErrorCode::from("rate_limited"), ErrorCode::RateLimited);
/// assert_eq!(ErrorCode::from("brand_new").as_str(), "brand_new");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: the body or a parameter is missing or malformed.
    InvalidRequest,
    /// `invalid_ttl`: an app `token_ttl` outside 60..=86400.
    InvalidTtl,
    /// `unauthorized`: missing, wrong or dead credentials.
    Unauthorized,
    /// `forbidden`: e.g. launch-token scopes beyond the app's ceiling.
    Forbidden,
    /// `insufficient_scope`: the token lacks the route's required scope.
    InsufficientScope,
    /// `scope_violation`: requested scope beyond what is held, or
    /// delegation depth exceeded.
    ScopeViolation,
    /// `not_found`: unknown app or delegate.
    NotFound,
    /// `rate_limited`: too many requests; see `Retry-After`.
    RateLimited,
    /// `payload_too_large`: request body over 1 MiB.
    PayloadTooLarge,
    /// `internal_error`: the broker failed.
    InternalError,
    /// A code this version of the SDK does not know, kept verbatim.
    Other(String),
}

impl ErrorCode {
    /// The code as the broker spells it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidTtl => "invalid_ttl",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::ScopeViolation => "scope_violation",
            ErrorCode::NotFound => "not_found",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::Other(s) => s,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(s: &str) -> Self {
        match s {
            "invalid_request" => ErrorCode::InvalidRequest,
            "invalid_ttl" => ErrorCode::InvalidTtl,
            "unauthorized" => ErrorCode::Unauthorized,
            "forbidden" => ErrorCode::Forbidden,
            "insufficient_scope" => ErrorCode::InsufficientScope,
            "scope_violation" => ErrorCode::ScopeViolation,
            "not_found" => ErrorCode::NotFound,
            "rate_limited" => ErrorCode::RateLimited,
            "payload_too_large" => ErrorCode::PayloadTooLarge,
            "internal_error" => ErrorCode::InternalError,
            other => ErrorCode::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(ErrorCode::from(s.as_str()))
    }
}

/// The status text Go's `net/http` gives a status code: the broker uses it
/// as the problem `title`. Unknown codes give the empty string, as in Go.
///
/// ```
/// assert_eq!(agentwrit_wire::status_text(413), "Request Entity Too Large");
/// assert_eq!(agentwrit_wire::status_text(429), "Too Many Requests");
/// ```
#[must_use]
pub fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}
