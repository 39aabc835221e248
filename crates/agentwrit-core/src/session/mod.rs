//! App and operator sessions: authenticate, cache, re-authenticate.

use std::time::{Duration, SystemTime};

use agentwrit_wire::{
    AccessToken, AdminAuthRequest, AdminAuthResponse, AdminSecret, AppAuthRequest, AppAuthResponse,
    ClientSecret, paths,
};

use crate::call::{Call, DecodeCtx, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::input;
use crate::request::{Spec, check_token};
use crate::response::Reply;
use crate::token::decode_claims;

/// An authenticated app or operator: a bearer token and when to replace
/// it. Produced by [`AppAuth`] and [`AdminAuth`].
///
/// Expiry is measured on the local clock from the moment the response
/// arrived (`issued_at + expires_in`), so clock skew between client and
/// broker does not matter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The bearer token.
    pub access_token: AccessToken,
    /// Lifetime granted by the broker, in seconds.
    pub expires_in: i64,
    /// When the response arrived (local clock).
    pub issued_at: SystemTime,
    /// `issued_at + expires_in`.
    pub expires_at: SystemTime,
    /// The token's scopes (from the app auth response; for an admin
    /// session, read from the token's claims).
    pub scopes: Vec<String>,
    /// The configured re-authentication margin.
    pub reauth_margin: Duration,
}

/// An app session (from [`AppAuth`]).
pub type AppSession = Session;

/// An operator session (from [`AdminAuth`]).
pub type AdminSession = Session;

impl Session {
    /// A session for `access_token`, received at `issued_at` and valid for
    /// `expires_in` seconds (negative counts as 0). The flows build
    /// sessions themselves; this is for tests and for callers that restore
    /// a session they saved.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use agentwrit_core::Session;
    /// use agentwrit_wire::AccessToken;
    /// let s = Session::new(AccessToken::new("eyJ.x.y"), 300, UNIX_EPOCH, vec![], Duration::from_secs(60));
    /// assert_eq!(s.expires_at, UNIX_EPOCH + Duration::from_secs(300));
    /// ```
    #[must_use]
    pub fn new(
        access_token: AccessToken,
        expires_in: i64,
        issued_at: SystemTime,
        scopes: Vec<String>,
        reauth_margin: Duration,
    ) -> Self {
        let lifetime = Duration::from_secs(u64::try_from(expires_in).unwrap_or(0));
        Session {
            access_token,
            expires_in,
            issued_at,
            expires_at: issued_at.checked_add(lifetime).unwrap_or(issued_at),
            scopes,
            reauth_margin,
        }
    }

    /// True when the session should be replaced before use: when at most
    /// `min(reauth_margin, lifetime / 2)` remains (60 s by default). The
    /// half-lifetime bound keeps an app whose token lives only 60 s (the
    /// broker's minimum `token_ttl`) from re-authenticating on every call
    /// and tripping the broker's rate limit.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use agentwrit_core::Session;
    /// # use agentwrit_wire::AccessToken;
    /// # fn session(ttl: i64) -> Session {
    /// #     Session::new(AccessToken::new("eyJ.x.y"), ttl, UNIX_EPOCH, vec![], Duration::from_secs(60))
    /// # }
    /// let t0 = UNIX_EPOCH;
    /// let long = session(1800); // default app token_ttl
    /// assert!(!long.needs_reauth(t0 + Duration::from_secs(1739)));
    /// assert!(long.needs_reauth(t0 + Duration::from_secs(1740)));
    ///
    /// let short = session(60); // margin is 30 s, not 60 s
    /// assert!(!short.needs_reauth(t0 + Duration::from_secs(29)));
    /// assert!(short.needs_reauth(t0 + Duration::from_secs(30)));
    /// ```
    #[must_use]
    pub fn needs_reauth(&self, now: SystemTime) -> bool {
        now >= self.reauth_at()
    }

    /// The instant from which [`Session::needs_reauth`] is true.
    #[must_use]
    pub fn reauth_at(&self) -> SystemTime {
        let lifetime = self
            .expires_at
            .duration_since(self.issued_at)
            .unwrap_or_default();
        let margin = self.reauth_margin.min(lifetime / 2);
        self.expires_at
            .checked_sub(margin)
            .unwrap_or(self.issued_at)
    }

    /// True when the token has expired.
    #[must_use]
    pub fn is_expired(&self, now: SystemTime) -> bool {
        now >= self.expires_at
    }

    /// `Bearer <token>`; itself a secret.
    #[must_use]
    pub fn bearer_header_value(&self) -> String {
        self.access_token.bearer_header_value()
    }
}

/// A cached session, as pure data. [`SharedSession`](crate::SharedSession)
/// keeps one behind its mutex and lets one caller at a time authenticate,
/// so concurrent callers trigger at most one re-authentication per expiry
/// window (single-flight).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use agentwrit_core::SessionCache;
/// # use agentwrit_core::Session;
/// # use agentwrit_wire::AccessToken;
/// # let session = Session::new(AccessToken::new("eyJ.x.y"), 1800, UNIX_EPOCH, vec![], Duration::from_secs(60));
/// let mut cache = SessionCache::new();
/// assert!(cache.fresh_token(UNIX_EPOCH).is_none()); // authenticate first
/// let token = session.access_token.clone();
/// cache.store(session);
/// assert_eq!(cache.fresh_token(UNIX_EPOCH + Duration::from_secs(60)), Some(token.clone()));
/// assert!(cache.fresh_token(UNIX_EPOCH + Duration::from_secs(1790)).is_none()); // near expiry
/// assert!(cache.invalidate_if(&token)); // e.g. after a 401 with this token
/// assert!(cache.session().is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct SessionCache {
    session: Option<Session>,
}

impl SessionCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached token, when there is one that does not need replacing
    /// at `now`.
    #[must_use]
    pub fn fresh_token(&self, now: SystemTime) -> Option<AccessToken> {
        self.session
            .as_ref()
            .filter(|s| !s.needs_reauth(now))
            .map(|s| s.access_token.clone())
    }

    /// The cached session, fresh or not.
    #[must_use]
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Replaces the cached session.
    pub fn store(&mut self, session: Session) {
        self.session = Some(session);
    }

    /// Forgets the cached session.
    pub fn invalidate(&mut self) {
        self.session = None;
    }

    /// Forgets the cached session if its token is `token` (and not one
    /// another caller has stored since). Returns whether it did.
    pub fn invalidate_if(&mut self, token: &AccessToken) -> bool {
        if self
            .session
            .as_ref()
            .is_some_and(|s| &s.access_token == token)
        {
            self.session = None;
            return true;
        }
        false
    }

    /// Tells the cache that a call made with `token` failed with `error`.
    /// A 401 means the broker no longer accepts the token (revoked, app
    /// deactivated, broker restarted with a new key): the session is
    /// dropped. Returns true when the caller should authenticate again and
    /// retry the call once.
    pub fn observe(&mut self, token: &AccessToken, error: &Error) -> bool {
        if error.is_authentication() {
            self.invalidate_if(token);
            return true;
        }
        false
    }
}

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
    /// session in a [`SessionCache`].
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
