//! `cargo xtask ci` (the pipeline), `cargo xtask test` and `cargo xtask
//! conformance`.
//!
//! # The pipeline
//!
//! [`PIPELINE`] is every check CI runs, as named steps. Stages run in
//! order; the lanes of a stage run side by side (each in a process of its
//! own, its output printed when it ends); the steps of a lane run in
//! order. Every step's wall and CPU time is printed when it ends and in a
//! table at the end ([`crate::pipeline`] runs it). `cargo xtask ci --list`
//! shows it; `cargo xtask ci --only a,b` runs some steps alone (one after
//! the other), `--stage N` one stage (its lanes side by side).
//!
//! The shape follows the machine CI runs on, two cores: a stage's lanes
//! pair work that keeps both cores busy (compiling) with work that mostly
//! waits (downloads, apt-get, a browser, Python). Compiled things are
//! built once and reused: one debug build for every test and debug binary,
//! one optimised build for every optimised run ([`crate::builds`]). Cargo
//! locks a profile's build directory, so two lanes compiling in the same
//! profile take turns (safe, but no faster); the debug and the release
//! profile do not block each other.
//!
//! To add a check: write a `fn() -> Result<(), String>` below (usually one
//! call into the check's module) and add one `step("name", function)` to
//! the lane it belongs in:
//! * needs only the network or the package manager (a venv, an npm
//!   project, a Debian package): a provisioning lane of stage 1 (the
//!   third, downloads only, is the shortest);
//! * runs tests of the workspace: with the debug build's selection
//!   ([`crate::builds::TEST_TARGETS`] over `--workspace`), so it compiles
//!   nothing new, in stage 4's third lane (as `mcp` does);
//! * runs a binary: stage 4's third lane, taking debug binaries after
//!   [`crate::builds::debug`] or optimised ones from
//!   [`crate::builds::optimised_bin`] (add the package there);
//! * compiles something of its own (a wheel, a Node addon): stage 4's
//!   first lane, after the Python package, or a lane of its own there if
//!   it is long. `cargo xtask ci` prints each lane's time: put a new step
//!   where the stage's longest lane is not.

use crate::pipeline::{Select, Stage, step};
use crate::util::{cargo, run};

/// Every check of `cargo xtask ci`.
pub const PIPELINE: &[Stage] = &[
    Stage {
        name: "checks and tools",
        lanes: &[
            // Compiles (check mode, docs): both cores.
            &[
                step("fmt", fmt),
                step("clippy", clippy),
                step("docs", docs),
                step("dups", dups),
                step("features", features),
            ],
            // Downloads, while the lane above compiles: cargo-deny (built
            // here when missing), Debian's packages, then the check.
            &[
                step("tools", tools),
                step("debian", debian),
                step("deny", deny),
            ],
            // Downloads from PyPI and npm (~75 s each on this machine, a
            // few seconds of CPU).
            &[
                step("python-envs", python_envs),
                step("npm", npm),
                step("node-tools", node_tools),
            ],
        ],
    },
    Stage {
        name: "tests",
        lanes: &[&[step("debug-build", debug_build), step("tests", tests)]],
    },
    Stage {
        name: "optimised build",
        // The optimised build (its own profile directory and lock) beside
        // the debug-profile work that is left: the doc tests (one crate at
        // a time) and the benchmarks run once each.
        lanes: &[
            &[step("optimised-build", optimised_build)],
            &[step("doc-tests", doc_tests), step("benches", benches)],
        ],
    },
    Stage {
        name: "long checks",
        lanes: &[
            // Valgrind (about a minute), then the Python package: its wheel
            // compiles (maturin), then pytest and mypy; the comparison
            // installs the same wheel.
            &[
                step("bench-cost", bench_cost),
                step("python", python),
                step("bench-compare", bench_compare),
            ],
            // `cargo package` builds every publishable crate alone.
            &[step("release-dry-run", release_dry_run)],
            // Binaries of the two builds, then the npm package (its
            // native module compiles, then tsc, npm pack, and its tests in
            // a scratch project).
            &[
                step("fuzz", fuzz),
                step("soak", soak),
                step("interop-python", interop_python),
                step("browser-check", browser_check),
                step("mcp", mcp),
                step("node", node),
            ],
        ],
    },
];

/// `cargo xtask ci [--list] [--only a,b] [--stage N]`: the pipeline.
pub fn ci(args: &[String]) -> Result<(), String> {
    let mut select = Select::All;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => {
                print!("{}", crate::pipeline::list(PIPELINE));
                return Ok(());
            }
            "--only" => {
                let names = it
                    .next()
                    .ok_or("--only needs a comma-separated list of steps")?;
                select = Select::Only(names.split(',').map(str::to_owned).collect());
            }
            "--stage" => {
                let n = it
                    .next()
                    .and_then(|v| v.parse::<usize>().ok())
                    .filter(|n| (1..=PIPELINE.len()).contains(n))
                    .ok_or_else(|| {
                        format!("--stage needs a number from 1 to {}", PIPELINE.len())
                    })?;
                select = Select::Stage(n - 1);
            }
            other => return Err(format!("ci: unknown argument {other:?}")),
        }
    }
    crate::pipeline::run(PIPELINE, &select)
}

