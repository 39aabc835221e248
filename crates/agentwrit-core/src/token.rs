//! Reading a broker token's claims, and verifying a token locally.

use core::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentwrit_wire::{AccessToken, Claims, JwtHeader};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Reads the claims of a broker-issued token **without verifying it**.
///
/// The SDK uses this on tokens it has just received from the broker over
/// the connection it chose, to learn the scope, expiry, jti, task and orch
/// the broker actually granted. Never use it to decide whether to trust a
/// token someone presents to you: use [`TokenVerifier`] or the broker's
/// validate endpoint (`Validate`).
///
/// # Errors
///
/// [`Error::Decode`] when the token is not three dot-separated parts whose
/// middle one is base64url JSON claims.
///
/// ```
/// use agentwrit_core::decode_claims;
/// use agentwrit_wire::AccessToken;
///
/// let t = AccessToken::new("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6MTAsImp0aSI6ImoiLCJzY29wZSI6WyJhOmI6YyJdfQ.c2ln");
/// let claims = decode_claims(&t)?;
/// assert_eq!(claims.sub, "admin");
/// assert_eq!(claims.scope, ["a:b:c"]);
/// assert!(decode_claims(&AccessToken::new("not-a-jwt")).is_err());
/// # Ok::<(), agentwrit_core::Error>(())
/// ```
pub fn decode_claims(token: &AccessToken) -> Result<Claims, Error> {
    let value = token.expose_secret();
    let undecodable = |what: &str| {
        Error::decode(
            None,
            format!("the access token's claims cannot be decoded: {what}"),
            String::new(),
        )
    };
    if value.split('.').count() != 3 {
        return Err(undecodable(
            "it is not a compact JWS (three dot-separated parts)",
        ));
    }
    jsonwebtoken::dangerous::insecure_decode_claims::<Claims>(value).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        undecodable(match e.kind() {
            ErrorKind::Base64(_) => "the payload is not base64url",
            ErrorKind::Utf8(_) => "the payload is not UTF-8",
            ErrorKind::Json(_) => "the payload is not the expected JSON claims",
            _ => "the token is malformed",
        })
    })
}

/// The RFC 7638 JWK thumbprint of an Ed25519 public key, as the broker
/// puts it in the `kid` header: base64url (no padding) of the SHA-256 of
/// `{"crv":"Ed25519","kty":"OKP","x":"<base64url public key>"}`.
///
/// ```
/// // RFC 8037, appendix A.3.
/// let x = agentwrit_core::kid_for(&[
///     0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
///     0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
/// ]);
/// assert_eq!(x, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
/// ```
#[must_use]
pub fn kid_for(public_key: &[u8; 32]) -> String {
    let x = URL_SAFE_NO_PAD.encode(public_key);
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Verifies broker tokens locally against the broker's pinned Ed25519
/// public key, with the broker's own rules: three parts, `alg` `EdDSA`,
/// `kid` (when present) equal to the key's thumbprint, a valid signature
/// (strict Ed25519), non-empty `sub` and `jti`, a positive `exp` not yet
/// passed, `nbf` (when set) reached, and the issuer when one is configured.
///
/// **It cannot see revocation**: a released, renewed or revoked token
/// verifies until it expires. Ask the broker (`Validate`)
/// when that matters.
///
/// ```
/// # use agentwrit_core as agentwrit_blocking;
/// use std::time::{Duration, UNIX_EPOCH};
/// use agentwrit_blocking::TokenVerifier;
///
/// let verifier = TokenVerifier::new([0x11; 32])?
///     .with_issuer("https://broker.example")
///     .with_leeway(Duration::from_secs(5));
/// let err = verifier.verify("a.b", UNIX_EPOCH).unwrap_err();
/// assert_eq!(err.to_string(), "token rejected: not a compact JWS (three dot-separated parts)");
/// # Ok::<(), agentwrit_blocking::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenVerifier {
    key: VerifyingKey,
    kid: String,
    checks: ClaimChecks,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("kid", &self.kid)
            .field("issuer", &self.checks.issuer)
            .field("leeway", &self.checks.leeway)
            .finish()
    }
}

/// The claim checks of local verification, on claims already decoded:
/// non-empty `sub` and `jti`, a positive `exp` not yet passed, `nbf` (when
/// set) reached, and `iss` equal to the configured issuer (if any), with a
/// leeway on `exp` and `nbf`.
///
/// [`TokenVerifier`] runs them after the signature; a service that got
/// claims another way (the broker's validate answer, a cached verdict)
/// runs the same rules with [`ClaimChecks::check`].
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use agentwrit_core::ClaimChecks;
///
/// let mut claims = agentwrit_wire::Claims::default();
/// (claims.sub, claims.jti, claims.exp) = ("agent".into(), "j1".into(), 100);
/// let checks = ClaimChecks::new().with_leeway(Duration::from_secs(5));
/// assert!(checks.check(&claims, UNIX_EPOCH + Duration::from_secs(105)).is_ok());
/// let late = checks.check(&claims, UNIX_EPOCH + Duration::from_secs(106)).unwrap_err();
/// assert_eq!(late.to_string(), "token rejected: the token has expired");
/// let strict = ClaimChecks::new().with_issuer("https://broker.example");
/// assert!(strict.check(&claims, UNIX_EPOCH).is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimChecks {
    issuer: Option<String>,
    leeway: Duration,
}

