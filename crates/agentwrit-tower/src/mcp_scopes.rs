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

/// A scope template: literal text and `{name}` placeholders.
#[derive(Clone, Debug)]
struct Template {
    raw: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Literal(String),
    Param(String),
}

fn parse_all<S: AsRef<str>>(scopes: &[S]) -> Result<Vec<Template>, ConfigError> {
    scopes.iter().map(|s| Template::parse(s.as_ref())).collect()
}

impl Template {
    fn parse(raw: &str) -> Result<Self, ConfigError> {
        let err = |why: &str| ConfigError::ScopeTemplate(format!("{raw:?}: {why}"));
        let mut parts = Vec::new();
        let mut rest = raw;
        while let Some(open) = rest.find(['{', '}']) {
            if rest.as_bytes()[open] == b'}' {
                return Err(err("a '}' without its '{'"));
            }
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| err("a '{' without its '}'"))?;
            let name = &after[..close];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(err("a placeholder name is ASCII letters, digits and '_'"));
            }
            parts.push(Part::Param(name.to_owned()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        let template = Template {
            raw: raw.to_owned(),
            parts,
        };
        // Filled with a plain value, it must be a valid scope.
        let sample = template.fill_with(|_| Ok("x".to_owned()))?;
        agentwrit_scope::Scope::parse(&sample)
            .map_err(|e| err(&format!("not action:resource:identifier ({e})")))?;
        Ok(template)
    }

    fn fill_with<E>(&self, mut value: impl FnMut(&str) -> Result<String, E>) -> Result<String, E> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Param(name) => out.push_str(&value(name)?),
            }
        }
        Ok(out)
    }

    /// The template with a placeholder-filled identifier as `*`.
    fn family(&self) -> String {
        let sample = self
            .fill_with(|_| Ok::<_, ()>("\u{0}".to_owned()))
            .unwrap_or_default();
        match agentwrit_scope::Scope::parse(&sample) {
            Ok(scope) if scope.identifier().contains('\u{0}') => {
                format!("{}:{}:*", scope.action(), scope.resource())
            }
            _ => self.raw.clone(),
        }
    }
}

fn fill_all(
    templates: &[Template],
    args: Option<&Map<String, Value>>,
    what: &str,
    out: &mut Vec<String>,
) -> Result<(), Rejection> {
    for template in templates {
        let scope = template.fill_with(|name| {
            let value = args.and_then(|a| a.get(name)).ok_or_else(|| {
                bad(format!(
                    "{} needs argument {name} to decide its scope",
                    printable(what)
                ))
            })?;
            placeholder_value(value).map_err(|why| {
                bad(format!(
                    "argument {name} of {} cannot fill a scope: {why}",
                    printable(what)
                ))
            })
        })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(())
}

/// The text a JSON value fills a placeholder with, or why it cannot.
fn placeholder_value(value: &Value) -> Result<String, &'static str> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(_) => return Err("a number that is not an integer"),
        _ => return Err("not a string or an integer"),
    };
    placeholder_text(&text)?;
    Ok(text)
}

/// Why `text` cannot fill a placeholder, if it cannot: it would change
/// the shape or the reach of the scope it fills.
fn placeholder_text(text: &str) -> Result<(), &'static str> {
    if text.is_empty() {
        return Err("it is empty");
    }
    if text.len() > MAX_PLACEHOLDER_VALUE_LEN {
        return Err("it is longer than 256 bytes");
    }
    for b in text.bytes() {
        match b {
            b':' => return Err("it contains ':'"),
            b'*' => return Err("it contains '*'"),
            b'"' | b'\\' => return Err("it contains a quote or backslash"),
            0x21..=0x7E => {}
            _ => return Err("it contains whitespace, a control or a non-ASCII character"),
        }
    }
    Ok(())
}

