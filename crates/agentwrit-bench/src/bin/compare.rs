//! The side-by-side comparison with the official Python SDK, run by
//! `cargo xtask bench-compare` (which starts the development broker binary
//! and the virtualenv, then runs this with `AGENTWRIT_BROKER_URL`,
//! `AGENTWRIT_CLIENT_ID` and `AGENTWRIT_CLIENT_SECRET` set).
//!
//! ```text
//! compare --lifecycles N --python PYTHON --script py_bench.py [--cpu-creates M]
//!         [--rs-python PYTHON --rs-script rs_bench.py]
//! ```
//!
//! Runs the Python side first (a subprocess, alone on the machine), then,
//! when given, the Python package `agentwrit_rs` on the Rust core (another
//! subprocess: sequential, asyncio at 32 in flight, 32 threads), then the
//! Rust blocking client, the async client at 1 and at 32 lifecycles in
//! flight, client CPU per create-agent, and `scope_is_subset` on the six
//! scope cases; prints one table.

use std::hint::black_box;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agentwrit_bench::{
    Stats, blocking, lifecycle_async, lifecycle_blocking, ms, nonblocking, pid_cpu_time,
    process_cpu_time, scope_cases,
};

struct Args {
    lifecycles: usize,
    broker_pid: Option<u32>,
    cpu_creates: Option<usize>,
    python: String,
    script: String,
    rs_python: Option<String>,
    rs_script: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        lifecycles: 500,
        broker_pid: None,
        cpu_creates: None,
        python: "python3".into(),
        script: String::new(),
        rs_python: None,
        rs_script: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let positive = |name: &str, v: String| match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name}: expected a positive number, got {v:?}")),
        };
        match arg.as_str() {
            "--lifecycles" => a.lifecycles = positive("--lifecycles", value("--lifecycles")?)?,
            "--cpu-creates" => {
                a.cpu_creates = Some(positive("--cpu-creates", value("--cpu-creates")?)?);
            }
            "--broker-pid" => {
                let v = value("--broker-pid")?;
                a.broker_pid = Some(v.parse().map_err(|_| format!("invalid pid {v:?}"))?);
            }
            "--python" => a.python = value("--python")?,
            "--script" => a.script = value("--script")?,
            "--rs-python" => a.rs_python = Some(value("--rs-python")?),
            "--rs-script" => a.rs_script = Some(value("--rs-script")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.script.is_empty() {
        return Err("--script is required".into());
    }
    if a.rs_python.is_some() != a.rs_script.is_some() {
        return Err("--rs-python and --rs-script go together".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    match parse().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare: {e}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

/// One lifecycle row: latency statistics and CPU per lifecycle.
struct Row {
    stats: Stats,
    client_cpu: Option<Duration>,
    broker_cpu: Option<Duration>,
}

/// CPU readings of this process and of the broker process.
#[derive(Clone, Copy)]
struct Cpu {
    client: Option<Duration>,
    broker: Option<Duration>,
}

impl Cpu {
    fn now(broker_pid: Option<u32>) -> Cpu {
        Cpu {
            client: process_cpu_time(),
            broker: broker_pid.and_then(pid_cpu_time),
        }
    }

    /// The row for `stats`, dividing the CPU spent since `self` by the
    /// number of lifecycles.
    fn row(self, stats: Stats, broker_pid: Option<u32>) -> Row {
        let end = Cpu::now(broker_pid);
        Row {
            client_cpu: per(self.client, end.client, stats.count),
            broker_cpu: per(self.broker, end.broker, stats.count),
            stats,
        }
    }
}

struct Python {
    lifecycle: Row,
    create_cpu: Duration,
    scope_ns: Vec<(String, f64)>,
    version: String,
}

fn run_python(args: &Args, cpu_creates: usize) -> Result<Python, String> {
    eprintln!(
        "compare: Python SDK: {} lifecycles, {} creates for CPU ...",
        args.lifecycles, cpu_creates
    );
    let out = Command::new(&args.python)
        .arg(&args.script)
        .arg(args.lifecycles.to_string())
        .arg(cpu_creates.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run {}: {e}", args.python))?;
    if !out.status.success() {
        return Err(format!("the Python benchmark failed with {}", out.status));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the Python benchmark printed no JSON: {e}"))?;
    let secs = |x: &serde_json::Value| x.as_f64().map(Duration::from_secs_f64);
    let samples: Vec<Duration> = v["lifecycle_samples_s"]
        .as_array()
        .ok_or("no lifecycle_samples_s")?
        .iter()
        .filter_map(secs)
        .collect();
    let wall = secs(&v["lifecycle_wall_s"]).ok_or("no lifecycle_wall_s")?;
    let stats = Stats::from_samples(&samples, wall).ok_or("no Python samples")?;
    let lifecycle = Row {
        stats,
        client_cpu: secs(&v["lifecycle_cpu_s"]),
        broker_cpu: secs(&v["lifecycle_broker_cpu_s"]),
    };
    let create_cpu = secs(&v["create_cpu_s"]).ok_or("no create_cpu_s")?;
    let scope_ns = v["scope_ns"]
        .as_object()
        .ok_or("no scope_ns")?
        .iter()
        .filter_map(|(k, x)| x.as_f64().map(|f| (k.clone(), f)))
        .collect();
    Ok(Python {
        lifecycle,
        create_cpu,
        scope_ns,
        version: v["python"].as_str().unwrap_or("?").to_owned(),
    })
}

/// The `agentwrit_rs` rows: the Python package on the Rust core.
struct RsPython {
    sequential: Row,
    asyncio_32: Row,
    threads_32: Row,
    create_cpu: Duration,
}

fn run_rs_python(
    python: &str,
    script: &str,
    n: usize,
    cpu_creates: usize,
) -> Result<RsPython, String> {
    eprintln!("compare: agentwrit_rs: {n} lifecycles per row, {cpu_creates} creates for CPU ...");
    let out = Command::new(python)
        .arg(script)
        .arg(n.to_string())
        .arg(cpu_creates.to_string())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run {python}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the agentwrit_rs benchmark failed with {}",
            out.status
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the agentwrit_rs benchmark printed no JSON: {e}"))?;
    let secs = |x: &serde_json::Value| x.as_f64().map(Duration::from_secs_f64);
    let row = |key: &str| -> Result<Row, String> {
        let r = &v[key];
        let samples: Vec<Duration> = r["samples_s"]
            .as_array()
            .ok_or_else(|| format!("no {key}.samples_s"))?
            .iter()
            .filter_map(secs)
            .collect();
        let wall = secs(&r["wall_s"]).ok_or_else(|| format!("no {key}.wall_s"))?;
        Ok(Row {
            stats: Stats::from_samples(&samples, wall)
                .ok_or_else(|| format!("no {key} samples"))?,
            client_cpu: secs(&r["cpu_s"]),
            broker_cpu: None,
        })
    };
    Ok(RsPython {
        sequential: row("sync")?,
        asyncio_32: row("asyncio_32")?,
        threads_32: row("threads_32")?,
        create_cpu: secs(&v["create_cpu_s"]).ok_or("no create_cpu_s")?,
    })
}

fn run(args: Args) -> Result<(), String> {
    let url = env("AGENTWRIT_BROKER_URL")?;
    let client_id = env("AGENTWRIT_CLIENT_ID")?;
    let secret = env("AGENTWRIT_CLIENT_SECRET")?;
    let n = args.lifecycles;
    let cpu_n = args.cpu_creates.unwrap_or(n);

    let py = run_python(&args, cpu_n)?;
    let rs_py = match (&args.rs_python, &args.rs_script) {
        (Some(python), Some(script)) => Some(run_rs_python(python, script, n, cpu_n)?),
        _ => None,
    };

    // Rust, blocking.
    eprintln!("compare: Rust blocking ...");
    let app = blocking::App::new(&url, &client_id, secret.as_str()).map_err(|e| e.to_string())?;
    for i in 0..5 {
        lifecycle_blocking(&app, 1_000_000 + i, None)?;
    }
    let mut samples = Vec::with_capacity(n);
    let cpu = Cpu::now(args.broker_pid);
    let wall = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let o = lifecycle_blocking(&app, i, None)?;
        samples.push(t.elapsed());
        if !o.dead_after_release {
            return Err("a released token still validated".into());
        }
    }
    let stats = Stats::from_samples(&samples, wall.elapsed()).ok_or("no samples")?;
    let rs_blocking = cpu.row(stats, args.broker_pid);
    let cpu_blocking = cpu_per_create_blocking(&app, cpu_n)?;

    // Rust, async.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let app =
        nonblocking::App::new(&url, &client_id, secret.as_str()).map_err(|e| e.to_string())?;
    eprintln!("compare: Rust async, 1 in flight ...");
    let rs_async_1 = rt.block_on(async_run(&app, n, 1, args.broker_pid))?;
    eprintln!("compare: Rust async, 32 in flight ...");
    let rs_async_32 = rt.block_on(async_run(&app, n, 32, args.broker_pid))?;
    let cpu_async = rt.block_on(cpu_per_create_async(&app, cpu_n))?;
    drop(rt);

    // Scope checks.
    let mut scope = Vec::new();
    for (name, req, held) in scope_cases() {
        let rust_ns =
            time_ns(|| agentwrit_scope::scope_is_subset(black_box(&req), black_box(&held)));
        let py_ns = py
            .scope_ns
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("Python gave no figure for {name}"))?;
        scope.push((name, py_ns, rust_ns));
    }

    print_table(
        &py,
        n,
        cpu_n,
        &rs_blocking,
        &rs_async_1,
        &rs_async_32,
        cpu_blocking,
        cpu_async,
        &scope,
        rs_py.as_ref(),
    );
    Ok(())
}

async fn async_run(
    app: &nonblocking::App,
    n: usize,
    in_flight: usize,
    broker_pid: Option<u32>,
) -> Result<Row, String> {
    for i in 0..5 {
        lifecycle_async(app, 2_000_000 + in_flight * 10 + i, None).await?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = Cpu::now(broker_pid);
    let wall = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let app = app.clone();
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, String>(samples);
                }
                let t = Instant::now();
                let o = lifecycle_async(&app, 3_000_000 + in_flight * n + i, None).await?;
                samples.push(t.elapsed());
                if !o.dead_after_release {
                    return Err("a released token still validated".into());
                }
            }
        }));
    }
    let mut samples = Vec::with_capacity(n);
    for t in tasks {
        samples.extend(t.await.map_err(|e| e.to_string())??);
    }
    let stats = Stats::from_samples(&samples, wall.elapsed()).ok_or("no samples")?;
    Ok(cpu.row(stats, broker_pid))
}

