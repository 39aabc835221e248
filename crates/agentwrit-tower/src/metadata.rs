//! RFC 9728 OAuth 2.0 Protected Resource Metadata: the document a service
//! publishes so that an OAuth client (an MCP client among them) learns
//! what the service is, which scopes it knows and how to send a token.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};

use crate::ConfigError;

/// The well-known path prefix of RFC 9728 §3.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// This service as an OAuth protected resource (RFC 9728): its resource
/// identifier, the metadata document published for it, and the URL of that
/// document, which every `401`/`403` challenge then carries as
/// `resource_metadata="..."`.
///
/// Install it with [`AgentAuthBuilder::protected_resource`](crate::AgentAuthBuilder::protected_resource):
/// the layers then answer `GET` on [`metadata_path`](ProtectedResource::metadata_path)
/// themselves, without a token.
///
/// The document has `resource`, `bearer_methods_supported` (`["header"]`:
/// the layers read `Authorization: Bearer` only), `scopes_supported` and
/// `resource_documentation` / `resource_name` when set, and
/// `authorization_servers` **only when configured**: the AgentWrit broker
/// is not an RFC 8414 authorization server (it has no authorization or
/// token endpoint an OAuth client could use; agents get their tokens
/// through the broker's own launch-token and challenge-response
/// registration), so by default no authorization server is named.
///
/// ```
/// use agentwrit_tower::ProtectedResource;
///
/// let resource = ProtectedResource::new("https://tools.example.com/mcp")?
///     .scopes_supported(["read:data:*", "write:data:*"])
///     .resource_documentation("https://tools.example.com/docs/mcp");
/// assert_eq!(resource.metadata_path(), "/.well-known/oauth-protected-resource/mcp");
/// assert_eq!(
///     resource.metadata_url(),
///     "https://tools.example.com/.well-known/oauth-protected-resource/mcp",
/// );
/// let doc: serde_json::Value = serde_json::from_slice(&resource.to_json())?;
/// assert_eq!(doc["resource"], "https://tools.example.com/mcp");
/// assert_eq!(doc["bearer_methods_supported"], serde_json::json!(["header"]));
/// assert!(doc.get("authorization_servers").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectedResource {
    resource: String,
    metadata_path: String,
    metadata_url: Arc<str>,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    resource_documentation: Option<String>,
    resource_name: Option<String>,
}

