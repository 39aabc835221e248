//! The decisions of a transport's driver loop, made once: what `now` each
//! flow method gets, how long a wait sleeps, the time a flow resumes at,
//! and the error a failed send becomes.
//!
//! A transport owns the loop and does only what it alone can do: send
//! bytes, sleep, and be woken early.

use core::fmt;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::error::Error;
use crate::flow::{AttemptTimeout, Flow, PointOfNoReturn, Step, TransportFailure};

/// Runs a [`Flow`] for a transport: reads the clock, hands the flow its
/// `now`, and turns each [`Step`] into an [`Action`] the transport
/// performs.
///
/// The loop a transport writes, once (here with a canned answer; a real
/// transport sends the request and sleeps with its runtime's timer):
///
/// ```
/// use std::sync::Arc;
/// use agentwrit_core::{Action, ClientConfig, Driver, Health, ManualClock, TransportFailure};
///
/// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
/// let clock = Arc::new(ManualClock::starting_now());
/// let mut driver = Driver::new(Health::new(&config), clock);
/// let mut action = driver.start();
/// let mut sent = 0;
/// let health = loop {
///     action = match action {
///         Action::Send(attempt) => {
///             sent += 1;
///             assert_eq!(attempt.request.uri().path(), "/v1/health");
///             // A refused connection: retried after a backoff.
///             driver.failed(TransportFailure::Connect, None)
///         }
///         Action::Sleep(_duration) => driver.woke(true), // slept the whole time
///         Action::Done(result) => break result,
///     };
/// };
/// assert_eq!(sent, 3); // three attempts, then the flow gives up
/// assert!(health.unwrap_err().is_connect());
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
#[must_use = "a driver does nothing until a transport runs its actions"]
pub struct Driver<F> {
    flow: F,
    clock: Arc<dyn Clock>,
    /// The instant of the wait in progress.
    waiting_until: Option<SystemTime>,
}

impl<F> fmt::Debug for Driver<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("waiting_until", &self.waiting_until)
            .finish_non_exhaustive()
    }
}

/// What the transport does next (from a [`Driver`]).
#[must_use = "an action tells the transport what to do next"]
#[derive(Debug)]
// Moved once per step: boxing the request would cost an allocation per send.
#[allow(clippy::large_enum_variant)]
pub enum Action<T> {
    /// Send this request; hand the response to [`Driver::received`], or
    /// a failure to [`Driver::failed`].
    Send(Attempt),
    /// Sleep this long, then call [`Driver::woke`] (with `false` when the
    /// sleep was cut short by the transport's own wake-up).
    Sleep(Duration),
    /// The flow has finished.
    Done(Result<T, Error>),
}

/// One attempt at a request: what to send, and how.
#[derive(Debug)]
#[non_exhaustive]
pub struct Attempt {
    /// The request (absolute URI, headers and body complete).
    pub request: http::Request<Vec<u8>>,
    /// How long this attempt may take: what is left of its call's
    /// timeout ([`AttemptTimeout`]); `None` for a flow that does not say
    /// (a hand-written one), where the transport's own timeout applies.
    pub timeout: Option<Duration>,
    /// Whether this request is its flow's [`PointOfNoReturn`]: a
    /// transport whose caller can be cancelled finishes the flow detached
    /// from here on, and releases an output nobody takes.
    pub point_of_no_return: bool,
}

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

impl<F: Flow> Driver<F> {
    /// A driver for `flow`, reading the time from `clock`.
    pub fn new(flow: F, clock: Arc<dyn Clock>) -> Self {
        Driver {
            flow,
            clock,
            waiting_until: None,
        }
    }

