//! Delegation (`/v1/delegate`): a narrower token for another registered
//! agent, with a signed record appended to the chain.

use agentwrit_scope::scope_is_subset;
use agentwrit_wire::{AccessToken, Claims, DelegationRecord, ErrorCode, Timestamp, to_go_json};
use sha2::{Digest as _, Sha256};

use super::Broker;
use super::tokens::IssueReq;
use crate::audit::Extra;
use crate::gojson::{Kind, decode_first};
use crate::problem::{ApiError, go_list};
use crate::reply::Delegated;
use crate::sync::read;

const MAX_DELEG_DEPTH: usize = 5;

impl Broker {
    pub(crate) fn delegate(&self, claims: &Claims, body: &[u8]) -> Result<Delegated, ApiError> {
        let req = decode_first(
            body,
            &[
                ("delegate_to", Kind::Str),
                ("scope", Kind::StrList),
                ("ttl", Kind::Int),
            ],
        )
        .map_err(|_| ApiError::malformed())?;
        let delegate_to = req.str("delegate_to");
        let scope = req.list("scope");
        let failed = || ApiError::internal("delegation failed");
        // The real broker's handler has no case for its missing-field error,
        // so both land in the generic 500.
        if delegate_to.is_empty() || scope.is_empty() {
            return Err(failed());
        }
        let task = claims.task_id.as_deref().unwrap_or("");
        let orch = claims.orch_id.as_deref().unwrap_or("");
        let depth = claims.delegation_depth();
        if depth >= MAX_DELEG_DEPTH {
            return Err(ApiError::forbidden(
                ErrorCode::ScopeViolation,
                "delegation depth limit exceeded",
            ));
        }
        if !scope_is_subset(&scope, &claims.scope) {
            self.record(
                "delegation_attenuation_violation",
                &claims.sub,
                task,
                orch,
                &format!(
                    "delegation_attenuation_violation | delegator={} | target={delegate_to} | requested={} | allowed={}",
                    claims.sub,
                    go_list(&scope),
                    go_list(&claims.scope)
                ),
                Extra {
                    deleg_depth: depth as i64,
                    ..Extra::denied()
                },
            );
            return Err(ApiError::forbidden(
                ErrorCode::ScopeViolation,
                "delegated scope exceeds delegator scope",
            ));
        }
        if !read(&self.agents).contains(&delegate_to) {
            return Err(ApiError::not_found("delegate agent not found"));
        }
        let mut chain = claims.delegation_chain.clone().unwrap_or_default();
        let mut record = DelegationRecord::new(
            claims.sub.clone(),
            claims.scope.clone(),
            Timestamp::from_unix_nanos(self.now()),
        );
        record.signature = Some(hex::encode(
            self.keys.sign(record.signing_input().as_bytes()),
        ));
        chain.push(record);
        let chain_json = to_go_json(&chain).map_err(|_| failed())?;
        let chain_hash = hex::encode(Sha256::digest(&chain_json));
        let ttl = match req.int("ttl") {
            n if n <= 0 => 60,
            n => n,
        };
        let issued = self
            .issue(IssueReq {
                sub: delegate_to.clone(),
                aud: claims.aud.clone(),
                scope: scope.clone(),
                task_id: claims.task_id.clone(),
                orch_id: claims.orch_id.clone(),
                ttl,
                chain: Some(chain.clone()),
                chain_hash: Some(chain_hash.clone()),
                ..IssueReq::default()
            })
            .map_err(|_| failed())?;
        self.record(
            "delegation_created",
            &delegate_to,
            task,
            orch,
            &format!(
                "delegation from {} to {delegate_to} scope={} depth={}",
                claims.sub,
                go_list(&scope),
                depth + 1
            ),
            Extra {
                deleg_depth: depth as i64 + 1,
                deleg_chain_hash: chain_hash,
                ..Extra::success()
            },
        );
        Ok(Delegated {
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
            delegation_chain: chain,
        })
    }
}
