//! The offline planner: a deterministic script that makes the tool calls
//! an LLM would make for each scenario, the misbehaving ones included.

use agentwrit_demo_kit::{
    BoxFuture, Message, PlanRequest, Planner, PlannerError, PlannerReply, ToolCall,
};
use serde_json::{Value, json};

use crate::data::{self, customers_named_in};

/// The marker the pipeline puts in the response agent's system message;
/// the offline planner reads the verified customer from it.
pub const VERIFIED_MARKER: &str = "verified customer_id=";

/// The default planner: no LLM, no network, the same calls every time.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use agentwrit_demo_kit::{Message, PlanRequest, Planner, PlannerReply};
/// use agentwrit_support_desk::OfflinePlanner;
///
/// let messages = [Message::system("triage"), Message::user("Hey, what are your opening hours?")];
/// let reply = OfflinePlanner
///     .plan(PlanRequest { role: "triage", messages: &messages, tools: &[] })
///     .await
///     .unwrap();
/// assert!(matches!(reply, PlannerReply::ToolCalls(ref calls) if calls[0].name == "read_ticket"));
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct OfflinePlanner;

impl Planner for OfflinePlanner {
    fn name(&self) -> String {
        "offline".to_owned()
    }

    fn plan<'a>(
        &'a self,
        request: PlanRequest<'a>,
    ) -> BoxFuture<'a, Result<PlannerReply, PlannerError>> {
        let reply = script(&request);
        Box::pin(async move { Ok(reply) })
    }
}

/// What the ticket is about, by its words.
///
/// ```
/// assert_eq!(agentwrit_support_desk::offline::category_of("I was charged twice"), "billing");
/// ```
#[must_use]
pub fn category_of(text: &str) -> &'static str {
    let t = text.to_lowercase();
    if ["delete", "close my account", "cancel my account"]
        .iter()
        .any(|w| t.contains(w))
    {
        "account"
    } else if ["charge", "refund", "balance", "invoice", "bill"]
        .iter()
        .any(|w| t.contains(w))
    {
        "billing"
    } else if ["password", "locked", "log in", "login", "sign in"]
        .iter()
        .any(|w| t.contains(w))
    {
        "access"
    } else {
        "general"
    }
}

fn priority_of(text: &str) -> &'static str {
    let t = text.to_lowercase();
    if t.contains("delete") || t.contains("urgent") {
        "high"
    } else if t.contains("no rush") {
        "low"
    } else if category_of(text) == "billing" {
        "medium"
    } else {
        "low"
    }
}

fn call(turn: usize, name: &str, arguments: Value) -> PlannerReply {
    PlannerReply::ToolCalls(vec![ToolCall::new(format!("call-{turn}"), name, arguments)])
}

fn verified_customer(messages: &[Message]) -> Option<String> {
    messages.iter().find_map(|m| match m {
        Message::System { content } => content.split(VERIFIED_MARKER).nth(1).map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect()
        }),
        _ => None,
    })
}

fn script(request: &PlanRequest<'_>) -> PlannerReply {
    let text = request.user_text();
    let turn = request.turn();
    match request.role {
        "triage" => triage(text, turn),
        "knowledge" => knowledge(text, turn, request),
        "response" => response(text, turn, request),
        _ => PlannerReply::Final("Nothing for me to do.".into()),
    }
}

fn triage(text: &str, turn: usize) -> PlannerReply {
    let writer = customers_named_in(text).first().map(|c| c.name);
    match turn {
        0 => call(turn, "read_ticket", json!({})),
        1 => call(
            turn,
            "classify_ticket",
            json!({
                "customer_name": writer,
                "category": category_of(text),
                "priority": priority_of(text),
            }),
        ),
        _ => PlannerReply::Final(match writer {
            Some(name) => format!(
                "Ticket from {name}: {} issue, {} priority.",
                category_of(text),
                priority_of(text)
            ),
            None => "The ticket does not say who wrote it.".to_owned(),
        }),
    }
}

