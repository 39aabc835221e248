//! The example MCP server records scope usage (`--record-usage DIR`), as
//! users run it: the built `mcp_server` binary on a development broker, the
//! built `mcp_agent` binary making allowed and refused tool calls through
//! it, the server stopped by a signal, and the JSON Lines it wrote read
//! back: one record per task token, with exactly the calls the agent made.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A directory under the target directory that does not exist yet (the
/// server creates it).
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mcp-usage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Every JSON line of every file in `dir`.
fn records(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            out.push(serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("{}:{}: not JSON ({e}): {line}", path.display(), n + 1)
            }));
        }
    }
    out
}

/// A record's scope checks: (scope, decision) → count.
fn uses(record: &Value) -> BTreeMap<(String, String), u64> {
    record["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                (
                    u["scope"].as_str().unwrap().to_owned(),
                    u["decision"].as_str().unwrap().to_owned(),
                ),
                u["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str, u64)]) -> BTreeMap<(String, String), u64> {
    list.iter()
        .map(|(s, d, n)| (((*s).to_owned(), (*d).to_owned()), *n))
        .collect()
}

/// The agents the agent printed (`  agent spiffe://...`), in task order.
fn agents(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  agent "))
        .map(str::to_owned)
        .collect()
}

fn the_records_hold_the_calls(signal: &str) {
    let env = common::env();
    let dir = scratch(signal);
    let server =
        common::Server::start(env.broker.url(), &["--record-usage", dir.to_str().unwrap()]);
    let output = common::run_agent(&env, &server);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let agents = agents(&stdout);
    assert_eq!(agents.len(), 2, "{stdout}");

    // Nothing is written while the tokens are alive and the server runs
    // (the records are written at expiry or shutdown) ...
    assert!(records(&dir).is_empty());
    // ... and everything when it is stopped.
    let (status, printed) = server.stop(signal);
    assert!(status.success(), "SIG{signal}: {status}\n{printed:?}");
    assert_eq!(
        printed.last().map(String::as_str),
        Some(format!("scope-usage records written to {}", dir.display()).as_str()),
        "{printed:?}"
    );

    let records = records(&dir);
    assert_eq!(records.len(), 2, "one record per task token: {records:#?}");
    let of = |task: &str| {
        records
            .iter()
            .find(|r| r["task_id"] == task)
            .unwrap_or_else(|| panic!("no record of task {task}: {records:#?}"))
    };

    // Task 1: two calls allowed, the other customer's profile denied with
    // the scope it lacked.
    let order = of("process-ord-4823");
    assert_eq!(
        uses(order),
        pairs(&[
            ("read:data:customer-cust-7291", "allowed", 1),
            ("write:data:order-ord-4823", "allowed", 1),
            ("read:data:customer-cust-9999", "denied", 1),
        ]),
        "{order:#}"
    );
    assert_eq!(
        order["granted"],
        serde_json::json!(["read:data:customer-cust-7291", "write:data:order-ord-4823"])
    );
    assert_eq!(order["sub"], agents[0].as_str());
    assert_eq!(order["orch_id"], "order-worker");

    // Task 2: its tenant's report allowed, another tenant's denied.
    let report = of("report-bank");
    assert_eq!(
        uses(report),
        pairs(&[
            ("read:analytics:bank", "allowed", 1),
            ("read:analytics:hospital", "denied", 1),
        ]),
        "{report:#}"
    );
    assert_eq!(
        report["granted"],
        serde_json::json!(["read:analytics:bank"])
    );
    assert_eq!(report["sub"], agents[1].as_str());
    assert_eq!(report["orch_id"], "report-builder");

    for record in [order, report] {
        assert_eq!(record["schema"], "agentwrit.usage/v1");
        assert_eq!(record["service"], "mcp_server");
        assert_eq!(record["reason"], "shutdown", "{record:#}");
        assert_eq!(record["seq"], 0);
        assert_eq!(record["delegation_depth"], 0);
        assert_eq!(record["checks_dropped"], 0);
        // Released after their last call, and never presented again.
        assert_eq!(record["refused"], serde_json::json!([]), "{record:#}");
        // Every accepted request counts (the session's set-up too); the
        // refused calls were accepted requests whose scope was denied.
        let checks: u64 = uses(record).values().sum();
        assert!(record["requests"].as_u64().unwrap() >= checks, "{record:#}");
        assert!(record["first_use"].is_string() && record["last_use"].is_string());
    }

    // No token in the records.
    let text: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(!text.contains("eyJ"), "a token in the records:\n{text}");

    assert_eq!(common::assert_no_live_token(&env, &[]), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_writes_the_usage_records_of_every_call() {
    the_records_hold_the_calls("TERM");
}

#[test]
fn ctrl_c_writes_the_usage_records_of_every_call() {
    the_records_hold_the_calls("INT");
}
