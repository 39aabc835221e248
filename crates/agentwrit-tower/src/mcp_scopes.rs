//! Scope requirements that depend on the request: which scopes an MCP
//! JSON-RPC body needs, from the tool it calls and that tool's arguments.
//!
//! Plain values and functions (no tower or axum type), so the same
//! decision serves the tower layer here and a Python or Node verifier
//! through a binding.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::{ConfigError, Rejection, RejectionKind};

mod template;

pub use template::ScopeTemplates;
use template::{Template, fill_all, parse_all};

/// The default [`McpScopesBuilder::max_body_bytes`]: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The longest argument value a placeholder accepts (bytes).
pub const MAX_PLACEHOLDER_VALUE_LEN: usize = 256;

/// The scope requirements of an MCP server: per tool (filled from the
/// `tools/call` arguments) and per JSON-RPC method (filled from `params`).
///
/// A template's `{name}` placeholders are filled with the argument of that
/// name: a string, or an integer written in decimal. A value that could
/// change the scope it fills — holding `:` (a new scope part), `*` (the
/// wildcard), whitespace, a quote or backslash, or a non-ASCII or control
/// character, empty, or over [`MAX_PLACEHOLDER_VALUE_LEN`] bytes — is
/// refused with a 400, never widened into a scope. So is a missing
/// argument. The filled scopes are then checked with the broker's exact
/// subset rule (`agentwrit-scope`).
///
/// What needs which scopes:
///
/// | message | requires |
/// |---|---|
/// | `tools/call` of a listed tool | that tool's scopes, filled from `params.arguments` |
/// | `tools/call` of an unlisted tool | refused (403 `forbidden`), unless [`allow_unlisted_tools`](McpScopesBuilder::allow_unlisted_tools) |
/// | a listed method (`.method(..)`) | its scopes, filled from `params` |
/// | any other request (`initialize`, `tools/list`, `ping`, ...), a notification, a response | nothing beyond a valid token |
/// | a batch (a JSON array) | the union of its messages' requirements; one refusal refuses all |
/// | not JSON, not an object or array, an empty batch, a message whose `method` is not a string | refused (400) |
///
/// ```
/// use agentwrit_tower::McpScopes;
///
/// let scopes = McpScopes::builder()
///     .tool("get_customer_profile", &["read:data:customer-{customer_id}"])
///     .tool("write_order", &["write:data:order-{order_id}"])
///     .build()?;
/// let call = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call",
///     "params":{"name":"get_customer_profile","arguments":{"customer_id":"cust-7291"}}}"#;
/// assert_eq!(scopes.required_scopes(call)?, ["read:data:customer-cust-7291"]);
/// // The broker's rule decides: allowed with the customer's scope ...
/// assert!(scopes.authorize(call, &["read:data:customer-cust-7291"]).is_ok());
/// // ... refused with another customer's, naming what is needed (step-up).
/// let refused = scopes.authorize(call, &["read:data:customer-cust-9999"]).unwrap_err();
/// assert_eq!(refused.status(), 403);
/// assert_eq!(refused.required_scope(), Some("read:data:customer-cust-7291"));
/// // A value that would widen the scope is refused, not filled in.
/// let sneaky = br#"{"jsonrpc":"2.0","id":4,"method":"tools/call",
///     "params":{"name":"get_customer_profile","arguments":{"customer_id":"*"}}}"#;
/// assert_eq!(scopes.required_scopes(sneaky).unwrap_err().status(), 400);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct McpScopes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tools: HashMap<String, Vec<Template>>,
    methods: HashMap<String, Vec<Template>>,
    allow_unlisted_tools: bool,
    max_body_bytes: usize,
}