impl ClaimChecks {
    /// No issuer check, no leeway.
    #[must_use]
    pub fn new() -> Self {
        ClaimChecks::default()
    }

    /// Requires `iss` to equal `issuer` (the broker's `AA_ISSUER`).
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Tolerates this much clock difference on `exp` and `nbf`.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Checks `claims` at `now`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] saying which check failed.
    pub fn check(&self, claims: &Claims, now: SystemTime) -> Result<(), Error> {
        if claims.sub.is_empty() {
            return Err(rejected("the subject is empty"));
        }
        if claims.jti.is_empty() {
            return Err(rejected("the jti is empty"));
        }
        if claims.exp <= 0 {
            return Err(rejected("the token has no expiry"));
        }
        let now = unix_seconds(now);
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        if now > claims.exp.saturating_add(leeway) {
            return Err(rejected("the token has expired"));
        }
        if claims.nbf != 0 && now.saturating_add(leeway) < claims.nbf {
            return Err(rejected("the token is not valid yet"));
        }
        if let Some(issuer) = &self.issuer
            && &claims.iss != issuer
        {
            return Err(rejected("the issuer does not match"));
        }
        Ok(())
    }
}

fn rejected(reason: &'static str) -> Error {
    Error::InvalidToken { reason }
}

impl TokenVerifier {
    /// A verifier pinned to the broker's 32-byte Ed25519 public key, with
    /// no issuer check and no leeway.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] when the bytes are not a valid Ed25519 public key.
    pub fn new(broker_public_key: [u8; 32]) -> Result<Self, Error> {
        let key = VerifyingKey::from_bytes(&broker_public_key)
            .map_err(|_| Error::crypto("not a valid Ed25519 public key"))?;
        Ok(TokenVerifier {
            key,
            kid: kid_for(&broker_public_key),
            checks: ClaimChecks::new(),
        })
    }

    /// Requires `iss` to equal `issuer` (the broker's `AA_ISSUER`).
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.checks = self.checks.with_issuer(issuer);
        self
    }

    /// Tolerates this much clock difference on `exp` and `nbf`.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.checks = self.checks.with_leeway(leeway);
        self
    }

    /// Replaces the claim checks (issuer, leeway) run after the signature.
    #[must_use]
    pub fn with_claim_checks(mut self, checks: ClaimChecks) -> Self {
        self.checks = checks;
        self
    }

    /// The pinned key's thumbprint, the `kid` tokens must carry (if any).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Verifies `token` at `now` and returns its claims.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] saying which check failed.
    pub fn verify<T: agentwrit_wire::BearerToken + ?Sized>(
        &self,
        token: &T,
        now: SystemTime,
    ) -> Result<Claims, Error> {
        let token = token.bearer_token();
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(rejected("not a compact JWS (three dot-separated parts)"));
        };
        let header: JwtHeader = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| rejected("the header is not base64url JSON"))?;
        if header.alg != "EdDSA" {
            return Err(rejected("the algorithm is not EdDSA"));
        }
        if header
            .kid
            .as_deref()
            .is_some_and(|kid| !kid.is_empty() && kid != self.kid)
        {
            return Err(rejected("the kid is not the pinned key's thumbprint"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok())
            .ok_or_else(|| rejected("the signature is not a base64url Ed25519 signature"))?;
        let signing_input = token
            .rfind('.')
            .and_then(|dot| token.get(..dot))
            .unwrap_or_default();
        self.key
            .verify_strict(signing_input.as_bytes(), &signature)
            .map_err(|_| rejected("the signature does not verify"))?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .filter(serde_json::Value::is_object)
            .and_then(|value| serde_json::from_value(value).ok())
            .ok_or_else(|| rejected("the claims are not a base64url JSON object"))?;
        self.checks.check(&claims, now)?;
        Ok(claims)
    }
}

