//! Sample app 2, the multi-tenant nightly data pipeline, on the blocking
//! client: one agent per tenant, each scoped to that tenant's analytics
//! and reports, released after its ETL run; then a cross-tenant check
//! proves a tenant's agent cannot touch another tenant's data.
//!
//! ```text
//! cargo run --example data_pipeline
//! ```

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use agentwrit_blocking::App;
use agentwrit_examples::{DevApp, TENANTS, Tenant, py_dict, py_list};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    // The configured broker and app, or else an embedded development broker.
    let dev = DevApp::unless_configured()?;
    let app = match &dev {
        None => App::from_env()?,
        Some(dev) => App::new(dev.url(), dev.client_id(), dev.client_secret())?,
    };
    println!("Nightly Analytics Pipeline");
    println!("{}", "=".repeat(55));
    println!();
    for tenant in &TENANTS {
        run_pipeline_for_tenant(&app, tenant)?;
    }
    if !run_cross_tenant_check(&app)? {
        return Ok(ExitCode::FAILURE);
    }
    println!();
    println!("Pipeline complete. All tenants processed with isolated scopes.");
    Ok(ExitCode::SUCCESS)
}

fn run_pipeline_for_tenant(app: &App, tenant: &Tenant) -> Result<(), agentwrit_blocking::Error> {
    println!("── {} ({}) ──", tenant.name, tenant.id);
    println!("  Data type: {}", tenant.data_type);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let task = format!("etl-{}-{now}", tenant.id);
    // The agent is released when `with_agent` returns, whatever happened.
    app.with_agent(
        "nightly-pipeline",
        &task,
        &[tenant.read_scope, tenant.write_scope],
        |agent| {
            println!("  Agent: {}", agent.agent_id());
            println!("  Scope: {}", py_list(&agent.scope()));
            println!("  Expires: {}s", agent.expires_in().as_secs());
            // Extract.
            if !agent.allows(&[tenant.read_scope]) {
                println!("  [DENIED] Cannot read {} data", tenant.id);
                return Ok(());
            }
            println!(
                "  [EXTRACT] Pulled {}: {}",
                tenant.data_type,
                py_dict(tenant.data)
            );
            // Transform (still needs read scope).
            if !agent.allows(&[tenant.read_scope]) {
                println!("  [DENIED] Cannot transform — no read access");
                return Ok(());
            }
            println!("  [TRANSFORM] Processed data for report");
            // Load.
            if !agent.allows(&[tenant.write_scope]) {
                println!("  [DENIED] Cannot write report for {}", tenant.id);
                return Ok(());
            }
            println!(
                "  [LOAD] Report written to reports/{}/latest.json",
                tenant.id
            );
            Ok::<_, agentwrit_blocking::Error>(())
        },
    )?;
    println!("  [RELEASE] Agent released for {}", tenant.id);
    println!();
    Ok(())
}

fn run_cross_tenant_check(app: &App) -> Result<bool, agentwrit_blocking::Error> {
    let [hospital, bank, retail] = &TENANTS;
    println!("── Cross-Tenant Isolation Test ──");
    println!();
    let agent = app
        .create_agent(
            "nightly-pipeline",
            "cross-tenant-test",
            &[hospital.read_scope, hospital.write_scope],
        )?
        .release_on_drop();
    let held = agent.scope();
    println!("Hospital agent scope: {}", py_list(&held));
    println!();

    let bank_read = [bank.read_scope];
    if agent.allows(&bank_read) {
        println!("  FAIL: Hospital agent can read bank data!");
        return Ok(false);
    }
    println!("  [BLOCKED] Hospital agent cannot read bank data");
    println!("    Required: {}", py_list(&bank_read));
    println!("    Held:     {}", py_list(&held));

    let retail_write = [retail.write_scope];
    if agent.allows(&retail_write) {
        println!("  FAIL: Hospital agent can write retail reports!");
        return Ok(false);
    }
    println!("  [BLOCKED] Hospital agent cannot write retail reports");
    println!("    Required: {}", py_list(&retail_write));
    println!("    Held:     {}", py_list(&held));

    if !agent.allows(&[hospital.read_scope]) {
        println!("  FAIL: Hospital agent cannot read its own data!");
        return Ok(false);
    }
    println!("  [ALLOWED] Hospital agent can read its own data ✓");
    agent.release()?;
    println!();
    println!("Cross-tenant isolation verified.");
    Ok(true)
}
