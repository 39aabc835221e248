//! The success bodies that carry a secret, as the broker writes them.
//!
//! The wire crate's response types are what a client holds: they serialise
//! every secret as `"<redacted>"`, so a client that logs one never leaks
//! it. A broker has to send the secret, so it answers with these types
//! instead, which write it in clear. Their members, in order, are the real
//! broker's Go structs (the same as the wire types'); the replay tests
//! compare their bytes with the captured answers.

use agentwrit_wire::{
    AccessToken, ClientSecret, DelegationRecord, LaunchToken, LaunchTokenPolicy, Timestamp,
};
use serde::{Serialize, Serializer};

/// The secret newtypes a reply writes in clear.
trait InClear {
    fn in_clear(&self) -> &str;
}

impl InClear for AccessToken {
    fn in_clear(&self) -> &str {
        self.expose_secret()
    }
}

impl InClear for ClientSecret {
    fn in_clear(&self) -> &str {
        self.expose_secret()
    }
}

impl InClear for LaunchToken {
    fn in_clear(&self) -> &str {
        self.expose_secret()
    }
}

fn clear<T: InClear, S: Serializer>(secret: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.in_clear())
}

/// `POST /v1/admin/auth` → 200.
#[derive(Serialize)]
pub(crate) struct AdminToken {
    #[serde(serialize_with = "clear")]
    pub(crate) access_token: AccessToken,
    pub(crate) expires_in: i64,
    pub(crate) token_type: &'static str,
}

/// `POST /v1/app/auth` → 200.
#[derive(Serialize)]
pub(crate) struct AppToken {
    #[serde(serialize_with = "clear")]
    pub(crate) access_token: AccessToken,
    pub(crate) expires_in: i64,
    pub(crate) token_type: &'static str,
    pub(crate) scopes: Vec<String>,
}

/// `POST /v1/admin/apps` → 201: the one answer that holds the client
/// secret. The real broker leaves `name` and `status` empty here.
#[derive(Serialize)]
pub(crate) struct AppCreated {
    pub(crate) app_id: String,
    pub(crate) name: &'static str,
    pub(crate) client_id: String,
    #[serde(serialize_with = "clear")]
    pub(crate) client_secret: ClientSecret,
    pub(crate) scopes: Vec<String>,
    pub(crate) token_ttl: i64,
    pub(crate) status: &'static str,
}

/// `POST /v1/{app,admin}/launch-tokens` → 201.
#[derive(Serialize)]
pub(crate) struct LaunchTokenIssued {
    #[serde(serialize_with = "clear")]
    pub(crate) launch_token: LaunchToken,
    pub(crate) expires_at: Timestamp,
    pub(crate) policy: LaunchTokenPolicy,
}

/// `POST /v1/register` → 200.
#[derive(Serialize)]
pub(crate) struct Registered {
    pub(crate) agent_id: String,
    #[serde(serialize_with = "clear")]
    pub(crate) access_token: AccessToken,
    pub(crate) expires_in: i64,
}

/// `POST /v1/token/renew` → 200.
#[derive(Serialize)]
pub(crate) struct Renewed {
    #[serde(serialize_with = "clear")]
    pub(crate) access_token: AccessToken,
    pub(crate) expires_in: i64,
}

/// `POST /v1/delegate` → 200.
#[derive(Serialize)]
pub(crate) struct Delegated {
    #[serde(serialize_with = "clear")]
    pub(crate) access_token: AccessToken,
    pub(crate) expires_in: i64,
    pub(crate) delegation_chain: Vec<DelegationRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::encode;
    use agentwrit_wire::{
        AdminAuthResponse, AppAuthResponse, AppResponse, DelegateResponse, LaunchTokenResponse,
        RegisterResponse, RenewResponse,
    };

    const SECRET: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    /// Our bytes, decoded by the client's type, then re-encoded by it: the
    /// same bytes with the secret redacted (so the members, their order
    /// and their values agree with the wire type's).
    fn agrees<W: serde::de::DeserializeOwned + Serialize>(ours: &impl Serialize) -> W {
        let bytes = encode(ours);
        let text = String::from_utf8(bytes).unwrap();
        let text = text.strip_suffix('\n').unwrap();
        assert!(text.contains(SECRET), "{text}");
        let theirs: W = serde_json::from_str(text).unwrap();
        // Plain serde_json: Go's encoder would escape the `<` of `<redacted>`.
        let again = serde_json::to_string(&theirs).unwrap();
        assert_eq!(again, text.replace(SECRET, agentwrit_wire::REDACTED));
        theirs
    }

    #[test]
    fn every_reply_writes_its_secret_as_the_wire_type_reads_it() {
        let t = || AccessToken::new(SECRET);
        let r: AdminAuthResponse = agrees(&AdminToken {
            access_token: t(),
            expires_in: 300,
            token_type: "Bearer",
        });
        assert_eq!(r.access_token.expose_secret(), SECRET);
        let r: AppAuthResponse = agrees(&AppToken {
            access_token: t(),
            expires_in: 1800,
            token_type: "Bearer",
            scopes: vec!["app:agents:*".to_owned()],
        });
        assert_eq!(r.access_token.expose_secret(), SECRET);
        let r: AppResponse = agrees(&AppCreated {
            app_id: "app-billing-1a2b3c".to_owned(),
            name: "",
            client_id: "bi-0123456789ab".to_owned(),
            client_secret: ClientSecret::new(SECRET),
            scopes: vec!["read:data:*".to_owned()],
            token_ttl: 1800,
            status: "",
        });
        assert_eq!(r.client_secret.unwrap().expose_secret(), SECRET);
        let mut policy = LaunchTokenPolicy::default();
        policy.allowed_scope = vec!["read:data:*".to_owned()];
        policy.max_ttl = 300;
        let r: LaunchTokenResponse = agrees(&LaunchTokenIssued {
            launch_token: LaunchToken::new(SECRET),
            expires_at: Timestamp::from_unix_seconds(1_800_000_000),
            policy,
        });
        assert_eq!(r.launch_token.expose_secret(), SECRET);
        let r: RegisterResponse = agrees(&Registered {
            agent_id: "spiffe://agentwrit.local/agent/o/t/0123456789abcdef".to_owned(),
            access_token: t(),
            expires_in: 300,
        });
        assert_eq!(r.access_token.expose_secret(), SECRET);
        let r: RenewResponse = agrees(&Renewed {
            access_token: t(),
            expires_in: 300,
        });
        assert_eq!(r.access_token.expose_secret(), SECRET);
        let r: DelegateResponse = agrees(&Delegated {
            access_token: t(),
            expires_in: 60,
            delegation_chain: Vec::new(),
        });
        assert_eq!(r.access_token.expose_secret(), SECRET);
    }
}