/// Scope templates filled from named text values, such as an HTTP route's
/// path parameters (`read:data:customer-{customer_id}` on
/// `/customers/{customer_id}`), by the rules of [`McpScopes`]'
/// placeholders: a value holding `:`, `*`, whitespace, a quote or
/// backslash, a control or non-ASCII character, empty or over
/// [`MAX_PLACEHOLDER_VALUE_LEN`] bytes is refused (400), never filled in,
/// so a value can never widen the scope it fills.
///
/// A plain value with no tower or axum type: what a Python or Node
/// per-route requirement (`require_scope`) decides with, through a
/// binding. (`RequireScopes`, axum's per-route layer, fills
/// percent-decoded path parameters as they are.)
///
/// ```
/// use agentwrit_tower::{RejectionKind, ScopeTemplates};
///
/// let templates = ScopeTemplates::new(&["read:data:customer-{customer_id}"])?;
/// assert_eq!(templates.names(), ["customer_id"]);
/// assert_eq!(templates.fill(&[("customer_id", "cust-7291")])?, ["read:data:customer-cust-7291"]);
/// // A value that would widen the scope is refused, not filled in.
/// let wild = templates.fill(&[("customer_id", "*")]).unwrap_err();
/// assert_eq!((wild.status().as_u16(), wild.kind()), (400, RejectionKind::BadRequest));
/// // A template naming a value the request does not have: fail closed.
/// assert_eq!(templates.fill(&[]).unwrap_err().status(), 500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ScopeTemplates {
    templates: Arc<[Template]>,
}

impl ScopeTemplates {
    /// The templates (each `action:resource:identifier`, with `{name}`
    /// placeholders).
    ///
    /// ```
    /// assert!(agentwrit_tower::ScopeTemplates::new(&["read-data-{x}"]).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::ScopeTemplate`], as [`McpScopesBuilder::build`].
    pub fn new<S: AsRef<str>>(templates: &[S]) -> Result<Self, ConfigError> {
        Ok(ScopeTemplates {
            templates: parse_all(templates)?.into(),
        })
    }

