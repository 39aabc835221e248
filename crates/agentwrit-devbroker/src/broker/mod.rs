//! The broker's state and every operation, independent of HTTP.
//!
//! Each endpoint is one method taking the raw request body (and the caller's
//! verified claims where the route is Bearer-protected) and returning a wire
//! body or an [`ApiError`]. The order of the checks, the detail strings, the
//! audit events and the metrics follow the real broker (v2.0.0).
//!
//! This module holds the state, its construction and the health and metrics
//! endpoints; each resource's operations are an `impl Broker` block of
//! their own:
//!
//! | module | endpoints |
//! |---|---|
//! | `apps` | `/v1/admin/apps` (register, list, get, update, deregister) |
//! | `login` | `/v1/admin/auth`, `/v1/app/auth` |
//! | `launch_tokens` | `/v1/{app,admin}/launch-tokens` |
//! | `agents` | `/v1/challenge`, `/v1/register` |
//! | `tokens` | issuing, verification, Bearer and scope checks, `/v1/token/{validate,renew,release}` |
//! | `delegation` | `/v1/delegate` |
//! | `revocation` | `/v1/revoke` |
//! | `audit` | the trail every operation writes, `/v1/audit/events` |

mod agents;
mod apps;
mod audit;
mod delegation;
mod launch_tokens;
mod login;
mod revocation;
mod tokens;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use agentwrit_core::Clock;
use agentwrit_wire::{HealthResponse, Timestamp, to_go_json};

use agents::NonceRecord;
pub(crate) use agents::valid_trust_domain;
use apps::Apps;
pub use apps::RegisteredApp;
use launch_tokens::LaunchTokenRecord;
use revocation::Revocations;

use crate::audit::AuditLog;
use crate::clock::unix_nanos;
use crate::crypto::{Keys, hash_secret};
use crate::metrics::Metrics;
use crate::ratelimit::{Limiter, RateLimit};
use crate::sync::read;

/// The version the real broker reports, and so do we.
pub(crate) const VERSION: &str = "2.0.0";

const NANOS: i128 = 1_000_000_000;
/// Expired records are kept this long (so they still answer "expired" or
/// "already consumed" as on the real broker, which never forgets them),
/// then dropped to bound memory.
const RETAIN_EXPIRED_NANOS: i128 = 3600 * NANOS;

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
}
