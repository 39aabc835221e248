//! `cargo xtask bench-compare`: the Rust SDK side by side with the official
//! Python SDK against ONE development broker process.
//!
//! Takes the broker binary and agentwrit-bench's `compare` binary from the
//! shared optimised build ([`crate::builds`]), creates the Python SDK's virtualenv (once, shared with
//! `interop-python`, under the target directory),
//! starts `agentwrit-devbroker --port 0 --sample-app --no-rate-limits`,
//! builds the Python package `agentwrit_rs` (release wheel, installed into
//! the venv of `cargo xtask python`), reads its URL and the sample app's
//! credentials from its output, runs `compare` (which runs the Python
//! script first, then `agentwrit_rs`, then the Rust clients)
//! and stops the broker.

use std::process::Command;

use crate::python::{Broker, sdk_python};
use crate::util::{flag, root};

/// Runs the comparison; `--lifecycles N` (default 500) or `--quick` (50).
pub fn bench_compare(args: &[String]) -> Result<(), String> {
    let mut lifecycles = if flag(args, "--quick") { 50 } else { 500 };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {}
            "--lifecycles" => {
                let v = it.next().ok_or("--lifecycles needs a value")?;
                lifecycles = v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("--lifecycles: expected a positive number, got {v:?}")
                })?;
            }
            other => return Err(format!("bench-compare: unknown argument {other:?}")),
        }
    }

    let root = root();
    let broker_bin = crate::builds::optimised_bin("agentwrit-devbroker")?;
    let compare = crate::builds::optimised_bin("compare")?;

    let python = sdk_python()?;
    // The Python package on the Rust core, installed into its own venv (the
    // one `cargo xtask python` uses): a release wheel for the published
    // figures; with --quick (a smoke run, as in `cargo xtask ci`) the debug
    // wheel, whose build `cargo xtask python` has already done.
    let rs_python = crate::pypkg::venv_python()?;
    let quick = flag(args, "--quick");
    if quick {
        eprintln!("bench-compare: --quick measures the debug build of agentwrit_rs");
    }
    crate::pypkg::build_and_install(&rs_python, !quick)?;

    let mut broker = Broker::start(&broker_bin, &["--no-rate-limits"])?;
    eprintln!("bench-compare: development broker at {}", broker.url);
    let script = root
        .join("crates")
        .join("agentwrit-bench")
        .join("python")
        .join("py_bench.py");
    let mut cmd = Command::new(&compare);
    cmd.args(["--lifecycles", &lifecycles.to_string()])
        .args(["--broker-pid", &broker.pid.to_string()])
        .arg("--python")
        .arg(&python)
        .arg("--script")
        .arg(&script)
        .arg("--rs-python")
        .arg(&rs_python)
        .arg("--rs-script")
        .arg(script.with_file_name("rs_bench.py"))
        .env("AGENTWRIT_BENCH_BROKER_PID", broker.pid.to_string())
        .env("AGENTWRIT_BROKER_URL", &broker.url)
        .env("AGENTWRIT_CLIENT_ID", &broker.client_id)
        .env("AGENTWRIT_CLIENT_SECRET", &broker.client_secret);
    // Not `util::run`: it would echo the environment, client secret included.
    eprintln!(
        "\n$ {} --lifecycles {lifecycles} (AGENTWRIT_* set to the broker's sample app)",
        compare.display()
    );
    let status = cmd.status();
    broker.stop();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("compare failed with {s}")),
        Err(e) => Err(format!("could not start compare: {e}")),
    }
}
