//! Every error type of the SDK: [`Error`], the one error core and both
//! transports return, and [`TransportSource`], the transport's own error
//! that an [`Error::Transport`] keeps as its `source()`.
//!
//! ([`TransportFailure`](crate::TransportFailure), in `flow.rs`, is not an
//! error type: it is what a transport tells a flow about a failed send.)

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use agentwrit_wire::{ErrorCode, ProblemDetail};

use crate::flow::TransportFailure;

/// The underlying error of a transport failure (an `std::io::Error`, a
/// rustls or HTTP library error), shared so that [`Error`] stays `Clone`.
#[derive(Clone)]
pub struct TransportSource(Arc<dyn StdError + Send + Sync + 'static>);

impl TransportSource {
    /// Wraps the underlying error.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        TransportSource(Arc::from(error.into()))
    }

    /// The underlying error itself.
    #[must_use]
    pub fn get(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for TransportSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TransportSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

// Not `Error` itself: through `Deref`, `Error::source()` hands out the
// underlying error, so a chain walk meets the `std::io::Error` (or the
// rustls error) directly rather than this wrapper.
impl std::ops::Deref for TransportSource {
    type Target = dyn StdError + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// Everything that can go wrong in a call: what the broker answered, an
/// answer that could not be understood, an input refused before sending,
/// or a request the transport could not complete. `agentwrit-blocking`
/// and `agentwrit-async` re-export it as their `Error`, so a 403 is
/// matched as `Err(Error::Authorization { .. })` whichever runtime you use.
///
/// Broker rejections carry the HTTP status and the full RFC 7807
/// `ProblemDetail` (`wire::ProblemDetail`; synthesised when the body was not
/// problem+json).
/// `Display` shows the status, error code, detail and request id; no
/// variant ever holds a secret (response excerpts and problem bodies are
/// redacted before they are stored).
///
/// ```
/// # use agentwrit_core as agentwrit_blocking;
/// use agentwrit_blocking::Error;
/// let err = Error::invalid_input("scope[1]", "scope has an empty identifier");
/// assert_eq!(err.to_string(), "invalid input: scope[1]: scope has an empty identifier");
/// assert_eq!(err.status(), None);
/// assert!(!err.is_retryable());
/// ```
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401: missing, wrong, expired, revoked or released credentials.
    #[error("authentication failed: {problem}")]
    #[non_exhaustive]
    Authentication {
        /// The HTTP status (401).
        status: u16,
        /// The broker's problem.
        problem: Box<ProblemDetail>,
    },

    /// 403: the credentials are valid but do not allow this (insufficient
    /// scope, scope beyond a ceiling, delegation depth).
    #[error("not authorized: {problem}")]
    #[non_exhaustive]
    Authorization {
        /// The HTTP status (403).
        status: u16,
        /// The broker's problem.
        problem: Box<ProblemDetail>,
    },

    /// 429: too many requests. Returned once the retry policy gave up, or
    /// at once when `Retry-After` is longer than the policy waits.
    #[error("rate limited{}: {problem}", fmt_retry_after(*.retry_after))]
    #[non_exhaustive]
    RateLimited {
        /// The HTTP status (429).
        status: u16,
        /// The broker's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// The broker's problem.
        problem: Box<ProblemDetail>,
    },

    /// Any other non-2xx status.
    #[error("broker error: {problem}")]
    #[non_exhaustive]
    Problem {
        /// The HTTP status.
        status: u16,
        /// The broker's problem, or one synthesised from the status and a
        /// redacted excerpt of the body.
        problem: Box<ProblemDetail>,
    },

    /// A response that could not be understood: not JSON (or labelled with
    /// a non-JSON content type), the wrong shape, truncated, over the size
    /// limit, or a token whose claims do not decode.
    #[error("could not decode the broker's response{}: {message}{}", fmt_status(*.status), fmt_excerpt(.excerpt))]
    #[non_exhaustive]
    Decode {
        /// The HTTP status, when a response was received.
        status: Option<u16>,
        /// What was wrong.
        message: String,
        /// At most 512 bytes of the body, with secrets replaced by
        /// `<redacted>`.
        excerpt: String,
    },

    /// A key, signature or nonce could not be used.
    #[error("cryptographic error: {reason}")]
    #[non_exhaustive]
    Crypto {
        /// What was wrong.
        reason: String,
    },

    /// A token failed local verification ([`TokenVerifier`](crate::TokenVerifier)).
    #[error("token rejected: {reason}")]
    #[non_exhaustive]
    InvalidToken {
        /// Why.
        reason: &'static str,
    },

    /// The caller's input was rejected before anything was sent.
    #[error("invalid input: {field}: {reason}")]
    #[non_exhaustive]
    InvalidInput {
        /// The culprit, e.g. `scope[1]` or `orch_id`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The agent has been released; its token can no longer be used.
    #[error("the agent has been released; its token can no longer be used")]
    Released,

    /// The request could not be completed (connection refused, timeout,
    /// TLS failure, I/O error) and the retry policy gave up.
    ///
    /// `Display` is one line that ends with the root cause, e.g.
    /// `health: could not connect: error sending request for url (...):
    /// Connection refused (os error 111)`. The underlying error is
    /// reachable through [`std::error::Error::source`], each message of
    /// its chain once (a TLS failure: the [`TlsError`](crate::TlsError),
    /// then the TLS library's error).
    #[error("{step}: {kind}{}", fmt_source(.source.as_ref()))]
    #[non_exhaustive]
    Transport {
        /// What kind of failure.
        kind: TransportFailure,
        /// The flow step that was sending (e.g. `create_agent.register`).
        step: &'static str,
        /// The HTTP library's error, when there is one. It never holds a
        /// header or a body.
        #[source]
        source: Option<TransportSource>,
    },

    /// A flow method was called out of order (a bug in the driver), or a
    /// background worker of a transport stopped abnormally.
    #[error("flow called out of order: {reason}")]
    #[non_exhaustive]
    InvalidState {
        /// What happened.
        reason: &'static str,
    },
}

/// `: {source}`, then `: {root cause}` when the source's own message does
/// not already say it: the HTTP libraries' messages name the URL or the
/// layer ("error sending request for url (...)"), and the cause that
/// matters ("Connection refused (os error 111)", the TLS library's
/// verdict) sits at the end of their chain.
fn fmt_source(source: Option<&TransportSource>) -> String {
    let Some(source) = source else {
        return String::new();
    };
    let shown = source.to_string();
    match root_cause(source.get()) {
        Some(root) if !shown.contains(&root) => format!(": {shown}: {root}"),
        _ => format!(": {shown}"),
    }
}

/// The message of the deepest error in `error`'s source chain (`None`
/// when `error` has no source). An `io::Error` wrapping another error is
/// looked into (its `source()` skips the wrapped error itself).
fn root_cause(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut current = error;
    let mut root = None;
    // A chain is short; the bound only guards against a cyclic one.
    for _ in 0..32 {
        let next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
        match next {
            Some(next) => {
                root = Some(next);
                current = next;
            }
            None => break,
        }
    }
    root.map(ToString::to_string).filter(|m| !m.is_empty())
}

fn fmt_retry_after(d: Option<Duration>) -> String {
    d.map(|d| format!(" (retry after {} s)", d.as_secs()))
        .unwrap_or_default()
}

fn fmt_status(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

fn fmt_excerpt(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!("; body: {excerpt}")
    }
}

impl Error {
    /// An [`Error::InvalidInput`].
    #[must_use]
    pub fn invalid_input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn crypto(reason: impl Into<String>) -> Self {
        Error::Crypto {
            reason: reason.into(),
        }
    }

    pub(crate) fn decode(status: Option<u16>, message: impl Into<String>, excerpt: String) -> Self {
        Error::Decode {
            status,
            message: message.into(),
            excerpt,
        }
    }

    /// An [`Error::InvalidState`].
    #[must_use]
    pub fn invalid_state(reason: &'static str) -> Self {
        Error::InvalidState { reason }
    }

    /// An [`Error::Transport`]: what a transport returns when a flow gave
    /// up after `kind` at `step`, with the HTTP library's error.
    #[must_use]
    pub fn transport(
        kind: TransportFailure,
        step: &'static str,
        source: Option<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        Error::Transport {
            kind,
            step,
            source: source.map(TransportSource::new),
        }
    }

    /// The kind of transport failure, for [`Error::Transport`].
    #[must_use]
    pub fn transport_failure(&self) -> Option<TransportFailure> {
        match self {
            Error::Transport { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The HTTP status of the response behind this error, if any.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Authentication { status, .. }
            | Error::Authorization { status, .. }
            | Error::RateLimited { status, .. }
            | Error::Problem { status, .. } => Some(*status),
            Error::Decode { status, .. } => *status,
            _ => None,
        }
    }

    /// The broker's problem, for broker rejections.
    #[must_use]
    pub fn problem(&self) -> Option<&ProblemDetail> {
        match self {
            Error::Authentication { problem, .. }
            | Error::Authorization { problem, .. }
            | Error::RateLimited { problem, .. }
            | Error::Problem { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// The broker's error code, for broker rejections that carry one.
    #[must_use]
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.problem().and_then(ProblemDetail::code)
    }

    /// The broker's request id (also its `X-Request-ID` header), for log
    /// correlation.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.problem().and_then(|p| p.request_id.as_deref())
    }

    /// How long the broker asked the caller to wait, for
    /// [`Error::RateLimited`].
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when the same call might succeed later without any change:
    /// rate limiting, 502/503/504, and connection failures and timeouts.
    /// (The flows have already retried as far as their
    /// [`RetryPolicy`](crate::RetryPolicy) allows.)
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { .. } => true,
            Error::Problem { status, .. } => matches!(status, 502..=504),
            Error::Transport { kind, .. } => matches!(
                kind,
                TransportFailure::Connect | TransportFailure::Timeout | TransportFailure::Io
            ),
            _ => false,
        }
    }

    /// Why the TLS handshake failed, for an [`Error::Transport`] of kind
    /// [`TransportFailure::Tls`] (the [`TlsError`](crate::TlsError) kept
    /// as its source).
    ///
    /// ```
    /// use agentwrit_core::{Error, TlsError, TlsFailure, TransportFailure};
    /// let source = TlsError::new(TlsFailure::UnknownIssuer, "invalid peer certificate: UnknownIssuer");
    /// let err = Error::transport(TransportFailure::Tls, "health", Some(Box::new(source)));
    /// assert_eq!(err.tls_failure(), Some(TlsFailure::UnknownIssuer));
    /// assert!(err.to_string().contains("not issued by a trusted certificate authority"));
    /// ```
    #[must_use]
    pub fn tls_failure(&self) -> Option<crate::TlsFailure> {
        match self {
            Error::Transport {
                kind: TransportFailure::Tls,
                source: Some(source),
                ..
            } => source
                .get()
                .downcast_ref::<crate::TlsError>()
                .map(crate::TlsError::failure),
            _ => None,
        }
    }

    /// True for a transport failure that is a timeout.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        self.transport_failure() == Some(TransportFailure::Timeout)
    }

    /// True for a transport failure to connect (the request was not sent).
    #[must_use]
    pub fn is_connect(&self) -> bool {
        self.transport_failure() == Some(TransportFailure::Connect)
    }

    /// True for [`Error::Authentication`]: the credentials presented are
    /// not (or no longer) accepted.
    #[must_use]
    pub fn is_authentication(&self) -> bool {
        matches!(self, Error::Authentication { .. })
    }
}
