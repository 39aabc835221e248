//! Go's `net/url` decoding, as the real broker applies it to paths and
//! query strings.

use std::collections::HashMap;

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding; `plus_as_space` for query components. `None` on a
/// malformed escape, as Go's `url.PathUnescape`/`QueryUnescape`.
pub(super) fn unescape(s: &str, plus_as_space: bool) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = hex_val(*b.get(i + 1)?)?;
                let lo = hex_val(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Go's `url.ParseQuery`, first value per key.
pub(super) fn parse_query(raw: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for piece in raw.split('&') {
        if piece.is_empty() || piece.contains(';') {
            continue;
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let (Some(k), Some(v)) = (unescape(k, true), unescape(v, true)) else {
            continue;
        };
        out.entry(String::from_utf8_lossy(&k).into_owned())
            .or_insert_with(|| String::from_utf8_lossy(&v).into_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_like_go() {
        let q = parse_query("a=1&a=2&b=x+y%21&c;d=3&e=%zz&&f");
        assert_eq!(q.get("a").map(String::as_str), Some("1"));
        assert_eq!(q.get("b").map(String::as_str), Some("x y!"));
        assert!(!q.contains_key("c;d"));
        assert!(!q.contains_key("e"));
        assert_eq!(q.get("f").map(String::as_str), Some(""));
    }

    #[test]
    fn unescape_like_go() {
        assert_eq!(unescape("a%2Fb+c", false).as_deref(), Some(&b"a/b+c"[..]));
        assert_eq!(unescape("a+c", true).as_deref(), Some(&b"a c"[..]));
        assert_eq!(unescape("%4", false), None);
        assert_eq!(unescape("%zz", false), None);
    }
}
