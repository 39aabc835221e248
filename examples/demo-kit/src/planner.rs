//! The planner: what stands where the LLM sits.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A boxed `Send` future, the return type of [`Planner::plan`] (so that
/// `Arc<dyn Planner>` works).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A tool offered to the planner: name, description and JSON schema of its
/// arguments (the OpenAI `function` shape).
///
/// ```
/// use agentwrit_demo_kit::ToolSpec;
/// use serde_json::json;
/// let spec = ToolSpec::new("get_balance", "A customer's balance.", json!({
///     "type": "object",
///     "properties": { "customer_id": { "type": "string" } },
///     "required": ["customer_id"],
/// }));
/// assert_eq!(spec.name, "get_balance");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Name the planner calls it by.
    pub name: String,
    /// What it does (the LLM reads this).
    pub description: String,
    /// JSON schema of its arguments object.
    pub parameters: Value,
}

impl ToolSpec {
    /// A tool spec.
    #[must_use]
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        ToolSpec {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }
}

/// A tool call proposed by the planner.
///
/// ```
/// use agentwrit_demo_kit::ToolCall;
/// use serde_json::json;
/// let call = ToolCall::new("call-1", "get_balance", json!({"customer_id": "jane-doe"}));
/// assert_eq!(call.str_arg("customer_id"), Some("jane-doe"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call id (echoed back with the result).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments object.
    pub arguments: Value,
}

impl ToolCall {
    /// A tool call.
    #[must_use]
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
        }
    }

    /// The string argument `key`, if present.
    #[must_use]
    pub fn str_arg(&self, key: &str) -> Option<&str> {
        self.arguments.get(key).and_then(Value::as_str)
    }
}

/// One message of the conversation the planner sees.
///
/// ```
/// use agentwrit_demo_kit::Message;
/// let m = Message::user("I was double-charged");
/// assert!(matches!(m, Message::User { .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// Instructions.
    System {
        /// Text.
        content: String,
    },
    /// The user's words (the ticket, the question).
    User {
        /// Text.
        content: String,
    },
    /// The planner's earlier turn.
    Assistant {
        /// Text, if any.
        content: Option<String>,
        /// Tool calls, if any.
        tool_calls: Vec<ToolCall>,
    },
    /// A tool's result (or `scope_denied`), for the call `call_id`.
    Tool {
        /// The call it answers.
        call_id: String,
        /// Tool name.
        name: String,
        /// Result text (JSON).
        content: String,
    },
}

impl Message {
    /// A system message.
    #[must_use]
    pub fn system(content: impl Into<String>) -> Message {
        Message::System {
            content: content.into(),
        }
    }

    /// A user message.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Message {
        Message::User {
            content: content.into(),
        }
    }
}

/// What the planner is asked: which agent role it plans for, the
/// conversation so far and the tools it may call.
#[derive(Clone, Copy, Debug)]
pub struct PlanRequest<'a> {
    /// The agent role (`"triage"`, `"records"`, ...).
    pub role: &'a str,
    /// The conversation, oldest first.
    pub messages: &'a [Message],
    /// The tools on offer (all of them, dangerous ones included).
    pub tools: &'a [ToolSpec],
}

