//! Every scenario driven over HTTP against the running desk (in-process
//! development broker, offline planner), asserting the SSE stream's
//! events in order, and that no secret reaches the page, the stream or
//! the logs.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use agentwrit_demo_kit::{BrokerSetup, Envelope, Event};
use agentwrit_support_desk::{Desk, DeskConfig, OfflinePlanner, data, scenarios};
use serde_json::{Value, json};

/// Log lines of the whole test binary (the SDK's and the desk's tracing).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogWriter(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Running {
    base: String,
    admin_secret: String,
    client: reqwest::Client,
}

async fn start_desk(config: DeskConfig) -> Running {
    logs();
    let setup = BrokerSetup::embedded(
        agentwrit_devbroker::DevBroker::builder(),
        "support-desk",
        &data::CEILING,
    )
    .unwrap();
    let admin_secret = setup
        .embedded_broker()
        .unwrap()
        .admin_secret()
        .expose_secret()
        .to_owned();
    let desk = Desk::new(setup, Arc::new(OfflinePlanner), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = desk.router();
    tokio::spawn(async move {
        // The desk (and its broker) live as long as the server task.
        let _desk = desk;
        axum::serve(listener, router).await.unwrap();
    });
    Running {
        base,
        admin_secret,
        client: reqwest::Client::new(),
    }
}

/// A named predicate over events.
type Step<'a> = (&'a str, &'a dyn Fn(&Event) -> bool);

struct Trace {
    raw: String,
    events: Vec<Envelope>,
}

impl Trace {
    fn kinds(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.kind.as_str()).collect()
    }

    fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| pred(&e.event)).count()
    }

    /// Asserts that events matching `steps` occur in this order (other
    /// events may come between).
    fn assert_in_order(&self, steps: &[Step<'_>]) {
        let mut at = 0;
        for (name, pred) in steps {
            match self.events[at..].iter().position(|e| pred(&e.event)) {
                Some(offset) => at += offset + 1,
                None => panic!(
                    "step {name:?} not found after event {at}; trace:\n{}",
                    self.events
                        .iter()
                        .map(|e| format!("{} {}", e.seq, e.line))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
    }
}

/// Posts a scenario's ticket and reads its SSE stream to the end.
async fn run_scenario(desk: &Running, id: &str) -> Trace {
    let scenario = scenarios().into_iter().find(|s| s.id == id).unwrap();
    let started: serde_json::Value = desk
        .client
        .post(format!("{}/api/tickets", desk.base))
        .json(&json!({"scenario": scenario.id, "text": scenario.text, "options": scenario.options}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("{}{}", desk.base, started["events_url"].as_str().unwrap());
    let mut response = desk.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut raw = String::new();
    let mut events = Vec::new();
    let mut pending = String::new();
    // The server closes the stream after run_finished.
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(60), response.chunk())
        .await
        .expect("the stream stalled")
        .unwrap()
    {
        let text = String::from_utf8(chunk.to_vec()).unwrap();
        raw.push_str(&text);
        pending.push_str(&text);
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    events.push(serde_json::from_str::<Envelope>(data).unwrap());
                }
            }
        }
    }
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (0..events.len() as u64).collect::<Vec<_>>(),
        "gapless, in order"
    );
    assert_eq!(events.last().map(|e| e.kind.as_str()), Some("run_finished"));
    Trace { raw, events }
}

fn no_secret_in(text: &str, desk: &Running) {
    // Every JWT (agent or app token) starts with the base64 of `{"`.
    assert!(!text.contains("eyJ"), "a JWT leaked");
    assert!(
        !text.contains(&desk.admin_secret),
        "the admin secret leaked"
    );
    assert!(
        !text.to_lowercase().contains("bearer "),
        "a bearer header leaked"
    );
}

