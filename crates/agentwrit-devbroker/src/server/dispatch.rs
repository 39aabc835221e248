//! Per route: the Bearer and scope checks, then the broker's handler, its
//! answer encoded as the real broker writes it.

use std::net::SocketAddr;

use agentwrit_wire::{AuditEvent, scopes};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;

use super::answer::{json, response};
use super::gourl::parse_query;
use super::middleware::{client_ip, first_header};
use super::mux::RouteKind;
use crate::audit::Filters;
use crate::broker::{Broker, encode};
use crate::problem::ApiError;

/// One routed request, as the handlers read it.
pub(super) struct Ctx<'a> {
    pub broker: &'a Broker,
    pub headers: &'a HeaderMap,
    pub peer: SocketAddr,
    /// The unescaped path (the problem bodies' `instance`).
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
}

impl Ctx<'_> {
    fn bearer(&self) -> Result<(agentwrit_wire::Claims, String), ApiError> {
        self.broker
            .authenticate(&first_header(self.headers, AUTHORIZATION), self.path)
    }

    fn bearer_with(&self, scope: &str) -> Result<agentwrit_wire::Claims, ApiError> {
        let (claims, _) = self.bearer()?;
        self.broker.require_scope(&claims, scope, self.path)?;
        Ok(claims)
    }
}

/// Runs route `kind` (`id`: its `{id}` segment).
pub(super) fn dispatch(ctx: &Ctx<'_>, kind: RouteKind, id: &str) -> Result<Response, ApiError> {
    let b = ctx.broker;
    Ok(match kind {
        RouteKind::Health => json(200, encode(&b.health())),
        RouteKind::Metrics => response(
            200,
            Some(crate::metrics::CONTENT_TYPE),
            b.metrics_text().into_bytes(),
        ),
        RouteKind::Challenge => json(200, encode(&b.challenge()?)),
        RouteKind::Validate => json(200, encode(&b.validate(ctx.body)?)),
        RouteKind::Register => json(200, encode(&b.register(ctx.body)?)),
        RouteKind::AdminAuth => {
            let ip = client_ip(ctx.headers, ctx.peer);
            json(200, encode(&b.admin_auth(ctx.body, &ip)?))
        }
        RouteKind::AppAuth => {
            let ip = client_ip(ctx.headers, ctx.peer);
            json(200, encode(&b.app_auth(ctx.body, &ip)?))
        }
        RouteKind::Renew => {
            let (claims, token) = ctx.bearer()?;
            json(200, encode(&b.renew(&claims, &token)?))
        }
        RouteKind::Release => {
            let (claims, _) = ctx.bearer()?;
            b.release(&claims);
            response(204, None, Vec::new())
        }
        RouteKind::Delegate => {
            let (claims, _) = ctx.bearer()?;
            json(200, encode(&b.delegate(&claims, ctx.body)?))
        }
        RouteKind::Revoke => {
            ctx.bearer_with(scopes::ADMIN_REVOKE)?;
            json(200, encode(&b.revoke(ctx.body)?))
        }
        RouteKind::AuditEvents => {
            ctx.bearer_with(scopes::ADMIN_AUDIT)?;
            json(200, audit_events(b, ctx.query))
        }
        RouteKind::AdminLaunchTokens => {
            let claims = ctx.bearer_with(scopes::ADMIN_LAUNCH_TOKENS)?;
            json(201, encode(&b.create_launch_token(&claims, ctx.body)?))
        }
        RouteKind::AppLaunchTokens => {
            let claims = ctx.bearer_with(scopes::APP_LAUNCH_TOKENS)?;
            json(201, encode(&b.create_launch_token(&claims, ctx.body)?))
        }
        RouteKind::CreateApp => {
            ctx.bearer_with(scopes::ADMIN_LAUNCH_TOKENS)?;
            json(201, encode(&b.register_app_http(ctx.body)?))
        }
        RouteKind::ListApps => {
            ctx.bearer_with(scopes::ADMIN_LAUNCH_TOKENS)?;
            json(200, encode(&b.list_apps()))
        }
        RouteKind::GetApp => {
            ctx.bearer_with(scopes::ADMIN_LAUNCH_TOKENS)?;
            json(200, encode(&b.get_app(id)?))
        }
        RouteKind::UpdateApp => {
            let claims = ctx.bearer_with(scopes::ADMIN_LAUNCH_TOKENS)?;
            json(200, encode(&b.update_app(&claims, id, ctx.body)?))
        }
        RouteKind::DeleteApp => {
            let claims = ctx.bearer_with(scopes::ADMIN_LAUNCH_TOKENS)?;
            json(200, encode(&b.delete_app(&claims, id)?))
        }
    })
}

/// A page of audit events whose offset the wire type cannot carry (the
/// real broker echoes a negative one back).
#[derive(serde::Serialize)]
struct AuditPage<'a> {
    events: &'a [AuditEvent],
    total: u64,
    offset: i64,
    limit: i64,
}

/// `GET /v1/audit/events`: the query's filters (malformed values read as
/// absent, as Go's handler does), then the page.
fn audit_events(b: &Broker, query: &str) -> Vec<u8> {
    let q = parse_query(query);
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let time = |k: &str| {
        q.get(k)
            .filter(|s| !s.is_empty())
            .and_then(|s| agentwrit_wire::Timestamp::parse(s).ok())
            .map(|t| t.unix_nanos())
    };
    let int = |k: &str| {
        q.get(k)
            .filter(|s| !s.is_empty())
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let filters = Filters {
        agent_id: get("agent_id"),
        task_id: get("task_id"),
        event_type: get("event_type"),
        outcome: get("outcome"),
        since: time("since"),
        until: time("until"),
        limit: int("limit"),
        offset: int("offset"),
    };
    let (events, total) = b.audit_events(&filters);
    let limit = if filters.limit <= 0 {
        100
    } else {
        filters.limit
    };
    match u64::try_from(filters.offset) {
        Ok(offset) => {
            let mut page = agentwrit_wire::AuditEventsResponse::default();
            page.events = events;
            page.total = total;
            page.offset = offset;
            page.limit = u64::try_from(limit).unwrap_or(100);
            encode(&page)
        }
        Err(_) => encode(&AuditPage {
            events: &events,
            total,
            offset: filters.offset,
            limit,
        }),
    }
}
