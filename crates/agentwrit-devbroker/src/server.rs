//! The HTTP face: Go's middleware chain and `ServeMux`, reproduced.
//!
//! Every request passes, in the real broker's order:
//! 1. request id: `X-Request-ID` echoed, or 16 random hex characters;
//! 2. the body is read whole, at most 1 MiB (413 `payload_too_large`
//!    beyond);
//! 3. security headers (`X-Content-Type-Options`, `Cache-Control`,
//!    `X-Frame-Options`) on whatever answer follows;
//! 4. routing as Go's `ServeMux` does it: unclean paths are redirected
//!    (301), unknown paths get `404 page not found`, known paths with
//!    another method `405 Method Not Allowed` with an `Allow` header, both
//!    as `text/plain`; `HEAD` is served by `GET` routes;
//! 5. per route: rate limit, Bearer check, scope check, handler.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agentwrit_wire::{AuditEvent, ProblemDetail, scopes};
use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{
    ALLOW, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, LOCATION, RETRY_AFTER,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::audit::Filters;
use crate::broker::{Broker, encode};
use crate::crypto::random_hex;
use crate::problem::ApiError;
use crate::tls::TlsListener;

/// The broker refuses request bodies larger than this (1 MiB).
pub(crate) const MAX_BODY: usize = 1 << 20;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const JSON: &str = "application/json";
const PROBLEM_JSON: &str = "application/problem+json";
const TEXT: &str = "text/plain; charset=utf-8";

/// The router: one fallback that does everything, so that no framework
/// behaviour leaks into the answers. Over TLS every answer also carries the
/// real broker's HSTS header.
pub(crate) fn router(broker: Arc<Broker>, tls: bool) -> Router {
    let router = Router::new().fallback(serve_one).with_state(broker);
    if tls {
        router.layer(axum::middleware::map_response(add_hsts))
    } else {
        router
    }
}

async fn add_hsts(mut r: Response) -> Response {
    r.headers_mut().insert(
        STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(crate::tls::HSTS),
    );
    r
}

/// The client's socket address, on plain and TLS listeners alike.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(SocketAddr);

impl Connected<IncomingStream<'_, Counted<tokio::net::TcpListener>>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Counted<tokio::net::TcpListener>>) -> Self {
        Peer(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, Counted<TlsListener>>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Counted<TlsListener>>) -> Self {
        Peer(*stream.remote_addr())
    }
}

/// A listener that counts the connections it hands to the HTTP server
/// (`DevBrokerHandle::connections_accepted`).
pub(crate) struct Counted<L> {
    inner: L,
    accepted: Arc<AtomicU64>,
}

impl<L> Counted<L> {
    pub(crate) fn new(inner: L, accepted: Arc<AtomicU64>) -> Self {
        Counted { inner, accepted }
    }
}

