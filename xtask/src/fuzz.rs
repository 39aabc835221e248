//! `cargo xtask fuzz [--quick] [--inputs N] [--seconds S] [--target T]`:
//! the arbitrary-input harness of `crates/agentwrit-fuzz`, from the shared
//! optimised build ([`crate::builds`]).

use std::process::Command;

use crate::util::{flag, run};

/// Runs every fuzz target: one million inputs each by default, 20 000
/// with `--quick` (what CI runs).
pub fn fuzz(args: &[String]) -> Result<(), String> {
    let mut pass: Vec<String> = Vec::new();
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--quick" => {}
            "--inputs" | "--seconds" | "--target" | "--seed" => {
                pass.push(a.clone());
                pass.push(rest.next().ok_or(format!("{a} needs a value"))?.clone());
            }
            other => return Err(format!("unknown fuzz option {other:?}")),
        }
    }
    if flag(args, "--quick") && !pass.iter().any(|a| a == "--inputs") {
        pass.extend(["--inputs".to_owned(), "20000".to_owned()]);
    }
    let fuzz = crate::builds::optimised_bin("fuzz")?;
    run(Command::new(fuzz).args(&pass))
}
