//! A profiling target: N create-agent calls on the blocking client against
//! the broker named by `AGENTWRIT_BROKER_URL` / `AGENTWRIT_CLIENT_ID` /
//! `AGENTWRIT_CLIENT_SECRET` (run the broker as a separate process so its
//! CPU is not counted), then prints this process's CPU per create.
//!
//! Then, for scale, the floor: the same number of three-request exchanges
//! (`GET /v1/health` three times, the number of requests a create makes)
//! by the leanest client there is, hand-written HTTP/1.1 over one
//! kept-alive `std::net::TcpStream`, and its CPU per three requests.
//!
//! ```text
//! create_loop [N] [--async [--multi-thread]]   # e.g. under `perf record -g`
//! ```
//!
//! `--async` runs the creates on `agentwrit-async` (a current-thread tokio
//! runtime, or the multi-thread one with `--multi-thread`) instead of
//! `agentwrit-blocking`.
//!
//! Output errors are handled, never a panic: when the reader of its output
//! has gone (`create_loop | head -1`), it stops writing and exits 0 (every
//! agent it created is already released by then); any other write error
//! is reported on stderr with exit status 1.

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use agentwrit_bench::{blocking, nonblocking, process_cpu_time};

/// Why the run stopped early.
enum Failure {
    /// The measurement failed.
    Run(String),
    /// Its figures could not be written to stdout.
    Output(io::Error),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Run(e)
    }
}

impl From<&str> for Failure {
    fn from(e: &str) -> Self {
        Failure::Run(e.to_owned())
    }
}

fn main() -> ExitCode {
    let message = match run() {
        Ok(()) => return ExitCode::SUCCESS,
        // Whoever read the output stopped reading: not a failure of the run.
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            return ExitCode::SUCCESS;
        }
        Err(Failure::Output(e)) => format!("cannot write to stdout: {e}"),
        Err(Failure::Run(e)) => e,
    };
    // Best effort: a closed stderr is no reason to panic either.
    let _ = writeln!(io::stderr(), "create_loop: {message}");
    ExitCode::FAILURE
}

fn per_call(before: Option<Duration>, after: Option<Duration>, n: usize) -> Option<f64> {
    Some((after? - before?).as_secs_f64() * 1e6 / n.max(1) as f64)
}

fn run() -> Result<(), Failure> {
    let n: usize = match std::env::args().nth(1) {
        Some(v) => v.parse().map_err(|_| format!("invalid count {v:?}"))?,
        None => 1000,
    };
    let use_async = std::env::args().any(|a| a == "--async");
    let (before, after) = if use_async {
        creates_async(n, std::env::args().any(|a| a == "--multi-thread"))?
    } else {
        creates_blocking(n)?
    };
    let sdk = per_call(before, after, n);

    let url = std::env::var("AGENTWRIT_BROKER_URL").map_err(|e| e.to_string())?;
    let authority = url
        .strip_prefix("http://")
        .ok_or("the floor needs an http:// broker URL")?
        .trim_end_matches('/');
    let mut floor = RawHttp::connect(authority)?;
    let before = process_cpu_time();
    for _ in 0..n {
        for _ in 0..3 {
            floor.health()?;
        }
    }
    let after = process_cpu_time();
    let raw = per_call(before, after, n);

    report(&mut io::stdout().lock(), n, sdk, raw).map_err(Failure::Output)
}

/// Writes the figures to `out` (and flushes it).
fn report(
    out: &mut impl io::Write,
    n: usize,
    sdk: Option<f64>,
    raw: Option<f64>,
) -> io::Result<()> {
    match (sdk, raw) {
        (Some(sdk), Some(raw)) => {
            writeln!(out, "{n} creates: {sdk:.1} µs client CPU per create")?;
            writeln!(
                out,
                "floor, {n} × 3 raw HTTP/1.1 requests on one kept-alive TcpStream: {raw:.1} µs CPU per 3 requests"
            )?;
            writeln!(
                out,
                "the SDK above the floor: {:.1} µs per create (Ed25519 keygen + sign alone: ≈ 56 µs)",
                sdk - raw
            )?;
        }
        _ => writeln!(out, "no CPU figures: /proc/self/stat unavailable")?,
    }
    out.flush()
}

/// The scope and task id of create number `i`.
fn nth_create(i: usize) -> ([String; 1], String) {
    ([format!("read:data:customer-{i}")], format!("loop-{i}"))
}

/// N creates on the blocking client; the process CPU time around them.
fn creates_blocking(n: usize) -> Result<(Option<Duration>, Option<Duration>), String> {
    let app = blocking::App::from_env().map_err(|e| e.to_string())?;
    let mut agents = Vec::with_capacity(n);
    let before = process_cpu_time();
    for i in 0..n {
        let (scope, task) = nth_create(i);
        agents.push(
            app.create_agent("bench-orch", &task, &scope)
                .map_err(|e| e.to_string())?,
        );
    }
    let after = process_cpu_time();
    for a in agents {
        a.release().map_err(|e| e.to_string())?;
    }
    Ok((before, after))
}

/// N creates on the async client, one at a time on a current-thread (or
/// multi-thread) runtime; the process CPU time around them.
fn creates_async(
    n: usize,
    multi_thread: bool,
) -> Result<(Option<Duration>, Option<Duration>), String> {
    let rt = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()
    .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let app = nonblocking::App::from_env().map_err(|e| e.to_string())?;
        let mut agents = Vec::with_capacity(n);
        let before = process_cpu_time();
        for i in 0..n {
            let (scope, task) = nth_create(i);
            agents.push(
                app.create_agent("bench-orch", &task, &scope)
                    .await
                    .map_err(|e| e.to_string())?,
            );
        }
        let after = process_cpu_time();
        for a in agents {
            a.release().await.map_err(|e| e.to_string())?;
        }
        Ok((before, after))
    })
}

/// The leanest possible client: one connection, fixed request bytes, a
/// response read to its `Content-Length`.
struct RawHttp {
    stream: BufReader<TcpStream>,
    request: Vec<u8>,
    line: String,
    body: Vec<u8>,
}

impl RawHttp {
    fn connect(authority: &str) -> Result<RawHttp, String> {
        let stream = TcpStream::connect(authority).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let request = format!("GET /v1/health HTTP/1.1\r\nHost: {authority}\r\n\r\n").into_bytes();
        Ok(RawHttp {
            stream: BufReader::new(stream),
            request,
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Reads the next response line into `self.line`.
    fn next_line(&mut self) -> Result<(), String> {
        self.line.clear();
        match self.stream.read_line(&mut self.line) {
            Ok(0) => Err("the broker closed the connection".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn health(&mut self) -> Result<(), String> {
        self.stream
            .get_mut()
            .write_all(&self.request)
            .map_err(|e| e.to_string())?;
        self.next_line()?;
        if !self.line.starts_with("HTTP/1.1 200") {
            return Err(format!("unexpected status line {:?}", self.line.trim_end()));
        }
        let mut length = None;
        loop {
            self.next_line()?;
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let length = length.ok_or("no Content-Length")?;
        self.body.resize(length, 0);
        self.stream
            .read_exact(&mut self.body)
            .map_err(|e| e.to_string())
    }
}
