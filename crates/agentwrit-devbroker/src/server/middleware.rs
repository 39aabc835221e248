//! The real broker's middleware, in the order it wraps every request:
//! the request id, the 1 MiB body limit, the security headers (and HSTS
//! over TLS); and the client address its rate limits key on.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::http::header::{
    CACHE_CONTROL, CONNECTION, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use super::answer::problem;
use crate::crypto::random_hex;
use crate::problem::ApiError;

/// The broker refuses request bodies larger than this (1 MiB).
pub(crate) const MAX_BODY: usize = 1 << 20;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id: the client's `X-Request-ID` (blanks trimmed) when it
/// sent a non-blank one, else 16 random hex characters; as the header to
/// echo and as text for problem bodies.
pub(super) fn request_id(headers: &HeaderMap) -> (HeaderValue, String) {
    if let Some(v) = headers.get(&X_REQUEST_ID) {
        let text = String::from_utf8_lossy(v.as_bytes())
            .trim_matches([' ', '\t'])
            .to_owned();
        if !text.is_empty() {
            let trimmed = {
                let b = v.as_bytes();
                let start = b.iter().position(|c| !matches!(c, b' ' | b'\t'));
                let end = b.iter().rposition(|c| !matches!(c, b' ' | b'\t'));
                match (start, end) {
                    (Some(s), Some(e)) => HeaderValue::from_bytes(&b[s..=e]).ok(),
                    _ => None,
                }
            };
            if let Some(hv) = trimmed {
                return (hv, text);
            }
        }
    }
    let id = random_hex::<8>().unwrap_or_else(|_| "unknown".to_owned());
    let hv = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"));
    (hv, id)
}

/// The request id and the security headers, on every answer.
pub(super) fn finish(mut r: Response, request_id: HeaderValue) -> Response {
    let h = r.headers_mut();
    h.insert(X_REQUEST_ID, request_id);
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// Over TLS, the real broker's HSTS header on every answer.
pub(super) async fn add_hsts(mut r: Response) -> Response {
    r.headers_mut().insert(
        STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(crate::tls::HSTS),
    );
    r
}

/// Sets `Connection: close` on `r`.
pub(super) fn closing(mut r: Response) -> Response {
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The whole body, at most [`MAX_BODY`] bytes; else the problem answer
/// (413 `payload_too_large`, closing the connection, or 400).
pub(super) async fn read_body(body: Body, instance: &str, rid: &str) -> Result<Bytes, Response> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                let err = ApiError::new(
                    413,
                    agentwrit_wire::ErrorCode::PayloadTooLarge,
                    "request body must not exceed 1 MB",
                );
                Err(closing(problem(&err, instance, rid)))
            } else {
                let err = ApiError::bad_request("failed to read request body");
                Err(problem(&err, instance, rid))
            }
        }
    }
}

/// A header's first value, blanks trimmed (empty when absent).
pub(super) fn first_header(
    headers: &HeaderMap,
    name: impl axum::http::header::AsHeaderName,
) -> String {
    headers
        .get(name)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim_matches([' ', '\t'])
                .to_owned()
        })
        .unwrap_or_default()
}

/// The client address the login rate limits key on: the first
/// `X-Forwarded-For` entry, else the peer's IP.
pub(super) fn client_ip(headers: &HeaderMap, peer: SocketAddr) -> String {
    let xff = first_header(headers, "x-forwarded-for");
    if !xff.is_empty() {
        return xff.split(',').next().unwrap_or_default().to_owned();
    }
    peer.ip().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_id_is_echoed_trimmed_or_made_up() {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("  abc\t"));
        let (hv, text) = request_id(&h);
        assert_eq!((hv.to_str().unwrap(), text.as_str()), ("abc", "abc"));
        h.insert(X_REQUEST_ID, HeaderValue::from_static("   "));
        let (hv, text) = request_id(&h);
        assert_eq!(text.len(), 16);
        assert_eq!(hv.to_str().unwrap(), text);
    }

    #[test]
    fn the_client_ip_prefers_the_first_forwarded_address() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(client_ip(&h, peer), "127.0.0.1");
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static(" 10.0.0.1, 10.0.0.2"),
        );
        assert_eq!(client_ip(&h, peer), "10.0.0.1");
    }
}
