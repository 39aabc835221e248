//! One error shape for every language: what a shell turns into a Python
//! exception or a JavaScript `Error`.

use std::fmt;
use std::time::Duration;

use agentwrit_blocking::wire::ProblemDetail;
use agentwrit_blocking::{Error, TransportFailure};

/// What kind of failure, one per exception class a shell raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 401 from the broker: wrong, expired, revoked or released credentials.
    Authentication,
    /// 403 from the broker: valid credentials, not allowed.
    Authorization,
    /// 429 from the broker, once the retry policy gave up.
    RateLimited,
    /// Any other broker rejection (a non-2xx status with a problem).
    Problem,
    /// The broker could not be reached, or no answer came within the
    /// call's deadline.
    Transport,
    /// A key, signature or nonce could not be used.
    Crypto,
    /// An argument was refused before anything was sent.
    InvalidInput,
    /// The agent has been released.
    Released,
    /// An answer that breaks the broker's contract.
    Decode,
    /// Anything else (a token failing local verification, a worker that
    /// stopped, a runtime that could not start).
    Other,
}

impl ErrorKind {
    /// A stable machine-readable name: `"authentication"`,
    /// `"authorization"`, `"rate_limited"`, `"problem"`, `"transport"`,
    /// `"crypto"`, `"invalid_input"`, `"released"`, `"decode"`, `"other"`.
    ///
    /// ```
    /// assert_eq!(agentwrit_bindings::ErrorKind::RateLimited.code(), "rate_limited");
    /// ```
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication",
            ErrorKind::Authorization => "authorization",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Problem => "problem",
            ErrorKind::Transport => "transport",
            ErrorKind::Crypto => "crypto",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Released => "released",
            ErrorKind::Decode => "decode",
            ErrorKind::Other => "other",
        }
    }
}

/// An error of any call, classified once for every language.
///
/// `message` is one line that never holds a secret; for a transport
/// failure it names the broker URL. `problem` is the broker's RFC 7807
/// body for broker rejections.
///
/// ```
/// use agentwrit_bindings::{BindingError, ErrorKind};
/// let e = BindingError::invalid_input("scope", "must be a list of scopes, not a string");
/// assert_eq!(e.kind(), ErrorKind::InvalidInput);
/// assert_eq!(e.message(), "invalid input: scope: must be a list of scopes, not a string");
/// assert!(!e.retryable());
/// ```
#[derive(Clone, Debug)]
pub struct BindingError {
    kind: ErrorKind,
    message: String,
    retryable: bool,
    status: Option<u16>,
    problem: Option<Box<ProblemDetail>>,
    retry_after: Option<Duration>,
    timed_out: bool,
}

impl BindingError {
    /// Classifies an SDK error; a transport failure's message gets the
    /// broker URL `broker_url` when it does not name it already.
    #[must_use]
    pub fn from_sdk(error: &Error, broker_url: &str) -> BindingError {
        let kind = match error {
            Error::Authentication { .. } => ErrorKind::Authentication,
            Error::Authorization { .. } => ErrorKind::Authorization,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::Problem { .. } => ErrorKind::Problem,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Crypto { .. } => ErrorKind::Crypto,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::Released => ErrorKind::Released,
            Error::Decode { .. } => ErrorKind::Decode,
            _ => ErrorKind::Other,
        };
        let mut message = error.to_string();
        if kind == ErrorKind::Transport && !broker_url.is_empty() && !message.contains(broker_url) {
            message = format!("{message} (broker {broker_url})");
        }
        BindingError {
            kind,
            message,
            retryable: error.is_retryable(),
            status: error.status(),
            problem: error.problem().map(|p| Box::new(p.clone())),
            retry_after: error.retry_after(),
            timed_out: error.transport_failure() == Some(TransportFailure::Timeout),
        }
    }

    /// An argument refused before anything was sent.
    #[must_use]
    pub fn invalid_input(field: &str, reason: &str) -> BindingError {
        BindingError::plain(
            ErrorKind::InvalidInput,
            format!("invalid input: {field}: {reason}"),
        )
    }

    /// No answer within the call's deadline.
    #[must_use]
    pub fn deadline(step: &str, timeout: Duration, broker_url: &str) -> BindingError {
        BindingError {
            timed_out: true,
            retryable: true,
            ..BindingError::plain(
                ErrorKind::Transport,
                format!(
                    "{step}: no answer within the timeout of {} s (broker {broker_url})",
                    timeout.as_secs_f64()
                ),
            )
        }
    }

    /// An error of `kind` with `message` and nothing else.
    #[must_use]
    pub fn plain(kind: ErrorKind, message: String) -> BindingError {
        BindingError {
            kind,
            message,
            retryable: false,
            status: None,
            problem: None,
            retry_after: None,
            timed_out: false,
        }
    }

    /// The kind (the exception class).
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// One line, no secrets.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the same call might succeed later unchanged (rate limits,
    /// 502/503/504, connection failures, timeouts).
    #[must_use]
    pub fn retryable(&self) -> bool {
        self.retryable
    }

    /// The HTTP status of the broker's answer, if there was one.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The broker's problem, for broker rejections.
    #[must_use]
    pub fn problem(&self) -> Option<&ProblemDetail> {
        self.problem.as_deref()
    }

    /// The broker's request id, for log correlation.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.problem().and_then(|p| p.request_id.as_deref())
    }

    /// The broker's `Retry-After`, for a rate limit.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the call ran out of time (a transport timeout or the
    /// call's deadline).
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        self.timed_out
    }
}

impl fmt::Display for BindingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BindingError {}

/// The result of every binding call.
pub type Result<T, E = BindingError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_failure_names_the_broker() {
        let error = Error::transport(TransportFailure::Connect, "health", None);
        let e = BindingError::from_sdk(&error, "http://127.0.0.1:9");
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.message().contains("http://127.0.0.1:9"), "{e}");
        assert!(e.retryable());
        assert!(!e.is_timeout());
    }

    #[test]
    fn kinds_have_distinct_codes() {
        let kinds = [
            ErrorKind::Authentication,
            ErrorKind::Authorization,
            ErrorKind::RateLimited,
            ErrorKind::Problem,
            ErrorKind::Transport,
            ErrorKind::Crypto,
            ErrorKind::InvalidInput,
            ErrorKind::Released,
            ErrorKind::Decode,
            ErrorKind::Other,
        ];
        let codes: std::collections::HashSet<_> = kinds.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), kinds.len());
    }

    #[test]
    fn the_deadline_error_is_a_retryable_timeout() {
        let e = BindingError::deadline("validate", Duration::from_millis(1500), "http://b");
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.is_timeout() && e.retryable());
        assert_eq!(
            e.message(),
            "validate: no answer within the timeout of 1.5 s (broker http://b)"
        );
    }
}
