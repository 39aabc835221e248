//! The one error shape of the demos' HTTP endpoints.

use agentwrit_async::wire::{ErrorCode, ProblemDetail};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An endpoint's refusal, sent as RFC 7807 `application/problem+json` in
/// the broker's own problem shape (`type`, `title`, `status`, `detail`,
/// `instance`, `error_code`), so a demo's page script and tests read one
/// shape for every error, the broker's and the demo's alike.
///
/// ```
/// use agentwrit_demo_kit::Problem;
/// use axum::response::IntoResponse as _;
///
/// let problem = Problem::invalid_request("the ticket is empty").at("/api/tickets");
/// assert_eq!(problem.detail(), "the ticket is empty");
/// let response = problem.into_response();
/// assert_eq!(response.status(), 400);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    // Boxed: a `Result<_, Problem>` stays small.
    problem: Box<ProblemDetail>,
}

impl Problem {
    /// A problem with this status, code and detail.
    #[must_use]
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> Problem {
        Problem {
            problem: Box::new(ProblemDetail::new(
                status.as_u16(),
                code,
                detail,
                String::new(),
            )),
        }
    }

    /// 400 `invalid_request`: the request cannot be run as sent.
    #[must_use]
    pub fn invalid_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, detail)
    }

    /// 404 `not_found`.
    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, detail)
    }

    /// Sets `instance`, the path the problem is about.
    #[must_use]
    pub fn at(mut self, instance: impl Into<String>) -> Problem {
        self.problem.instance = instance.into();
        self
    }

    /// The human-readable detail.
    #[must_use]
    pub fn detail(&self) -> &str {
        &self.problem.detail
    }

    /// The problem body as the broker would send it.
    #[must_use]
    pub fn problem(&self) -> &ProblemDetail {
        &self.problem
    }
}

impl core::fmt::Display for Problem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} {}", self.problem.status, self.problem.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
