//! Minting a launch token for an agent that registers on its own:
//! [`CreateLaunchToken`], by an app (inside its scope ceiling) or by the
//! operator.

use agentwrit_wire::{AccessToken, LaunchTokenRequest, LaunchTokenResponse, paths};

use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::input;
use crate::request::{Spec, check_token};

call_flow!(
    /// `POST /v1/app/launch-tokens` (app token, within the app's scope
    /// ceiling) or `POST /v1/admin/launch-tokens` (admin token, no
    /// ceiling): a launch token an agent registers with. [`CreateAgent`](crate::CreateAgent)
    /// does this itself; use this flow to hand a launch token to an agent
    /// that registers on its own.
    ///
    /// ```
    /// use agentwrit_core::{ClientConfig, CreateLaunchToken};
    /// use agentwrit_wire::{AccessToken, LaunchTokenRequest};
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let request = LaunchTokenRequest::new("worker", vec!["read:data:*".into()]).with_max_ttl(std::time::Duration::from_secs(300));
    /// assert!(CreateLaunchToken::for_app(&config, &AccessToken::new("eyJ.app.token"), &request).is_ok());
    /// assert!(CreateLaunchToken::for_admin(&config, &AccessToken::new("eyJ.admin.token"), &request).is_ok());
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    CreateLaunchToken -> LaunchTokenResponse
);

impl CreateLaunchToken {
    /// A launch token minted by an app, inside its ceiling.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`]: empty `agent_name`, no scope or an invalid
    /// one (`allowed_scope[i]`), a non-positive `max_ttl` or `ttl`, or an
    /// empty token.
    pub fn for_app(
        config: &ClientConfig,
        app_token: &AccessToken,
        request: &LaunchTokenRequest,
    ) -> Result<Self, Error> {
        Self::build(
            config,
            app_token,
            request,
            paths::APP_LAUNCH_TOKENS,
            "app_launch_token",
        )
    }

    /// A launch token minted by the operator, with no app ceiling.
    ///
    /// # Errors
    ///
    /// As [`CreateLaunchToken::for_app`].
    pub fn for_admin(
        config: &ClientConfig,
        admin_token: &AccessToken,
        request: &LaunchTokenRequest,
    ) -> Result<Self, Error> {
        Self::build(
            config,
            admin_token,
            request,
            paths::ADMIN_LAUNCH_TOKENS,
            "admin_launch_token",
        )
    }

    fn build(
        config: &ClientConfig,
        token: &AccessToken,
        request: &LaunchTokenRequest,
        path: &'static str,
        name: &'static str,
    ) -> Result<Self, Error> {
        input::non_empty("agent_name", &request.agent_name)?;
        input::scopes("allowed_scope", &request.allowed_scope)?;
        if let Some(max_ttl) = request.max_ttl {
            input::positive_seconds("max_ttl", max_ttl)?;
        }
        if let Some(ttl) = request.ttl {
            input::positive_seconds("ttl", ttl)?;
        }
        check_token("access_token", token)?;
        let prepared = Spec::post(path)
            .bearer(token)
            .json(request)?
            .prepare(config);
        Ok(CreateLaunchToken(Call::new(
            name,
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, _| {
                let reply = outcome?;
                let r: LaunchTokenResponse = reply.json()?;
                if r.launch_token.is_empty() {
                    return Err(reply.malformed("launch_token is empty"));
                }
                Ok(r)
            },
        )))
    }
}