/// Configures [`McpScopes`]; from [`McpScopes::builder`].
///
/// ```
/// let scopes = agentwrit_tower::McpScopes::builder()
///     .tool("tenant_report", &["read:analytics:{tenant}"])
///     .method("resources/list", &["read:docs:catalog"])
///     .max_body_bytes(256 * 1024)
///     .build()?;
/// # let _ = scopes; Ok::<(), agentwrit_tower::ConfigError>(())
/// ```
#[must_use]
#[derive(Debug)]
pub struct McpScopesBuilder {
    tools: HashMap<String, Vec<Template>>,
    methods: HashMap<String, Vec<Template>>,
    allow_unlisted_tools: bool,
    max_body_bytes: usize,
    error: Option<ConfigError>,
}

impl McpScopes {
    /// A builder with no tool listed (every `tools/call` refused until
    /// tools are listed), other methods open to any valid token, and a
    /// [`DEFAULT_MAX_BODY_BYTES`] body limit.
    ///
    /// ```
    /// let scopes = agentwrit_tower::McpScopes::builder().build()?;
    /// assert_eq!(scopes.max_body_bytes(), agentwrit_tower::DEFAULT_MAX_BODY_BYTES);
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    pub fn builder() -> McpScopesBuilder {
        McpScopesBuilder {
            tools: HashMap::new(),
            methods: HashMap::new(),
            allow_unlisted_tools: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            error: None,
        }
    }

