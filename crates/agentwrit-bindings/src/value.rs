//! The values calls return, in shapes a shell converts field by field
//! (no JSON text crosses the FFI; generic answers are value trees).

use agentwrit_blocking::Validation;
use agentwrit_blocking::wire::{
    AppResponse, AuditEventsResponse, Claims, HealthResponse, LaunchTokenResponse,
    ListAppsResponse, RevokeResponse,
};

use crate::call::Abandon;
use crate::error::{BindingError, ErrorKind, Result};

/// The broker's verdict on a token. An invalid token is a result, not an
/// error.
#[derive(Clone, Debug)]
pub struct ValidationResult {
    /// Whether the token is genuine, unexpired and not revoked.
    pub valid: bool,
    /// Why not, when it is not.
    pub error: Option<String>,
    /// Its verified claims, when it is.
    pub claims: Option<Claims>,
}

impl From<Validation> for ValidationResult {
    fn from(v: Validation) -> Self {
        ValidationResult {
            valid: v.is_valid(),
            error: v.error().map(str::to_owned),
            claims: v.claims().cloned(),
        }
    }
}

/// How a release ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The broker revoked the token now.
    Released,
    /// It was dead already (released, renewed, revoked or expired); nothing
    /// to do.
    AlreadyDead,
}

impl ReleaseOutcome {
    /// `"released"` or `"already_dead"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseOutcome::Released => "released",
            ReleaseOutcome::AlreadyDead => "already_dead",
        }
    }
}

impl From<agentwrit_blocking::ReleaseOutcome> for ReleaseOutcome {
    fn from(o: agentwrit_blocking::ReleaseOutcome) -> Self {
        match o {
            agentwrit_blocking::ReleaseOutcome::AlreadyDead => ReleaseOutcome::AlreadyDead,
            _ => ReleaseOutcome::Released,
        }
    }
}

impl Abandon for ValidationResult {}
impl Abandon for ReleaseOutcome {}
impl Abandon for HealthResponse {}
impl Abandon for AppResponse {}
impl Abandon for ListAppsResponse {}
impl Abandon for RevokeResponse {}
impl Abandon for AuditEventsResponse {}
impl Abandon for LaunchTokenResponse {}

/// An operator answer as a value tree.
fn tree<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| {
        BindingError::plain(
            ErrorKind::Decode,
            format!("could not convert the broker's answer: {e}"),
        )
    })
}

/// Operator answers: the broker's body as a value tree, secrets the
/// operator asked for (a new app's client secret, a launch token) in
/// clear.
pub(crate) trait AsTree {
    fn as_tree(&self) -> Result<serde_json::Value>;
}

impl AsTree for AppResponse {
    fn as_tree(&self) -> Result<serde_json::Value> {
        let mut value = tree(self)?;
        if let (Some(secret), Some(map)) = (&self.client_secret, value.as_object_mut()) {
            map.insert(
                "client_secret".into(),
                serde_json::Value::String(secret.expose_secret().to_owned()),
            );
        }
        Ok(value)
    }
}

impl AsTree for LaunchTokenResponse {
    fn as_tree(&self) -> Result<serde_json::Value> {
        let mut value = tree(self)?;
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "launch_token".into(),
                serde_json::Value::String(self.launch_token.expose_secret().to_owned()),
            );
        }
        Ok(value)
    }
}

macro_rules! plain_tree {
    ($($t:ty),*) => {$(
        impl AsTree for $t {
            fn as_tree(&self) -> Result<serde_json::Value> {
                tree(self)
            }
        }
    )*};
}
plain_tree!(ListAppsResponse, RevokeResponse, AuditEventsResponse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_token_is_a_result() {
        let v: ValidationResult = Validation::Invalid {
            reason: "token is expired".into(),
        }
        .into();
        assert!(!v.valid && v.claims.is_none());
        assert_eq!(v.error.as_deref(), Some("token is expired"));
    }
}
