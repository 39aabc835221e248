//! Secret-bearing string newtypes.
//!
//! Every credential that crosses the wire is wrapped in a type whose `Debug`
//! prints `<redacted>`, which has no `Display`, which is zeroed when dropped,
//! and whose value is reached only through an explicit `expose_secret()`.
//! Equality is constant-time so that comparing a presented secret does not
//! leak how much of it matched.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

/// Compares two byte strings in time that depends only on their lengths.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    // Keep the optimiser from short-circuiting the loop above.
    core::hint::black_box(diff) == 0
}

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Default)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            #[must_use]
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value. Every read of a secret goes through this
            /// method, so it is easy to audit with a text search.
            #[must_use]
            pub fn expose_secret(&self) -> &str {
                &self.0
            }

            /// True when the value is the empty string.
            #[must_use]
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// The length of the value in bytes (safe to log).
            #[must_use]
            pub fn len(&self) -> usize {
                self.0.len()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}

        impl Drop for $name {
            fn drop(&mut self) {
                self.0.zeroize();
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self)
            }
        }
    };
}

secret_string!(
    /// An app's `client_secret` (64 hex characters on the real broker).
    ///
    /// ```
    /// use agentwrit_wire::ClientSecret;
    /// let s = ClientSecret::new("4ca1b208");
    /// assert_eq!(format!("{s:?}"), "ClientSecret(<redacted>)");
    /// assert_eq!(s.expose_secret(), "4ca1b208");
    /// ```
    ClientSecret
);

secret_string!(
    /// The operator's admin secret, exchanged at `POST /v1/admin/auth`.
    ///
    /// ```
    /// use agentwrit_wire::AdminSecret;
    /// assert_eq!(format!("{:?}", AdminSecret::new("hunter2")), "AdminSecret(<redacted>)");
    /// ```
    AdminSecret
);

secret_string!(
    /// A broker-issued JWT (admin, app, agent or delegated token).
    ///
    /// ```
    /// use agentwrit_wire::AccessToken;
    /// let t = AccessToken::new("eyJhbGciOiJFZERTQSJ9.e30.sig");
    /// assert_eq!(format!("{t:?}"), "AccessToken(<redacted>)");
    /// ```
    AccessToken
);

secret_string!(
    /// A single-use (or reusable) launch token: 64 hex characters that let
    /// one agent register.
    ///
    /// ```
    /// use agentwrit_wire::LaunchToken;
    /// assert_eq!(format!("{:?}", LaunchToken::new("a370447c")), "LaunchToken(<redacted>)");
    /// ```
    LaunchToken
);

impl AccessToken {
    /// The value of an `Authorization` header carrying this token:
    /// `Bearer <token>`. The result is itself secret; treat it so.
    #[must_use]
    pub fn bearer_header_value(&self) -> String {
        let mut v = String::with_capacity(7 + self.0.len());
        v.push_str("Bearer ");
        v.push_str(&self.0);
        v
    }

    /// The first `n` characters of the token followed by `...`, as the
    /// sample apps print it, never reaching past the JWT's header (its
    /// first `.`): the header is public, so the prefix reveals nothing of
    /// the claims or the signature.
    ///
    /// ```
    /// use agentwrit_wire::AccessToken;
    /// let t = AccessToken::new("eyJhbGciOi.eyJzdWIi.c2ln");
    /// assert_eq!(t.prefix(4), "eyJh...");
    /// assert_eq!(t.prefix(100), "eyJhbGciOi...");
    /// ```
    #[must_use]
    pub fn prefix(&self, n: usize) -> String {
        let header = self.0.split('.').next().unwrap_or_default();
        let end = header
            .char_indices()
            .nth(n)
            .map_or(header.len(), |(i, _)| i);
        let mut v = String::with_capacity(end + 3);
        v.push_str(&header[..end]);
        v.push_str("...");
        v
    }
}
