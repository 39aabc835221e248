//! App and operator sessions: log in, cache the token, log in again.
//!
//! * here: [`Session`] (a token and when to replace it) and
//!   [`SessionCache`] (the cached session, as pure data);
//! * `auth.rs`: the login flows, [`AppAuth`] and [`AdminAuth`];
//! * `shared.rs`: [`SharedSession`], shared by every clone of a client,
//!   and [`WithSession`], the flow that runs a call with its token and
//!   lets one caller at a time log in (single-flight).

mod auth;
mod shared;

use std::time::{Duration, SystemTime};

use agentwrit_wire::AccessToken;

pub use auth::{AdminAuth, AppAuth};
pub use shared::{AUTH_POLL_INTERVAL, SharedSession, WithSession};

use crate::error::Error;

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
        crate::request::bearer_string(&self.access_token)
    }
}

/// A cached session, as pure data. [`SharedSession`]
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
