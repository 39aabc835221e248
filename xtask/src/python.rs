//! What `interop-python` and `bench-compare` share: a virtualenv holding
//! the official Python SDK, and a development broker binary run as a child
//! process with the universal sample app registered.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::util::{run, target_dir};

/// The Python SDK release both commands pin (from PyPI).
pub const PYTHON_SDK: &str = "agentwrit==0.3.0";
/// The version the installed SDK must report.
const PYTHON_SDK_VERSION: &str = "0.3.0";

/// The interpreter of the one virtualenv holding [`PYTHON_SDK`]:
/// `<target dir>/python-sdk-venv`, wherever cargo's target directory is
/// (`CARGO_TARGET_DIR` included), created on first use.
pub fn sdk_python() -> Result<PathBuf, String> {
    let probe = format!(
        "import agentwrit, sys; sys.exit(0 if agentwrit.__version__ == '{PYTHON_SDK_VERSION}' else 1)"
    );
    ensure_venv(
        &target_dir()?.join("python-sdk-venv"),
        &[PYTHON_SDK],
        &probe,
    )
}

/// Returns the interpreter of the virtualenv `venv`, creating it and
/// installing `packages` (pinned requirement strings, from PyPI) unless
/// `probe` (a Python snippet) already exits 0 there.
pub fn ensure_venv(venv: &Path, packages: &[&str], probe: &str) -> Result<PathBuf, String> {
    let bin = if cfg!(windows) { "Scripts" } else { "bin" };
    let python = venv.join(bin).join("python");
    let wanted = packages.join(" ");
    let ready = |py: &Path| {
        Command::new(py)
            .args(["-c", probe])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && ready(&python) {
        eprintln!("reusing {} ({wanted})", venv.display());
        return Ok(python);
    }
    if !python.exists() {
        let system = std::env::var("PYTHON").unwrap_or_else(|_| String::from("python3"));
        let version = Command::new(&system)
            .arg("--version")
            .output()
            .map_err(|e| {
                format!(
                    "{system} not found ({e}); install Python 3.10+ or set PYTHON=/path/to/python3"
                )
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
    }
    let pip = venv.join(bin).join("pip");
    if !pip.exists() {
        return Err(format!(
            "the virtualenv has no pip at {} (ensurepip missing? on Debian/Ubuntu: apt-get install python3-venv)",
            pip.display()
        ));
    }
    run(Command::new(&pip)
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(packages))
    .map_err(|e| format!("{e}\ncould not install {wanted} from PyPI"))?;
    if !ready(&python) {
        return Err(format!(
            "{wanted} installed in {} but the check `{probe}` still fails",
            venv.display()
        ));
    }
    Ok(python)
}

/// A running `agentwrit-devbroker` process; killed when dropped.
pub struct Broker {
    child: Option<Child>,
    /// The broker's process id (for CPU accounting).
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The universal sample app's client id.
    pub client_id: String,
    /// The universal sample app's client secret (never printed).
    pub client_secret: String,
}

impl Broker {
    /// Starts the binary on a free loopback port with the sample app and
    /// `extra` arguments, and reads what it prints (its URL and the app's
    /// credentials) until it is ready.
    pub fn start(binary: &Path, extra: &[&str]) -> Result<Broker, String> {
        let mut child = Command::new(binary)
            .args(["--port", "0", "--bind", "127.0.0.1", "--sample-app"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take();
        // From here on the guard kills the child on every return path.
        let mut broker = Broker {
            pid: child.id(),
            child: Some(child),
            url: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
        };
        let Some(stdout) = stdout else {
            return Err("the broker's stdout was not captured".into());
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
            let status = broker
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            return Err(format!(
                "the broker exited before it was ready ({})",
                status.map_or_else(|| String::from("still running"), |s| s.to_string())
            ));
        }
        if !(broker.url.starts_with("http://127.0.0.1:")
            || broker.url.starts_with("https://127.0.0.1:"))
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

    /// Kills the broker and waits for it (idempotent).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
