//! Scope requirements that depend on the request, for a language's
//! middleware: an MCP server's per-tool scopes ([`McpToolScopes`]) and
//! scope templates filled from route parameters ([`ScopeRequirement`]).

use agentwrit_blocking::wire::Claims;
use agentwrit_tower_verify::{McpScopes, Rejection, RejectionKind, ScopeTemplates};

use super::{Refusal, Verifier, config_error};
use crate::error::Result;

/// The scopes an MCP server's JSON-RPC messages need: tower's
/// `McpScopes` (per tool, filled from the call's arguments; per method,
/// from `params`), decided by the broker's subset rule. A placeholder
/// value that would change the scope it fills is refused, never widened.
#[derive(Clone, Debug)]
pub struct McpToolScopes {
    scopes: McpScopes,
}

impl McpToolScopes {
    /// Requirements: `tools` and `methods` as (name, scope templates)
    /// pairs; unlisted tools refused unless `allow_unlisted_tools`; bodies
    /// over `max_body_bytes` refused (tower's default when `None`).
    ///
    /// # Errors
    ///
    /// A template that is not a scope.
    pub fn new(
        tools: Vec<(String, Vec<String>)>,
        methods: Vec<(String, Vec<String>)>,
        allow_unlisted_tools: bool,
        max_body_bytes: Option<usize>,
    ) -> Result<McpToolScopes> {
        let mut builder = McpScopes::builder();
        for (name, scopes) in tools {
            builder = builder.tool(name, &scopes);
        }
        for (name, scopes) in methods {
            builder = builder.method(name, &scopes);
        }
        if allow_unlisted_tools {
            builder = builder.allow_unlisted_tools();
        }
        if let Some(n) = max_body_bytes {
            builder = builder.max_body_bytes(n);
        }
        let scopes = builder.build().map_err(|e| config_error("scopes", &e))?;
        Ok(McpToolScopes { scopes })
    }

    /// The scope families the requirements name (for `scopes_supported`).
    #[must_use]
    pub fn scope_families(&self) -> Vec<String> {
        self.scopes.scope_families()
    }

    /// The largest body decided on (a larger one is refused with 413).
    #[must_use]
    pub fn max_body_bytes(&self) -> usize {
        self.scopes.max_body_bytes()
    }

    /// The whole decision on `body` for a verified token holding `held`,
    /// as the MCP layer of `agentwrit-tower` makes it (one parse of the
    /// body): the required scopes, or the refusal (with `verifier`'s
    /// `resource_metadata`, and `instance`, the request path, in its
    /// problem) and the request's JSON-RPC `id` when the body is one
    /// request (for the error response). With usage recording on, the
    /// scope decision is recorded for the token `jti` (allowed, or denied
    /// naming the missing scopes; nothing without a `jti`, e.g. claims from
    /// another verifier).
    ///
    /// Every shell decides here: Python's `McpAuth`/`ToolScopes` and
    /// Node's `mcpToolScopes`.
    ///
    /// The refusal is a 403 `insufficient_scope` naming every needed
    /// scope, a 403 `forbidden` for an unlisted tool, a 400 for a body that
    /// is not usable JSON-RPC or an unusable placeholder value, a 413 over
    /// the limit.
    #[must_use]
    pub fn decide(
        &self,
        verifier: &Verifier,
        body: &[u8],
        jti: Option<&str>,
        held: &[String],
        instance: Option<String>,
    ) -> McpDecision {
        let (id, verdict) = self.scopes.authorize_with_id(body, held);
        if let Some(jti) = jti {
            record_decision(verifier, jti, &verdict);
        }
        match verdict {
            Ok(required) => McpDecision {
                id: None,
                verdict: Ok(required),
            },
            Err(rejection) => {
                let rejection = verifier.attach_rejection(rejection);
                let rejection = match instance {
                    Some(instance) => rejection.with_instance(instance),
                    None => rejection,
                };
                McpDecision {
                    id,
                    verdict: Err(Box::new(rejection.into())),
                }
            }
        }
    }
}

/// Records an MCP scope decision for the token `jti`, as tower's MCP layer
/// does: the required scopes allowed, or the scopes an
/// `insufficient_scope` refusal names denied (other refusals decide no
/// scope).
fn record_decision(
    verifier: &Verifier,
    jti: &str,
    verdict: &std::result::Result<Vec<String>, Rejection>,
) {
    match verdict {
        Ok(required) if !required.is_empty() => verifier.record(jti, required, true),
        Err(r) if r.kind() == RejectionKind::InsufficientScope => {
            let required: Vec<&str> = r
                .required_scope()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            verifier.record(jti, &required, false);
        }
        _ => {}
    }
}

/// [`McpToolScopes::decide`]'s answer.
#[derive(Debug)]
pub struct McpDecision {
    /// The request's JSON-RPC `id` when refused and the body was one
    /// request (`None` otherwise).
    pub id: Option<serde_json::Value>,
    /// The scopes required (all held), or the refusal.
    pub verdict: std::result::Result<Vec<String>, Box<Refusal>>,
}

/// Scope templates filled from named text values, such as an HTTP
/// route's path parameters (`read:data:customer-{customer_id}`): tower's
/// `ScopeTemplates`, with the placeholder rules of the MCP scopes (a
/// value holding `:`, `*`, whitespace, quotes, control or non-ASCII
/// characters, empty or too long, is refused with 400, never filled in).
#[derive(Clone, Debug)]
pub struct ScopeRequirement {
    templates: ScopeTemplates,
}

impl ScopeRequirement {
    /// The requirement of every template in `templates`.
    ///
    /// # Errors
    ///
    /// A template that is not a scope.
    pub fn new(templates: &[String]) -> Result<ScopeRequirement> {
        let templates = ScopeTemplates::new(templates).map_err(|e| config_error("scopes", &e))?;
        Ok(ScopeRequirement { templates })
    }

    /// The placeholder names the templates use.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.templates.names()
    }

    /// Fills the templates with `values` and decides them for the
    /// verified `claims` with [`Verifier::check_scopes`] (recorded with
    /// usage recording on): the required scopes, or the refusal (400 for a
    /// value that cannot fill a scope, 500 for a placeholder without a
    /// value, 403 `insufficient_scope` naming the scopes).
    ///
    /// # Errors
    ///
    /// The refusal.
    pub fn check(
        &self,
        verifier: &Verifier,
        claims: &Claims,
        values: &[(String, String)],
        instance: Option<String>,
    ) -> std::result::Result<Vec<String>, Box<Refusal>> {
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let required = self.templates.fill(&pairs).map_err(|rejection| {
            let rejection = verifier.attach_rejection(rejection);
            Box::new(Refusal::from(match &instance {
                Some(instance) => rejection.with_instance(instance.as_str()),
                None => rejection,
            }))
        })?;
        verifier.check_scopes(&claims.jti, &claims.scope, &required, instance)?;
        Ok(required)
    }
}
