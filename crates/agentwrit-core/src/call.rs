//! One request, its retries and the decoding of its answer: the engine
//! behind every flow.

use core::fmt;
use std::time::{Duration, SystemTime};

use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{AttemptTimeout, PointOfNoReturn, Step, TransportFailure};
use crate::request::Prepared;
use crate::response::{Reply, classify, retry_after};
use crate::retry::RetryPolicy;

/// Whether sending a request twice is harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Reads and checks: retried on any transport failure and on
    /// 429/502/503/504.
    Idempotent,
    /// Anything that creates, consumes or revokes: retried only when the
    /// request certainly was not processed (a connect failure, 429, 503).
    NotIdempotent,
}

/// What a decoder sees besides the reply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecodeCtx {
    pub(crate) now: SystemTime,
    pub(crate) reauth_margin: Duration,
}

/// Turns the classified response into the flow's output.
pub(crate) type Decoder<T> = fn(Result<Reply<'_>, Error>, DecodeCtx) -> Result<T, Error>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready,
    InFlight,
    Waiting { until: SystemTime },
    Finished,
}

/// A single request with retries.
pub(crate) struct Call<T> {
    name: &'static str,
    prepared: Result<Prepared, Error>,
    idempotency: Idempotency,
    policy: RetryPolicy,
    max_body: usize,
    reauth_margin: Duration,
    decode: Decoder<T>,
    attempts: u32,
    state: State,
    /// How long the whole call may take, and when it runs out (set by
    /// `start`).
    timeout: Duration,
    deadline: Option<SystemTime>,
    /// Whether each attempt is marked [`PointOfNoReturn`].
    point_of_no_return: bool,
}