impl ProtectedResource {
    /// The resource identifier: the absolute `https://` (or, for local
    /// development, `http://`) URL clients use to reach the service, e.g.
    /// an MCP server's endpoint `https://tools.example.com/mcp`. It is what
    /// the metadata's `resource` says, and what a client compares with the
    /// URL it called.
    ///
    /// The metadata URL is derived as RFC 9728 §3.1 says: the well-known
    /// path inserted between the host and the resource's path.
    ///
    /// ```
    /// use agentwrit_tower::ProtectedResource;
    /// let root = ProtectedResource::new("http://127.0.0.1:8000")?;
    /// assert_eq!(root.metadata_url(), "http://127.0.0.1:8000/.well-known/oauth-protected-resource");
    /// assert!(ProtectedResource::new("/mcp").is_err());
    /// assert!(ProtectedResource::new("https://tools.example.com/mcp?x=1").is_err());
    /// assert!(ProtectedResource::new("ftp://tools.example.com/").is_err());
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::ResourceUrl`] for a URL that is not absolute
    /// `http(s)`, has a query or fragment, or carries user information.
    pub fn new(resource: impl Into<String>) -> Result<Self, ConfigError> {
        let resource = resource.into();
        let bad = |why: &str| ConfigError::ResourceUrl(format!("{resource:?}: {why}"));
        if resource.contains('#') {
            return Err(bad("a resource identifier has no fragment"));
        }
        let uri: http::Uri = resource.parse().map_err(|_| bad("not an absolute URL"))?;
        let scheme = uri.scheme_str().ok_or_else(|| bad("not an absolute URL"))?;
        if scheme != "https" && scheme != "http" {
            return Err(bad(
                "the scheme must be https (or http for local development)",
            ));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user information is not allowed"));
        }
        if uri.query().is_some() {
            return Err(bad("a resource identifier should have no query"));
        }
        let path = match uri.path() {
            "/" => "",
            p => p,
        };
        let metadata_path = format!("{WELL_KNOWN_PATH}{path}");
        let metadata_url = format!("{scheme}://{authority}{metadata_path}");
        Ok(ProtectedResource {
            resource,
            metadata_path,
            metadata_url: metadata_url.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            resource_documentation: None,
            resource_name: None,
        })
    }

    /// Names an authorization server (its RFC 8414 issuer URL) in
    /// `authorization_servers`. Only for a deployment that has one in front
    /// of the broker; the broker itself is not one, so nothing is named by
    /// default.
    ///
    /// ```
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?
    ///     .authorization_server("https://auth.example.com");
    /// let doc: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
    /// assert_eq!(doc["authorization_servers"], serde_json::json!(["https://auth.example.com"]));
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes listed in `scopes_supported`. AgentWrit scopes are
    /// `action:resource:identifier`; a service that accepts any identifier
    /// of a family lists it with the `*` identifier (`read:data:*`), and an
    /// agent should still ask the broker for the narrowest identifier its
    /// task needs. [`McpScopes::scope_families`](crate::McpScopes::scope_families)
    /// derives that list from an MCP server's tool requirements.
    ///
    /// ```
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?
    ///     .scopes_supported(["read:data:*"]);
    /// assert_eq!(r.scopes(), ["read:data:*"]);
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// A page for people about this resource (`resource_documentation`).
    ///
    /// ```
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?
    ///     .resource_documentation("https://tools.example.com/docs");
    /// # let _ = r; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// A human-readable name (`resource_name`).
    ///
    /// ```
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?
    ///     .resource_name("Order tools");
    /// # let _ = r; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The resource identifier.
    ///
    /// ```
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?;
    /// assert_eq!(r.resource(), "https://tools.example.com/mcp");
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The path the metadata document is served at
    /// (`/.well-known/oauth-protected-resource` + the resource's path).
    ///
    /// ```
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/a/mcp")?;
    /// assert_eq!(r.metadata_path(), "/.well-known/oauth-protected-resource/a/mcp");
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn metadata_path(&self) -> &str {
        &self.metadata_path
    }

    /// The absolute URL of the metadata document: what challenges carry as
    /// `resource_metadata`.
    ///
    /// ```
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?;
    /// assert!(r.metadata_url().ends_with("/.well-known/oauth-protected-resource/mcp"));
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    pub(crate) fn metadata_url_arc(&self) -> Arc<str> {
        Arc::clone(&self.metadata_url)
    }

    /// The `scopes_supported` list.
    ///
    /// ```
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?;
    /// assert!(r.scopes().is_empty());
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn scopes(&self) -> &[String] {
        &self.scopes_supported
    }

    /// The metadata document (JSON, RFC 9728 §2).
    ///
    /// ```
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?;
    /// let doc: serde_json::Value = serde_json::from_slice(&r.to_json())?;
    /// assert_eq!(
    ///     doc,
    ///     serde_json::json!({"resource": "https://tools.example.com/mcp", "bearer_methods_supported": ["header"]}),
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn to_json(&self) -> Bytes {
        let mut doc = serde_json::Map::new();
        doc.insert("resource".into(), self.resource.clone().into());
        if !self.authorization_servers.is_empty() {
            doc.insert(
                "authorization_servers".into(),
                self.authorization_servers.clone().into(),
            );
        }
        if !self.scopes_supported.is_empty() {
            doc.insert(
                "scopes_supported".into(),
                self.scopes_supported.clone().into(),
            );
        }
        doc.insert("bearer_methods_supported".into(), vec!["header"].into());
        if let Some(url) = &self.resource_documentation {
            doc.insert("resource_documentation".into(), url.clone().into());
        }
        if let Some(name) = &self.resource_name {
            doc.insert("resource_name".into(), name.clone().into());
        }
        Bytes::from(serde_json::to_vec(&serde_json::Value::Object(doc)).unwrap_or_default())
    }

