//! The broker's state and every operation, independent of HTTP.
//!
//! Each endpoint is one method taking the raw request body (and the caller's
//! verified claims where the route is Bearer-protected) and returning a wire
//! body or an [`ApiError`]. The order of the checks, the detail strings, the
//! audit events and the metrics follow the real broker (v2.0.0).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use agentwrit_core::Clock;
use agentwrit_scope::{first_invalid, scope_is_subset};
use agentwrit_wire::{
    AccessToken, AppResponse, AuditEvent, ChallengeResponse, Claims, ClientSecret,
    DelegationRecord, ErrorCode, HealthResponse, LaunchToken, LaunchTokenPolicy, ListAppsResponse,
    RevokeResponse, Timestamp, ValidateResponse, scopes, to_go_json,
};
use sha2::{Digest as _, Sha256};

use crate::audit::{AuditLog, Extra, Filters};
use crate::clock::{unix_nanos, unix_seconds};
use crate::crypto::{
    Keys, VerifyError, b64std_decode, hash_secret, random_hex, secret_matches,
    verify_agent_signature,
};
use crate::gojson::{Kind, decode_exact, decode_first};
use crate::metrics::Metrics;
use crate::problem::{ApiError, go_list};
use crate::ratelimit::{Limiter, RateLimit};
use crate::reply::{
    AdminToken, AppCreated, AppToken, Delegated, LaunchTokenIssued, Registered, Renewed,
};
use crate::sync::{lock, read, write};

/// The version the real broker reports, and so do we.
pub(crate) const VERSION: &str = "2.0.0";

const NANOS: i128 = 1_000_000_000;
const NONCE_TTL_NANOS: i128 = 30 * NANOS;
/// Expired records are kept this long (so they still answer "expired" or
/// "already consumed" as on the real broker, which never forgets them),
/// then dropped to bound memory.
const RETAIN_EXPIRED_NANOS: i128 = 3600 * NANOS;
const MIN_APP_TTL: i64 = 60;
const MAX_APP_TTL: i64 = 86_400;
const MAX_DELEG_DEPTH: usize = 5;

const ADMIN_SCOPES: [&str; 3] = [
    scopes::ADMIN_LAUNCH_TOKENS,
    scopes::ADMIN_REVOKE,
    scopes::ADMIN_AUDIT,
];
const APP_SCOPES: [&str; 3] = [
    scopes::APP_LAUNCH_TOKENS,
    scopes::APP_AGENTS,
    scopes::APP_AUDIT_READ,
];

/// Settings fixed at start.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) trust_domain: String,
    pub(crate) issuer: String,
    pub(crate) default_ttl: i64,
    pub(crate) max_ttl: i64,
    pub(crate) app_token_ttl: i64,
    pub(crate) admin_token_ttl: i64,
    pub(crate) app_auth_limit: Option<RateLimit>,
    pub(crate) admin_auth_limit: Option<RateLimit>,
}