fn cpu_per_create_blocking(app: &blocking::App, n: usize) -> Result<Option<Duration>, String> {
    let mut agents = Vec::with_capacity(n);
    let before = process_cpu_time();
    for i in 0..n {
        agents.push(
            app.create_agent(
                "bench-orch",
                &format!("cpu-{i}"),
                &[format!("read:data:customer-{i}")],
            )
            .map_err(|e| e.to_string())?,
        );
    }
    let after = process_cpu_time();
    for a in agents {
        a.release().map_err(|e| e.to_string())?;
    }
    Ok(per(before, after, n))
}

async fn cpu_per_create_async(
    app: &nonblocking::App,
    n: usize,
) -> Result<Option<Duration>, String> {
    let mut agents = Vec::with_capacity(n);
    let before = process_cpu_time();
    for i in 0..n {
        agents.push(
            app.create_agent(
                "bench-orch",
                &format!("acpu-{i}"),
                &[format!("read:data:customer-{i}")],
            )
            .await
            .map_err(|e| e.to_string())?,
        );
    }
    let after = process_cpu_time();
    for a in agents {
        a.release().await.map_err(|e| e.to_string())?;
    }
    Ok(per(before, after, n))
}

fn per(before: Option<Duration>, after: Option<Duration>, n: usize) -> Option<Duration> {
    let spent = after?.checked_sub(before?)?;
    Some(spent / u32::try_from(n).ok()?)
}

