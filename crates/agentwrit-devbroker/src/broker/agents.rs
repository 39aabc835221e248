//! Agents: the registration challenge (`/v1/challenge`) and registration
//! itself (`/v1/register`): launch token, nonce, Ed25519 proof, SPIFFE id.

use agentwrit_scope::scope_is_subset;
use agentwrit_wire::{AccessToken, ChallengeResponse, ErrorCode};

use super::tokens::IssueReq;
use super::{Broker, NANOS, RETAIN_EXPIRED_NANOS};
use crate::audit::Extra;
use crate::crypto::{b64std_decode, random_hex, verify_agent_signature};
use crate::gojson::{Kind, decode_first};
use crate::problem::{ApiError, go_list};
use crate::reply::Registered;
use crate::sync::{lock, write};

const NONCE_TTL_NANOS: i128 = 30 * NANOS;

#[derive(Clone, Copy, Debug)]
pub(super) struct NonceRecord {
    expires: i128,
    consumed: bool,
}

/// A SPIFFE path segment: non-empty, not `.`/`..`, `[A-Za-z0-9._-]` only.
fn valid_spiffe_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

/// A SPIFFE trust domain: non-empty, `[a-z0-9._-]` only.
pub(crate) fn valid_trust_domain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.' | b'_')
        })
}

impl Broker {
    pub(crate) fn challenge(&self) -> Result<ChallengeResponse, ApiError> {
        let nonce = random_hex::<32>().map_err(|_| ApiError::internal("internal error"))?;
        let now = self.now();
        let mut nonces = lock(&self.nonces);
        if nonces.len() % 1024 == 1023 {
            nonces.retain(|_, r| {
                if r.consumed {
                    now - r.expires <= RETAIN_EXPIRED_NANOS
                } else {
                    now <= r.expires
                }
            });
        }
        nonces.insert(
            nonce.clone(),
            NonceRecord {
                expires: now + NONCE_TTL_NANOS,
                consumed: false,
            },
        );
        drop(nonces);
        let mut r = ChallengeResponse::default();
        r.nonce = nonce;
        r.expires_in = 30;
        Ok(r)
    }

    fn fail_registration(&self, e: ApiError) -> ApiError {
        self.metrics.registration(false);
        e
    }

