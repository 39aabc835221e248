//! Building the HTTP requests every flow sends.

use core::fmt;

use agentwrit_wire::{AccessToken, headers};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::config::ClientConfig;
use crate::error::Error;

/// A request ready to be sent (and sent again on retry). The body may hold
/// a secret, so it is zeroed on drop.
pub(crate) struct Prepared {
    method: Method,
    uri: Uri,
    path: String,
    headers: HeaderMap,
    body: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.uri)
    }
}

impl Prepared {
    /// A fresh `http::Request` for this attempt.
    pub(crate) fn request(&self) -> Request<Vec<u8>> {
        let mut request = Request::new(self.body.to_vec());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    /// The request path without the broker's prefix (the problem
    /// `instance` the broker would report).
    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

/// What to send: built by each flow's constructor.
pub(crate) struct Spec<'a> {
    pub(crate) method: Method,
    /// Path (already percent-encoded), starting with `/`.
    pub(crate) path: String,
    /// Query string without `?`, if any.
    pub(crate) query: Option<String>,
    pub(crate) bearer: Option<&'a AccessToken>,
    pub(crate) body: Option<Zeroizing<Vec<u8>>>,
}

impl<'a> Spec<'a> {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Spec {
            method: Method::GET,
            path: path.into(),
            query: None,
            bearer: None,
            body: None,
        }
    }

    pub(crate) fn post(path: impl Into<String>) -> Self {
        Spec {
            method: Method::POST,
            ..Self::get(path)
        }
    }

    pub(crate) fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    pub(crate) fn bearer(mut self, token: &'a AccessToken) -> Self {
        self.bearer = Some(token);
        self
    }

    pub(crate) fn query(mut self, query: String) -> Self {
        if !query.is_empty() {
            self.query = Some(query);
        }
        self
    }

    /// A JSON body.
    pub(crate) fn json<B: Serialize>(mut self, body: &B) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|_| Error::invalid_input("body", "could not be serialised as JSON"))?;
        self.body = Some(Zeroizing::new(bytes));
        Ok(self)
    }

    /// Builds the request: absolute URI, `Accept`, `User-Agent`,
    /// `Content-Type` when there is a body, and a sensitive
    /// `Authorization: Bearer` when there is a token.
    pub(crate) fn prepare(self, config: &ClientConfig) -> Result<Prepared, Error> {
        let mut url = config.broker().endpoint(&self.path);
        if let Some(q) = &self.query {
            url.push('?');
            url.push_str(q);
        }
        let uri = Uri::try_from(url)
            .map_err(|_| Error::invalid_input("path", "does not form a valid URI"))?;
        let mut map = HeaderMap::new();
        map.insert(ACCEPT, HeaderValue::from_static(headers::APPLICATION_JSON));
        let agent = HeaderValue::from_str(config.user_agent())
            .map_err(|_| Error::invalid_input("user_agent", "is not a valid header value"))?;
        map.insert(USER_AGENT, agent);
        if self.body.is_some() {
            map.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(headers::APPLICATION_JSON),
            );
        }
        if let Some(token) = self.bearer {
            map.insert(AUTHORIZATION, bearer_value(token)?);
        }
        Ok(Prepared {
            method: self.method,
            uri,
            path: self.path,
            headers: map,
            body: self.body.unwrap_or_default(),
        })
    }
}

/// `Bearer <token>` as a string; itself a secret.
pub(crate) fn bearer_string(token: &AccessToken) -> String {
    let secret = token.expose_secret();
    let mut value = String::with_capacity(7 + secret.len());
    value.push_str("Bearer ");
    value.push_str(secret);
    value
}

/// `Bearer <token>` as a sensitive header value.
pub(crate) fn bearer_value(token: &AccessToken) -> Result<HeaderValue, Error> {
    check_token("access_token", token)?;
    let value = Zeroizing::new(bearer_string(token));
    let mut header = HeaderValue::from_str(&value)
        .map_err(|_| Error::invalid_input("access_token", "is not a valid header value"))?;
    header.set_sensitive(true);
    Ok(header)
}

/// A token must be non-empty visible ASCII to travel in a header.
pub(crate) fn check_token(field: &'static str, token: &AccessToken) -> Result<(), Error> {
    let value = token.expose_secret();
    if value.is_empty() {
        return Err(Error::invalid_input(field, "is empty"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid_input(
            field,
            "contains characters that cannot travel in an HTTP header",
        ));
    }
    Ok(())
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved).
pub(crate) fn path_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(path_segment("app-x-71c121"), "app-x-71c121");
        assert_eq!(path_segment("a/b c?é"), "a%2Fb%20c%3F%C3%A9");
    }

    #[test]
    fn bearer_is_sensitive_and_checked() {
        let v = bearer_value(&AccessToken::new("eyJ.x.y")).unwrap();
        assert!(v.is_sensitive());
        assert_eq!(v, "Bearer eyJ.x.y");
        assert!(bearer_value(&AccessToken::new("")).is_err());
        assert!(bearer_value(&AccessToken::new("a b")).is_err());
        assert!(bearer_value(&AccessToken::new("a\nb")).is_err());
    }
}
