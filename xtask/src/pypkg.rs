//! `cargo xtask python`: the Python package `agentwrit_rs`
//! (crates/agentwrit-python), built and tested as users run it.
//!
//! Creates (or reuses) a virtualenv under the target directory with the
//! pinned maturin, pytest and mypy from PyPI, builds the wheel with
//! maturin (into the target directory), installs it into the venv, then
//! runs, against the installed package: the pytest suite, `mypy --strict`
//! on the suite and on the package's modules, and `python -m mypy.stubtest agentwrit_rs` (the stubs
//! against the built module); then the MCP suite (`test_mcp.py`) again in a
//! second venv with the oldest supported `mcp` release (2.0.0).
//! `--release` builds the wheel optimised (what `maturin build --release`
//! ships).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::python::ensure_venv;
use crate::util::{flag, root, run, target_dir};

/// The tools, pinned (PyPI): the build, the test runner and the type
/// checker, and what the lifetime tests run the package under: gunicorn
/// (`--preload`, the fork tests) and anyio (repeated cancellation, as
/// Starlette and FastAPI deliver it); and what the service side is tested
/// with: the official `mcp` package (server and client), FastAPI (with
/// its test client's httpx) and uvicorn; and pytest-timeout, which bounds
/// every test ([`PYTEST_BOUNDS`]).
const TOOLS: [&str; 10] = [
    "maturin==1.16.0",
    "pytest==9.2.0",
    "pytest-timeout==2.4.0",
    "mypy==2.4.1",
    "gunicorn==27.0.1",
    "anyio==4.16.0",
    "mcp==2.3.0",
    "fastapi==0.165.0",
    "httpx==0.28.1",
    "uvicorn==0.55.0",
];

const PROBE: &str = "import importlib.metadata as m, sys; \
    v = {d: m.version(d) for d in ('maturin', 'pytest', 'pytest-timeout', 'mypy', 'gunicorn', \
    'anyio', 'mcp', 'fastapi', 'httpx', 'uvicorn')}; \
    sys.exit(0 if v == {'maturin': '1.16.0', 'pytest': '9.2.0', 'pytest-timeout': '2.4.0', \
    'mypy': '2.4.1', \
    'gunicorn': '27.0.1', 'anyio': '4.16.0', 'mcp': '2.3.0', 'fastapi': '0.165.0', \
    'httpx': '0.28.1', 'uvicorn': '0.55.0'} else 1)";

/// The oldest `mcp` release supported (the first 2.x): `test_mcp.py` runs
/// again against it, in a venv of its own.
const OLDEST_MCP: [&str; 5] = [
    "pytest==9.2.0",
    "pytest-timeout==2.4.0",
    "mcp==2.0.0",
    "httpx==0.28.1",
    "uvicorn==0.55.0",
];

const OLDEST_MCP_PROBE: &str = "import importlib.metadata as m, sys; \
    v = {d: m.version(d) for d in ('pytest', 'pytest-timeout', 'mcp', 'httpx', 'uvicorn')}; \
    sys.exit(0 if v == {'pytest': '9.2.0', 'pytest-timeout': '2.4.0', 'mcp': '2.0.0', \
    'httpx': '0.28.1', 'uvicorn': '0.55.0'} else 1)";

/// The bounds of a pytest run (pytest-timeout): each test at most
/// `--timeout` seconds, the whole session at most `--session-timeout`
/// (each test's bound is cut to what is left of it). A test past its
/// bound ends the run with every thread's stack (`thread`: it works even
/// where the main thread waits inside the native module, which `signal`
/// could not interrupt), so a hang is a failure with a diagnosis, never a
/// CI run that stalls. The slowest tests (gunicorn under load, the doc
/// examples on a loaded 2-core machine) take well under a minute.
const PYTEST_BOUNDS: [&str; 3] = [
    "--timeout=300",
    "--timeout-method=thread",
    "--session-timeout=2700",
];

