//! `--serve`: the current tokens on a loopback port, to requests carrying
//! the run's secret: the default credential at `/`, a named one at
//! `/NAME`.

use std::net::SocketAddr;
use std::time::SystemTime;

use agentwrit_async::Agent;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::CliError;
use crate::time::{rfc3339, seconds_until};

/// The running endpoint.
pub struct Endpoint {
    /// `http://127.0.0.1:PORT/`, for `AGENTWRIT_CREDENTIALS_URL`.
    pub url: String,
    /// The run's secret, for `AGENTWRIT_CREDENTIALS_AUTH`.
    pub auth: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// One credential on the endpoint.
#[derive(Clone)]
pub struct Served {
    /// Its path: empty for the default credential, else its name.
    pub path: String,
    /// The agent.
    pub agent: Agent,
    /// Whether it is renewed (its tokens then stop working at the next
    /// renewal).
    pub renewed: bool,
}

#[derive(Clone)]
struct Shared {
    served: std::sync::Arc<Vec<Served>>,
    auth: String,
}

/// Starts serving the credentials' current tokens on `127.0.0.1:0`.
pub async fn start(served: Vec<Served>) -> Result<Endpoint, CliError> {
    let mut bytes = [0u8; 32];
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut bytes)
        .map_err(|e| CliError::io("random secret", std::io::Error::other(e.to_string())))?;
    let auth = hex::encode(bytes);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| CliError::io("binding the credential endpoint", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::io("binding the credential endpoint", e))?;
    let router = Router::new()
        .route("/", get(default_credential))
        .route("/{name}", get(named_credential))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "not found") })
        .with_state(Shared {
            served: std::sync::Arc::new(served),
            auth: auth.clone(),
        });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = server.await {
            crate::output::stderr(&format!("agentwrit: the credential endpoint failed: {e}\n"));
        }
    });
    Ok(Endpoint {
        url: format!("http://{addr}/"),
        auth,
        stop,
        task,
    })
}

impl Endpoint {
    /// Stops serving (before the token is released).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn default_credential(State(state): State<Shared>, headers: HeaderMap) -> Response {
    answer(&state, &headers, "")
}

async fn named_credential(
    State(state): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(&state, &headers, &name.to_ascii_lowercase())
}

fn answer(state: &Shared, headers: &HeaderMap, path: &str) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(presented.as_bytes().ct_eq(state.auth.as_bytes())) {
        return problem(
            StatusCode::UNAUTHORIZED,
            "send Authorization: Bearer $AGENTWRIT_CREDENTIALS_AUTH",
        );
    }
    let Some(served) = state.served.iter().find(|s| s.path == path) else {
        return problem(StatusCode::NOT_FOUND, "no such credential");
    };
    let agent = &served.agent;
    if agent.is_released() {
        return problem(StatusCode::GONE, "the run's token has been released");
    }
    let now = SystemTime::now();
    if agent.expires_at() <= now {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the token expired and could not be renewed",
        );
    }
    // The moment this token stops working, and the time left until then.
    let expires_at = crate::run::effective_expiry(agent, served.renewed);
    let body = serde_json::json!({
        "access_token": agent.access_token().expose_secret(),
        "token_type": "Bearer",
        "expires_at": rfc3339(expires_at),
        "expires_in": seconds_until(expires_at, now),
        "agent_id": agent.agent_id(),
        "scope": agent.scope(),
    });
    json(StatusCode::OK, &body)
}

fn problem(status: StatusCode, detail: &str) -> Response {
    json(
        status,
        &serde_json::json!({ "status": status.as_u16(), "detail": detail }),
    )
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
