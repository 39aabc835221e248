//! `cargo xtask bench-cost`: client-side (and service-side) instruction
//! counts per operation, under Valgrind's callgrind, which counts the same
//! total on an idle and on a loaded machine.
//!
//! For each row, agentwrit-bench's `cost` binary (the `bench-cost` cargo
//! profile: release code with line tables) runs under callgrind three
//! times: with no operations, with W warm-up operations then N, and with W
//! then 2N. Instructions per operation = (I(W, 2N) - I(W, N)) / N: process
//! start, client construction and the warm-up cancel out. The warm-up's own
//! cost is I(W, N) - I(0, 0) - N × per-operation. The broker is another
//! process (`agentwrit-devbroker`, not traced), so its work is never
//! counted. A native run of the same binary gives the CPU-time column
//! (all threads, kernel included), which instruction counts do not see.
//!
//! Results go to `<target dir>/bench-cost/results.json`, callgrind's
//! files to `<target dir>/bench-cost/callgrind/` (read them with
//! `callgrind_annotate`). `--check` compares with the committed
//! `bench/cost-baseline.json` and fails on any row more than 10 % above
//! it; `--update-baseline` rewrites the baseline's measured rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::python::{Broker, sdk_python};
use crate::util::{cargo, root, run, target_dir};

/// The cargo profile the measured binaries are built with.
const PROFILE: &str = "bench-cost";
/// How far above its baseline a row may go before `--check` fails.
const TOLERANCE: f64 = 0.10;
/// The command that rewrites the baseline.
const UPDATE: &str = "cargo xtask bench-cost --quick --update-baseline";

/// What runs a row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Runner {
    /// `cost run <name>`.
    Rust,
    /// `cost_create.py <sdk>` in the Python SDK's virtualenv.
    Python(&'static str),
}

/// One row of the table.
struct Row {
    name: &'static str,
    label: &'static str,
    runner: Runner,
    /// In the quick set (`--quick`, CI).
    quick: bool,
    warmup: usize,
    /// N for the callgrind runs (quick; the full run uses 4 N).
    n: usize,
    /// Operations of the native run (the CPU-time column).
    native: usize,
}

const fn row(
    name: &'static str,
    label: &'static str,
    quick: bool,
    warmup: usize,
    n: usize,
    native: usize,
) -> Row {
    Row {
        name,
        label,
        runner: Runner::Rust,
        quick,
        warmup,
        n,
        native,
    }
}

