//! `cargo xtask soak`: many full agent lifecycles against one development
//! broker (the `soak` binary of agentwrit-bench, from the shared optimised
//! build, [`crate::builds`]).

use std::process::Command;

use crate::util::run;

/// Runs the soak; `--lifecycles N`, `--workers W` and `--quick` (200
/// lifecycles, 8 workers) are passed through.
pub fn soak(args: &[String]) -> Result<(), String> {
    let soak = crate::builds::optimised_bin("soak")?;
    run(Command::new(soak).args(args))
}
