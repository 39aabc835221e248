//! The soak: many full agent lifecycles (create → validate → delegate →
//! release → validate-dead) across concurrent workers sharing ONE `App`
//! against ONE in-process development broker. Run by `cargo xtask soak`.
//!
//! ```text
//! soak [--lifecycles N] [--workers W] [--quick]
//! ```
//!
//! Exits non-zero on any error, a released token that still validates, a
//! repeated agent id, or memory that grew by more than 20 % + 8 MiB between
//! the end of the first quarter and the end of the run.

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentwrit_bench::{
    LifecycleOutcome, Memory, Mib, Stats, blocking, grew_too_much, lifecycle_blocking, ms,
};

struct Args {
    lifecycles: usize,
    workers: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        lifecycles: 2000,
        workers: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            let v = it.next().ok_or_else(|| format!("{name} needs a value"))?;
            match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{name}: expected a positive number, got {v:?}")),
            }
        };
        match arg.as_str() {
            "--lifecycles" => a.lifecycles = num("--lifecycles")?,
            "--workers" => a.workers = num("--workers")?,
            "--quick" => {
                a.lifecycles = 200;
                a.workers = 8;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    match parse().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Shared {
    next: AtomicUsize,
    done: AtomicUsize,
    quarter: usize,
    first_quarter: Mutex<Option<(Memory, Duration)>>,
    results: Mutex<Vec<(Duration, Result<LifecycleOutcome, String>)>>,
}

fn run(args: Args) -> Result<(), String> {
    let broker = agentwrit_devbroker::DevBroker::start().map_err(|e| e.to_string())?;
    let reg = broker
        .register_app("soak", &["read:data:*", "write:data:*"], None)
        .map_err(|e| e.to_string())?;
    let app = blocking::App::new(broker.url(), &reg.client_id, reg.client_secret.clone())
        .map_err(|e| e.to_string())?;
    // The registered agent every lifecycle delegates to.
    let target = app
        .create_agent("bench-orch", "delegate-target", &["read:data:none"])
        .map_err(|e| format!("delegate target: {e}"))?;
    let target_id = target.agent_id();
    println!(
        "soak: {} lifecycles (create → validate → delegate → release → validate-dead), \
         {} workers, one shared App, one in-process development broker at {} (default rate limits)",
        args.lifecycles,
        args.workers,
        broker.url()
    );
    let start_mem = Memory::read();

    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        quarter: (args.lifecycles / 4).max(1),
        first_quarter: Mutex::new(None),
        results: Mutex::new(Vec::with_capacity(args.lifecycles)),
    });
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..args.workers {
            let shared = Arc::clone(&shared);
            let app = app.clone();
            let target_id = target_id.as_str();
            let total = args.lifecycles;
            s.spawn(move || {
                loop {
                    let i = shared.next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let t = Instant::now();
                    let r = lifecycle_blocking(&app, i, Some(target_id));
                    let took = t.elapsed();
                    if let Ok(mut v) = shared.results.lock() {
                        v.push((took, r));
                    }
                    let done = shared.done.fetch_add(1, Ordering::AcqRel) + 1;
                    if done == shared.quarter
                        && let Ok(mut q) = shared.first_quarter.lock()
                    {
                        *q = Some((Memory::read(), started.elapsed()));
                    }
                }
            });
        }
    });
    let wall = started.elapsed();
    let end_mem = Memory::read();

    let results = std::mem::take(
        &mut *shared
            .results
            .lock()
            .map_err(|_| "a worker panicked".to_owned())?,
    );
    let mut samples = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    let mut ids = HashSet::new();
    let mut alive_after_release = 0usize;
    let mut duplicates = 0usize;
    for (took, r) in results {
        match r {
            Ok(o) => {
                samples.push(took);
                if !o.dead_after_release {
                    alive_after_release += 1;
                }
                if !ids.insert(o.agent_id) {
                    duplicates += 1;
                }
            }
            Err(e) => errors.push(e),
        }
    }
    let _ = target.release();

    println!();
    if let Some(s) = Stats::from_samples(&samples, wall) {
        println!(
            "lifecycles ok      {} of {} in {:.2} s",
            s.count,
            args.lifecycles,
            wall.as_secs_f64()
        );
        println!("throughput         {:.1} lifecycles/s", s.throughput);
        println!(
            "latency            p50 {} ms   p99 {} ms   max {} ms",
            ms(s.median),
            ms(s.p99),
            ms(s.max)
        );
    }
    println!("errors             {}", errors.len());
    for e in errors.iter().take(5) {
        println!("  e.g. {e}");
    }
    println!(
        "released tokens    {} validated dead, {} still valid",
        samples.len() - alive_after_release,
        alive_after_release
    );
    println!(
        "agent ids          {} distinct, {} repeated",
        ids.len(),
        duplicates
    );
    let quarter = shared.first_quarter.lock().ok().and_then(|q| *q);
    println!(
        "memory (client + in-process broker): start RSS {}, peak (VmHWM) {}",
        Mib(start_mem.rss),
        Mib(end_mem.peak)
    );
    let mut grew = None;
    match (quarter, end_mem.rss) {
        (Some((q, at)), Some(last)) => {
            println!(
                "  RSS after first quarter ({} lifecycles, {:.2} s): {}",
                shared.quarter,
                at.as_secs_f64(),
                Mib(q.rss)
            );
            println!(
                "  RSS after last quarter (all lifecycles): {}",
                Mib(Some(last))
            );
            if let Some(first) = q.rss {
                let bound = first + first / 5 + 8 * 1024 * 1024;
                println!(
                    "  growth {:+.1} MiB; bound (first + 20 % + 8 MiB) {}",
                    (last as f64 - first as f64) / (1024.0 * 1024.0),
                    Mib(Some(bound))
                );
                grew = Some(grew_too_much(first, last));
            }
        }
        _ => println!("  RSS per quarter: not available on this platform"),
    }

    let mut failures = Vec::new();
    if !errors.is_empty() {
        failures.push(format!("{} lifecycle errors", errors.len()));
    }
    if alive_after_release > 0 {
        failures.push(format!("{alive_after_release} released tokens still valid"));
    }
    if duplicates > 0 {
        failures.push(format!("{duplicates} repeated agent ids"));
    }
    if grew == Some(true) {
        failures.push("memory grew beyond the bound in the last quarter".to_owned());
    }
    if failures.is_empty() {
        println!("\nsoak: OK");
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
