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

/// `cargo xtask bench-tower [--quick]`: the service-side table (an axum
/// route unprotected, behind `agentwrit-tower` in broker mode with a warm
/// cache, in local mode, and cold), requests/s, p50/p99 and the ratios,
/// printed side by side.
pub fn bench_tower(args: &[String]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["bench", "-p", "agentwrit-tower", "--bench", "service", "--"]);
    if flag(args, "--quick") {
        cmd.args(["--seconds", "0.5", "--rounds", "1"]);
    } else {
        cmd.args(["--rounds", "5"]);
    }
    run(&mut cmd)
}