/// A registered app. The secret is kept only as its SHA-256.
#[derive(Clone)]
pub(crate) struct AppRecord {
    app_id: String,
    name: String,
    client_id: String,
    secret_hash: [u8; 32],
    scopes: Vec<String>,
    token_ttl: i64,
    active: bool,
    created: i128,
    updated: i128,
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

#[derive(Default)]
struct Apps {
    by_id: HashMap<String, AppRecord>,
    id_by_client: HashMap<String, String>,
    names: HashSet<String>,
}

#[derive(Clone, Debug)]
struct LaunchTokenRecord {
    allowed_scope: Vec<String>,
    max_ttl: i64,
    single_use: bool,
    expires: i128,
    consumed: bool,
    app_id: String,
}

#[derive(Clone, Copy, Debug)]
struct NonceRecord {
    expires: i128,
    consumed: bool,
}

#[derive(Default, Debug)]
struct Revocations {
    tokens: HashSet<String>,
    agents: HashSet<String>,
    tasks: HashSet<String>,
    chains: HashSet<String>,
}

impl Revocations {
    fn covers(&self, c: &Claims) -> bool {
        self.tokens.contains(&c.jti)
            || self.agents.contains(&c.sub)
            || c.task_id
                .as_ref()
                .is_some_and(|t| !t.is_empty() && self.tasks.contains(t))
            || c.delegation_chain
                .as_ref()
                .and_then(|chain| chain.first())
                .is_some_and(|root| self.chains.contains(&root.agent))
    }
}

/// What [`Broker::issue`] needs.
#[derive(Default)]
struct IssueReq {
    sub: String,
    aud: Option<Vec<String>>,
    scope: Vec<String>,
    task_id: Option<String>,
    orch_id: Option<String>,
    sid: Option<String>,
    ttl: i64,
    chain: Option<Vec<DelegationRecord>>,
    chain_hash: Option<String>,
}

struct Issued {
    token: String,
    expires_in: i64,
    jti: String,
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

/// The whole broker.
pub(crate) struct Broker {
    settings: Settings,
    clock: Arc<dyn Clock>,
    keys: Keys,
    admin_secret_hash: [u8; 32],
    started: SystemTime,
    apps: RwLock<Apps>,
    launch_tokens: Mutex<HashMap<String, LaunchTokenRecord>>,
    nonces: Mutex<HashMap<String, NonceRecord>>,
    agents: RwLock<HashSet<String>>,
    revocations: RwLock<Revocations>,
    audit: RwLock<AuditLog>,
    metrics: Metrics,
    admin_limiter: Option<Limiter>,
    app_limiter: Option<Limiter>,
}

/// RFC 3339 with whole seconds (Go's `time.RFC3339` of a UTC time).
fn rfc3339_seconds(nanos: i128) -> Timestamp {
    let secs = i64::try_from(nanos.div_euclid(NANOS)).unwrap_or(i64::MAX);
    Timestamp::from_unix_seconds(secs)
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

/// A SPIFFE path segment: non-empty, not `.`/`..`, `[A-Za-z0-9._-]` only.
fn valid_spiffe_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

/// A SPIFFE trust domain: non-empty, `[a-z0-9._-]` only.
pub(crate) fn valid_trust_domain(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'.' | b'_')
        })
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

/// Serialises a body the way Go's `json.Encoder` does: compact, Go
/// escaping, trailing newline. Bodies that carry a secret are the
/// [`crate::reply`] types, which write it in clear.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    match to_go_json(value) {
        Ok(mut v) => {
            v.push(b'\n');
            v
        }
        // Our wire types always serialise; keep a valid body regardless.
        Err(_) => b"{}\n".to_vec(),
    }
}

impl Broker {
    pub(crate) fn new(
        settings: Settings,
        clock: Arc<dyn Clock>,
        signing_seed: &[u8; 32],
        admin_secret: &str,
    ) -> Self {
        let started = clock.now();
        Broker {
            admin_limiter: settings.admin_auth_limit.map(Limiter::new),
            app_limiter: settings.app_auth_limit.map(Limiter::new),
            settings,
            clock,
            keys: Keys::from_seed(signing_seed),
            admin_secret_hash: hash_secret(admin_secret),
            started,
            apps: RwLock::new(Apps::default()),
            launch_tokens: Mutex::new(HashMap::new()),
            nonces: Mutex::new(HashMap::new()),
            agents: RwLock::new(HashSet::new()),
            revocations: RwLock::new(Revocations::default()),
            audit: RwLock::new(AuditLog::default()),
            metrics: Metrics::default(),
        }
    }

    pub(crate) fn kid(&self) -> &str {
        self.keys.kid()
    }

    pub(crate) fn public_key(&self) -> [u8; 32] {
        self.keys.public_key()
    }

    fn now(&self) -> i128 {
        unix_nanos(self.clock.now())
    }

    fn record(
        &self,
        event_type: &str,
        agent_id: &str,
        task_id: &str,
        orch_id: &str,
        detail: &str,
        extra: Extra,
    ) {
        let start = Instant::now();
        let now = self.now();
        write(&self.audit).record(now, event_type, agent_id, task_id, orch_id, detail, extra);
        self.metrics
            .audit_event(event_type, start.elapsed().as_secs_f64());
    }

    // ------------------------------------------------------------ tokens --

