//! `cargo xtask interop-python`: the official Python SDK (`agentwrit` 0.3.0)
//! against our development broker.
//!
//! Creates (or reuses) the Python SDK's virtualenv (under the target
//! directory, shared with `bench-compare`) with the SDK installed from PyPI, builds and starts `agentwrit-devbroker --port 0
//! --sample-app` (the broker picks a free loopback port and prints its URL and
//! the universal app's credentials, which are parsed here), then runs
//! `xtask/interop/python_lifecycle.py`: create_agent → validate → renew →
//! delegate → release → validate (dead) → health, every result asserted. The
//! broker is killed on every path (it lives in a guard dropped on return).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::python::{Broker, sdk_python};
use crate::util::root;

/// How long the Python script may run before it is killed.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Entry point of `cargo xtask interop-python`.
pub fn interop_python(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("interop-python takes no arguments (got {a:?})"));
    }
    let start = Instant::now();
    let root = root();
    let python = sdk_python()?;
    // The broker from the shared optimised build: the same binary the
    // soak and the comparison run, compiled once.
    let broker = Broker::start(&crate::builds::optimised_bin("agentwrit-devbroker")?, &[])?;
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