    /// The flow's current step name (`create_agent.register`), for
    /// tracing.
    #[must_use]
    pub fn step_name(&self) -> &'static str {
        self.flow.name()
    }

    /// Starts the flow.
    pub fn start(&mut self) -> Action<F::Output> {
        let now = self.clock.now();
        let step = self.flow.start(now);
        self.act(step, now)
    }

    /// The broker answered the last [`Action::Send`].
    pub fn received(&mut self, response: http::Response<Vec<u8>>) -> Action<F::Output> {
        let now = self.clock.now();
        let step = self.flow.handle_response(response, now);
        self.act(step, now)
    }

    /// The last [`Action::Send`] failed as `failure` says; `source` is the
    /// HTTP library's error, kept as the source of the
    /// [`Error::Transport`] reported if the flow gives up.
    pub fn failed(
        &mut self,
        failure: TransportFailure,
        source: Option<BoxError>,
    ) -> Action<F::Output> {
        let give_up = Error::transport(failure, self.flow.name(), source);
        let now = self.clock.now();
        let step = self.flow.handle_transport_failure(failure, give_up, now);
        self.act(step, now)
    }

    /// The last [`Action::Sleep`] ended: `slept_fully` is `true` after
    /// the whole duration, `false` when the transport's own wake-up cut it
    /// short (how auto-renewal is stopped).
    ///
    /// A full sleep counts as reaching the wait's instant even on a clock
    /// that did not move meanwhile (a test's
    /// [`ManualClock`](crate::ManualClock)); a cut one resumes at the
    /// clock's time, which the flow answers with the same wait, or with
    /// `Done` when it was stopped.
    pub fn woke(&mut self, slept_fully: bool) -> Action<F::Output> {
        let now = self.clock.now();
        let until = self.waiting_until.take().unwrap_or(now);
        let at = if slept_fully { now.max(until) } else { now };
        let step = self.flow.resume(at);
        self.act(step, now)
    }

    fn act(&mut self, step: Step<F::Output>, now: SystemTime) -> Action<F::Output> {
        match step {
            Step::Send(request) => {
                let extensions = request.extensions();
                let timeout = extensions.get::<AttemptTimeout>().map(|t| t.0);
                let point_of_no_return = extensions.get::<PointOfNoReturn>().is_some();
                Action::Send(Attempt {
                    request,
                    timeout,
                    point_of_no_return,
                })
            }
            Step::Wait { until } => {
                self.waiting_until = Some(until);
                Action::Sleep(until.duration_since(now).unwrap_or_default())
            }
            Step::Done(result) => Action::Done(result),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::clock::ManualClock;

    /// Waits once until `at`, then finishes with the `now` it resumed at.
    struct WaitOnce {
        at: SystemTime,
    }

    impl Flow for WaitOnce {
        type Output = SystemTime;

        fn name(&self) -> &'static str {
            "wait_once"
        }

        fn start(&mut self, _now: SystemTime) -> Step<SystemTime> {
            Step::Wait { until: self.at }
        }

        fn handle_response(
            &mut self,
            _: http::Response<Vec<u8>>,
            _: SystemTime,
        ) -> Step<SystemTime> {
            Step::Done(Err(Error::invalid_state("no request")))
        }

        fn resume(&mut self, now: SystemTime) -> Step<SystemTime> {
            Step::Done(Ok(now))
        }

        fn handle_transport_failure(
            &mut self,
            _: TransportFailure,
            give_up: Error,
            _: SystemTime,
        ) -> Step<SystemTime> {
            Step::Done(Err(give_up))
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_full_sleep_resumes_at_the_wait_even_on_a_clock_that_stood_still() {
        let clock = Arc::new(ManualClock::new(at(100)));
        let mut driver = Driver::new(WaitOnce { at: at(130) }, clock);
        let Action::Sleep(wait) = driver.start() else {
            panic!("expected a sleep")
        };
        assert_eq!(wait, Duration::from_secs(30));
        let Action::Done(Ok(resumed)) = driver.woke(true) else {
            panic!("expected the end")
        };
        assert_eq!(resumed, at(130));
    }

    #[test]
    fn a_sleep_cut_short_resumes_at_the_clocks_time() {
        let clock = Arc::new(ManualClock::new(at(100)));
        let mut driver = Driver::new(WaitOnce { at: at(130) }, clock.clone());
        let _ = driver.start();
        clock.advance(Duration::from_secs(5));
        let Action::Done(Ok(resumed)) = driver.woke(false) else {
            panic!("expected the end")
        };
        assert_eq!(resumed, at(105));
    }

    #[test]
    fn a_clock_past_the_wait_resumes_at_the_clocks_time_and_a_past_wait_sleeps_zero() {
        let clock = Arc::new(ManualClock::new(at(200)));
        let mut driver = Driver::new(WaitOnce { at: at(130) }, clock);
        let Action::Sleep(wait) = driver.start() else {
            panic!("expected a sleep")
        };
        assert_eq!(wait, Duration::ZERO);
        let Action::Done(Ok(resumed)) = driver.woke(true) else {
            panic!("expected the end")
        };
        assert_eq!(resumed, at(200));
    }

    #[test]
    fn a_failed_send_is_reported_with_the_step_name_and_source() {
        let clock = Arc::new(ManualClock::new(at(100)));
        let mut driver = Driver::new(WaitOnce { at: at(130) }, clock);
        let _ = driver.start();
        let source: BoxError = Box::new(std::io::Error::other("reset"));
        let Action::Done(Err(error)) = driver.failed(TransportFailure::Io, Some(source)) else {
            panic!("expected the end")
        };
        assert!(matches!(
            &error,
            Error::Transport {
                kind: TransportFailure::Io,
                step: "wait_once",
                source: Some(_)
            }
        ));
    }
}