const ROWS: &[Row] = &[
    row(
        "create-blocking",
        "create-agent, blocking",
        true,
        5,
        20,
        1000,
    ),
    row(
        "create-async-ct",
        "create-agent, async (current-thread runtime)",
        true,
        5,
        20,
        1000,
    ),
    row(
        "create-async-mt",
        "create-agent, async (multi-thread runtime)",
        true,
        5,
        20,
        1000,
    ),
    row("validate", "validate (blocking)", true, 5, 20, 2000),
    row("renew", "renew (blocking)", false, 5, 20, 2000),
    row("delegate", "delegate (blocking)", false, 5, 20, 2000),
    row("release", "release (blocking)", false, 5, 20, 2000),
    row(
        "lifecycle-http",
        "lifecycle, blocking, plain HTTP",
        true,
        3,
        10,
        300,
    ),
    row(
        "lifecycle-https",
        "lifecycle, blocking, HTTPS (warm connection)",
        true,
        3,
        10,
        300,
    ),
    row(
        "lifecycle-async-http",
        "lifecycle, async, plain HTTP",
        false,
        3,
        10,
        300,
    ),
    row(
        "lifecycle-async-https",
        "lifecycle, async, HTTPS (warm connection)",
        false,
        3,
        10,
        300,
    ),
    row(
        "service-unprotected",
        "service: unprotected route",
        true,
        20,
        100,
        10_000,
    ),
    row(
        "service-warm",
        "service: AgentAuth broker mode, warm cache",
        true,
        20,
        100,
        10_000,
    ),
    row(
        "service-local",
        "service: AgentAuth local verification",
        true,
        20,
        100,
        10_000,
    ),
    row(
        "service-warm-usage",
        "service: warm cache + scope-usage recording",
        true,
        20,
        100,
        10_000,
    ),
    row(
        "keygen-sign",
        "Ed25519 keygen + nonce signature",
        true,
        5,
        20,
        5000,
    ),
    row(
        "floor-create",
        "floor: hand-written HTTP/1.1 create",
        true,
        5,
        20,
        1000,
    ),
    row(
        "scope-1x1",
        "scope_is_subset 1x1",
        true,
        100,
        1000,
        20_000_000,
    ),
    row(
        "scope-2x2",
        "scope_is_subset 2x2",
        false,
        100,
        1000,
        10_000_000,
    ),
    row(
        "scope-1_vs_4_wildcards",
        "scope_is_subset 1_vs_4_wildcards",
        false,
        100,
        1000,
        10_000_000,
    ),
    row(
        "scope-denied",
        "scope_is_subset denied",
        false,
        100,
        1000,
        20_000_000,
    ),
    row(
        "scope-10x10",
        "scope_is_subset 10x10",
        false,
        100,
        1000,
        2_000_000,
    ),
    row(
        "scope-100x100",
        "scope_is_subset 100x100",
        true,
        10,
        100,
        30_000,
    ),
    Row {
        name: "python-official-create",
        label: "create-agent, official Python SDK (agentwrit 0.3.0)",
        runner: Runner::Python("official"),
        quick: false,
        warmup: 3,
        n: 5,
        native: 300,
    },
    Row {
        name: "python-rs-create",
        label: "create-agent, agentwrit_rs (this repository's Python package)",
        runner: Runner::Python("rs"),
        quick: false,
        warmup: 3,
        n: 5,
        native: 1000,
    },
    // The alternative the package's sync API does not take: the async
    // client driven with block_on on the binding layer's runtime (what
    // `docs/performance.md` compares the row above with).
    Row {
        name: "python-rs-runtime-create",
        label: "create-agent, agentwrit_rs's native App on the bindings runtime (block_on)",
        runner: Runner::Python("rs-runtime"),
        quick: false,
        warmup: 3,
        n: 5,
        native: 1000,
    },
];

/// One row's figures.
#[derive(Clone, Debug)]
struct Measured {
    per_op: f64,
    warmup_total: f64,
    base: u64,
    cpu_ns_per_op: Option<f64>,
    n: usize,
    warmup: usize,
}

/// The options of one invocation.
struct Options {
    quick: bool,
    check: bool,
    update: bool,
    only: Option<Vec<String>>,
    native: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        quick: false,
        check: false,
        update: false,
        only: None,
        native: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => o.quick = true,
            "--check" => o.check = true,
            "--update-baseline" => o.update = true,
            "--no-cpu" => o.native = false,
            "--rows" => {
                let v = it.next().ok_or("--rows needs a comma-separated list")?;
                let names: Vec<String> = v.split(',').map(str::to_owned).collect();
                for n in &names {
                    if !ROWS.iter().any(|r| r.name == n) {
                        let known: Vec<&str> = ROWS.iter().map(|r| r.name).collect();
                        return Err(format!("unknown row {n:?}; rows: {}", known.join(", ")));
                    }
                }
                o.only = Some(names);
            }
            other => return Err(format!("bench-cost: unknown argument {other:?}")),
        }
    }
    Ok(o)
}