/// The interpreter of the package's virtualenv (`<target>/agentwrit-rs-venv`).
pub fn venv_python() -> Result<PathBuf, String> {
    ensure_venv(&target_dir()?.join("agentwrit-rs-venv"), &TOOLS, PROBE)
}

/// Builds the wheel (debug unless `release`) and installs it into the
/// venv of `python`; returns the wheel's path.
pub fn build_and_install(python: &Path, release: bool) -> Result<PathBuf, String> {
    let wheel = build_wheel(python, release)?;
    install_wheel(python, &wheel)?;
    Ok(wheel)
}

/// Builds the wheel (debug unless `release`) with the maturin of the venv
/// of `python` into the target directory; returns its path.
pub fn build_wheel(python: &Path, release: bool) -> Result<PathBuf, String> {
    let crate_dir = root().join("crates").join("agentwrit-python");
    let out = target_dir()?
        .join("wheels")
        .join(if release { "release" } else { "debug" });
    // Only this build's wheel in the directory, so the install below
    // cannot pick a stale one.
    if out.exists() {
        std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    let bin = python
        .parent()
        .ok_or("the venv's interpreter has no directory")?;
    let mut build = Command::new(bin.join("maturin"));
    crate::util::builds_as_by_hand(&mut build);
    build
        .arg("build")
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .arg("--interpreter")
        .arg(python)
        .arg("--out")
        .arg(&out);
    if release {
        build.arg("--release");
    }
    run(&mut build)?;
    let wheel = std::fs::read_dir(&out)
        .map_err(|e| format!("{}: {e}", out.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| format!("maturin wrote no wheel into {}", out.display()))?;
    Ok(wheel)
}

/// Installs `wheel` (replacing any other build of it) into the venv of
/// `python`.
pub fn install_wheel(python: &Path, wheel: &Path) -> Result<(), String> {
    run(Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--force-reinstall",
            "--no-deps",
        ])
        .arg(wheel))
}

/// Entry point of `cargo xtask python`.
pub fn python(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.iter().find(|a| *a != "--release") {
        return Err(format!("python takes only --release (got {a:?})"));
    }
    let python = venv_python()?;
    let wheel = build_and_install(&python, flag(args, "--release"))?;
    let crate_dir = root().join("crates").join("agentwrit-python");
    let tests = crate_dir.join("tests");
    // From the tests' directory, so the package's source directory
    // (python/) is not on sys.path: what is imported is the installed wheel.
    run(Command::new(&python)
        .current_dir(&tests)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .args(PYTEST_BOUNDS)
        .arg("."))?;
    let cache = target_dir()?.join("agentwrit-rs-mypy-cache");
    run(Command::new(&python)
        .current_dir(&tests)
        .args(["-m", "mypy", "--strict", "--cache-dir"])
        .arg(&cache)
        .arg("."))?;
    // The package's own modules, strict (installed packages' errors are
    // not reported when checking the suite).
    run(Command::new(&python)
        .current_dir(crate_dir.join("python"))
        .args(["-m", "mypy", "--strict", "--cache-dir"])
        .arg(&cache)
        .args(["-p", "agentwrit_rs"]))?;
    run(Command::new(&python)
        .current_dir(&tests)
        .args(["-m", "mypy.stubtest", "agentwrit_rs", "--mypy-config-file"])
        .arg(crate_dir.join("stubtest.ini")))?;
    // The MCP suite against the oldest supported mcp release.
    let oldest = ensure_venv(
        &target_dir()?.join("agentwrit-rs-mcp2.0-venv"),
        &OLDEST_MCP,
        OLDEST_MCP_PROBE,
    )?;
    install_wheel(&oldest, &wheel)?;
    run(Command::new(&oldest)
        .current_dir(&tests)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .args(PYTEST_BOUNDS)
        .arg("test_mcp.py"))?;
    Ok(())
}
