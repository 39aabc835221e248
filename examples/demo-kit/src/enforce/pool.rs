//! The agent pool: one broker agent per role, the scope check of every
//! proposed call against that agent's token claims, release, validation
//! after release and natural expiry, each step traced.

use std::future::Future;
use std::time::{Duration, Instant};

use agentwrit_async::{Agent, AgentOptions, App, DelegatedToken, Validation, scope_is_subset};
use serde_json::Value;

use super::ToolOutcome;
use crate::bus::EventBus;
use crate::event::Event;
use crate::planner::ToolCall;
use crate::usage::UsageRecording;
use crate::{KitError, secret_free};

/// What to do with an agent at the end of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Release it ([`AgentPool::release_all`]).
    Release,
    /// Leave it unreleased; [`AgentPool::await_expiry`] watches it die.
    Expire,
}

#[derive(Debug)]
struct Held {
    role: String,
    agent: Agent,
    fate: Fate,
    created: Instant,
    /// Released, or announced as left to expire.
    done: bool,
}

/// The agents of one run, one per role (category), with every step
/// traced on the run's [`EventBus`].
///
/// The loop an app writes: [`AgentPool::agent`] (find or create the
/// role's agent), [`AgentPool::enforce`] for every proposed tool call
/// (check the templated scope with `scope_is_subset` against the agent's
/// **token claims**, run it or report `scope_denied`), then
/// [`AgentPool::release_all`], [`AgentPool::validate_all`] (every token
/// shown dead) and, for agents created with [`Fate::Expire`],
/// [`AgentPool::await_expiry`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let broker = agentwrit_devbroker::DevBroker::start()?;
/// # let reg = broker.register_universal_app()?;
/// # let app = agentwrit_async::App::new(broker.url(), &reg.client_id, reg.client_secret.expose_secret())?;
/// use agentwrit_demo_kit::{AgentPool, EventBus, ToolCall, ToolOutcome};
/// use serde_json::json;
///
/// let bus = EventBus::new();
/// let mut pool = AgentPool::new(app, bus.clone(), "support-desk", "ticket-1");
/// pool.agent("billing", &["read:data:customer-1".to_owned()]).await?;
///
/// let call = ToolCall::new("c1", "read_record", json!({"id": "customer-2"}));
/// let outcome = pool
///     .enforce("billing", &call, &["read:data:customer-2".to_owned()], || async { Ok(json!("secret record")) })
///     .await;
/// assert!(outcome.is_denied());
///
/// pool.release_all().await;
/// pool.validate_all().await;
/// let kinds: Vec<String> = bus.snapshot().into_iter().map(|e| e.kind).collect();
/// assert_eq!(kinds, ["agent_created", "tool_proposed", "scope_denied", "released", "validated"]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AgentPool {
    app: App,
    bus: EventBus,
    orch_id: String,
    task_id: String,
    held: Vec<Held>,
    /// This run's scope-usage recording (`None` once finished, or if it
    /// could not start).
    usage: Option<UsageRecording>,
}

impl AgentPool {
    /// A pool creating agents for `orch_id` / `task_id` with `app`,
    /// tracing on `bus`.
    ///
    /// Every scope check is recorded for the run's usage panel
    /// ([`AgentPool::finish_usage`]), and to JSON Lines files when
    /// `AGENTWRIT_USAGE_DIR` is set.
    #[must_use]
    pub fn new(app: App, bus: EventBus, orch_id: &str, task_id: &str) -> AgentPool {
        let usage = match UsageRecording::start(orch_id) {
            Ok(usage) => Some(usage),
            Err(error) => {
                bus.emit(Event::Failed {
                    error: format!("scope usage is not recorded: {error}"),
                });
                None
            }
        };
        AgentPool {
            app,
            bus,
            orch_id: orch_id.to_owned(),
            task_id: task_id.to_owned(),
            held: Vec::new(),
            usage,
        }
    }

    /// Records one scope check made outside [`AgentPool::enforce`] (e.g.
    /// against a delegated token): the token, its claims, the scopes the
    /// call required and whether they were granted.
    pub fn record_check(
        &self,
        token: &str,
        claims: &agentwrit_async::wire::Claims,
        required: &[String],
        allowed: bool,
    ) {
        if let Some(usage) = &self.usage {
            usage.record(token, claims, required, allowed);
        }
    }

