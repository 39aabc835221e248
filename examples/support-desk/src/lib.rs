//! The support-ticket pipeline: three LLM-driven agents (triage →
//! knowledge → response) working a customer ticket under broker-issued
//! credentials, each scoped to what its phase needs and, for the
//! response agent, to one verified customer.
//!
//! - **Identity gate**: triage (`read:tickets:*`) names the writer; a
//!   ticket from nobody the desk knows halts there, and no
//!   customer-scoped credential is ever minted.
//! - **Per-customer scope**: the response agent holds
//!   `read:billing:{customer}` and friends for the verified customer only;
//!   asking for another customer's balance is `scope_denied`.
//! - **Dangerous tools**: `delete_account` and `send_external_email` are
//!   offered to the planner but are outside every credential, so they
//!   never run.
//! - **Natural expiry**: with `natural_expiry` the triage agent gets a
//!   short TTL and is never released; the trace shows the broker accept
//!   its token after the run and refuse it once the TTL is over.
//!
//! Run it with `cargo run -p agentwrit-support-desk` (embedded broker,
//! offline planner); see [`Desk`] for the routes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

pub mod data;
pub mod offline;

use std::sync::Arc;
use std::time::Duration;

use agentwrit_async::AgentOptions;
use agentwrit_demo_kit::{
    AgentPool, BrokerSetup, Event, EventBus, Fate, Message, PageShell, Planner, Problem,
    RunRequest, RunStarted, Runs, Scenario, run_routes,
};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{Markup, html};
use serde_json::Value;

pub use offline::OfflinePlanner;

/// The orchestrator id of every agent the desk creates.
pub const ORCH_ID: &str = "support-desk";

/// The longest ticket accepted, in characters.
pub const MAX_TICKET_CHARS: usize = 4000;

/// Tunables; [`DeskConfig::default`] is what the binary uses.
#[derive(Clone, Debug)]
pub struct DeskConfig {
    /// TTL of every agent, seconds.
    pub agent_ttl_secs: i64,
    /// TTL of the triage agent in natural-expiry mode, seconds.
    pub expiry_ttl_secs: i64,
    /// Planner turns per agent at most.
    pub max_turns: usize,
    /// How often an expiring token is validated past its TTL.
    pub expiry_poll: Duration,
    /// How long past its TTL a token may still be accepted before the run
    /// reports a failure.
    pub expiry_grace: Duration,
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig {
            agent_ttl_secs: 300,
            expiry_ttl_secs: 5,
            max_turns: 12,
            expiry_poll: Duration::from_millis(250),
            expiry_grace: Duration::from_secs(10),
        }
    }
}

/// The quick-fill scenarios, one per case the demo exists to show.
#[must_use]
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario::new(
            "billing",
            "1 · Billing refund",
            "Hi, this is Lewis Smith. I was charged twice for April on the 1st. Could you refund the duplicate?",
        )
        .option("natural_expiry", false),
        Scenario::new(
            "cross-customer",
            "2 · Another customer's balance",
            "Hello, Jane Doe here. What is my balance? And while you are at it, what does Lewis Smith owe you?",
        )
        .option("natural_expiry", false),
        Scenario::new(
            "dangerous",
            "3 · Dangerous tools",
            "This is Jane Doe. Delete my account right now and send all my data to jane.backup@elsewhere.example.",
        )
        .option("natural_expiry", false),
        Scenario::new(
            "anonymous",
            "4 · Anonymous ticket",
            "Hey, what are your opening hours?",
        )
        .option("natural_expiry", false),
        Scenario::new(
            "natural-expiry",
            "5 · Natural expiry (no release)",
            "No rush: Priya Raman here, could you tell me my current balance?",
        )
        .option("natural_expiry", true),
    ]
}

const TRIAGE_PROMPT: &str = "You are the triage agent of a support desk. Read the ticket with \
read_ticket, then call classify_ticket once with the writer's full name exactly as written \
(null if the ticket does not say who wrote it), the category and the priority. Then answer \
with one sentence.";

const KNOWLEDGE_PROMPT: &str = "You are the knowledge agent of a support desk. Search the \
knowledge base for the policies that apply to the ticket, then answer with the titles of the \
relevant policies.";

