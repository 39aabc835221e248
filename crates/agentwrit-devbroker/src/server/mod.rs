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
//!
//! One idea per file: [`middleware`] (steps 1-3), [`mux`] (step 4),
//! [`dispatch`] (step 5), [`answer`] (building answers), [`gourl`] (Go's
//! URL decoding), [`listener`] (peer addresses, connection counts). This
//! file strings them together in order.

mod answer;
mod dispatch;
mod gourl;
mod listener;
mod middleware;
mod mux;

use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::ALLOW;
use axum::http::{HeaderValue, Method};
use axum::response::Response;

pub(crate) use listener::{Counted, Peer};
pub(crate) use middleware::MAX_BODY;

use crate::broker::Broker;
use answer::{TEXT, plain_error, problem, response};
use dispatch::{Ctx, dispatch};
use middleware::{closing, finish, read_body, request_id};
use mux::{Routed, clean_path, redirect, route, segments};

/// The router: one fallback that does everything, so that no framework
/// behaviour leaks into the answers. Over TLS every answer also carries the
/// real broker's HSTS header.
pub(crate) fn router(broker: Arc<Broker>, tls: bool) -> Router {
    let router = Router::new().fallback(serve_one).with_state(broker);
    if tls {
        router.layer(axum::middleware::map_response(middleware::add_hsts))
    } else {
        router
    }
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
            closing(response(400, None, Vec::new()))
        };
        return finish(r, rid_header);
    }
    let Some(decoded) = gourl::unescape(&raw_path, false) else {
        let r = closing(response(400, Some(TEXT), b"400 Bad Request".to_vec()));
        return finish(r, rid_header);
    };
    let instance = String::from_utf8_lossy(&decoded).into_owned();

    let body = match read_body(body, &instance, &rid).await {
        Ok(body) => body,
        Err(r) => return finish(r, rid_header),
    };

    let cleaned = clean_path(&raw_path);
    if cleaned != raw_path {
        let r = redirect(&parts.method, &cleaned, parts.uri.query());
        return finish(r, rid_header);
    }

    let segs = segments(&raw_path);
    let (kind, id) = match route(parts.method.as_str(), segs.as_deref()) {
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
    let r = match dispatch(&ctx, kind, &id) {
        Ok(r) => r,
        Err(e) => problem(&e, &instance, &rid),
    };
    finish(r, rid_header)
}
