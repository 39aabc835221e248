//! Revoking tokens with the admin token: [`Revoke`], by token, agent, task
//! or delegation chain.

use agentwrit_wire::{AccessToken, RevocationLevel, RevokeRequest, RevokeResponse, paths};

use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::input;
use crate::request::{Spec, check_token};

call_flow!(
    /// `POST /v1/revoke`: revoke by token (jti), agent (SPIFFE id), task id
    /// or chain (root agent id).
    ///
    /// ```
    /// use agentwrit_core::{ClientConfig, Revoke};
    /// use agentwrit_wire::{AccessToken, RevocationLevel};
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let admin = AccessToken::new("eyJ.admin.token");
    /// assert!(Revoke::new(&config, &admin, RevocationLevel::Task, "conf-task").is_ok());
    /// assert!(Revoke::new(&config, &admin, RevocationLevel::Token, "").is_err());
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    Revoke -> RevokeResponse
);

impl Revoke {
    /// Revokes `target` at `level`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty target or admin token.
    pub fn new(
        config: &ClientConfig,
        admin_token: &AccessToken,
        level: RevocationLevel,
        target: &str,
    ) -> Result<Self, Error> {
        input::non_empty("target", target)?;
        check_token("admin_token", admin_token)?;
        let body = RevokeRequest::new(level, target);
        let prepared = Spec::post(paths::REVOKE)
            .bearer(admin_token)
            .json(&body)?
            .prepare(config);
        Ok(Revoke(Call::new(
            "revoke",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| outcome?.json(),
        )))
    }
}