/// Runs the rows, prints the table and the ratios, writes the JSON; with
/// `--check`, fails on a row more than 10 % above the baseline.
pub fn bench_cost(args: &[String]) -> Result<(), String> {
    let opts = parse(args)?;
    ensure_valgrind()?;
    run(cargo().args([
        "build",
        "--profile",
        PROFILE,
        "--quiet",
        "-p",
        "agentwrit-devbroker",
        "-p",
        "agentwrit-bench",
        "--bins",
    ]))?;
    let dir = target_dir()?.join(PROFILE);
    let exe = |n: &str| dir.join(format!("{n}{}", std::env::consts::EXE_SUFFIX));
    let (broker_bin, cost) = (exe("agentwrit-devbroker"), exe("cost"));
    let out = dir.join("callgrind");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;

    let selected: Vec<&Row> = ROWS
        .iter()
        .filter(|r| match &opts.only {
            Some(names) => names.iter().any(|n| n == r.name),
            None => !opts.quick || r.quick,
        })
        .collect();

    // The HTTPS broker's throwaway identity.
    let pki = dir.join("pki");
    run(Command::new(&cost).arg("pki").arg(&pki))?;
    let plain = Broker::start(&broker_bin, &["--no-rate-limits"])?;
    let (cert, key) = (pki.join("server.pem"), pki.join("server-key.pem"));
    let tls_args = [
        "--no-rate-limits",
        "--tls-mode",
        "tls",
        "--tls-cert",
        path_str(&cert)?,
        "--tls-key",
        path_str(&key)?,
    ];
    let tls = Broker::start(&broker_bin, &tls_args)?;
    eprintln!(
        "bench-cost: development brokers at {} and {} (own processes, not measured)",
        plain.url, tls.url
    );
    let envs: Vec<(&str, String)> = vec![
        ("AGENTWRIT_BROKER_URL", plain.url.clone()),
        ("AGENTWRIT_CLIENT_ID", plain.client_id.clone()),
        ("AGENTWRIT_CLIENT_SECRET", plain.client_secret.clone()),
        ("AGENTWRIT_COST_HTTPS_URL", tls.url.clone()),
        ("AGENTWRIT_COST_HTTPS_CLIENT_ID", tls.client_id.clone()),
        (
            "AGENTWRIT_COST_HTTPS_CLIENT_SECRET",
            tls.client_secret.clone(),
        ),
        (
            "AGENTWRIT_COST_CA_FILE",
            path_str(&pki.join("ca.pem"))?.to_owned(),
        ),
    ];

    let python = if selected.iter().any(|r| r.runner != Runner::Rust) {
        Some(sdk_python()?)
    } else {
        None
    };
    let script = root()
        .join("crates")
        .join("agentwrit-bench")
        .join("python")
        .join("cost_create.py");

    let mut results: BTreeMap<&'static str, Option<Measured>> = BTreeMap::new();
    for row in &selected {
        let n = if opts.quick { row.n } else { row.n * 4 };
        let program: Vec<PathBuf> = match (row.runner, &python) {
            (Runner::Rust, _) => vec![cost.clone()],
            (Runner::Python(sdk), Some(official)) => {
                let (py, module) = if sdk.starts_with("rs") {
                    // This repository's package lives in its own venv
                    // (`cargo xtask python`, which installs a debug wheel):
                    // measured as users get it, from a release wheel.
                    let py = crate::pypkg::venv_python()?;
                    crate::pypkg::build_and_install(&py, true)?;
                    (py, "agentwrit_rs")
                } else {
                    (official.clone(), "agentwrit")
                };
                let py = &py;
                if !importable(py, module) {
                    eprintln!(
                        "bench-cost: {}: `import {module}` fails in {}: not built",
                        row.name,
                        py.display()
                    );
                    results.insert(row.name, None);
                    continue;
                }
                vec![py.clone(), script.clone()]
            }
            (Runner::Python(_), None) => return Err("no Python interpreter".into()),
        };
        let args = |warmup: usize, ops: usize| -> Vec<String> {
            match row.runner {
                Runner::Rust => vec![
                    "run".into(),
                    row.name.into(),
                    "--warmup".into(),
                    warmup.to_string(),
                    "--ops".into(),
                    ops.to_string(),
                    "--setup".into(),
                    (row.warmup + 2 * n).to_string(),
                ],
                Runner::Python(sdk) => vec![sdk.into(), warmup.to_string(), ops.to_string()],
            }
        };
        eprint!(
            "bench-cost: {:<24} callgrind ×3 (W={}, N={n}) …",
            row.name, row.warmup
        );
        let i0 = callgrind(
            &program,
            &args(0, 0),
            &envs,
            &out.join(format!("{}-0.out", row.name)),
        )?;
        let i1 = callgrind(
            &program,
            &args(row.warmup, n),
            &envs,
            &out.join(format!("{}-n.out", row.name)),
        )?;
        let i2 = callgrind(
            &program,
            &args(row.warmup, 2 * n),
            &envs,
            &out.join(format!("{}-2n.out", row.name)),
        )?;
        let per_op = (i2 as f64 - i1 as f64) / n as f64;
        let warmup_total = i1 as f64 - i0 as f64 - per_op * n as f64;
        let native_ops = if opts.quick {
            row.native / 4
        } else {
            row.native
        }
        .max(1);
        let cpu_ns_per_op = if opts.native {
            native(&program, &args(row.warmup, native_ops), &envs)?.map(|ns| ns / native_ops as f64)
        } else {
            None
        };
        eprintln!(" {:.0} instructions/op", per_op);
        results.insert(
            row.name,
            Some(Measured {
                per_op,
                warmup_total,
                base: i0,
                cpu_ns_per_op,
                n,
                warmup: row.warmup,
            }),
        );
    }
    drop(plain);
    drop(tls);

    let baseline_path = root().join("bench").join("cost-baseline.json");
    let baseline = read_baseline(&baseline_path)?;
    print_table(&selected, &results, &baseline);
    print_ratios(&results);
    let json_path = dir.join("results.json");
    write_json(&json_path, &selected, &results)?;
    println!("\nresults: {}", json_path.display());
    println!(
        "profiles: {}/<row>-2n.out (e.g. callgrind_annotate --inclusive=yes {}/create-async-ct-2n.out)",
        out.display(),
        out.display()
    );
    if opts.update {
        update_baseline(&baseline_path, &baseline, &results)?;
        println!("baseline updated: {}", baseline_path.display());
    }
    if opts.check {
        check(&results, &baseline)?;
    }
    Ok(())
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", p.display()))
}

