//! The command line's one RFC 3339 formatter: every instant it prints or
//! puts in a child's environment goes through [`rfc3339`] (a
//! `SystemTime`) or [`rfc3339_unix`] (a claim's seconds).

use std::time::{Duration, SystemTime};

use agentwrit_async::wire::Timestamp;

/// `at` as RFC 3339 in UTC, whole seconds (`2026-12-03T09:56:48Z`).
/// Instants before 1970 print as the epoch.
pub fn rfc3339(at: SystemTime) -> String {
    rfc3339_unix(unix_seconds(at))
}

/// Seconds since the epoch (a JWT's `iat`, `exp`) as RFC 3339 in UTC.
pub fn rfc3339_unix(seconds: i64) -> String {
    Timestamp::from_unix_seconds(seconds).as_str().to_owned()
}

/// Whole seconds since the epoch (0 before it, saturating after
/// `i64::MAX`).
pub fn unix_seconds(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whole seconds from now until `at` (0 once it is past).
pub fn seconds_until(at: SystemTime, now: SystemTime) -> u64 {
    at.duration_since(now).unwrap_or(Duration::ZERO).as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_format_for_instants_and_claims() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_291_808);
        assert_eq!(rfc3339(at), "2026-12-03T09:56:48Z");
        assert_eq!(rfc3339_unix(1_796_291_808), rfc3339(at));
        assert_eq!(
            rfc3339(at + Duration::from_millis(999)),
            "2026-12-03T09:56:48Z"
        );
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(seconds_until(at, at + Duration::from_secs(1)), 0);
        assert_eq!(seconds_until(at + Duration::from_secs(90), at), 90);
    }
}
