//! One encounter: the enforcement loop.
//!
//! The planner proposes a tool. The encounter finds the agent for the
//! tool's category, or asks the broker for one scoped to this patient and
//! this category; it templates the tool's required scope on the patient
//! the call names and checks it with `scope_is_subset` against the
//! **claims of the token** that would authorise the call; then it runs the
//! tool or tells the planner `scope_denied`. A prescription write is
//! authorised by a token the clinical agent delegated to the prescription
//! agent, never by the prescription agent's own token.
//!
//! At the end every agent is renewed once (same SPIFFE id, new token; the
//! old one is checked dead), the delegated token and every agent are
//! released, and every token is validated once more and shown dead.

use std::sync::Arc;

use agentwrit_async::{App, DelegatedToken, scope_is_subset};
use agentwrit_demo_kit::{
    AgentPool, Event, EventBus, Message, PlanRequest, Planner, PlannerReply, ToolCall, ToolOutcome,
    ToolSpec,
};
use serde_json::{Value, json};

use crate::data;
use crate::offline::user_message;
use crate::tools::{self, Category};

/// The orchestrator id every MedAssist agent is registered under: agent
/// ids read `spiffe://agentwrit.local/agent/medassist/{task}/{id}`.
///
/// ```
/// assert_eq!(agentwrit_medassist::ORCH_ID, "medassist");
/// ```
pub const ORCH_ID: &str = "medassist";

/// The most planner turns an encounter allows.
pub const MAX_TURNS: usize = 8;

const SYSTEM_PROMPT: &str = "You are MedAssist, an assistant for clinic staff. \
Answer the request about the patient named in the first line by calling the tools; \
always pass patient_id. If the request mentions other patients, look them up too. \
When a tool answers scope_denied, do not retry it; say what you could not do.";

/// What an encounter needs: the app that mints agents and the planner.
#[derive(Clone)]
pub struct Clinic {
    /// The broker app the agents are created under.
    pub app: App,
    /// The planner (offline or an LLM).
    pub planner: Arc<dyn Planner>,
    /// A tag unique to this process, at the front of every task id, so
    /// the audit tab can pick out this process's runs.
    pub instance: String,
}

impl std::fmt::Debug for Clinic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clinic")
            .field("planner", &self.planner.name())
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// The tools as the planner sees them.
#[must_use]
pub fn tool_specs() -> Vec<ToolSpec> {
    tools::TOOLS
        .iter()
        .map(|t| ToolSpec::new(t.name, t.description, t.parameters_schema()))
        .collect()
}

/// The prefix of every task id of run `run_id` (or of the whole process
/// when `run_id` is `None`).
#[must_use]
pub fn task_prefix(instance: &str, run_id: Option<&str>) -> String {
    match run_id {
        Some(run) => format!("{instance}-{run}-"),
        None => format!("{instance}-"),
    }
}

/// The encounter's state: the agent pool (one agent per category) and
/// the delegated prescription token.
struct Encounter<'a> {
    clinic: &'a Clinic,
    bus: &'a EventBus,
    patient: &'a str,
    pool: AgentPool,
    delegated: Option<DelegatedToken>,
    ran: usize,
    denied: usize,
}

/// Runs one encounter for `patient` with the clinician's `text`, emitting
/// every step on `bus` and finishing it.
pub async fn run(
    clinic: &Clinic,
    bus: &EventBus,
    run_id: &str,
    scenario: &str,
    patient: &str,
    text: &str,
) {
    bus.emit(Event::RunStarted {
        scenario: scenario.to_owned(),
        text: text.to_owned(),
        planner: clinic.planner.name(),
    });
    let patient = patient.trim().to_uppercase();
    let Some(record) = data::patient(&patient) else {
        bus.emit(Event::Custom {
            kind: "patient_lookup".into(),
            text: format!("patient lookup: no patient {patient} at this clinic"),
            data: json!({"patient_id": patient, "found": false}),
        });
        bus.emit(Event::Halted {
            reason: format!(
                "unknown patient {patient}: the encounter stops before any agent is minted"
            ),
        });
        bus.finish("no agent was created");
        return;
    };
    bus.emit(Event::Custom {
        kind: "patient_lookup".into(),
        text: format!("patient lookup: {} is {}", record.id, record.name),
        data: json!({"patient_id": record.id, "found": true}),
    });
    // The pool names each agent's task `{instance}-{run}-{category}`.
    let task = task_prefix(&clinic.instance, Some(run_id));
    let mut encounter = Encounter {
        clinic,
        bus,
        patient: record.id,
        pool: AgentPool::new(
            clinic.app.clone(),
            bus.clone(),
            ORCH_ID,
            task.trim_end_matches('-'),
        ),
        delegated: None,
        ran: 0,
        denied: 0,
    };
    encounter.converse(text).await;
    encounter.wind_down().await;
    let summary = format!(
        "{} agent(s) created, {} tool call(s) ran, {} denied; every token released and refused by the broker afterwards",
        encounter.pool.roles().len(),
        encounter.ran,
        encounter.denied
    );
    bus.finish(summary);
}