/// Best-of-9 nanoseconds per call, each run at least 100 ms long.
fn time_ns<F: FnMut() -> bool>(mut f: F) -> f64 {
    let mut iters: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        if t.elapsed() >= Duration::from_millis(100) {
            break;
        }
        iters *= 2;
    }
    (0..9)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            t.elapsed().as_secs_f64() * 1e9 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

#[allow(clippy::too_many_arguments)]
fn print_table(
    py: &Python,
    n: usize,
    cpu_n: usize,
    blocking: &Row,
    async_1: &Row,
    async_32: &Row,
    cpu_blocking: Option<Duration>,
    cpu_async: Option<Duration>,
    scope: &[(&str, f64, f64)],
    rs_py: Option<&RsPython>,
) {
    let base = py.lifecycle.stats.throughput;
    println!();
    println!(
        "Lifecycle: create → validate → release → validate-dead, {n} per row, one development broker process \
         (Python {}, agentwrit 0.3.0)",
        py.version
    );
    println!(
        "| {:<26} | {:>11} | {:>10} | {:>12} | {:>13} | {:>15} | {:>15} |",
        "client",
        "median (ms)",
        "p99 (ms)",
        "lifecycles/s",
        "Rust / Python",
        "client CPU (µs)",
        "broker CPU (µs)"
    );
    println!(
        "|{:-<28}|{:->13}|{:->12}|{:->14}|{:->15}|{:->17}|{:->17}|",
        ":", ":", ":", ":", ":", ":", ":"
    );
    let us = |d: Option<Duration>| {
        d.map_or_else(
            || "n/a".to_owned(),
            |d| format!("{:.0}", d.as_secs_f64() * 1e6),
        )
    };
    let row = |name: &str, r: &Row, ratio: Option<f64>| {
        let s = &r.stats;
        println!(
            "| {:<26} | {:>11} | {:>10} | {:>12.1} | {:>13} | {:>15} | {:>15} |",
            name,
            ms(s.median),
            ms(s.p99),
            s.throughput,
            ratio.map_or_else(|| "1.0× (base)".to_owned(), |r| format!("{r:.1}×")),
            us(r.client_cpu),
            us(r.broker_cpu),
        );
    };
    row("Python SDK, sequential", &py.lifecycle, None);
    if let Some(p) = rs_py {
        for (name, r) in [
            ("agentwrit_rs, sequential", &p.sequential),
            ("agentwrit_rs, asyncio 32", &p.asyncio_32),
            ("agentwrit_rs, 32 threads", &p.threads_32),
        ] {
            row(name, r, Some(r.stats.throughput / base));
        }
    }
    for (name, r) in [
        ("Rust blocking, sequential", blocking),
        ("Rust async, 1 in flight", async_1),
        ("Rust async, 32 in flight", async_32),
    ] {
        row(name, r, Some(r.stats.throughput / base));
    }
    println!(
        "(CPU columns: per lifecycle; the broker's from /proc/<pid>/stat, 10 ms ticks; \
         the agentwrit_rs rows: \"Rust / Python\" is their throughput over the Python SDK's)"
    );
    println!();
    println!("Client CPU per create-agent ({cpu_n} creates, broker CPU excluded)");
    println!(
        "| {:<32} | {:>12} | {:>14} |",
        "client", "CPU (µs)", "Python / Rust"
    );
    println!("|{:-<34}|{:->14}|{:->16}|", ":", ":", ":");
    let py_us = py.create_cpu.as_secs_f64() * 1e6;
    println!(
        "| {:<32} | {:>12.1} | {:>14} |",
        "Python SDK", py_us, "1.0× (base)"
    );
    let rs_py_cpu = rs_py.map(|p| p.create_cpu);
    let mut cpu_rows = vec![("Rust blocking", cpu_blocking), ("Rust async", cpu_async)];
    if rs_py.is_some() {
        cpu_rows.insert(0, ("agentwrit_rs (Python, Rust core)", rs_py_cpu));
    }
    for (name, cpu) in cpu_rows {
        match cpu {
            Some(c) => {
                let us = c.as_secs_f64() * 1e6;
                let ratio = if us > 0.0 {
                    format!("{:.1}×", py_us / us)
                } else {
                    "∞".into()
                };
                println!("| {:<32} | {:>12.1} | {:>14} |", name, us, ratio);
            }
            None => println!("| {:<32} | {:>12} | {:>14} |", name, "n/a", "n/a"),
        }
    }
    println!();
    println!("scope_is_subset (required × held), ns per call (best of 9)");
    println!(
        "| {:<32} | {:>12} | {:>12} | {:>14} |",
        "case", "Python (ns)", "Rust (ns)", "Python / Rust"
    );
    println!("|{:-<34}|{:->14}|{:->14}|{:->16}|", ":", ":", ":", ":");
    for (name, py_ns, rust_ns) in scope {
        println!(
            "| {:<32} | {:>12.1} | {:>12.1} | {:>13.0}× |",
            name,
            py_ns,
            rust_ns,
            py_ns / rust_ns
        );
    }
}
