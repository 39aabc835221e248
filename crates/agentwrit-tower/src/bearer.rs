//! Reading the bearer token of a request: the one parser of the
//! `Authorization` header, and the shape check every token passes before
//! anyone is asked about it.

use http::HeaderMap;

use crate::{Rejection, RejectionKind};

/// The longest bearer token accepted (longer ones are rejected unread,
/// with "the bearer token exceeds 16 KiB").
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The request's one bearer token, or why there is none: no header (or
/// another scheme) is [`RejectionKind::MissingToken`]; two headers, an
/// empty token or bytes that are not text are [`RejectionKind::InvalidToken`].
///
/// The scheme is matched without regard to case (RFC 7235); the spaces
/// around the token are ignored.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, Rejection> {
    let bytes = bearer_bytes(headers)?;
    std::str::from_utf8(bytes).map_err(|_| {
        Rejection::new(
            RejectionKind::InvalidToken,
            "the bearer token is not a compact JWS",
        )
    })
}

/// [`bearer_token`] before its UTF-8 check: the token's bytes, which is
/// all a cache lookup needs (a token that is not UTF-8 was never cached,
/// so it misses, and [`bearer_token`] refuses it then).
pub(crate) fn bearer_bytes(headers: &HeaderMap) -> Result<&[u8], Rejection> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Rejection::new(
            RejectionKind::MissingToken,
            "missing authorization header",
        ));
    };
    if values.next().is_some() {
        return Err(Rejection::new(
            RejectionKind::InvalidToken,
            "more than one authorization header",
        ));
    }
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
        Some(space) => (&bytes[..space], &bytes[space + 1..]),
        None => (bytes, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(Rejection::new(
            RejectionKind::MissingToken,
            "the authorization scheme is not Bearer",
        ));
    }
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |i| i + 1);
    let token = &rest[start..end];
    if token.is_empty() {
        return Err(Rejection::new(
            RejectionKind::InvalidToken,
            "the bearer token is empty",
        ));
    }
    Ok(token)
}

/// Refuses a token over [`MAX_TOKEN_LEN`] (without reading it).
pub(crate) fn check_len(token: &[u8]) -> Result<(), Rejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::new(
            RejectionKind::InvalidToken,
            format!("the bearer token exceeds {} KiB", MAX_TOKEN_LEN / 1024),
        ));
    }
    Ok(())
}

/// Refuses, without asking anyone, a token over [`MAX_TOKEN_LEN`] or one
/// that is not three non-empty base64url parts. One pass over the bytes.
pub(crate) fn check_shape(token: &str) -> Result<(), Rejection> {
    check_len(token.as_bytes())?;
    if token.is_empty() {
        return Err(Rejection::new(
            RejectionKind::InvalidToken,
            "the bearer token is empty",
        ));
    }
    if well_formed(token) {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectionKind::InvalidToken,
            "the bearer token is not a compact JWS",
        ))
    }
}

fn well_formed(token: &str) -> bool {
    let (mut dots, mut part_len) = (0u8, 0usize);
    for &b in token.as_bytes() {
        if b == b'.' {
            if part_len == 0 || dots == 2 {
                return false;
            }
            dots += 1;
            part_len = 0;
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            part_len += 1;
        } else {
            return false;
        }
    }
    dots == 2 && part_len > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        map
    }

    fn parse(values: &[&[u8]]) -> Result<String, (RejectionKind, String)> {
        bearer_token(&headers(values))
            .map(str::to_owned)
            .map_err(|r| (r.kind(), r.detail().to_owned()))
    }

    type Case = (
        &'static [&'static [u8]],
        Result<&'static str, (RejectionKind, &'static str)>,
    );

    #[test]
    fn header_parsing() {
        use RejectionKind::{InvalidToken, MissingToken};
        let cases: &[Case] = &[
            (&[b"Bearer a.b.c"], Ok("a.b.c")),
            (&[b"bearer a.b.c"], Ok("a.b.c")),
            (&[b"BEARER   a.b.c  "], Ok("a.b.c")),
            (&[], Err((MissingToken, "missing authorization header"))),
            (
                &[b"Basic dTpw"],
                Err((MissingToken, "the authorization scheme is not Bearer")),
            ),
            (
                &[b"Bearerx a.b.c"],
                Err((MissingToken, "the authorization scheme is not Bearer")),
            ),
            (
                &[b""],
                Err((MissingToken, "the authorization scheme is not Bearer")),
            ),
            (
                &[b"Bearer"],
                Err((InvalidToken, "the bearer token is empty")),
            ),
            (
                &[b"Bearer "],
                Err((InvalidToken, "the bearer token is empty")),
            ),
            (
                &[b"bearer    "],
                Err((InvalidToken, "the bearer token is empty")),
            ),
            (
                &[b"Bearer \xff.b.c"],
                Err((InvalidToken, "the bearer token is not a compact JWS")),
            ),
            (
                &[b"Bearer a.b.c", b"Bearer a.b.c"],
                Err((InvalidToken, "more than one authorization header")),
            ),
        ];
        for (values, want) in cases {
            let got = parse(values);
            let want = (*want)
                .map(str::to_owned)
                .map_err(|(k, d)| (k, d.to_owned()));
            assert_eq!(got, want, "{values:?}");
        }
    }

    #[test]
    fn token_shape() {
        for good in ["a.b.c", "eyJ0.e30.c2ln", "A-_.0.z"] {
            assert!(check_shape(good).is_ok(), "{good}");
        }
        for bad in [
            "a", "a.b", "a.b.", ".b.c", "a..c", "a.b.c.d", "a.b.c=", "a b.c.d", "a.b.c\n", "é.b.c",
        ] {
            let r = check_shape(bad).unwrap_err();
            assert_eq!(
                r.detail(),
                "the bearer token is not a compact JWS",
                "{bad:?}"
            );
        }
        assert_eq!(
            check_shape("").unwrap_err().detail(),
            "the bearer token is empty"
        );
    }

    #[test]
    fn the_length_limit_is_exact_and_named() {
        let at_limit = format!("a.b.{}", "c".repeat(MAX_TOKEN_LEN - 4));
        assert_eq!(at_limit.len(), MAX_TOKEN_LEN);
        assert!(check_shape(&at_limit).is_ok());
        let over = format!("{at_limit}c");
        let r = check_shape(&over).unwrap_err();
        assert_eq!(r.kind(), RejectionKind::InvalidToken);
        assert_eq!(r.detail(), "the bearer token exceeds 16 KiB");
        // Even an oversized token that is not a JWS gets the length reason.
        let junk = "!".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            check_shape(&junk).unwrap_err().detail(),
            "the bearer token exceeds 16 KiB"
        );
    }
}
