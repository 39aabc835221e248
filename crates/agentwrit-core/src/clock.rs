//! Where wall-clock time comes from.
//!
//! No flow reads the clock: every method takes `now`. The transports ask a
//! [`Clock`] for it, so tests can inject time. [`SystemClock`] is the one
//! place in this crate that reads the system clock (the tidy test,
//! `tests/tidy.rs`, allows it in this file only); it lives here rather than
//! in each transport so that both transports share it instead of writing it
//! twice.
//!
//! This is the workspace's one clock: the transports, the service-side
//! layer (`agentwrit-tower`) and the development broker all read this
//! trait, so one [`ManualClock`] drives a broker and the SDK talking to it.

use core::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
///
/// Broker tokens carry Unix-second expiries, so the SDK works in
/// [`SystemTime`], not `Instant`.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's wall clock.
///
/// ```
/// use agentwrit_core::{Clock, SystemClock};
/// assert!(SystemClock.now() > std::time::UNIX_EPOCH);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told to, for tests. Clones share the same
/// time.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use agentwrit_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_795_304_437));
/// let shared = clock.clone();
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(shared.now(), UNIX_EPOCH + Duration::from_secs(1_795_304_497));
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock showing `now`.
    #[must_use]
    pub fn new(now: SystemTime) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// A clock showing the current system time (it does not move by
    /// itself afterwards).
    #[must_use]
    pub fn starting_now() -> Self {
        Self::new(SystemTime::now())
    }

    /// A clock showing `secs` seconds after the Unix epoch.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use agentwrit_core::{Clock, ManualClock};
    /// let clock = ManualClock::at_unix_seconds(1_795_304_437);
    /// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_795_304_437));
    /// ```
    #[must_use]
    pub fn at_unix_seconds(secs: u64) -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Sets the time (which may be in the past).
    pub fn set(&self, now: SystemTime) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Moves the time forward by `by` (saturating at the far future).
    pub fn advance(&self, by: Duration) {
        let mut guard = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(later) = guard.checked_add(by) {
            *guard = later;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
