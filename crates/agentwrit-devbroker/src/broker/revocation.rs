//! Revocation (`/v1/revoke`): by token, agent, task or delegation chain;
//! every verification consults it.

use std::collections::HashSet;

use agentwrit_wire::{Claims, RevokeResponse};

use super::Broker;
use crate::audit::Extra;
use crate::gojson::{Kind, decode_first};
use crate::problem::ApiError;
use crate::sync::write;

#[derive(Default, Debug)]
pub(super) struct Revocations {
    pub(super) tokens: HashSet<String>,
    pub(super) agents: HashSet<String>,
    pub(super) tasks: HashSet<String>,
    pub(super) chains: HashSet<String>,
}

impl Revocations {
    pub(super) fn covers(&self, c: &Claims) -> bool {
        self.tokens.contains(&c.jti)
            || self.agents.contains(&c.sub)
            || c.task_id
                .as_ref()
                .is_some_and(|t| !t.is_empty() && self.tasks.contains(t))
            || c.delegation_chain
                .as_ref()
                .and_then(|chain| chain.first())
                .is_some_and(|root| self.chains.contains(&root.agent))
    }
}

impl Broker {
    pub(crate) fn revoke(&self, body: &[u8]) -> Result<RevokeResponse, ApiError> {
        let req = decode_first(body, &[("level", Kind::Str), ("target", Kind::Str)])
            .map_err(|_| ApiError::malformed())?;
        let level = req.str("level");
        let target = req.str("target");
        if level.is_empty() || target.is_empty() {
            return Err(ApiError::bad_request("level and target are required"));
        }
        {
            let mut rev = write(&self.revocations);
            let set = match level.as_str() {
                "token" => &mut rev.tokens,
                "agent" => &mut rev.agents,
                "task" => &mut rev.tasks,
                "chain" => &mut rev.chains,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid revocation level: {level}"
                    )));
                }
            };
            set.insert(target.clone());
        }
        self.record(
            "token_revoked",
            &target,
            "",
            "",
            &format!("revoked at level={level} target={target}"),
            Extra::success(),
        );
        self.metrics.token_revoked(&level);
        let mut r = RevokeResponse::default();
        r.revoked = true;
        r.level = level;
        r.target = target;
        r.count = 1;
        Ok(r)
    }
}
