//! An OpenAI-compatible chat-completions client with tool calling.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use crate::planner::{
    BoxFuture, Message, PlanRequest, Planner, PlannerError, PlannerReply, ToolCall,
};

/// How long one completion may take by default.
pub const DEFAULT_LLM_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest excerpt of an error body kept in [`PlannerError::Status`].
const EXCERPT: usize = 300;

/// A [`Planner`] that asks any OpenAI-compatible `/chat/completions`
/// endpoint (OpenAI, a local vLLM or llama.cpp server, ...) with the
/// tools in the function-calling format. The API key is sent as a bearer
/// token and never shown (`Debug` redacts it, errors do not carry it).
///
/// ```
/// use agentwrit_demo_kit::OpenAiPlanner;
///
/// let planner = OpenAiPlanner::new("http://127.0.0.1:8000/v1", Some("sk-test".into()), "qwen2.5")?;
/// assert!(!format!("{planner:?}").contains("sk-test"));
/// # Ok::<(), agentwrit_demo_kit::PlannerError>(())
/// ```
#[derive(Clone)]
pub struct OpenAiPlanner {
    client: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
    model: String,
}

impl fmt::Debug for OpenAiPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiPlanner")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .finish()
    }
}

impl OpenAiPlanner {
    /// A client for `base_url` (e.g. `https://api.openai.com/v1`; the
    /// request goes to `{base_url}/chat/completions`) and `model`, with
    /// [`DEFAULT_LLM_TIMEOUT`].
    ///
    /// # Errors
    ///
    /// [`PlannerError::Config`] for an empty URL or model.
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: &str,
    ) -> Result<OpenAiPlanner, PlannerError> {
        Self::with_timeout(base_url, api_key, model, DEFAULT_LLM_TIMEOUT)
    }

    /// As [`OpenAiPlanner::new`] with a per-request timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use agentwrit_demo_kit::OpenAiPlanner;
    /// let p = OpenAiPlanner::with_timeout("http://127.0.0.1:9/v1", None, "m", Duration::from_secs(2))?;
    /// # drop(p);
    /// # Ok::<(), agentwrit_demo_kit::PlannerError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`PlannerError::Config`] for an empty URL or model, or a client that
    /// cannot be built.
    pub fn with_timeout(
        base_url: &str,
        api_key: Option<String>,
        model: &str,
        timeout: Duration,
    ) -> Result<OpenAiPlanner, PlannerError> {
        let base = base_url.trim().trim_end_matches('/');
        if base.is_empty() {
            return Err(PlannerError::Config("LLM_BASE_URL is empty".into()));
        }
        if model.trim().is_empty() {
            return Err(PlannerError::Config("LLM_MODEL is empty".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| PlannerError::Config(format!("HTTP client: {e}")))?;
        Ok(OpenAiPlanner {
            client,
            endpoint: format!("{base}/chat/completions"),
            api_key: api_key.filter(|k| !k.is_empty()),
            model: model.trim().to_owned(),
        })
    }

    /// From `LLM_BASE_URL`, `LLM_API_KEY` (optional) and `LLM_MODEL`
    /// (default `gpt-4o-mini`): `None` when `LLM_BASE_URL` and `LLM_API_KEY`
    /// are both unset, so the app falls back to its offline planner.
    /// `LLM_TIMEOUT_SECS` overrides the timeout.
    ///
    /// ```
    /// // With none of the variables set there is no LLM planner.
    /// # // SAFETY of the test: doc tests run in their own process.
    /// if std::env::var_os("LLM_BASE_URL").is_none() && std::env::var_os("LLM_API_KEY").is_none() {
    ///     assert!(agentwrit_demo_kit::OpenAiPlanner::from_env().is_none());
    /// }
    /// ```
    #[must_use]
    pub fn from_env() -> Option<Result<OpenAiPlanner, PlannerError>> {
        let base = std::env::var("LLM_BASE_URL").ok().filter(|v| !v.is_empty());
        let key = std::env::var("LLM_API_KEY").ok().filter(|v| !v.is_empty());
        if base.is_none() && key.is_none() {
            return None;
        }
        let base = base.unwrap_or_else(|| "https://api.openai.com/v1".to_owned());
        let model = std::env::var("LLM_MODEL")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "gpt-4o-mini".to_owned());
        let timeout = std::env::var("LLM_TIMEOUT_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(DEFAULT_LLM_TIMEOUT, Duration::from_secs);
        Some(Self::with_timeout(&base, key, &model, timeout))
    }

    /// The model name.
    #[must_use]
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The request body for `request` (public so tests and curious readers
    /// can see exactly what is sent).
    ///
    /// ```
    /// use agentwrit_demo_kit::{Message, OpenAiPlanner, PlanRequest, ToolSpec};
    /// use serde_json::json;
    /// let p = OpenAiPlanner::new("http://127.0.0.1:9/v1", None, "m")?;
    /// let tools = [ToolSpec::new("get_balance", "balance", json!({"type": "object"}))];
    /// let messages = [Message::system("s"), Message::user("u")];
    /// let body = p.request_body(&PlanRequest { role: "r", messages: &messages, tools: &tools });
    /// assert_eq!(body["model"], "m");
    /// assert_eq!(body["messages"][1]["role"], "user");
    /// assert_eq!(body["tools"][0]["function"]["name"], "get_balance");
    /// # Ok::<(), agentwrit_demo_kit::PlannerError>(())
    /// ```
    #[must_use]
    pub fn request_body(&self, request: &PlanRequest<'_>) -> Value {
        let messages: Vec<Value> = request.messages.iter().map(message_json).collect();
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "temperature": 0,
        });
        if !request.tools.is_empty() {
            let tools: Vec<Value> = request
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": t.name,
                            "description": t.description,
                            "parameters": t.parameters,
                        }
                    })
                })
                .collect();
            body["tools"] = Value::Array(tools);
            body["tool_choice"] = json!("auto");
        }
        body
    }

    async fn complete(&self, request: PlanRequest<'_>) -> Result<PlannerReply, PlannerError> {
        let mut http = self
            .client
            .post(&self.endpoint)
            .json(&self.request_body(&request));
        if let Some(key) = &self.api_key {
            http = http.bearer_auth(key);
        }
        let response = http.send().await.map_err(transport_error)?;
        let status = response.status();
        let text = response.text().await.map_err(transport_error)?;
        if !status.is_success() {
            return Err(PlannerError::Status {
                status: status.as_u16(),
                message: error_message(&text),
            });
        }
        parse_completion(&text)
    }
}

