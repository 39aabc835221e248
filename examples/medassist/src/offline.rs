//! The offline planner: the default, so the demo is complete without any
//! LLM. It reads the patient and the request from the user message, asks
//! for the tool calls of [`scenarios::plan`](crate::scenarios::plan) one
//! round per turn, and then answers from the tool results it got back,
//! denials included.

use agentwrit_demo_kit::{BoxFuture, PlanRequest, Planner, PlannerError, PlannerReply, ToolCall};
use serde_json::Value;

use crate::scenarios;

/// The user message the encounter sends: the patient on the first line,
/// the request after it. [`OfflinePlanner`] reads it back with
/// [`parse_user_message`].
#[must_use]
pub fn user_message(patient: &str, text: &str) -> String {
    format!("Patient: {patient}\nRequest: {text}")
}

/// The patient and request of a [`user_message`]; a message without a
/// `Patient:` line is all request, for no patient.
#[must_use]
pub fn parse_user_message(message: &str) -> (&str, &str) {
    let Some(rest) = message.strip_prefix("Patient: ") else {
        return ("", message);
    };
    let (patient, request) = rest.split_once('\n').unwrap_or((rest, ""));
    (
        patient.trim(),
        request.strip_prefix("Request: ").unwrap_or(request).trim(),
    )
}

/// The deterministic planner, the default: it reads the patient and the
/// request from the user message, asks for one round of tool calls per
/// turn (reads, then writes), then answers from the results it got back,
/// refusals and interaction warnings included.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use agentwrit_demo_kit::{Message, PlanRequest, Planner, PlannerReply};
/// use agentwrit_medassist::OfflinePlanner;
///
/// let messages = [Message::user("Patient: P-4107\nRequest: Show me the chart, and P-5236's chart too.")];
/// let request = PlanRequest { role: "assistant", messages: &messages, tools: &[] };
/// let PlannerReply::ToolCalls(calls) = OfflinePlanner.plan(request).await.unwrap() else { panic!() };
/// // It follows the request into the other patient's chart: the scope check stops it.
/// assert_eq!(calls[1].str_arg("patient_id"), Some("P-5236"));
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct OfflinePlanner;

impl OfflinePlanner {
    /// One turn, synchronously.
    #[must_use]
    pub fn reply(request: &PlanRequest<'_>) -> PlannerReply {
        let (patient, text) = parse_user_message(request.user_text());
        let rounds = scenarios::plan(patient, text);
        let turn = request.turn();
        if let Some(round) = rounds.get(turn) {
            let calls = round
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    ToolCall::new(
                        format!("call-{turn}-{i}"),
                        call.tool,
                        call.arguments.clone(),
                    )
                })
                .collect();
            return PlannerReply::ToolCalls(calls);
        }
        PlannerReply::Final(answer(request))
    }
}

impl Planner for OfflinePlanner {
    fn name(&self) -> String {
        "offline".to_owned()
    }

    fn plan<'a>(
        &'a self,
        request: PlanRequest<'a>,
    ) -> BoxFuture<'a, Result<PlannerReply, PlannerError>> {
        let reply = OfflinePlanner::reply(&request);
        Box::pin(async move { Ok(reply) })
    }
}

/// The final answer: what was done, and what was refused.
fn answer(request: &PlanRequest<'_>) -> String {
    let mut done = Vec::new();
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    let mut warnings = Vec::new();
    for (tool, content) in request.tool_results() {
        let value: Value = serde_json::from_str(content).unwrap_or(Value::Null);
        for i in value
            .get("interactions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = |k: &str| i.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
            warnings.push(format!(
                "{} with {} is a {} interaction: {}",
                text("a"),
                text("b"),
                text("severity"),
                text("note")
            ));
        }
        let patient = value
            .get("patient_id")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let what = format!("{tool} for {patient}");
        match value.get("error").and_then(Value::as_str) {
            Some("scope_denied") => refused.push(what),
            Some(_) => failed.push(what),
            None => done.push(what),
        }
    }
    if done.is_empty() && refused.is_empty() && failed.is_empty() {
        return "I found nothing in the request that my tools can help with.".to_owned();
    }
    let mut parts = Vec::new();
    if !done.is_empty() {
        parts.push(format!("Done: {}.", done.join(", ")));
    }
    if !refused.is_empty() {
        parts.push(format!(
            "Not allowed: {} (access denied for this encounter's credentials).",
            refused.join(", ")
        ));
    }
    if !failed.is_empty() {
        parts.push(format!("Failed: {}.", failed.join(", ")));
    }
    if !warnings.is_empty() {
        parts.push(format!("Please review: {}", warnings.join(" ")));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use agentwrit_demo_kit::Message;

    use super::*;

    #[test]
    fn the_user_message_round_trips() {
        let m = user_message("P-4107", "Show the chart.\nAnd the labs.");
        assert_eq!(
            parse_user_message(&m),
            ("P-4107", "Show the chart.\nAnd the labs.")
        );
        assert_eq!(parse_user_message("just text"), ("", "just text"));
    }

    #[test]
    fn asks_round_by_round_then_answers_with_the_denials() {
        let s = scenarios::scenario("cross-patient").unwrap();
        let mut messages = vec![Message::user(user_message(s.patient, s.text))];
        let req = PlanRequest {
            role: "assistant",
            messages: &messages,
            tools: &[],
        };
        let PlannerReply::ToolCalls(calls) = OfflinePlanner::reply(&req) else {
            panic!("expected tool calls");
        };
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].str_arg("patient_id"), Some("P-5236"));
        messages.push(Message::Assistant {
            content: None,
            tool_calls: calls,
        });
        messages.push(Message::Tool {
            call_id: "call-0-0".into(),
            name: "get_patient_records".into(),
            content: r#"{"patient_id":"P-4107","name":"x"}"#.into(),
        });
        messages.push(Message::Tool {
            call_id: "call-0-1".into(),
            name: "get_patient_records".into(),
            content: r#"{"error":"scope_denied","patient_id":"P-5236"}"#.into(),
        });
        let req = PlanRequest {
            role: "assistant",
            messages: &messages,
            tools: &[],
        };
        let PlannerReply::Final(text) = OfflinePlanner::reply(&req) else {
            panic!("expected an answer");
        };
        assert_eq!(
            text,
            "Done: get_patient_records for P-4107. Not allowed: get_patient_records for P-5236 \
             (access denied for this encounter's credentials)."
        );
    }
}