    /// The placeholder names, in order of appearance, without duplicates.
    ///
    /// ```
    /// let t = agentwrit_tower::ScopeTemplates::new(&["write:data:order-{order_id}", "read:data:{order_id}-{line}"])?;
    /// assert_eq!(t.names(), ["order_id", "line"]);
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for template in self.templates.iter() {
            for part in &template.parts {
                if let Part::Param(name) = part
                    && !names.contains(name)
                {
                    names.push(name.clone());
                }
            }
        }
        names
    }

    /// The scopes for these (name, value) pairs, without duplicates.
    ///
    /// ```
    /// let t = agentwrit_tower::ScopeTemplates::new(&["read:analytics:{tenant}"])?;
    /// let bad = t.fill(&[("tenant", "bank:all")]).unwrap_err();
    /// assert_eq!(bad.detail(), "parameter tenant cannot fill a scope: it contains ':'");
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A 400 [`Rejection`] ([`RejectionKind::BadRequest`]) for a value that
    /// cannot fill its placeholder; a 500 ([`RejectionKind::Misconfigured`])
    /// for a placeholder with no value.
    pub fn fill(&self, values: &[(&str, &str)]) -> Result<Vec<String>, Rejection> {
        let mut out: Vec<String> = Vec::with_capacity(self.templates.len());
        for template in self.templates.iter() {
            let scope = template.fill_with(|name| {
                let value = values
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| *v)
                    .ok_or_else(|| {
                        Rejection::new(
                            RejectionKind::Misconfigured,
                            format!(
                                "the scope template names {{{name}}}, which this request does not have"
                            ),
                        )
                    })?;
                placeholder_text(value).map_err(|why| {
                    bad(format!("parameter {name} cannot fill a scope: {why}"))
                })?;
                Ok(value.to_owned())
            })?;
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn scopes() -> McpScopes {
        McpScopes::builder()
            .tool(
                "get_customer_profile",
                &["read:data:customer-{customer_id}"],
            )
            .tool(
                "write_order",
                &[
                    "write:data:order-{order_id}",
                    "read:data:customer-{customer_id}",
                ],
            )
            .tool("tenant_report", &["read:analytics:{tenant}"])
            .tool("open_tool", &[] as &[&str])
            .method("resources/read", &["read:docs:{name}"])
            .build()
            .unwrap()
    }

    fn call(tool: &str, args: &Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": args},
        }))
        .unwrap()
    }

    fn detail(r: Result<Vec<String>, Rejection>) -> (u16, String) {
        let r = r.unwrap_err();
        (r.status().as_u16(), r.detail().to_owned())
    }

    #[test]
    fn tools_methods_and_other_messages() {
        let s = scopes();

        assert_eq!(
            s.required_scopes(&call(
                "get_customer_profile",
                &serde_json::json!({"customer_id": "cust-7291"})
            ))
            .unwrap(),
            ["read:data:customer-cust-7291"]
        );
        assert_eq!(
            s.required_scopes(&call(
                "write_order",
                &serde_json::json!({"order_id": 4823, "customer_id": "c-1", "x": [1]})
            ))
            .unwrap(),
            ["write:data:order-4823", "read:data:customer-c-1"]
        );
        assert!(
            s.required_scopes(&call("open_tool", &serde_json::json!({})))
                .unwrap()
                .is_empty()
        );
        for other in [
            serde_json::json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}),
            serde_json::json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}),
            serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
            serde_json::json!({"jsonrpc":"2.0","id":5,"result":{}}),
        ] {
            let body = serde_json::to_vec(&other).unwrap();
            assert!(s.required_scopes(&body).unwrap().is_empty(), "{other}");
        }
        let read = br#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"name":"faq"}}"#;
        assert_eq!(s.required_scopes(read).unwrap(), ["read:docs:faq"]);
        assert_eq!(
            s.scope_families(),
            [
                "read:analytics:*",
                "read:data:*",
                "read:docs:*",
                "write:data:*"
            ]
        );
    }

    #[test]
    fn values_that_would_change_the_scope_are_refused() {
        let s = scopes();

        for (value, why) in [
            (serde_json::json!("*"), "it contains '*'"),
            (serde_json::json!("cust-*"), "it contains '*'"),
            (serde_json::json!("a:b"), "it contains ':'"),
            (serde_json::json!("cust 7291"), "whitespace"),
            (serde_json::json!("cust\n7291"), "whitespace"),
            (serde_json::json!("caf\u{e9}"), "non-ASCII"),
            (serde_json::json!("a\"b"), "quote"),
            (serde_json::json!(""), "empty"),
            (serde_json::json!("x".repeat(257)), "longer than 256"),
            (serde_json::json!(1.5), "not an integer"),
            (serde_json::json!(true), "not a string or an integer"),
            (serde_json::json!(null), "not a string or an integer"),
            (serde_json::json!({"id": 1}), "not a string or an integer"),
            (serde_json::json!(["a"]), "not a string or an integer"),
        ] {
            let (status, d) = detail(s.required_scopes(&call(
                "get_customer_profile",
                &serde_json::json!({"customer_id": value}),
            )));
            assert_eq!(status, 400, "{value}");
            assert!(d.contains(why), "{value}: {d}");
            assert!(
                d.starts_with("argument customer_id of tool get_customer_profile"),
                "{d}"
            );
        }
        assert!(
            s.required_scopes(&call(
                "get_customer_profile",
                &serde_json::json!({"customer_id": "x".repeat(256)})
            ))
            .is_ok()
        );
        assert!(
            s.required_scopes(&call(
                "get_customer_profile",
                &serde_json::json!({"customer_id": -7})
            ))
            .is_ok()
        );
        let (status, d) =
            detail(s.required_scopes(&call("get_customer_profile", &serde_json::json!({}))));
        assert_eq!(status, 400);
        assert_eq!(
            d,
            "tool get_customer_profile needs argument customer_id to decide its scope"
        );
    }

    #[test]
    fn malformed_bodies_unlisted_tools_and_batches() {
        let s = scopes();
        let cases: &[(&[u8], u16, &str)] = &[
            (b"", 400, "the body is not JSON"),
            (b"{\"jsonrpc\":", 400, "the body is not JSON"),
            (b"42", 400, "not a JSON-RPC message"),
            (b"[]", 400, "an empty JSON-RPC batch"),
            (b"[1]", 400, "batch element is not an object"),
            (br#"{"method":7}"#, 400, "method is not a string"),
            (
                br#"{"method":"tools/call","params":[1]}"#,
                400,
                "params of tools/call are not an object",
            ),
            (
                br#"{"method":"tools/call","params":{}}"#,
                400,
                "without a tool name",
            ),
            (
                br#"{"method":"tools/call","params":{"name":5}}"#,
                400,
                "without a tool name",
            ),
            (
                br#"{"method":"tools/call","params":{"name":"write_order","arguments":"x"}}"#,
                400,
                "arguments of tool write_order are not an object",
            ),
            (
                br#"{"method":"tools/call","params":{"name":"rm_rf"}}"#,
                403,
                "tool rm_rf has no scope requirement configured",
            ),
        ];
        for (body, status, text) in cases {
            let (got, d) = detail(s.required_scopes(body));
            assert_eq!(got, *status, "{}", String::from_utf8_lossy(body));
            assert!(d.contains(text), "{}: {d}", String::from_utf8_lossy(body));
        }
        // A parse error is JSON-RPC's -32700, other 400s -32600.
        let parse = s.required_scopes(b"nope").unwrap_err();
        let v: Value = serde_json::from_slice(&parse.jsonrpc_body(None)).unwrap();
        assert_eq!(v["error"]["code"], -32700);
        let shape = s.required_scopes(b"42").unwrap_err();
        let v: Value = serde_json::from_slice(&shape.jsonrpc_body(None)).unwrap();
        assert_eq!(v["error"]["code"], -32600);
        // Unlisted tools can be opened explicitly.
        let open = McpScopes::builder().allow_unlisted_tools().build().unwrap();
        assert!(
            open.required_scopes(br#"{"method":"tools/call","params":{"name":"rm_rf"}}"#)
                .unwrap()
                .is_empty()
        );
        // Batches: the union, and one refusal refuses all.
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"bank"}}},
                         {"jsonrpc":"2.0","id":2,"method":"tools/list"},
                         {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"retail"}}},
                         {"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"bank"}}}]"#;
        assert_eq!(
            s.required_scopes(batch).unwrap(),
            ["read:analytics:bank", "read:analytics:retail"]
        );
        let (id, verdict) = s.authorize_with_id(batch, &["read:analytics:bank"]);
        assert_eq!(id, None);
        assert_eq!(
            verdict.unwrap_err().required_scope(),
            Some("read:analytics:bank read:analytics:retail")
        );
        assert!(s.authorize(batch, &["read:analytics:*"]).is_ok());
        let mixed = br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tenant_report","arguments":{"tenant":"*"}}}]"#;
        assert_eq!(detail(s.required_scopes(mixed)).0, 400);
    }

    #[test]
    fn the_body_limit_is_exact() {
        let s = McpScopes::builder()
            .max_body_bytes(16)
            .allow_unlisted_tools()
            .build()
            .unwrap();
        assert!(s.required_scopes(br#"{"method":"xyz"}"#).is_ok()); // 16 bytes
        let r = s.required_scopes(br#"{"method":"xyzw"}"#).unwrap_err();
        assert_eq!(r.status(), 413);
        assert_eq!(r.detail(), "the request body exceeds 16 bytes");
    }

    #[test]
    fn the_id_comes_back_for_a_single_request() {
        let s = scopes();
        let (id, verdict) = s.authorize_with_id(
            &call("tenant_report", &serde_json::json!({"tenant": "bank"})),
            &["read:analytics:retail"],
        );
        assert_eq!(id, Some(serde_json::json!(1)));
        assert_eq!(verdict.unwrap_err().status(), 403);
    }

    #[test]
    fn bad_templates_are_configuration_errors() {
        for bad in [
            "read-data-{x}",
            "read:data:{",
            "read:data:}",
            "read:data:{}",
            "read:data:{a-b}",
            "read::{x}",
            "",
        ] {
            let err = McpScopes::builder().tool("t", &[bad]).build().unwrap_err();
            assert!(
                matches!(err, ConfigError::ScopeTemplate(_)),
                "{bad}: {err:?}"
            );
        }
        let err = McpScopes::builder()
            .method("tools/call", &["a:b:c"])
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("per tool"));
        assert!(
            McpScopes::builder()
                .tool("t", &["{a}:{b}:{c}"])
                .build()
                .is_ok()
        );
    }

    #[test]
    fn a_detail_never_echoes_an_unbounded_or_unprintable_name() {
        let s = scopes();
        let long = "t".repeat(10_000);
        let body = call(&format!("{long}\u{7}"), &serde_json::json!({}));
        let (_, d) = detail(s.required_scopes(&body));
        assert!(d.len() < 200, "{d}");
        assert!(d.is_ascii());
    }
}