    fn issue(&self, req: IssueReq) -> Result<Issued, ApiError> {
        let mut ttl = req.ttl;
        if ttl <= 0 {
            ttl = self.settings.default_ttl;
        }
        if self.settings.max_ttl > 0 && ttl > self.settings.max_ttl {
            ttl = self.settings.max_ttl;
        }
        let now = unix_seconds(self.clock.now());
        let jti = random_hex::<16>().map_err(|_| ApiError::internal("token issuance failed"))?;
        let mut c = Claims::default();
        c.iss = self.settings.issuer.clone();
        c.sub = req.sub;
        c.aud = req.aud.filter(|a| !a.is_empty());
        c.exp = now.saturating_add(ttl);
        c.nbf = now;
        c.iat = now;
        c.jti = jti.clone();
        c.sid = req.sid.filter(|s| !s.is_empty());
        c.task_id = req.task_id.filter(|s| !s.is_empty());
        c.orch_id = req.orch_id.filter(|s| !s.is_empty());
        c.delegation_chain = req.chain.filter(|ch| !ch.is_empty());
        c.chain_hash = req.chain_hash.filter(|s| !s.is_empty());
        c.scope = req.scope;
        let token = self
            .keys
            .sign_jwt(&c)
            .map_err(|_| ApiError::internal("token issuance failed"))?;
        self.metrics
            .token_issued(c.scope.first().map_or("none", String::as_str));
        Ok(Issued {
            token,
            expires_in: ttl,
            jti,
        })
    }

