//! `--serve`: the current token on a loopback port, to requests carrying
//! the run's secret.

use std::net::SocketAddr;
use std::time::SystemTime;

use agentwrit_async::Agent;
use agentwrit_async::wire::Timestamp;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::CliError;

/// The running endpoint.
pub struct Endpoint {
    /// `http://127.0.0.1:PORT/`, for `AGENTWRIT_CREDENTIALS_URL`.
    pub url: String,
    /// The run's secret, for `AGENTWRIT_CREDENTIALS_AUTH`.
    pub auth: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct Served {
    agent: Agent,
    auth: String,
}

/// Starts serving `agent`'s current token on `127.0.0.1:0`.
pub async fn start(agent: Agent) -> Result<Endpoint, CliError> {
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
        .route("/", get(credentials))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "not found") })
        .with_state(Served {
            agent,
            auth: auth.clone(),
        });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = server.await {
            eprintln!("agentwrit: the credential endpoint failed: {e}");
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

async fn credentials(State(served): State<Served>, headers: HeaderMap) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(presented.as_bytes().ct_eq(served.auth.as_bytes())) {
        return problem(
            StatusCode::UNAUTHORIZED,
            "send Authorization: Bearer $AGENTWRIT_CREDENTIALS_AUTH",
        );
    }
    let agent = &served.agent;
    if agent.is_released() {
        return problem(StatusCode::GONE, "the run's token has been released");
    }
    let expires_at = agent.expires_at();
    if expires_at <= SystemTime::now() {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the token expired and could not be renewed",
        );
    }
    let expires_unix = expires_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let body = serde_json::json!({
        "access_token": agent.access_token().expose_secret(),
        "token_type": "Bearer",
        "expires_at": Timestamp::from_unix_seconds(i64::try_from(expires_unix).unwrap_or(i64::MAX)).as_str(),
        "expires_in": agent.expires_in().as_secs(),
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
