//! Apps: registration (over HTTP and in process), the list, one app,
//! update and deregistration (`/v1/admin/apps`).

use std::collections::{HashMap, HashSet};

use agentwrit_scope::first_invalid;
use agentwrit_wire::{AppResponse, Claims, ClientSecret, ErrorCode, ListAppsResponse, Timestamp};

use super::{Broker, rfc3339_seconds};
use crate::audit::Extra;
use crate::crypto::{hash_secret, random_hex};
use crate::gojson::{Kind, decode_first};
use crate::problem::{ApiError, go_list};
use crate::reply::AppCreated;
use crate::sync::{read, write};

const MIN_APP_TTL: i64 = 60;
const MAX_APP_TTL: i64 = 86_400;

/// A registered app. The secret is kept only as its SHA-256.
#[derive(Clone)]
pub(super) struct AppRecord {
    pub(super) app_id: String,
    pub(super) name: String,
    pub(super) client_id: String,
    pub(super) secret_hash: [u8; 32],
    pub(super) scopes: Vec<String>,
    pub(super) token_ttl: i64,
    pub(super) active: bool,
    pub(super) created: i128,
    pub(super) updated: i128,
}

impl AppRecord {
    fn to_response(&self) -> AppResponse {
        let mut r = AppResponse::default();
        r.app_id = self.app_id.clone();
        r.name = self.name.clone();
        r.client_id = self.client_id.clone();
        r.scopes = Some(self.scopes.clone());
        r.token_ttl = self.token_ttl;
        r.status = if self.active { "active" } else { "inactive" }.to_owned();
        r.created_at = Some(rfc3339_seconds(self.created));
        r.updated_at = Some(rfc3339_seconds(self.updated));
        r
    }
}

/// Every app, by id and by client id; a name is never reused.
#[derive(Default)]
pub(super) struct Apps {
    pub(super) by_id: HashMap<String, AppRecord>,
    pub(super) id_by_client: HashMap<String, String>,
    pub(super) names: HashSet<String>,
}

/// An app registered in-process, with its one-time secret.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegisteredApp {
    /// `app-{name}-{6 hex}`.
    pub app_id: String,
    /// The client id for `POST /v1/app/auth`.
    pub client_id: String,
    /// The client secret (redacted in `Debug`).
    pub client_secret: ClientSecret,
    /// The app's scope ceiling.
    pub scopes: Vec<String>,
    /// App token lifetime in seconds.
    pub token_ttl: i64,
}

/// `^[a-z][a-z0-9](?:-?[a-z0-9]+)*$`, at most 64 bytes.
fn valid_app_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.len() < 2 || b.len() > 64 || !b[0].is_ascii_lowercase() {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[1]) {
        return false;
    }
    let mut prev_hyphen = false;
    for &c in &b[2..] {
        if c == b'-' {
            if prev_hyphen {
                return false;
            }
            prev_hyphen = true;
        } else if alnum(c) {
            prev_hyphen = false;
        } else {
            return false;
        }
    }
    !prev_hyphen
}

/// The 2–3 letter abbreviation in a client id.
fn app_abbrev(name: &str) -> String {
    let parts: Vec<&str> = name.split('-').collect();
    if parts.len() == 1 {
        return name.chars().take(2).collect();
    }
    let mut abbrev = String::new();
    for p in parts {
        if let Some(c) = p.chars().next() {
            abbrev.push(c);
        }
        if abbrev.len() >= 3 {
            break;
        }
    }
    abbrev
}

fn invalid_ttl(ttl: i64) -> ApiError {
    ApiError::new(
        400,
        ErrorCode::InvalidTtl,
        format!(
            "invalid token TTL: must be between {MIN_APP_TTL} and {MAX_APP_TTL} seconds, got {ttl}"
        ),
    )
}

