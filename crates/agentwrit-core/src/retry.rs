//! Which failures are retried, and after how long.

use std::time::Duration;

/// How a flow retries a request.
///
/// Every request of a flow has its own budget of
/// [`max_attempts`](RetryPolicy::max_attempts) sends (the first one
/// included). What may be retried depends on whether the call is
/// idempotent; see the [crate docs](crate#retries).
///
/// Between attempts the flow waits, in order of preference:
///
/// 1. the broker's `Retry-After` (seconds or an HTTP date) on a 429 or 503,
///    when it is at most [`max_retry_after`](RetryPolicy::max_retry_after);
///    a longer one ends the flow at once with
///    [`Error::RateLimited`](crate::Error::RateLimited) (or the 503 problem),
///    carrying the delay, so the caller decides;
/// 2. otherwise the exponential backoff: `base_delay × 2^(n−1)` before
///    retry `n`, capped at `max_delay`. With a jitter seed the delay is
///    drawn deterministically from `[d/2, d]`.
///
/// ```
/// # use agentwrit_core as agentwrit_blocking;
/// use std::time::Duration;
/// use agentwrit_blocking::RetryPolicy;
///
/// let p = RetryPolicy::default();
/// assert_eq!(p.max_attempts(), 3);
/// assert_eq!(p.backoff(1), Duration::from_millis(200));
/// assert_eq!(p.backoff(2), Duration::from_millis(400));
/// assert_eq!(p.backoff(9), Duration::from_secs(2)); // capped
/// assert_eq!(RetryPolicy::none().max_attempts(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    max_retry_after: Duration,
    jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    /// Three attempts, backoff 200 ms, 400 ms, ... capped at 2 s, no jitter,
    /// `Retry-After` honoured up to 5 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(5),
            jitter_seed: None,
        }
    }
}

impl RetryPolicy {
    /// Never retry: one attempt per request.
    #[must_use]
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the number of attempts per request, the first included
    /// (0 is treated as 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Sets the first backoff delay and the cap.
    #[must_use]
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max;
        self
    }

    /// Sets the longest `Retry-After` the flow waits for by itself.
    #[must_use]
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Spreads backoff delays over `[d/2, d]`, deterministically from
    /// `seed` (the caller supplies the randomness; this crate draws none).
    #[must_use]
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Attempts per request, the first included.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The first backoff delay.
    #[must_use]
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The backoff cap.
    #[must_use]
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The longest `Retry-After` honoured by waiting.
    #[must_use]
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The jitter seed, if any.
    #[must_use]
    pub fn jitter_seed(&self) -> Option<u64> {
        self.jitter_seed
    }

    /// The delay before retry number `retry` (1 for the first retry).
    #[must_use]
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(63);
        let factor = 1u32.checked_shl(exponent).unwrap_or(u32::MAX);
        let delay = self
            .base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        match self.jitter_seed {
            None => delay,
            Some(seed) => {
                let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
                let half = nanos / 2;
                let spread = splitmix64(seed ^ u64::from(retry)) % (nanos - half).saturating_add(1);
                Duration::from_nanos(half.saturating_add(spread))
            }
        }
    }
}

/// SplitMix64: a tiny, well-mixed deterministic hash for jitter.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_exact_and_capped() {
        let p = RetryPolicy::default()
            .with_backoff(Duration::from_millis(100), Duration::from_millis(1000));
        let got: Vec<u128> = (1..=6).map(|n| p.backoff(n).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.backoff(0), Duration::from_millis(100));
        assert_eq!(p.backoff(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        let p = RetryPolicy::default().with_jitter_seed(42);
        for n in 1..20 {
            let full = RetryPolicy::default().backoff(n);
            let d = p.backoff(n);
            assert_eq!(d, p.backoff(n));
            assert!(d >= full / 2 && d <= full, "{n}: {d:?} vs {full:?}");
        }
        assert_ne!(
            RetryPolicy::default().with_jitter_seed(1).backoff(1),
            RetryPolicy::default().with_jitter_seed(2).backoff(1)
        );
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let p = RetryPolicy::default()
            .with_backoff(Duration::MAX, Duration::MAX)
            .with_jitter_seed(7);
        let _ = p.backoff(64);
        assert_eq!(
            RetryPolicy::default().with_max_attempts(0).max_attempts(),
            1
        );
    }
}