/// Installs Debian's valgrind with apt-get when it is missing.
fn ensure_valgrind() -> Result<(), String> {
    let present = || {
        Command::new("valgrind")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if present() {
        return Ok(());
    }
    eprintln!("bench-cost: valgrind missing; installing Debian's package");
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get").args(["install", "-y", "--no-install-recommends", "valgrind"]))
        .map_err(|e| {
            format!("{e}\ninstall valgrind (Debian/Ubuntu: apt-get install valgrind) and retry")
        })?;
    if present() {
        Ok(())
    } else {
        Err("valgrind still not runnable after apt-get install".into())
    }
}

fn importable(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn command(program: &[PathBuf], args: &[String], envs: &[(&str, String)]) -> Option<Command> {
    let (first, rest) = program.split_first()?;
    let mut cmd = Command::new(first);
    cmd.args(rest).args(args).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Some(cmd)
}

/// Runs `program args` under callgrind; returns the instructions it
/// executed (every thread). Not `util::run`: the environment carries the
/// sample apps' secrets.
fn callgrind(
    program: &[PathBuf],
    args: &[String],
    envs: &[(&str, String)],
    out_file: &Path,
) -> Result<u64, String> {
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=callgrind", "-q"])
        .arg(format!("--callgrind-out-file={}", path_str(out_file)?))
        .args(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .map_err(|e| format!("could not start valgrind: {e}"))?;
    if !status.success() {
        return Err(format!(
            "valgrind --tool=callgrind {} {} failed with {status}",
            program
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            args.join(" ")
        ));
    }
    let text =
        std::fs::read_to_string(out_file).map_err(|e| format!("{}: {e}", out_file.display()))?;
    parse_total(&text).ok_or_else(|| format!("{}: no totals line", out_file.display()))
}

/// The instruction total of a callgrind output file (`totals:`, or
/// `summary:` in older formats).
fn parse_total(text: &str) -> Option<u64> {
    let find = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    find("totals:").or_else(|| find("summary:"))
}

/// Runs the row natively; returns the CPU nanoseconds of its measured
/// window as the binary reported them.
fn native(
    program: &[PathBuf],
    args: &[String],
    envs: &[(&str, String)],
) -> Result<Option<f64>, String> {
    let mut cmd = command(program, args, envs).ok_or("empty command")?;
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start the native run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the native run {} failed with {}",
            args.join(" "),
            out.status
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.trim())
        .map_err(|e| format!("the native run printed {line:?}: {e}"))?;
    Ok(v.get("cpu_ns").and_then(Value::as_f64))
}

fn read_baseline(path: &Path) -> Result<BTreeMap<String, f64>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = v
        .get("instructions_per_op")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{}: no \"instructions_per_op\" object", path.display()))?;
    Ok(rows
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|f| (k.clone(), f)))
        .collect())
}