    /// Ends the run's usage recording and traces [`Event::Usage`]: per
    /// agent, granted vs used vs denied. Once; later calls do nothing.
    pub fn finish_usage(&mut self) {
        let Some(usage) = self.usage.take() else {
            return;
        };
        let agents: Vec<(String, String, Vec<String>)> = self
            .held
            .iter()
            .map(|h| (h.agent.agent_id(), h.role.clone(), h.agent.claims().scope))
            .collect();
        let agents = usage.finish(&agents);
        self.bus.emit(Event::Usage { agents });
    }

    /// The run's bus.
    #[must_use]
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// The app.
    #[must_use]
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The agent of `role`, if created.
    #[must_use]
    pub fn get(&self, role: &str) -> Option<&Agent> {
        self.held.iter().find(|h| h.role == role).map(|h| &h.agent)
    }

    /// The roles that have agents, in creation order.
    #[must_use]
    pub fn roles(&self) -> Vec<String> {
        self.held.iter().map(|h| h.role.clone()).collect()
    }

    /// The agent of `role`, created with `scope` (broker default TTL,
    /// released at the end) if it does not exist yet. Traces
    /// [`Event::AgentCreated`].
    ///
    /// # Errors
    ///
    /// The broker refused (e.g. scope beyond the app's ceiling) or could
    /// not be reached; also traced as [`Event::Failed`].
    pub async fn agent(&mut self, role: &str, scope: &[String]) -> Result<Agent, KitError> {
        self.agent_with(role, scope, AgentOptions::new(), Fate::Release)
            .await
    }

    /// [`AgentPool::agent`] with options (a TTL, a label) and a [`Fate`].
    ///
    /// # Errors
    ///
    /// As [`AgentPool::agent`].
    pub async fn agent_with(
        &mut self,
        role: &str,
        scope: &[String],
        options: AgentOptions,
        fate: Fate,
    ) -> Result<Agent, KitError> {
        if let Some(agent) = self.get(role) {
            return Ok(agent.clone());
        }
        let task = format!("{}-{role}", self.task_id);
        let created = Instant::now();
        match self
            .app
            .create_agent_with(&self.orch_id, &task, scope, options)
            .await
        {
            Ok(agent) => {
                self.bus.emit(Event::AgentCreated {
                    role: role.to_owned(),
                    agent_id: agent.agent_id(),
                    scope: agent.claims().scope.clone(),
                    ttl_secs: whole_secs(agent.expires_in()),
                });
                self.held.push(Held {
                    role: role.to_owned(),
                    agent: agent.clone(),
                    fate,
                    created,
                    done: false,
                });
                Ok(agent)
            }
            Err(error) => {
                let error = KitError::Broker(error);
                self.bus.emit(Event::Failed {
                    error: format!("creating the {role} agent: {error}"),
                });
                Err(error)
            }
        }
    }

    /// The enforcement step for one proposed call: traces
    /// [`Event::ToolProposed`], checks `required` with `scope_is_subset`
    /// against the scope in the role's **token claims**, then either runs
    /// `run` (traced [`Event::ScopePassed`] and [`Event::ToolResult`] or
    /// [`Event::ToolFailed`]) or does not ([`Event::ScopeDenied`]).
    pub async fn enforce<F, Fut>(
        &mut self,
        role: &str,
        call: &ToolCall,
        required: &[String],
        run: F,
    ) -> ToolOutcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, String>>,
    {
        self.bus.emit(Event::ToolProposed {
            role: role.to_owned(),
            tool: call.name.clone(),
            arguments: call.arguments.clone(),
        });
        let Some(agent) = self.get(role) else {
            let error = format!("no {role} agent holds a credential");
            self.bus.emit(Event::ToolFailed {
                role: role.to_owned(),
                tool: call.name.clone(),
                error: error.clone(),
            });
            return ToolOutcome::Failed(error);
        };
        let claims = agent.claims();
        let held = claims.scope.clone();
        let allowed = scope_is_subset(required, &held);
        if let Some(usage) = &self.usage {
            usage.record(
                agent.access_token().expose_secret(),
                &claims,
                required,
                allowed,
            );
        }
        if !allowed {
            self.bus.emit(Event::ScopeDenied {
                role: role.to_owned(),
                tool: call.name.clone(),
                required: required.to_vec(),
                held: held.clone(),
            });
            return ToolOutcome::Denied {
                required: required.to_vec(),
                held,
            };
        }
        self.bus.emit(Event::ScopePassed {
            role: role.to_owned(),
            tool: call.name.clone(),
            required: required.to_vec(),
            held,
        });
        match run().await {
            Ok(result) => {
                self.bus.emit(Event::ToolResult {
                    role: role.to_owned(),
                    tool: call.name.clone(),
                    result: result.clone(),
                });
                ToolOutcome::Ran(result)
            }
            Err(error) => {
                self.bus.emit(Event::ToolFailed {
                    role: role.to_owned(),
                    tool: call.name.clone(),
                    error: error.clone(),
                });
                ToolOutcome::Failed(error)
            }
        }
    }

