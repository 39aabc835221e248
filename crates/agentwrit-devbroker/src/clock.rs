//! Time, injected: every expiry decision of the broker reads one [`Clock`].

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sync::lock;

/// The broker's source of the current time.
///
/// Nonce expiry (30 s), launch-token expiry, token `exp`/`nbf`/`iat`, app
/// and admin token lifetimes, audit timestamps and the rate-limit token
/// buckets all read it, so a test that injects a [`ManualClock`] controls
/// every one of them without sleeping.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock ([`SystemTime::now`]); the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to, for tests.
///
/// Share it with the broker through an `Arc` and keep a clone:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use agentwrit_devbroker::{Clock, ManualClock};
///
/// let clock = Arc::new(ManualClock::starting_now());
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(31));
/// assert_eq!(clock.now().duration_since(t0)?, Duration::from_secs(31));
/// # Ok::<(), std::time::SystemTimeError>(())
/// ```
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    #[must_use]
    pub fn new(start: SystemTime) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// A clock standing at the current system time (it does not move by
    /// itself afterwards).
    #[must_use]
    pub fn starting_now() -> Self {
        Self::new(SystemTime::now())
    }

    /// A clock standing at `secs` seconds after the Unix epoch.
    #[must_use]
    pub fn at_unix_seconds(secs: u64) -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Moves the clock forward by `by` (saturating at the far future).
    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        *now = now.checked_add(by).unwrap_or(*now);
    }

    /// Sets the clock to `to` (which may be in the past).
    pub fn set(&self, to: SystemTime) {
        *lock(&self.now) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *lock(&self.now)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

/// Nanoseconds since the Unix epoch (negative before it).
pub(crate) fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// Whole seconds since the Unix epoch, rounded down (Go's `time.Unix()`).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    i64::try_from(unix_nanos(t).div_euclid(1_000_000_000)).unwrap_or(i64::MAX)
}