fn update_baseline(
    path: &Path,
    old: &BTreeMap<String, f64>,
    results: &BTreeMap<&'static str, Option<Measured>>,
) -> Result<(), String> {
    let mut rows: BTreeMap<String, f64> = old.clone();
    for (name, m) in results {
        if let Some(m) = m {
            rows.insert((*name).to_owned(), m.per_op.round());
        }
    }
    let v = json!({
        "about": "Instructions per operation (callgrind, Valgrind), the figures `cargo xtask ci` checks with `cargo xtask bench-cost --quick --check`: a row more than 10 % above its figure here fails. Rewrite with `cargo xtask bench-cost --quick --update-baseline` when a change is meant to cost more (or less), and say why in the commit.",
        "instructions_per_op": rows,
    });
    let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())? + "\n";
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn check(
    results: &BTreeMap<&'static str, Option<Measured>>,
    baseline: &BTreeMap<String, f64>,
) -> Result<(), String> {
    let mut failed = Vec::new();
    for (name, m) in results {
        let (Some(m), Some(base)) = (m, baseline.get(*name)) else {
            continue;
        };
        if m.per_op > base * (1.0 + TOLERANCE) {
            failed.push(format!(
                "  {name}: {:.0} instructions/op, baseline {:.0} (+{:.1} %, limit +{:.0} %)",
                m.per_op,
                base,
                (m.per_op / base - 1.0) * 100.0,
                TOLERANCE * 100.0
            ));
        }
    }
    let missing: Vec<&&str> = results
        .keys()
        .filter(|k| !baseline.contains_key(**k) && results[**k].is_some())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "bench-cost: rows without a baseline (not checked): {}",
            missing.iter().map(|s| **s).collect::<Vec<_>>().join(", ")
        );
    }
    if failed.is_empty() {
        println!(
            "\nbench-cost --check: every row within {:.0} % of bench/cost-baseline.json",
            TOLERANCE * 100.0
        );
        Ok(())
    } else {
        Err(format!(
            "bench-cost: {} row(s) cost more than {:.0} % above bench/cost-baseline.json:\n{}\nif the extra cost is intended, update the baseline with `{UPDATE}` and say why in the commit",
            failed.len(),
            TOLERANCE * 100.0,
            failed.join("\n")
        ))
    }
}

