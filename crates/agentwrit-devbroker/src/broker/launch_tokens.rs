//! Launch tokens: what lets one agent register
//! (`/v1/{app,admin}/launch-tokens`), within an app's scope ceiling.

use agentwrit_scope::scope_is_subset;
use agentwrit_wire::{Claims, ErrorCode, LaunchToken, LaunchTokenPolicy};

use super::{Broker, RETAIN_EXPIRED_NANOS, rfc3339_seconds};
use crate::audit::Extra;
use crate::crypto::random_hex;
use crate::gojson::{Kind, decode_first};
use crate::problem::{ApiError, go_list};
use crate::reply::LaunchTokenIssued;
use crate::sync::{lock, read};

#[derive(Clone, Debug)]
pub(super) struct LaunchTokenRecord {
    pub(super) allowed_scope: Vec<String>,
    pub(super) max_ttl: i64,
    pub(super) single_use: bool,
    pub(super) expires: i128,
    pub(super) consumed: bool,
    pub(super) app_id: String,
}

impl Broker {
    pub(crate) fn create_launch_token(
        &self,
        claims: &Claims,
        body: &[u8],
    ) -> Result<LaunchTokenIssued, ApiError> {
        let req = decode_first(
            body,
            &[
                ("agent_name", Kind::Str),
                ("allowed_scope", Kind::StrList),
                ("max_ttl", Kind::Int),
                ("single_use", Kind::OptBool),
                ("ttl", Kind::Int),
            ],
        )
        .map_err(|_| ApiError::malformed())?;
        let agent_name = req.str("agent_name");
        let allowed = req.list("allowed_scope");
        let mut app_id = String::new();
        if let Some(id) = claims.sub.strip_prefix("app:") {
            app_id = id.to_owned();
            let ceiling = read(&self.apps).by_id.get(id).map(|a| a.scopes.clone());
            let Some(ceiling) = ceiling else {
                return Err(ApiError::forbidden(ErrorCode::Forbidden, "app not found"));
            };
            if !scope_is_subset(&allowed, &ceiling) {
                self.record(
                    "scope_ceiling_exceeded",
                    &claims.sub,
                    "",
                    "",
                    &format!(
                        "app={id} requested={} ceiling={}",
                        go_list(&allowed),
                        go_list(&ceiling)
                    ),
                    Extra::denied(),
                );
                return Err(ApiError::forbidden(
                    ErrorCode::Forbidden,
                    format!(
                        "requested scopes exceed app ceiling; allowed: {}",
                        go_list(&ceiling)
                    ),
                ));
            }
        }
        let deny = |reason: &str| {
            self.record(
                "launch_token_denied",
                &claims.sub,
                "",
                "",
                &format!(
                    "launch token denied for agent={agent_name} by={} reason={reason}",
                    claims.sub
                ),
                Extra::denied(),
            );
            ApiError::bad_request(reason)
        };
        if agent_name.is_empty() {
            return Err(deny("agent_name is required"));
        }
        if allowed.is_empty() {
            return Err(deny("allowed_scope must not be empty"));
        }
        let max_ttl = match req.int("max_ttl") {
            n if n <= 0 => 300,
            n => n,
        };
        let ttl = match req.int("ttl") {
            n if n <= 0 => 30,
            n => n,
        };
        let single_use = req.opt_bool("single_use").unwrap_or(true);
        let token =
            random_hex::<32>().map_err(|_| ApiError::internal("failed to create launch token"))?;
        let now = self.now();
        // Go multiplies the TTL into an int64 nanosecond Duration, which
        // wraps for absurd values; do the same rather than overflow.
        let expires = now + i128::from(ttl.wrapping_mul(1_000_000_000));
        {
            let mut lts = lock(&self.launch_tokens);
            if lts.len() % 1024 == 1023 {
                lts.retain(|_, r| now - r.expires <= RETAIN_EXPIRED_NANOS);
            }
            lts.insert(
                token.clone(),
                LaunchTokenRecord {
                    allowed_scope: allowed.clone(),
                    max_ttl,
                    single_use,
                    expires,
                    consumed: false,
                    app_id: app_id.clone(),
                },
            );
        }
        self.metrics.launch_token_created();
        let mut detail = format!(
            "launch token issued for agent={agent_name} scope={} max_ttl={max_ttl} created_by={}",
            go_list(&allowed),
            claims.sub
        );
        if !app_id.is_empty() {
            detail.push_str(&format!(" app_id={app_id}"));
        }
        self.record("launch_token_issued", "", "", "", &detail, Extra::success());
        let mut policy = LaunchTokenPolicy::default();
        policy.allowed_scope = allowed;
        policy.max_ttl = max_ttl;
        Ok(LaunchTokenIssued {
            launch_token: LaunchToken::new(token),
            expires_at: rfc3339_seconds(expires),
            policy,
        })
    }
}
