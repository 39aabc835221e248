//! Scope-usage recording for a run: the pool is the demo's resource
//! server (it checks every tool call's scope), so it records each check
//! with `agentwrit-usage`; at the end of the run the records become the
//! page's usage panel, and JSON Lines files when `AGENTWRIT_USAGE_DIR`
//! is set (read them with `agentwrit usage report`).

use std::time::SystemTime;

use agentwrit_async::wire::Claims;
use agentwrit_usage::{JsonlSink, MemorySink, Recorder, ReportBuilder, ReportOptions, TokenFacts};

use crate::event::{AgentUsage, ScopeTally};

/// The variable naming a directory for the runs' usage records.
pub const ENV_USAGE_DIR: &str = "AGENTWRIT_USAGE_DIR";

/// One run's usage recorder: in memory for the panel, plus JSON Lines
/// in `AGENTWRIT_USAGE_DIR` when set.
///
/// ```
/// let usage = agentwrit_demo_kit::UsageRecording::start("support-desk")?;
/// let agents = usage.finish(&[]);
/// assert!(agents.is_empty());
/// # Ok::<(), agentwrit_demo_kit::KitError>(())
/// ```
#[derive(Debug)]
pub struct UsageRecording {
    recorder: Recorder,
    memory: MemorySink,
}

impl UsageRecording {
    /// A recorder whose records carry `service`.
    ///
    /// # Errors
    ///
    /// `AGENTWRIT_USAGE_DIR` is set but cannot be written.
    pub fn start(service: &str) -> Result<Self, crate::KitError> {
        let memory = MemorySink::new();
        let mut builder = Recorder::builder()
            .service_name(service)
            .sink(memory.clone());
        if let Some(dir) = std::env::var_os(ENV_USAGE_DIR).filter(|d| !d.is_empty()) {
            let sink = JsonlSink::dir(&dir)
                .map_err(|e| crate::KitError::Setup(format!("{ENV_USAGE_DIR}: {e}")))?;
            builder = builder.sink(sink);
        }
        let recorder = builder
            .build()
            .map_err(|e| crate::KitError::Setup(format!("usage recorder: {e}")))?;
        Ok(UsageRecording { recorder, memory })
    }

    /// Records one scope check of a call made with `token` (whose
    /// verified claims are `claims`): `allowed` or denied.
    pub fn record(&self, token: &str, claims: &Claims, required: &[String], allowed: bool) {
        self.recorder
            .request(token, &claims.jti, || TokenFacts::from_claims(claims));
        self.recorder.check(&claims.jti, required, allowed);
    }

    /// Ends the recording (records written) and returns the panel: one
    /// entry per agent of `agents` (agent id, role, granted scopes) in
    /// that order, then one per delegated token seen.
    #[must_use]
    pub fn finish(self, agents: &[(String, String, Vec<String>)]) -> Vec<AgentUsage> {
        let _ = self.recorder.shutdown();
        let mut builder = ReportBuilder::new(ReportOptions::new(SystemTime::now()));
        for record in self.memory.take() {
            builder.add(record);
        }
        let report = builder.finish(&agentwrit_usage::Reader::new());
        let tally = |list: &[agentwrit_usage::ScopeCount]| -> Vec<ScopeTally> {
            list.iter()
                .map(|c| ScopeTally {
                    scope: c.scope.clone(),
                    count: c.count,
                })
                .collect()
        };
        let role_of = |agent: &str| {
            agents
                .iter()
                .find(|(id, _, _)| id == agent)
                .map_or_else(|| "agent".to_owned(), |(_, role, _)| role.clone())
        };
        let mut out = Vec::new();
        for (agent_id, role, granted) in agents {
            let task = report
                .tasks
                .iter()
                .find(|t| &t.agent == agent_id && t.delegation_depth == 0);
            out.push(match task {
                Some(t) => AgentUsage {
                    role: role.clone(),
                    agent_id: agent_id.clone(),
                    delegated: false,
                    granted: t.granted.clone(),
                    used: tally(&t.used),
                    unused: t.unused.clone(),
                    denied: tally(&t.denied),
                },
                // No call ever needed this agent's token: all unused.
                None => AgentUsage {
                    role: role.clone(),
                    agent_id: agent_id.clone(),
                    delegated: false,
                    granted: granted.clone(),
                    used: Vec::new(),
                    unused: granted.clone(),
                    denied: Vec::new(),
                },
            });
        }
        for t in report.tasks.iter().filter(|t| t.delegation_depth > 0) {
            out.push(AgentUsage {
                role: format!("{} (delegated)", role_of(&t.agent)),
                agent_id: t.agent.clone(),
                delegated: true,
                granted: t.granted.clone(),
                used: tally(&t.used),
                unused: t.unused.clone(),
                denied: tally(&t.denied),
            });
        }
        out
    }
}
