//! The measurement target of `cargo xtask bench-cost`: runs ONE kind of
//! operation, a warm-up of W operations, then N measured ones, and prints
//! what it did as one JSON line (the CPU time of the N operations, all
//! threads, kernel included). `cargo xtask bench-cost` runs it under
//! Valgrind's callgrind at two sizes (N and 2N) and takes the difference
//! of the two instruction totals, so everything that does not scale with N
//! (process start, runtime and client construction, the warm-up) cancels
//! out; a third run with no operations at all gives the warm-up's own
//! cost. It also runs it natively for the CPU-time column.
//!
//! ```text
//! cost run <row> --warmup W --ops N [--setup M]   # one measurement
//! cost rows                                        # the rows it knows
//! cost pki <dir>                                   # a throwaway CA and server identity (PEM files)
//! cost load <addr> <count> [<bearer>]              # the service rows' client (internal)
//! ```
//!
//! The broker is a separate process named by `AGENTWRIT_BROKER_URL`,
//! `AGENTWRIT_CLIENT_ID` and `AGENTWRIT_CLIENT_SECRET` (plain HTTP), and by
//! `AGENTWRIT_COST_HTTPS_URL`, `AGENTWRIT_COST_HTTPS_CLIENT_ID`,
//! `AGENTWRIT_COST_HTTPS_CLIENT_SECRET` and `AGENTWRIT_COST_CA_FILE` for
//! the HTTPS rows, so its work is never counted. The service-side rows
//! serve an axum app in this process and drive it from a child process
//! (`cost load`, not traced by callgrind), so only the service's work is
//! counted; they use an in-process development broker, which is idle
//! during the measured requests (warm cache, local verification).
//!
//! `--setup M` sizes what a row prepares before its warm-up (the agents
//! the `release` row releases): the xtask passes the same M to every run
//! of a row so the preparation cancels out in the difference.

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use agentwrit_bench::{
    blocking, lifecycle_async, lifecycle_blocking, nonblocking, threads_cpu_time,
};
use agentwrit_core::AgentKey;
use rand_core::OsRng;