impl<'a> PlanRequest<'a> {
    /// The first user message's text ("" if none): what an offline planner
    /// keys its script on.
    ///
    /// ```
    /// use agentwrit_demo_kit::{Message, PlanRequest};
    /// let messages = [Message::system("be brief"), Message::user("delete my account")];
    /// let req = PlanRequest { role: "response", messages: &messages, tools: &[] };
    /// assert_eq!(req.user_text(), "delete my account");
    /// ```
    #[must_use]
    pub fn user_text(&self) -> &'a str {
        self.messages
            .iter()
            .find_map(|m| match m {
                Message::User { content } => Some(content.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }

    /// The tool results so far, oldest first, as `(tool name, content)`.
    ///
    /// ```
    /// use agentwrit_demo_kit::{Message, PlanRequest};
    /// let messages = [
    ///     Message::user("x"),
    ///     Message::Tool { call_id: "1".into(), name: "get_balance".into(), content: "{}".into() },
    /// ];
    /// let req = PlanRequest { role: "response", messages: &messages, tools: &[] };
    /// assert_eq!(req.tool_results().collect::<Vec<_>>(), [("get_balance", "{}")]);
    /// ```
    pub fn tool_results(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.messages.iter().filter_map(|m| match m {
            Message::Tool { name, content, .. } => Some((name.as_str(), content.as_str())),
            _ => None,
        })
    }

    /// How many assistant turns came before this one.
    #[must_use]
    pub fn turn(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| matches!(m, Message::Assistant { .. }))
            .count()
    }
}

/// The planner's answer: tool calls to make, or a final text.
#[derive(Clone, Debug, PartialEq)]
pub enum PlannerReply {
    /// Run these tools (in order) and ask again with their results.
    ToolCalls(Vec<ToolCall>),
    /// Done; this is the answer.
    Final(String),
}

/// Why the planner could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlannerError {
    /// The LLM endpoint answered with an error status.
    #[error("LLM endpoint returned HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The endpoint's error message (bounded excerpt).
        message: String,
    },
    /// No answer within the timeout.
    #[error("LLM endpoint timed out")]
    Timeout,
    /// The request could not be sent or the answer not read.
    #[error("LLM endpoint unreachable: {0}")]
    Transport(String),
    /// The answer was not a chat completion we understand.
    #[error("LLM answer not understood: {0}")]
    Decode(String),
    /// Bad configuration (URL, model).
    #[error("LLM configuration: {0}")]
    Config(String),
}

/// The LLM behind a small trait: given the conversation and the tools,
/// propose tool calls or a final answer. Object-safe: apps hold an
/// `Arc<dyn Planner>` and pick the offline script or an LLM at start.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use agentwrit_demo_kit::{FnPlanner, Message, PlanRequest, Planner, PlannerReply, ToolCall};
/// use serde_json::json;
///
/// let planner = FnPlanner::new("offline", |req: &PlanRequest<'_>| {
///     if req.turn() == 0 {
///         PlannerReply::ToolCalls(vec![ToolCall::new("c1", "delete_account", json!({"customer_id": "jane-doe"}))])
///     } else {
///         PlannerReply::Final("I cannot do that.".into())
///     }
/// });
/// let messages = [Message::user("delete my account")];
/// let reply = planner.plan(PlanRequest { role: "response", messages: &messages, tools: &[] }).await.unwrap();
/// assert!(matches!(reply, PlannerReply::ToolCalls(ref calls) if calls[0].name == "delete_account"));
/// assert_eq!(planner.name(), "offline");
/// # }
/// ```
pub trait Planner: Send + Sync {
    /// Short name shown in the trace (`offline`, the model name).
    fn name(&self) -> String;

    /// One planning turn.
    fn plan<'a>(
        &'a self,
        request: PlanRequest<'a>,
    ) -> BoxFuture<'a, Result<PlannerReply, PlannerError>>;
}

/// A planner from a plain function: the offline, deterministic planners
/// are written this way (a script keyed on the user text and the turn).
pub struct FnPlanner<F> {
    name: String,
    script: F,
}

impl<F> FnPlanner<F>
where
    F: Fn(&PlanRequest<'_>) -> PlannerReply + Send + Sync,
{
    /// A planner named `name` that answers with `script`.
    pub fn new(name: impl Into<String>, script: F) -> Self {
        FnPlanner {
            name: name.into(),
            script,
        }
    }
}

impl<F> std::fmt::Debug for FnPlanner<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FnPlanner")
            .field("name", &self.name)
            .finish()
    }
}

impl<F> Planner for FnPlanner<F>
where
    F: Fn(&PlanRequest<'_>) -> PlannerReply + Send + Sync,
{
    fn name(&self) -> String {
        self.name.clone()
    }

    fn plan<'a>(
        &'a self,
        request: PlanRequest<'a>,
    ) -> BoxFuture<'a, Result<PlannerReply, PlannerError>> {
        let reply = (self.script)(&request);
        Box::pin(async move { Ok(reply) })
    }
}