fn fmt_count(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn print_table(
    rows: &[&Row],
    results: &BTreeMap<&'static str, Option<Measured>>,
    baseline: &BTreeMap<String, f64>,
) {
    println!("\nInstructions per operation (callgrind; broker in its own process, not counted)");
    println!(
        "| {:<24} | {:<58} | {:>14} | {:>11} | {:>22} | {:>14} | {:>8} |",
        "row",
        "operation",
        "instr/op",
        "CPU µs/op",
        "warm-up (instr, W ops)",
        "baseline",
        "vs base"
    );
    println!(
        "|:{}|:{}|{}:|{}:|{}:|{}:|{}:|",
        "-".repeat(25),
        "-".repeat(59),
        "-".repeat(15),
        "-".repeat(12),
        "-".repeat(23),
        "-".repeat(15),
        "-".repeat(9)
    );
    for row in rows {
        match results.get(row.name).and_then(Option::as_ref) {
            Some(m) => {
                let cpu = m
                    .cpu_ns_per_op
                    .map_or_else(|| "n/a".to_owned(), |ns| format!("{:.3}", ns / 1e3));
                let (base, vs) = match baseline.get(row.name) {
                    Some(b) => (
                        fmt_count(*b),
                        format!("{:+.1} %", (m.per_op / b - 1.0) * 100.0),
                    ),
                    None => ("–".to_owned(), "–".to_owned()),
                };
                println!(
                    "| {:<24} | {:<58} | {:>14} | {:>11} | {:>22} | {:>14} | {:>8} |",
                    row.name,
                    row.label,
                    fmt_count(m.per_op),
                    cpu,
                    format!("{} ({})", fmt_count(m.warmup_total), m.warmup),
                    base,
                    vs
                );
            }
            None => println!(
                "| {:<24} | {:<58} | {:>14} | {:>11} | {:>22} | {:>14} | {:>8} |",
                row.name, row.label, "not built", "–", "–", "–", "–"
            ),
        }
    }
}

fn print_ratios(results: &BTreeMap<&'static str, Option<Measured>>) {
    let get = |n: &str| results.get(n).and_then(Option::as_ref);
    let ratio = |a: &str, b: &str| -> Option<(f64, Option<f64>)> {
        let (a, b) = (get(a)?, get(b)?);
        let cpu = a.cpu_ns_per_op.zip(b.cpu_ns_per_op).map(|(x, y)| x / y);
        Some((a.per_op / b.per_op, cpu))
    };
    println!("\nRatios (instructions; CPU time beside, for the kernel's share)");
    println!(
        "| {:<58} | {:>8} | {:>8} | {:>8} | {:<6} |",
        "ratio", "instr", "CPU", "target", ""
    );
    println!(
        "|:{}|{}:|{}:|{}:|:{}|",
        "-".repeat(59),
        "-".repeat(9),
        "-".repeat(9),
        "-".repeat(9),
        "-".repeat(7)
    );
    let targets: [(&str, &str, &str, f64); 9] = [
        (
            "async create (current-thread) / blocking create",
            "create-async-ct",
            "create-blocking",
            1.30,
        ),
        (
            "async create (multi-thread) / blocking create",
            "create-async-mt",
            "create-blocking",
            1.30,
        ),
        (
            "HTTPS lifecycle / plain HTTP (blocking)",
            "lifecycle-https",
            "lifecycle-http",
            1.15,
        ),
        (
            "HTTPS lifecycle / plain HTTP (async)",
            "lifecycle-async-https",
            "lifecycle-async-http",
            1.15,
        ),
        (
            "service: warm cache / unprotected",
            "service-warm",
            "service-unprotected",
            1.25,
        ),
        (
            "service: local verification / unprotected",
            "service-local",
            "service-unprotected",
            1.50,
        ),
        (
            "service: scope-usage recording / warm cache (issue 31)",
            "service-warm-usage",
            "service-warm",
            1.10,
        ),
        (
            "official Python SDK create / agentwrit_rs create",
            "python-official-create",
            "python-rs-create",
            f64::NAN,
        ),
        (
            "official Python SDK create / Rust blocking create",
            "python-official-create",
            "create-blocking",
            f64::NAN,
        ),
    ];
    for (label, a, b, target) in targets {
        let Some((r, cpu)) = ratio(a, b) else {
            println!(
                "| {label:<58} | {:>8} | {:>8} | {:>8} | {:<6} |",
                "–", "–", "–", "not measured"
            );
            continue;
        };
        let cpu = cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2}×"));
        let (t, verdict) = if target.is_nan() {
            ("–".to_owned(), "")
        } else if r <= target {
            (format!("≤ {target:.2}×"), "met")
        } else {
            (format!("≤ {target:.2}×"), "missed")
        };
        println!(
            "| {label:<58} | {:>8} | {cpu:>8} | {t:>8} | {verdict:<6} |",
            format!("{r:.2}×")
        );
    }

    let (Some(floor), Some(keys)) = (get("floor-create"), get("keygen-sign")) else {
        return;
    };
    let floor_net = floor.per_op - keys.per_op;
    println!(
        "\nThe SDK above the floor (floor: a hand-written HTTP/1.1 client making the same 3 requests, {} instr/op; Ed25519 keygen + signature {} instr/op in both)",
        fmt_count(floor.per_op),
        fmt_count(keys.per_op)
    );
    println!(
        "| {:<36} | {:>14} | {:>18} | {:>22} |",
        "create-agent", "instr/op", "above the floor", "÷ floor (excl. keys)"
    );
    println!(
        "|:{}|{}:|{}:|{}:|",
        "-".repeat(37),
        "-".repeat(15),
        "-".repeat(19),
        "-".repeat(23)
    );
    for (label, name) in [
        ("blocking", "create-blocking"),
        ("async, current-thread runtime", "create-async-ct"),
        ("async, multi-thread runtime", "create-async-mt"),
    ] {
        if let Some(m) = get(name) {
            println!(
                "| {label:<36} | {:>14} | {:>18} | {:>22} |",
                fmt_count(m.per_op),
                fmt_count(m.per_op - floor.per_op),
                format!("{:.2}×", (m.per_op - keys.per_op) / floor_net)
            );
        }
    }
}

