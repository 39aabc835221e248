//! How the admin and an app authenticate: `/v1/admin/auth`, `/v1/app/auth`.

use serde::{Deserialize, Serialize};

use crate::secret::{AccessToken, AdminSecret, ClientSecret};
use crate::util::null_as_default;

/// `POST /v1/admin/auth` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdminAuthRequest {
    /// The operator's admin secret.
    #[serde(
        default = "crate::secret::empty",
        serialize_with = "crate::secret::serialize_exposed"
    )]
    pub secret: AdminSecret,
}

impl AdminAuthRequest {
    /// A request carrying `secret`.
    #[must_use]
    pub fn new(secret: AdminSecret) -> Self {
        AdminAuthRequest { secret }
    }
}

/// `POST /v1/admin/auth` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AdminAuthResponse {
    /// The admin JWT.
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
    pub access_token: AccessToken,
    /// Seconds until it expires (300).
    pub expires_in: i64,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: String,
}

/// `POST /v1/app/auth` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppAuthRequest {
    /// The app's client id.
    #[serde(default)]
    pub client_id: String,
    /// The app's client secret.
    #[serde(
        default = "crate::secret::empty",
        serialize_with = "crate::secret::serialize_exposed"
    )]
    pub client_secret: ClientSecret,
}

impl AppAuthRequest {
    /// A request with these credentials.
    #[must_use]
    pub fn new(client_id: impl Into<String>, client_secret: ClientSecret) -> Self {
        AppAuthRequest {
            client_id: client_id.into(),
            client_secret,
        }
    }
}

/// `POST /v1/app/auth` → 200.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppAuthResponse {
    /// The app JWT.
    #[serde(serialize_with = "crate::secret::serialize_redacted")]
    pub access_token: AccessToken,
    /// Seconds until it expires (the app's `token_ttl`).
    pub expires_in: i64,
    /// `Bearer`.
    #[serde(default)]
    pub token_type: String,
    /// The app token's scopes: `app:launch-tokens:*`, `app:agents:*`,
    /// `app:audit:read`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scopes: Vec<String>,
}

impl Default for AdminAuthRequest {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AdminAuthRequest {
            secret: AdminSecret::new(String::new()),
        }
    }
}

impl Default for AdminAuthResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AdminAuthResponse {
            access_token: AccessToken::new(String::new()),
            expires_in: Default::default(),
            token_type: Default::default(),
        }
    }
}

impl Default for AppAuthRequest {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AppAuthRequest {
            client_id: Default::default(),
            client_secret: ClientSecret::new(String::new()),
        }
    }
}

impl Default for AppAuthResponse {
    /// An empty value (every field empty or zero).
    fn default() -> Self {
        AppAuthResponse {
            access_token: AccessToken::new(String::new()),
            expires_in: Default::default(),
            token_type: Default::default(),
            scopes: Default::default(),
        }
    }
}