/// Whole seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The instant `secs` after the Unix epoch (clamped to the epoch for
/// negative values).
pub(crate) fn from_unix_seconds(secs: i64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const NOW: u64 = 1_795_304_437;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn mint(key: &SigningKey, header: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let sig = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    fn setup() -> (SigningKey, TokenVerifier, String) {
        let key = SigningKey::from_bytes(&[9; 32]);
        let verifier = TokenVerifier::new(key.verifying_key().to_bytes()).unwrap();
        let header = format!(
            r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#,
            verifier.kid()
        );
        (key, verifier, header)
    }

    fn claims(exp: u64, nbf: u64) -> String {
        format!(
            r#"{{"iss":"","sub":"spiffe://agentwrit.local/agent/o/t/1","exp":{exp},"nbf":{nbf},"iat":{nbf},"jti":"2a3e","scope":["read:data:*"],"task_id":"t","orch_id":"o"}}"#
        )
    }

    #[test]
    fn accepts_a_good_token() {
        let (key, v, header) = setup();
        let t = mint(&key, &header, &claims(NOW + 300, NOW));
        let c = v.verify(&t, now()).unwrap();
        assert_eq!(c.scope, ["read:data:*"]);
        // exp == now is still valid (the broker rejects only now > exp).
        let t = mint(&key, &header, &claims(NOW, NOW));
        assert!(v.verify(&t, now()).is_ok());
        // No kid is fine; an empty kid is treated as absent.
        let t = mint(&key, r#"{"alg":"EdDSA"}"#, &claims(NOW + 1, NOW));
        assert!(v.verify(&t, now()).is_ok());
        let t = mint(&key, r#"{"alg":"EdDSA","kid":""}"#, &claims(NOW + 1, NOW));
        assert!(v.verify(&t, now()).is_ok());
    }

    #[test]
    fn rejects_what_the_broker_rejects() {
        let (key, v, header) = setup();
        let good_claims = claims(NOW + 300, NOW);
        let other = SigningKey::from_bytes(&[8; 32]);
        let cases: Vec<(String, &str)> = vec![
            ("a.b".into(), "three"),
            ("a.b.c.d".into(), "three"),
            (mint(&key, r#"{"alg":"none"}"#, &good_claims), "EdDSA"),
            (mint(&key, r#"{"alg":"HS256"}"#, &good_claims), "EdDSA"),
            (
                mint(&key, r#"{"alg":"EdDSA","kid":"other"}"#, &good_claims),
                "kid",
            ),
            (mint(&other, &header, &good_claims), "verify"),
            (mint(&key, &header, &claims(NOW - 1, NOW - 301)), "expired"),
            (
                mint(&key, &header, &claims(NOW + 300, NOW + 10)),
                "not valid yet",
            ),
            (
                mint(&key, &header, r#"{"sub":"","jti":"j","exp":9999999999}"#),
                "subject",
            ),
            (
                mint(&key, &header, r#"{"sub":"s","jti":"","exp":9999999999}"#),
                "jti",
            ),
            (
                mint(&key, &header, r#"{"sub":"s","jti":"j","exp":0}"#),
                "expiry",
            ),
            (mint(&key, &header, "[]"), "claims"),
            (
                format!("{}x", mint(&key, &header, &good_claims)),
                "signature",
            ),
            ("!!.e30.AA".into(), "header"),
        ];
        for (token, want) in cases {
            let err = v.verify(&token, now()).unwrap_err();
            assert!(err.to_string().contains(want), "{want}: {err}");
        }
        // Tampered claims with the original signature.
        let t = mint(&key, &header, &good_claims);
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(claims(NOW + 99_999, NOW));
        parts[1] = &forged;
        assert!(v.verify(&parts.join("."), now()).is_err());
    }

    #[test]
    fn issuer_and_leeway() {
        let (key, v, header) = setup();
        let t = mint(&key, &header, &claims(NOW - 3, NOW - 300));
        assert!(v.verify(&t, now()).is_err());
        let lenient = v.clone().with_leeway(Duration::from_secs(5));
        assert!(lenient.verify(&t, now()).is_ok());
        let strict = v.with_issuer("https://broker.example");
        let t = mint(&key, &header, &claims(NOW + 1, NOW));
        assert!(
            strict
                .verify(&t, now())
                .unwrap_err()
                .to_string()
                .contains("issuer")
        );
    }

    #[test]
    fn invalid_public_key_is_a_crypto_error() {
        // Not a point on the curve (y = 2 is not a valid encoding? try all-0xff).
        let mut bad = None;
        for b in 0u8..=255 {
            if TokenVerifier::new([b; 32]).is_err() {
                bad = Some(b);
                break;
            }
        }
        let b = bad.expect("some constant byte string is not a point");
        assert!(matches!(
            TokenVerifier::new([b; 32]),
            Err(Error::Crypto { .. })
        ));
    }

    #[test]
    fn time_conversions_saturate() {
        assert_eq!(unix_seconds(now()), 1_795_304_437);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
        assert_eq!(from_unix_seconds(-5), UNIX_EPOCH);
        assert_eq!(from_unix_seconds(10), UNIX_EPOCH + Duration::from_secs(10));
    }
}
