//! The OpenAI-compatible planner against a local stub speaking that API:
//! its requests are well-formed, and the tool calls it returns go through
//! the same enforcement loop (a call about another patient is denied).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwrit_demo_kit::OpenAiPlanner;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

const KEY: &str = "sk-stub-7f3a9c41e2";

/// Each request the stub saw: its `Authorization` header and JSON body.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

#[derive(Clone, Default)]
struct Stub {
    seen: Seen,
    /// What the stub does: "plan" (tool calls, then an answer), "error"
    /// (a 503) or "hang" (never answers).
    mode: &'static str,
}

async fn completions(
    State(stub): State<Stub>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    stub.seen.lock().unwrap().push((auth, body.clone()));
    match stub.mode {
        "error" => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": {"message": "model overloaded", "type": "server_error"}})),
            );
        }
        "hang" => std::future::pending::<()>().await,
        _ => {}
    }
    let answered = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["role"] == "tool");
    let message = if answered {
        json!({"role": "assistant", "content": "I read P-4107's chart; P-2020's chart was refused."})
    } else {
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "get_patient_records", "arguments": "{\"patient_id\":\"P-4107\"}"}},
            {"id": "call_b", "type": "function",
             "function": {"name": "get_patient_records", "arguments": "{\"patient_id\":\"P-5236\"}"}}
        ]})
    };
    (
        StatusCode::OK,
        Json(
            json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "stub-model",
                    "choices": [{"index": 0, "message": message,
                                 "finish_reason": if answered { "stop" } else { "tool_calls" }}]}),
        ),
    )
}

async fn stub(mode: &'static str) -> (String, Stub) {
    let stub = Stub {
        mode,
        ..Stub::default()
    };
    let router = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (url, stub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_tool_calls_reach_the_enforcement_loop() {
    let (url, stub) = stub("plan").await;
    let planner = OpenAiPlanner::new(&url, Some(KEY.into()), "stub-model").unwrap();
    let app = common::start_with(Arc::new(planner)).await;
    let trace = app
        .run(json!({"scenario": "free-text", "text": "Show me the chart", "options": {"patient": "P-4107"}}))
        .await;
    assert_eq!(trace.one("run_started")["planner"], "stub-model");
    let denied = trace.one("scope_denied");
    assert_eq!(denied["required"], json!(["read:records:P-5236"]));
    assert_eq!(trace.one("tool_result")["result"]["patient_id"], "P-4107");
    assert_eq!(
        trace.one("planner_answer")["text"],
        "I read P-4107's chart; P-2020's chart was refused."
    );
    assert_eq!(trace.of("validated")[0]["valid"], false);

    let seen = stub.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one request per planner turn");
    for (auth, body) in &seen {
        assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
        assert_eq!(body["model"], "stub-model");
        let tools = body["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 9, "every tool is offered");
        assert!(tools.iter().all(|t| t["type"] == "function"
            && t["function"]["parameters"]["required"][0] == "patient_id"));
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][1]["role"], "user");
        assert!(
            body["messages"][1]["content"]
                .as_str()
                .unwrap()
                .starts_with("Patient: P-4107\n")
        );
    }
    // The second turn carries the assistant's calls and both results, the
    // refusal included, each answering its call id.
    let messages = seen[1].1["messages"].as_array().unwrap();
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(messages[2]["tool_calls"][1]["id"], "call_b");
    assert_eq!(messages[3]["role"], "tool");
    assert_eq!(messages[3]["tool_call_id"], "call_a");
    assert_eq!(messages[4]["tool_call_id"], "call_b");
    let refusal: Value = serde_json::from_str(messages[4]["content"].as_str().unwrap()).unwrap();
    assert_eq!(refusal["error"], "scope_denied");
    assert_eq!(refusal["patient_id"], "P-5236");
    assert!(!trace.raw.contains(KEY), "the API key is not in the trace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_error_is_traced_and_the_run_still_finishes() {
    let (url, _stub) = stub("error").await;
    let planner = OpenAiPlanner::new(&url, Some(KEY.into()), "stub-model").unwrap();
    let app = common::start_with(Arc::new(planner)).await;
    let trace = app.run(json!({"scenario": "billing"})).await;
    let failed = trace.one("failed")["error"].as_str().unwrap().to_owned();
    assert!(
        failed.contains("503") && failed.contains("model overloaded"),
        "{failed}"
    );
    assert!(!failed.contains(KEY));
    assert!(trace.of("agent_created").is_empty());
    assert_eq!(trace.kinds().last(), Some(&"run_finished"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_that_never_answers_times_out() {
    let (url, _stub) = stub("hang").await;
    let planner =
        OpenAiPlanner::with_timeout(&url, None, "stub-model", Duration::from_millis(300)).unwrap();
    let app = common::start_with(Arc::new(planner)).await;
    let trace = app.run(json!({"scenario": "chart-and-labs"})).await;
    assert_eq!(
        trace.one("failed")["error"],
        "planner: LLM endpoint timed out"
    );
    assert_eq!(trace.kinds().last(), Some(&"run_finished"));
}
