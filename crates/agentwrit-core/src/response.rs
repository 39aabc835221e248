//! Turning a broker response into a value or an [`Error`], in one place.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentwrit_wire::{ProblemDetail, Timestamp, headers, status_text};
use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::redact::{excerpt, redact};

/// The longest request id kept from a response header.
const MAX_REQUEST_ID: usize = 128;

/// The longest `Content-Type` value quoted in an error.
const MAX_CONTENT_TYPE: usize = 64;

/// A 2xx response that passed the size check.
#[derive(Debug)]
pub(crate) struct Reply<'a> {
    pub(crate) status: u16,
    pub(crate) body: &'a [u8],
    /// The `Content-Type`, when present and not a JSON media type (a proxy's
    /// HTML page, say): the body is then not decoded as JSON.
    pub(crate) foreign_content_type: Option<String>,
}

impl Reply<'_> {
    /// Decodes the body as `T`; failures become [`Error::Decode`] with a
    /// redacted excerpt.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if let Some(content_type) = &self.foreign_content_type {
            return Err(self.malformed(format!(
                "unexpected content type `{content_type}` (expected application/json)"
            )));
        }
        serde_json::from_slice(self.body).map_err(|e| {
            Error::decode(
                Some(self.status),
                describe_json_error(&e),
                excerpt(self.body),
            )
        })
    }

    /// An [`Error::Decode`] about this response.
    pub(crate) fn malformed(&self, message: impl Into<String>) -> Error {
        Error::decode(Some(self.status), message, excerpt(self.body))
    }
}

/// A description of a JSON error that never quotes the input (serde's
/// "invalid type: string \"...\"" would copy a value, possibly a secret).
fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    match e.classify() {
        Category::Eof => format!("truncated JSON (unexpected end at {at})"),
        Category::Syntax => format!("not valid JSON (syntax error at {at})"),
        Category::Io => "could not read the body".to_owned(),
        Category::Data => {
            let msg = e.to_string();
            if msg.starts_with("missing field") {
                // "missing field `x` at line ..": names a field, not a value.
                msg
            } else {
                format!("JSON does not have the expected shape (at {at})")
            }
        }
    }
}

/// Classifies a response: a 2xx within the size limit becomes a [`Reply`];
/// anything else becomes the matching [`Error`]. `instance` is the request
/// path, used when a problem has to be synthesised.
pub(crate) fn classify<'a>(
    response: &'a http::Response<Vec<u8>>,
    instance: &str,
    max_body: usize,
    now: SystemTime,
) -> Result<Reply<'a>, Error> {
    let status = response.status().as_u16();
    let body = response.body().as_slice();
    if body.len() > max_body {
        return Err(Error::decode(
            Some(status),
            format!("response body exceeds the {max_body}-byte limit"),
            excerpt(body),
        ));
    }
    if response.status().is_success() {
        return Ok(Reply {
            status,
            body,
            foreign_content_type: foreign_content_type(response.headers()),
        });
    }
    let problem = Box::new(problem_detail(status, response.headers(), body, instance));
    Err(match status {
        401 => Error::Authentication { status, problem },
        403 => Error::Authorization { status, problem },
        429 => Error::RateLimited {
            status,
            retry_after: retry_after(response.headers(), now),
            problem,
        },
        _ => Error::Problem { status, problem },
    })
}

/// The problem in a non-2xx body, parsed tolerantly from its redacted text;
/// members the body lacks are filled from the response (status, status
/// text, `X-Request-ID`, request path). A body that is not a JSON object
/// gives a synthesised problem whose detail is a redacted excerpt.
pub(crate) fn problem_detail(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    instance: &str,
) -> ProblemDetail {
    let parsed = std::str::from_utf8(body)
        .ok()
        .filter(|text| text.trim_start().starts_with('{'))
        .and_then(|text| serde_json::from_str::<ProblemDetail>(&redact(text)).ok());
    let mut problem = parsed.unwrap_or_else(|| {
        let mut p = ProblemDetail::default();
        // A plain-text body (Go's "404 page not found\n") without the
        // line break it ends with.
        let text = excerpt(body);
        let text = text.trim_end();
        p.detail = if text.is_empty() {
            String::from("(empty response body)")
        } else {
            text.to_owned()
        };
        p
    });
    if problem.status == 0 {
        problem.status = status;
    }
    if problem.title.is_empty() {
        problem.title = title_for(status);
    }
    if problem.instance.is_empty() {
        problem.instance = instance.to_owned();
    }
    if problem.request_id.is_none() {
        problem.request_id = request_id(headers);
    }
    problem
}

