//! The contract between a flow and the transport that drives it.

use core::fmt;
use std::time::SystemTime;

use crate::error::Error;

/// What a flow wants next. Returned by every [`Flow`] method.
///
/// `Debug` prints the method and URI of a request, never its headers or
/// body (which may carry a bearer token, a client secret or a launch
/// token).
#[must_use = "a step tells the transport what to do next"]
pub enum Step<T> {
    /// Send this request and hand the response to
    /// [`Flow::handle_response`] (or a failure to
    /// [`Flow::handle_transport_failure`]). The URI is absolute.
    Send(http::Request<Vec<u8>>),
    /// Sleep until this wall-clock instant, then call [`Flow::resume`].
    Wait {
        /// When to resume. It may already have passed.
        until: SystemTime,
    },
    /// The flow has finished; drop it.
    Done(Result<T, Error>),
}

impl<T> Step<T> {
    /// True for [`Step::Done`].
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(self, Step::Done(_))
    }

    /// Maps the output of a finished step, leaving `Send` and `Wait` as
    /// they are.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Step::Send(request) => Step::Send(request),
            Step::Wait { until } => Step::Wait { until },
            Step::Done(result) => Step::Done(result.map(f)),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Step<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Send(request) => f
                .debug_tuple("Send")
                .field(&format_args!("{} {}", request.method(), request.uri()))
                .finish(),
            Step::Wait { until } => f.debug_struct("Wait").field("until", until).finish(),
            Step::Done(result) => f.debug_tuple("Done").field(result).finish(),
        }
    }
}

/// How long the attempt a [`Step::Send`] asks for may take: what is left of
/// its call's [timeout](crate::ClientConfig::timeout), which counts from
/// the call's first attempt and includes its retries and the waits between
/// them. Flows put it in the extensions of every request they send;
/// transports apply it to that request (and [`Driver`](crate::Driver)
/// hands it over as [`Attempt::timeout`](crate::Attempt::timeout)).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use agentwrit_core::{AttemptTimeout, ClientConfig, Flow, Health, Step};
///
/// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?).with_timeout(Duration::from_secs(2));
/// let Step::Send(request) = Health::new(&config).start(UNIX_EPOCH) else { unreachable!() };
/// assert_eq!(request.extensions().get::<AttemptTimeout>(), Some(&AttemptTimeout(Duration::from_secs(2))));
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttemptTimeout(pub std::time::Duration);

/// In the extensions of a request that is its flow's point of no return:
/// once it may have reached the broker, the broker may have issued a
/// credential that only the flow's output will hold (the create-agent
/// ceremony's `POST /v1/register`). The rule for a transport whose caller
/// can be cancelled: from this request on, finish the flow detached from
/// the caller, and release an output that arrives with no one waiting for
/// it. A transport whose calls cannot be cancelled sends it as any other
/// request.
///
/// ```
/// use std::time::UNIX_EPOCH;
/// use agentwrit_core::{AgentKey, ClientConfig, CreateAgent, CreateAgentRequest, Flow, PointOfNoReturn, Step};
/// use agentwrit_core::wire::LaunchToken;
///
/// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
/// let request = CreateAgentRequest::new("orch", "task", ["read:data:*"], AgentKey::from_seed([1; 32]));
/// let mut flow = CreateAgent::with_launch_token(&config, LaunchToken::new("a1b2"), request)?;
/// // The challenge is a read: nothing to own yet.
/// let Step::Send(challenge) = flow.start(UNIX_EPOCH) else { unreachable!() };
/// assert!(challenge.extensions().get::<PointOfNoReturn>().is_none());
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PointOfNoReturn;

/// Why a transport could not complete a `Step::Send`.
///
/// The distinction matters for requests that are not idempotent (register,
/// release, launch tokens, ...): they are retried only when the request
/// certainly did not reach the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportFailure {
    /// No connection was established (DNS failure, connection refused, TLS
    /// handshake failure before any request byte was written): the request
    /// was certainly **not** sent.
    Connect,
    /// The request or the response timed out: it may have been processed.
    Timeout,
    /// An I/O error after the connection was established: the request may
    /// have been processed.
    Io,
    /// The response body exceeded `ClientConfig::max_response_bytes`
    /// and the transport stopped reading it.
    BodyTooLarge,
    /// The TLS handshake failed: an untrusted or expired certificate, a
    /// host name mismatch, a refused client certificate, or a peer that
    /// does not speak TLS (an `https://` URL to a plain-HTTP port). The
    /// request was not sent, and it is never retried: sending it again
    /// would fail the same way.
    Tls,
    /// Anything else; treated like [`TransportFailure::Io`].
    Other,
}

impl TransportFailure {
    /// True when the request certainly did not reach the broker, so that
    /// even a non-idempotent request may be sent again.
    #[must_use]
    pub fn certainly_not_sent(self) -> bool {
        matches!(self, TransportFailure::Connect)
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportFailure::Connect => "could not connect",
            TransportFailure::Timeout => "timed out",
            TransportFailure::Io => "I/O error",
            TransportFailure::BodyTooLarge => "response body too large",
            TransportFailure::Tls => "TLS handshake failed",
            TransportFailure::Other => "transport error",
        })
    }
}

/// A broker interaction as a state machine that performs no I/O.
///
/// A transport drives it with the loop shown in the [crate docs](crate#the-driver-loop):
/// call [`Flow::start`] once, then feed every outcome of a
/// [`Step::Send`] back in and sleep on every [`Step::Wait`], until a
/// [`Step::Done`] arrives.
///
/// Every method takes the current wall-clock time; a flow never reads the
/// clock. Calling a method out of order (for example `handle_response`
/// after `Done`, or `start` twice) never panics: it returns
/// `Done(Err(Error::InvalidState { .. }))`.
pub trait Flow {
    /// What the flow produces when it succeeds.
    type Output;

    /// A short, stable name of the current step (for example
    /// `create_agent.register`), for logs and tracing spans. It contains no
    /// secret.
    fn name(&self) -> &'static str;

    /// Begins the flow: usually the first [`Step::Send`].
    fn start(&mut self, now: SystemTime) -> Step<Self::Output>;

    /// The transport received this response to the last [`Step::Send`].
    ///
    /// The body should be at most
    /// [`ClientConfig::max_response_bytes`](crate::ClientConfig::max_response_bytes)
    /// long; a transport that caps its reads at that limit plus one byte
    /// lets the flow report an oversized body as
    /// [`Error::Decode`](crate::Error::Decode).
    fn handle_response(
        &mut self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Step<Self::Output>;

    /// A [`Step::Wait`] has elapsed. Called early, it answers with the same
    /// `Wait` again.
    fn resume(&mut self, now: SystemTime) -> Step<Self::Output>;

    /// The transport could not complete the last [`Step::Send`]: the
    /// request failed as `failure` says, and `give_up` is the error to
    /// finish with if the flow stops here (an
    /// [`Error::Transport`](crate::Error::Transport) naming the step,
    /// which keeps the HTTP library's error as its source).
    ///
    /// The flow decides: a retry (possibly after a [`Step::Wait`]),
    /// `Done(Err(give_up))`, or, for a flow made of independent requests,
    /// the next request with the error kept for the end
    /// ([`EndTask`](crate::EndTask): one failed release does not stop the
    /// others).
    fn handle_transport_failure(
        &mut self,
        failure: TransportFailure,
        give_up: Error,
        now: SystemTime,
    ) -> Step<Self::Output>;
}