impl<L: Listener> Listener for Counted<L> {
    type Io = L::Io;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let accepted = self.inner.accept().await;
        self.accepted.fetch_add(1, Ordering::SeqCst);
        accepted
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RouteKind {
    Challenge,
    Health,
    Metrics,
    Validate,
    Register,
    Renew,
    Delegate,
    Release,
    Revoke,
    AuditEvents,
    AdminAuth,
    AdminLaunchTokens,
    AppLaunchTokens,
    CreateApp,
    ListApps,
    GetApp,
    UpdateApp,
    DeleteApp,
    AppAuth,
}

/// `None` marks the `{id}` wildcard segment.
type Pattern = (&'static str, &'static [Option<&'static str>], RouteKind);

const V1: Option<&str> = Some("v1");

const ROUTES: &[Pattern] = &[
    ("GET", &[V1, Some("challenge")], RouteKind::Challenge),
    ("GET", &[V1, Some("health")], RouteKind::Health),
    ("GET", &[V1, Some("metrics")], RouteKind::Metrics),
    (
        "POST",
        &[V1, Some("token"), Some("validate")],
        RouteKind::Validate,
    ),
    ("POST", &[V1, Some("register")], RouteKind::Register),
    (
        "POST",
        &[V1, Some("token"), Some("renew")],
        RouteKind::Renew,
    ),
    ("POST", &[V1, Some("delegate")], RouteKind::Delegate),
    (
        "POST",
        &[V1, Some("token"), Some("release")],
        RouteKind::Release,
    ),
    ("POST", &[V1, Some("revoke")], RouteKind::Revoke),
    (
        "GET",
        &[V1, Some("audit"), Some("events")],
        RouteKind::AuditEvents,
    ),
    (
        "POST",
        &[V1, Some("admin"), Some("auth")],
        RouteKind::AdminAuth,
    ),
    (
        "POST",
        &[V1, Some("admin"), Some("launch-tokens")],
        RouteKind::AdminLaunchTokens,
    ),
    (
        "POST",
        &[V1, Some("app"), Some("launch-tokens")],
        RouteKind::AppLaunchTokens,
    ),
    (
        "POST",
        &[V1, Some("admin"), Some("apps")],
        RouteKind::CreateApp,
    ),
    (
        "GET",
        &[V1, Some("admin"), Some("apps")],
        RouteKind::ListApps,
    ),
    (
        "GET",
        &[V1, Some("admin"), Some("apps"), None],
        RouteKind::GetApp,
    ),
    (
        "PUT",
        &[V1, Some("admin"), Some("apps"), None],
        RouteKind::UpdateApp,
    ),
    (
        "DELETE",
        &[V1, Some("admin"), Some("apps"), None],
        RouteKind::DeleteApp,
    ),
    ("POST", &[V1, Some("app"), Some("auth")], RouteKind::AppAuth),
];

enum Routed {
    Found(RouteKind, String),
    NotFound,
    MethodNotAllowed(String),
}

fn path_matches(pattern: &[Option<&str>], segs: &[String]) -> Option<String> {
    if pattern.len() != segs.len() {
        return None;
    }
    let mut param = String::new();
    for (p, s) in pattern.iter().zip(segs) {
        match p {
            Some(lit) if *lit == s => {}
            Some(_) => return None,
            None => param.clone_from(s),
        }
    }
    Some(param)
}

/// Go's `ServeMux` lookup over unescaped path segments (`None` for a path
/// with a trailing slash or an empty segment, which no route has).
fn route(method: &str, segs: Option<&[String]>) -> Routed {
    let Some(segs) = segs else {
        return Routed::NotFound;
    };
    let want = |m: &str| {
        ROUTES
            .iter()
            .filter(|(pm, _, _)| *pm == m)
            .find_map(|(_, p, k)| path_matches(p, segs).map(|id| (*k, id)))
    };
    if let Some((k, id)) = want(method) {
        return Routed::Found(k, id);
    }
    if method == "HEAD"
        && let Some((k, id)) = want("GET")
    {
        return Routed::Found(k, id);
    }
    let mut allowed: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, p, _)| path_matches(p, segs).is_some())
        .map(|(m, _, _)| *m)
        .collect();
    if allowed.is_empty() {
        return Routed::NotFound;
    }
    if allowed.contains(&"GET") {
        allowed.push("HEAD");
    }
    allowed.sort_unstable();
    allowed.dedup();
    Routed::MethodNotAllowed(allowed.join(", "))
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding; `plus_as_space` for query components. `None` on a
/// malformed escape, as Go's `url.PathUnescape`/`QueryUnescape`.
fn unescape(s: &str, plus_as_space: bool) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = hex_val(*b.get(i + 1)?)?;
                let lo = hex_val(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Go's `cleanPath`: `path.Clean`, keeping a trailing slash.
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return "/".to_owned();
    }
    let mut stack: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut np = String::from("/");
    np.push_str(&stack.join("/"));
    if p.ends_with('/') && np != "/" {
        np.push('/');
    }
    np
}

/// Go's `url.URL.EscapedPath` of a path that it stores unescaped.
fn escape_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for &c in p.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&c) {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// Go's `url.ParseQuery`, first value per key.
fn parse_query(raw: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for piece in raw.split('&') {
        if piece.is_empty() || piece.contains(';') {
            continue;
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let (Some(k), Some(v)) = (unescape(k, true), unescape(v, true)) else {
            continue;
        };
        out.entry(String::from_utf8_lossy(&k).into_owned())
            .or_insert_with(|| String::from_utf8_lossy(&v).into_owned());
    }
    out
}

fn first_header(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> String {
    headers
        .get(name)
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .trim_matches([' ', '\t'])
                .to_owned()
        })
        .unwrap_or_default()
}

fn response(status: u16, content_type: Option<&str>, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type
        && let Ok(v) = HeaderValue::from_str(ct)
    {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r
}

fn json(status: u16, body: Vec<u8>) -> Response {
    response(status, Some(JSON), body)
}

fn problem(err: &ApiError, instance: &str, request_id: &str) -> Response {
    let p = ProblemDetail::new(err.status, err.code.clone(), err.detail.clone(), instance)
        .with_request_id(request_id);
    let mut r = response(err.status, Some(PROBLEM_JSON), encode(&p));
    if let Some(ra) = err.retry_after {
        r.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(ra));
    }
    r
}

/// Go's `http.Error`: plain text, message and newline.
fn plain_error(status: u16, message: &str) -> Response {
    let mut body = message.as_bytes().to_vec();
    body.push(b'\n');
    response(status, Some(TEXT), body)
}

fn client_ip(headers: &HeaderMap, peer: SocketAddr) -> String {
    let xff = first_header(headers, "x-forwarded-for");
    if !xff.is_empty() {
        return xff.split(',').next().unwrap_or_default().to_owned();
    }
    peer.ip().to_string()
}

fn request_id(headers: &HeaderMap) -> (HeaderValue, String) {
    if let Some(v) = headers.get(&X_REQUEST_ID) {
        let text = String::from_utf8_lossy(v.as_bytes())
            .trim_matches([' ', '\t'])
            .to_owned();
        if !text.is_empty() {
            let trimmed = {
                let b = v.as_bytes();
                let start = b.iter().position(|c| !matches!(c, b' ' | b'\t'));
                let end = b.iter().rposition(|c| !matches!(c, b' ' | b'\t'));
                match (start, end) {
                    (Some(s), Some(e)) => HeaderValue::from_bytes(&b[s..=e]).ok(),
                    _ => None,
                }
            };
            if let Some(hv) = trimmed {
                return (hv, text);
            }
        }
    }
    let id = random_hex::<8>().unwrap_or_else(|_| "unknown".to_owned());
    let hv = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"));
    (hv, id)
}

fn finish(mut r: Response, request_id: HeaderValue) -> Response {
    let h = r.headers_mut();
    h.insert(X_REQUEST_ID, request_id);
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

async fn serve_one(
    State(broker): State<Arc<Broker>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let (rid_header, rid) = request_id(&parts.headers);
    let raw_path = parts.uri.path().to_owned();

    // The server's own request-line checks, before any handler runs.
    if raw_path == "*" {
        let r = if parts.method == Method::OPTIONS {
            response(200, None, Vec::new())
        } else {
            let mut r = response(400, None, Vec::new());
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            r
        };
        return finish(r, rid_header);
    }
    let Some(decoded) = unescape(&raw_path, false) else {
        let mut r = response(400, Some(TEXT), b"400 Bad Request".to_vec());
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return finish(r, rid_header);
    };
    let instance = String::from_utf8_lossy(&decoded).into_owned();

    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e.downcast_ref::<LengthLimitError>().is_some();
            let err = if too_large {
                ApiError::new(
                    413,
                    agentwrit_wire::ErrorCode::PayloadTooLarge,
                    "request body must not exceed 1 MB",
                )
            } else {
                ApiError::bad_request("failed to read request body")
            };
            let mut r = problem(&err, &instance, &rid);
            if too_large {
                r.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            return finish(r, rid_header);
        }
    };

    let cleaned = clean_path(&raw_path);
    if cleaned != raw_path {
        let mut url = escape_path(&cleaned);
        if let Some(q) = parts.uri.query().filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        let is_get = parts.method == Method::GET;
        let is_head = parts.method == Method::HEAD;
        let body = if is_get {
            format!(
                "<a href=\"{}\">Moved Permanently</a>.\n\n",
                html_escape(&url)
            )
            .into_bytes()
        } else {
            Vec::new()
        };
        let ct = (is_get || is_head).then_some("text/html; charset=utf-8");
        let mut r = response(301, ct, body);
        if let Ok(v) = HeaderValue::from_str(&url) {
            r.headers_mut().insert(LOCATION, v);
        }
        return finish(r, rid_header);
    }

    let segs: Option<Vec<String>> = {
        let inner = raw_path.strip_prefix('/').unwrap_or(&raw_path);
        let mut v = Vec::new();
        let mut ok = true;
        for s in inner.split('/') {
            match unescape(s, false) {
                Some(b) if !s.is_empty() => v.push(String::from_utf8_lossy(&b).into_owned()),
                _ => ok = false,
            }
        }
        ok.then_some(v)
    };
    let kind = match route(parts.method.as_str(), segs.as_deref()) {
        Routed::Found(k, id) => (k, id),
        Routed::NotFound => return finish(plain_error(404, "404 page not found"), rid_header),
        Routed::MethodNotAllowed(allow) => {
            let mut r = plain_error(405, "Method Not Allowed");
            if let Ok(v) = HeaderValue::from_str(&allow) {
                r.headers_mut().insert(ALLOW, v);
            }
            return finish(r, rid_header);
        }
    };

    let ctx = Ctx {
        broker: &broker,
        headers: &parts.headers,
        peer,
        path: &instance,
        query: parts.uri.query().unwrap_or(""),
        body: &body,
    };
    let r = match dispatch(&ctx, kind.0, &kind.1) {
        Ok(r) => r,
        Err(e) => problem(&e, &instance, &rid),
    };
    finish(r, rid_header)
}

struct Ctx<'a> {
    broker: &'a Broker,
    headers: &'a HeaderMap,
    peer: SocketAddr,
    path: &'a str,
    query: &'a str,
    body: &'a [u8],
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

#[derive(serde::Serialize)]
struct AuditPage<'a> {
    events: &'a [AuditEvent],
    total: u64,
    offset: i64,
    limit: i64,
}