/// The `Content-Type` when it is present and names no JSON media type
/// (`application/json` or `*/*+json`, any parameters); shortened and made
/// printable for an error message. An absent header lets the body decide.
fn foreign_content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?;
    let text = String::from_utf8_lossy(value.as_bytes());
    let media = text.split(';').next().unwrap_or_default().trim();
    let media = media.to_ascii_lowercase();
    if media == headers::APPLICATION_JSON || media.ends_with("+json") {
        return None;
    }
    Some(
        text.chars()
            .filter(|c| !c.is_control())
            .take(MAX_CONTENT_TYPE)
            .collect(),
    )
}

fn title_for(status: u16) -> String {
    let go = status_text(status);
    if !go.is_empty() {
        return go.to_owned();
    }
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or_default()
        .to_owned()
}

/// The `X-Request-ID` header, when present, printable and short.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(headers::X_REQUEST_ID)?.to_str().ok()?;
    let value = value.trim();
    (!value.is_empty() && value.len() <= MAX_REQUEST_ID).then(|| value.to_owned())
}

/// The `Retry-After` header: delay-seconds, or an HTTP date (IMF-fixdate)
/// measured from `now`. Unparseable values count as absent.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(headers::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(at).ok()?))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT` into Unix seconds.
fn parse_http_date(value: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == month)?.checked_add(1)?;
    let rfc3339 = format!("{year:0>4}-{month:02}-{day:0>2}T{time}Z");
    Timestamp::parse(&rfc3339).ok().map(|t| t.unix_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(784_111_777 - 10) // 10 s before the RFC 9110 example date
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now()), None);
        h.insert("retry-after", HeaderValue::from_static("60"));
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(60)));
        h.insert("retry-after", HeaderValue::from_static(" 1 "));
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(1)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h, now()), Some(Duration::from_secs(10)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 UTC"),
        );
        assert_eq!(retry_after(&h, now()), None);
        for bad in ["-1", "soon", "1.5", "Sun, 06 Foo 1994 08:49:37 GMT", ""] {
            h.insert("retry-after", HeaderValue::from_static(bad));
            assert_eq!(retry_after(&h, now()), None, "{bad}");
        }
        // A date in the past means "now".
        h.insert(
            "retry-after",
            HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
        );
        assert_eq!(retry_after(&h, now()), Some(Duration::ZERO));
    }

    #[test]
    fn a_plain_text_body_loses_its_trailing_newline() {
        let p = problem_detail(404, &HeaderMap::new(), b"404 page not found\n", "/v1/x");
        assert_eq!(p.detail, "404 page not found");
        let p = problem_detail(502, &HeaderMap::new(), b" \r\n", "/v1/x");
        assert_eq!(p.detail, "(empty response body)");
    }

    #[test]
    fn problem_is_filled_from_the_response() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc123"));
        let p = problem_detail(418, &h, br#"{"detail":"short and stout"}"#, "/v1/tea");
        assert_eq!(p.status, 418);
        assert_eq!(p.title, "I'm a teapot");
        assert_eq!(p.instance, "/v1/tea");
        assert_eq!(p.request_id.as_deref(), Some("abc123"));
        assert_eq!(p.detail, "short and stout");
        assert_eq!(p.error_code, None);

        let p = problem_detail(502, &h, b"<html><body>Bad Gateway</body></html>", "/v1/x");
        assert_eq!(p.title, "Bad Gateway");
        assert_eq!(p.detail, "<html><body>Bad Gateway</body></html>");

        let p = problem_detail(500, &HeaderMap::new(), b"", "/v1/x");
        assert_eq!(p.detail, "(empty response body)");
        assert_eq!(p.request_id, None);

        // A JSON object of the wrong shape is synthesised, not an error.
        let p = problem_detail(500, &h, br#"{"status":"bad"}"#, "/v1/x");
        assert_eq!(p.status, 500);
        assert_eq!(p.detail, r#"{"status":"bad"}"#);
    }
}
