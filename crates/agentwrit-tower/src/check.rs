//! The one module that calls the SDK's validation APIs (the broker's
//! `/v1/token/validate` through `agentwrit_async::Broker::validate`, and
//! `agentwrit_core::TokenVerifier` for local EdDSA verification), so that a
//! reshaped public API touches this file only.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentwrit_wire::Claims;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{BrokerKey, ConfigError};

/// What one check of a token concluded.
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// Genuine, unexpired, not revoked (as far as this check can see).
    Valid(Arc<Claims>),
    /// Not accepted; the reason never contains the token.
    Invalid(String),
    /// The broker could not answer (unreachable, 5xx, 429, timeout).
    Unavailable(String),
}

/// Builds the core verifier for one key (also the key's validity check).
pub(crate) fn verifier_for(bytes: [u8; 32]) -> Result<agentwrit_core::TokenVerifier, ConfigError> {
    agentwrit_core::TokenVerifier::new(bytes)
        .map_err(|_| ConfigError::InvalidKey("not a valid Ed25519 public key"))
}

/// The broker's validate endpoint on a pooled client.
#[derive(Clone, Debug)]
pub(crate) struct BrokerCheck {
    broker: agentwrit_async::Broker,
}

/// How the service reaches an HTTPS broker: extra roots (a private CA)
/// and a client identity (a broker in mTLS mode).
#[derive(Clone, Default)]
pub(crate) struct BrokerTls {
    pub(crate) roots: Vec<Vec<u8>>,
    pub(crate) identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl BrokerCheck {
    pub(crate) fn new(url: &str, timeout: Duration, tls: &BrokerTls) -> Result<Self, ConfigError> {
        // The SDK's own client: its TLS policy (explicit provider, roots),
        // no redirects, pooled connections.
        let mut builder = agentwrit_async::Broker::builder(url)
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)));
        for pem in &tls.roots {
            builder = builder.add_root_certificate_pem(pem);
        }
        if let Some((cert, key)) = &tls.identity {
            builder = builder.identity_pem(cert, key);
        }
        let broker = builder.build().map_err(|e| match &e {
            agentwrit_core::Error::InvalidInput { field, .. } if field == "broker_url" => {
                ConfigError::BrokerUrl(e.to_string())
            }
            // A bad PEM for the broker's CA or the client identity.
            _ => ConfigError::Http(e.to_string()),
        })?;
        Ok(BrokerCheck { broker })
    }

    /// Asks the broker. A 4xx answer other than 429 means the broker looked
    /// at the token and refused it; anything else it could not answer.
    pub(crate) async fn check(&self, token: &str) -> Verdict {
        match self.broker.validate(token).await {
            Ok(validation) => match validation.claims() {
                Some(claims) => Verdict::Valid(Arc::new(claims.clone())),
                None => Verdict::Invalid(
                    validation
                        .error()
                        .unwrap_or("token is invalid or expired")
                        .to_owned(),
                ),
            },
            Err(e) => match e.status() {
                Some(status) if (400..500).contains(&status) && status != 429 => {
                    Verdict::Invalid("token is invalid or expired".to_owned())
                }
                _ => Verdict::Unavailable(e.to_string()),
            },
        }
    }
}

/// Several pinned keys, matched by `kid`, with optional issuer and audience
/// checks.
#[derive(Clone, Debug)]
pub(crate) struct LocalCheck {
    verifiers: Vec<agentwrit_core::TokenVerifier>,
}

impl LocalCheck {
    pub(crate) fn new(
        keys: &[BrokerKey],
        checks: &agentwrit_core::ClaimChecks,
    ) -> Result<Self, ConfigError> {
        if keys.is_empty() {
            return Err(ConfigError::NoKeys);
        }
        let verifiers = keys
            .iter()
            .map(|key| Ok(verifier_for(key.bytes())?.with_claim_checks(checks.clone())))
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(LocalCheck { verifiers })
    }

    pub(crate) fn check(&self, token: &str, now: SystemTime) -> Verdict {
        let kid = header_kid(token);
        let mut last = String::from("no pinned key verifies the token");
        for verifier in &self.verifiers {
            if kid.as_deref().is_some_and(|kid| kid != verifier.kid()) {
                continue;
            }
            match verifier.verify(token, now) {
                Ok(claims) => return Verdict::Valid(Arc::new(claims)),
                Err(e) => {
                    last = match e {
                        agentwrit_core::Error::InvalidToken { reason, .. } => reason.to_owned(),
                        other => other.to_string(),
                    };
                    if kid.is_some() {
                        break;
                    }
                }
            }
        }
        Verdict::Invalid(last)
    }
}

/// The header's non-empty `kid`, when the header decodes.
fn header_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value
        .get("kid")
        .and_then(serde_json::Value::as_str)
        .filter(|kid| !kid.is_empty())
        .map(str::to_owned)
}
