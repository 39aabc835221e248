//! Time, injected: every expiry decision of the broker reads one
//! [`Clock`](agentwrit_core::Clock), the SDK's own.
//!
//! Nonce expiry (30 s), launch-token expiry, token `exp`/`nbf`/`iat`, app
//! and admin token lifetimes, audit timestamps and the rate-limit token
//! buckets all read it, so a test that injects a
//! [`ManualClock`](agentwrit_core::ManualClock) controls
//! every one of them without sleeping, and the same clock handed to the
//! SDK or the service-side layer moves them together.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use agentwrit_devbroker::{Clock, ManualClock};
//!
//! let clock = Arc::new(ManualClock::starting_now());
//! let t0 = clock.now();
//! clock.advance(Duration::from_secs(31));
//! assert_eq!(clock.now().duration_since(t0)?, Duration::from_secs(31));
//! # Ok::<(), std::time::SystemTimeError>(())
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

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
