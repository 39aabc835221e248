//! `cargo xtask mcp`: the example MCP server (`examples/mcp`, the built
//! `mcp_server` binary) against the official MCP clients, installed as
//! users install them.
//!
//! Creates (or reuses) under the target directory a virtualenv with the
//! `mcp` package from PyPI and an npm project with
//! `@modelcontextprotocol/sdk` from the npm registry, both at pinned
//! versions; builds the Python package `agentwrit_rs` (the wheel, as
//! `cargo xtask python` builds it) and installs it into that virtualenv,
//! for the Python example server (`examples/mcp/python/mcp_server.py`);
//! then runs the `official_clients` tests of `agentwrit-mcp-example`
//! (ignored by a plain `cargo test`) with `AGENTWRIT_MCP_PYTHON` and
//! `AGENTWRIT_MCP_NODE_DIR` pointing at them: both clients against the
//! Rust server and against the Python server. Each test starts its own
//! development broker and server on 127.0.0.1:0.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::python::ensure_venv;
use crate::util::{cargo, run, target_dir};

/// The Python MCP SDK, pinned (PyPI).
const PYTHON_MCP: &str = "mcp==2.3.0";
const PYTHON_PROBE: &str = "import importlib.metadata as m, sys; \
    sys.exit(0 if m.version('mcp') == '2.3.0' else 1)";

/// The TypeScript MCP SDK, pinned (npm).
const NODE_SDK: &str = "@modelcontextprotocol/sdk";
const NODE_SDK_VERSION: &str = "1.32.2";

/// Entry point of `cargo xtask mcp`.
pub fn mcp(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("mcp takes no arguments (got {a:?})"));
    }
    let (python, node_dir) = provision()?;
    // Selected over the whole workspace, as the debug build of `cargo
    // xtask test` is: the same features, so nothing is compiled again.
    let mut cmd = cargo();
    if crate::tools::nextest_present() {
        cmd.args(["nextest", "run", "--workspace"])
            .args(crate::builds::TEST_TARGETS)
            .args(["--run-ignored", "only", "-E", "binary(=official_clients)"]);
    } else {
        cmd.args([
            "test",
            "--workspace",
            "--test",
            "official_clients",
            "--",
            "--ignored",
        ]);
    }
    run(cmd
        .env("AGENTWRIT_MCP_PYTHON", &python)
        .env("AGENTWRIT_MCP_NODE_DIR", &node_dir))
}

/// The two official clients, installed when missing: the venv's
/// interpreter and the npm project's directory (also run on its own by
/// CI's provisioning lane, while the code compiles).
pub fn provision() -> Result<(PathBuf, PathBuf), String> {
    let python = ensure_venv(
        &target_dir()?.join("mcp-python-venv"),
        &[PYTHON_MCP],
        PYTHON_PROBE,
    )?;
    // The Python server runs on the installed wheel, as users run it.
    let wheel = crate::pypkg::build_wheel(&crate::pypkg::venv_python()?, false)?;
    crate::pypkg::install_wheel(&python, &wheel)?;
    let node_dir = ensure_npm_project(&target_dir()?.join("mcp-node"))?;
    Ok((python, node_dir))
}

/// An npm project in `dir` with the pinned SDK installed (from the npm
/// registry), reused when it already has that version.
fn ensure_npm_project(dir: &Path) -> Result<PathBuf, String> {
    let installed = dir
        .join("node_modules")
        .join("@modelcontextprotocol")
        .join("sdk")
        .join("package.json");
    let version_ok = std::fs::read_to_string(&installed)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|pkg| pkg["version"] == NODE_SDK_VERSION);
    if version_ok {
        eprintln!("reusing {} ({NODE_SDK}@{NODE_SDK_VERSION})", dir.display());
        return Ok(dir.to_path_buf());
    }
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) {
        return Err(
            "node not found: Node.js 18+ and npm are needed for the TypeScript MCP client".into(),
        );
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let package = serde_json::json!({
        "name": "agentwrit-mcp-clients",
        "private": true,
        "type": "module",
        "dependencies": { NODE_SDK: NODE_SDK_VERSION },
    });
    std::fs::write(dir.join("package.json"), package.to_string())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    run(Command::new("npm").current_dir(dir).args([
        "install",
        "--no-audit",
        "--no-fund",
        "--no-package-lock",
        "--loglevel=error",
    ]))
    .map_err(|e| format!("{e}\ncould not install {NODE_SDK}@{NODE_SDK_VERSION} from npm"))?;
    Ok(dir.to_path_buf())
}
