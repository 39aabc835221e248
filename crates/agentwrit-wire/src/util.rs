//! Small serde helpers and Go-compatible JSON encoding.

use serde::{Deserialize, Deserializer, Serialize};

/// Deserialises `null` as the type's default (Go writes a nil slice as
/// `null`).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Serialises `value` the way Go's `encoding/json` does, byte for byte, for
/// the types of this crate: compact, fields in declaration order, and `<`,
/// `>`, `&`, U+2028 and U+2029 escaped as `\u003c`, `\u003e`, `\u0026`,
/// `\u2028`, `\u2029`.
///
/// The broker hashes delegation chains over these bytes, and a development
/// broker must produce the same `Content-Length` as the real one.
///
/// ```
/// let v = vec!["a<b", "c&d"];
/// assert_eq!(agentwrit_wire::to_go_json(&v)?, br#"["a\u003cb","c\u0026d"]"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// # Errors
///
/// Whatever `serde_json` reports for `value` (never for this crate's types).
pub fn to_go_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let plain = serde_json::to_vec(value)?;
    // `<`, `>` and `&` are never JSON structure, and U+2028/2029 can only
    // appear inside strings, so escaping them anywhere is escaping them in
    // strings.
    let needs = plain.iter().any(|b| matches!(b, b'<' | b'>' | b'&'))
        || plain
            .windows(3)
            .any(|w| w == [0xE2, 0x80, 0xA8] || w == [0xE2, 0x80, 0xA9]);
    if !needs {
        return Ok(plain);
    }
    let mut out = Vec::with_capacity(plain.len() + 16);
    let mut i = 0;
    while i < plain.len() {
        match plain[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 if plain.get(i + 1) == Some(&0x80)
                && matches!(plain.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                if plain.get(i + 2) == Some(&0xA8) {
                    out.extend_from_slice(b"\\u2028");
                } else {
                    out.extend_from_slice(b"\\u2029");
                }
                i += 3;
                continue;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

/// A `Duration` as the broker's whole seconds, rounded up (a TTL of 1.5 s
/// asks for 2 s, never for less than was asked): the one rounding rule of
/// every TTL the SDK sends.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(agentwrit_wire::whole_seconds(Duration::from_millis(1500)), 2);
/// assert_eq!(agentwrit_wire::whole_seconds(Duration::from_secs(300)), 300);
/// assert_eq!(agentwrit_wire::whole_seconds(Duration::MAX), i64::MAX);
/// ```
#[must_use]
pub fn whole_seconds(ttl: core::time::Duration) -> i64 {
    let rounded = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    i64::try_from(rounded).unwrap_or(i64::MAX)
}
