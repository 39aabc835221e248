//! Runs every example against an embedded development broker and checks
//! its output, line for line, against the sample apps' expected shape.
//! Ids, tokens, jtis, timestamps and ports naturally differ: templates
//! mark them with placeholders.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The examples, built once per test run next to this test binary.
///
/// `cargo test --all-targets` builds examples as test harnesses (with a
/// hash in their names), and a plain `cargo test -p` may not build them at
/// all, so the first test that needs one runs `cargo build --workspace
/// --examples` into the same target directory and profile as this test
/// binary.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut profile_dir: PathBuf = std::env::current_exe().unwrap();
        profile_dir.pop(); // the test binary
        if profile_dir.ends_with("deps") {
            profile_dir.pop();
        }
        let profile = profile_dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let target_dir = profile_dir.parent().unwrap();
        // Without the variables cargo set for this test (see
        // `nested_cargo`): the build then finds everything up to date.
        let mut build = agentwrit_test_support::nested_cargo();
        build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            // `--workspace`: the features the whole workspace's debug
            // build resolves (`cargo xtask test` builds the examples so
            // before the tests), so this finds them up to date instead of
            // compiling their tree again with this package's features
            // alone.
            .args(["build", "--quiet", "--workspace", "--examples"])
            .arg("--target-dir")
            .arg(target_dir);
        match profile.as_str() {
            "debug" => {}
            "release" => {
                build.arg("--release");
            }
            other => {
                build.args(["--profile", other]);
            }
        }
        let status = build.status().unwrap();
        assert!(status.success(), "cargo build --examples failed: {status}");
        profile_dir.join("examples")
    })
}

/// An example binary, with the broker variables removed from its
/// environment so that it starts its embedded development broker.
fn example(name: &str) -> Command {
    let path = examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} was not built", path.display());
    let mut cmd = Command::new(path);
    for var in [
        "AGENTWRIT_BROKER_URL",
        "AGENTWRIT_CLIENT_ID",
        "AGENTWRIT_CLIENT_SECRET",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Whether `line` matches `template`, where `{hex16}`, `{hex32}`,
/// `{digits}`, `{jwt30}` and `{any}` stand for what varies.
fn matches(template: &str, line: &str) -> bool {
    let Some(start) = template.find('{').filter(|&i| {
        ["{hex16}", "{hex32}", "{digits}", "{jwt30}", "{any}"]
            .iter()
            .any(|p| template[i..].starts_with(p))
    }) else {
        return template == line;
    };
    let (literal, rest) = template.split_at(start);
    let Some(line) = line.strip_prefix(literal) else {
        return false;
    };
    let end = rest.find('}').unwrap() + 1;
    let (placeholder, template) = rest.split_at(end);
    let class: fn(&str) -> Option<usize> = match placeholder {
        "{hex16}" => {
            |s| (s.len() >= 16 && s[..16].bytes().all(|b| b.is_ascii_hexdigit())).then_some(16)
        }
        "{hex32}" => {
            |s| (s.len() >= 32 && s[..32].bytes().all(|b| b.is_ascii_hexdigit())).then_some(32)
        }
        "{jwt30}" => {
            |s| (s.len() >= 30 && s.starts_with("eyJ") && s.is_char_boundary(30)).then_some(30)
        }
        "{digits}" => |s| Some(s.bytes().take_while(u8::is_ascii_digit).count()).filter(|n| *n > 0),
        _ => {
            return (0..=line.len())
                .filter(|i| line.is_char_boundary(*i))
                .any(|i| matches(template, &line[i..]));
        }
    };
    class(line).is_some_and(|n| matches(template, &line[n..]))
}

fn check(name: &str, args: &[&str], expected: &str) {
    let out = example(name).args(args).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{name} failed: {stderr}\n{stdout}");
    assert!(
        stderr.lines().count() == 1 && stderr.contains("embedded development broker"),
        "{name}: one line about the embedded broker, got {stderr:?}"
    );
    let got: Vec<&str> = stdout.lines().collect();
    let want: Vec<&str> = expected.lines().collect();
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert!(
            matches(w, g),
            "{name} line {}:\n  want {w:?}\n  got  {g:?}\n\n{stdout}",
            i + 1
        );
    }
    assert_eq!(got.len(), want.len(), "{name}: line count\n{stdout}");
}

const ORDER_WORKER: &str = "\
Processing order ord-4823 for customer cust-7291
=======================================================

Agent created: spiffe://agentwrit.local/agent/order-worker/process-ord-4823/{hex16}
  Scope:   ['read:data:customer-cust-7291', 'write:data:order-ord-4823']
  Expires: 300s
  Token:   {jwt30}...

Token is valid. Claims:
  Issuer:  agentwrit
  Subject: spiffe://agentwrit.local/agent/order-worker/process-ord-4823/{hex16}
  Scope:   ['read:data:customer-cust-7291', 'write:data:order-ord-4823']
  Task:    process-ord-4823
  Orch:    order-worker
  JTI:     {hex32}

[READ] Customer profile for cust-7291: John Doe, Premium tier
[WRITE] Order ord-4823 confirmed for customer cust-7291
[BLOCKED] Cannot access customer cust-9999 — scope isolation working
[BLOCKED] Cannot write order ord-0000 — scope isolation working

