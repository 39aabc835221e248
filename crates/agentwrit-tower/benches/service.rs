//! The same axum route, unprotected and behind `agentwrit-tower` in each
//! mode, driven on loopback: requests/s, p50 and p99 per row, then the
//! cost of a cold broker-mode request against one validate round trip.
//! Prints markdown tables; asserts nothing about timing.
//!
//! ```text
//! cargo bench -p agentwrit-tower --bench service [-- --seconds 2 --connections 16 --rounds 3]
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agentwrit_tower::{AgentAuth, BrokerKey, RequireScopes};
use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATH: &str = "/customers/7291";

fn route() -> Router {
    Router::new().route(
        "/customers/{id}",
        get(|| async { "customer 7291: John Doe, Premium tier" }),
    )
}

fn protected(auth: &AgentAuth) -> Router {
    Router::new()
        .route(
            "/customers/{id}",
            get(|| async { "customer 7291: John Doe, Premium tier" })
                .route_layer(RequireScopes::new(&["read:data:customer-{id}"])),
        )
        .layer(auth.layer())
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr.to_string()
}

/// One kept-alive HTTP/1.1 connection: send, read one response.
struct Conn {
    stream: TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str, bearer: Option<&str>) -> Conn {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let auth = bearer.map_or(String::new(), |b| format!("authorization: Bearer {b}\r\n"));
        let request = format!("GET {PATH} HTTP/1.1\r\nhost: {addr}\r\n{auth}\r\n").into_bytes();
        Conn {
            stream,
            request,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Returns the status.
    async fn round_trip(&mut self) -> u16 {
        self.stream.write_all(&self.request).await.unwrap();
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end])
                    .unwrap()
                    .to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while self.buf.len() < end + 4 + len {
                    let n = self.stream.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "connection closed");
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                return head[9..12].parse().unwrap();
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

struct Row {
    name: String,
    rps: f64,
    /// Process CPU (services, load generator, broker) per request.
    cpu_per_req: Option<Duration>,
    p50: Duration,
    p99: Duration,
}

/// This process's user + system CPU time, from `/proc/self/stat` (Linux;
/// clock ticks of 10 ms).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `connections` connections in closed loop for `seconds` (after a short
/// warm-up), every response must be 200.
async fn drive(
    name: &str,
    addr: &str,
    bearer: Option<&str>,
    connections: usize,
    seconds: f64,
) -> Row {
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let mut conn = Conn::open(addr, bearer).await;
        let (stop, measuring) = (stop.clone(), measuring.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(200_000);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let status = conn.round_trip().await;
                assert_eq!(status, 200);
                if measuring.load(Ordering::Relaxed) {
                    lat.push(t.elapsed());
                }
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    let cpu0 = process_cpu();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed();
    let cpu = process_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    Row {
        name: name.to_owned(),
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        cpu_per_req: cpu.map(|c| c / u32::try_from(all.len().max(1)).unwrap_or(u32::MAX)),
        p50: pct(&all, 0.50),
        p99: pct(&all, 0.99),
    }
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn arg(args: &[String], name: &str, default: f64) -> f64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not,
    // and then this runs as a quick smoke test.
    let smoke = !args.iter().any(|a| a == "--bench");
    let seconds = arg(&args, "--seconds", if smoke { 0.1 } else { 2.0 });
    let connections = arg(&args, "--connections", 16.0) as usize;
    let rounds = arg(&args, "--rounds", if smoke { 1.0 } else { 3.0 }) as usize;
    // `--only N`: drive row N alone (for profiling), then stop.
    let only = args
        .iter()
        .any(|a| a == "--only")
        .then(|| arg(&args, "--only", 0.0) as usize);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(seconds, connections, rounds.max(1), only, smoke));
}

async fn run(seconds: f64, connections: usize, rounds: usize, only: Option<usize>, smoke: bool) {
    let broker = agentwrit_devbroker::DevBroker::builder()
        .no_rate_limits()
        .start()
        .unwrap();
    let reg = broker.register_universal_app().unwrap();
    let app = agentwrit_async::App::new(
        broker.url(),
        &reg.client_id,
        reg.client_secret.expose_secret(),
    )
    .unwrap();
    let agent = app
        .create_agent("bench", "bench-task", &["read:data:customer-7291"])
        .await
        .unwrap();
    let token = agent.access_token().expose_secret().to_owned();
    let key = BrokerKey::from_bytes(broker.public_key()).unwrap();

    let warm = AgentAuth::broker(broker.url())
        .max_staleness(Duration::from_secs(3600))
        .build()
        .unwrap();
    let local = AgentAuth::local([key.clone()]).build().unwrap();
    let local_every = AgentAuth::local([key])
        .max_staleness(Duration::ZERO)
        .build()
        .unwrap();
    let cold = AgentAuth::broker(broker.url())
        .max_staleness(Duration::ZERO)
        .build()
        .unwrap();

    let unprotected_addr = serve(route()).await;
    let warm_addr = serve(protected(&warm)).await;
    let local_addr = serve(protected(&local)).await;
    let local_every_addr = serve(protected(&local_every)).await;
    let cold_addr = serve(protected(&cold)).await;

    let targets: [(&str, &str, Option<&str>); 5] = [
        // The same request everywhere: the unprotected route gets (and ignores)
        // the same Authorization header.
        ("unprotected", &unprotected_addr, Some(&token)),
        ("broker mode, warm cache", &warm_addr, Some(&token)),
        (
            "local mode (verdicts cached, default 5 s)",
            &local_addr,
            Some(&token),
        ),
        ("local mode, cache off", &local_every_addr, Some(&token)),
        ("broker mode, cache off", &cold_addr, Some(&token)),
    ];
    eprintln!(
        "{rounds} rounds; in each, every row for {seconds} s with {connections} connections ..."
    );
    let mut runs: Vec<Vec<Row>> = (0..targets.len()).map(|_| Vec::new()).collect();
    for round in 0..rounds {
        // Rotate the order, so that no row is always first or last.
        for k in 0..targets.len() {
            let i = (k + round) % targets.len();
            if only.is_some_and(|o| o != i) {
                continue;
            }
            let (name, addr, bearer) = targets[i];
            runs[i].push(drive(name, addr, bearer, connections, seconds).await);
        }
    }
    if let Some(i) = only {
        let r = runs[i].pop().unwrap();
        println!(
            "{}: {:.0} req/s, p50 {}, p99 {}",
            r.name,
            r.rps,
            us(r.p50),
            us(r.p99)
        );
        return;
    }
    // Per row, the round with the median throughput.
    let rows: Vec<Row> = runs
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            let mid = r.len() / 2;
            r.swap_remove(mid)
        })
        .collect();
    let base = rows[0].rps;
    println!(
        "Throughput: {connections} kept-alive connections, {seconds} s per row, median of {rounds} rounds; loopback; services and load generator on one 2-worker tokio runtime\n"
    );
    println!("| route | req/s | vs unprotected | p50 | p99 | CPU per request (whole process) |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.0} % | {} | {} | {} |",
            r.name,
            r.rps,
            100.0 * r.rps / base,
            us(r.p50),
            us(r.p99),
            r.cpu_per_req.map_or("n/a".to_owned(), |c| format!(
                "{:.1} µs",
                c.as_secs_f64() * 1e6
            )),
        );
    }

    // Cold: one request at a time, each with a token the cache has not seen
    // (max_staleness 0), against the bare validate round trip.
    let n = if smoke { 20 } else { 2000 };
    let mut plain = Conn::open(&unprotected_addr, Some(&token)).await;
    let mut through = Conn::open(&cold_addr, Some(&token)).await;
    let validator = agentwrit_async::Broker::new(broker.url()).unwrap();
    for _ in 0..n / 10 {
        plain.round_trip().await;
        through.round_trip().await;
        validator.validate(&token).await.unwrap();
    }
    let mut plain_lat = Vec::with_capacity(n);
    let mut validate_lat = Vec::with_capacity(n);
    let mut cold_lat = Vec::with_capacity(n);
    // Interleaved, so that a slow moment of the machine hits all three.
    for _ in 0..n {
        let t = Instant::now();
        assert_eq!(plain.round_trip().await, 200);
        plain_lat.push(t.elapsed());
        let t = Instant::now();
        assert!(validator.validate(&token).await.unwrap().is_valid());
        validate_lat.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(through.round_trip().await, 200);
        cold_lat.push(t.elapsed());
    }
    for v in [&mut plain_lat, &mut validate_lat, &mut cold_lat] {
        v.sort();
    }
    let (a, b, c) = (
        pct(&plain_lat, 0.5),
        pct(&validate_lat, 0.5),
        pct(&cold_lat, 0.5),
    );
    println!("\nCold broker-mode request, one at a time ({n} each, p50 / p99)\n");
    println!("| measurement | p50 | p99 |");
    println!("|---|---:|---:|");
    println!(
        "| unprotected request | {} | {} |",
        us(a),
        us(pct(&plain_lat, 0.99))
    );
    println!(
        "| one validate round trip (`Broker::validate`) | {} | {} |",
        us(b),
        us(pct(&validate_lat, 0.99))
    );
    println!(
        "| cold broker-mode request | {} | {} |",
        us(c),
        us(pct(&cold_lat, 0.99))
    );
    println!(
        "\ncold − unprotected = {} = {:.2} × one validate round trip (target ≤ 1.10)",
        us(c.saturating_sub(a)),
        c.saturating_sub(a).as_secs_f64() / b.as_secs_f64()
    );

    // What local verification costs by itself (no HTTP), cache off vs a hit.
    // The best of five means, as the machine is shared.
    let per_call = |auth: AgentAuth, token: String| async move {
        let n = if smoke { 20 } else { 20_000u32 };
        for _ in 0..n / 20 {
            auth.verify_token(&token).await.unwrap();
        }
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..n {
                auth.verify_token(&token).await.unwrap();
            }
            best = best.min(t.elapsed() / n);
        }
        best
    };
    let verify_every = per_call(local_every.clone(), token.clone()).await;
    let verify_hit = per_call(local.clone(), token.clone()).await;
    let broker_hit = per_call(warm.clone(), token.clone()).await;
    println!(
        "\n`verify_token` alone on one task: best of five means (20 000 calls each; 20 in the smoke run)\n"
    );
    println!("| call | mean |");
    println!("|---|---:|");
    println!(
        "| local mode, cache off (Ed25519 verification, JSON decoding) | {:.1} µs |",
        verify_every.as_secs_f64() * 1e6
    );
    println!(
        "| local mode, cache hit (keyed SipHash of the token, one lookup) | {:.1} µs |",
        verify_hit.as_secs_f64() * 1e6
    );
    println!(
        "| broker mode, cache hit | {:.1} µs |",
        broker_hit.as_secs_f64() * 1e6
    );
    drop(agent);
}
