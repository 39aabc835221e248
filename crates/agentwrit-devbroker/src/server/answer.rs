//! Building answers: status, content type and body, as the real broker's
//! handlers and Go's `http.Error` write them.

use agentwrit_wire::ProblemDetail;
use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use crate::broker::encode;
use crate::problem::ApiError;

const JSON: &str = "application/json";
const PROBLEM_JSON: &str = "application/problem+json";
/// Go's plain-text content type.
pub(super) const TEXT: &str = "text/plain; charset=utf-8";

/// An answer with `status`, an optional content type and `body`.
pub(super) fn response(status: u16, content_type: Option<&str>, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type
        && let Ok(v) = HeaderValue::from_str(ct)
    {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

/// A JSON answer.
pub(super) fn json(status: u16, body: Vec<u8>) -> Response {
    response(status, Some(JSON), body)
}

/// An RFC 7807 problem answer for `err` at `instance`, with the request
/// id (and `Retry-After` when rate-limited).
pub(super) fn problem(err: &ApiError, instance: &str, request_id: &str) -> Response {
    let p = ProblemDetail::new(err.status, err.code.clone(), err.detail.clone(), instance)
        .with_request_id(request_id);
    let mut r = response(err.status, Some(PROBLEM_JSON), encode(&p));
    if let Some(ra) = err.retry_after {
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(ra));
    }
    r
}

/// Go's `http.Error`: plain text, message and newline.
pub(super) fn plain_error(status: u16, message: &str) -> Response {
    let mut body = message.as_bytes().to_vec();
    body.push(b'\n');
    response(status, Some(TEXT), body)
}