    /// The response to a request for `method` and `path`, when the path is
    /// this resource's metadata path: the document for `GET` (and `HEAD`),
    /// a CORS preflight answer for `OPTIONS` (the document is public, so
    /// browser-based clients may read it), 405 otherwise. `None` for any
    /// other path.
    ///
    /// ```
    /// use http::Method;
    /// let r = agentwrit_tower::ProtectedResource::new("https://tools.example.com/mcp")?;
    /// let response = r.discovery_response(&Method::GET, "/.well-known/oauth-protected-resource/mcp").unwrap();
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["content-type"], "application/json");
    /// assert!(r.discovery_response(&Method::GET, "/mcp").is_none());
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn discovery_response(&self, method: &Method, path: &str) -> Option<http::Response<Bytes>> {
        if path != self.metadata_path {
            return None;
        }
        let (status, body) = match *method {
            Method::GET => (StatusCode::OK, self.to_json()),
            Method::HEAD => (StatusCode::OK, Bytes::new()),
            Method::OPTIONS => (StatusCode::NO_CONTENT, Bytes::new()),
            _ => (StatusCode::METHOD_NOT_ALLOWED, Bytes::new()),
        };
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        match status {
            StatusCode::OK => {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                );
            }
            StatusCode::NO_CONTENT => {
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, HEAD, OPTIONS"),
                );
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("mcp-protocol-version"),
                );
            }
            _ => {
                headers.insert(
                    header::ALLOW,
                    HeaderValue::from_static("GET, HEAD, OPTIONS"),
                );
            }
        }
        Some(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_rfc_9728_section_3_1() {
        let cases = [
            (
                "https://t.example/mcp",
                "https://t.example/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "https://t.example/",
                "https://t.example/.well-known/oauth-protected-resource",
            ),
            (
                "https://t.example",
                "https://t.example/.well-known/oauth-protected-resource",
            ),
            (
                "http://127.0.0.1:8000/a/b/",
                "http://127.0.0.1:8000/.well-known/oauth-protected-resource/a/b/",
            ),
        ];
        for (resource, url) in cases {
            let r = ProtectedResource::new(resource).unwrap();
            assert_eq!(r.metadata_url(), url, "{resource}");
            assert!(url.ends_with(r.metadata_path()));
        }
        for bad in [
            "",
            "mcp",
            "/mcp",
            "ftp://t.example/x",
            "https://t.example/x#f",
            "https://t.example/x?q=1",
            "https://u:p@t.example/x",
        ] {
            let err = ProtectedResource::new(bad).unwrap_err();
            assert!(matches!(err, ConfigError::ResourceUrl(_)), "{bad}: {err:?}");
        }
    }

    #[test]
    fn the_document_has_every_configured_member_and_nothing_else() {
        let r = ProtectedResource::new("https://t.example/mcp")
            .unwrap()
            .authorization_server("https://as.example")
            .scopes_supported(["read:data:*", "write:data:*"])
            .resource_documentation("https://t.example/docs")
            .resource_name("tools");
        let doc: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({
                "resource": "https://t.example/mcp",
                "authorization_servers": ["https://as.example"],
                "scopes_supported": ["read:data:*", "write:data:*"],
                "bearer_methods_supported": ["header"],
                "resource_documentation": "https://t.example/docs",
                "resource_name": "tools",
            })
        );
    }

    #[test]
    fn discovery_answers_only_its_path() {
        let r = ProtectedResource::new("https://t.example/mcp").unwrap();
        let path = r.metadata_path().to_owned();
        let get = r.discovery_response(&Method::GET, &path).unwrap();
        assert_eq!(get.status(), 200);
        assert_eq!(get.headers()["access-control-allow-origin"], "*");
        assert_eq!(get.body(), &r.to_json());
        assert_eq!(
            r.discovery_response(&Method::HEAD, &path)
                .unwrap()
                .body()
                .len(),
            0
        );
        assert_eq!(
            r.discovery_response(&Method::OPTIONS, &path)
                .unwrap()
                .status(),
            204
        );
        let post = r.discovery_response(&Method::POST, &path).unwrap();
        assert_eq!(post.status(), 405);
        assert_eq!(post.headers()["allow"], "GET, HEAD, OPTIONS");
        assert!(
            r.discovery_response(&Method::GET, "/.well-known/oauth-protected-resource")
                .is_none()
        );
        assert!(
            r.discovery_response(&Method::GET, &format!("{path}/x"))
                .is_none()
        );
    }
}
