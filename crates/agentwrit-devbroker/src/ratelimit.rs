//! Per-key token buckets, as the real broker limits its two login routes.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sync::lock;

/// A token-bucket rate: `burst` requests at once, refilled continuously at
/// `per_second`.
///
/// ```
/// use agentwrit_devbroker::RateLimit;
/// let app_auth = RateLimit::APP_AUTH;
/// assert_eq!(app_auth.burst, 3);
/// assert!((app_auth.per_second - 10.0 / 60.0).abs() < 1e-12);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size: requests allowed in a burst.
    pub burst: u32,
}

impl RateLimit {
    /// `POST /v1/app/auth` on the real broker: 10 per minute, burst 3, per
    /// `client_id`.
    pub const APP_AUTH: RateLimit = RateLimit {
        per_second: 10.0 / 60.0,
        burst: 3,
    };

    /// `POST /v1/admin/auth` on the real broker: 5 per second, burst 10,
    /// per client IP.
    pub const ADMIN_AUTH: RateLimit = RateLimit {
        per_second: 5.0,
        burst: 10,
    };
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: i128,
}

/// One limiter: a bucket per key.
#[derive(Debug)]
pub(crate) struct Limiter {
    rate: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Above this many keys, buckets that have refilled completely (and so
/// behave exactly like a fresh bucket) are dropped.
const PRUNE_AT: usize = 10_000;

impl Limiter {
    pub(crate) fn new(rate: RateLimit) -> Self {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, b: &Bucket, now: i128) -> f64 {
        let elapsed = (now - b.last).max(0) as f64 / 1e9;
        (b.tokens + elapsed * self.rate.per_second).min(f64::from(self.rate.burst))
    }

    /// Takes one token for `key` at `now` (Unix nanoseconds); false when
    /// the bucket is empty.
    pub(crate) fn allow(&self, key: &str, now: i128) -> bool {
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= PRUNE_AT {
            let burst = f64::from(self.rate.burst);
            let full: Vec<String> = buckets
                .iter()
                .filter(|(_, b)| self.refilled(b, now) >= burst)
                .map(|(k, _)| k.clone())
                .collect();
            for k in full {
                buckets.remove(&k);
            }
        }
        match buckets.get_mut(key) {
            None => {
                buckets.insert(
                    key.to_owned(),
                    Bucket {
                        tokens: f64::from(self.rate.burst) - 1.0,
                        last: now,
                    },
                );
                true
            }
            Some(b) => {
                b.tokens = self.refilled(b, now);
                b.last = now;
                if b.tokens < 1.0 {
                    false
                } else {
                    b.tokens -= 1.0;
                    true
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let l = Limiter::new(RateLimit::APP_AUTH);
        assert!(l.allow("a", 0));
        assert!(l.allow("a", 0));
        assert!(l.allow("a", 0));
        assert!(!l.allow("a", 0));
        assert!(l.allow("b", 0));
        // One token takes 6 s at 10/min.
        assert!(!l.allow("a", 5_900_000_000));
        assert!(l.allow("a", 12_000_000_000));
    }
}
