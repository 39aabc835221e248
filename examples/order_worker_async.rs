//! Sample app 1, the e-commerce order worker, on the async client
//! (reqwest + tokio). Same output as `order_worker`.
//!
//! One agent per order, scoped to exactly that customer and that order;
//! every action is gated with `agent.allows`; `App::with_agent` releases
//! the token however the work ends (an error, an early return, a panic),
//! and the released token is checked dead at the broker afterwards.
//!
//! ```text
//! cargo run --example order_worker_async -- --customer cust-7291 --order ord-4823
//! ```
//!
//! Uses the broker and app in `AGENTWRIT_BROKER_URL`,
//! `AGENTWRIT_CLIENT_ID` and `AGENTWRIT_CLIENT_SECRET` (`App::from_env()`),
//! or starts an embedded development broker when the URL is unset.

use std::process::ExitCode;

use agentwrit_async::{Agent, App, validate};
use agentwrit_examples::{DevApp, order_args, prefix, py_list};

#[tokio::main]
async fn main() -> ExitCode {
    let (customer, order) = match order_args() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match run(&customer, &order).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(customer: &str, order: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // The configured broker and app, or else an embedded development broker.
    let dev = DevApp::unless_configured()?;
    let app = match &dev {
        None => App::from_env()?,
        Some(dev) => App::new(dev.url(), dev.client_id(), dev.client_secret())?,
    };
    println!("Processing order {order} for customer {customer}");
    println!("{}", "=".repeat(55));
    println!();
    process_order(&app, customer, order).await
}

async fn process_order(
    app: &App,
    customer: &str,
    order: &str,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // Step 1: the agent's scope comes from the order being processed.
    let requested = [
        format!("read:data:customer-{customer}"),
        format!("write:data:order-{order}"),
    ];
    // Steps 2 and 3 run inside `with_agent`, which releases the agent when
    // the closure returns, fails or panics.
    let token = app
        .with_agent(
            "order-worker",
            &format!("process-{order}"),
            &requested,
            async |agent| {
                println!("Agent created: {}", agent.agent_id());
                println!("  Scope:   {}", py_list(&agent.scope()));
                println!("  Expires: {}s", agent.expires_in().as_secs());
                println!(
                    "  Token:   {}...",
                    prefix(agent.access_token().expose_secret(), 30)
                );
                println!();
                do_work(app, agent, customer, order).await?;
                Ok::<_, Box<dyn std::error::Error>>(agent.access_token())
            },
        )
        .await?;
    // Step 4: released by `with_agent` (a second release would send nothing).
    println!("Agent released. Token is now dead at the broker.");

    // Step 5: the released token is dead at the broker.
    let dead = validate(app.broker_url(), &token).await?;
    if dead.is_valid() {
        println!("WARNING: token is still valid after release!");
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "Confirmed: token rejected — \"{}\"",
        dead.error().unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

async fn do_work(
    app: &App,
    agent: &Agent,
    customer: &str,
    order: &str,
) -> Result<(), agentwrit_async::Error> {
    // Step 2: any service receiving the token can validate it.
    let validation = validate(app.broker_url(), &agent.access_token()).await?;
    let Some(claims) = validation.claims() else {
        println!("Token invalid: {}", validation.error().unwrap_or_default());
        return Ok(());
    };
    println!("Token is valid. Claims:");
    println!("  Issuer:  {}", claims.iss);
    println!("  Subject: {}", claims.sub);
    println!("  Scope:   {}", py_list(&claims.scope));
    println!(
        "  Task:    {}",
        claims.task_id.as_deref().unwrap_or_default()
    );
    println!(
        "  Orch:    {}",
        claims.orch_id.as_deref().unwrap_or_default()
    );
    println!("  JTI:     {}", claims.jti);
    println!();

    // Step 3: gate every action on the agent's scope.
    if agent.allows(&[format!("read:data:customer-{customer}")]) {
        println!("[READ] Customer profile for {customer}: John Doe, Premium tier");
    } else {
        println!("[DENIED] Cannot read customer {customer}");
    }
    if agent.allows(&[format!("write:data:order-{order}")]) {
        println!("[WRITE] Order {order} confirmed for customer {customer}");
    } else {
        println!("[DENIED] Cannot write order {order}");
    }
    if agent.allows(&["read:data:customer-cust-9999"]) {
        println!("[READ] Customer cust-9999: this should NOT happen");
    } else {
        println!("[BLOCKED] Cannot access customer cust-9999 — scope isolation working");
    }
    if agent.allows(&["write:data:order-ord-0000"]) {
        println!("[WRITE] Order ord-0000: this should NOT happen");
    } else {
        println!("[BLOCKED] Cannot write order ord-0000 — scope isolation working");
    }
    println!();
    Ok(())
}
