//! Shared test scaffolding: a development broker on a manual clock, the
//! service under test on 127.0.0.1:0, a counting proxy in front of the
//! broker, and a tiny client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentwrit_devbroker::{DevBroker, DevBrokerHandle, ManualClock};
use agentwrit_tower::{AgentAuth, AgentClaims, Rejection, RequireScopes};
use axum::Router;
use axum::routing::{get, post};
use http::HeaderMap;

pub struct Env {
    pub broker: DevBrokerHandle,
    pub clock: Arc<ManualClock>,
    pub app: agentwrit_async::App,
}

impl Env {
    /// The layer's clock: the broker's (a clone shares its time).
    pub fn clk(&self) -> ManualClock {
        (*self.clock).clone()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

pub fn env() -> Env {
    env_with(DevBroker::builder())
}

pub fn env_with(builder: agentwrit_devbroker::DevBrokerBuilder) -> Env {
    let clock = Arc::new(ManualClock::starting_now());
    let broker = builder
        .clock(clock.clone())
        .no_rate_limits()
        .start()
        .unwrap();
    let reg = broker.register_universal_app().unwrap();
    let app = agentwrit_async::App::new(
        broker.url(),
        &reg.client_id,
        reg.client_secret.expose_secret(),
    )
    .unwrap();
    Env { broker, clock, app }
}

/// The service of the examples: customers and orders, gated by path
/// templates; `/me` gated in the handler; `/healthz` public.
pub fn service(auth: &AgentAuth) -> Router {
    Router::new()
        .route(
            "/customers/{id}",
            get(|claims: AgentClaims| async move { format!("ok for {}", claims.sub()) })
                .route_layer(RequireScopes::new(&["read:data:customer-{id}"])),
        )
        .route(
            "/orders/{id}",
            post(|| async { "order written" })
                .route_layer(RequireScopes::new(&["write:data:order-{id}"])),
        )
        .route(
            "/me",
            get(|claims: AgentClaims| async move {
                claims.require(&["read:data:customer-7291"])?;
                Ok::<_, Rejection>(claims.jti().to_owned())
            }),
        )
        .route(
            "/misconfigured/{id}",
            get(|| async { "never" }).route_layer(RequireScopes::new(&["read:data:{other}"])),
        )
        .route("/healthz", get(|| async { "ok" }))
        .layer(auth.layer())
}

/// Serves `router` on 127.0.0.1:0; returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn call(base: &str, method: &str, path: &str, authorization: Option<&str>) -> Reply {
    call_with(&client(), base, method, path, authorization).await
}

pub async fn call_with(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> Reply {
    let url = format!("{base}{path}");
    let mut req = match method {
        "POST" => client.post(url),
        _ => client.get(url),
    };
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Reply {
        status,
        headers,
        body: resp.text().await.unwrap(),
    }
}

/// A reverse proxy in front of the broker that counts validate calls and
/// can hold them until released.
pub struct CountingProxy {
    pub url: String,
    pub validate_calls: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl CountingProxy {
    pub async fn start(broker_url: &str, gated: bool) -> Self {
        let validate_calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(if gated {
            0
        } else {
            tokio::sync::Semaphore::MAX_PERMITS
        }));
        let upstream = broker_url.to_owned();
        let client = client();
        let (calls, g) = (validate_calls.clone(), gate.clone());
        let router = Router::new().fallback(move |req: axum::extract::Request| {
            let (upstream, client, calls, gate) =
                (upstream.clone(), client.clone(), calls.clone(), g.clone());
            async move {
                let path = req.uri().path().to_owned();
                if path == "/v1/token/validate" {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let _permit = gate.acquire().await.unwrap();
                }
                let method = req.method().clone();
                let headers = req.headers().clone();
                let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                    .await
                    .unwrap();
                let mut out = client.request(method, format!("{upstream}{path}"));
                for (name, value) in &headers {
                    if name != "host" && name != "content-length" {
                        out = out.header(name, value);
                    }
                }
                let resp = out.body(body).send().await.unwrap();
                let status = resp.status();
                let ct = resp.headers().get("content-type").cloned();
                let bytes = resp.bytes().await.unwrap();
                let mut r = axum::response::Response::new(axum::body::Body::from(bytes));
                *r.status_mut() = status;
                if let Some(ct) = ct {
                    r.headers_mut().insert("content-type", ct);
                }
                r
            }
        });
        let url = serve(router).await;
        CountingProxy {
            url,
            validate_calls,
            gate,
        }
    }

    pub fn calls(&self) -> usize {
        self.validate_calls.load(Ordering::SeqCst)
    }

    pub fn release_all(&self) {
        self.gate.add_permits(1 << 20);
    }
}

/// Waits (yielding, no sleeping) until `cond` holds.
pub async fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::task::yield_now().await;
    }
}

pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}
