//! `cargo xtask soak`: many full agent lifecycles against one development
//! broker (the `soak` binary of agentwrit-bench, built in release mode).

use crate::util::{cargo, run};

/// Runs the soak; `--lifecycles N`, `--workers W` and `--quick` (200
/// lifecycles, 8 workers) are passed through.
pub fn soak(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "--quiet",
        "-p",
        "agentwrit-bench",
        "--bin",
        "soak",
        "--",
    ]);
    cmd.args(args);
    run(&mut cmd)
}