    /// The largest body the layer reads (a larger one gets a 413).
    ///
    /// ```
    /// let scopes = agentwrit_tower::McpScopes::builder().max_body_bytes(10).build()?;
    /// assert_eq!(scopes.max_body_bytes(), 10);
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.inner.max_body_bytes
    }

    /// Every scope family the requirements name, with `*` as the
    /// identifier where a placeholder fills it, sorted and without
    /// duplicates: what [`ProtectedResource::scopes_supported`](crate::ProtectedResource::scopes_supported)
    /// can publish.
    ///
    /// ```
    /// let scopes = agentwrit_tower::McpScopes::builder()
    ///     .tool("get_customer_profile", &["read:data:customer-{customer_id}"])
    ///     .tool("write_order", &["write:data:order-{order_id}"])
    ///     .tool("catalog", &["read:data:catalog"])
    ///     .build()?;
    /// assert_eq!(scopes.scope_families(), ["read:data:*", "read:data:catalog", "write:data:*"]);
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn scope_families(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .inner
            .tools
            .values()
            .chain(self.inner.methods.values())
            .flatten()
            .map(Template::family)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The scopes a JSON-RPC body requires (in order of appearance, without
    /// duplicates; empty when it needs nothing beyond a valid token).
    ///
    /// ```
    /// let scopes = agentwrit_tower::McpScopes::builder()
    ///     .tool("write_order", &["write:data:order-{order_id}"])
    ///     .build()?;
    /// let list = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    /// assert!(scopes.required_scopes(list)?.is_empty());
    /// let call = br#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"write_order","arguments":{"order_id":4823}}}"#;
    /// assert_eq!(scopes.required_scopes(call)?, ["write:data:order-4823"]);
    /// assert_eq!(scopes.required_scopes(b"{not json").unwrap_err().status(), 400);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A 400 [`Rejection`] ([`RejectionKind::BadRequest`]) for a body that
    /// is not usable JSON-RPC or an argument that cannot fill its
    /// placeholder; a 403 ([`RejectionKind::Forbidden`]) for a call of an
    /// unlisted tool; a 413 ([`RejectionKind::PayloadTooLarge`]) for a body
    /// over the limit.
    pub fn required_scopes(&self, body: &[u8]) -> Result<Vec<String>, Rejection> {
        self.decide(body).1
    }

    /// The whole decision for a body and the scopes a verified token holds:
    /// `Ok` with the required scopes when the token holds them all (the
    /// broker's subset rule), otherwise the [`Rejection`] to answer with —
    /// a 403 `insufficient_scope` whose
    /// [`required_scope`](Rejection::required_scope) names every scope the
    /// request needs, or one of [`required_scopes`](McpScopes::required_scopes)'s
    /// errors.
    ///
    /// ```
    /// let scopes = agentwrit_tower::McpScopes::builder()
    ///     .tool("tenant_report", &["read:analytics:{tenant}"])
    ///     .build()?;
    /// let call = br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"bank"}}}"#;
    /// assert_eq!(scopes.authorize(call, &["read:analytics:*"])?, ["read:analytics:bank"]);
    /// let denied = scopes.authorize(call, &["read:analytics:hospital"]).unwrap_err();
    /// assert_eq!(denied.kind(), agentwrit_tower::RejectionKind::InsufficientScope);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The rejection, as above.
    pub fn authorize<S: AsRef<str>>(
        &self,
        body: &[u8],
        held: &[S],
    ) -> Result<Vec<String>, Rejection> {
        self.authorize_with_id(body, held).1
    }

    /// [`authorize`](McpScopes::authorize), also returning the request's
    /// JSON-RPC `id` when the body is one request (an object with an `id`),
    /// from the same parse: what an error response answers with
    /// ([`Rejection::to_jsonrpc_response`]). The MCP layer decides with it,
    /// and so can a verifier of another language (the bindings).
    ///
    /// ```
    /// let scopes = agentwrit_tower::McpScopes::builder()
    ///     .tool("tenant_report", &["read:analytics:{tenant}"])
    ///     .build()?;
    /// let call = br#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"bank"}}}"#;
    /// let (id, verdict) = scopes.authorize_with_id(call, &["read:analytics:hospital"]);
    /// assert_eq!(id, Some(serde_json::json!(9)));
    /// assert_eq!(verdict.unwrap_err().required_scope(), Some("read:analytics:bank"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn authorize_with_id<S: AsRef<str>>(
        &self,
        body: &[u8],
        held: &[S],
    ) -> (Option<Value>, Result<Vec<String>, Rejection>) {
        let (id, required) = self.decide(body);
        let verdict = required.and_then(|required| {
            if agentwrit_scope::scope_is_subset(&required, held) {
                Ok(required)
            } else {
                Err(Rejection::insufficient_scope(&required))
            }
        });
        (id, verdict)
    }

    fn decide(&self, body: &[u8]) -> (Option<Value>, Result<Vec<String>, Rejection>) {
        if body.len() > self.inner.max_body_bytes {
            return (None, Err(too_large(self.inner.max_body_bytes)));
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return (
                    None,
                    Err(Rejection::parse_error(format!(
                        "the body is not JSON ({e})"
                    ))),
                );
            }
        };
        let mut required = Vec::new();
        match &value {
            Value::Object(message) => {
                let id = message.get("id").cloned();
                let verdict = self.message(message, &mut required).map(|()| required);
                (id, verdict)
            }
            Value::Array(batch) if batch.is_empty() => {
                (None, Err(bad("an empty JSON-RPC batch is not a request")))
            }
            Value::Array(batch) => {
                for message in batch {
                    let Value::Object(message) = message else {
                        return (None, Err(bad("a JSON-RPC batch element is not an object")));
                    };
                    if let Err(r) = self.message(message, &mut required) {
                        return (None, Err(r));
                    }
                }
                (None, Ok(required))
            }
            _ => (
                None,
                Err(bad(
                    "the body is not a JSON-RPC message (an object) or batch (an array)",
                )),
            ),
        }
    }

    /// Adds one message's requirements to `out`.
    fn message(
        &self,
        message: &Map<String, Value>,
        out: &mut Vec<String>,
    ) -> Result<(), Rejection> {
        let method = match message.get("method") {
            None => return Ok(()), // a response to the server's request
            Some(Value::String(m)) => m.as_str(),
            Some(_) => return Err(bad("the JSON-RPC method is not a string")),
        };
        let params = match message.get("params") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => Some(p),
            Some(_) => return Err(bad(format!("the params of {method} are not an object"))),
        };
        if method == "tools/call" {
            let Some(Value::String(tool)) = params.and_then(|p| p.get("name")) else {
                return Err(bad("tools/call without a tool name (params.name)"));
            };
            let arguments = match params.and_then(|p| p.get("arguments")) {
                None | Some(Value::Null) => None,
                Some(Value::Object(a)) => Some(a),
                Some(_) => {
                    return Err(bad(format!(
                        "the arguments of tool {} are not an object",
                        printable(tool)
                    )));
                }
            };
            match self.inner.tools.get(tool.as_str()) {
                Some(templates) => fill_all(templates, arguments, &format!("tool {tool}"), out),
                None if self.inner.allow_unlisted_tools => Ok(()),
                None => Err(Rejection::new(
                    RejectionKind::Forbidden,
                    format!(
                        "tool {} has no scope requirement configured: not callable with an agent token",
                        printable(tool)
                    ),
                )),
            }
        } else if let Some(templates) = self.inner.methods.get(method) {
            fill_all(templates, params, &format!("method {method}"), out)
        } else {
            Ok(())
        }
    }
}

