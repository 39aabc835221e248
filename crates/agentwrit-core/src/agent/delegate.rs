//! Delegating scope to another agent: [`Delegate`], from an agent's token
//! or a delegated one, and the [`DelegatedToken`] it yields.

use std::time::{Duration, SystemTime};

use agentwrit_wire::{
    AccessToken, Claims, DelegateRequest, DelegateResponse, DelegationRecord, paths,
};

use super::issued;
use super::release::Release;
use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::input;
use crate::request::{Spec, check_token};

/// A delegated token (from [`Delegate`]): `sub` is the delegate, scope is
/// what was delegated, and the chain records every hop. It can itself
/// delegate further ([`DelegatedToken::delegate_flow`]), up to five hops.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DelegatedToken {
    /// The delegated token.
    pub access_token: AccessToken,
    /// Lifetime (the requested `ttl`, broker default 60 s).
    pub expires_in: Duration,
    /// Its `exp` claim.
    pub expires_at: SystemTime,
    /// When it arrived (local clock).
    pub received_at: SystemTime,
    /// Its claims.
    pub claims: Claims,
    /// The delegation chain, oldest hop first, as the broker returned it.
    pub delegation_chain: Vec<DelegationRecord>,
}

impl DelegatedToken {
    /// The delegate's SPIFFE id (the token's `sub`).
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// The delegated scope (from the claims).
    #[must_use]
    pub fn scope(&self) -> &[String] {
        &self.claims.scope
    }

    /// `Bearer <token>` for an `Authorization` header, marked sensitive.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the token holds a byte a header cannot.
    pub fn bearer_header_value(&self) -> Result<http::HeaderValue, Error> {
        crate::request::bearer_value(&self.access_token)
    }

    /// Delegates onwards from this token (A → B → C).
    ///
    /// # Errors
    ///
    /// As [`Delegate::new`].
    pub fn delegate_flow<S: AsRef<str>>(
        &self,
        config: &ClientConfig,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<Delegate, Error> {
        Delegate::new(config, &self.access_token, delegate_to, scope, ttl)
    }

    /// Releases this token.
    ///
    /// # Errors
    ///
    /// As [`Release::new`].
    pub fn release_flow(&self, config: &ClientConfig) -> Result<Release, Error> {
        Release::new(config, &self.access_token)
    }
}

call_flow!(
    /// `POST /v1/delegate` (Bearer): delegate an equal or narrower scope
    /// to another registered agent. Works from any token: an agent's, or a
    /// delegated one (so A → B → C needs no raw HTTP). The broker answers
    /// a scope beyond the presenter's with 403 `scope_violation`
    /// ([`Error::Authorization`]), an unknown delegate with 404.
    ///
    /// ```
    /// use agentwrit_core::{ClientConfig, Delegate, Error};
    /// use agentwrit_wire::AccessToken;
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// let token = AccessToken::new("eyJ.agent.token");
    /// let to = "spiffe://agentwrit.local/agent/o/t/fc93a2e0c767592c";
    /// assert!(Delegate::new(&config, &token, to, &["read:data:reports"], Some(std::time::Duration::from_secs(30))).is_ok());
    /// let err = Delegate::new(&config, &token, to, &[] as &[&str], None).unwrap_err();
    /// assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "scope"));
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    Delegate -> DelegatedToken
);

impl Delegate {
    /// Delegates `scope` from the holder of `token` to `delegate_to` (a
    /// SPIFFE id) for `ttl` seconds (broker default 60).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty `delegate_to`, an empty scope
    /// list (the real broker answers that with a 500), an invalid scope
    /// (`scope[i]`), a non-positive `ttl`, or an empty token.
    pub fn new<S: AsRef<str>>(
        config: &ClientConfig,
        token: &AccessToken,
        delegate_to: &str,
        scope: &[S],
        ttl: Option<Duration>,
    ) -> Result<Self, Error> {
        input::non_empty("delegate_to", delegate_to)?;
        input::at_most("delegate_to", delegate_to, input::MAX_DELEGATE_ID_LEN)?;
        input::bounded_scopes("scope", scope)?;
        let ttl = ttl.map(input::ttl_seconds);
        if let Some(ttl) = ttl {
            input::positive_seconds("ttl", ttl)?;
        }
        check_token("access_token", token)?;
        let scope: Vec<String> = scope.iter().map(|s| s.as_ref().to_owned()).collect();
        let body = DelegateRequest::new(delegate_to, scope, ttl);
        let prepared = Spec::post(paths::DELEGATE)
            .bearer(token)
            .json(&body)?
            .prepare(config);
        Ok(Delegate(Call::new(
            "delegate",
            config,
            prepared,
            Idempotency::NotIdempotent,
            |outcome, ctx| {
                let reply = outcome?;
                let r: DelegateResponse = reply.json()?;
                let i = issued(&reply, r.access_token, r.expires_in, ctx.now)?;
                Ok(DelegatedToken {
                    access_token: i.access_token,
                    expires_in: Duration::from_secs(i.expires_in.max(0).unsigned_abs()),
                    expires_at: i.expires_at,
                    received_at: i.received_at,
                    claims: i.claims,
                    delegation_chain: r.delegation_chain,
                })
            },
        )))
    }
}
