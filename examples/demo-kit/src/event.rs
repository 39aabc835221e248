//! The typed trace: one [`Event`] per step of a run, one line in the page.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One step of a demo run. Serialised with a `type` tag in snake case
/// (`{"type":"scope_denied","role":"response",...}`); it is what travels
/// over the SSE stream inside an [`Envelope`].
///
/// No variant has a field for a token or a secret: agents are named by
/// their SPIFFE id and scopes only.
///
/// ```
/// use agentwrit_demo_kit::Event;
///
/// let event = Event::ScopeDenied {
///     role: "response".into(),
///     tool: "delete_account".into(),
///     required: vec!["delete:account:jane-doe".into()],
///     held: vec!["read:billing:jane-doe".into()],
/// };
/// assert_eq!(event.kind(), "scope_denied");
/// let json = serde_json::to_value(&event)?;
/// assert_eq!(json["type"], "scope_denied");
/// assert!(event.line().contains("delete_account"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The run began with this scenario and text.
    RunStarted {
        /// The scenario id (`"anonymous"`, `"free-text"`, ...).
        scenario: String,
        /// The user's text.
        text: String,
        /// Which planner drives the run (`offline` or the LLM model).
        planner: String,
    },
    /// A narrative step: a phase begins, a decision is taken.
    Step {
        /// Who speaks (`"pipeline"`, `"triage"`, ...).
        role: String,
        /// What happened, in one sentence.
        text: String,
    },
    /// The planner asked for a tool.
    ToolProposed {
        /// The agent role the planner works for.
        role: String,
        /// Tool name.
        tool: String,
        /// The arguments as the planner gave them.
        arguments: Value,
    },
    /// The planner ended its turn with text.
    PlannerAnswer {
        /// The agent role the planner works for.
        role: String,
        /// The answer.
        text: String,
    },
    /// A broker agent was created.
    AgentCreated {
        /// The role (category) the agent serves.
        role: String,
        /// Its SPIFFE id.
        agent_id: String,
        /// The scope in its token's claims.
        scope: Vec<String>,
        /// Seconds until its token expires.
        ttl_secs: i64,
    },
    /// The tool's required scope is inside the agent's token claims.
    ScopePassed {
        /// The agent role.
        role: String,
        /// Tool name.
        tool: String,
        /// The scope the tool needs, templated for this call.
        required: Vec<String>,
        /// The scope in the agent's token claims.
        held: Vec<String>,
    },
    /// The tool's required scope is not inside the agent's token claims:
    /// the tool does not run and the planner is told `scope_denied`.
    ScopeDenied {
        /// The agent role.
        role: String,
        /// Tool name.
        tool: String,
        /// The scope the tool needs, templated for this call.
        required: Vec<String>,
        /// The scope in the agent's token claims.
        held: Vec<String>,
    },
    /// The tool ran.
    ToolResult {
        /// The agent role.
        role: String,
        /// Tool name.
        tool: String,
        /// What it returned.
        result: Value,
    },
    /// The tool was allowed but failed (unknown record, bad arguments).
    ToolFailed {
        /// The agent role.
        role: String,
        /// Tool name.
        tool: String,
        /// Why.
        error: String,
    },
    /// One agent delegated part of its scope to another.
    Delegated {
        /// The delegating role.
        from_role: String,
        /// The receiving role.
        to_role: String,
        /// The receiving agent's SPIFFE id.
        to_agent: String,
        /// The delegated scope (from the delegated token's claims).
        scope: Vec<String>,
        /// The delegation chain, oldest first (agent ids).
        chain: Vec<String>,
    },
    /// An agent's token was renewed.
    Renewed {
        /// The agent role.
        role: String,
        /// Its SPIFFE id (unchanged by renewal).
        agent_id: String,
        /// Seconds until the new token expires.
        ttl_secs: i64,
    },
    /// An agent's token was released at the broker.
    Released {
        /// The agent role.
        role: String,
        /// Its SPIFFE id.
        agent_id: String,
    },
    /// An agent is deliberately not released: its token will die at the
    /// end of its TTL.
    LeftToExpire {
        /// The agent role.
        role: String,
        /// Its SPIFFE id.
        agent_id: String,
        /// Seconds it has left.
        ttl_secs: i64,
    },
    /// The broker's answer when the token was validated.
    Validated {
        /// The agent role.
        role: String,
        /// Its SPIFFE id.
        agent_id: String,
        /// Whether the broker still accepts the token.
        valid: bool,
        /// The broker's reason when it does not.
        reason: Option<String>,
    },
    /// A token that was never released is now refused by the broker: its
    /// TTL ran out.
    TokenExpired {
        /// The agent role.
        role: String,
        /// Its SPIFFE id.
        agent_id: String,
        /// Milliseconds from its creation to the first refused validation.
        after_ms: u64,
    },
    /// The run stopped early on purpose (e.g. no verified identity).
    Halted {
        /// Why.
        reason: String,
    },
    /// Something went wrong that the demo did not plan for.
    Failed {
        /// The error, free of secrets.
        error: String,
    },
    /// An app-specific event (a kind of its own, a line and data).
    Custom {
        /// Short kind, shown as the line's label.
        kind: String,
        /// The line.
        text: String,
        /// Any data for the page or tests.
        data: Value,
    },
    /// Scope usage of the run, per agent: what its token granted, what
    /// the run's checks used, what was denied (from the run's
    /// `agentwrit-usage` recorder).
    Usage {
        /// One entry per agent (and per delegated token).
        agents: Vec<AgentUsage>,
    },
    /// The run is over; nothing follows.
    RunFinished {
        /// One-sentence summary.
        summary: String,
    },
}

