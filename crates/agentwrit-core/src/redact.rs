//! Removing secrets from response text before it is kept in an error.
//!
//! Two rules, applied in this order:
//!
//! 1. In JSON-looking text, the value of any member whose key is one of
//!    [`SECRET_KEYS`] (case-insensitive) becomes `"<redacted>"`; a string
//!    value that is cut off by truncation is redacted to the end.
//! 2. Anywhere, a run of JWT characters (`A-Z a-z 0-9 - _ . =`) that
//!    contains `eyJ` followed later by a `.` is redacted from the `eyJ` on,
//!    and the word after `Bearer ` is redacted.
//!
//! Both keep JSON valid, so a redacted problem body still parses.

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "<redacted>";

/// Keys whose values are never kept.
pub(crate) const SECRET_KEYS: &[&str] = &[
    "access_token",
    "client_secret",
    "launch_token",
    "secret",
    "token",
    "refresh_token",
    "id_token",
    "private_key",
    "password",
    "authorization",
];

/// The longest excerpt kept, in bytes.
pub(crate) const EXCERPT_BYTES: usize = 512;

/// How much of a body is looked at for an excerpt (redaction runs over
/// this window before the cut, so a secret straddling the cut is still
/// found).
const WINDOW_BYTES: usize = 64 * 1024;

/// A bounded, redacted, UTF-8-safe excerpt of a body.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let window = body.get(..WINDOW_BYTES).unwrap_or(body);
    let text = String::from_utf8_lossy(window);
    let redacted = redact(&text);
    let mut cut = redacted.len().min(EXCERPT_BYTES);
    while !redacted.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = redacted.get(..cut).unwrap_or_default().to_owned();
    if cut < redacted.len() || window.len() < body.len() {
        out.push('…');
    }
    out
}

/// Applies both redaction rules to `text`.
pub(crate) fn redact(text: &str) -> String {
    redact_tokens(&redact_members(text))
}

fn is_secret_key(raw: &str) -> bool {
    SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(raw))
}

/// Scans a JSON string starting at the opening quote `start`; returns the
/// index just past the closing quote (or the end of input) and whether the
/// string was closed.
fn scan_string(b: &[u8], start: usize) -> (usize, bool) {
    let mut i = start.saturating_add(1);
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i = i.saturating_add(2),
            b'"' => return (i.saturating_add(1), true),
            _ => i = i.saturating_add(1),
        }
    }
    (b.len(), false)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i = i.saturating_add(1);
    }
    i
}

/// Rule 1: secret-keyed members.
fn redact_members(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // text[..copied] is in `out`
    let mut i = 0;
    while i < b.len() {
        if b.get(i) != Some(&b'"') {
            i += 1;
            continue;
        }
        let (key_end, closed) = scan_string(b, i);
        let key = text
            .get(i + 1..key_end.saturating_sub(1))
            .unwrap_or_default();
        let colon = skip_ws(b, key_end);
        if !(closed && b.get(colon) == Some(&b':') && is_secret_key(key)) {
            i = key_end;
            continue;
        }
        let value = skip_ws(b, colon + 1);
        out.push_str(text.get(copied..value).unwrap_or_default());
        match b.get(value) {
            Some(b'"') => {
                let (value_end, value_closed) = scan_string(b, value);
                out.push('"');
                out.push_str(REDACTED);
                if value_closed {
                    out.push('"');
                }
                copied = value_end;
            }
            Some(_) => {
                let len = b
                    .get(value..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'))
                    .count();
                if len > 0 {
                    out.push('"');
                    out.push_str(REDACTED);
                    out.push('"');
                }
                copied = value + len;
            }
            None => copied = value,
        }
        i = copied.max(i + 1);
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

fn is_jwt_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'=')
}

/// Rule 2: JWT-looking runs and bearer credentials.
fn redact_tokens(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        // `Bearer <credential>`
        if b.get(i..i + 7)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"bearer "))
            && (i == 0 || !b.get(i - 1).copied().is_some_and(is_jwt_char))
        {
            let start = i + 7;
            let len = b
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| {
                    !c.is_ascii_whitespace() && !matches!(c, b'"' | b'\'' | b'<' | b',')
                })
                .count();
            if len > 0 {
                out.push_str(text.get(copied..start).unwrap_or_default());
                out.push_str(REDACTED);
                copied = start + len;
            }
            i = start + len;
            continue;
        }
        if !is_jwt_char(b.get(i).copied().unwrap_or(b' ')) {
            i += 1;
            continue;
        }
        let run_len = b
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&c| is_jwt_char(c))
            .count();
        let run = b.get(i..i + run_len).unwrap_or_default();
        if let Some(at) = run.windows(3).position(|w| w == b"eyJ")
            && run.get(at..).unwrap_or_default().contains(&b'.')
        {
            out.push_str(text.get(copied..i + at).unwrap_or_default());
            out.push_str(REDACTED);
            copied = i + run_len;
        }
        i += run_len;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

    #[test]
    fn members_are_redacted() {
        let body = format!(
            r#"{{"access_token":"{JWT}","expires_in":300,"client_secret" : "4ca1b2","Token":12345,"nested":{{"launch_token":"a370"}},"secret":null}}"#
        );
        let r = redact(&body);
        assert_eq!(
            r,
            r#"{"access_token":"<redacted>","expires_in":300,"client_secret" : "<redacted>","Token":"<redacted>","nested":{"launch_token":"<redacted>"},"secret":"<redacted>"}"#
        );
        assert!(serde_json::from_str::<serde_json::Value>(&r).is_ok());
    }

    #[test]
    fn truncated_values_are_redacted_to_the_end() {
        assert_eq!(
            redact(r#"{"client_secret":"4ca1b20858707d"#),
            r#"{"client_secret":"<redacted>"#
        );
        assert_eq!(redact(r#"{"token":"#), r#"{"token":"#);
        assert_eq!(redact(r#"{"token""#), r#"{"token""#);
    }

    #[test]
    fn escaped_quotes_do_not_confuse_the_scanner() {
        let r = redact(r#"{"detail":"a \"token\": x","secret":"s\"ecret"}"#);
        assert_eq!(r, r#"{"detail":"a \"token\": x","secret":"<redacted>"}"#);
    }

    #[test]
    fn jwts_anywhere_and_bearer_words() {
        let html = format!("<p>Authorization: Bearer opaque-123</p><p>{JWT}</p> x{JWT}");
        let r = redact(&html);
        assert!(
            !r.contains("opaque-123") && !r.contains("c2lnbmF0dXJl"),
            "{r}"
        );
        assert_eq!(
            r,
            "<p>Authorization: Bearer <redacted></p><p><redacted></p> x<redacted>"
        );
        // A JWT header alone (no dot after it) is public and kept.
        assert_eq!(redact("eyJhbGciOiJFZERTQSJ9"), "eyJhbGciOiJFZERTQSJ9");
    }

    #[test]
    fn excerpt_is_bounded_and_utf8_safe() {
        let body = "é".repeat(1000);
        let e = excerpt(body.as_bytes());
        assert!(e.len() <= EXCERPT_BYTES + '…'.len_utf8());
        assert!(e.ends_with('…'));
        let mut long = format!(r#"{{"pad":"{}","access_token":"{JWT}"}}"#, "x".repeat(500));
        long.push_str(&"y".repeat(200_000));
        let e = excerpt(long.as_bytes());
        assert!(!e.contains("c2lnbmF0dXJl"), "{e}");
        assert_eq!(excerpt(b""), "");
        assert_eq!(excerpt(&[0xff, 0xfe]), "\u{fffd}\u{fffd}");
    }
}
