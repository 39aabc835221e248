//! `cargo xtask bench`: the criterion suites.

use crate::util::{cargo, flag, run};

/// Runs every criterion benchmark; `quick` runs each briefly as a smoke test.
pub fn bench(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["bench", "--workspace", "--benches"]);
    if flag(args, "quick") || flag(args, "--quick") {
        cmd.args([
            "--",
            "--warm-up-time",
            "0.2",
            "--measurement-time",
            "0.5",
            "--sample-size",
            "10",
        ]);
    }
    run(&mut cmd)
}
