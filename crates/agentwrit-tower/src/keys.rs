//! Pinned broker public keys for local verification: several at once (for
//! rotation), matched by `kid`.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ConfigError;

/// One broker Ed25519 public key, pinned for [local
/// verification](crate::AgentAuth::local).
///
/// Build it from the raw 32 bytes, from the base64url `x` member of the
/// broker's JWK, or from the whole JWK (`{"kty":"OKP","crv":"Ed25519","x":...}`).
/// Its `kid` is the RFC 7638 thumbprint, which is what the broker puts in
/// every token's header.
///
/// ```
/// use agentwrit_tower::BrokerKey;
///
/// let raw = BrokerKey::from_bytes([
///     0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
///     0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
/// ])?;
/// let x = BrokerKey::from_base64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")?;
/// let jwk = BrokerKey::from_jwk(r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#)?;
/// assert_eq!(raw.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
/// assert_eq!(raw, x);
/// assert_eq!(x, jwk);
/// assert!(BrokerKey::from_base64url("too-short").is_err());
/// # Ok::<(), agentwrit_tower::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerKey {
    bytes: [u8; 32],
    kid: String,
}

impl fmt::Debug for BrokerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerKey").field("kid", &self.kid).finish()
    }
}

impl BrokerKey {
    /// A key from its raw 32 bytes (what
    /// `DevBrokerHandle::public_key()` returns).
    ///
    /// ```
    /// let key = agentwrit_tower::BrokerKey::from_bytes([0x3b; 32]);
    /// # let _ = key;
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when the bytes are not an Ed25519 point.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, ConfigError> {
        crate::check::verifier_for(bytes)?;
        Ok(BrokerKey {
            bytes,
            kid: agentwrit_core::kid_for(&bytes),
        })
    }

    /// A key from the base64url (no padding) encoding of its 32 bytes: the
    /// `x` member of an `OKP`/`Ed25519` JWK.
    ///
    /// ```
    /// let key = agentwrit_tower::BrokerKey::from_base64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")?;
    /// # let _ = key; Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when it is not base64url of 32 bytes of
    /// an Ed25519 point.
    pub fn from_base64url(x: &str) -> Result<Self, ConfigError> {
        let decoded = URL_SAFE_NO_PAD
            .decode(x.trim().trim_end_matches('='))
            .map_err(|_| ConfigError::InvalidKey("the key is not base64url"))?;
        let bytes: [u8; 32] = decoded
            .try_into()
            .map_err(|_| ConfigError::InvalidKey("an Ed25519 public key is 32 bytes"))?;
        Self::from_bytes(bytes)
    }

    /// A key from a JWK: `kty` must be `OKP` and `crv` `Ed25519`; when the
    /// JWK has a `kid`, it must equal the key's RFC 7638 thumbprint (the
    /// broker's `kid`).
    ///
    /// ```
    /// let key = agentwrit_tower::BrokerKey::from_jwk(
    ///     r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","use":"sig"}"#,
    /// )?;
    /// assert_eq!(key.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    /// assert!(agentwrit_tower::BrokerKey::from_jwk(r#"{"kty":"RSA","n":"AQAB"}"#).is_err());
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] for anything else.
    pub fn from_jwk(jwk: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(jwk)
            .map_err(|_| ConfigError::InvalidKey("the JWK is not JSON"))?;
        let member = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
        if member("kty") != Some("OKP") || member("crv") != Some("Ed25519") {
            return Err(ConfigError::InvalidKey("the JWK is not an OKP Ed25519 key"));
        }
        let x = member("x").ok_or(ConfigError::InvalidKey("the JWK has no x"))?;
        let key = Self::from_base64url(x)?;
        if let Some(kid) = member("kid")
            && !kid.is_empty()
            && kid != key.kid
        {
            return Err(ConfigError::InvalidKey(
                "the JWK's kid is not the key's thumbprint",
            ));
        }
        Ok(key)
    }

    /// The key's RFC 7638 thumbprint: the `kid` the broker puts in the
    /// header of every token it signs with this key.
    ///
    /// ```
    /// let key = agentwrit_tower::BrokerKey::from_base64url("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")?;
    /// assert_eq!(key.kid().len(), 43);
    /// # Ok::<(), agentwrit_tower::ConfigError>(())
    /// ```
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn bytes(&self) -> [u8; 32] {
        self.bytes
    }
}