fn write_json(
    path: &Path,
    rows: &[&Row],
    results: &BTreeMap<&'static str, Option<Measured>>,
) -> Result<(), String> {
    let list: Vec<Value> = rows
        .iter()
        .map(|row| match results.get(row.name).and_then(Option::as_ref) {
            Some(m) => json!({
                "row": row.name,
                "operation": row.label,
                "instructions_per_op": m.per_op,
                "warmup_ops": m.warmup,
                "warmup_instructions": m.warmup_total,
                "startup_instructions": m.base,
                "n": m.n,
                "cpu_ns_per_op": m.cpu_ns_per_op,
            }),
            None => json!({ "row": row.name, "operation": row.label, "not_built": true }),
        })
        .collect();
    let text =
        serde_json::to_string_pretty(&json!({ "rows": list })).map_err(|e| e.to_string())? + "\n";
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrind_totals() {
        assert_eq!(
            parse_total("events: Ir\nfn=main\n1 5\ntotals: 123456\n"),
            Some(123_456)
        );
        assert_eq!(parse_total("events: Ir\nsummary: 99\n"), Some(99));
        assert_eq!(parse_total("events: Ir\n"), None);
    }

    #[test]
    fn the_check_fails_above_ten_percent_and_names_the_update_command() {
        let m = |per_op| {
            Some(Measured {
                per_op,
                warmup_total: 0.0,
                base: 0,
                cpu_ns_per_op: None,
                n: 1,
                warmup: 0,
            })
        };
        let baseline: BTreeMap<String, f64> = [("a".to_owned(), 1000.0)].into();
        let ok: BTreeMap<&'static str, Option<Measured>> = [("a", m(1099.0))].into();
        assert!(check(&ok, &baseline).is_ok());
        let bad: BTreeMap<&'static str, Option<Measured>> = [("a", m(1200.0))].into();
        let e = check(&bad, &baseline).unwrap_err();
        assert!(
            e.contains("1200") && e.contains("1000") && e.contains(UPDATE),
            "{e}"
        );
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(fmt_count(1_234_567.4), "1 234 567");
        assert_eq!(fmt_count(12.0), "12");
        assert_eq!(fmt_count(-1500.0), "-1 500");
    }

    #[test]
    fn every_rust_row_is_known_to_the_cost_binary() {
        let src = include_str!("../../crates/agentwrit-bench/src/bin/cost.rs");
        for row in ROWS.iter().filter(|r| r.runner == Runner::Rust) {
            assert!(src.contains(&format!("\"{}\",", row.name)), "{}", row.name);
        }
    }
}