    /// Delegates `scope` from `from_role`'s agent to `to_role`'s agent
    /// (both must exist); traces [`Event::Delegated`] with the chain.
    ///
    /// # Errors
    ///
    /// A missing role, or the broker refused (e.g. a wider scope: 403).
    pub async fn delegate(
        &mut self,
        from_role: &str,
        to_role: &str,
        scope: &[String],
        ttl_secs: Option<i64>,
    ) -> Result<DelegatedToken, KitError> {
        let (Some(from), Some(to)) = (self.get(from_role).cloned(), self.get(to_role).cloned())
        else {
            return Err(KitError::Setup(format!(
                "delegation needs both a {from_role} and a {to_role} agent"
            )));
        };
        let to_id = to.agent_id();
        let ttl = ttl_secs.map(|s| std::time::Duration::from_secs(s.max(0).unsigned_abs()));
        match from.delegate(&to_id, scope, ttl).await {
            Ok(token) => {
                let mut chain: Vec<String> = token
                    .delegation_chain()
                    .iter()
                    .map(|r| r.agent.clone())
                    .collect();
                chain.push(to_id.clone());
                self.bus.emit(Event::Delegated {
                    from_role: from_role.to_owned(),
                    to_role: to_role.to_owned(),
                    to_agent: to_id,
                    scope: token.claims().scope.clone(),
                    chain,
                });
                Ok(token)
            }
            Err(error) => {
                let error = KitError::Broker(error);
                self.bus.emit(Event::Failed {
                    error: format!("delegation {from_role} \u{2192} {to_role}: {error}"),
                });
                Err(error)
            }
        }
    }

    /// Renews `role`'s token; traces [`Event::Renewed`].
    ///
    /// # Errors
    ///
    /// No such role, or the broker refused.
    pub async fn renew(&mut self, role: &str) -> Result<(), KitError> {
        let Some(agent) = self.get(role).cloned() else {
            return Err(KitError::Setup(format!("no {role} agent to renew")));
        };
        agent.renew().await.map_err(KitError::Broker)?;
        self.bus.emit(Event::Renewed {
            role: role.to_owned(),
            agent_id: agent.agent_id(),
            ttl_secs: whole_secs(agent.expires_in()),
        });
        Ok(())
    }

    /// Releases `role`'s agent now; traces [`Event::Released`].
    ///
    /// # Errors
    ///
    /// No such role, or the release failed.
    pub async fn release(&mut self, role: &str) -> Result<(), KitError> {
        let Some(agent) = self.get(role).cloned() else {
            return Err(KitError::Setup(format!("no {role} agent to release")));
        };
        if agent.is_released() {
            return Ok(());
        }
        agent.release().await.map_err(KitError::Broker)?;
        if let Some(held) = self.held.iter_mut().find(|h| h.role == role) {
            held.done = true;
        }
        self.bus.emit(Event::Released {
            role: role.to_owned(),
            agent_id: agent.agent_id(),
        });
        Ok(())
    }

    /// Ends `role`'s part of the run: releases its agent when its fate is
    /// [`Fate::Release`] ([`Event::Released`]), else announces that it is
    /// left to expire ([`Event::LeftToExpire`]). Once per role; failures
    /// are traced, not returned.
    pub async fn finish_role(&mut self, role: &str) {
        let Some(index) = self.held.iter().position(|h| h.role == role) else {
            return;
        };
        if self.held[index].done {
            return;
        }
        self.held[index].done = true;
        let agent = self.held[index].agent.clone();
        match self.held[index].fate {
            Fate::Release => {
                if agent.is_released() {
                    return;
                }
                match agent.release().await {
                    Ok(_) => {
                        self.bus.emit(Event::Released {
                            role: role.to_owned(),
                            agent_id: agent.agent_id(),
                        });
                    }
                    Err(error) => {
                        self.bus.emit(Event::Failed {
                            error: format!("releasing the {role} agent: {error}"),
                        });
                    }
                }
            }
            Fate::Expire => {
                self.bus.emit(Event::LeftToExpire {
                    role: role.to_owned(),
                    agent_id: agent.agent_id(),
                    ttl_secs: whole_secs(agent.expires_in()),
                });
            }
        }
    }

