//! `cargo xtask interop-python`: the official Python SDK (`agentwrit` 0.3.0)
//! against our development broker.
//!
//! Creates (or reuses) a virtualenv under `target/interop-venv` with the SDK
//! installed from PyPI, builds and starts `agentwrit-devbroker --port 0
//! --sample-app` (the broker picks a free loopback port and prints its URL and
//! the universal app's credentials, which are parsed here), then runs
//! `xtask/interop/python_lifecycle.py`: create_agent → validate → renew →
//! delegate → release → validate (dead) → health, every result asserted. The
//! broker is killed on every path (it lives in a guard dropped on return).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{cargo, root, run};

/// The Python SDK release the check pins.
const PYTHON_SDK: &str = "agentwrit==0.3.0";
/// The version the installed SDK must report.
const PYTHON_SDK_VERSION: &str = "0.3.0";
/// How long the Python script may run before it is killed.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Entry point of `cargo xtask interop-python`.
pub fn interop_python(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("interop-python takes no arguments (got {a:?})"));
    }
    let start = Instant::now();
    let root = root();
    let python = ensure_venv(&root.join("target").join("interop-venv"))?;
    run(cargo().args([
        "build",
        "-p",
        "agentwrit-devbroker",
        "--bin",
        "agentwrit-devbroker",
    ]))?;
    let binary = target_dir(&root).join("debug").join(format!(
        "agentwrit-devbroker{}",
        std::env::consts::EXE_SUFFIX
    ));
    let broker = Broker::start(&binary)?;
    eprintln!("\ndevelopment broker at {}", broker.url);
    let script = root
        .join("xtask")
        .join("interop")
        .join("python_lifecycle.py");
    let result = run_script(&python, &script, &broker);
    drop(broker);
    eprintln!(
        "\ninterop-python: {} in {:.1} s",
        if result.is_ok() { "passed" } else { "FAILED" },
        start.elapsed().as_secs_f64()
    );
    result
}

/// `$CARGO_TARGET_DIR` if set (relative to the root), else `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root.join(d),
        None => root.join("target"),
    }
}

/// Returns the venv's interpreter, creating the venv and installing the SDK
/// unless a venv with the pinned SDK is already there.
fn ensure_venv(venv: &Path) -> Result<PathBuf, String> {
    let bin = if cfg!(windows) { "Scripts" } else { "bin" };
    let python = venv.join(bin).join("python");
    let probe = format!(
        "import agentwrit, sys; sys.exit(0 if agentwrit.__version__ == '{PYTHON_SDK_VERSION}' else 1)"
    );
    let ready = |py: &Path| {
        Command::new(py)
            .args(["-c", &probe])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && ready(&python) {
        eprintln!("reusing {} ({PYTHON_SDK})", venv.display());
        return Ok(python);
    }
    let system = std::env::var("PYTHON").unwrap_or_else(|_| String::from("python3"));
    let version = Command::new(&system)
        .arg("--version")
        .output()
        .map_err(|e| {
            format!("{system} not found ({e}); install Python 3.10+ or set PYTHON=/path/to/python3")
        })?;
    if !version.status.success() {
        return Err(format!(
            "`{system} --version` failed; is Python 3 installed?"
        ));
    }
    run(Command::new(&system).arg("-m").arg("venv").arg(venv)).map_err(|e| {
        format!(
            "{e}\ncould not create a virtualenv with `{system} -m venv` \
             (on Debian/Ubuntu: apt-get install python3-venv)"
        )
    })?;
    let pip = venv.join(bin).join("pip");
    if !pip.exists() {
        return Err(format!(
            "the virtualenv has no pip at {} (ensurepip missing? on Debian/Ubuntu: apt-get install python3-venv)",
            pip.display()
        ));
    }
    run(Command::new(&pip).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        PYTHON_SDK,
    ]))
    .map_err(|e| format!("{e}\ncould not install {PYTHON_SDK} from PyPI"))?;
    if !ready(&python) {
        return Err(format!(
            "{PYTHON_SDK} installed but `import agentwrit` does not report {PYTHON_SDK_VERSION}"
        ));
    }
    Ok(python)
}

/// Runs the lifecycle script with the broker's URL and app credentials in
/// its environment; kills it after [`SCRIPT_TIMEOUT`].
fn run_script(python: &Path, script: &Path, broker: &Broker) -> Result<(), String> {
    eprintln!("\n$ {} {}", python.display(), script.display());
    let mut child = Command::new(python)
        .arg(script)
        .env("AGENTWRIT_BROKER_URL", &broker.url)
        .env("AGENTWRIT_CLIENT_ID", &broker.client_id)
        .env("AGENTWRIT_CLIENT_SECRET", &broker.client_secret)
        .env("PYTHONUNBUFFERED", "1")
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", python.display()))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(format!(
                    "the Python SDK lifecycle failed ({status}); mismatches are listed above"
                ));
            }
            Ok(None) if started.elapsed() > SCRIPT_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the Python SDK lifecycle did not finish in {} s; killed",
                    SCRIPT_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for the Python script: {e}"));
            }
        }
    }
}

/// The running broker process; killed when dropped.
struct Broker {
    child: Child,
    url: String,
    client_id: String,
    client_secret: String,
}

impl Broker {
    /// Starts the binary on a free loopback port and reads what it prints
    /// (its URL and the universal app's credentials) until it is ready.
    fn start(binary: &Path) -> Result<Broker, String> {
        let mut child = Command::new(binary)
            .args(["--port", "0", "--bind", "127.0.0.1", "--sample-app"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the broker's stdout was not captured".into());
        };
        // From here on the guard kills the child on every return path.
        let mut broker = Broker {
            child,
            url: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut ready = false;
        for line in lines.by_ref() {
            let line = line.map_err(|e| format!("reading the broker's output: {e}"))?;
            if let Some((_, url)) = line.split_once(" listening on ") {
                broker.url = url.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("export AGENTWRIT_CLIENT_ID=") {
                broker.client_id = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("export AGENTWRIT_CLIENT_SECRET=") {
                broker.client_secret = v.trim().to_owned();
            }
            // Lines carrying secrets (admin secret, client secret) are not echoed.
            if line.starts_with("press Ctrl-C") {
                ready = true;
                break;
            }
        }
        if !ready {
            let status = broker.child.try_wait().ok().flatten();
            return Err(format!(
                "the broker exited before it was ready ({})",
                status.map_or_else(|| String::from("still running"), |s| s.to_string())
            ));
        }
        if !broker.url.starts_with("http://127.0.0.1:")
            || broker.client_id.is_empty()
            || broker.client_secret.is_empty()
        {
            return Err(
                "the broker did not print a loopback URL and the sample app's credentials".into(),
            );
        }
        // Keep draining stdout so the broker never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(broker)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