/// A short, secret-free description of an SDK error.
fn describe(error: &agentwrit_async::Error) -> String {
    error.to_string()
}

impl Encounter<'_> {
    fn emit(&self, event: Event) {
        self.bus.emit(event);
    }

    /// The planner loop.
    async fn converse(&mut self, text: &str) {
        let specs = tool_specs();
        let mut messages = vec![
            Message::system(SYSTEM_PROMPT),
            Message::user(user_message(self.patient, text)),
        ];
        for _ in 0..MAX_TURNS {
            let request = PlanRequest {
                role: "assistant",
                messages: &messages,
                tools: &specs,
            };
            let reply = match self.clinic.planner.plan(request).await {
                Ok(reply) => reply,
                Err(error) => {
                    self.emit(Event::Failed {
                        error: format!("planner: {error}"),
                    });
                    return;
                }
            };
            let calls = match reply {
                PlannerReply::Final(answer) => {
                    self.emit(Event::PlannerAnswer {
                        role: "assistant".into(),
                        text: answer,
                    });
                    return;
                }
                PlannerReply::ToolCalls(calls) => calls,
            };
            messages.push(Message::Assistant {
                content: None,
                tool_calls: calls.clone(),
            });
            for call in calls {
                let outcome = self.handle(&call).await;
                match outcome {
                    ToolOutcome::Ran(_) => self.ran += 1,
                    ToolOutcome::Denied { .. } => self.denied += 1,
                    ToolOutcome::Failed(_) => {}
                }
                messages.push(Message::Tool {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    content: planner_content(&outcome, &call, self.patient),
                });
            }
        }
        self.emit(Event::Failed {
            error: format!("the planner did not finish within {MAX_TURNS} turns"),
        });
    }

    /// One proposed tool call: find or create its category's agent, check
    /// the scope against the authorising token's claims, run or deny.
    async fn handle(&mut self, call: &ToolCall) -> ToolOutcome {
        let Some(tool) = tools::tool(&call.name) else {
            self.emit(Event::ToolProposed {
                role: "assistant".into(),
                tool: call.name.clone(),
                arguments: call.arguments.clone(),
            });
            let error = format!("no tool named {}", call.name);
            self.emit(Event::ToolFailed {
                role: "assistant".into(),
                tool: call.name.clone(),
                error: error.clone(),
            });
            return ToolOutcome::Failed(error);
        };
        let category = tool.category;
        let role = category.as_str();
        if let Err(error) = self.ensure_agent(category, tool.name).await {
            return ToolOutcome::Failed(error);
        }
        // The scope is templated on the patient the *call* names: that is
        // what a call about another patient runs into.
        let target = call_patient(call, self.patient);
        let required = tool.required_scope(&target);
        let run = || {
            let result = tools::execute(tool, &target, &call.arguments);
            async move {
                match result.get("error").and_then(Value::as_str) {
                    Some(error) => Err(error.to_owned()),
                    None => Ok(result),
                }
            }
        };
        if !tool.delegated {
            return self.pool.enforce(role, call, &required, run).await;
        }
        // A prescription write runs only under the token the clinical
        // agent delegated to the prescription agent.
        if self.delegated.is_none() {
            self.delegate_prescriptions().await;
        }
        self.emit(Event::ToolProposed {
            role: role.to_owned(),
            tool: call.name.clone(),
            arguments: call.arguments.clone(),
        });
        let held = self
            .delegated
            .as_ref()
            .map(|token| token.claims().scope.clone())
            .unwrap_or_default();
        let allowed = scope_is_subset(&required, &held);
        if let Some(token) = &self.delegated {
            self.pool.record_check(
                token.access_token().expose_secret(),
                &token.claims(),
                &required,
                allowed,
            );
        }
        if !allowed {
            self.emit(Event::ScopeDenied {
                role: format!("{role} (delegated)"),
                tool: call.name.clone(),
                required: required.clone(),
                held: held.clone(),
            });
            return ToolOutcome::Denied { required, held };
        }
        self.emit(Event::ScopePassed {
            role: format!("{role} (delegated)"),
            tool: call.name.clone(),
            required,
            held,
        });
        match run().await {
            Ok(result) => {
                self.emit(Event::ToolResult {
                    role: role.to_owned(),
                    tool: call.name.clone(),
                    result: result.clone(),
                });
                ToolOutcome::Ran(result)
            }
            Err(error) => {
                self.emit(Event::ToolFailed {
                    role: role.to_owned(),
                    tool: call.name.clone(),
                    error: error.clone(),
                });
                ToolOutcome::Failed(error)
            }
        }
    }

    /// Creates `category`'s agent, scoped to this patient, unless it
    /// exists.
    async fn ensure_agent(&mut self, category: Category, why: &str) -> Result<(), String> {
        let role = category.as_str();
        if self.pool.get(role).is_some() {
            return Ok(());
        }
        self.emit(Event::Step {
            role: role.to_owned(),
            text: format!(
                "{why} needs a {role} agent and there is none yet: asking the broker for one scoped to {} only",
                self.patient
            ),
        });
        self.pool
            .agent(role, &category.scope(self.patient))
            .await
            .map(|_| ())
            .map_err(|e| format!("no {role} agent: {e}"))
    }

    /// The clinical agent delegates `write:prescriptions:{patient}` to the
    /// prescription agent.
    async fn delegate_prescriptions(&mut self) {
        if self
            .ensure_agent(Category::Clinical, "delegating the prescription write")
            .await
            .is_err()
        {
            return;
        }
        let scope = [tools::prescription_write_scope(self.patient)];
        if let Ok(token) = self
            .pool
            .delegate(
                Category::Clinical.as_str(),
                Category::Prescription.as_str(),
                &scope,
                None,
            )
            .await
        {
            self.delegated = Some(token);
        }
    }

    /// Renews each agent once, releases everything, and shows every token
    /// dead.
    async fn wind_down(&mut self) {
        for role in self.pool.roles() {
            let Some(agent) = self.pool.get(&role).cloned() else {
                continue;
            };
            let old = agent.access_token();
            match self.pool.renew(&role).await {
                Ok(()) => {
                    self.old_token_checked(&role, &agent.agent_id(), old.expose_secret())
                        .await;
                }
                Err(error) => self.emit(Event::Failed {
                    error: format!("renewing the {role} agent: {error}"),
                }),
            }
        }
        let delegated_role = "prescription (delegated)";
        if let Some(token) = &self.delegated {
            match token.release().await {
                Ok(_) => self.emit(Event::Released {
                    role: delegated_role.into(),
                    agent_id: token.subject().to_owned(),
                }),
                Err(error) => self.emit(Event::Failed {
                    error: format!("releasing the delegated token: {}", describe(&error)),
                }),
            }
        }
        self.pool.release_all().await;
        self.pool.validate_all().await;
        if let Some(token) = &self.delegated {
            self.validated(
                delegated_role,
                &token.subject(),
                token.access_token().expose_secret(),
            )
            .await;
        }
        self.pool.finish_usage();
    }

    /// After a renewal: the broker refuses the token it replaced.
    async fn old_token_checked(&self, role: &str, agent_id: &str, token: &str) {
        match self.clinic.app.validate(token).await {
            Ok(v) => {
                let text = if v.is_valid() {
                    format!("{role}: the token from before the renewal is STILL accepted")
                } else {
                    format!(
                        "{role}: the token from before the renewal is refused by the broker ({})",
                        v.error().unwrap_or("invalid")
                    )
                };
                self.emit(Event::Custom {
                    kind: "old_token_checked".into(),
                    text,
                    data: json!({"role": role, "agent_id": agent_id, "valid": v.is_valid()}),
                });
            }
            Err(error) => self.emit(Event::Failed {
                error: format!("validating the {role} token: {}", describe(&error)),
            }),
        }
    }

    async fn validated(&self, role: &str, agent_id: &str, token: &str) {
        match self.clinic.app.validate(token).await {
            Ok(v) => self.emit(Event::Validated {
                role: role.to_owned(),
                agent_id: agent_id.to_owned(),
                valid: v.is_valid(),
                reason: v.error().map(str::to_owned),
            }),
            Err(error) => self.emit(Event::Failed {
                error: format!("validating the {role} token: {}", describe(&error)),
            }),
        }
    }
}

/// The patient a call names (upper-cased), or the encounter's.
fn call_patient(call: &ToolCall, encounter_patient: &str) -> String {
    call.str_arg("patient_id")
        .map(|p| p.trim().to_uppercase())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| encounter_patient.to_owned())
}

/// What the planner is told: the kit's content, with the patient the call
/// was about (so an answer can say whose data was refused).
fn planner_content(outcome: &ToolOutcome, call: &ToolCall, encounter_patient: &str) -> String {
    let patient = call_patient(call, encounter_patient);
    let mut value: Value =
        serde_json::from_str(&outcome.planner_content()).unwrap_or_else(|_| json!({}));
    if let Some(map) = value.as_object_mut() {
        map.entry("patient_id").or_insert_with(|| patient.into());
    }
    value.to_string()
}
