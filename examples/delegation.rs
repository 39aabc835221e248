//! Delegation down a two-hop chain: an orchestrator hands a researcher a
//! narrower scope, and the researcher hands a summarizer a narrower one
//! still. Each hop is validated at the broker; widening is refused with
//! the broker's RFC 7807 problem; releasing ends it all.
//!
//! ```text
//! cargo run --example delegation
//! ```

use std::process::ExitCode;

use agentwrit_blocking::{App, DelegatedToken, validate};
use agentwrit_examples::{broker, py_list};

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
    let broker = broker()?;
    let app = App::new(
        &broker.url,
        &broker.client_id,
        broker.client_secret.as_str(),
    )?;
    println!("Delegation chain: orchestrator → researcher → summarizer");
    println!("{}", "=".repeat(55));
    println!();

    // Three registered agents; only the orchestrator holds broad scope.
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
        Some(120),
    )?;
    show_hop(&app, 1, &hop1)?;

    // Hop 2: the researcher passes on one customer only.
    let hop2 = hop1.delegate(
        &summarizer.agent_id(),
        &["read:data:customer-7291"],
        Some(60),
    )?;
    show_hop(&app, 2, &hop2)?;

    // Widening is refused by the broker.
    match hop2.delegate(&researcher.agent_id(), &["read:data:*"], None) {
        Ok(_) => return Err("the broker let a delegate widen its scope".into()),
        Err(e) => {
            let p = e.problem().ok_or("expected a broker problem")?;
            println!("[BLOCKED] Summarizer cannot widen to read:data:*");
            println!(
                "  {} {} ({}): {}",
                p.status,
                p.title,
                p.error_code
                    .as_ref()
                    .map(|c| c.as_str())
                    .unwrap_or_default(),
                p.detail
            );
        }
    }
    println!();

    // Releasing the delegated tokens and the agents ends the chain.
    hop2.release()?;
    hop1.release()?;
    orchestrator.release()?;
    let dead = validate(app.broker_url(), hop2.access_token.expose_secret())?;
    println!("Chain released. Hop 2 token valid: {}", dead.is_valid());
    Ok(())
}

fn show_hop(app: &App, n: usize, token: &DelegatedToken) -> Result<(), agentwrit_blocking::Error> {
    let validation = validate(app.broker_url(), token.access_token.expose_secret())?;
    let claims = validation.claims().ok_or_else(|| {
        agentwrit_blocking::core::Error::invalid_input("delegated token", "the broker rejected it")
    })?;
    println!("Hop {n}: delegated to {}", token.subject());
    println!("  Scope:   {}", py_list(&claims.scope));
    println!("  Expires: {}s", token.expires_in);
    let chain: Vec<&str> = token
        .delegation_chain
        .iter()
        .map(|r| r.agent.as_str())
        .collect();
    println!("  Chain:   {}", py_list(&chain));
    println!("  Valid:   {}", validation.is_valid());
    println!();
    Ok(())
}
