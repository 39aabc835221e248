//! Tokens: issuing and verifying them, the Bearer middleware and scope
//! checks, `/v1/token/validate`, renewal and release.

use agentwrit_scope::scope_is_subset;
use agentwrit_wire::{AccessToken, Claims, DelegationRecord, ErrorCode, ValidateResponse};

use super::Broker;
use crate::audit::Extra;
use crate::clock::unix_seconds;
use crate::crypto::{VerifyError, random_hex};
use crate::gojson::{Kind, decode_first};
use crate::problem::ApiError;
use crate::reply::Renewed;
use crate::sync::{read, write};

/// What [`Broker::issue`] needs.
#[derive(Default)]
pub(super) struct IssueReq {
    pub(super) sub: String,
    pub(super) aud: Option<Vec<String>>,
    pub(super) scope: Vec<String>,
    pub(super) task_id: Option<String>,
    pub(super) orch_id: Option<String>,
    pub(super) sid: Option<String>,
    pub(super) ttl: i64,
    pub(super) chain: Option<Vec<DelegationRecord>>,
    pub(super) chain_hash: Option<String>,
}

/// A signed token and what its answer reports.
pub(super) struct Issued {
    pub(super) token: String,
    pub(super) expires_in: i64,
    pub(super) jti: String,
}

impl Broker {
    pub(super) fn issue(&self, req: IssueReq) -> Result<Issued, ApiError> {
        let mut ttl = req.ttl;
        if ttl <= 0 {
            ttl = self.settings.default_ttl;
        }
        if self.settings.max_ttl > 0 && ttl > self.settings.max_ttl {
            ttl = self.settings.max_ttl;
        }
        let now = unix_seconds(self.clock.now());
        let jti = random_hex::<16>().map_err(|_| ApiError::internal("token issuance failed"))?;
        let mut c = Claims::default();
        c.iss = self.settings.issuer.clone();
        c.sub = req.sub;
        c.aud = req.aud.filter(|a| !a.is_empty());
        c.exp = now.saturating_add(ttl);
        c.nbf = now;
        c.iat = now;
        c.jti = jti.clone();
        c.sid = req.sid.filter(|s| !s.is_empty());
        c.task_id = req.task_id.filter(|s| !s.is_empty());
        c.orch_id = req.orch_id.filter(|s| !s.is_empty());
        c.delegation_chain = req.chain.filter(|ch| !ch.is_empty());
        c.chain_hash = req.chain_hash.filter(|s| !s.is_empty());
        c.scope = req.scope;
        let token = self
            .keys
            .sign_jwt(&c)
            .map_err(|_| ApiError::internal("token issuance failed"))?;
        self.metrics
            .token_issued(c.scope.first().map_or("none", String::as_str));
        Ok(Issued {
            token,
            expires_in: ttl,
            jti,
        })
    }

    /// The broker's full verification: structure, signature, time, issuer,
    /// revocation.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let claims = self.keys.verify_jwt(token)?;
        if claims.sub.is_empty() {
            return Err(VerifyError::MissingSubject);
        }
        if claims.jti.is_empty() {
            return Err(VerifyError::MissingJti);
        }
        let now = unix_seconds(self.clock.now());
        if claims.exp <= 0 {
            return Err(VerifyError::NoExpiry);
        }
        if now > claims.exp {
            return Err(VerifyError::Expired);
        }
        if claims.nbf != 0 && now < claims.nbf {
            return Err(VerifyError::NotYetValid);
        }
        if !self.settings.issuer.is_empty() && claims.iss != self.settings.issuer {
            return Err(VerifyError::Issuer);
        }
        if read(&self.revocations).covers(&claims) {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }

    /// The Bearer middleware: the raw `Authorization` value (already
    /// trimmed) to verified claims and the token.
    pub(crate) fn authenticate(
        &self,
        authorization: &str,
        path: &str,
    ) -> Result<(Claims, String), ApiError> {
        let denied = || Extra::denied().with_resource(path);
        if authorization.is_empty() {
            self.record(
                "token_auth_failed",
                "",
                "",
                "",
                &format!("missing authorization header | path={path}"),
                denied(),
            );
            return Err(ApiError::unauthorized("missing authorization header"));
        }
        let Some(token) = authorization.strip_prefix("Bearer ") else {
            self.record(
                "token_auth_failed",
                "",
                "",
                "",
                &format!("invalid authorization scheme | path={path}"),
                denied(),
            );
            return Err(ApiError::unauthorized("invalid authorization scheme"));
        };
        match self.verify(token) {
            Ok(claims) => Ok((claims, token.to_owned())),
            Err(e) => {
                self.record(
                    "token_auth_failed",
                    "",
                    "",
                    "",
                    &format!("token verification failed: {e} | path={path}"),
                    denied(),
                );
                Err(ApiError::unauthorized("token verification failed"))
            }
        }
    }

    /// `RequireScope(scope)`.
    pub(crate) fn require_scope(
        &self,
        claims: &Claims,
        scope: &str,
        path: &str,
    ) -> Result<(), ApiError> {
        if scope_is_subset(&[scope], &claims.scope) {
            return Ok(());
        }
        self.record(
            "scope_violation",
            &claims.sub,
            claims.task_id.as_deref().unwrap_or(""),
            claims.orch_id.as_deref().unwrap_or(""),
            &format!(
                "scope_violation | required={scope} | actual={} | path={path}",
                claims.scope.join(",")
            ),
            Extra::denied().with_resource(path),
        );
        Err(ApiError::forbidden(
            ErrorCode::InsufficientScope,
            format!("token lacks required scope: {scope}"),
        ))
    }

    pub(crate) fn validate(&self, body: &[u8]) -> Result<ValidateResponse, ApiError> {
        let req = decode_first(body, &[("token", Kind::Str)]).map_err(|_| ApiError::malformed())?;
        let token = req.str("token");
        if token.is_empty() {
            return Err(ApiError::bad_request("token field is required"));
        }
        Ok(match self.verify(&token) {
            Ok(claims) => ValidateResponse::valid(claims),
            Err(_) => ValidateResponse::invalid("token is invalid or expired"),
        })
    }

    pub(crate) fn renew(&self, claims: &Claims, token: &str) -> Result<Renewed, ApiError> {
        let task = claims.task_id.as_deref().unwrap_or("");
        let orch = claims.orch_id.as_deref().unwrap_or("");
        let fail = |why: String| {
            self.record(
                "token_renewal_failed",
                &claims.sub,
                task,
                orch,
                &format!("token renewal failed for agent={}: {why}", claims.sub),
                Extra::denied(),
            );
            ApiError::unauthorized("token renewal failed")
        };
        let current = self.verify(token).map_err(|e| fail(e.to_string()))?;
        // The predecessor is revoked first; doing it as one step also makes
        // two concurrent renewals of one token yield one new token.
        if !write(&self.revocations).tokens.insert(current.jti.clone()) {
            return Err(fail(VerifyError::Revoked.to_string()));
        }
        let mut ttl = current.exp.saturating_sub(current.iat);
        if ttl <= 0 {
            ttl = self.settings.default_ttl;
        }
        let issued = self
            .issue(IssueReq {
                sub: current.sub.clone(),
                aud: current.aud.clone(),
                scope: current.scope.clone(),
                task_id: current.task_id.clone(),
                orch_id: current.orch_id.clone(),
                sid: current.sid.clone(),
                ttl,
                chain: current.delegation_chain.clone(),
                chain_hash: current.chain_hash.clone(),
            })
            .map_err(|_| fail("sign token: internal error".to_owned()))?;
        self.record(
            "token_renewed",
            &claims.sub,
            task,
            orch,
            &format!(
                "token renewed for agent={} new_jti={}",
                claims.sub, issued.jti
            ),
            Extra::success(),
        );
        Ok(Renewed {
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
        })
    }

    pub(crate) fn release(&self, claims: &Claims) {
        write(&self.revocations).tokens.insert(claims.jti.clone());
        self.record(
            "token_released",
            &claims.sub,
            claims.task_id.as_deref().unwrap_or(""),
            claims.orch_id.as_deref().unwrap_or(""),
            &format!("token released | jti={}", claims.jti),
            Extra::success(),
        );
        self.metrics.token_revoked("release");
    }
}