impl<T> fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("name", &self.name)
            .field("request", &self.prepared.as_ref().ok())
            .field("attempts", &self.attempts)
            .field("state", &self.state)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl<T> Call<T> {
    /// A call that sends `prepared` (or, when preparing failed, ends with
    /// that error at `start`).
    pub(crate) fn new(
        name: &'static str,
        config: &ClientConfig,
        prepared: Result<Prepared, Error>,
        idempotency: Idempotency,
        decode: Decoder<T>,
    ) -> Self {
        Call {
            name,
            prepared,
            idempotency,
            policy: config.retry().clone(),
            max_body: config.max_response_bytes(),
            reauth_margin: config.reauth_margin(),
            decode,
            attempts: 0,
            state: State::Ready,
            timeout: config.timeout(),
            deadline: None,
            point_of_no_return: false,
        }
    }

    /// Marks every attempt of this call as its flow's
    /// [`PointOfNoReturn`]: the broker may issue a credential in answer.
    pub(crate) fn point_of_no_return(mut self) -> Self {
        self.point_of_no_return = true;
        self
    }

    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    fn finish(&mut self, result: Result<T, Error>) -> Step<T> {
        self.state = State::Finished;
        Step::Done(result)
    }

    fn out_of_order(&mut self, reason: &'static str) -> Step<T> {
        self.finish(Err(Error::invalid_state(reason)))
    }

    /// Sends the next attempt, given what is left of the call's time.
    fn send(&mut self, now: SystemTime) -> Step<T> {
        match &self.prepared {
            Ok(prepared) => {
                self.attempts = self.attempts.saturating_add(1);
                self.state = State::InFlight;
                let left = match self.deadline {
                    Some(deadline) => deadline.duration_since(now).unwrap_or_default(),
                    None => self.timeout,
                };
                let mut request = prepared.request();
                request.extensions_mut().insert(AttemptTimeout(left));
                if self.point_of_no_return {
                    request.extensions_mut().insert(PointOfNoReturn);
                }
                Step::Send(request)
            }
            Err(e) => {
                let e = e.clone();
                self.finish(Err(e))
            }
        }
    }

    /// Schedules the next attempt after `delay`, or `None` when it could
    /// not start before the call's deadline (the call then ends with what
    /// it has: the last response, or the transport's error).
    fn retry_after(&mut self, delay: Duration, now: SystemTime) -> Option<Step<T>> {
        let until = now.checked_add(delay)?;
        if self.deadline.is_some_and(|deadline| until >= deadline) {
            return None;
        }
        if delay.is_zero() {
            return Some(self.send(now));
        }
        self.state = State::Waiting { until };
        Some(Step::Wait { until })
    }

    fn budget_left(&self) -> bool {
        self.attempts < self.policy.max_attempts()
    }

    pub(crate) fn start(&mut self, now: SystemTime) -> Step<T> {
        match self.state {
            State::Ready => {
                self.deadline = now.checked_add(self.timeout);
                self.send(now)
            }
            _ => self.out_of_order("start called twice"),
        }
    }

    pub(crate) fn resume(&mut self, now: SystemTime) -> Step<T> {
        match self.state {
            State::Waiting { until } if now < until => Step::Wait { until },
            State::Waiting { .. } => self.send(now),
            _ => self.out_of_order("resume called without a pending wait"),
        }
    }

    pub(crate) fn handle_response(
        &mut self,
        response: http::Response<Vec<u8>>,
        now: SystemTime,
    ) -> Step<T> {
        if self.state != State::InFlight {
            return self.out_of_order("handle_response called without a request in flight");
        }
        let status = response.status().as_u16();
        if response.body().len() <= self.max_body
            && let Some(delay) = self.delay_for_status(status, response.headers(), now)
            && let Some(retry) = self.retry_after(delay, now)
        {
            return retry;
        }
        let path = self
            .prepared
            .as_ref()
            .map(Prepared::path)
            .unwrap_or_default();
        let outcome = classify(&response, path, self.max_body, now);
        let ctx = DecodeCtx {
            now,
            reauth_margin: self.reauth_margin,
        };
        let result = (self.decode)(outcome, ctx);
        self.finish(result)
    }

    /// The wait before retrying after this status, or `None` to stop.
    fn delay_for_status(
        &self,
        status: u16,
        headers: &http::HeaderMap,
        now: SystemTime,
    ) -> Option<Duration> {
        let retryable = match status {
            429 | 503 => true,
            502 | 504 => self.idempotency == Idempotency::Idempotent,
            _ => false,
        };
        if !retryable || !self.budget_left() {
            return None;
        }
        match retry_after(headers, now) {
            Some(wait) if wait > self.policy.max_retry_after() => None,
            Some(wait) => Some(wait),
            None => Some(self.policy.backoff(self.attempts)),
        }
    }

    /// The flow's answer to a failed send: a retry, or `Done(Err(give_up))`.
    pub(crate) fn handle_transport_failure(
        &mut self,
        failure: TransportFailure,
        give_up: Error,
        now: SystemTime,
    ) -> Step<T> {
        match self.after_failure(failure, now) {
            Some(step) => step,
            None => self.finish(Err(give_up)),
        }
    }

    /// The next step after a failed send, or `None` to give up.
    fn after_failure(&mut self, failure: TransportFailure, now: SystemTime) -> Option<Step<T>> {
        if self.state != State::InFlight {
            return Some(
                self.out_of_order("handle_transport_failure called without a request in flight"),
            );
        }
        if failure == TransportFailure::BodyTooLarge {
            let message = format!("response body exceeds the {}-byte limit", self.max_body);
            return Some(self.finish(Err(Error::decode(None, message, String::new()))));
        }
        if failure == TransportFailure::Tls {
            // A certificate or protocol failure repeats on every attempt.
            self.state = State::Finished;
            return None;
        }
        let may_retry = failure.certainly_not_sent() || self.idempotency == Idempotency::Idempotent;
        if may_retry
            && self.budget_left()
            && let Some(retry) = self.retry_after(self.policy.backoff(self.attempts), now)
        {
            return Some(retry);
        }
        self.state = State::Finished;
        None
    }
}

/// Declares a public flow that is one [`Call`]: a newtype with `Debug`
/// and a delegating [`Flow`](crate::Flow) impl.
macro_rules! call_flow {
    ($(#[$meta:meta])* $name:ident -> $output:ty) => {
        $(#[$meta])*
        #[derive(Debug)]
        #[must_use = "a flow does nothing until a transport drives it"]
        pub struct $name(crate::call::Call<$output>);

        impl crate::flow::Flow for $name {
            type Output = $output;

            fn name(&self) -> &'static str {
                self.0.name()
            }

            fn start(&mut self, now: std::time::SystemTime) -> crate::flow::Step<$output> {
                self.0.start(now)
            }

            fn handle_response(
                &mut self,
                response: http::Response<Vec<u8>>,
                now: std::time::SystemTime,
            ) -> crate::flow::Step<$output> {
                self.0.handle_response(response, now)
            }

            fn resume(&mut self, now: std::time::SystemTime) -> crate::flow::Step<$output> {
                self.0.resume(now)
            }

            fn handle_transport_failure(
                &mut self,
                failure: crate::flow::TransportFailure,
                give_up: crate::error::Error,
                now: std::time::SystemTime,
            ) -> crate::flow::Step<$output> {
                self.0.handle_transport_failure(failure, give_up, now)
            }
        }
    };
}
pub(crate) use call_flow;
