//! Go's `ServeMux`, as the real broker's routing behaves: the route table,
//! the lookup (`404 page not found`, `405` with `Allow`, `HEAD` served by
//! `GET` routes), and the `301` redirect of unclean paths.

use axum::http::header::LOCATION;
use axum::http::{HeaderValue, Method};
use axum::response::Response;

use super::answer::response;
use super::gourl::unescape;

/// What a route does (dispatched in `super::dispatch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RouteKind {
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

/// The outcome of a lookup.
pub(super) enum Routed {
    /// The route, and the `{id}` segment (empty when it has none).
    Found(RouteKind, String),
    NotFound,
    /// The path exists with other methods: the `Allow` header's value.
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

/// The unescaped segments of a clean raw path; `None` for a path with a
/// trailing slash, an empty segment or a malformed escape, which no route
/// has.
pub(super) fn segments(raw_path: &str) -> Option<Vec<String>> {
    let inner = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let mut v = Vec::new();
    let mut ok = true;
    for s in inner.split('/') {
        match unescape(s, false) {
            Some(b) if !s.is_empty() => v.push(String::from_utf8_lossy(&b).into_owned()),
            _ => ok = false,
        }
    }
    ok.then_some(v)
}

/// Go's `ServeMux` lookup over unescaped path segments (`None`: see
/// [`segments`]).
pub(super) fn route(method: &str, segs: Option<&[String]>) -> Routed {
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

/// Go's `cleanPath`: `path.Clean`, keeping a trailing slash.
pub(super) fn clean_path(p: &str) -> String {
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

/// `ServeMux`'s `301 Moved Permanently` to the cleaned path (the query
/// kept), with Go's HTML body for `GET`.
pub(super) fn redirect(method: &Method, cleaned: &str, query: Option<&str>) -> Response {
    let mut url = escape_path(cleaned);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    let is_get = method == Method::GET;
    let is_head = method == Method::HEAD;
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
    r
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
    fn segments_refuse_empty_ones_and_bad_escapes() {
        assert_eq!(
            segments("/v1/admin/apps/a%2Fb"),
            Some(vec![
                "v1".into(),
                "admin".into(),
                "apps".into(),
                "a/b".into()
            ])
        );
        assert_eq!(segments("/v1/health/"), None);
        assert_eq!(segments("/v1//health"), None);
        assert_eq!(segments("/v1/%zz"), None);
    }

    #[test]
    fn the_redirect_escapes_the_location_and_the_html() {
        let r = redirect(&Method::GET, "/v1/a b\"", Some("x=1"));
        assert_eq!(r.status(), 301);
        assert_eq!(r.headers()[LOCATION], "/v1/a%20b%22?x=1");
        let head = redirect(&Method::HEAD, "/v1/health", None);
        assert_eq!(head.headers()[LOCATION], "/v1/health");
        assert!(head.headers().contains_key("content-type"));
        let post = redirect(&Method::POST, "/v1/health", Some(""));
        assert!(!post.headers().contains_key("content-type"));
    }
}
