//! The two logins: [`AppAuth`] (client id and secret) and [`AdminAuth`]
//! (the admin secret), each ending with a [`Session`].

use std::time::Duration;

use agentwrit_wire::{
    AccessToken, AdminAuthRequest, AdminAuthResponse, AdminSecret, AppAuthRequest, AppAuthResponse,
    ClientSecret, paths,
};

use super::Session;
use crate::call::{Call, DecodeCtx, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::input;
use crate::request::{Spec, check_token};
use crate::response::Reply;
use crate::token::decode_claims;

fn session_from(
    reply: &Reply<'_>,
    access_token: AccessToken,
    expires_in: i64,
    scopes: Vec<String>,
    ctx: DecodeCtx,
) -> Result<Session, Error> {
    if check_token("access_token", &access_token).is_err() {
        return Err(reply.malformed("access_token is empty or not a valid header value"));
    }
    let lifetime = u64::try_from(expires_in)
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| reply.malformed("expires_in must be a positive number of seconds"))?;
    if ctx.now.checked_add(Duration::from_secs(lifetime)).is_none() {
        return Err(reply.malformed("expires_in is out of range"));
    }
    Ok(Session::new(
        access_token,
        expires_in,
        ctx.now,
        scopes,
        ctx.reauth_margin,
    ))
}

call_flow!(
    /// `POST /v1/app/auth`: exchange an app's client id and secret for an
    /// app [`Session`].
    ///
    /// Not idempotent for retries (the broker rate-limits it per client
    /// id: 3 quick calls, then 10 per minute, `Retry-After: 60`), so it is
    /// retried only when the request certainly was not sent. Cache the
    /// session in a [`SessionCache`](super::SessionCache).
    ///
    /// ```
    /// use agentwrit_core::{AppAuth, ClientConfig, Flow, Step};
    /// use agentwrit_wire::ClientSecret;
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let mut flow = AppAuth::new(&config, "cm-37a7c9c10885", &ClientSecret::new("4ca1b208"))?;
    /// let Step::Send(request) = flow.start(std::time::UNIX_EPOCH) else { unreachable!() };
    /// assert_eq!(request.uri(), "http://127.0.0.1:8080/v1/app/auth");
    /// assert!(AppAuth::new(&config, "", &ClientSecret::new("x")).is_err());
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    AppAuth -> Session
);

impl AppAuth {
    /// Authenticates the app `client_id` with `client_secret`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when either is empty.
    pub fn new(
        config: &ClientConfig,
        client_id: &str,
        client_secret: &ClientSecret,
    ) -> Result<Self, Error> {
        input::non_empty("client_id", client_id)?;
        if client_secret.is_empty() {
            return Err(Error::invalid_input("client_secret", "must not be empty"));
        }
        let body = AppAuthRequest::new(client_id, client_secret.clone());
        let prepared = Spec::post(paths::APP_AUTH).json(&body)?.prepare(config);
        Ok(AppAuth(Call::new(
            "app_auth",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, ctx| {
                let reply = outcome?;
                let r: AppAuthResponse = reply.json()?;
                session_from(&reply, r.access_token, r.expires_in, r.scopes, ctx)
            },
        )))
    }
}

call_flow!(
    /// `POST /v1/admin/auth`: exchange the operator's admin secret for an
    /// admin [`Session`] (300 s, scopes `admin:launch-tokens:*`,
    /// `admin:revoke:*`, `admin:audit:*`).
    ///
    /// ```
    /// use agentwrit_core::{AdminAuth, ClientConfig};
    /// use agentwrit_wire::AdminSecret;
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let flow = AdminAuth::new(&config, &AdminSecret::new("s3cr3t"))?;
    /// assert!(AdminAuth::new(&config, &AdminSecret::new("")).is_err());
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    AdminAuth -> Session
);

impl AdminAuth {
    /// Authenticates the operator with `secret`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the secret is empty.
    pub fn new(config: &ClientConfig, secret: &AdminSecret) -> Result<Self, Error> {
        if secret.is_empty() {
            return Err(Error::invalid_input("secret", "must not be empty"));
        }
        let body = AdminAuthRequest::new(secret.clone());
        let prepared = Spec::post(paths::ADMIN_AUTH).json(&body)?.prepare(config);
        Ok(AdminAuth(Call::new(
            "admin_auth",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, ctx| {
                let reply = outcome?;
                let r: AdminAuthResponse = reply.json()?;
                let scopes = decode_claims(&r.access_token)
                    .map(|c| c.scope)
                    .unwrap_or_default();
                session_from(&reply, r.access_token, r.expires_in, scopes, ctx)
            },
        )))
    }
}
