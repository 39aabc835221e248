//! `cargo xtask deny`: cargo-deny's offline checks.

use std::process::Command;

use crate::util::{cargo, run};

/// Runs `cargo deny --offline check bans licenses sources`, installing
/// cargo-deny first when it is missing (the advisory database cannot be
/// fetched offline, so `advisories` is not run).
pub fn deny(_args: &[String]) -> Result<(), String> {
    let have = Command::new("cargo-deny")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        run(cargo().args(["install", "cargo-deny", "--locked"]))?;
    }
    run(cargo().args(["fetch"]))?;
    run(cargo().args(["deny", "--offline", "check", "bans", "licenses", "sources"]))
}