impl Planner for OpenAiPlanner {
    fn name(&self) -> String {
        self.model.clone()
    }

    fn plan<'a>(
        &'a self,
        request: PlanRequest<'a>,
    ) -> BoxFuture<'a, Result<PlannerReply, PlannerError>> {
        Box::pin(self.complete(request))
    }
}

fn transport_error(e: reqwest::Error) -> PlannerError {
    if e.is_timeout() {
        PlannerError::Timeout
    } else {
        // Without the URL: it may carry a key in a query string.
        PlannerError::Transport(e.without_url().to_string())
    }
}

/// `error.message` of an OpenAI error body, else a bounded excerpt.
fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        v.pointer("/error/message")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    text.chars().take(EXCERPT).collect()
}

fn message_json(message: &Message) -> Value {
    match message {
        Message::System { content } => json!({"role": "system", "content": content}),
        Message::User { content } => json!({"role": "user", "content": content}),
        Message::Assistant {
            content,
            tool_calls,
        } => {
            let mut m = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                m["tool_calls"] = tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments.to_string()},
                        })
                    })
                    .collect();
            }
            m
        }
        Message::Tool {
            call_id,
            name,
            content,
        } => json!({"role": "tool", "tool_call_id": call_id, "name": name, "content": content}),
    }
}

/// Reads `choices[0].message` of a chat completion.
fn parse_completion(body: &str) -> Result<PlannerReply, PlannerError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| PlannerError::Decode(format!("not JSON: {e}")))?;
    let message = value
        .pointer("/choices/0/message")
        .ok_or_else(|| PlannerError::Decode("no choices[0].message".into()))?;
    let mut calls = Vec::new();
    if let Some(list) = message.get("tool_calls").and_then(Value::as_array) {
        for (i, call) in list.iter().enumerate() {
            let name = call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| PlannerError::Decode(format!("tool_calls[{i}] has no name")))?;
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call-{i}"), str::to_owned);
            let arguments = match call.pointer("/function/arguments") {
                Some(Value::String(raw)) if raw.trim().is_empty() => json!({}),
                Some(Value::String(raw)) => serde_json::from_str(raw).map_err(|e| {
                    PlannerError::Decode(format!("tool_calls[{i}] arguments not JSON: {e}"))
                })?,
                Some(Value::Object(map)) => Value::Object(map.clone()),
                None | Some(Value::Null) => json!({}),
                Some(other) => {
                    return Err(PlannerError::Decode(format!(
                        "tool_calls[{i}] arguments are {other}"
                    )));
                }
            };
            calls.push(ToolCall::new(id, name, arguments));
        }
    }
    if !calls.is_empty() {
        return Ok(PlannerReply::ToolCalls(calls));
    }
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Ok(PlannerReply::Final(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_calls_and_text() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"c9","type":"function","function":{"name":"get_balance","arguments":"{\"customer_id\":\"jane-doe\"}"}}]}}]}"#;
        let reply = parse_completion(body).unwrap();
        assert_eq!(
            reply,
            PlannerReply::ToolCalls(vec![ToolCall::new(
                "c9",
                "get_balance",
                json!({"customer_id": "jane-doe"})
            )])
        );
        let body = r#"{"choices":[{"message":{"role":"assistant","content":"All done."}}]}"#;
        assert_eq!(
            parse_completion(body).unwrap(),
            PlannerReply::Final("All done.".into())
        );
    }

    #[test]
    fn rejects_what_is_not_a_completion() {
        assert!(matches!(
            parse_completion("<html>"),
            Err(PlannerError::Decode(_))
        ));
        assert!(matches!(
            parse_completion(r#"{"choices":[]}"#),
            Err(PlannerError::Decode(_))
        ));
        let bad_args = r#"{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"name":"x","arguments":"{oops"}}]}}]}"#;
        assert!(matches!(
            parse_completion(bad_args),
            Err(PlannerError::Decode(_))
        ));
    }

    #[test]
    fn error_message_prefers_the_openai_shape_and_is_bounded() {
        assert_eq!(
            error_message(r#"{"error":{"message":"model overloaded","type":"x"}}"#),
            "model overloaded"
        );
        assert_eq!(error_message(&"x".repeat(1000)).len(), EXCERPT);
    }

    #[test]
    fn assistant_turns_carry_arguments_as_strings() {
        let m = Message::Assistant {
            content: None,
            tool_calls: vec![ToolCall::new("c1", "t", json!({"a": 1}))],
        };
        let v = message_json(&m);
        assert_eq!(v["tool_calls"][0]["function"]["arguments"], "{\"a\":1}");
        assert_eq!(v["tool_calls"][0]["type"], "function");
    }
}
