//! Logins: the operator's admin secret and an app's client secret, each
//! exchanged for a token (`/v1/admin/auth`, `/v1/app/auth`), rate-limited.

use agentwrit_wire::{AccessToken, scopes};

use super::Broker;
use super::tokens::IssueReq;
use crate::audit::Extra;
use crate::crypto::secret_matches;
use crate::gojson::{Kind, decode_exact, decode_first};
use crate::problem::ApiError;
use crate::reply::{AdminToken, AppToken};
use crate::sync::read;

const ADMIN_SCOPES: [&str; 3] = [
    scopes::ADMIN_LAUNCH_TOKENS,
    scopes::ADMIN_REVOKE,
    scopes::ADMIN_AUDIT,
];

const APP_SCOPES: [&str; 3] = [
    scopes::APP_LAUNCH_TOKENS,
    scopes::APP_AGENTS,
    scopes::APP_AUDIT_READ,
];

impl Broker {
    pub(crate) fn admin_auth(&self, body: &[u8], client_ip: &str) -> Result<AdminToken, ApiError> {
        if let Some(l) = &self.admin_limiter
            && !l.allow(client_ip, self.now())
        {
            return Err(ApiError::rate_limited("1"));
        }
        if let Ok(legacy) = decode_exact(
            body,
            &[("client_id", Kind::Str), ("client_secret", Kind::Str)],
        ) && (!legacy.str("client_id").is_empty() || !legacy.str("client_secret").is_empty())
        {
            return Err(ApiError::bad_request(
                r#"Admin auth format changed. Use {"secret": "..."} instead of client_id/client_secret"#,
            ));
        }
        let req =
            decode_exact(body, &[("secret", Kind::Str)]).map_err(|_| ApiError::malformed())?;
        let secret = zeroize::Zeroizing::new(req.str("secret"));
        if secret.is_empty() {
            return Err(ApiError::bad_request("secret is required"));
        }
        if !secret_matches(&secret, &self.admin_secret_hash) {
            self.metrics.admin_auth(false);
            self.record(
                "admin_auth_failed",
                "",
                "",
                "",
                "failed admin authentication attempt",
                Extra::denied(),
            );
            return Err(ApiError::unauthorized("invalid credentials"));
        }
        let issued = self
            .issue(IssueReq {
                sub: "admin".to_owned(),
                scope: ADMIN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                ttl: self.settings.admin_token_ttl,
                ..IssueReq::default()
            })
            .map_err(|_| ApiError::unauthorized("invalid credentials"))?;
        self.metrics.admin_auth(true);
        self.record(
            "admin_auth",
            "",
            "",
            "",
            "admin authenticated as admin",
            Extra::success(),
        );
        Ok(AdminToken {
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
            token_type: "Bearer",
        })
    }

    pub(crate) fn app_auth(&self, body: &[u8], client_ip: &str) -> Result<AppToken, ApiError> {
        if let Some(l) = &self.app_limiter {
            let key = decode_exact(body, &[("client_id", Kind::Str)])
                .map(|o| o.str("client_id"))
                .unwrap_or_default();
            let key = if key.is_empty() {
                client_ip.to_owned()
            } else {
                key
            };
            if !l.allow(&key, self.now()) {
                return Err(ApiError::rate_limited("60"));
            }
        }
        let req = decode_first(
            body,
            &[("client_id", Kind::Str), ("client_secret", Kind::Str)],
        )
        .map_err(|_| ApiError::malformed())?;
        let client_id = req.str("client_id");
        let secret = zeroize::Zeroizing::new(req.str("client_secret"));
        if client_id.is_empty() || secret.is_empty() {
            return Err(ApiError::bad_request(
                "client_id and client_secret are required",
            ));
        }
        let app = {
            let apps = read(&self.apps);
            apps.id_by_client
                .get(&client_id)
                .and_then(|id| apps.by_id.get(id))
                .cloned()
        };
        let fail = |reason: &str| {
            self.record(
                "app_auth_failed",
                "",
                "",
                "",
                &format!("client_id={client_id} reason={reason}"),
                Extra::denied(),
            );
            ApiError::unauthorized("Authentication failed")
        };
        let Some(app) = app else {
            return Err(fail("unknown_client_id"));
        };
        if !app.active {
            return Err(fail("app_inactive"));
        }
        if !secret_matches(&secret, &app.secret_hash) {
            return Err(fail("wrong_secret"));
        }
        let scope: Vec<String> = APP_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        let issued = self
            .issue(IssueReq {
                sub: format!("app:{}", app.app_id),
                scope: scope.clone(),
                ttl: app.token_ttl,
                ..IssueReq::default()
            })
            .map_err(|_| ApiError::internal("authentication error"))?;
        self.record(
            "app_authenticated",
            "",
            "",
            "",
            &format!("client_id={client_id} app_id={}", app.app_id),
            Extra::success(),
        );
        Ok(AppToken {
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
            token_type: "Bearer",
            scopes: scope,
        })
    }
}
