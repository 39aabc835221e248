//! Secret-bearing string newtypes.
//!
//! Every credential that crosses the wire is wrapped in a type whose `Debug`
//! prints `<redacted>`, which has no `Display`, which is zeroed when dropped,
//! and whose value is reached only through an explicit `expose_secret()`.
//! Equality is constant-time so that comparing a presented secret does not
//! leak how much of it matched.
//!
//! Like the `secrecy` crate's secrets they have no `Serialize` and no
//! `Default` of their own. The request bodies that must carry a secret to
//! the broker opt in field by field; the response bodies that hold one
//! (an app's client secret, a token) always serialise it as
//! `"<redacted>"`, so `serde_json::to_string(&created_app)` never writes
//! the secret. There is no switch that turns this off: code that answers
//! as a broker (the development broker) has response types of its own that
//! write the secret it chose to send.

use core::fmt;

use serde::{Deserialize, Deserializer, Serializer};
use zeroize::Zeroize;

/// What a response body's secret field serialises as.
pub const REDACTED: &str = "<redacted>";

/// A secret's value, written for the wire (request bodies that carry it).
pub(crate) fn serialize_exposed<T: Secret, S: Serializer>(
    secret: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.value())
}

/// A response body's secret: always [`REDACTED`].
pub(crate) fn serialize_redacted<T: Secret, S: Serializer>(
    _secret: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(REDACTED)
}

/// [`serialize_redacted`] for an optional secret.
#[allow(clippy::ref_option)] // the signature serde's `serialize_with` calls
pub(crate) fn serialize_redacted_option<T: Secret, S: Serializer>(
    secret: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => serialize_redacted(secret, serializer),
        None => serializer.serialize_none(),
    }
}

/// An empty secret, for a request field the sender left out.
pub(crate) fn empty<T: From<String>>() -> T {
    T::from(String::new())
}

/// The secret newtypes, for the serialisers above.
pub(crate) trait Secret {
    fn value(&self) -> &str;
}

/// Something that holds a bearer token: `&str`, `String`, or the SDK's own
/// [`AccessToken`]. The SDK's calls that take a token take any of them, so
/// the token an agent holds goes back to the SDK without
/// `.expose_secret()`.
///
/// ```
/// use agentwrit_wire::{AccessToken, BearerToken};
/// fn length<T: BearerToken + ?Sized>(token: &T) -> usize {
///     token.bearer_token().len()
/// }
/// assert_eq!(length("eyJ.e30.sig"), 11);
/// assert_eq!(length(&AccessToken::new("eyJ.e30.sig")), 11);
/// assert_eq!(length(&String::from("eyJ.e30.sig")), 11);
/// ```
pub trait BearerToken {
    /// The token's value.
    fn bearer_token(&self) -> &str;
}

impl BearerToken for str {
    fn bearer_token(&self) -> &str {
        self
    }
}

impl BearerToken for String {
    fn bearer_token(&self) -> &str {
        self
    }
}

impl<T: BearerToken + ?Sized> BearerToken for &T {
    fn bearer_token(&self) -> &str {
        (**self).bearer_token()
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
        #[derive(Clone)]
        pub struct $name(String);

        impl Secret for $name {
            fn value(&self) -> &str {
                &self.0
            }
        }

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

        impl From<&$name> for $name {
            fn from(value: &$name) -> Self {
                value.clone()
            }
        }

        impl From<&String> for $name {
            fn from(value: &String) -> Self {
                Self(value.clone())
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

impl BearerToken for AccessToken {
    fn bearer_token(&self) -> &str {
        &self.0
    }
}

impl AccessToken {
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