    /// The broker's full verification: structure, signature, time, issuer,
    /// revocation.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let claims = self.keys.verify_jwt(token)?;
        if claims.sub.is_empty() {
            return Err(VerifyError::MissingSubject);
        }
        if claims.jti.is_empty() {
            return Err(VerifyError::MissingJti);
        }
        let now = unix_seconds(self.clock.now());
        if claims.exp <= 0 {
            return Err(VerifyError::NoExpiry);
        }
        if now > claims.exp {
            return Err(VerifyError::Expired);
        }
        if claims.nbf != 0 && now < claims.nbf {
            return Err(VerifyError::NotYetValid);
        }
        if !self.settings.issuer.is_empty() && claims.iss != self.settings.issuer {
            return Err(VerifyError::Issuer);
        }
        if read(&self.revocations).covers(&claims) {
            return Err(VerifyError::Revoked);
        }
        Ok(claims)
    }

    /// The Bearer middleware: the raw `Authorization` value (already
    /// trimmed) to verified claims and the token.
    pub(crate) fn authenticate(
        &self,
        authorization: &str,
        path: &str,
    ) -> Result<(Claims, String), ApiError> {
        let denied = || Extra::denied().with_resource(path);
        if authorization.is_empty() {
            self.record(
                "token_auth_failed",
                "",
                "",
                "",
                &format!("missing authorization header | path={path}"),
                denied(),
            );
            return Err(ApiError::unauthorized("missing authorization header"));
        }
        let Some(token) = authorization.strip_prefix("Bearer ") else {
            self.record(
                "token_auth_failed",
                "",
                "",
                "",
                &format!("invalid authorization scheme | path={path}"),
                denied(),
            );
            return Err(ApiError::unauthorized("invalid authorization scheme"));
        };
        match self.verify(token) {
            Ok(claims) => Ok((claims, token.to_owned())),
            Err(e) => {
                self.record(
                    "token_auth_failed",
                    "",
                    "",
                    "",
                    &format!("token verification failed: {e} | path={path}"),
                    denied(),
                );
                Err(ApiError::unauthorized("token verification failed"))
            }
        }
    }

    /// `RequireScope(scope)`.
    pub(crate) fn require_scope(
        &self,
        claims: &Claims,
        scope: &str,
        path: &str,
    ) -> Result<(), ApiError> {
        if scope_is_subset(&[scope], &claims.scope) {
            return Ok(());
        }
        self.record(
            "scope_violation",
            &claims.sub,
            claims.task_id.as_deref().unwrap_or(""),
            claims.orch_id.as_deref().unwrap_or(""),
            &format!(
                "scope_violation | required={scope} | actual={} | path={path}",
                claims.scope.join(",")
            ),
            Extra::denied().with_resource(path),
        );
        Err(ApiError::forbidden(
            ErrorCode::InsufficientScope,
            format!("token lacks required scope: {scope}"),
        ))
    }

    // ------------------------------------------------------------ public --

    pub(crate) fn health(&self) -> HealthResponse {
        let up = unix_nanos(self.clock.now()) - unix_nanos(self.started);
        let mut h = HealthResponse::default();
        h.status = "ok".to_owned();
        h.version = VERSION.to_owned();
        h.uptime = i64::try_from((up / NANOS).max(0)).unwrap_or(i64::MAX);
        h.db_connected = true;
        h.audit_events_count = read(&self.audit).len() as u64;
        h
    }

    pub(crate) fn metrics_text(&self) -> String {
        self.metrics.render()
    }

    pub(crate) fn challenge(&self) -> Result<ChallengeResponse, ApiError> {
        let nonce = random_hex::<32>().map_err(|_| ApiError::internal("internal error"))?;
        let now = self.now();
        let mut nonces = lock(&self.nonces);
        if nonces.len() % 1024 == 1023 {
            nonces.retain(|_, r| {
                if r.consumed {
                    now - r.expires <= RETAIN_EXPIRED_NANOS
                } else {
                    now <= r.expires
                }
            });
        }
        nonces.insert(
            nonce.clone(),
            NonceRecord {
                expires: now + NONCE_TTL_NANOS,
                consumed: false,
            },
        );
        drop(nonces);
        let mut r = ChallengeResponse::default();
        r.nonce = nonce;
        r.expires_in = 30;
        Ok(r)
    }

    pub(crate) fn validate(&self, body: &[u8]) -> Result<ValidateResponse, ApiError> {
        let req = decode_first(body, &[("token", Kind::Str)]).map_err(|_| ApiError::malformed())?;
        let token = req.str("token");
        if token.is_empty() {
            return Err(ApiError::bad_request("token field is required"));
        }
        Ok(match self.verify(&token) {
            Ok(claims) => ValidateResponse::valid(claims),
            Err(_) => ValidateResponse::invalid("token is invalid or expired"),
        })
    }

    // ------------------------------------------------------------- admin --

    pub(crate) fn admin_auth(&self, body: &[u8], client_ip: &str) -> Result<AdminToken, ApiError> {
        if let Some(l) = &self.admin_limiter
            && !l.allow(client_ip, self.now())
        {
            return Err(ApiError::rate_limited("1"));
        }
        if let Ok(legacy) = decode_exact(
            body,
            &[("client_id", Kind::Str), ("client_secret", Kind::Str)],
        ) && (!legacy.str("client_id").is_empty() || !legacy.str("client_secret").is_empty())
        {
            return Err(ApiError::bad_request(
                r#"Admin auth format changed. Use {"secret": "..."} instead of client_id/client_secret"#,
            ));
        }
        let req =
            decode_exact(body, &[("secret", Kind::Str)]).map_err(|_| ApiError::malformed())?;
        let secret = zeroize::Zeroizing::new(req.str("secret"));
        if secret.is_empty() {
            return Err(ApiError::bad_request("secret is required"));
        }
        if !secret_matches(&secret, &self.admin_secret_hash) {
            self.metrics.admin_auth(false);
            self.record(
                "admin_auth_failed",
                "",
                "",
                "",
                "failed admin authentication attempt",
                Extra::denied(),
            );
            return Err(ApiError::unauthorized("invalid credentials"));
        }
        let issued = self
            .issue(IssueReq {
                sub: "admin".to_owned(),
                scope: ADMIN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
                ttl: self.settings.admin_token_ttl,
                ..IssueReq::default()
            })
            .map_err(|_| ApiError::unauthorized("invalid credentials"))?;
        self.metrics.admin_auth(true);
        self.record(
            "admin_auth",
            "",
            "",
            "",
            "admin authenticated as admin",
            Extra::success(),
        );
        Ok(AdminToken {
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
            token_type: "Bearer",
        })
    }

    pub(crate) fn create_launch_token(
        &self,
        claims: &Claims,
        body: &[u8],
    ) -> Result<LaunchTokenIssued, ApiError> {
        let req = decode_first(
            body,
            &[
                ("agent_name", Kind::Str),
                ("allowed_scope", Kind::StrList),
                ("max_ttl", Kind::Int),
                ("single_use", Kind::OptBool),
                ("ttl", Kind::Int),
            ],
        )
        .map_err(|_| ApiError::malformed())?;
        let agent_name = req.str("agent_name");
        let allowed = req.list("allowed_scope");
        let mut app_id = String::new();
        if let Some(id) = claims.sub.strip_prefix("app:") {
            app_id = id.to_owned();
            let ceiling = read(&self.apps).by_id.get(id).map(|a| a.scopes.clone());
            let Some(ceiling) = ceiling else {
                return Err(ApiError::forbidden(ErrorCode::Forbidden, "app not found"));
            };
            if !scope_is_subset(&allowed, &ceiling) {
                self.record(
                    "scope_ceiling_exceeded",
                    &claims.sub,
                    "",
                    "",
                    &format!(
                        "app={id} requested={} ceiling={}",
                        go_list(&allowed),
                        go_list(&ceiling)
                    ),
                    Extra::denied(),
                );
                return Err(ApiError::forbidden(
                    ErrorCode::Forbidden,
                    format!(
                        "requested scopes exceed app ceiling; allowed: {}",
                        go_list(&ceiling)
                    ),
                ));
            }
        }
        let deny = |reason: &str| {
            self.record(
                "launch_token_denied",
                &claims.sub,
                "",
                "",
                &format!(
                    "launch token denied for agent={agent_name} by={} reason={reason}",
                    claims.sub
                ),
                Extra::denied(),
            );
            ApiError::bad_request(reason)
        };
        if agent_name.is_empty() {
            return Err(deny("agent_name is required"));
        }
        if allowed.is_empty() {
            return Err(deny("allowed_scope must not be empty"));
        }
        let max_ttl = match req.int("max_ttl") {
            n if n <= 0 => 300,
            n => n,
        };
        let ttl = match req.int("ttl") {
            n if n <= 0 => 30,
            n => n,
        };
        let single_use = req.opt_bool("single_use").unwrap_or(true);
        let token =
            random_hex::<32>().map_err(|_| ApiError::internal("failed to create launch token"))?;
        let now = self.now();
        // Go multiplies the TTL into an int64 nanosecond Duration, which
        // wraps for absurd values; do the same rather than overflow.
        let expires = now + i128::from(ttl.wrapping_mul(1_000_000_000));
        {
            let mut lts = lock(&self.launch_tokens);
            if lts.len() % 1024 == 1023 {
                lts.retain(|_, r| now - r.expires <= RETAIN_EXPIRED_NANOS);
            }
            lts.insert(
                token.clone(),
                LaunchTokenRecord {
                    allowed_scope: allowed.clone(),
                    max_ttl,
                    single_use,
                    expires,
                    consumed: false,
                    app_id: app_id.clone(),
                },
            );
        }
        self.metrics.launch_token_created();
        let mut detail = format!(
            "launch token issued for agent={agent_name} scope={} max_ttl={max_ttl} created_by={}",
            go_list(&allowed),
            claims.sub
        );
        if !app_id.is_empty() {
            detail.push_str(&format!(" app_id={app_id}"));
        }
        self.record("launch_token_issued", "", "", "", &detail, Extra::success());
        let mut policy = LaunchTokenPolicy::default();
        policy.allowed_scope = allowed;
        policy.max_ttl = max_ttl;
        Ok(LaunchTokenIssued {
            launch_token: LaunchToken::new(token),
            expires_at: rfc3339_seconds(expires),
            policy,
        })
    }

    // -------------------------------------------------------------- apps --

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

    pub(crate) fn app_auth(&self, body: &[u8], client_ip: &str) -> Result<AppToken, ApiError> {
        if let Some(l) = &self.app_limiter {
            let key = decode_exact(body, &[("client_id", Kind::Str)])
                .map(|o| o.str("client_id"))
                .unwrap_or_default();
            let key = if key.is_empty() {
                client_ip.to_owned()
            } else {
                key
            };
            if !l.allow(&key, self.now()) {
                return Err(ApiError::rate_limited("60"));
            }
        }
        let req = decode_first(
            body,
            &[("client_id", Kind::Str), ("client_secret", Kind::Str)],
        )
        .map_err(|_| ApiError::malformed())?;
        let client_id = req.str("client_id");
        let secret = zeroize::Zeroizing::new(req.str("client_secret"));
        if client_id.is_empty() || secret.is_empty() {
            return Err(ApiError::bad_request(
                "client_id and client_secret are required",
            ));
        }
        let app = {
            let apps = read(&self.apps);
            apps.id_by_client
                .get(&client_id)
                .and_then(|id| apps.by_id.get(id))
                .cloned()
        };
        let fail = |reason: &str| {
            self.record(
                "app_auth_failed",
                "",
                "",
                "",
                &format!("client_id={client_id} reason={reason}"),
                Extra::denied(),
            );
            ApiError::unauthorized("Authentication failed")
        };
        let Some(app) = app else {
            return Err(fail("unknown_client_id"));
        };
        if !app.active {
            return Err(fail("app_inactive"));
        }
        if !secret_matches(&secret, &app.secret_hash) {
            return Err(fail("wrong_secret"));
        }
        let scope: Vec<String> = APP_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        let issued = self
            .issue(IssueReq {
                sub: format!("app:{}", app.app_id),
                scope: scope.clone(),
                ttl: app.token_ttl,
                ..IssueReq::default()
            })
            .map_err(|_| ApiError::internal("authentication error"))?;
        self.record(
            "app_authenticated",
            "",
            "",
            "",
            &format!("client_id={client_id} app_id={}", app.app_id),
            Extra::success(),
        );
        Ok(AppToken {
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
            token_type: "Bearer",
            scopes: scope,
        })
    }

    // ------------------------------------------------------------ agents --

    fn fail_registration(&self, e: ApiError) -> ApiError {
        self.metrics.registration(false);
        e
    }

    pub(crate) fn register(&self, body: &[u8]) -> Result<Registered, ApiError> {
        let req = decode_first(
            body,
            &[
                ("launch_token", Kind::Str),
                ("nonce", Kind::Str),
                ("public_key", Kind::Str),
                ("signature", Kind::Str),
                ("orch_id", Kind::Str),
                ("task_id", Kind::Str),
                ("requested_scope", Kind::StrList),
            ],
        )
        .map_err(|_| ApiError::malformed())?;
        let launch_token = zeroize::Zeroizing::new(req.str("launch_token"));
        let nonce = req.str("nonce");
        let public_key = req.str("public_key");
        let signature = req.str("signature");
        let orch_id = req.str("orch_id");
        let task_id = req.str("task_id");
        let requested = req.list("requested_scope");
        if [
            &*launch_token,
            &nonce,
            &public_key,
            &signature,
            &orch_id,
            &task_id,
        ]
        .iter()
        .any(|s| s.is_empty())
        {
            return Err(self.fail_registration(ApiError::bad_request("missing required field")));
        }
        if requested.is_empty() {
            return Err(self.fail_registration(ApiError::bad_request(
                "missing required field: requested_scope",
            )));
        }
        let now = self.now();
        // Launch token: looked up, not consumed yet.
        let lt = {
            let lts = lock(&self.launch_tokens);
            match lts.get(launch_token.as_str()) {
                None => Err("launch token not found"),
                Some(r) if now > r.expires => Err("launch token expired"),
                Some(r) if r.consumed => Err("launch token already consumed"),
                Some(r) => Ok(r.clone()),
            }
        };
        let lt = lt.map_err(|e| {
            self.fail_registration(ApiError::unauthorized(format!("launch token: {e}")))
        })?;
        if !scope_is_subset(&requested, &lt.allowed_scope) {
            self.record(
                "registration_policy_violation",
                "",
                &task_id,
                &orch_id,
                &format!(
                    "scope violation: requested {} exceeds allowed {}",
                    go_list(&requested),
                    go_list(&lt.allowed_scope)
                ),
                Extra::denied(),
            );
            return Err(self.fail_registration(ApiError::forbidden(
                ErrorCode::ScopeViolation,
                "requested scope exceeds allowed scope",
            )));
        }
        // Nonce: consumed here, whatever happens next.
        let consumed = {
            let mut nonces = lock(&self.nonces);
            match nonces.get_mut(&nonce) {
                None => Err("nonce not found or expired"),
                Some(r) if r.consumed => Err("nonce already consumed"),
                Some(r) if now > r.expires => {
                    nonces.remove(&nonce);
                    Err("nonce not found or expired")
                }
                Some(r) => {
                    r.consumed = true;
                    Ok(())
                }
            }
        };
        consumed
            .map_err(|e| self.fail_registration(ApiError::unauthorized(format!("nonce: {e}"))))?;
        let Some(key_bytes) = b64std_decode(&public_key) else {
            return Err(self.fail_registration(ApiError::unauthorized(
                "invalid Ed25519 public key: base64 decode failed",
            )));
        };
        let Ok(key) = <[u8; 32]>::try_from(key_bytes.as_slice()) else {
            return Err(self.fail_registration(ApiError::unauthorized(
                "invalid Ed25519 public key: wrong key size",
            )));
        };
        let Some(sig) = b64std_decode(&signature) else {
            return Err(self.fail_registration(ApiError::unauthorized(
                "nonce signature verification failed: base64 decode failed",
            )));
        };
        let message = hex::decode(&nonce).unwrap_or_else(|_| nonce.as_bytes().to_vec());
        if !verify_agent_signature(&key, &message, &sig) {
            return Err(self.fail_registration(ApiError::unauthorized(
                "nonce signature verification failed",
            )));
        }
        // Launch token: consumed only now, after every check passed.
        if lt.single_use {
            let mut lts = lock(&self.launch_tokens);
            let outcome = match lts.get_mut(launch_token.as_str()) {
                None => Err("launch token not found"),
                Some(r) if r.consumed => Err("launch token already consumed"),
                Some(r) => {
                    r.consumed = true;
                    Ok(())
                }
            };
            drop(lts);
            outcome.map_err(|e| {
                self.fail_registration(ApiError::unauthorized(format!("consume launch token: {e}")))
            })?;
        }
        let failed = || ApiError::internal("registration failed");
        let instance = random_hex::<8>().map_err(|_| self.fail_registration(failed()))?;
        if !valid_trust_domain(&self.settings.trust_domain)
            || !valid_spiffe_segment(&orch_id)
            || !valid_spiffe_segment(&task_id)
        {
            return Err(self.fail_registration(failed()));
        }
        let agent_id = format!(
            "spiffe://{}/agent/{orch_id}/{task_id}/{instance}",
            self.settings.trust_domain
        );
        let ttl = if lt.max_ttl <= 0 { 300 } else { lt.max_ttl };
        let issued = self
            .issue(IssueReq {
                sub: agent_id.clone(),
                scope: requested.clone(),
                task_id: Some(task_id.clone()),
                orch_id: Some(orch_id.clone()),
                ttl,
                ..IssueReq::default()
            })
            .map_err(|_| self.fail_registration(failed()))?;
        write(&self.agents).insert(agent_id.clone());
        let mut reg_detail = format!("Agent registered with scope {}", go_list(&requested));
        let mut tkn_detail = format!("Token issued, jti={}, ttl={ttl}", issued.jti);
        if !lt.app_id.is_empty() {
            reg_detail.push_str(&format!(" app_id={}", lt.app_id));
            tkn_detail.push_str(&format!(" app_id={}", lt.app_id));
        }
        self.record(
            "agent_registered",
            &agent_id,
            &task_id,
            &orch_id,
            &reg_detail,
            Extra::success(),
        );
        self.record(
            "token_issued",
            &agent_id,
            &task_id,
            &orch_id,
            &tkn_detail,
            Extra::success(),
        );
        self.metrics.registration(true);
        Ok(Registered {
            agent_id,
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
        })
    }

    pub(crate) fn renew(&self, claims: &Claims, token: &str) -> Result<Renewed, ApiError> {
        let task = claims.task_id.as_deref().unwrap_or("");
        let orch = claims.orch_id.as_deref().unwrap_or("");
        let fail = |why: String| {
            self.record(
                "token_renewal_failed",
                &claims.sub,
                task,
                orch,
                &format!("token renewal failed for agent={}: {why}", claims.sub),
                Extra::denied(),
            );
            ApiError::unauthorized("token renewal failed")
        };
        let current = self.verify(token).map_err(|e| fail(e.to_string()))?;
        // The predecessor is revoked first; doing it as one step also makes
        // two concurrent renewals of one token yield one new token.
        if !write(&self.revocations).tokens.insert(current.jti.clone()) {
            return Err(fail(VerifyError::Revoked.to_string()));
        }
        let mut ttl = current.exp.saturating_sub(current.iat);
        if ttl <= 0 {
            ttl = self.settings.default_ttl;
        }
        let issued = self
            .issue(IssueReq {
                sub: current.sub.clone(),
                aud: current.aud.clone(),
                scope: current.scope.clone(),
                task_id: current.task_id.clone(),
                orch_id: current.orch_id.clone(),
                sid: current.sid.clone(),
                ttl,
                chain: current.delegation_chain.clone(),
                chain_hash: current.chain_hash.clone(),
            })
            .map_err(|_| fail("sign token: internal error".to_owned()))?;
        self.record(
            "token_renewed",
            &claims.sub,
            task,
            orch,
            &format!(
                "token renewed for agent={} new_jti={}",
                claims.sub, issued.jti
            ),
            Extra::success(),
        );
        Ok(Renewed {
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
        })
    }

    pub(crate) fn release(&self, claims: &Claims) {
        write(&self.revocations).tokens.insert(claims.jti.clone());
        self.record(
            "token_released",
            &claims.sub,
            claims.task_id.as_deref().unwrap_or(""),
            claims.orch_id.as_deref().unwrap_or(""),
            &format!("token released | jti={}", claims.jti),
            Extra::success(),
        );
        self.metrics.token_revoked("release");
    }

    pub(crate) fn delegate(&self, claims: &Claims, body: &[u8]) -> Result<Delegated, ApiError> {
        let req = decode_first(
            body,
            &[
                ("delegate_to", Kind::Str),
                ("scope", Kind::StrList),
                ("ttl", Kind::Int),
            ],
        )
        .map_err(|_| ApiError::malformed())?;
        let delegate_to = req.str("delegate_to");
        let scope = req.list("scope");
        let failed = || ApiError::internal("delegation failed");
        // The real broker's handler has no case for its missing-field error,
        // so both land in the generic 500.
        if delegate_to.is_empty() || scope.is_empty() {
            return Err(failed());
        }
        let task = claims.task_id.as_deref().unwrap_or("");
        let orch = claims.orch_id.as_deref().unwrap_or("");
        let depth = claims.delegation_depth();
        if depth >= MAX_DELEG_DEPTH {
            return Err(ApiError::forbidden(
                ErrorCode::ScopeViolation,
                "delegation depth limit exceeded",
            ));
        }
        if !scope_is_subset(&scope, &claims.scope) {
            self.record(
                "delegation_attenuation_violation",
                &claims.sub,
                task,
                orch,
                &format!(
                    "delegation_attenuation_violation | delegator={} | target={delegate_to} | requested={} | allowed={}",
                    claims.sub,
                    go_list(&scope),
                    go_list(&claims.scope)
                ),
                Extra {
                    deleg_depth: depth as i64,
                    ..Extra::denied()
                },
            );
            return Err(ApiError::forbidden(
                ErrorCode::ScopeViolation,
                "delegated scope exceeds delegator scope",
            ));
        }
        if !read(&self.agents).contains(&delegate_to) {
            return Err(ApiError::not_found("delegate agent not found"));
        }
        let mut chain = claims.delegation_chain.clone().unwrap_or_default();
        let mut record = DelegationRecord::new(
            claims.sub.clone(),
            claims.scope.clone(),
            Timestamp::from_unix_nanos(self.now()),
        );
        record.signature = Some(hex::encode(
            self.keys.sign(record.signing_input().as_bytes()),
        ));
        chain.push(record);
        let chain_json = to_go_json(&chain).map_err(|_| failed())?;
        let chain_hash = hex::encode(Sha256::digest(&chain_json));
        let ttl = match req.int("ttl") {
            n if n <= 0 => 60,
            n => n,
        };
        let issued = self
            .issue(IssueReq {
                sub: delegate_to.clone(),
                aud: claims.aud.clone(),
                scope: scope.clone(),
                task_id: claims.task_id.clone(),
                orch_id: claims.orch_id.clone(),
                ttl,
                chain: Some(chain.clone()),
                chain_hash: Some(chain_hash.clone()),
                ..IssueReq::default()
            })
            .map_err(|_| failed())?;
        self.record(
            "delegation_created",
            &delegate_to,
            task,
            orch,
            &format!(
                "delegation from {} to {delegate_to} scope={} depth={}",
                claims.sub,
                go_list(&scope),
                depth + 1
            ),
            Extra {
                deleg_depth: depth as i64 + 1,
                deleg_chain_hash: chain_hash,
                ..Extra::success()
            },
        );
        Ok(Delegated {
            access_token: AccessToken::new(issued.token),
            expires_in: issued.expires_in,
            delegation_chain: chain,
        })
    }

    // ---------------------------------------------------------- operator --

    pub(crate) fn revoke(&self, body: &[u8]) -> Result<RevokeResponse, ApiError> {
        let req = decode_first(body, &[("level", Kind::Str), ("target", Kind::Str)])
            .map_err(|_| ApiError::malformed())?;
        let level = req.str("level");
        let target = req.str("target");
        if level.is_empty() || target.is_empty() {
            return Err(ApiError::bad_request("level and target are required"));
        }
        {
            let mut rev = write(&self.revocations);
            let set = match level.as_str() {
                "token" => &mut rev.tokens,
                "agent" => &mut rev.agents,
                "task" => &mut rev.tasks,
                "chain" => &mut rev.chains,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid revocation level: {level}"
                    )));
                }
            };
            set.insert(target.clone());
        }
        self.record(
            "token_revoked",
            &target,
            "",
            "",
            &format!("revoked at level={level} target={target}"),
            Extra::success(),
        );
        self.metrics.token_revoked(&level);
        let mut r = RevokeResponse::default();
        r.revoked = true;
        r.level = level;
        r.target = target;
        r.count = 1;
        Ok(r)
    }

    /// The filtered page, the total, and the offset and limit to report.
    pub(crate) fn audit_events(&self, f: &Filters) -> (Vec<AuditEvent>, u64) {
        let (events, total) = read(&self.audit).query(f);
        (events, total as u64)
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
