//! `cargo run -p agentwrit-medassist [-- --port N]`: MedAssist on
//! 127.0.0.1, an embedded development broker unless
//! `AGENTWRIT_BROKER_URL` is set, the offline planner unless
//! `LLM_BASE_URL` or `LLM_API_KEY` is set.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use agentwrit_demo_kit::{OpenAiPlanner, Planner, parse_port};
use agentwrit_medassist::{OfflinePlanner, broker_from_env, serve};

const USAGE: &str = "usage: agentwrit-medassist [--port N]   (default: a free port)

environment:
  AGENTWRIT_BROKER_URL     use this broker instead of an embedded development broker, with
  AGENTWRIT_CLIENT_ID      ... an existing app's credentials, or
  AGENTWRIT_CLIENT_SECRET
  AGENTWRIT_ADMIN_SECRET   ... the admin secret (registers a MedAssist app; enables the audit tab)
  LLM_BASE_URL, LLM_API_KEY, LLM_MODEL
                           plan with an OpenAI-compatible chat-completions endpoint
                           instead of the offline planner
  MEDASSIST_LOG            log level on stderr (default warn)";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let port = match parse_port(&args) {
        Ok(port) => port,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // MEDASSIST_LOG=debug (or trace, info, ...) for more than warnings.
    let level = std::env::var("MEDASSIST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::WARN);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    let planner: Arc<dyn Planner> = match OpenAiPlanner::from_env() {
        None => Arc::new(OfflinePlanner),
        Some(Ok(llm)) => Arc::new(llm),
        Some(Err(error)) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let broker = match broker_from_env().await {
        Ok(broker) => broker,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let server = match serve(&broker, Arc::clone(&planner), addr).await {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("MedAssist: {}", broker.describe());
    println!("MedAssist: planner {}", planner.name());
    println!("MedAssist: open {}", server.url());
    tokio::select! {
        result = server.wait() => {
            if let Err(error) = result {
                eprintln!("error: {error}");
                return ExitCode::FAILURE;
            }
        }
        _ = tokio::signal::ctrl_c() => {}
    }
    ExitCode::SUCCESS
}
