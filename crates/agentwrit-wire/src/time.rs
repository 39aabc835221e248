//! RFC 3339 timestamps that round-trip byte for byte.
//!
//! The broker signs delegation records over the *text* of their
//! `delegated_at` timestamp and hashes the chain's JSON, so a client that
//! re-encodes a timestamp differently (dropping trailing digits, changing
//! the offset) would break both. [`Timestamp`] therefore keeps the exact
//! text it was parsed from, alongside its value in nanoseconds since the Unix
//! epoch.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An RFC 3339 timestamp: the exact text plus its instant.
///
/// ```
/// use agentwrit_wire::Timestamp;
/// let t: Timestamp = "2026-11-21T23:40:37.532418148Z".parse()?;
/// assert_eq!(t.as_str(), "2026-11-21T23:40:37.532418148Z");
/// assert_eq!(t.unix_seconds(), 1_795_304_437);
/// assert_eq!(t.subsec_nanos(), 532_418_148);
///
/// // Formatting the way the broker does (Go's RFC3339Nano: UTC, trailing zeros trimmed).
/// let u = Timestamp::from_unix_nanos(1_795_304_437_500_000_000);
/// assert_eq!(u.as_str(), "2026-11-21T23:40:37.5Z");
/// # Ok::<(), agentwrit_wire::TimestampError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    nanos: i128,
}

/// Why a string is not an RFC 3339 timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text does not have the shape `YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)`.
    Format,
    /// A field is out of range (month 13, hour 24, day 31 in April, ...).
    Range,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampError::Format => {
                "not an RFC 3339 timestamp (expected YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM))"
            }
            TimestampError::Range => "RFC 3339 timestamp has a field out of range",
        })
    }
}

impl std::error::Error for TimestampError {}

const NANOS_PER_SEC: i128 = 1_000_000_000;

impl Timestamp {
    /// Formats an instant (nanoseconds since the Unix epoch) the way the
    /// broker does: UTC, `Z`, fractional seconds with trailing zeros trimmed
    /// and omitted entirely when zero (Go's `time.RFC3339Nano`).
    #[must_use]
    pub fn from_unix_nanos(nanos: i128) -> Self {
        let secs = nanos.div_euclid(NANOS_PER_SEC);
        let sub = nanos.rem_euclid(NANOS_PER_SEC);
        // Years outside 0..=9999 cannot be written in RFC 3339; clamp.
        let secs = secs.clamp(MIN_SECS, MAX_SECS);
        let nanos = secs * NANOS_PER_SEC + sub;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss) = (sod / 3600, (sod / 60) % 60, sod % 60);
        let mut text = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
        if sub != 0 {
            let frac = format!("{sub:09}");
            text.push('.');
            text.push_str(frac.trim_end_matches('0'));
        }
        text.push('Z');
        Timestamp { text, nanos }
    }

    /// Formats whole seconds since the Unix epoch (Go's `time.RFC3339`).
    #[must_use]
    pub fn from_unix_seconds(secs: i64) -> Self {
        Self::from_unix_nanos(i128::from(secs) * NANOS_PER_SEC)
    }

    /// Parses RFC 3339 text, keeping it verbatim.
    ///
    /// # Errors
    ///
    /// [`TimestampError`] when the text is not RFC 3339.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let nanos = parse_rfc3339(text)?;
        Ok(Timestamp {
            text: text.to_owned(),
            nanos,
        })
    }

    /// The exact text, as received or as formatted.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Nanoseconds since the Unix epoch.
    #[must_use]
    pub fn unix_nanos(&self) -> i128 {
        self.nanos
    }

    /// Whole seconds since the Unix epoch (rounded towards negative infinity).
    #[must_use]
    pub fn unix_seconds(&self) -> i64 {
        // In range by construction: years 0..=9999.
        i64::try_from(self.nanos.div_euclid(NANOS_PER_SEC)).unwrap_or(i64::MAX)
    }

    /// The nanoseconds past [`Timestamp::unix_seconds`].
    #[must_use]
    pub fn subsec_nanos(&self) -> u32 {
        u32::try_from(self.nanos.rem_euclid(NANOS_PER_SEC)).unwrap_or(0)
    }
}

impl Default for Timestamp {
    /// The Unix epoch, `1970-01-01T00:00:00Z`.
    fn default() -> Self {
        Timestamp::from_unix_nanos(0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?})", self.text)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl core::str::FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.nanos
            .cmp(&other.nanos)
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let nanos = parse_rfc3339(&text).map_err(serde::de::Error::custom)?;
        Ok(Timestamp { text, nanos })
    }
}

/// 0000-01-01T00:00:00Z
const MIN_SECS: i128 = -62_167_219_200;
/// 9999-12-31T23:59:59Z
const MAX_SECS: i128 = 253_402_300_799;

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → days since 1970-01-01 (`days_from_civil`).
fn days_from_civil(y: i128, m: i128, d: i128) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i128) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i128, m: i128) -> i128 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

fn digits(b: &[u8]) -> Result<i128, TimestampError> {
    let mut v: i128 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return Err(TimestampError::Format);
        }
        v = v * 10 + i128::from(c - b'0');
    }
    Ok(v)
}

fn parse_rfc3339(text: &str) -> Result<i128, TimestampError> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(TimestampError::Format);
    }
    let sep_ok = b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':';
    if !sep_ok {
        return Err(TimestampError::Format);
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let mut rest = &b[19..];
    let mut frac: i128 = 0;
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return Err(TimestampError::Format);
        }
        frac = digits(&tail[..n])? * 10i128.pow(u32::try_from(9 - n).unwrap_or(0));
        rest = &tail[n..];
    }
    let offset_secs = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits(&[*h1, *h2])?;
            let om = digits(&[*m1, *m2])?;
            if oh > 23 || om > 59 {
                return Err(TimestampError::Range);
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return Err(TimestampError::Format),
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(TimestampError::Range);
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Ok(secs * NANOS_PER_SEC + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-719_468i128, -1, 0, 1, 10_957, 20_778, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(
            Timestamp::from_unix_seconds(0).as_str(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(1_795_304_437_532_418_148).as_str(),
            "2026-11-21T23:40:37.532418148Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(1_795_304_437_000_001_000).as_str(),
            "2026-11-21T23:40:37.000001Z"
        );
        assert_eq!(
            Timestamp::from_unix_seconds(951_782_400).as_str(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_nanos(-1).as_str(),
            "1969-12-31T23:59:59.999999999Z"
        );
    }

    #[test]
    fn parses_offsets_and_rejects_garbage() {
        let t = Timestamp::parse("2026-11-22T00:40:37+01:00").unwrap();
        assert_eq!(t.unix_seconds(), 1_795_304_437);
        assert_eq!(t.as_str(), "2026-11-22T00:40:37+01:00");
        for bad in [
            "",
            "2026-11-21",
            "2026-11-21 23:40:37Z",
            "2026-13-21T23:40:37Z",
            "2026-02-29T23:40:37Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T23:40:37",
            "2026-11-21T23:40:37.Z",
            "2026-11-21T23:40:37.1234567890Z",
            "2026-11-21T23:40:37+0100",
            "2026-11-21T23:40:37ZZ",
            "２026-11-21T23:40:37Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?}");
        }
    }
}
