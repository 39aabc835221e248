//! A downstream service on axum: it receives agents' bearer tokens and
//! lets `agentwrit-tower` do the rest. The layer validates each token at
//! the broker (pooled connection, no app credentials needed) and puts the
//! verified claims in the request; each route names the scope it needs as
//! a template filled from its path (`read:data:customer-{id}`).
//!
//! The example starts the service on a loopback port, creates an agent
//! scoped to one customer and one order, and calls the service as that
//! agent: allowed, blocked, and after release, rejected.
//!
//! ```text
//! cargo run --example downstream_service
//! ```

use std::process::ExitCode;
use std::time::Duration;

use agentwrit_async::App;
use agentwrit_examples::DevApp;
use agentwrit_tower::{AgentAuth, AgentClaims, RequireScopes};
use axum::Router;
use axum::routing::{get, post};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The whole service: two routes, each with the scope it needs, behind
/// the authentication layer.
fn service(auth: &AgentAuth) -> Router {
    async fn ok_for(claims: AgentClaims) -> String {
        format!("ok for {}", claims.sub())
    }
    Router::new()
        .route(
            "/customers/{id}",
            get(ok_for).route_layer(RequireScopes::new(&["read:data:customer-{id}"])),
        )
        .route(
            "/orders/{id}",
            post(ok_for).route_layer(RequireScopes::new(&["write:data:order-{id}"])),
        )
        .layer(auth.layer())
}

/// Calls the service; prints the body, or the problem's detail for a
/// rejection.
async fn call(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    bearer: &str,
) -> Result<(u16, String), Box<dyn std::error::Error>> {
    let url = format!("{base}{path}");
    let request = match method {
        "POST" => client.post(url),
        _ => client.get(url),
    };
    let response = request.header("authorization", bearer).send().await?;
    let status = response.status().as_u16();
    let is_problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/problem+json");
    let body = response.text().await?;
    if is_problem {
        let problem: serde_json::Value = serde_json::from_str(&body)?;
        return Ok((status, problem["detail"].as_str().unwrap_or("").to_owned()));
    }
    Ok((status, body))
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dev = DevApp::unless_configured()?;
    let app = match &dev {
        None => App::from_env()?,
        Some(dev) => App::new(dev.url(), dev.client_id(), dev.client_secret())?,
    };
    // A real service keeps verdicts a few seconds (the default, 5 s): a
    // released token is refused at most that long after. The example turns
    // the cache off so that the release shows on the very next request.
    let auth = AgentAuth::broker(app.broker_url())
        .max_staleness(Duration::ZERO)
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let service_url = format!("http://{}", listener.local_addr()?);
    let app_router = service(&auth);
    tokio::spawn(async move { axum::serve(listener, app_router).await });
    println!("Downstream service on {service_url}, validating at the broker");
    println!("{}", "=".repeat(55));
    println!();

    let agent = app
        .create_agent(
            "order-worker",
            "process-ord-4823",
            &["read:data:customer-cust-7291", "write:data:order-ord-4823"],
        )
        .await?
        .release_on_drop();
    let bearer = agent.bearer_header_value()?;
    let bearer = bearer.to_str()?;
    let client = reqwest::Client::new();
    let requests = [
        ("GET", "/customers/cust-7291"),
        ("POST", "/orders/ord-4823"),
        ("GET", "/customers/cust-9999"),
        ("POST", "/orders/ord-0000"),
    ];
    for (method, path) in requests {
        let (status, body) = call(&client, &service_url, method, path, bearer).await?;
        println!("{method:<4} {path:<22} → {status} {body}");
    }
    agent.release().await?;
    let (status, body) = call(&client, &service_url, "GET", "/customers/cust-7291", bearer).await?;
    println!(
        "{:<4} {:<22} → {status} {body}   (after release)",
        "GET", "/customers/cust-7291"
    );
    if status != 401 {
        return Err("a released token was accepted".into());
    }
    Ok(())
}
