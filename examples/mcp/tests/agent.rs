//! The MCP agent example end to end, as users run it: the built
//! `mcp_server` binary against a development broker, the built `mcp_agent`
//! binary against both. It must print an allowed call and a refused
//! cross-customer call per task, exit 0, and leave no live token (the
//! broker's audit trail says so).

mod common;

use std::process::Command;

#[test]
fn the_agent_calls_its_tools_is_refused_across_customers_and_releases_every_token() {
    let env = common::env();
    let server = common::Server::start(env.broker.url(), &[]);
    let output = common::run_agent(&env, &server);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    for line in [
        "== task process-ord-4823: order ord-4823 for customer cust-7291 ==",
        "  tools on the server: get_customer_profile, tenant_report, write_order",
        "  [READ]    Customer profile for cust-7291: John Doe, Premium tier",
        "  [WRITE]   Order ord-4823 confirmed for customer cust-7291",
        r#"  [BLOCKED] get_customer_profile({"customer_id":"cust-9999"}): 403 insufficient_scope, needs read:data:customer-cust-9999"#,
        "  [DEAD]    the broker reports the released token invalid",
        "== task report-bank: analytics report for tenant bank ==",
        r#"  [BLOCKED] tenant_report({"tenant":"hospital"}): 403 insufficient_scope, needs read:analytics:hospital"#,
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{stdout}"
        );
    }
    assert!(
        stdout.contains("  [REPORT]  First National Bank (bank): "),
        "{stdout}"
    );
    assert_eq!(stdout.matches("[RELEASE]").count(), 2, "{stdout}");
    // The scopes each task asked for, and nothing more.
    assert!(
        stdout.contains(r#"scope ["read:data:customer-cust-7291", "write:data:order-ord-4823"]"#)
    );
    assert!(stdout.contains(r#"scope ["read:analytics:bank"]"#));
    // No secret in what it printed.
    assert!(!stdout.contains(env.reg.client_secret.expose_secret()));
    assert!(!stdout.contains("eyJ"), "a token was printed:\n{stdout}");
    drop(server);
    assert_eq!(
        common::assert_no_live_token(&env, &[]),
        2,
        "two tasks, two agents"
    );
}

#[test]
fn the_agent_runs_with_nothing_configured() {
    // No broker, no server: the agent starts both in its own process.
    let output = Command::new(env!("CARGO_BIN_EXE_mcp_agent"))
        .env_remove("AGENTWRIT_BROKER_URL")
        .env_remove("AGENTWRIT_MCP_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches("[BLOCKED]").count(), 2, "{stdout}");
}