fn dispatch(ctx: &Ctx<'_>, kind: RouteKind, id: &str) -> Result<Response, ApiError> {
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
            let q = parse_query(ctx.query);
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
            let body = match u64::try_from(filters.offset) {
                Ok(offset) => {
                    let mut page = agentwrit_wire::AuditEventsResponse::default();
                    page.events = events;
                    page.total = total;
                    page.offset = offset;
                    page.limit = u64::try_from(limit).unwrap_or(100);
                    encode(&page)
                }
                // The wire type cannot carry the negative offset the real
                // broker echoes back.
                Err(_) => encode(&AuditPage {
                    events: &events,
                    total,
                    offset: filters.offset,
                    limit,
                }),
            };
            json(200, body)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_like_go() {
        assert_eq!(clean_path("/v1/health"), "/v1/health");
        assert_eq!(clean_path("/v1//health"), "/v1/health");
        assert_eq!(clean_path("/v1/./health"), "/v1/health");
        assert_eq!(clean_path("/v1/x/../health"), "/v1/health");
        assert_eq!(clean_path("/v1/health/"), "/v1/health/");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path("/"), "/");
    }

    #[test]
    fn mux_methods() {
        let segs = |p: &str| -> Vec<String> { p.split('/').skip(1).map(str::to_owned).collect() };
        assert!(matches!(
            route("HEAD", Some(&segs("/v1/health"))),
            Routed::Found(RouteKind::Health, _)
        ));
        match route("POST", Some(&segs("/v1/health"))) {
            Routed::MethodNotAllowed(a) => assert_eq!(a, "GET, HEAD"),
            _ => panic!(),
        }
        match route("PATCH", Some(&segs("/v1/admin/apps/x"))) {
            Routed::MethodNotAllowed(a) => assert_eq!(a, "DELETE, GET, HEAD, PUT"),
            _ => panic!(),
        }
        match route("GET", Some(&segs("/v1/admin/apps/x"))) {
            Routed::Found(RouteKind::GetApp, id) => assert_eq!(id, "x"),
            _ => panic!(),
        }
        assert!(matches!(
            route("GET", Some(&segs("/v1/nope"))),
            Routed::NotFound
        ));
        assert!(matches!(route("GET", None), Routed::NotFound));
    }

    #[test]
    fn query_like_go() {
        let q = parse_query("a=1&a=2&b=x+y%21&c;d=3&e=%zz&&f");
        assert_eq!(q.get("a").map(String::as_str), Some("1"));
        assert_eq!(q.get("b").map(String::as_str), Some("x y!"));
        assert!(!q.contains_key("c;d"));
        assert!(!q.contains_key("e"));
        assert_eq!(q.get("f").map(String::as_str), Some(""));
    }
}
