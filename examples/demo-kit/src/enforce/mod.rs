//! The enforcement loop, in three parts: `template.rs`, the scope
//! templates (what a tool call requires); `pool.rs`, the agent pool
//! (agents per role, the scope check against token claims, release, the
//! post-run validation that shows tokens dead); `plan_loop.rs`, the
//! planner loop that drives them.

mod plan_loop;
mod pool;
mod template;

pub use plan_loop::PlanOutcome;
pub use pool::{AgentPool, Fate};
pub use template::{ToolDef, ToolOutcome, render_scope};
