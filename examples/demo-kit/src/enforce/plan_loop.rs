//! The planner loop: ask the planner, run every proposed call through
//! the pool's scope check, hand the results back, until a final answer.

use serde_json::Value;

use super::{AgentPool, ToolDef, ToolOutcome};
use crate::KitError;
use crate::event::Event;
use crate::planner::{Message, PlanRequest, Planner, PlannerReply, ToolCall, ToolSpec};

impl AgentPool {
    /// One agent's planning loop: asks `planner` (as `role`) with the
    /// conversation and `tools`; every proposed call goes through
    /// [`AgentPool::enforce`] with the scope its [`ToolDef`] requires
    /// (templates filled from the call, then from `defaults`) and `run`
    /// executes the allowed ones. Tool results and `scope_denied` go back
    /// to the planner. Ends on the planner's final answer (traced
    /// [`Event::PlannerAnswer`]) or after `max_turns`.
    ///
    /// A call to a tool not in `tools` is traced as
    /// [`Event::ToolFailed`] and never run.
    ///
    /// # Errors
    ///
    /// The planner failed (traced as [`Event::Failed`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn plan_loop<R>(
        &mut self,
        planner: &dyn Planner,
        role: &str,
        mut messages: Vec<Message>,
        tools: &[ToolDef],
        defaults: &[(&str, &str)],
        max_turns: usize,
        mut run: R,
    ) -> Result<PlanOutcome, KitError>
    where
        R: FnMut(&ToolCall) -> Result<Value, String>,
    {
        let specs: Vec<ToolSpec> = tools.iter().map(|t| t.spec.clone()).collect();
        let mut outcomes = Vec::new();
        for _ in 0..max_turns {
            let reply = planner
                .plan(PlanRequest {
                    role,
                    messages: &messages,
                    tools: &specs,
                })
                .await;
            let reply = match reply {
                Ok(reply) => reply,
                Err(error) => {
                    self.bus().emit(Event::Failed {
                        error: format!("{role} planner: {error}"),
                    });
                    return Err(KitError::Planner(error));
                }
            };
            match reply {
                PlannerReply::Final(text) => {
                    self.bus().emit(Event::PlannerAnswer {
                        role: role.to_owned(),
                        text: text.clone(),
                    });
                    return Ok(PlanOutcome {
                        answer: Some(text),
                        calls: outcomes,
                    });
                }
                PlannerReply::ToolCalls(calls) => {
                    messages.push(Message::Assistant {
                        content: None,
                        tool_calls: calls.clone(),
                    });
                    for call in calls {
                        let outcome = match tools.iter().find(|t| t.spec.name == call.name) {
                            Some(tool) => {
                                let required = tool.required_scope(&call, defaults);
                                let run = &mut run;
                                let call_ref = &call;
                                // `run` is called only inside the closure,
                                // which `enforce` calls only when allowed.
                                self.enforce(role, &call, &required, move || {
                                    let result = run(call_ref);
                                    async move { result }
                                })
                                .await
                            }
                            None => {
                                let error = format!("unknown tool {}", call.name);
                                self.bus().emit(Event::ToolFailed {
                                    role: role.to_owned(),
                                    tool: call.name.clone(),
                                    error: error.clone(),
                                });
                                ToolOutcome::Failed(error)
                            }
                        };
                        messages.push(Message::Tool {
                            call_id: call.id.clone(),
                            name: call.name.clone(),
                            content: outcome.planner_content(),
                        });
                        outcomes.push((call, outcome));
                    }
                }
            }
        }
        self.bus().emit(Event::Step {
            role: role.to_owned(),
            text: format!("planner stopped after {max_turns} turns"),
        });
        Ok(PlanOutcome {
            answer: None,
            calls: outcomes,
        })
    }
}

/// What [`AgentPool::plan_loop`] ended with.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanOutcome {
    /// The planner's final text (`None` when it ran out of turns).
    pub answer: Option<String>,
    /// Every proposed call and what became of it, in order.
    pub calls: Vec<(ToolCall, ToolOutcome)>,
}
