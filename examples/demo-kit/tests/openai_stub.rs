//! The OpenAI-compatible planner against a local stub speaking that API:
//! well-formed requests, tool calls that reach the enforcement loop,
//! errors, timeouts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwrit_demo_kit::{
    AgentPool, BrokerSetup, Event, Message, OpenAiPlanner, PlanRequest, Planner, PlannerError,
    ToolDef, ToolSpec,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

const KEY: &str = "sk-stub-4f1c9a";

/// One request the stub saw: its Authorization header and JSON body.
type Seen = (Option<String>, Value);

#[derive(Clone, Default)]
struct Stub {
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn scripted(
    State(stub): State<Stub>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let turn = {
        let mut seen = stub.seen.lock().unwrap();
        seen.push((auth, body));
        seen.len()
    };
    let message = if turn == 1 {
        json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_balance", "arguments": "{\"customer_id\":\"jane-doe\"}"}},
                {"id": "c2", "type": "function",
                 "function": {"name": "get_balance", "arguments": "{\"customer_id\":\"lewis-smith\"}"}},
            ]
        })
    } else {
        json!({"role": "assistant", "content": "Your balance is $12.50; I cannot share other accounts."})
    };
    Json(json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "model": "stub-model",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
    }))
    .into_response()
}

async fn overloaded() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(
            json!({"error": {"message": "model overloaded, retry later", "type": "server_error"}}),
        ),
    )
        .into_response()
}

async fn never_answers() -> Response {
    std::future::pending::<()>().await;
    StatusCode::OK.into_response()
}

async fn not_a_completion() -> Response {
    (StatusCode::OK, "<html>gateway page</html>").into_response()
}

async fn start_stub() -> (String, Stub) {
    let stub = Stub::default();
    let router = Router::new()
        .route("/ok/v1/chat/completions", post(scripted))
        .route("/err/v1/chat/completions", post(overloaded))
        .route("/slow/v1/chat/completions", post(never_answers))
        .route("/html/v1/chat/completions", post(not_a_completion))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (base, stub)
}

