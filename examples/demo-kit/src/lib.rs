//! The pieces the AgentWrit demo apps (MedAssist, the support desk) share.
//!
//! A demo run is one loop: a **planner** (an LLM, or the offline script)
//! proposes tool calls; the app finds or creates the broker **agent** for
//! the call's role, checks the tool's templated scope with
//! `scope_is_subset` against that agent's **token claims**, runs the tool
//! or reports `scope_denied` back to the planner; at the end every agent
//! is released (or deliberately left to expire) and each token is
//! validated once more and shown dead. Every step is a typed [`Event`] on
//! the run's [`EventBus`], streamed to the page over server-sent events.
//!
//! | piece | what |
//! |---|---|
//! | [`Planner`], [`PlanRequest`], [`PlannerReply`], [`ToolSpec`], [`ToolCall`], [`Message`] | the LLM behind a small object-safe trait |
//! | [`FnPlanner`] | a planner from a function: the offline, deterministic scripts |
//! | [`OpenAiPlanner`] | any OpenAI-compatible `/chat/completions` endpoint with tool calling (`LLM_BASE_URL`, `LLM_API_KEY`, `LLM_MODEL`) |
//! | [`Event`], [`Envelope`], [`Level`] | the trace: one event per step, rendered to a line server-side |
//! | [`EventBus`], [`Runs`] | a run's append-only trace with replay for late subscribers; the app's runs by id |
//! | [`AgentPool`], [`ToolDef`], [`ToolOutcome`], [`Fate`], [`render_scope`] | the enforcement loop, release, validation after release, natural expiry |
//! | [`run_routes`], [`sse_response`], [`RunRequest`], [`RunStarted`] | SSE and JSON routes for runs, the page's assets |
//! | [`PageShell`], [`Scenario`], [`document`] | the server-rendered page (maud templates: escaping by type) and its hand-written script |
//! | [`Problem`] | the one error shape of the demos' endpoints: `application/problem+json` |
//! | [`BrokerSetup`], [`parse_port`], [`bind_loopback`], [`serve`] | start-up: embedded broker or `AGENTWRIT_*`, `--port`, loopback |
//!
//! # Writing a demo with the kit
//!
//! ```no_run
//! use std::sync::Arc;
//! use agentwrit_demo_kit::*;
//! use axum::{Json, Router, extract::State, routing::{get, post}};
//! use serde_json::json;
//!
//! #[derive(Clone)]
//! struct Demo { runs: Runs, setup: Arc<BrokerSetup>, planner: Arc<dyn Planner> }
//!
//! async fn start(State(demo): State<Demo>, Json(req): Json<RunRequest>) -> Json<RunStarted> {
//!     let (id, bus) = demo.runs.start();
//!     tokio::spawn(async move {
//!         bus.emit(Event::RunStarted { scenario: req.scenario.clone(), text: req.text.clone(), planner: demo.planner.name() });
//!         let mut pool = AgentPool::new(demo.setup.app.clone(), bus.clone(), "my-demo", "run");
//!         let tools = [ToolDef::new(ToolSpec::new("get_balance", "balance", json!({"type": "object"})), ["read:billing:{customer_id}"])];
//!         if pool.agent("response", &["read:billing:jane-doe".to_owned()]).await.is_ok() {
//!             let messages = vec![Message::user(req.text)];
//!             let _ = pool
//!                 .plan_loop(demo.planner.as_ref(), "response", messages, &tools, &[("customer_id", "jane-doe")], 6,
//!                            |_call| Ok(json!({"balance": 12.5})))
//!                 .await;
//!         }
//!         pool.release_all().await;
//!         pool.validate_all().await;
//!         bus.finish("done");
//!     });
//!     Json(RunStarted::new(&id))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let setup = Arc::new(BrokerSetup::from_env_or_embedded("my-demo", &["read:billing:*"]).await?);
//!     let planner: Arc<dyn Planner> = match OpenAiPlanner::from_env() {
//!         Some(llm) => Arc::new(llm?),
//!         None => Arc::new(FnPlanner::new("offline", |_req: &PlanRequest<'_>| PlannerReply::Final("ok".into()))),
//!     };
//!     let runs = Runs::new();
//!     let page = PageShell::new("My demo", "/api/run").scenario(Scenario::new("one", "One", "hello"));
//!     let router = Router::new()
//!         .route("/", get(move || { let page = page.clone(); async move { page.html() } }))
//!         .route("/api/run", post(start))
//!         .with_state(Demo { runs: runs.clone(), setup, planner })
//!         .merge(run_routes(runs));
//!     let listener = bind_loopback(parse_port(std::env::args().skip(1))?).await?;
//!     println!("open http://{}/", listener.local_addr()?);
//!     serve(listener, router).await?;
//!     Ok(())
//! }
//! ```
//!
//! # Secrets
//!
//! No event, page or log line carries a token or a secret: events name
//! agents by SPIFFE id and scope only, [`OpenAiPlanner`]'s `Debug` and
//! errors leave out its key, [`BrokerSetup`]'s `Debug` leaves out the
//! app. [`secret_free`] is the check the tests use.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod bus;
mod enforce;
mod event;
mod openai;
mod planner;
mod problem;
mod setup;
mod usage;
mod web;

pub use bus::{EventBus, MAX_RUNS, Runs};
pub use enforce::{AgentPool, Fate, PlanOutcome, ToolDef, ToolOutcome, render_scope};
pub use event::{AgentUsage, Envelope, Event, Level, ScopeTally};
pub use openai::{DEFAULT_LLM_TIMEOUT, OpenAiPlanner};
pub use planner::{
    BoxFuture, FnPlanner, Message, PlanRequest, Planner, PlannerError, PlannerReply, ToolCall,
    ToolSpec,
};
pub use problem::Problem;
pub use setup::{BrokerSetup, BrokerSource, bind_loopback, parse_port, serve};
pub use usage::{ENV_USAGE_DIR, UsageRecording};
pub use web::{
    PAGE_SCRIPT, PAGE_STYLE, PageShell, RunRequest, RunStarted, Scenario, document, run_routes,
    sse_response,
};

/// Everything that can go wrong in the kit; no variant carries a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KitError {
    /// The broker refused or could not be reached.
    #[error("broker: {0}")]
    Broker(#[from] agentwrit_async::Error),
    /// The planner failed.
    #[error("planner: {0}")]
    Planner(#[from] PlannerError),
    /// Start-up or a wrong use of the kit.
    #[error("{0}")]
    Setup(String),
    /// Binding or serving failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `text` contains none of `secrets` (empty ones ignored).
///
/// ```
/// use agentwrit_demo_kit::secret_free;
/// assert!(secret_free("agent spiffe://x released", ["eyJhbGciOi.secret"]));
/// assert!(!secret_free("Bearer eyJhbGciOi.secret", ["eyJhbGciOi.secret"]));
/// ```
#[must_use]
pub fn secret_free<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> bool {
    secrets
        .into_iter()
        .filter(|s| !s.is_empty())
        .all(|s| !text.contains(s))
}
