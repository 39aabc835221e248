//! The driver loop and the ureq plumbing: the only I/O in this crate.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use agentwrit_core::{Flow, Step, TransportError, TransportFailure};

use crate::Error;
use crate::app::Transport;

impl Transport {
    /// Drives `flow` to its end: sends what it asks, sleeps when it says.
    /// A sleep ends early when another thread unparks this one (the
    /// auto-renewal worker is woken that way to stop).
    pub(crate) fn drive<F: Flow>(&self, mut flow: F) -> Result<F::Output, Error> {
        let mut step = flow.start(self.clock.now());
        loop {
            step = match step {
                Step::Send(request) => {
                    let name = flow.name();
                    match self.send(request, name) {
                        Ok(response) => flow.handle_response(response, self.clock.now()),
                        Err((failure, message)) => {
                            match flow.handle_transport_error(failure, self.clock.now()) {
                                Some(next) => next,
                                None => {
                                    return Err(TransportError::new(failure, name, message).into());
                                }
                            }
                        }
                    }
                }
                Step::Wait { until } => {
                    let wait = until.duration_since(self.clock.now()).unwrap_or_default();
                    let started = Instant::now();
                    std::thread::park_timeout(wait);
                    // A full sleep counts as reaching `until` even on a
                    // clock that does not move by itself (a test clock).
                    let now = self.clock.now();
                    let now = if started.elapsed() >= wait {
                        now.max(until)
                    } else {
                        now
                    };
                    flow.resume(now)
                }
                Step::Done(result) => return result.map_err(Error::from),
            };
        }
    }

    fn send(
        &self,
        request: http::Request<Vec<u8>>,
        step: &'static str,
    ) -> Result<http::Response<Vec<u8>>, (TransportFailure, String)> {
        let span = tracing::debug_span!("agentwrit", step, method = %request.method(), path = request.uri().path(), status = tracing::field::Empty, request_id = tracing::field::Empty);
        let _entered = span.enter();
        let response = self.client.run(request).map_err(classify)?;
        let (parts, body) = response.into_parts();
        let request_id = parts
            .headers
            .get(agentwrit_core::wire::headers::X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        span.record("status", parts.status.as_u16());
        span.record("request_id", request_id);
        // One byte over the limit lets the flow report an oversized body.
        let limit = u64::try_from(self.config.max_response_bytes())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let body = body
            .into_with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(classify)?;
        tracing::debug!(
            status = parts.status.as_u16(),
            request_id,
            bytes = body.len(),
            "broker answered"
        );
        Ok(http::Response::from_parts(parts, body))
    }
}

/// A ureq agent as the SDK wants it: rustls, no redirects, statuses as
/// responses, connect and overall timeouts, a pool of idle connections.
pub(crate) fn http_client(
    timeout: Duration,
    connect_timeout: Duration,
) -> Result<ureq::Agent, Error> {
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(timeout))
        .timeout_connect(Some(connect_timeout))
        .user_agent(agentwrit_core::DEFAULT_USER_AGENT)
        .build()
        .into())
}

fn classify(error: ureq::Error) -> (TransportFailure, String) {
    let failure = match &error {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportFailure::Connect,
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
            TransportFailure::Connect
        }
        ureq::Error::Timeout(_) => TransportFailure::Timeout,
        ureq::Error::BodyExceedsLimit(_) => TransportFailure::BodyTooLarge,
        ureq::Error::Io(e) => match e.kind() {
            ErrorKind::ConnectionRefused | ErrorKind::AddrNotAvailable => TransportFailure::Connect,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => TransportFailure::Timeout,
            _ => TransportFailure::Io,
        },
        ureq::Error::Protocol(_) | ureq::Error::BodyStalled => TransportFailure::Io,
        _ => TransportFailure::Other,
    };
    (failure, error.to_string())
}