impl Broker {
    pub(crate) fn register_app_http(&self, body: &[u8]) -> Result<AppCreated, ApiError> {
        let req = decode_first(
            body,
            &[
                ("name", Kind::Str),
                ("scopes", Kind::StrList),
                ("token_ttl", Kind::OptInt),
            ],
        )
        .map_err(|_| ApiError::malformed())?;
        let name = req.str("name");
        if name.is_empty() {
            return Err(ApiError::bad_request("name is required"));
        }
        let scopes = req.list("scopes");
        if scopes.is_empty() {
            return Err(ApiError::bad_request("scopes must not be empty"));
        }
        let ttl = req.opt_int("token_ttl");
        if let Some(t) = ttl
            && t <= 0
        {
            return Err(invalid_ttl(t));
        }
        let app = self.register_app(&name, scopes, ttl.unwrap_or(0))?;
        Ok(AppCreated {
            app_id: app.app_id,
            name: "",
            client_id: app.client_id,
            client_secret: app.client_secret,
            scopes: app.scopes,
            token_ttl: app.token_ttl,
            status: "",
        })
    }

    /// Registers an app (in-process or for the HTTP route).
    pub(crate) fn register_app(
        &self,
        name: &str,
        scopes: Vec<String>,
        token_ttl: i64,
    ) -> Result<RegisteredApp, ApiError> {
        if !valid_app_name(name) {
            return Err(ApiError::bad_request(
                "invalid app name: must be lowercase letters, digits, and hyphens",
            ));
        }
        if first_invalid(&scopes).is_some() {
            return Err(ApiError::bad_request(
                "invalid scope format: use action:resource:identifier",
            ));
        }
        let ttl = if token_ttl == 0 {
            self.settings.app_token_ttl
        } else if !(MIN_APP_TTL..=MAX_APP_TTL).contains(&token_ttl) {
            return Err(invalid_ttl(token_ttl));
        } else {
            token_ttl
        };
        let failed = || ApiError::internal("failed to register app");
        let app_id = format!("app-{name}-{}", random_hex::<3>().map_err(|_| failed())?);
        let client_id = format!(
            "{}-{}",
            app_abbrev(name),
            random_hex::<6>().map_err(|_| failed())?
        );
        let secret = ClientSecret::new(random_hex::<32>().map_err(|_| failed())?);
        let now = self.now();
        {
            let mut apps = write(&self.apps);
            if apps.names.contains(name)
                || apps.by_id.contains_key(&app_id)
                || apps.id_by_client.contains_key(&client_id)
            {
                return Err(failed());
            }
            apps.names.insert(name.to_owned());
            apps.id_by_client.insert(client_id.clone(), app_id.clone());
            apps.by_id.insert(
                app_id.clone(),
                AppRecord {
                    app_id: app_id.clone(),
                    name: name.to_owned(),
                    client_id: client_id.clone(),
                    secret_hash: hash_secret(secret.expose_secret()),
                    scopes: scopes.clone(),
                    token_ttl: ttl,
                    active: true,
                    created: now,
                    updated: now,
                },
            );
        }
        self.record(
            "app_registered",
            "",
            "",
            "",
            &format!(
                "app={name} client_id={client_id} scopes={} token_ttl={ttl}",
                go_list(&scopes)
            ),
            Extra::success(),
        );
        Ok(RegisteredApp {
            app_id,
            client_id,
            client_secret: secret,
            scopes,
            token_ttl: ttl,
        })
    }