/// One agent's scope usage in a run (see [`Event::Usage`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentUsage {
    /// The role (`clinical`, `billing (delegated)`, ...).
    pub role: String,
    /// Its SPIFFE id.
    pub agent_id: String,
    /// Whether this is a delegated token.
    pub delegated: bool,
    /// The scopes its token granted.
    pub granted: Vec<String>,
    /// The scopes allowed calls needed, with counts.
    pub used: Vec<ScopeTally>,
    /// Granted scopes no call needed.
    pub unused: Vec<String>,
    /// The scopes denied calls needed and the token lacked, with counts.
    pub denied: Vec<ScopeTally>,
}

/// A scope and how many checks needed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeTally {
    /// The scope.
    pub scope: String,
    /// How many checks.
    pub count: u64,
}

/// How a trace line is coloured in the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Neutral information.
    Info,
    /// Something allowed or succeeded.
    Ok,
    /// Something refused by scope.
    Deny,
    /// A token is dead (released or expired).
    Dead,
    /// A failure or a halt.
    Warn,
}

impl Event {
    /// The `type` tag: `"agent_created"`, `"scope_denied"`, ...
    ///
    /// ```
    /// let e = agentwrit_demo_kit::Event::Halted { reason: "anonymous".into() };
    /// assert_eq!(e.kind(), "halted");
    /// ```
    #[must_use]
    pub fn kind(&self) -> &str {
        match self {
            Event::RunStarted { .. } => "run_started",
            Event::Step { .. } => "step",
            Event::ToolProposed { .. } => "tool_proposed",
            Event::PlannerAnswer { .. } => "planner_answer",
            Event::AgentCreated { .. } => "agent_created",
            Event::ScopePassed { .. } => "scope_passed",
            Event::ScopeDenied { .. } => "scope_denied",
            Event::ToolResult { .. } => "tool_result",
            Event::ToolFailed { .. } => "tool_failed",
            Event::Delegated { .. } => "delegated",
            Event::Renewed { .. } => "renewed",
            Event::Released { .. } => "released",
            Event::LeftToExpire { .. } => "left_to_expire",
            Event::Validated { .. } => "validated",
            Event::TokenExpired { .. } => "token_expired",
            Event::Halted { .. } => "halted",
            Event::Failed { .. } => "failed",
            Event::Custom { kind, .. } => kind,
            Event::Usage { .. } => "usage",
            Event::RunFinished { .. } => "run_finished",
        }
    }

    /// The colour of its line.
    ///
    /// ```
    /// use agentwrit_demo_kit::{Event, Level};
    /// let e = Event::Released { role: "triage".into(), agent_id: "spiffe://x".into() };
    /// assert_eq!(e.level(), Level::Dead);
    /// ```
    #[must_use]
    pub fn level(&self) -> Level {
        match self {
            Event::ScopePassed { .. }
            | Event::ToolResult { .. }
            | Event::AgentCreated { .. }
            | Event::Delegated { .. }
            | Event::Renewed { .. } => Level::Ok,
            Event::ScopeDenied { .. } => Level::Deny,
            Event::Released { .. } | Event::TokenExpired { .. } => Level::Dead,
            Event::Validated { valid, .. } => {
                if *valid {
                    Level::Ok
                } else {
                    Level::Dead
                }
            }
            Event::Halted { .. } | Event::Failed { .. } | Event::ToolFailed { .. } => Level::Warn,
            _ => Level::Info,
        }
    }