    pub(crate) fn register(&self, body: &[u8]) -> Result<Registered, ApiError> {
        let req = decode_first(
            body,
            &[
                ("launch_token", Kind::Str),
                ("nonce", Kind::Str),
                ("public_key", Kind::Str),
                ("signature", Kind::Str),
                ("orch_id", Kind::Str),
                ("task_id", Kind::Str),
                ("requested_scope", Kind::StrList),
            ],
        )
        .map_err(|_| ApiError::malformed())?;
        let launch_token = zeroize::Zeroizing::new(req.str("launch_token"));
        let nonce = req.str("nonce");
        let public_key = req.str("public_key");
        let signature = req.str("signature");
        let orch_id = req.str("orch_id");
        let task_id = req.str("task_id");
        let requested = req.list("requested_scope");
        if [
            &*launch_token,
            &nonce,
            &public_key,
            &signature,
            &orch_id,
            &task_id,
        ]
        .iter()
        .any(|s| s.is_empty())
        {
            return Err(self.fail_registration(ApiError::bad_request("missing required field")));
        }
        if requested.is_empty() {
            return Err(self.fail_registration(ApiError::bad_request(
                "missing required field: requested_scope",
            )));
        }
        let now = self.now();
        // Launch token: looked up, not consumed yet.
        let lt = {
            let lts = lock(&self.launch_tokens);
            match lts.get(launch_token.as_str()) {
                None => Err("launch token not found"),
                Some(r) if now > r.expires => Err("launch token expired"),
                Some(r) if r.consumed => Err("launch token already consumed"),
                Some(r) => Ok(r.clone()),
            }
        };
        let lt = lt.map_err(|e| {
            self.fail_registration(ApiError::unauthorized(format!("launch token: {e}")))
        })?;
        if !scope_is_subset(&requested, &lt.allowed_scope) {
            self.record(
                "registration_policy_violation",
                "",
                &task_id,
                &orch_id,
                &format!(
                    "scope violation: requested {} exceeds allowed {}",
                    go_list(&requested),
                    go_list(&lt.allowed_scope)
                ),
                Extra::denied(),
            );
            return Err(self.fail_registration(ApiError::forbidden(
                ErrorCode::ScopeViolation,
                "requested scope exceeds allowed scope",
            )));
        }
        // Nonce: consumed here, whatever happens next.
        let consumed = {
            let mut nonces = lock(&self.nonces);
            match nonces.get_mut(&nonce) {
                None => Err("nonce not found or expired"),
                Some(r) if r.consumed => Err("nonce already consumed"),
                Some(r) if now > r.expires => {
                    nonces.remove(&nonce);
                    Err("nonce not found or expired")
                }
                Some(r) => {
                    r.consumed = true;
                    Ok(())
                }
            }
        };
        consumed
            .map_err(|e| self.fail_registration(ApiError::unauthorized(format!("nonce: {e}"))))?;
        let Some(key_bytes) = b64std_decode(&public_key) else {
            return Err(self.fail_registration(ApiError::unauthorized(
                "invalid Ed25519 public key: base64 decode failed",
            )));
        };
        let Ok(key) = <[u8; 32]>::try_from(key_bytes.as_slice()) else {
            return Err(self.fail_registration(ApiError::unauthorized(
                "invalid Ed25519 public key: wrong key size",
            )));
        };
        let Some(sig) = b64std_decode(&signature) else {
            return Err(self.fail_registration(ApiError::unauthorized(
                "nonce signature verification failed: base64 decode failed",
            )));
        };
        let message = hex::decode(&nonce).unwrap_or_else(|_| nonce.as_bytes().to_vec());
        if !verify_agent_signature(&key, &message, &sig) {
            return Err(self.fail_registration(ApiError::unauthorized(
                "nonce signature verification failed",
            )));
        }
        // Launch token: consumed only now, after every check passed.
        if lt.single_use {
            let mut lts = lock(&self.launch_tokens);
            let outcome = match lts.get_mut(launch_token.as_str()) {
                None => Err("launch token not found"),
                Some(r) if r.consumed => Err("launch token already consumed"),
                Some(r) => {
                    r.consumed = true;
                    Ok(())
                }
            };
            drop(lts);
            outcome.map_err(|e| {
                self.fail_registration(ApiError::unauthorized(format!("consume launch token: {e}")))
            })?;
        }
        let failed = || ApiError::internal("registration failed");
        let instance = random_hex::<8>().map_err(|_| self.fail_registration(failed()))?;
        if !valid_trust_domain(&self.settings.trust_domain)
            || !valid_spiffe_segment(&orch_id)
            || !valid_spiffe_segment(&task_id)
        {
            return Err(self.fail_registration(failed()));
        }
        let agent_id = format!(
            "spiffe://{}/agent/{orch_id}/{task_id}/{instance}",
            self.settings.trust_domain
        );
        let ttl = if lt.max_ttl <= 0 { 300 } else { lt.max_ttl };
        let issued = self
            .issue(IssueReq {
                sub: agent_id.clone(),
                scope: requested.clone(),
                task_id: Some(task_id.clone()),
                orch_id: Some(orch_id.clone()),
                ttl,
                ..IssueReq::default()
            })
            .map_err(|_| self.fail_registration(failed()))?;
        write(&self.agents).insert(agent_id.clone());
        let mut reg_detail = format!("Agent registered with scope {}", go_list(&requested));
        let mut tkn_detail = format!("Token issued, jti={}, ttl={ttl}", issued.jti);
        if !lt.app_id.is_empty() {
            reg_detail.push_str(&format!(" app_id={}", lt.app_id));
            tkn_detail.push_str(&format!(" app_id={}", lt.app_id));
        }
        self.record(
            "agent_registered",
            &agent_id,
            &task_id,
            &orch_id,
            &reg_detail,
            Extra::success(),
        );
        self.record(
            "token_issued",
            &agent_id,
            &task_id,
            &orch_id,
            &tkn_detail,
            Extra::success(),
        );
        self.metrics.registration(true);
        Ok(Registered {
            agent_id,
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
        })
    }
}
