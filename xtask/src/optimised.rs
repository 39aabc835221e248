//! The one optimised build that every optimised check runs from.
//!
//! The soak, the side-by-side comparison, the fuzz harness, `bench-cost`
//! (under callgrind) and the development broker the Python SDK's interop
//! run talks to all need optimised binaries of the same few packages.
//! Built by one `cargo build --release` of [`PACKAGES`] together, cargo
//! resolves their features once and compiles each crate once; the checks
//! then run the binaries from `<target dir>/release/` directly (a `cargo
//! run -p X` of one package alone would resolve another feature set and
//! compile its tree again). The `release` profile keeps line tables (see
//! the workspace's `Cargo.toml`), which callgrind needs and which do not
//! change the code.

use std::path::PathBuf;

use crate::util::{binary, cargo, run};

/// The packages whose binaries the optimised checks run.
const PACKAGES: [&str; 3] = ["agentwrit-devbroker", "agentwrit-bench", "agentwrit-fuzz"];

/// Builds (or finds up to date) every binary of [`PACKAGES`], optimised.
pub fn build() -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--quiet", "--bins"]);
    for package in PACKAGES {
        cmd.args(["-p", package]);
    }
    run(&mut cmd)
}

/// The optimised binary `name` of one of [`PACKAGES`], built first if
/// needed.
pub fn bin(name: &str) -> Result<PathBuf, String> {
    build()?;
    binary("release", name)
}

#[cfg(test)]
mod tests {
    use super::PACKAGES;

    #[test]
    fn every_package_is_a_workspace_member_with_binaries() {
        let root = crate::util::root();
        for package in PACKAGES {
            let dir = package.strip_prefix("agentwrit-").unwrap_or(package);
            let manifest = root
                .join("crates")
                .join(format!("agentwrit-{dir}"))
                .join("Cargo.toml");
            assert!(manifest.is_file(), "{}", manifest.display());
        }
    }
}
