//! Asking the broker about a token: [`Validate`] (no credentials needed)
//! and its answer, [`Validation`], valid with the claims or invalid.

use agentwrit_wire::{AccessToken, BearerToken, Claims, ValidateRequest, ValidateResponse, paths};

use crate::call::{Call, Idempotency, call_flow};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::request::Spec;

/// The broker's verdict on a token.
///
/// ```
/// # use agentwrit_core as agentwrit_blocking;
/// use agentwrit_blocking::Validation;
/// let v = Validation::Invalid { reason: "token is invalid or expired".into() };
/// assert!(!v.is_valid());
/// assert!(v.claims().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
// A verdict is inspected and dropped, not stored in bulk: no need to box.
#[allow(clippy::large_enum_variant)]
pub enum Validation {
    /// The token is genuine, unexpired and not revoked; these are its
    /// verified claims.
    Valid(Claims),
    /// The token is not accepted (expired, revoked, released, forged or
    /// garbage: the broker gives one generic reason for all).
    Invalid {
        /// The broker's reason, usually `token is invalid or expired`.
        reason: String,
    },
}

impl Validation {
    /// True for [`Validation::Valid`].
    #[must_use]
    pub fn is_valid(&self) -> bool {
        matches!(self, Validation::Valid(_))
    }

    /// The broker's reason for an invalid token (`token is invalid or
    /// expired`), `None` for a valid one.
    ///
    /// ```
    /// # use agentwrit_core as agentwrit_blocking;
    /// use agentwrit_blocking::Validation;
    /// let v = Validation::Invalid { reason: "token is invalid or expired".into() };
    /// assert_eq!(v.error(), Some("token is invalid or expired"));
    /// ```
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        match self {
            Validation::Invalid { reason } => Some(reason),
            Validation::Valid(_) => None,
        }
    }

    /// The claims of a valid token.
    #[must_use]
    pub fn claims(&self) -> Option<&Claims> {
        match self {
            Validation::Valid(claims) => Some(claims),
            Validation::Invalid { .. } => None,
        }
    }

    /// Whether a valid token grants every scope in `required` (with the
    /// broker's exact subset rule); false for an invalid token.
    #[must_use]
    pub fn allows<S: AsRef<str>>(&self, required: &[S]) -> bool {
        self.claims()
            .is_some_and(|c| agentwrit_scope::scope_is_subset(required, &c.scope))
    }
}

call_flow!(
    /// `POST /v1/token/validate` (no auth): ask the broker whether a token
    /// is valid. An invalid token is a [`Validation::Invalid`] result, not
    /// an error; a 400 (empty token) is an error. Idempotent: retried on
    /// transport failures and 429/502/503/504.
    ///
    /// ```
    /// use agentwrit_core::{ClientConfig, Validate};
    /// use agentwrit_wire::AccessToken;
    ///
    /// let config = ClientConfig::new("http://127.0.0.1:8080".parse()?);
    /// assert!(Validate::new(&config, &AccessToken::new("garbage")).is_ok());
    /// assert!(Validate::new(&config, &AccessToken::new("")).is_err());
    /// # Ok::<(), agentwrit_core::Error>(())
    /// ```
    Validate -> Validation
);

impl Validate {
    /// Validates `token`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `token`) when it is empty.
    pub fn new<T: BearerToken + ?Sized>(config: &ClientConfig, token: &T) -> Result<Self, Error> {
        let token = token.bearer_token();
        if token.is_empty() {
            return Err(Error::invalid_input("token", "must not be empty"));
        }
        let body = ValidateRequest::new(AccessToken::new(token));
        let prepared = Spec::post(paths::VALIDATE).json(&body)?.prepare(config);
        Ok(Validate(Call::new(
            "validate",
            config,
            prepared,
            Idempotency::Idempotent,
            |outcome, _| {
                let reply = outcome?;
                let r: ValidateResponse = reply.json()?;
                match (r.valid, r.claims) {
                    (true, Some(claims)) => Ok(Validation::Valid(claims)),
                    (true, None) => Err(reply.malformed("valid is true but claims are missing")),
                    (false, _) => Ok(Validation::Invalid {
                        reason: r.error.unwrap_or_default(),
                    }),
                }
            },
        )))
    }
}