fn is_created(role: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::AgentCreated { role: r, .. } if r == role)
}
fn is_released(role: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Released { role: r, .. } if r == role)
}
fn is_dead(role: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Validated { role: r, valid: false, .. } if r == role)
}
fn is_proposed(tool: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::ToolProposed { tool: t, .. } if t == tool)
}
fn is_denied(tool: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::ScopeDenied { tool: t, .. } if t == tool)
}
fn is_result(tool: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::ToolResult { tool: t, .. } if t == tool)
}
fn finished(e: &Event) -> bool {
    matches!(e, Event::RunFinished { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_ticket_refunds_within_scope_and_every_token_dies() {
    let desk = start_desk(DeskConfig::default()).await;
    let trace = run_scenario(&desk, "billing").await;
    trace.assert_in_order(&[
        ("triage created", &is_created("triage")),
        ("triage released", &is_released("triage")),
        ("knowledge created", &is_created("knowledge")),
        ("knowledge released", &is_released("knowledge")),
        ("response created", &is_created("response")),
        ("refund proposed", &is_proposed("issue_refund")),
        ("refund passed", &|e| {
            matches!(e, Event::ScopePassed { tool, required, .. }
                if tool == "issue_refund" && required == &["write:billing:lewis-smith"])
        }),
        ("refund ran", &is_result("issue_refund")),
        ("response released", &is_released("response")),
        ("triage dead", &is_dead("triage")),
        ("knowledge dead", &is_dead("knowledge")),
        ("response dead", &is_dead("response")),
        ("finished", &finished),
    ]);
    assert_eq!(trace.count(|e| matches!(e, Event::ScopeDenied { .. })), 0);
    assert_eq!(trace.count(|e| matches!(e, Event::AgentCreated { .. })), 3);
    // The response agent's token claims hold exactly one customer's scope.
    let response_scope = trace
        .events
        .iter()
        .find_map(|e| match &e.event {
            Event::AgentCreated { role, scope, .. } if role == "response" => Some(scope.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(response_scope, data::response_scope("lewis-smith"));
    no_secret_in(&trace.raw, &desk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_customers_balance_is_denied_and_never_read() {
    let desk = start_desk(DeskConfig::default()).await;
    let trace = run_scenario(&desk, "cross-customer").await;
    let own_balance = |e: &Event| {
        matches!(e, Event::ToolResult { tool, result, .. }
            if tool == "get_balance" && result["customer_id"] == "jane-doe")
    };
    let other_denied = |e: &Event| {
        matches!(e, Event::ScopeDenied { tool, required, held, .. }
            if tool == "get_balance"
                && required == &["read:billing:lewis-smith"]
                && held.contains(&"read:billing:jane-doe".to_owned()))
    };
    let answer = |e: &Event| matches!(e, Event::PlannerAnswer { role, text } if role == "response" && text.contains("another customer"));
    trace.assert_in_order(&[
        ("response created", &is_created("response")),
        ("own balance read", &own_balance),
        ("other balance denied", &other_denied),
        ("planner told", &answer),
        ("response released", &is_released("response")),
        ("response dead", &is_dead("response")),
        ("finished", &finished),
    ]);
    assert_eq!(
        trace.count(|e| matches!(e, Event::ToolResult { result, .. } if result["customer_id"] == "lewis-smith")),
        0,
        "Lewis Smith's data never reached the trace"
    );
    no_secret_in(&trace.raw, &desk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dangerous_tools_are_proposed_denied_and_never_executed() {
    let desk = start_desk(DeskConfig::default()).await;
    let trace = run_scenario(&desk, "dangerous").await;
    trace.assert_in_order(&[
        ("response created", &is_created("response")),
        ("delete proposed", &is_proposed("delete_account")),
        ("delete denied", &is_denied("delete_account")),
        ("email proposed", &is_proposed("send_external_email")),
        ("email denied", &is_denied("send_external_email")),
        ("notes still written", &is_result("write_case_notes")),
        ("response released", &is_released("response")),
        ("finished", &finished),
    ]);
    for tool in ["delete_account", "send_external_email"] {
        assert_eq!(
            trace.count(|e| matches!(e,
                Event::ToolResult { tool: t, .. } | Event::ScopePassed { tool: t, .. } | Event::ToolFailed { tool: t, .. }
                if t == tool)),
            0,
            "{tool} must never run"
        );
    }
    // The usage panel: per agent, granted vs used vs denied; the response
    // agent was denied both dangerous scopes, each once.
    let agents = trace
        .events
        .iter()
        .find_map(|e| match &e.event {
            Event::Usage { agents } => Some(agents.clone()),
            _ => None,
        })
        .expect("a usage event");
    let roles: Vec<&str> = agents.iter().map(|a| a.role.as_str()).collect();
    assert_eq!(roles, ["triage", "knowledge", "response"]);
    let response = &agents[2];
    assert_eq!(response.denied.len(), 2);
    assert!(response.denied.iter().all(|d| d.count == 1));
    assert!(
        response
            .used
            .iter()
            .any(|u| u.scope.starts_with("write:notes:"))
    );
    for a in &agents {
        // Every granted scope is either used or unused, never both.
        let used: Vec<&str> = a.used.iter().map(|u| u.scope.as_str()).collect();
        for g in &a.granted {
            assert!(!(a.unused.contains(g) && used.contains(&g.as_str())), "{g}");
        }
        assert!(a.unused.iter().all(|u| a.granted.contains(u)));
    }
    no_secret_in(&trace.raw, &desk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_ticket_halts_at_triage_and_mints_nothing_customer_scoped() {
    let desk = start_desk(DeskConfig::default()).await;
    let trace = run_scenario(&desk, "anonymous").await;
    trace.assert_in_order(&[
        ("triage created", &is_created("triage")),
        ("classified without a name", &|e| {
            matches!(e, Event::ToolResult { tool, result, .. }
                if tool == "classify_ticket" && result["customer_name"].is_null())
        }),
        ("triage released", &is_released("triage")),
        (
            "halted",
            &|e| matches!(e, Event::Halted { reason } if reason.contains("identity gate")),
        ),
        ("triage dead", &is_dead("triage")),
        ("finished", &finished),
    ]);
    assert_eq!(
        trace.count(|e| matches!(e, Event::AgentCreated { .. })),
        1,
        "only the triage agent: {:?}",
        trace.kinds()
    );
    let halted_at = trace.kinds().iter().position(|k| *k == "halted").unwrap();
    assert!(
        trace.events[halted_at..].iter().all(|e| !matches!(
            e.event,
            Event::AgentCreated { .. } | Event::ToolProposed { .. }
        )),
        "nothing happens after the halt but wrap-up"
    );
    no_secret_in(&trace.raw, &desk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn natural_expiry_token_lives_past_the_run_then_dies_without_release() {
    let config = DeskConfig {
        expiry_ttl_secs: 2,
        expiry_poll: Duration::from_millis(100),
        expiry_grace: Duration::from_secs(10),
        ..DeskConfig::default()
    };
    let desk = start_desk(config).await;
    let trace = run_scenario(&desk, "natural-expiry").await;
    let short_lived = |e: &Event| matches!(e, Event::AgentCreated { role, ttl_secs, .. } if role == "triage" && *ttl_secs <= 2);
    let alive =
        |e: &Event| matches!(e, Event::Validated { role, valid: true, .. } if role == "triage");
    let expired = |e: &Event| matches!(e, Event::TokenExpired { role, after_ms, .. } if role == "triage" && *after_ms >= 1000);
    trace.assert_in_order(&[
        ("triage created with the short TTL", &short_lived),
        (
            "left to expire",
            &|e| matches!(e, Event::LeftToExpire { role, .. } if role == "triage"),
        ),
        ("response released", &is_released("response")),
        ("triage still valid after the run", &alive),
        ("triage refused after its TTL", &is_dead("triage")),
        ("expired", &expired),
        ("finished", &finished),
    ]);
    assert_eq!(
        trace.count(is_released("triage")),
        0,
        "the triage token is never released"
    );
    no_secret_in(&trace.raw, &desk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_offers_every_scenario_and_no_secret() {
    let desk = start_desk(DeskConfig::default()).await;
    let page = desk
        .client
        .get(format!("{}/", desk.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for scenario in scenarios() {
        assert!(
            page.contains(&format!("data-scenario=\"{}\"", scenario.id)),
            "{}",
            scenario.id
        );
    }
    assert!(page.contains("name=\"natural_expiry\""));
    assert!(page.contains("delete_account"));
    no_secret_in(&page, &desk);
    let script = desk
        .client
        .get(format!("{}/assets/demo.js", desk.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("EventSource"));

    let empty = desk
        .client
        .post(format!("{}/api/tickets", desk.base))
        .json(&json!({"scenario": "free-text", "text": "   "}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 400);
    assert_eq!(empty.headers()["content-type"], "application/problem+json");
    let problem: Value = empty.json().await.unwrap();
    assert_eq!(problem["error_code"], "invalid_request");
    assert_eq!(problem["detail"], "the ticket is empty");
    let unknown = desk
        .client
        .get(format!("{}/api/runs/run-999/events", desk.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["error_code"], "not_found");
    assert_eq!(problem["instance"], "/api/runs/run-999/events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_subscriber_replays_the_whole_run_and_logs_hold_no_secret() {
    let desk = start_desk(DeskConfig::default()).await;
    let first = run_scenario(&desk, "dangerous").await;
    // The run is over; a new subscriber gets the same events.
    let again: serde_json::Value = desk
        .client
        .get(format!("{}/api/runs/latest", desk.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["finished"], true);
    let replayed: Vec<Envelope> = serde_json::from_value(again["events"].clone()).unwrap();
    assert!(replayed.len() >= first.events.len());
    let logs = String::from_utf8(logs().lock().unwrap().clone()).unwrap();
    assert!(logs.contains("ticket run started"), "the log capture works");
    no_secret_in(&logs, &desk);
}
