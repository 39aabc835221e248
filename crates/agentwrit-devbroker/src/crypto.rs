//! Keys, randomness, secret hashing and the compact EdDSA JWS.

use agentwrit_wire::{Claims, JwtHeader, to_go_json};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::DevBrokerError;

/// Base64url without padding, as Go's `base64.RawURLEncoding` decodes it:
/// non-zero trailing bits are accepted.
const RAW_URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Standard padded base64, as Go's `base64.StdEncoding` decodes it.
const STD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Go's base64 decoders skip `\r` and `\n` anywhere in the input.
fn strip_newlines(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['\r', '\n']) {
        std::borrow::Cow::Owned(s.chars().filter(|c| *c != '\r' && *c != '\n').collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Decodes Go `RawURLEncoding` text.
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    RAW_URL_LENIENT.decode(strip_newlines(s).as_bytes()).ok()
}

/// Decodes Go `StdEncoding` text.
pub(crate) fn b64std_decode(s: &str) -> Option<Vec<u8>> {
    STD_LENIENT.decode(strip_newlines(s).as_bytes()).ok()
}

/// Base64url without padding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], DevBrokerError> {
    let mut buf = [0u8; N];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|_| DevBrokerError::Randomness)?;
    Ok(buf)
}

/// `N` random bytes, hex-encoded (`2N` characters).
pub(crate) fn random_hex<const N: usize>() -> Result<String, DevBrokerError> {
    Ok(hex::encode(random_bytes::<N>()?))
}

/// SHA-256 of a secret; the broker stores only this.
pub(crate) fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time comparison of a presented secret with a stored hash.
pub(crate) fn secret_matches(presented: &str, stored: &[u8; 32]) -> bool {
    let h = hash_secret(presented);
    bool::from(h.ct_eq(stored))
}

/// The broker's Ed25519 key pair and its RFC 7638 thumbprint.
pub(crate) struct Keys {
    signing: SigningKey,
    verifying: VerifyingKey,
    kid: String,
}

/// Why a compact JWS was refused, with the broker's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VerifyError {
    /// Not three parts, bad header, wrong `alg` or `kid`, claims not JSON.
    #[error("invalid token format")]
    Format,
    /// The signature does not verify with the broker's key.
    #[error("signature verification failed")]
    Signature,
    /// `sub` is empty.
    #[error("missing subject")]
    MissingSubject,
    /// `jti` is empty.
    #[error("missing jti")]
    MissingJti,
    /// `exp` is zero or negative.
    #[error("token has no expiry")]
    NoExpiry,
    /// `exp` has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` differs from the configured issuer.
    #[error("invalid issuer")]
    Issuer,
    /// The token matches a revocation entry.
    #[error("token has been revoked")]
    Revoked,
}

impl Keys {
    /// The key pair derived from a 32-byte seed.
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let verifying = signing.verifying_key();
        let kid = thumbprint(&verifying);
        Keys {
            signing,
            verifying,
            kid,
        }
    }

    /// The RFC 7638 thumbprint used as `kid`.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The raw public key.
    pub(crate) fn public_key(&self) -> [u8; 32] {
        self.verifying.to_bytes()
    }

    /// Signs arbitrary bytes with the broker key.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// Serialises and signs `claims` as a compact JWS.
    pub(crate) fn sign_jwt(&self, claims: &Claims) -> Result<String, serde_json::Error> {
        let header = to_go_json(&JwtHeader::eddsa(self.kid.clone()))?;
        let body = to_go_json(claims)?;
        let mut token = b64url(&header);
        token.push('.');
        token.push_str(&b64url(&body));
        let sig = self.sign(token.as_bytes());
        token.push('.');
        token.push_str(&b64url(&sig));
        Ok(token)
    }

    /// Checks the structure and signature of a compact JWS and decodes its
    /// claims; time, issuer and revocation are checked by the caller.
    pub(crate) fn verify_jwt(&self, token: &str) -> Result<Claims, VerifyError> {
        let mut parts = token.splitn(3, '.');
        let (Some(h), Some(c), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VerifyError::Format);
        };
        let header_json = b64url_decode(h).ok_or(VerifyError::Format)?;
        let header = crate::gojson::decode_exact(
            &header_json,
            &[
                ("alg", crate::gojson::Kind::Str),
                ("typ", crate::gojson::Kind::Str),
                ("kid", crate::gojson::Kind::Str),
            ],
        )
        .map_err(|_| VerifyError::Format)?;
        if header.str("alg") != "EdDSA" {
            return Err(VerifyError::Format);
        }
        let kid = header.str("kid");
        if !kid.is_empty() && kid != self.kid {
            return Err(VerifyError::Format);
        }
        let sig_bytes = b64url_decode(s).ok_or(VerifyError::Signature)?;
        let sig = Signature::from_slice(&sig_bytes).map_err(|_| VerifyError::Signature)?;
        let signing_input_len = h.len() + 1 + c.len();
        let signing_input = token.get(..signing_input_len).ok_or(VerifyError::Format)?;
        self.verifying
            .verify(signing_input.as_bytes(), &sig)
            .map_err(|_| VerifyError::Signature)?;
        let claims_json = b64url_decode(c).ok_or(VerifyError::Format)?;
        serde_json::from_slice::<Claims>(&claims_json).map_err(|_| VerifyError::Format)
    }
}

/// Verifies an agent's Ed25519 signature over `message`; any malformed
/// key or signature simply fails (as Go's `ed25519.Verify` returns false).
pub(crate) fn verify_agent_signature(public_key: &[u8; 32], message: &[u8], sig: &[u8]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(sig) else {
        return false;
    };
    key.verify(message, &sig).is_ok()
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key.
fn thumbprint(key: &VerifyingKey) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        b64url(key.as_bytes())
    );
    b64url(&Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let keys = Keys::from_seed(&[7u8; 32]);
        let mut claims = Claims::default();
        claims.sub = "admin".into();
        claims.jti = "j".into();
        claims.exp = 10;
        let token = keys.sign_jwt(&claims).unwrap();
        assert_eq!(keys.verify_jwt(&token).unwrap(), claims);
        let mut tampered = token.clone();
        tampered.push('x');
        assert!(keys.verify_jwt(&tampered).is_err());
        assert_eq!(keys.verify_jwt("a.b"), Err(VerifyError::Format));
        assert_eq!(keys.kid().len(), 43);
    }

    #[test]
    fn go_base64_leniency() {
        assert_eq!(b64std_decode("YQ==").unwrap(), b"a");
        assert!(b64std_decode("YQ").is_none());
        assert_eq!(b64std_decode("YR==").unwrap(), b"a");
        assert_eq!(b64std_decode("Y\nQ==").unwrap(), b"a");
        assert!(b64url_decode("YQ==").is_none());
        assert_eq!(b64url_decode("YQ").unwrap(), b"a");
    }
}
