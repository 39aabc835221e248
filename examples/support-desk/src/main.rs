//! `cargo run -p agentwrit-support-desk [-- --port N]`: the support-ticket
//! pipeline demo on an embedded development broker (or the broker in
//! `AGENTWRIT_BROKER_URL`), with the offline planner (or the LLM in
//! `LLM_BASE_URL` / `LLM_API_KEY` / `LLM_MODEL`).

use std::process::ExitCode;
use std::sync::Arc;

use agentwrit_demo_kit::{BrokerSetup, OpenAiPlanner, Planner, bind_loopback, parse_port, serve};
use agentwrit_support_desk::{Desk, DeskConfig, OfflinePlanner, data};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("support-desk: {error}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "\
usage: agentwrit-support-desk [--port N]      (default: a free port on 127.0.0.1)

environment (all optional):
  AGENTWRIT_BROKER_URL     a broker to use instead of the embedded one, with either
  AGENTWRIT_CLIENT_ID      + AGENTWRIT_CLIENT_SECRET: the app to use, or
  AGENTWRIT_ADMIN_SECRET   the operator secret: the desk registers its own app
  LLM_BASE_URL, LLM_API_KEY, LLM_MODEL
                           plan with an OpenAI-compatible chat-completions endpoint
                           instead of the offline planner";

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let port = parse_port(&args).map_err(|e| format!("{e}\n{USAGE}"))?;
    let planner: Arc<dyn Planner> = match OpenAiPlanner::from_env() {
        Some(llm) => Arc::new(llm?),
        None => Arc::new(OfflinePlanner),
    };
    let setup = BrokerSetup::from_env_or_embedded("support-desk", &data::CEILING).await?;
    let broker = setup.describe();
    let desk = Desk::new(setup, Arc::clone(&planner), DeskConfig::default());
    let listener = bind_loopback(port).await?;
    let addr = listener.local_addr()?;
    println!("AgentWrit support desk");
    println!("  broker:  {broker}");
    println!("  planner: {}", planner.name());
    println!("  open http://{addr}/   (Ctrl-C to stop)");
    serve(listener, desk.router()).await?;
    Ok(())
}
