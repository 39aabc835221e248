//! `cargo xtask ci` and `cargo xtask test`.

use crate::util::{cargo, run};

/// Format check, clippy with warnings denied, docs with warnings denied,
/// cargo-deny's offline checks, the duplicate-version check, every
/// supported feature set of every library crate, the whole test suite (criterion benches included, each run once as a
/// smoke test), then the short modes of the long-running checks: fuzzing,
/// the demos in headless Chromium, the official Python SDK against the
/// development broker, the example MCP server against the official MCP
/// clients, the Python package `agentwrit_rs` (pytest, mypy,
/// stubtest), the soak, the side-by-side comparison, the instruction-count
/// check against the committed baseline, and the release dry run.
pub fn ci(args: &[String]) -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    crate::doc_links::check(&crate::metadata::target_dir()?.join("doc"))?;
    crate::deny::deny(&[])?;
    crate::dups::dups(&[])?;
    crate::features::features(&[])?;
    test(args)?;
    // The demos in a real browser; installs Debian's chromium when it is
    // missing, and says it skipped when no browser can be had.
    crate::browser::browser_check(&[String::from("--skip-without-browser")])?;
    let quick = [String::from("--quick")];
    crate::fuzz::fuzz(&quick)?;
    crate::interop::interop_python(&[])?;
    crate::mcp::mcp(&[])?;
    crate::pypkg::python(&[])?;
    crate::soak::soak(&quick)?;
    crate::bench_compare::bench_compare(&quick)?;
    // Instruction counts of the quick set against bench/cost-baseline.json
    // (fails on a row more than 10 % above it).
    crate::bench_cost::bench_cost(&[String::from("--quick"), String::from("--check")])?;
    crate::release::release(&[String::from("--dry-run")])
}

/// Every test: unit, integration, property (10 000 cases per property),
/// and doc tests, for every crate in the workspace.
pub fn test(_args: &[String]) -> Result<(), String> {
    // The examples' output tests run the example binaries; building them
    // first (with the same arguments the tests would use) keeps that build
    // out of the tests' run time.
    run(cargo().args([
        "build",
        "--quiet",
        "--package",
        "agentwrit-examples",
        "--examples",
    ]))?;
    run(cargo()
        .args(["test", "--workspace", "--all-targets"])
        .env("PROPTEST_CASES", proptest_cases()))?;
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    Ok(())
}

fn proptest_cases() -> String {
    std::env::var("PROPTEST_CASES").unwrap_or_else(|_| String::from("10000"))
}

/// The acceptance matrix, on both clients, and the `agentwrit run` tests
/// of the command line, against the external broker
/// named by `AGENTWRIT_TEST_BROKER_URL` and `AGENTWRIT_TEST_ADMIN_SECRET`.
/// For a broker in `tls` or `mtls` mode, `AGENTWRIT_TEST_CA_FILE` (its CA,
/// PEM) and `AGENTWRIT_TEST_CLIENT_CERT` + `AGENTWRIT_TEST_CLIENT_KEY` (a
/// client identity, PEM) reach the acceptance crate's clients the same way.
pub fn conformance(_args: &[String]) -> Result<(), String> {
    for var in ["AGENTWRIT_TEST_BROKER_URL", "AGENTWRIT_TEST_ADMIN_SECRET"] {
        if std::env::var(var).map_or(true, |v| v.is_empty()) {
            return Err(format!(
                "{var} is not set: conformance runs against a real broker \
                 (without it, `cargo xtask test` runs the same matrix on the development broker)"
            ));
        }
    }
    let set = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    for var in [
        "AGENTWRIT_TEST_CA_FILE",
        "AGENTWRIT_TEST_CLIENT_CERT",
        "AGENTWRIT_TEST_CLIENT_KEY",
    ] {
        if let Some(path) = set(var)
            && !std::path::Path::new(&path).is_file()
        {
            return Err(format!("{var}={path}: no such file"));
        }
    }
    if set("AGENTWRIT_TEST_CLIENT_CERT").is_some() != set("AGENTWRIT_TEST_CLIENT_KEY").is_some() {
        return Err(
            "set both AGENTWRIT_TEST_CLIENT_CERT and AGENTWRIT_TEST_CLIENT_KEY (mtls), or neither"
                .to_owned(),
        );
    }
    // The real broker rate-limits app logins per client id; one story at
    // a time keeps the matrix inside the limits.
    run(cargo().args([
        "test",
        "-p",
        "agentwrit-acceptance",
        "--",
        "--test-threads=1",
    ]))?;
    // The `agentwrit run` tests, on the same broker (their harness reads
    // the same variables).
    run(cargo().args([
        "test",
        "-p",
        "agentwrit-cli",
        "--test",
        "run",
        "--",
        "--test-threads=1",
    ]))
}
