//! Sample app 2, the multi-tenant nightly data pipeline, on the async
//! client (reqwest + tokio), with the three tenants' pipelines run
//! concurrently and printed in order: one agent per tenant, each scoped to that tenant's analytics
//! and reports, released after its ETL run; then a cross-tenant check
//! proves a tenant's agent cannot touch another tenant's data.
//!
//! ```text
//! cargo run --example data_pipeline_async
//! ```

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use agentwrit_async::App;
use agentwrit_examples::{DevApp, TENANTS, Tenant, py_dict, py_list};

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
    // The configured broker and app, or else an embedded development broker.
    let dev = DevApp::unless_configured()?;
    let app = match &dev {
        None => App::from_env()?,
        Some(dev) => App::new(dev.url(), dev.client_id(), dev.client_secret())?,
    };
    println!("Nightly Analytics Pipeline");
    println!("{}", "=".repeat(55));
    println!();
    // The tenants run concurrently, one task each; their reports are
    // printed in tenant order.
    let runs: Vec<_> = TENANTS
        .iter()
        .map(|tenant| tokio::spawn(run_pipeline_for_tenant(app.clone(), tenant)))
        .collect();
    for run in runs {
        print!("{}", run.await??);
    }
    if !run_cross_tenant_check(&app).await? {
        return Ok(ExitCode::FAILURE);
    }
    println!();
    println!("Pipeline complete. All tenants processed with isolated scopes.");
    Ok(ExitCode::SUCCESS)
}

async fn run_pipeline_for_tenant(
    app: App,
    tenant: &'static Tenant,
) -> Result<String, agentwrit_async::Error> {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "── {} ({}) ──", tenant.name, tenant.id);
    let _ = writeln!(out, "  Data type: {}", tenant.data_type);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let task = format!("etl-{}-{now}", tenant.id);
    // The agent is released when `with_agent` returns, whatever happened.
    let report = app
        .with_agent(
            "nightly-pipeline",
            &task,
            &[tenant.read_scope, tenant.write_scope],
            async |agent| {
                let mut out = String::new();
                let _ = writeln!(out, "  Agent: {}", agent.agent_id());
                let _ = writeln!(out, "  Scope: {}", py_list(&agent.scope()));
                let _ = writeln!(out, "  Expires: {}s", agent.expires_in().as_secs());
                if !agent.allows(&[tenant.read_scope]) {
                    let _ = writeln!(out, "  [DENIED] Cannot read {} data", tenant.id);
                    return Ok(out);
                }
                let _ = writeln!(
                    out,
                    "  [EXTRACT] Pulled {}: {}",
                    tenant.data_type,
                    py_dict(tenant.data)
                );
                if !agent.allows(&[tenant.read_scope]) {
                    let _ = writeln!(out, "  [DENIED] Cannot transform — no read access");
                    return Ok(out);
                }
                let _ = writeln!(out, "  [TRANSFORM] Processed data for report");
                if !agent.allows(&[tenant.write_scope]) {
                    let _ = writeln!(out, "  [DENIED] Cannot write report for {}", tenant.id);
                    return Ok(out);
                }
                let _ = writeln!(
                    out,
                    "  [LOAD] Report written to reports/{}/latest.json",
                    tenant.id
                );
                Ok::<_, agentwrit_async::Error>(out)
            },
        )
        .await?;
    out.push_str(&report);
    let _ = writeln!(out, "  [RELEASE] Agent released for {}", tenant.id);
    let _ = writeln!(out);
    Ok(out)
}

async fn run_cross_tenant_check(app: &App) -> Result<bool, agentwrit_async::Error> {
    let [hospital, bank, retail] = &TENANTS;
    println!("── Cross-Tenant Isolation Test ──");
    println!();
    let agent = app
        .create_agent(
            "nightly-pipeline",
            "cross-tenant-test",
            &[hospital.read_scope, hospital.write_scope],
        )
        .await?
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
    agent.release().await?;
    println!();
    println!("Cross-tenant isolation verified.");
    Ok(true)
}
