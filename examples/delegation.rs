//! Delegation down a two-hop chain: an orchestrator hands a researcher a
//! narrower scope, and the researcher hands a summarizer a narrower one
//! still. Each hop is validated at the broker; widening is refused with
//! the broker's RFC 7807 problem (matched as `Error::Authorization`);
//! ending the orchestrator's task releases the whole chain.
//!
//! ```text
//! cargo run --example delegation
//! ```

use std::process::ExitCode;

use std::time::Duration;

use agentwrit_blocking::{App, DelegatedToken, Error, validate};
use agentwrit_examples::{DevApp, py_list};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The configured broker and app, or else an embedded development broker.
    let dev = DevApp::unless_configured()?;
    let app = match &dev {
        None => App::from_env()?,
        Some(dev) => App::new(dev.url(), dev.client_id(), dev.client_secret())?,
    };
    println!("Delegation chain: orchestrator → researcher → summarizer");
    println!("{}", "=".repeat(55));
    println!();

    // Three registered agents; only the orchestrator holds broad scope.
    // Each guard ends its agent's task when dropped, on every path.
    let orchestrator = app
        .create_agent(
            "research-orch",
            "quarterly-review",
            &["read:data:*", "write:reports:*"],
        )?
        .release_on_drop();
    let researcher = app
        .create_agent("research-orch", "research", &["read:data:none"])?
        .release_on_drop();
    let summarizer = app
        .create_agent("research-orch", "summarize", &["read:data:none"])?
        .release_on_drop();
    println!("Orchestrator: {}", orchestrator.agent_id());
    println!("  Scope: {}", py_list(&orchestrator.scope()));
    println!();

    // Hop 1: the orchestrator delegates read access to two customers.
    let hop1 = orchestrator.delegate(
        &researcher.agent_id(),
        &["read:data:customer-7291", "read:data:customer-8310"],
        Some(Duration::from_secs(120)),
    )?;
    show_hop(&app, 1, &hop1)?;

    // Hop 2: the researcher passes on one customer only.
    let hop2 = hop1.delegate(
        &summarizer.agent_id(),
        &["read:data:customer-7291"],
        Some(Duration::from_secs(60)),
    )?;
    show_hop(&app, 2, &hop2)?;

    // Widening is refused by the broker: a 403 with its RFC 7807 problem.
    match hop2.delegate(&researcher.agent_id(), &["read:data:*"], None) {
        Err(Error::Authorization { problem, .. }) => {
            println!("[BLOCKED] Summarizer cannot widen to read:data:*");
            println!(
                "  {} {} ({}): {}",
                problem.status,
                problem.title,
                problem
                    .error_code
                    .as_ref()
                    .map(|c| c.as_str())
                    .unwrap_or_default(),
                problem.detail
            );
        }
        Err(other) => return Err(other.into()),
        Ok(_) => return Err("the broker let a delegate widen its scope".into()),
    }
    println!();

    // Ending the orchestrator's task releases the tokens it delegated (and
    // those delegated onwards from them), then the orchestrator itself.
    orchestrator.release_task()?;
    let dead = validate(app.broker_url(), &hop2.access_token())?;
    println!("Chain released. Hop 2 token valid: {}", dead.is_valid());
    Ok(())
}

fn show_hop(app: &App, n: usize, token: &DelegatedToken) -> Result<(), Error> {
    let validation = validate(app.broker_url(), &token.access_token())?;
    let claims = validation
        .claims()
        .ok_or_else(|| Error::invalid_input("delegated token", "the broker rejected it"))?;
    println!("Hop {n}: delegated to {}", token.subject());
    println!("  Scope:   {}", py_list(&claims.scope));
    println!("  Expires: {}s", token.expires_in().as_secs());
    let chain: Vec<&str> = token
        .delegation_chain()
        .iter()
        .map(|r| r.agent.as_str())
        .collect();
    println!("  Chain:   {}", py_list(&chain));
    println!("  Valid:   {}", validation.is_valid());
    println!();
    Ok(())
}