    /// [`AgentPool::finish_role`] for every role not finished yet: every
    /// [`Fate::Release`] agent released, the others announced.
    pub async fn release_all(&mut self) {
        let roles = self.roles();
        for role in roles {
            self.finish_role(&role).await;
        }
    }

    /// Validates every agent's current token at the broker once more
    /// ([`Event::Validated`] each): after [`AgentPool::release_all`] the
    /// released ones are dead, and the ones left to expire still alive.
    pub async fn validate_all(&self) {
        for held in &self.held {
            self.validate_one(held).await;
        }
    }

    async fn validate_one(&self, held: &Held) -> Option<bool> {
        let token = held.agent.access_token();
        match self.app.validate(token.expose_secret()).await {
            Ok(validation) => {
                let valid = validation.is_valid();
                let reason = match validation {
                    Validation::Invalid { reason } => Some(reason),
                    _ => None,
                };
                self.bus.emit(Event::Validated {
                    role: held.role.clone(),
                    agent_id: held.agent.agent_id(),
                    valid,
                    reason,
                });
                Some(valid)
            }
            Err(error) => {
                self.bus.emit(Event::Failed {
                    error: format!("validating the {} token: {error}", held.role),
                });
                None
            }
        }
    }

    /// For every agent left to expire ([`Fate::Expire`]): waits for the
    /// end of its TTL, then validates it until the broker refuses it
    /// (every `poll`, for at most `grace` past the expiry) and traces
    /// [`Event::Validated`] (dead) and [`Event::TokenExpired`].
    pub async fn await_expiry(&self, poll: Duration, grace: Duration) {
        for held in self.held.iter().filter(|h| h.fate == Fate::Expire) {
            let remaining = held
                .agent
                .expires_at()
                .duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO);
            self.bus.emit(Event::Step {
                role: held.role.clone(),
                text: format!(
                    "waiting {:.1} s for the token's TTL to run out (no release call)",
                    remaining.as_secs_f64()
                ),
            });
            tokio::time::sleep(remaining).await;
            let deadline = Instant::now() + grace;
            loop {
                let token = held.agent.access_token();
                match self.app.validate(token.expose_secret()).await {
                    Ok(v) if !v.is_valid() => {
                        self.validate_one(held).await;
                        let after_ms =
                            u64::try_from(held.created.elapsed().as_millis()).unwrap_or(u64::MAX);
                        self.bus.emit(Event::TokenExpired {
                            role: held.role.clone(),
                            agent_id: held.agent.agent_id(),
                            after_ms,
                        });
                        break;
                    }
                    Ok(_) if Instant::now() < deadline => tokio::time::sleep(poll).await,
                    Ok(_) => {
                        self.bus.emit(Event::Failed {
                            error: format!(
                                "the {} token is still accepted {} s after its expiry",
                                held.role,
                                grace.as_secs()
                            ),
                        });
                        break;
                    }
                    Err(error) => {
                        self.bus.emit(Event::Failed {
                            error: format!("validating the {} token: {error}", held.role),
                        });
                        break;
                    }
                }
            }
        }
    }

    /// Checks that no event of the run contains any current token of the
    /// pool's agents; `true` when clean. (Tests call it; the kit never
    /// puts a token in an event.)
    #[must_use]
    pub fn trace_is_secret_free(&self) -> bool {
        let tokens: Vec<String> = self
            .held
            .iter()
            .map(|h| h.agent.access_token().expose_secret().to_owned())
            .collect();
        let text = serde_json::to_string(&self.bus.snapshot()).unwrap_or_default();
        secret_free(&text, tokens.iter().map(String::as_str))
    }
}

/// A lifetime as the whole seconds the trace shows.
fn whole_secs(ttl: std::time::Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)
}