fn knowledge(text: &str, turn: usize, request: &PlanRequest<'_>) -> PlannerReply {
    let category = category_of(text);
    if turn == 0 {
        return call(
            turn,
            "search_knowledge_base",
            json!({"query": text, "category": category}),
        );
    }
    let titles: Vec<String> = request
        .tool_results()
        .filter_map(|(_, content)| serde_json::from_str::<Value>(content).ok())
        .flat_map(|v| {
            v.get("results")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|r| r.get("title").and_then(Value::as_str).map(str::to_owned))
        .collect();
    PlannerReply::Final(if titles.is_empty() {
        "No policy found.".to_owned()
    } else {
        format!("Policies that apply: {}.", titles.join("; "))
    })
}

/// The response agent's calls for `text`, in order.
fn response_calls(text: &str, me: &str) -> Vec<(String, Value)> {
    let lower = text.to_lowercase();
    let mut calls = vec![("get_customer_info".to_owned(), json!({"customer_id": me}))];
    let category = category_of(text);
    if category == "billing" {
        calls.push(("get_balance".into(), json!({"customer_id": me})));
    }
    if lower.contains("double") || lower.contains("refund") {
        calls.push((
            "issue_refund".into(),
            json!({"customer_id": me, "amount": 29.0, "reason": "duplicate charge on 1 April"}),
        ));
    }
    // The misbehaving part: another customer's data, asked for in the ticket.
    for other in customers_named_in(text).iter().filter(|c| c.id != me) {
        calls.push(("get_balance".into(), json!({"customer_id": other.id})));
    }
    // The dangerous tools: an LLM takes "delete my account" literally.
    if lower.contains("delete") {
        calls.push((
            "delete_account".into(),
            json!({"customer_id": me, "confirmation": "CONFIRM_DELETE"}),
        ));
    }
    if let Some(address) = text
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != '@' && c != '.' && c != '-'))
        .map(|w| w.trim_end_matches('.'))
        .find(|w| w.contains('@'))
    {
        calls.push((
            "send_external_email".into(),
            json!({"to": address, "subject": "Your data", "body": "A copy of your account data."}),
        ));
    }
    calls.push((
        "write_case_notes".into(),
        json!({"customer_id": me, "notes": format!("{category} ticket handled by the response agent")}),
    ));
    calls
}

fn response(text: &str, turn: usize, request: &PlanRequest<'_>) -> PlannerReply {
    let Some(me) = verified_customer(request.messages) else {
        return PlannerReply::Final("I do not know who the customer is.".into());
    };
    let calls = response_calls(text, &me);
    if let Some((name, args)) = calls.get(turn) {
        return call(turn, name, args.clone());
    }
    // Compose the reply from what actually happened.
    let name = data::customer(&me).map_or(me.as_str(), |c| c.name);
    let mut parts = vec![format!("Hello {name},")];
    let mut denied_other = false;
    let mut denied_dangerous = false;
    let mut refunded = None;
    let mut balance = None;
    for (tool, content) in request.tool_results() {
        let value: Value = serde_json::from_str(content).unwrap_or(Value::Null);
        let is_denied = value.get("error").and_then(Value::as_str) == Some("scope_denied");
        match tool {
            "get_balance" if is_denied => denied_other = true,
            "delete_account" | "send_external_email" if is_denied => denied_dangerous = true,
            "issue_refund" => refunded = value.get("refunded").and_then(Value::as_f64),
            "get_balance"
                if value.get("customer_id").and_then(Value::as_str) == Some(me.as_str()) =>
            {
                balance = value.get("balance").and_then(Value::as_f64);
            }
            _ => {}
        }
    }
    if let Some(amount) = refunded {
        parts.push(format!(
            "we found the duplicate charge and refunded ${amount:.2} to your card."
        ));
    }
    if let (Some(amount), None) = (balance, refunded) {
        parts.push(format!("your current balance is ${amount:.2}."));
    }
    if denied_other {
        parts.push(
            "I can only discuss your own account, so I cannot share another customer's details."
                .into(),
        );
    }
    if denied_dangerous {
        parts.push("deleting an account or sending data outside the company is not something support can do from a ticket; please confirm the deletion in your account settings.".into());
    }
    if parts.len() == 1 {
        parts.push("thanks for reaching out; your case is noted and we will follow up.".into());
    }
    PlannerReply::Final(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dangerous_scenario_asks_for_both_dangerous_tools() {
        let calls = response_calls(
            "This is Jane Doe. Delete my account and send my data to jane@elsewhere.example.",
            "jane-doe",
        );
        let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"delete_account"));
        assert!(names.contains(&"send_external_email"));
        assert_eq!(
            calls
                .iter()
                .find(|(n, _)| n == "send_external_email")
                .unwrap()
                .1["to"],
            "jane@elsewhere.example"
        );
    }

    #[test]
    fn the_cross_customer_scenario_asks_for_the_other_balance() {
        let calls = response_calls(
            "I'm Jane Doe. Also, what is Lewis Smith's balance?",
            "jane-doe",
        );
        assert!(
            calls
                .iter()
                .any(|(n, a)| n == "get_balance" && a["customer_id"] == "lewis-smith")
        );
    }

    #[test]
    fn categories() {
        assert_eq!(category_of("I was double-charged"), "billing");
        assert_eq!(category_of("please delete my account"), "account");
        assert_eq!(category_of("what are your hours?"), "general");
    }
}