impl McpScopesBuilder {
    /// The scopes a call of tool `name` requires; `{arg}` placeholders are
    /// filled with the call's arguments. An empty list makes the tool
    /// callable with any valid token.
    ///
    /// ```
    /// let b = agentwrit_tower::McpScopes::builder()
    ///     .tool("get_customer_profile", &["read:data:customer-{customer_id}"])
    ///     .tool("ping_tool", &[] as &[&str]);
    /// # let _ = b;
    /// ```
    pub fn tool<S: AsRef<str>>(mut self, name: impl Into<String>, scopes: &[S]) -> Self {
        let name = name.into();
        match parse_all(scopes) {
            Ok(t) => {
                self.tools.insert(name, t);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// The scopes a request of JSON-RPC `method` requires (other than
    /// `tools/call`, which goes by tool); `{name}` placeholders are filled
    /// from its `params`.
    ///
    /// ```
    /// let b = agentwrit_tower::McpScopes::builder().method("tools/list", &["read:tools:catalog"]);
    /// # let _ = b;
    /// ```
    pub fn method<S: AsRef<str>>(mut self, method: impl Into<String>, scopes: &[S]) -> Self {
        let method = method.into();
        if method == "tools/call" {
            self.error.get_or_insert(ConfigError::ScopeTemplate(
                "tools/call is configured per tool, with .tool(..)".to_owned(),
            ));
            return self;
        }
        match parse_all(scopes) {
            Ok(t) => {
                self.methods.insert(method, t);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Lets a valid token call tools that are not listed (by default they
    /// are refused: a tool added to the server without a scope is not
    /// silently open).
    ///
    /// ```
    /// let b = agentwrit_tower::McpScopes::builder().allow_unlisted_tools();
    /// # let _ = b;
    /// ```
    pub fn allow_unlisted_tools(mut self) -> Self {
        self.allow_unlisted_tools = true;
        self
    }

    /// The largest request body read (default [`DEFAULT_MAX_BODY_BYTES`]);
    /// a larger one is refused with 413 before it is parsed.
    ///
    /// ```
    /// let b = agentwrit_tower::McpScopes::builder().max_body_bytes(64 * 1024);
    /// # let _ = b;
    /// ```
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Builds the requirements.
    ///
    /// ```
    /// let err = agentwrit_tower::McpScopes::builder().tool("t", &["read-data-{x}"]).build().unwrap_err();
    /// assert!(err.to_string().contains("read-data-{x}"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::ScopeTemplate`] for a template that is not
    /// `action:resource:identifier` (with placeholders filled), an
    /// unbalanced brace, or an empty placeholder name.
    pub fn build(self) -> Result<McpScopes, ConfigError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(McpScopes {
            inner: Arc::new(Inner {
                tools: self.tools,
                methods: self.methods,
                allow_unlisted_tools: self.allow_unlisted_tools,
                max_body_bytes: self.max_body_bytes,
            }),
        })
    }
}

/// The 413 for a body over `limit` bytes.
pub(crate) fn too_large(limit: usize) -> Rejection {
    Rejection::new(
        RejectionKind::PayloadTooLarge,
        format!("the request body exceeds {limit} bytes"),
    )
}

fn bad(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectionKind::BadRequest, detail)
}

/// A name from the request, safe to quote in a detail (bounded, printable).
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > 64 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests;