fn balance_tool() -> ToolDef {
    ToolDef::new(
        ToolSpec::new(
            "get_balance",
            "A customer's balance.",
            json!({"type": "object", "properties": {"customer_id": {"type": "string"}}, "required": ["customer_id"]}),
        ),
        ["read:billing:{customer_id}"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_tool_calls_go_through_the_enforcement_loop() {
    let (base, stub) = start_stub().await;
    let setup = BrokerSetup::embedded(
        agentwrit_devbroker::DevBroker::builder(),
        "kit-llm-test",
        &["read:billing:*"],
    )
    .unwrap();
    let planner = OpenAiPlanner::new(
        &format!("{base}/ok/v1/"),
        Some(KEY.to_owned()),
        "stub-model",
    )
    .unwrap();
    let bus = agentwrit_demo_kit::EventBus::new();
    let mut pool = AgentPool::new(setup.app.clone(), bus.clone(), "kit-test", "llm-1");
    pool.agent("response", &["read:billing:jane-doe".to_owned()])
        .await
        .unwrap();

    let executed = AtomicUsize::new(0);
    let outcome = pool
        .plan_loop(
            &planner,
            "response",
            vec![
                Message::system("You are a support agent."),
                Message::user("My balance, and Lewis Smith's?"),
            ],
            &[balance_tool()],
            &[],
            4,
            |call| {
                executed.fetch_add(1, Ordering::SeqCst);
                Ok(json!({"customer_id": call.str_arg("customer_id"), "balance": 12.5}))
            },
        )
        .await
        .unwrap();

    // Only the allowed call ran.
    assert_eq!(executed.load(Ordering::SeqCst), 1);
    assert_eq!(
        outcome.answer.as_deref(),
        Some("Your balance is $12.50; I cannot share other accounts.")
    );
    let kinds: Vec<String> = bus.snapshot().into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            "agent_created",
            "tool_proposed",
            "scope_passed",
            "tool_result",
            "tool_proposed",
            "scope_denied",
            "planner_answer"
        ]
    );
    let denied = bus
        .snapshot()
        .into_iter()
        .find_map(|e| match e.event {
            Event::ScopeDenied { required, held, .. } => Some((required, held)),
            _ => None,
        })
        .unwrap();
    assert_eq!(denied.0, ["read:billing:lewis-smith"]);
    assert_eq!(denied.1, ["read:billing:jane-doe"]);

    // The requests were well-formed chat completions.
    let seen = stub.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let (auth, first) = &seen[0];
    assert_eq!(auth.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(first["model"], "stub-model");
    assert_eq!(first["messages"][0]["role"], "system");
    assert_eq!(first["messages"][1]["role"], "user");
    assert_eq!(first["tools"][0]["type"], "function");
    assert_eq!(first["tools"][0]["function"]["name"], "get_balance");
    assert_eq!(
        first["tools"][0]["function"]["parameters"]["required"][0],
        "customer_id"
    );
    assert_eq!(first["tool_choice"], "auto");
    let second = &seen[1].1;
    let messages = second["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        5,
        "system, user, assistant, two tool results"
    );
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(messages[2]["tool_calls"][1]["id"], "c2");
    assert!(messages[2]["tool_calls"][1]["function"]["arguments"].is_string());
    assert_eq!(messages[3]["role"], "tool");
    assert_eq!(messages[3]["tool_call_id"], "c1");
    assert!(messages[3]["content"].as_str().unwrap().contains("12.5"));
    assert_eq!(messages[4]["tool_call_id"], "c2");
    assert!(
        messages[4]["content"]
            .as_str()
            .unwrap()
            .contains("scope_denied")
    );

    // No token and no API key in the trace.
    assert!(pool.trace_is_secret_free());
    let trace = serde_json::to_string(&bus.snapshot()).unwrap();
    assert!(!trace.contains(KEY));
    assert!(!trace.contains("eyJ"));
    pool.release_all().await;
    pool.validate_all().await;
    assert!(
        bus.snapshot()
            .iter()
            .any(|e| matches!(e.event, Event::Validated { valid: false, .. }))
    );
}

async fn plan_once(
    planner: &OpenAiPlanner,
) -> Result<agentwrit_demo_kit::PlannerReply, PlannerError> {
    let messages = [Message::user("hello")];
    let tools = [balance_tool().spec];
    planner
        .plan(PlanRequest {
            role: "r",
            messages: &messages,
            tools: &tools,
        })
        .await
}

#[tokio::test]
async fn an_error_status_carries_the_endpoints_message_and_no_key() {
    let (base, _) = start_stub().await;
    let planner = OpenAiPlanner::new(&format!("{base}/err/v1"), Some(KEY.into()), "m").unwrap();
    let error = plan_once(&planner).await.unwrap_err();
    match &error {
        PlannerError::Status { status, message } => {
            assert_eq!(*status, 503);
            assert_eq!(message, "model overloaded, retry later");
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert!(!error.to_string().contains(KEY));
    assert!(!format!("{error:?}").contains(KEY));
}

#[tokio::test]
async fn a_silent_endpoint_times_out() {
    let (base, _) = start_stub().await;
    let planner = OpenAiPlanner::with_timeout(
        &format!("{base}/slow/v1"),
        Some(KEY.into()),
        "m",
        Duration::from_millis(300),
    )
    .unwrap();
    let error = plan_once(&planner).await.unwrap_err();
    assert!(matches!(error, PlannerError::Timeout), "{error:?}");
}

#[tokio::test]
async fn a_page_that_is_not_a_completion_is_a_decode_error() {
    let (base, _) = start_stub().await;
    let planner = OpenAiPlanner::new(&format!("{base}/html/v1"), None, "m").unwrap();
    let error = plan_once(&planner).await.unwrap_err();
    assert!(matches!(error, PlannerError::Decode(_)), "{error:?}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error() {
    // Bind then drop: the port is (very likely) closed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let planner = OpenAiPlanner::new(&format!("http://{addr}/v1"), Some(KEY.into()), "m").unwrap();
    let error = plan_once(&planner).await.unwrap_err();
    assert!(matches!(error, PlannerError::Transport(_)), "{error:?}");
    assert!(!error.to_string().contains(KEY));
}