    pub(crate) fn list_apps(&self) -> ListAppsResponse {
        let apps = read(&self.apps);
        let mut all: Vec<(String, AppResponse)> = apps
            .by_id
            .values()
            .map(|a| {
                (
                    Timestamp::from_unix_nanos(a.created).as_str().to_owned(),
                    a.to_response(),
                )
            })
            .collect();
        drop(apps);
        // ORDER BY created_at DESC over the stored RFC 3339 text.
        all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.app_id.cmp(&b.1.app_id)));
        let mut r = ListAppsResponse::default();
        r.total = all.len() as u64;
        r.apps = all.into_iter().map(|(_, a)| a).collect();
        r
    }

    pub(crate) fn get_app(&self, id: &str) -> Result<AppResponse, ApiError> {
        read(&self.apps)
            .by_id
            .get(id)
            .map(AppRecord::to_response)
            .ok_or_else(|| ApiError::not_found("app not found"))
    }

    pub(crate) fn update_app(
        &self,
        claims: &Claims,
        id: &str,
        body: &[u8],
    ) -> Result<AppResponse, ApiError> {
        let req = decode_first(
            body,
            &[("scopes", Kind::StrList), ("token_ttl", Kind::OptInt)],
        )
        .map_err(|_| ApiError::malformed())?;
        let scopes = req.list("scopes");
        let ttl = req.opt_int("token_ttl");
        if scopes.is_empty() && ttl.is_none() {
            return Err(ApiError::bad_request(
                "at least one of scopes or token_ttl must be provided",
            ));
        }
        if !scopes.is_empty() {
            if first_invalid(&scopes).is_some() {
                return Err(ApiError::bad_request(
                    "invalid scope format: use action:resource:identifier",
                ));
            }
            let now = self.now();
            {
                let mut apps = write(&self.apps);
                let app = apps
                    .by_id
                    .get_mut(id)
                    .ok_or_else(|| ApiError::not_found("app not found"))?;
                app.scopes = scopes.clone();
                app.updated = now;
            }
            self.record(
                "app_updated",
                "",
                "",
                "",
                &format!(
                    "app_id={id} scopes={} updated_by={}",
                    go_list(&scopes),
                    claims.sub
                ),
                Extra::success(),
            );
        }
        if let Some(ttl) = ttl {
            if !(MIN_APP_TTL..=MAX_APP_TTL).contains(&ttl) {
                return Err(invalid_ttl(ttl));
            }
            let now = self.now();
            let old = {
                let mut apps = write(&self.apps);
                let app = apps
                    .by_id
                    .get_mut(id)
                    .ok_or_else(|| ApiError::not_found("app not found"))?;
                let old = app.token_ttl;
                app.token_ttl = ttl;
                app.updated = now;
                old
            };
            self.record(
                "app_updated",
                "",
                "",
                "",
                &format!(
                    "app_id={id} token_ttl={old}->{ttl} updated_by={}",
                    claims.sub
                ),
                Extra::success(),
            );
        }
        self.get_app(id)
            .map_err(|_| ApiError::internal("failed to retrieve updated app"))
    }

    pub(crate) fn delete_app(&self, claims: &Claims, id: &str) -> Result<AppResponse, ApiError> {
        let now = self.now();
        let name = {
            let mut apps = write(&self.apps);
            let app = apps
                .by_id
                .get_mut(id)
                .ok_or_else(|| ApiError::not_found("app not found"))?;
            app.active = false;
            app.updated = now;
            app.name.clone()
        };
        self.record(
            "app_deregistered",
            "",
            "",
            "",
            &format!("app_id={id} name={name} deregistered_by={}", claims.sub),
            Extra::success(),
        );
        let mut r = AppResponse::default();
        r.app_id = id.to_owned();
        r.status = "inactive".to_owned();
        r.deregistered_at = Some(rfc3339_seconds(now));
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_follow_the_broker_regex() {
        for ok in ["ab", "conf-main", "a1", "a1-b2-c3", "x9z"] {
            assert!(valid_app_name(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "A1",
            "1a",
            "a-b",
            "ab-",
            "ab--c",
            "ab_c",
            "ab c",
            &"a".repeat(65),
        ] {
            assert!(!valid_app_name(bad), "{bad}");
        }
    }

    #[test]
    fn abbreviations_match_the_captures() {
        assert_eq!(app_abbrev("conf-main"), "cm");
        assert_eq!(app_abbrev("conf-crud"), "cc");
        assert_eq!(app_abbrev("conf-ratelimit-2"), "cr2");
        assert_eq!(app_abbrev("weather"), "we");
        assert_eq!(app_abbrev("a-b-c-d"), "abc");
    }
}
