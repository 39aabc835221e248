//! Scope templates: `action:resource:{name}` with placeholders filled from
//! a request, refusing any value that could widen the scope it fills.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{MAX_PLACEHOLDER_VALUE_LEN, bad, printable};
use crate::{ConfigError, Rejection, RejectionKind};

/// A scope template: literal text and `{name}` placeholders.
#[derive(Clone, Debug)]
pub(super) struct Template {
    raw: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Literal(String),
    Param(String),
}

pub(super) fn parse_all<S: AsRef<str>>(scopes: &[S]) -> Result<Vec<Template>, ConfigError> {
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
    pub(super) fn family(&self) -> String {
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

pub(super) fn fill_all(
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
/// `/customers/{customer_id}`), by the rules of [`McpScopes`](crate::McpScopes)'
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
    /// [`ConfigError::ScopeTemplate`], as [`McpScopesBuilder::build`](crate::McpScopesBuilder::build).
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
