//! `fuzz [--target NAME] [--inputs N] [--seconds S] [--seed X]`: runs the
//! fuzz targets and prints one line per target; exits non-zero on the
//! first panic, after writing the input to `target/fuzz-crash-<target>`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use agentwrit_fuzz::{TARGETS, load_corpus, run};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = arg(&args, "--target");
    let inputs: u64 = arg(&args, "--inputs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seconds: Option<u64> = arg(&args, "--seconds").and_then(|v| v.parse().ok());
    let seed: u64 = arg(&args, "--seed")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let corpus_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    // A panic is caught and reported by the harness; keep stderr quiet.
    std::panic::set_hook(Box::new(|_| {}));

    let mut failed = false;
    println!(
        "{:<8} {:>12} {:>9} {:>12}  result",
        "target", "inputs", "seconds", "inputs/s"
    );
    for target in TARGETS
        .iter()
        .filter(|t| only.as_deref().is_none_or(|o| o == t.name))
    {
        let corpus = load_corpus(&corpus_dir, target.name);
        let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
        let report = run(target, &corpus, seed, inputs, deadline);
        let rate = report.inputs as f64 / report.seconds.max(1e-9);
        let result = match &report.panic {
            None => format!("ok, 0 panics ({} seed files)", corpus.len()),
            Some((index, input, message)) => {
                failed = true;
                let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target")
                    .join(format!("fuzz-crash-{}", target.name));
                let _ = std::fs::write(&path, input);
                format!(
                    "PANIC at input {index}: {message} (input saved to {})",
                    path.display()
                )
            }
        };
        println!(
            "{:<8} {:>12} {:>9.1} {:>12.0}  {result}",
            report.target, report.inputs, report.seconds, rate
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