Agent released. Token is now dead at the broker.
Confirmed: token rejected — \"token is invalid or expired\"
";

fn tenant(name: &str, id: &str, kind: &str, data: &str) -> String {
    format!(
        "── {name} ({id}) ──
  Data type: {kind}
  Agent: spiffe://agentwrit.local/agent/nightly-pipeline/etl-{id}-{{digits}}/{{hex16}}
  Scope: ['read:analytics:{id}', 'write:reports:{id}']
  Expires: 300s
  [EXTRACT] Pulled {kind}: {data}
  [TRANSFORM] Processed data for report
  [LOAD] Report written to reports/{id}/latest.json
  [RELEASE] Agent released for {id}

"
    )
}

fn data_pipeline() -> String {
    let mut s = String::from(
        "Nightly Analytics Pipeline\n=======================================================\n\n",
    );
    s += &tenant(
        "Metro Health System",
        "hospital",
        "patient analytics",
        "{'patient_visits': '12,847', 'avg_stay': '3.2 days', 'readmit_rate': '4.1%'}",
    );
    s += &tenant(
        "First National Bank",
        "bank",
        "financial analytics",
        "{'transactions': '2.4M', 'avg_balance': '$8,420', 'fraud_rate': '0.02%'}",
    );
    s += &tenant(
        "ShopWave Corp",
        "retail",
        "sales analytics",
        "{'orders': '847K', 'avg_order': '$67.30', 'return_rate': '8.4%'}",
    );
    s += "── Cross-Tenant Isolation Test ──

Hospital agent scope: ['read:analytics:hospital', 'write:reports:hospital']

  [BLOCKED] Hospital agent cannot read bank data
    Required: ['read:analytics:bank']
    Held:     ['read:analytics:hospital', 'write:reports:hospital']
  [BLOCKED] Hospital agent cannot write retail reports
    Required: ['write:reports:retail']
    Held:     ['read:analytics:hospital', 'write:reports:hospital']
  [ALLOWED] Hospital agent can read its own data ✓

Cross-tenant isolation verified.

Pipeline complete. All tenants processed with isolated scopes.
";
    s
}

#[test]
fn order_worker() {
    check(
        "order_worker",
        &["--customer", "cust-7291", "--order", "ord-4823"],
        ORDER_WORKER,
    );
}

#[test]
fn order_worker_async() {
    check(
        "order_worker_async",
        &["--customer", "cust-7291", "--order", "ord-4823"],
        ORDER_WORKER,
    );
}

#[test]
fn order_worker_needs_its_arguments() {
    let out = example("order_worker")
        .args(["--customer", "cust-7291"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: order_worker"));
}

#[test]
fn data_pipeline_blocking() {
    check("data_pipeline", &[], &data_pipeline());
}

#[test]
fn data_pipeline_async() {
    check("data_pipeline_async", &[], &data_pipeline());
}

#[test]
fn delegation() {
    check(
        "delegation",
        &[],
        "\
Delegation chain: orchestrator → researcher → summarizer
=======================================================

Orchestrator: spiffe://agentwrit.local/agent/research-orch/quarterly-review/{hex16}
  Scope: ['read:data:*', 'write:reports:*']

Hop 1: delegated to spiffe://agentwrit.local/agent/research-orch/research/{hex16}
  Scope:   ['read:data:customer-7291', 'read:data:customer-8310']
  Expires: 120s
  Chain:   ['spiffe://agentwrit.local/agent/research-orch/quarterly-review/{hex16}']
  Valid:   true

Hop 2: delegated to spiffe://agentwrit.local/agent/research-orch/summarize/{hex16}
  Scope:   ['read:data:customer-7291']
  Expires: 60s
  Chain:   ['spiffe://agentwrit.local/agent/research-orch/quarterly-review/{hex16}', 'spiffe://agentwrit.local/agent/research-orch/research/{hex16}']
  Valid:   true

[BLOCKED] Summarizer cannot widen to read:data:*
  403 Forbidden (scope_violation): delegated scope exceeds delegator scope

Chain released. Hop 2 token valid: false
",
    );
}

#[test]
fn downstream_service() {
    check(
        "downstream_service",
        &[],
        "\
Downstream service on http://127.0.0.1:{digits}, validating at the broker
=======================================================

GET  /customers/cust-7291   → 200 ok for spiffe://agentwrit.local/agent/order-worker/process-ord-4823/{hex16}
POST /orders/ord-4823       → 200 ok for spiffe://agentwrit.local/agent/order-worker/process-ord-4823/{hex16}
GET  /customers/cust-9999   → 403 token lacks required scope: read:data:customer-cust-9999
POST /orders/ord-0000       → 403 token lacks required scope: write:data:order-ord-0000
GET  /customers/cust-7291   → 401 token is invalid or expired   (after release)
",
    );
}

#[test]
fn the_matcher_is_strict() {
    assert!(matches("id {hex16} end", "id 0123456789abcdef end"));
    assert!(!matches("id {hex16} end", "id 0123456789abcdeg end"));
    assert!(!matches("Expires: 300s", "Expires: 301s"));
    assert!(matches("etl-{digits}/x", "etl-1795317592/x"));
    assert!(!matches("etl-{digits}/x", "etl-/x"));
}