/// Every row: its name and what one operation is.
const ROWS: &[(&str, &str)] = &[
    (
        "create-blocking",
        "create_agent on agentwrit-blocking (3 requests)",
    ),
    (
        "create-async-ct",
        "create_agent on agentwrit-async, current-thread runtime",
    ),
    (
        "create-async-mt",
        "create_agent on agentwrit-async, multi-thread runtime (block_on from main)",
    ),
    ("validate", "App::validate of a live token (blocking)"),
    ("renew", "Agent::renew (blocking)"),
    (
        "delegate",
        "Agent::delegate of one scope to another agent (blocking)",
    ),
    ("release", "Agent::release (blocking)"),
    (
        "lifecycle-http",
        "create, validate, delegate, validate, release ×2, validate (blocking, plain HTTP)",
    ),
    (
        "lifecycle-https",
        "the same lifecycle over HTTPS, warm connections (blocking)",
    ),
    (
        "lifecycle-async-http",
        "the lifecycle on agentwrit-async, current-thread runtime, plain HTTP",
    ),
    (
        "lifecycle-async-https",
        "the async lifecycle over HTTPS, warm connections",
    ),
    (
        "service-unprotected",
        "one GET on an unprotected axum route (hyper, current-thread runtime)",
    ),
    (
        "service-warm",
        "the same route behind AgentAuth (broker mode, warm cache) + RequireScopes",
    ),
    (
        "service-local",
        "the same route behind AgentAuth (local verification, verdict cached) + RequireScopes",
    ),
    (
        "service-warm-usage",
        "service-warm with scope-usage recording on (AgentAuthBuilder::record_usage, JSON Lines sink)",
    ),
    (
        "keygen-sign",
        "Ed25519 key generation + nonce signature (what a create must compute)",
    ),
    (
        "floor-create",
        "a create by a hand-written HTTP/1.1 client: the same 3 requests, one kept-alive socket, keygen + sign included",
    ),
    ("scope-1x1", "scope_is_subset, criterion case 1x1"),
    ("scope-2x2", "scope_is_subset, criterion case 2x2"),
    (
        "scope-1_vs_4_wildcards",
        "scope_is_subset, criterion case 1_vs_4_wildcards",
    ),
    ("scope-denied", "scope_is_subset, criterion case denied"),
    ("scope-10x10", "scope_is_subset, criterion case 10x10"),
    ("scope-100x100", "scope_is_subset, criterion case 100x100"),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run_cmd(&args[1..]),
        Some("rows") => {
            for (name, what) in ROWS {
                println!("{name}\t{what}");
            }
            Ok(())
        }
        Some("pki") => pki(&args[1..]),
        Some("load") => load(&args[1..]),
        _ => Err("usage: cost run <row> --warmup W --ops N [--setup M] | rows | pki <dir> | load <addr> <count> [<bearer>]".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cost: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Plan {
    row: String,
    warmup: usize,
    ops: usize,
    setup: usize,
}

fn run_cmd(args: &[String]) -> Result<(), String> {
    let row = args
        .first()
        .ok_or("run: which row? (see `cost rows`)")?
        .clone();
    if !ROWS.iter().any(|(name, _)| *name == row) {
        return Err(format!("unknown row {row:?} (see `cost rows`)"));
    }
    let mut plan = Plan {
        row,
        warmup: 0,
        ops: 0,
        setup: 0,
    };
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        let mut value = || -> Result<usize, String> {
            let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            v.parse().map_err(|_| format!("{a}: not a count: {v:?}"))
        };
        match a.as_str() {
            "--warmup" => plan.warmup = value()?,
            "--ops" => plan.ops = value()?,
            "--setup" => plan.setup = value()?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let window = measure(&plan)?;
    println!(
        "{{\"row\":\"{}\",\"warmup\":{},\"ops\":{},\"cpu_ns\":{},\"wall_ns\":{}}}",
        plan.row,
        plan.warmup,
        plan.ops,
        window
            .cpu
            .map_or_else(|| "null".to_owned(), |d| d.as_nanos().to_string()),
        window.wall.as_nanos()
    );
    Ok(())
}

/// What the measured window (the N operations) took.
struct Window {
    cpu: Option<Duration>,
    wall: Duration,
}

/// Times the window around `ops` calls of `op` after `warmup` calls.
fn timed<E>(
    warmup: usize,
    ops: usize,
    mut op: impl FnMut(usize) -> Result<(), E>,
) -> Result<Window, E> {
    for i in 0..warmup {
        op(i)?;
    }
    let (cpu0, wall0) = (threads_cpu_time(), Instant::now());
    for i in warmup..warmup + ops {
        op(i)?;
    }
    let cpu = threads_cpu_time()
        .zip(cpu0)
        .map(|(after, before)| after.saturating_sub(before));
    Ok(Window {
        cpu,
        wall: wall0.elapsed(),
    })
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set (run through `cargo xtask bench-cost`)"))
}

fn plain_app() -> Result<blocking::App, String> {
    blocking::App::from_env().map_err(|e| e.to_string())
}

fn https_ca() -> Result<Vec<u8>, String> {
    let path = env("AGENTWRIT_COST_CA_FILE")?;
    std::fs::read(&path).map_err(|e| format!("{path}: {e}"))
}

fn https_app() -> Result<blocking::App, String> {
    let id = env("AGENTWRIT_COST_HTTPS_CLIENT_ID")?;
    let secret = env("AGENTWRIT_COST_HTTPS_CLIENT_SECRET")?;
    blocking::Broker::builder(&env("AGENTWRIT_COST_HTTPS_URL")?)
        .add_root_certificate_pem(&https_ca()?)
        .build()
        .and_then(|broker| broker.app(&id, secret))
        .map_err(|e| e.to_string())
}

fn rt(multi_thread: bool) -> Result<tokio::runtime::Runtime, String> {
    if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()
    .map_err(|e| e.to_string())
}

/// The scope and task of create number `i`.
fn nth_create(i: usize) -> ([String; 1], String) {
    ([format!("read:data:customer-{i}")], format!("cost-{i}"))
}

fn sdk<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

fn measure(plan: &Plan) -> Result<Window, String> {
    let (w, n) = (plan.warmup, plan.ops);
    match plan.row.as_str() {
        "create-blocking" => {
            let app = plain_app()?;
            timed(w, n, |i| {
                let (scope, task) = nth_create(i);
                sdk("create_agent", app.create_agent("cost-orch", &task, &scope)).map(drop)
            })
        }
        "create-async-ct" | "create-async-mt" => {
            let rt = rt(plan.row == "create-async-mt")?;
            let app = rt.block_on(async { nonblocking::App::from_env() });
            let app = sdk("App", app)?;
            timed(w, n, |i| {
                let (scope, task) = nth_create(i);
                let agent = rt.block_on(app.create_agent("cost-orch", &task, &scope));
                sdk("create_agent", agent).map(drop)
            })
        }
        "validate" => {
            let app = plain_app()?;
            let agent = sdk(
                "create_agent",
                app.create_agent("cost-orch", "validate", &["read:data:x"]),
            )?;
            let token = agent.access_token();
            timed(w, n, |_| {
                let v = sdk("validate", app.validate(token.expose_secret()))?;
                if v.is_valid() {
                    Ok(())
                } else {
                    Err("the token validated as invalid".to_owned())
                }
            })
        }
        "renew" => {
            let app = plain_app()?;
            let agent = sdk(
                "create_agent",
                app.create_agent("cost-orch", "renew", &["read:data:x"]),
            )?;
            timed(w, n, |_| sdk("renew", agent.renew()))
        }
        "delegate" => {
            let app = plain_app()?;
            let scope = ["read:data:x"];
            let agent = sdk(
                "create_agent",
                app.create_agent("cost-orch", "delegator", &scope),
            )?;
            let target = sdk(
                "create_agent",
                app.create_agent("cost-orch", "delegate", &scope),
            )?;
            let to = target.agent_id();
            timed(w, n, |_| {
                sdk(
                    "delegate",
                    agent.delegate(&to, &scope, Some(Duration::from_secs(60))),
                )
                .map(drop)
            })
        }
        "release" => {
            let app = plain_app()?;
            let total = plan.setup.max(w + n);
            let mut agents = Vec::with_capacity(total);
            for i in 0..total {
                let (scope, task) = nth_create(i);
                agents.push(sdk(
                    "create_agent",
                    app.create_agent("cost-orch", &task, &scope),
                )?);
            }
            timed(w, n, |i| sdk("release", agents[i].release()).map(drop))
        }
        "lifecycle-http" | "lifecycle-https" => {
            let app = if plan.row == "lifecycle-https" {
                https_app()?
            } else {
                plain_app()?
            };
            let target = sdk(
                "create_agent",
                app.create_agent("cost-orch", "target", &["read:data:none"]),
            )?;
            let to = target.agent_id();
            timed(w, n, |i| {
                let o = lifecycle_blocking(&app, i, Some(&to))?;
                if o.dead_after_release {
                    Ok(())
                } else {
                    Err("a released token still validated".to_owned())
                }
            })
        }
        "lifecycle-async-http" | "lifecycle-async-https" => {
            let rt = rt(false)?;
            let app = if plan.row == "lifecycle-async-https" {
                let ca = https_ca()?;
                rt.block_on(async {
                    let id = env("AGENTWRIT_COST_HTTPS_CLIENT_ID")?;
                    let secret = env("AGENTWRIT_COST_HTTPS_CLIENT_SECRET")?;
                    nonblocking::Broker::builder(&env("AGENTWRIT_COST_HTTPS_URL")?)
                        .add_root_certificate_pem(&ca)
                        .build()
                        .and_then(|broker| broker.app(&id, secret))
                        .map_err(|e| e.to_string())
                })?
            } else {
                sdk("App", rt.block_on(async { nonblocking::App::from_env() }))?
            };
            let target = rt.block_on(app.create_agent("cost-orch", "target", &["read:data:none"]));
            let to = sdk("create_agent", target)?.agent_id();
            timed(w, n, |i| {
                let o = rt.block_on(lifecycle_async(&app, i, Some(&to)))?;
                if o.dead_after_release {
                    Ok(())
                } else {
                    Err("a released token still validated".to_owned())
                }
            })
        }
        "service-unprotected" | "service-warm" | "service-local" | "service-warm-usage" => {
            service::measure(plan)
        }
        "keygen-sign" => {
            let nonce = "7b67a75af6fb8aec9b9ccfb2fba4e8eed87f9f4b185912b01cecac7e15d20b1c";
            timed(w, n, |_| {
                let key = AgentKey::generate(&mut OsRng);
                black_box(sdk("sign", key.sign_nonce(black_box(nonce)))?);
                Ok::<(), String>(())
            })
        }
        "floor-create" => floor::measure(w, n),
        scope if scope.starts_with("scope-") => {
            let case = &scope["scope-".len()..];
            let (_, required, held) = agentwrit_bench::scope_cases()
                .into_iter()
                .find(|(name, _, _)| *name == case)
                .ok_or_else(|| format!("no scope case {case:?}"))?;
            timed(w, n, |_| {
                black_box(agentwrit_scope::scope_is_subset(
                    black_box(&required),
                    black_box(&held),
                ));
                Ok::<(), String>(())
            })
        }
        other => Err(format!("row {other:?} has no measurement")),
    }
}

/// `cost pki <dir>`: writes `ca.pem`, `server.pem` and `server-key.pem`
/// (a throwaway CA and a server identity for 127.0.0.1/localhost).
fn pki(args: &[String]) -> Result<(), String> {
    let dir = std::path::PathBuf::from(args.first().ok_or("pki: which directory?")?);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let pki = agentwrit_devbroker::tls::TestPki::generate().map_err(|e| e.to_string())?;
    for (file, text) in [
        ("ca.pem", pki.ca_pem()),
        ("server.pem", pki.server().cert_pem()),
        ("server-key.pem", pki.server().key_pem()),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// `cost load <addr> <count> [<bearer>]`: `count` sequential `GET` requests
/// on one kept-alive connection, each answered 200, then exits.
fn load(args: &[String]) -> Result<(), String> {
    let addr = args.first().ok_or("load: which address?")?;
    let count: usize = args
        .get(1)
        .and_then(|c| c.parse().ok())
        .ok_or("load: which count?")?;
    let auth = args
        .get(2)
        .map_or(String::new(), |b| format!("authorization: Bearer {b}\r\n"));
    let mut conn = RawHttp::connect(addr)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nhost: {addr}\r\n{auth}\r\n",
        service::PATH
    )
    .into_bytes();
    for _ in 0..count {
        let (status, _) = conn.exchange(&request)?;
        if status != 200 {
            return Err(format!("the service answered {status}"));
        }
    }
    Ok(())
}

/// The leanest HTTP/1.1 client: one kept-alive connection, requests as
/// prepared bytes, responses read to their `Content-Length`.
struct RawHttp {
    stream: BufReader<TcpStream>,
    line: String,
}

impl RawHttp {
    fn connect(authority: &str) -> Result<RawHttp, String> {
        let stream = TcpStream::connect(authority).map_err(|e| format!("{authority}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(RawHttp {
            stream: BufReader::new(stream),
            line: String::new(),
        })
    }

    fn next_line(&mut self) -> Result<&str, String> {
        self.line.clear();
        match self.stream.read_line(&mut self.line) {
            Ok(0) => Err("the server closed the connection".into()),
            Ok(_) => Ok(self.line.trim_end()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends `request` (one write) and returns the status and body.
    fn exchange(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>), String> {
        self.stream
            .get_mut()
            .write_all(request)
            .map_err(|e| e.to_string())?;
        let status = {
            let line = self.next_line()?;
            line.strip_prefix("HTTP/1.1 ")
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse::<u16>().ok())
                .ok_or_else(|| format!("unexpected status line {line:?}"))?
        };
        let mut length = None;
        loop {
            let line = self.next_line()?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.ok_or("no Content-Length")?];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| e.to_string())?;
        Ok((status, body))
    }
}

mod floor;

mod service;
