//! One row measured: three callgrind runs (nothing; W warm-up then N; W
//! then 2 N) and, optionally, a native run for the CPU time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::callgrind::{self, Invocation};
use super::rows::{Row, Runner};
use crate::python::sdk_python;
use crate::util::root;

/// One row's figures.
#[derive(Clone, Debug)]
pub(super) struct Measured {
    /// (I(W, 2N) - I(W, N)) / N.
    pub per_op: f64,
    /// The warm-up's own instructions: I(W, N) - I(0, 0) - N × per_op.
    pub warmup_total: f64,
    /// I(0, 0): process start and set-up.
    pub base: u64,
    pub cpu_ns_per_op: Option<f64>,
    pub n: usize,
    pub warmup: usize,
}

/// The figures by row name; `None` for a row that could not run here
/// (a Python package not built).
pub(super) type Results = BTreeMap<&'static str, Option<Measured>>;

/// What measuring needs besides the row.
pub(super) struct Bench<'a> {
    /// agentwrit-bench's `cost` binary.
    pub cost: &'a Path,
    /// Where callgrind's profiles go.
    pub out: &'a Path,
    /// The brokers' environment.
    pub envs: &'a [(&'static str, String)],
    pub quick: bool,
    /// Whether to run natively for the CPU time.
    pub native: bool,
}

/// Measures each row in turn.
pub(super) fn all(rows: &[&'static Row], bench: &Bench<'_>) -> Result<Results, String> {
    let mut python = None;
    let mut results = Results::new();
    for row in rows {
        let measured = match row.runner {
            Runner::Rust => Some(one(row, &[bench.cost.to_path_buf()], bench)?),
            Runner::Python(sdk) => {
                let official = match &python {
                    Some(p) => p,
                    None => python.insert(sdk_python()?),
                };
                match python_program(row, sdk, official)? {
                    Some(program) => Some(one(row, &program, bench)?),
                    None => None,
                }
            }
        };
        results.insert(row.name, measured);
    }
    Ok(results)
}

/// The interpreter and script of a Python row, or `None` (reported as
/// "not built") when its package cannot be imported.
fn python_program(row: &Row, sdk: &str, official: &Path) -> Result<Option<Vec<PathBuf>>, String> {
    let (py, module) = if sdk.starts_with("rs") {
        // This repository's package lives in its own venv (`cargo xtask
        // python`, which installs a debug wheel): measured as users get
        // it, from a release wheel.
        let py = crate::pypkg::venv_python()?;
        crate::pypkg::build_and_install(&py, true)?;
        (py, "agentwrit_rs")
    } else {
        (official.to_path_buf(), "agentwrit")
    };
    if !importable(&py, module) {
        eprintln!(
            "bench-cost: {}: `import {module}` fails in {}: not built",
            row.name,
            py.display()
        );
        return Ok(None);
    }
    let script = root()
        .join("crates")
        .join("agentwrit-bench")
        .join("python")
        .join("cost_create.py");
    Ok(Some(vec![py, script]))
}

fn importable(python: &Path, module: &str) -> bool {
    Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The arguments of a run with `warmup` warm-up operations then `ops`.
fn args(row: &Row, n: usize, warmup: usize, ops: usize) -> Vec<String> {
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
}

fn one(row: &Row, program: &[PathBuf], bench: &Bench<'_>) -> Result<Measured, String> {
    let n = row.ops(bench.quick);
    let inv = |warmup, ops| Invocation {
        program,
        args: args(row, n, warmup, ops),
        envs: bench.envs,
    };
    let profile = |tag: &str| bench.out.join(format!("{}-{tag}.out", row.name));
    eprint!(
        "bench-cost: {:<24} callgrind ×3 (W={}, N={n}) …",
        row.name, row.warmup
    );
    let i0 = callgrind::instructions(&inv(0, 0), &profile("0"))?;
    let i1 = callgrind::instructions(&inv(row.warmup, n), &profile("n"))?;
    let i2 = callgrind::instructions(&inv(row.warmup, 2 * n), &profile("2n"))?;
    let (per_op, warmup_total) = per_op(i0, i1, i2, n);
    let cpu_ns_per_op = if bench.native {
        let ops = row.native_ops(bench.quick);
        callgrind::cpu_ns(&inv(row.warmup, ops))?.map(|ns| ns / ops as f64)
    } else {
        None
    };
    eprintln!(" {per_op:.0} instructions/op");
    Ok(Measured {
        per_op,
        warmup_total,
        base: i0,
        cpu_ns_per_op,
        n,
        warmup: row.warmup,
    })
}

/// Instructions per operation and the warm-up's total, from the three
/// runs' totals: start-up and warm-up cancel out of the difference.
fn per_op(i0: u64, i1: u64, i2: u64, n: usize) -> (f64, f64) {
    let per_op = (i2 as f64 - i1 as f64) / n as f64;
    (per_op, i1 as f64 - i0 as f64 - per_op * n as f64)
}

#[cfg(test)]
mod tests {
    use super::super::rows::ROWS;
    use super::*;

    #[test]
    fn start_up_and_warm_up_cancel_out() {
        // 1000 to start, 50 per warm-up op (W = 5), 7 per op (N = 10).
        let (i0, i1, i2) = (1000, 1000 + 250 + 70, 1000 + 250 + 140);
        assert_eq!(per_op(i0, i1, i2, 10), (7.0, 250.0));
    }

    #[test]
    fn a_rust_run_sets_up_enough_for_the_longest_run() {
        let row = ROWS.iter().find(|r| r.name == "renew").unwrap();
        let a = args(row, 20, 5, 40);
        assert_eq!(
            a,
            [
                "run", "renew", "--warmup", "5", "--ops", "40", "--setup", "45"
            ]
        );
    }
}
