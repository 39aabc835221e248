//! `cargo xtask bench-compare`: the Rust SDK side by side with the official
//! Python SDK against ONE development broker process.
//!
//! Builds the broker binary and agentwrit-bench's `compare` binary in
//! release mode, creates `target/bench-venv` with `agentwrit==0.3.0` (once),
//! starts `agentwrit-devbroker --port 0 --sample-app --no-rate-limits`,
//! reads its URL and the sample app's credentials from its output, runs
//! `compare` (which runs the Python script first, then the Rust clients)
//! and stops the broker.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::util::{cargo, flag, root, run};

const PYTHON_SDK: &str = "agentwrit==0.3.0";

/// Runs the comparison; `--lifecycles N` (default 500) or `--quick` (50).
pub fn bench_compare(args: &[String]) -> Result<(), String> {
    let mut lifecycles = if flag(args, "--quick") { 50 } else { 500 };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {}
            "--lifecycles" => {
                let v = it.next().ok_or("--lifecycles needs a value")?;
                lifecycles = v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("--lifecycles: expected a positive number, got {v:?}")
                })?;
            }
            other => return Err(format!("bench-compare: unknown argument {other:?}")),
        }
    }

    let root = root();
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "agentwrit-devbroker",
        "-p",
        "agentwrit-bench",
        "--bins",
    ]);
    run(&mut build)?;
    let release = root.join("target").join("release");

    let python = ensure_venv(&root.join("target").join("bench-venv"))?;

    let mut broker = Broker::start(&release.join("agentwrit-devbroker"))?;
    eprintln!("bench-compare: development broker at {}", broker.url);
    let script = root
        .join("crates")
        .join("agentwrit-bench")
        .join("python")
        .join("py_bench.py");
    let mut cmd = Command::new(release.join("compare"));
    cmd.args(["--lifecycles", &lifecycles.to_string()])
        .args(["--broker-pid", &broker.pid.to_string()])
        .arg("--python")
        .arg(&python)
        .arg("--script")
        .arg(&script)
        .env("AGENTWRIT_BENCH_BROKER_PID", broker.pid.to_string())
        .env("AGENTWRIT_BROKER_URL", &broker.url)
        .env("AGENTWRIT_CLIENT_ID", &broker.client_id)
        .env("AGENTWRIT_CLIENT_SECRET", &broker.client_secret);
    // Not `util::run`: it would echo the environment, client secret included.
    eprintln!(
        "\n$ target/release/compare --lifecycles {lifecycles} (AGENTWRIT_* set to the broker's sample app)"
    );
    let status = cmd.status();
    broker.stop();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("compare failed with {s}")),
        Err(e) => Err(format!("could not start compare: {e}")),
    }
}

/// Creates the virtualenv with the Python SDK unless it already has it;
/// returns its interpreter.
fn ensure_venv(venv: &Path) -> Result<std::path::PathBuf, String> {
    let python = venv.join("bin").join("python");
    let ready = python.exists()
        && Command::new(&python)
            .args([
                "-c",
                "import agentwrit, sys; sys.exit(agentwrit.__version__ != '0.3.0')",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if !ready {
        let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        run(Command::new(system).arg("-m").arg("venv").arg(venv))?;
        run(Command::new(venv.join("bin").join("pip")).args(["install", "-q", PYTHON_SDK]))?;
    }
    Ok(python)
}

/// The broker process; killed on drop.
struct Broker {
    child: Option<Child>,
    pid: u32,
    url: String,
    client_id: String,
    client_secret: String,
}

impl Broker {
    fn start(binary: &Path) -> Result<Broker, String> {
        let mut child = Command::new(binary)
            .args(["--port", "0", "--sample-app", "--no-rate-limits"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no broker stdout")?;
        let mut broker = Broker {
            pid: child.id(),
            child: Some(child),
            url: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
        };
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.map_err(|e| format!("reading the broker's output: {e}"))?;
            if let Some((_, url)) = line.split_once(" listening on ") {
                broker.url = url.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("export AGENTWRIT_CLIENT_ID=") {
                broker.client_id = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("export AGENTWRIT_CLIENT_SECRET=") {
                broker.client_secret = v.trim().to_owned();
            }
            if line.starts_with("press Ctrl-C") {
                break;
            }
        }
        if broker.url.is_empty() || broker.client_id.is_empty() || broker.client_secret.is_empty() {
            return Err("the broker did not print its URL and sample app".into());
        }
        // Keep draining stdout so the broker never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(broker)
    }

    fn stop(&mut self) {
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
