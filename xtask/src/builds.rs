//! The two builds every check reuses, so CI compiles each crate once per
//! profile.
//!
//! * **The debug build**: every library, binary, test and example of the
//!   whole workspace ([`debug`]). `cargo xtask test` builds it first; the
//!   tests, the examples' output tests, the demos in the browser and the
//!   MCP clients' tests all select the whole workspace too, so cargo
//!   resolves the same features and finds every crate up to date. A
//!   `cargo build -p X` of one package would resolve another feature set
//!   (the examples alone: 24 crates with other features, serde and tokio
//!   among them) and compile its tree again.
//! * **The optimised build**: every binary the optimised checks run (the
//!   soak, the side-by-side comparison, the fuzz harness, `bench-cost`
//!   under callgrind, the broker of the Python SDK's interop run), one
//!   `cargo build --release` of [`OPTIMISED_PACKAGES`] together; the checks
//!   run the binaries from `<target dir>/release/` directly. The `release`
//!   profile keeps line tables (see the workspace's `Cargo.toml`), which
//!   callgrind needs and which do not change the code.

use std::path::PathBuf;

use crate::util::{binary, cargo, run};

/// The test targets, over `--workspace` (the benchmarks run apart,
/// through `cargo test --benches`: they are not libtest harnesses; the
/// examples have no tests, and the debug build compiles them).
pub const TEST_TARGETS: [&str; 3] = ["--lib", "--bins", "--tests"];

/// The packages whose binaries the optimised checks run.
const OPTIMISED_PACKAGES: [&str; 3] = ["agentwrit-devbroker", "agentwrit-bench", "agentwrit-fuzz"];

/// Builds (or finds up to date) the debug build: every library, binary,
/// test and example of the workspace. The binaries are then in `<target
/// dir>/debug/`, the examples in `<target dir>/debug/examples/`. (Tests
/// need the dev-dependencies, so their features are part of the one
/// resolution; `cargo test` of [`TEST_TARGETS`] then compiles nothing.)
pub fn debug() -> Result<(), String> {
    run(cargo().args([
        "build",
        "--workspace",
        "--lib",
        "--bins",
        "--tests",
        "--examples",
        "--quiet",
    ]))
}

/// Builds (or finds up to date) every binary of [`OPTIMISED_PACKAGES`],
/// optimised.
pub fn optimised() -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--quiet", "--bins"]);
    for package in OPTIMISED_PACKAGES {
        cmd.args(["-p", package]);
    }
    run(&mut cmd)
}

/// The optimised binary `name` of one of [`OPTIMISED_PACKAGES`], built
/// first if needed.
pub fn optimised_bin(name: &str) -> Result<PathBuf, String> {
    optimised()?;
    binary("release", name)
}

#[cfg(test)]
mod tests {
    use super::OPTIMISED_PACKAGES;

    #[test]
    fn every_optimised_package_is_a_workspace_member() {
        let root = crate::util::root();
        for package in OPTIMISED_PACKAGES {
            let manifest = root.join("crates").join(package).join("Cargo.toml");
            assert!(manifest.is_file(), "{}", manifest.display());
        }
    }
}
