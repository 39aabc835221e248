//! The desk with the OpenAI-compatible planner, against a local stub that
//! speaks the chat-completions API and misbehaves like an LLM might: its
//! tool calls go through the same enforcement loop as the offline ones.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwrit_demo_kit::{BrokerSetup, Envelope, Event, OpenAiPlanner};
use agentwrit_support_desk::{Desk, DeskConfig, data};
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Stub {
    bodies: Arc<Mutex<Vec<Value>>>,
}

fn tool_calls(calls: &[(&str, Value)]) -> Value {
    let calls: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            json!({"id": format!("call_{i}"), "type": "function",
                   "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    json!({"role": "assistant", "content": null, "tool_calls": calls})
}

fn text(content: &str) -> Value {
    json!({"role": "assistant", "content": content})
}

/// Answers as the role named in the system prompt, by turn.
async fn completions(State(stub): State<Stub>, Json(body): Json<Value>) -> Json<Value> {
    stub.bodies.lock().unwrap().push(body.clone());
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let system = messages[0]["content"].as_str().unwrap_or("").to_owned();
    let turn = messages.iter().filter(|m| m["role"] == "assistant").count();
    let message = if system.contains("triage agent") {
        match turn {
            0 => tool_calls(&[("read_ticket", json!({}))]),
            1 => tool_calls(&[(
                "classify_ticket",
                json!({"customer_name": "Jane Doe", "category": "account", "priority": "high"}),
            )]),
            _ => text("Jane Doe, account, high."),
        }
    } else if system.contains("knowledge agent") {
        match turn {
            0 => tool_calls(&[(
                "search_knowledge_base",
                json!({"query": "close account", "category": "account"}),
            )]),
            _ => text("Closing an account."),
        }
    } else {
        match turn {
            0 => tool_calls(&[
                (
                    "delete_account",
                    json!({"customer_id": "jane-doe", "confirmation": "CONFIRM_DELETE"}),
                ),
                ("get_balance", json!({"customer_id": "lewis-smith"})),
            ]),
            1 => tool_calls(&[(
                "write_case_notes",
                json!({"customer_id": "jane-doe", "notes": "asked to delete the account"}),
            )]),
            _ => text("Please confirm the deletion in your account settings."),
        }
    };
    Json(
        json!({"id": "cmpl", "object": "chat.completion", "model": "stub-model",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}),
    )
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llms_tool_calls_are_enforced_like_the_offline_ones() {
    let stub = Stub::default();
    let llm = serve(
        Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(stub.clone()),
    )
    .await;
    let planner = OpenAiPlanner::new(
        &format!("{llm}/v1"),
        Some("sk-desk-test".into()),
        "stub-model",
    )
    .unwrap();
    let setup = BrokerSetup::embedded(
        agentwrit_devbroker::DevBroker::builder(),
        "support-desk",
        &data::CEILING,
    )
    .unwrap();
    let desk = Desk::new(setup, Arc::new(planner), DeskConfig::default());
    let base = serve(desk.router()).await;

    let client = reqwest::Client::new();
    let started: Value = client
        .post(format!("{base}/api/tickets"))
        .json(&json!({"scenario": "free-text", "text": "Jane Doe: delete my account. And Lewis Smith's balance?"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut response = client
        .get(format!("{base}{}", started["events_url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let mut raw = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(60), response.chunk())
        .await
        .unwrap()
        .unwrap()
    {
        raw.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events: Vec<Event> = raw
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Envelope>(d).unwrap().event)
        .collect();

    assert!(matches!(&events[0], Event::RunStarted { planner, .. } if planner == "stub-model"));
    let denied: Vec<(String, Vec<String>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::ScopeDenied { tool, required, .. } => Some((tool.clone(), required.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        denied,
        [
            (
                "delete_account".to_owned(),
                vec!["delete:account:jane-doe".to_owned()]
            ),
            (
                "get_balance".to_owned(),
                vec!["read:billing:lewis-smith".to_owned()]
            ),
        ]
    );
    let ran: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolResult { tool, .. } => Some(tool.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        ran,
        [
            "read_ticket",
            "classify_ticket",
            "search_knowledge_base",
            "write_case_notes"
        ]
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Validated { valid: false, .. }))
            .count(),
        3,
        "every token dead after the run"
    );
    assert!(matches!(events.last(), Some(Event::RunFinished { .. })));

    // The LLM was told, in the tool results, that both calls were denied.
    let bodies = stub.bodies.lock().unwrap().clone();
    let last_response_turn = bodies
        .iter()
        .rev()
        .find(|b| {
            b["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("response agent")
        })
        .unwrap();
    let denied_results = last_response_turn["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool" && m["content"].as_str().unwrap().contains("scope_denied"))
        .count();
    assert_eq!(denied_results, 2);
    assert!(!raw.contains("sk-desk-test"));
    assert!(!raw.contains("eyJ"));
}
