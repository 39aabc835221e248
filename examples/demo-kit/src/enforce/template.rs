//! Scope templates: the scope a tool requires, written over its
//! arguments (`read:billing:{customer_id}`), and what became of a call.

use serde_json::{Value, json};

use crate::planner::{ToolCall, ToolSpec};

/// Replaces each `{name}` in `template` with its value from `vars`
/// (first match wins); unknown placeholders stay as they are.
///
/// ```
/// use agentwrit_demo_kit::render_scope;
/// assert_eq!(render_scope("read:billing:{customer_id}", &[("customer_id", "jane-doe")]), "read:billing:jane-doe");
/// assert_eq!(render_scope("read:kb:*", &[]), "read:kb:*");
/// ```
#[must_use]
pub fn render_scope(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// A tool as the app knows it: the spec offered to the planner and the
/// scope it requires, as templates over its arguments (`{customer_id}` is
/// filled from the call's `customer_id` argument, else from the defaults
/// given to [`ToolDef::required_scope`]).
///
/// ```
/// use agentwrit_demo_kit::{ToolCall, ToolDef, ToolSpec};
/// use serde_json::json;
/// let tool = ToolDef::new(
///     ToolSpec::new("get_balance", "balance", json!({"type": "object"})),
///     ["read:billing:{customer_id}"],
/// );
/// let call = ToolCall::new("c1", "get_balance", json!({"customer_id": "lewis-smith"}));
/// // The call's own argument decides what it needs: another customer's id
/// // needs another customer's scope.
/// assert_eq!(tool.required_scope(&call, &[("customer_id", "jane-doe")]), ["read:billing:lewis-smith"]);
/// let call = ToolCall::new("c2", "get_balance", json!({}));
/// assert_eq!(tool.required_scope(&call, &[("customer_id", "jane-doe")]), ["read:billing:jane-doe"]);
/// ```
#[derive(Clone, Debug)]
pub struct ToolDef {
    /// What the planner sees.
    pub spec: ToolSpec,
    /// Required scope templates.
    pub scope: Vec<String>,
}

impl ToolDef {
    /// A tool with its scope templates.
    pub fn new<I, S>(spec: ToolSpec, scope: I) -> ToolDef
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ToolDef {
            spec,
            scope: scope.into_iter().map(Into::into).collect(),
        }
    }

    /// The scope `call` needs: each template filled from the call's string
    /// arguments first, then from `defaults`.
    #[must_use]
    pub fn required_scope(&self, call: &ToolCall, defaults: &[(&str, &str)]) -> Vec<String> {
        let from_call: Vec<(&str, &str)> = call
            .arguments
            .as_object()
            .map(|args| {
                args.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.as_str(), s)))
                    .collect()
            })
            .unwrap_or_default();
        self.scope
            .iter()
            .map(|t| render_scope(&render_scope(t, &from_call), defaults))
            .collect()
    }
}

/// What became of a proposed tool call.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolOutcome {
    /// The scope check passed and the tool returned this.
    Ran(Value),
    /// The scope check failed; the tool did not run.
    Denied {
        /// The scope the call needed.
        required: Vec<String>,
        /// The scope in the agent's token claims.
        held: Vec<String>,
    },
    /// Allowed, but the tool failed, or there was no agent for the role.
    Failed(String),
}

impl ToolOutcome {
    /// Whether the scope check refused the call.
    #[must_use]
    pub fn is_denied(&self) -> bool {
        matches!(self, ToolOutcome::Denied { .. })
    }

    /// The text handed back to the planner as the tool's result: the
    /// result JSON, or `{"error":"scope_denied",...}`.
    ///
    /// ```
    /// use agentwrit_demo_kit::ToolOutcome;
    /// let denied = ToolOutcome::Denied { required: vec!["delete:account:x".into()], held: vec![] };
    /// assert!(denied.planner_content().contains("scope_denied"));
    /// ```
    #[must_use]
    pub fn planner_content(&self) -> String {
        match self {
            ToolOutcome::Ran(v) => v.to_string(),
            ToolOutcome::Denied { required, .. } => json!({
                "error": "scope_denied",
                "detail": format!("this agent's credential does not cover {}", required.join(", ")),
            })
            .to_string(),
            ToolOutcome::Failed(e) => json!({"error": "tool_failed", "detail": e}).to_string(),
        }
    }
}