/// `cargo xtask ci-lane S L` (internal, started by the pipeline).
pub fn ci_lane(args: &[String]) -> Result<(), String> {
    crate::pipeline::lane_main(PIPELINE, args)
}

fn quick() -> [String; 1] {
    [String::from("--quick")]
}

fn fmt() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--check"]))
}

fn clippy() -> Result<(), String> {
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
}

/// rustdoc with warnings denied, the doc-link check over every crate, the
/// Markdown's snippets and API mentions.
fn docs() -> Result<(), String> {
    crate::docs::docs(&[])
}

fn dups() -> Result<(), String> {
    crate::dups::dups(&[])
}

fn features() -> Result<(), String> {
    crate::features::features(&[])
}

fn tools() -> Result<(), String> {
    crate::tools::cargo_tools()
}

fn debian() -> Result<(), String> {
    crate::tools::debian()
}

fn python_envs() -> Result<(), String> {
    crate::tools::python_envs()
}

fn npm() -> Result<(), String> {
    crate::tools::npm()
}

fn deny() -> Result<(), String> {
    crate::deny::deny(&[])
}

fn optimised_build() -> Result<(), String> {
    crate::builds::optimised()
}

/// Instruction counts of the quick set against bench/cost-baseline.json
/// (fails on a row more than 10 % above it).
fn bench_cost() -> Result<(), String> {
    crate::bench_cost::bench_cost(&[String::from("--quick"), String::from("--check")])
}

fn release_dry_run() -> Result<(), String> {
    crate::release::release(&[String::from("--dry-run")])
}

fn fuzz() -> Result<(), String> {
    crate::fuzz::fuzz(&quick())
}

fn soak() -> Result<(), String> {
    crate::soak::soak(&quick())
}

fn interop_python() -> Result<(), String> {
    crate::interop::interop_python(&[])
}

/// The demos in a real browser; says it skipped when no browser can be
/// had.
fn browser_check() -> Result<(), String> {
    crate::browser::browser_check(&[String::from("--skip-without-browser")])
}

fn mcp() -> Result<(), String> {
    crate::mcp::mcp(&[])
}

fn python() -> Result<(), String> {
    crate::pypkg::python(&[])
}

/// The npm package `agentwrit-rs`: built, packed, installed into a
/// scratch project and tested there.
fn node() -> Result<(), String> {
    crate::node::node(&[])
}

/// The npm projects the Node package's build and tests use.
fn node_tools() -> Result<(), String> {
    crate::node::provision()
}

fn bench_compare() -> Result<(), String> {
    crate::bench_compare::bench_compare(&quick())
}

/// Every test: unit, integration, property (10 000 cases per property),
/// the criterion benchmarks once each, and doc tests, for every crate in
/// the workspace; all from the one debug build ([`crate::builds`]).
pub fn test(_args: &[String]) -> Result<(), String> {
    tests_and_benches()?;
    doc_tests()
}

/// The tests of the debug build (built first), then the benchmarks once
/// each.
fn tests_and_benches() -> Result<(), String> {
    debug_build()?;
    tests()?;
    benches()
}

/// The one debug build, examples included: the examples' output tests run
/// the example binaries (their own `cargo build --workspace --examples`
/// then finds them up to date).
fn debug_build() -> Result<(), String> {
    crate::builds::debug()
}

/// The tests of the debug build. With cargo-nextest (when installed) the
/// test binaries run side by side, each test in its own process, two per
/// core: many tests spend their time waiting on a development broker, a
/// child process or a short TTL (measured here: the run used 0.6 of the 2
/// cores with one test per core; with two per core it took 136 s instead
/// of 193 s). Otherwise `cargo test` runs them one binary after the other.
fn tests() -> Result<(), String> {
    let targets = crate::builds::TEST_TARGETS;
    if crate::tools::nextest_present() {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        run(cargo()
            .args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(["--test-threads", &threads.to_string()])
            .args(targets)
            .env("PROPTEST_CASES", proptest_cases()))
    } else {
        run(cargo()
            .args(["test", "--workspace"])
            .args(targets)
            .env("PROPTEST_CASES", proptest_cases()))
    }
}

/// The criterion benchmarks (and the service-side bench), once each as a
/// smoke test, through `cargo test --benches`: they are not libtest
/// harnesses nextest could list.
fn benches() -> Result<(), String> {
    run(cargo()
        .args(["test", "--workspace", "--benches"])
        .env("PROPTEST_CASES", proptest_cases()))
}

/// The doc tests, the Markdown pages' snippets among them (one process per
/// crate, mostly one core: the pipeline runs it beside the optimised
/// build).
fn doc_tests() -> Result<(), String> {
    run(cargo().args(["test", "--workspace", "--doc"]))
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