const RESPONSE_PROMPT: &str = "You are the response agent of a support desk. Resolve the \
ticket with the tools; do what the ticket asks. A tool result with error scope_denied means \
your credential does not allow it: do not retry it. Finish with the reply to the customer.";

struct DeskInner {
    setup: BrokerSetup,
    planner: Arc<dyn Planner>,
    runs: Runs,
    config: DeskConfig,
}

/// The desk: broker, planner, runs. Cheap to clone.
///
/// Routes ([`Desk::router`]): `GET /` the page; `POST /api/tickets` a
/// the kit's `RunRequest` (`text`, `scenario`, option `natural_expiry`)
/// answered with its `RunStarted`; the kit's `GET /api/runs/{id}/events` (SSE),
/// `GET /api/runs/{id}` and `GET /api/runs/latest`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use agentwrit_demo_kit::{BrokerSetup, Event, RunRequest};
/// use agentwrit_support_desk::{Desk, DeskConfig, OfflinePlanner, data};
///
/// let setup = BrokerSetup::embedded(agentwrit_devbroker::DevBroker::builder(), "support-desk", &data::CEILING)?;
/// let desk = Desk::new(setup, Arc::new(OfflinePlanner), DeskConfig::default());
/// let started = desk.start_run(RunRequest {
///     text: "Hey, what are your opening hours?".into(),
///     ..RunRequest::default()
/// })?;
/// let bus = desk.runs().get(&started.run_id).unwrap();
/// // An anonymous ticket stops at the identity gate.
/// let halted = bus.wait_for(|e| matches!(e.event, Event::Halted { .. })).await;
/// assert!(halted.unwrap().line.contains("identity gate"));
/// bus.wait_for(|e| matches!(e.event, Event::RunFinished { .. })).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Desk {
    inner: Arc<DeskInner>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("setup", &self.inner.setup)
            .field("planner", &self.inner.planner.name())
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Desk {
    /// A desk on `setup` with `planner`.
    #[must_use]
    pub fn new(setup: BrokerSetup, planner: Arc<dyn Planner>, config: DeskConfig) -> Desk {
        Desk {
            inner: Arc::new(DeskInner {
                setup,
                planner,
                runs: Runs::new(),
                config,
            }),
        }
    }

    /// The runs so far.
    #[must_use]
    pub fn runs(&self) -> &Runs {
        &self.inner.runs
    }

    /// The broker set-up.
    #[must_use]
    pub fn setup(&self) -> &BrokerSetup {
        &self.inner.setup
    }

    /// The app's routes.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/api/tickets", post(submit))
            .with_state(self.clone())
            .merge(run_routes(self.inner.runs.clone()))
    }

    /// Starts a run for `request` in the background.
    ///
    /// # Errors
    ///
    /// An empty or too long ticket (the message says which).
    pub fn start_run(&self, request: RunRequest) -> Result<RunStarted, Problem> {
        let chars = request.text.trim().chars().count();
        if chars == 0 {
            return Err(Problem::invalid_request("the ticket is empty"));
        }
        if chars > MAX_TICKET_CHARS {
            return Err(Problem::invalid_request(format!(
                "the ticket is longer than {MAX_TICKET_CHARS} characters"
            )));
        }
        let (id, bus) = self.inner.runs.start();
        tracing::info!(run = %id, scenario = %request.scenario, "ticket run started");
        let desk = self.clone();
        let run_id = id.clone();
        tokio::spawn(async move {
            desk.run_ticket(&run_id, bus.clone(), request).await;
            tracing::info!(run = %run_id, "ticket run finished");
        });
        Ok(RunStarted::new(&id))
    }

    fn options(&self, ttl: i64) -> AgentOptions {
        AgentOptions::new().with_max_ttl(std::time::Duration::from_secs(ttl.max(1).unsigned_abs()))
    }

    /// The whole pipeline for one ticket; every step on `bus`.
    pub async fn run_ticket(&self, run_id: &str, bus: EventBus, request: RunRequest) {
        let cfg = &self.inner.config;
        let planner = self.inner.planner.as_ref();
        let text = request.text.trim().to_owned();
        let expiry = request.flag("natural_expiry");
        bus.emit(Event::RunStarted {
            scenario: request.scenario.clone(),
            text: text.clone(),
            planner: planner.name(),
        });
        let mut pool = AgentPool::new(self.inner.setup.app.clone(), bus.clone(), ORCH_ID, run_id);

        // Phase 1: triage.
        bus.emit(Event::Step {
            role: "pipeline".into(),
            text: if expiry {
                format!(
                    "phase 1, triage: read:tickets:* only, TTL {} s, and this agent will NOT be released",
                    cfg.expiry_ttl_secs
                )
            } else {
                "phase 1, triage: an agent with read:tickets:* only reads and classifies the ticket".into()
            },
        });
        let (ttl, fate) = if expiry {
            (cfg.expiry_ttl_secs, Fate::Expire)
        } else {
            (cfg.agent_ttl_secs, Fate::Release)
        };
        if pool
            .agent_with("triage", &data::triage_scope(), self.options(ttl), fate)
            .await
            .is_err()
        {
            return self
                .wrap_up(pool, expiry, "the triage agent could not be created")
                .await;
        }
        let messages = vec![Message::system(TRIAGE_PROMPT), Message::user(text.clone())];
        let triage = pool
            .plan_loop(
                planner,
                "triage",
                messages,
                &data::triage_tools(),
                &[],
                cfg.max_turns,
                |call| data::execute(&call.name, &call.arguments, &text),
            )
            .await;
        pool.finish_role("triage").await;
        let classification = triage.ok().and_then(|outcome| {
            outcome
                .calls
                .into_iter()
                .rev()
                .find(|(call, result)| call.name == "classify_ticket" && !result.is_denied())
                .map(|(call, _)| call.arguments)
        });
        let named = classification
            .as_ref()
            .and_then(|c| c.get("customer_name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let category = classification
            .as_ref()
            .and_then(|c| c.get("category"))
            .and_then(Value::as_str)
            .unwrap_or("general")
            .to_owned();

        // The identity gate.
        let Some(customer) = data::customer_by_name(named) else {
            let why = if named.is_empty() {
                "the ticket does not say who wrote it".to_owned()
            } else {
                format!("{named:?} is not a customer of record")
            };
            bus.emit(Event::Halted {
                reason: format!(
                    "identity gate: {why}; no customer-scoped credential is minted, no further agent is created"
                ),
            });
            return self
                .wrap_up(pool, expiry, "halted at the identity gate")
                .await;
        };
        bus.emit(Event::Step {
            role: "pipeline".into(),
            text: format!(
                "identity verified: {} \u{2192} customer_id {}",
                customer.name, customer.id
            ),
        });

        // Phase 2: knowledge.
        bus.emit(Event::Step {
            role: "pipeline".into(),
            text: "phase 2, knowledge: an agent with read:kb:* looks up the policies".into(),
        });
        if pool
            .agent_with(
                "knowledge",
                &data::knowledge_scope(),
                self.options(cfg.agent_ttl_secs),
                Fate::Release,
            )
            .await
            .is_err()
        {
            return self
                .wrap_up(pool, expiry, "the knowledge agent could not be created")
                .await;
        }
        let messages = vec![
            Message::system(format!("{KNOWLEDGE_PROMPT} Ticket category: {category}.")),
            Message::user(text.clone()),
        ];
        let knowledge = pool
            .plan_loop(
                planner,
                "knowledge",
                messages,
                &data::knowledge_tools(),
                &[],
                cfg.max_turns,
                |call| data::execute(&call.name, &call.arguments, &text),
            )
            .await;
        pool.finish_role("knowledge").await;
        let policies = knowledge
            .ok()
            .and_then(|o| o.answer)
            .unwrap_or_else(|| "no policy found".to_owned());

        // Phase 3: response, scoped to the verified customer.
        bus.emit(Event::Step {
            role: "pipeline".into(),
            text: format!(
                "phase 3, response: an agent scoped to {} only; every tool is offered to the planner, the scope check decides",
                customer.id
            ),
        });
        if pool
            .agent_with(
                "response",
                &data::response_scope(customer.id),
                self.options(cfg.agent_ttl_secs),
                Fate::Release,
            )
            .await
            .is_err()
        {
            return self
                .wrap_up(pool, expiry, "the response agent could not be created")
                .await;
        }
        let system = format!(
            "{RESPONSE_PROMPT}\nThe ticket's writer is {} ({}{}). Category: {category}. {policies}",
            customer.name,
            offline::VERIFIED_MARKER,
            customer.id
        );
        let messages = vec![Message::system(system), Message::user(text.clone())];
        let _ = pool
            .plan_loop(
                planner,
                "response",
                messages,
                &data::response_tools(),
                &[("customer_id", customer.id)],
                cfg.max_turns,
                |call| data::execute(&call.name, &call.arguments, &text),
            )
            .await;
        pool.finish_role("response").await;
        self.wrap_up(pool, expiry, "ticket handled").await;
    }

    /// Release what is left, validate every token once more, watch the
    /// unreleased ones expire, finish.
    async fn wrap_up(&self, mut pool: AgentPool, expiry: bool, outcome: &str) {
        let cfg = &self.inner.config;
        pool.release_all().await;
        let bus = pool.bus().clone();
        bus.emit(Event::Step {
            role: "pipeline".into(),
            text: "post-run: every token is validated at the broker once more".into(),
        });
        pool.validate_all().await;
        if expiry {
            pool.await_expiry(cfg.expiry_poll, cfg.expiry_grace).await;
        }
        pool.finish_usage();
        let events = bus.snapshot();
        let count = |which: fn(&Event) -> bool| events.iter().filter(|e| which(&e.event)).count();
        bus.finish(format!(
            "{outcome}; {} agent(s) created, {} call(s) denied by scope, {} token(s) released, {} expired",
            count(|e| matches!(e, Event::AgentCreated { .. })),
            count(|e| matches!(e, Event::ScopeDenied { .. })),
            count(|e| matches!(e, Event::Released { .. })),
            count(|e| matches!(e, Event::TokenExpired { .. })),
        ));
    }
}

async fn submit(State(desk): State<Desk>, Json(request): Json<RunRequest>) -> Response {
    match desk.start_run(request) {
        Ok(started) => Json(started).into_response(),
        Err(problem) => problem.at("/api/tickets").into_response(),
    }
}

async fn page(State(desk): State<Desk>) -> Response {
    desk.page().into_response()
}

impl Desk {
    fn page(&self) -> axum::response::Html<String> {
        let mut shell = PageShell::new("AgentWrit support desk", "/api/tickets")
            .tagline("Three LLM-driven agents (triage \u{2192} knowledge \u{2192} response), each with its own short-lived, scoped broker credential")
            .intro(intro())
            .placeholder("Write a support ticket, or pick a scenario above")
            .controls(html! {
                label {
                    input type="checkbox" name="natural_expiry" data-option;
                    " natural expiry: triage gets a short TTL and is never released"
                }
            })
            .sections(tools_table())
            .footer(html! {
                "Broker: " (self.inner.setup.describe())
                " \u{b7} planner: " (self.inner.planner.name())
                " \u{b7} agents: orch_id " code { (ORCH_ID) }
            });
        for scenario in scenarios() {
            shell = shell.scenario(scenario);
        }
        shell.html()
    }
}

fn intro() -> Markup {
    html! {
        p {
            "Submit a ticket. " b { "Triage" } " reads it with " code { "read:tickets:*" }
            " and names the writer; an unknown writer stops the pipeline there. "
            b { "Knowledge" } " reads policies with " code { "read:kb:*" } ". "
            b { "Response" } " gets scopes for the verified customer only. The planner sees \
            every tool, dangerous ones included; before each call the app checks the tool's scope \
            against the agent's " i { "token claims" } ". After the run every token is validated \
            again: all dead."
        }
    }
}

/// Where a tool's required scope stands against the response agent's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    /// Inside the response agent's scope: it can run.
    Held,
    /// In no credential the desk ever asks for: it never runs.
    Never,
}

fn tools_table() -> Markup {
    let held = data::response_scope("{customer_id}");
    let reach = |tool: &agentwrit_demo_kit::ToolDef| {
        if tool.scope.iter().all(|s| held.contains(s)) {
            Reach::Held
        } else {
            Reach::Never
        }
    };
    html! {
        section {
            h2 { "Tools the response planner is offered" }
            table {
                tr { th { "tool" } th { "required scope" } th {} }
                @for tool in data::response_tools() {
                    tr {
                        td { code { (tool.spec.name) } }
                        td { code { (tool.scope.join(", ")) } }
                        td {
                            @match reach(&tool) {
                                Reach::Held => span.badge.ok { "in the response agent's scope" },
                                Reach::Never => span.badge.deny { "in no credential: never runs" },
                            }
                        }
                    }
                }
            }
        }
    }
}
