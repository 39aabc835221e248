//! The service-side rows: the same axum route as agentwrit-tower's
//! `service` bench, served by hyper on a current-thread runtime in this
//! process, driven by `cost load` in a child process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentwrit_tower::usage::{JsonlSink, Recorder};
use agentwrit_tower::{AgentAuth, BrokerKey, RequireScopes};
use axum::Router;
use axum::routing::get;

use super::{Plan, Window, threads_cpu_time};

/// The path every row serves.
pub(super) const PATH: &str = "/customers/7291";

fn route() -> Router {
    Router::new().route(
        "/customers/{id}",
        get(|| async { "customer 7291: John Doe, Premium tier" }),
    )
}

fn protected(auth: &AgentAuth) -> Router {
    Router::new()
        .route(
            "/customers/{id}",
            get(|| async { "customer 7291: John Doe, Premium tier" })
                .route_layer(RequireScopes::new(&["read:data:customer-{id}"])),
        )
        .layer(auth.layer())
}

/// Runs `cost load` for `count` requests and waits for it (on a
/// blocking thread: std's child handling, which Valgrind supports).
async fn drive(addr: &str, count: usize, bearer: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .args(["load", addr, &count.to_string(), bearer])
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cost load: {e}"))?;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cost load: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cost load failed with {status}"))
    }
}

pub(super) fn measure(plan: &Plan) -> Result<Window, String> {
    // The broker only answers the warm-up's validate (broker mode):
    // an in-process development broker, idle while the requests are
    // measured.
    let broker = agentwrit_devbroker::DevBroker::builder()
        .no_rate_limits()
        .start()
        .map_err(|e| e.to_string())?;
    let reg = broker
        .register_app("cost", &["read:data:*"], None)
        .map_err(|e| e.to_string())?;
    let app = agentwrit_blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.clone())
        .map_err(|e| e.to_string())?;
    let agent = app
        .create_agent("cost", "service", &["read:data:customer-7291"])
        .map_err(|e| e.to_string())?;
    let token = agent.access_token();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // Cached verdicts must outlive the run (callgrind is ~50× slower).
    let hour = Duration::from_secs(3600);
    // The usage row records into JSON Lines files in a scratch
    // directory (written at shutdown, after the measured window).
    let usage_dir =
        std::env::temp_dir().join(format!("agentwrit-cost-usage-{}", std::process::id()));
    let recorder = if plan.row == "service-warm-usage" {
        let sink = JsonlSink::dir(&usage_dir).map_err(|e| e.to_string())?;
        let recorder = Recorder::builder().service_name("cost").sink(sink).build();
        Some(recorder.map_err(|e| e.to_string())?)
    } else {
        None
    };
    let router = match plan.row.as_str() {
        "service-unprotected" => route(),
        "service-warm" | "service-warm-usage" => {
            let auth = rt.block_on(async {
                let builder = AgentAuth::broker(broker.url()).max_staleness(hour);
                match &recorder {
                    Some(recorder) => builder.record_usage(recorder.clone()).build(),
                    None => builder.build(),
                }
            });
            protected(&auth.map_err(|e| e.to_string())?)
        }
        _ => {
            let key = BrokerKey::from_bytes(broker.public_key()).map_err(|e| e.to_string())?;
            let auth = AgentAuth::local([key]).max_staleness(hour).build();
            protected(&auth.map_err(|e| e.to_string())?)
        }
    };
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .to_string();
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let bearer = token.expose_secret();
        // Each batch is one child process, one connection: the
        // connection's accept and teardown land in the warm-up and
        // in the measured window alike, once each.
        drive(&addr, plan.warmup.max(1), bearer).await?;
        let (cpu0, wall0) = (threads_cpu_time(), Instant::now());
        if plan.ops > 0 {
            drive(&addr, plan.ops, bearer).await?;
        }
        let cpu = threads_cpu_time()
            .zip(cpu0)
            .map(|(after, before)| after.saturating_sub(before));
        let wall = wall0.elapsed();
        server.abort();
        Ok::<_, String>(Window { cpu, wall })
    })
    .and_then(|window| {
        if let Some(recorder) = recorder {
            recorder.shutdown().map_err(|e| e.to_string())?;
            let _ = std::fs::remove_dir_all(&usage_dir);
        }
        Ok(window)
    })
}
