//! A profiling target: N create-agent calls on the blocking client against
//! the broker named by `AGENTWRIT_BROKER_URL` / `AGENTWRIT_CLIENT_ID` /
//! `AGENTWRIT_CLIENT_SECRET` (run the broker as a separate process so its
//! CPU is not counted), then prints this process's CPU per create.
//!
//! ```text
//! create_loop [N]        # e.g. under `perf record -g` or `strace -c -f`
//! ```

use std::process::ExitCode;

use agentwrit_bench::{blocking, process_cpu_time};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("create_loop: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let n: usize = match std::env::args().nth(1) {
        Some(v) => v.parse().map_err(|_| format!("invalid count {v:?}"))?,
        None => 1000,
    };
    let app = blocking::App::from_env().map_err(|e| e.to_string())?;
    let mut agents = Vec::with_capacity(n);
    let before = process_cpu_time();
    for i in 0..n {
        let scope = [format!("read:data:customer-{i}")];
        agents.push(
            app.create_agent("bench-orch", &format!("loop-{i}"), &scope)
                .map_err(|e| e.to_string())?,
        );
    }
    let after = process_cpu_time();
    for a in agents {
        a.release().map_err(|e| e.to_string())?;
    }
    if let (Some(b), Some(a)) = (before, after) {
        let per = (a - b).as_secs_f64() * 1e6 / n.max(1) as f64;
        println!("{n} creates: {per:.1} µs client CPU per create");
    }
    Ok(())
}