    /// The human line shown in the page.
    ///
    /// ```
    /// use agentwrit_demo_kit::Event;
    /// let e = Event::Validated {
    ///     role: "triage".into(),
    ///     agent_id: "spiffe://agentwrit.local/agent/o/t/1".into(),
    ///     valid: false,
    ///     reason: Some("token is invalid or expired".into()),
    /// };
    /// assert_eq!(e.line(), "triage token validated after the run: DEAD (token is invalid or expired)");
    /// ```
    #[must_use]
    pub fn line(&self) -> String {
        match self {
            Event::RunStarted {
                scenario,
                text,
                planner,
            } => format!(
                "run started: scenario {scenario}, planner {planner}: \u{201c}{text}\u{201d}"
            ),
            Event::Step { role, text } => format!("{role}: {text}"),
            Event::ToolProposed {
                role,
                tool,
                arguments,
            } => format!("{role} planner proposes {tool}({})", compact(arguments)),
            Event::PlannerAnswer { role, text } => format!("{role} planner answers: {text}"),
            Event::AgentCreated {
                role,
                agent_id,
                scope,
                ttl_secs,
            } => format!(
                "{role} agent created: {agent_id}, scope [{}], expires in {ttl_secs} s",
                scope.join(", ")
            ),
            Event::ScopePassed {
                role,
                tool,
                required,
                ..
            } => format!(
                "scope check passed: {tool} needs [{}], inside the {role} token's claims",
                required.join(", ")
            ),
            Event::ScopeDenied {
                role,
                tool,
                required,
                held,
            } => format!(
                "scope_denied: {tool} needs [{}], the {role} token holds [{}]; not executed",
                required.join(", "),
                held.join(", ")
            ),
            Event::ToolResult { tool, result, .. } => {
                format!("{tool} \u{2192} {}", compact(result))
            }
            Event::ToolFailed { tool, error, .. } => format!("{tool} failed: {error}"),
            Event::Delegated {
                from_role,
                to_role,
                scope,
                chain,
                ..
            } => format!(
                "{from_role} delegated [{}] to {to_role}; chain: {}",
                scope.join(", "),
                chain.join(" \u{2192} ")
            ),
            Event::Renewed { role, ttl_secs, .. } => {
                format!("{role} token renewed: same identity, new token, expires in {ttl_secs} s")
            }
            Event::Released { role, agent_id } => {
                format!("{role} token released: {agent_id}")
            }
            Event::LeftToExpire { role, ttl_secs, .. } => {
                format!("{role} token NOT released: left to die at the end of its {ttl_secs} s TTL")
            }
            Event::Validated {
                role,
                valid,
                reason,
                ..
            } => {
                if *valid {
                    format!("{role} token validated: still alive")
                } else {
                    let why = reason.as_deref().unwrap_or("refused");
                    format!("{role} token validated after the run: DEAD ({why})")
                }
            }
            Event::TokenExpired { role, after_ms, .. } => format!(
                "{role} token expired by itself after {:.1} s: the broker now refuses it",
                *after_ms as f64 / 1000.0
            ),
            Event::Halted { reason } => format!("halted: {reason}"),
            Event::Failed { error } => format!("failed: {error}"),
            Event::Custom { text, .. } => text.clone(),
            Event::Usage { agents } => {
                let parts: Vec<String> = agents
                    .iter()
                    .map(|a| {
                        format!(
                            "{} used {} of {} granted, {} denied",
                            a.role,
                            a.granted.len() - a.unused.len(),
                            a.granted.len(),
                            a.denied.iter().map(|d| d.count).sum::<u64>()
                        )
                    })
                    .collect();
                format!("scope usage: {}", parts.join("; "))
            }
            Event::RunFinished { summary } => format!("run finished: {summary}"),
        }
    }
}

/// A JSON value on one line, cut at 160 characters.
fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 {
        let cut: String = text.chars().take(157).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// An [`Event`] as it travels on the wire: numbered, timed, with the
/// line and level already rendered so the page script stays trivial.
///
/// ```
/// use agentwrit_demo_kit::{Envelope, Event};
/// let env = Envelope::new(0, 12, Event::Halted { reason: "anonymous".into() });
/// let json = serde_json::to_value(&env)?;
/// assert_eq!(json["kind"], "halted");
/// assert_eq!(json["event"]["type"], "halted");
/// assert_eq!(json["level"], "warn");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Position in the run, from 0.
    pub seq: u64,
    /// Milliseconds since the run started.
    pub at_ms: u64,
    /// `event.kind()`.
    pub kind: String,
    /// `event.level()`.
    pub level: Level,
    /// `event.line()`.
    pub line: String,
    /// The event itself.
    pub event: Event,
}

impl Envelope {
    /// Wraps `event` as number `seq`, `at_ms` into the run.
    #[must_use]
    pub fn new(seq: u64, at_ms: u64, event: Event) -> Envelope {
        Envelope {
            seq,
            at_ms,
            kind: event.kind().to_owned(),
            level: event.level(),
            line: event.line(),
            event,
        }
    }
}
