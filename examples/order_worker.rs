//! Sample app 1, the e-commerce order worker, on the blocking client.
//!
//! One agent per order, scoped to exactly that customer and that order;
//! every action is gated with `scope_is_subset`; the token is released
//! however the work ends, and checked dead at the broker afterwards.
//!
//! ```text
//! cargo run --example order_worker -- --customer cust-7291 --order ord-4823
//! ```
//!
//! Uses the broker in `AGENTWRIT_BROKER_URL` (with `AGENTWRIT_CLIENT_ID`
//! and `AGENTWRIT_CLIENT_SECRET`), or starts an embedded development
//! broker when it is unset.

use std::process::ExitCode;

use agentwrit_blocking::{Agent, App, Error, scope_is_subset, validate};
use agentwrit_examples::{broker, order_args, prefix, py_list};

fn main() -> ExitCode {
    let (customer, order) = match order_args() {
        Ok(args) => args,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match run(&customer, &order) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(customer: &str, order: &str) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let broker = broker()?;
    let app = App::new(
        &broker.url,
        &broker.client_id,
        broker.client_secret.as_str(),
    )?;
    println!("Processing order {order} for customer {customer}");
    println!("{}", "=".repeat(55));
    println!();
    process_order(&app, customer, order)
}

fn process_order(
    app: &App,
    customer: &str,
    order: &str,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    // Step 1: the agent's scope comes from the order being processed.
    let requested = [
        format!("read:data:customer-{customer}"),
        format!("write:data:order-{order}"),
    ];
    let agent = app.create_agent("order-worker", &format!("process-{order}"), &requested)?;
    println!("Agent created: {}", agent.agent_id());
    println!("  Scope:   {}", py_list(&agent.scope()));
    println!("  Expires: {}s", agent.expires_in());
    println!(
        "  Token:   {}...",
        prefix(agent.access_token().expose_secret(), 30)
    );
    println!();

    // Steps 2 and 3, with the release guaranteed whatever happens in them.
    let token = agent.access_token();
    let worked = do_work(app, &agent, customer, order);
    // Step 4: release (a second release would send nothing).
    agent.release()?;
    println!("Agent released. Token is now dead at the broker.");
    worked?;

    // Step 5: the released token is dead at the broker.
    let dead = validate(app.broker_url(), token.expose_secret())?;
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

fn do_work(app: &App, agent: &Agent, customer: &str, order: &str) -> Result<(), Error> {
    // Step 2: any service receiving the token can validate it.
    let validation = validate(app.broker_url(), agent.access_token().expose_secret())?;
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
    let held = agent.scope();
    if scope_is_subset(&[format!("read:data:customer-{customer}")], &held) {
        println!("[READ] Customer profile for {customer}: John Doe, Premium tier");
    } else {
        println!("[DENIED] Cannot read customer {customer}");
    }
    if scope_is_subset(&[format!("write:data:order-{order}")], &held) {
        println!("[WRITE] Order {order} confirmed for customer {customer}");
    } else {
        println!("[DENIED] Cannot write order {order}");
    }
    if scope_is_subset(&["read:data:customer-cust-9999"], &held) {
        println!("[READ] Customer cust-9999: this should NOT happen");
    } else {
        println!("[BLOCKED] Cannot access customer cust-9999 — scope isolation working");
    }
    if scope_is_subset(&["write:data:order-ord-0000"], &held) {
        println!("[WRITE] Order ord-0000: this should NOT happen");
    } else {
        println!("[BLOCKED] Cannot write order ord-0000 — scope isolation working");
    }
    println!();
    Ok(())
}
