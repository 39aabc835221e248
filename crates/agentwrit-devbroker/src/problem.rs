//! An error answer of the broker, before it becomes problem+json.

use agentwrit_wire::ErrorCode;

/// A broker error: status, code and detail; the request path and id are
/// added when it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: ErrorCode,
    pub(crate) detail: String,
    /// `Retry-After` value for 429 answers.
    pub(crate) retry_after: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, ErrorCode::InvalidRequest, detail)
    }

    pub(crate) fn malformed() -> Self {
        Self::bad_request("malformed JSON body")
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, ErrorCode::Unauthorized, detail)
    }

    pub(crate) fn forbidden(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(403, code, detail)
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, ErrorCode::NotFound, detail)
    }

    pub(crate) fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, ErrorCode::InternalError, detail)
    }

    pub(crate) fn rate_limited(retry_after: &'static str) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(
                429,
                ErrorCode::RateLimited,
                "rate limit exceeded, try again later",
            )
        }
    }
}

/// Go's `%v` of a `[]string`: `[a b c]`.
pub(crate) fn go_list(items: &[String]) -> String {
    let mut s = String::from("[");
    s.push_str(&items.join(" "));
    s.push(']');
    s
}
