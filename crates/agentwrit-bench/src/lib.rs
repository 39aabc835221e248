//! Benchmark support for agentwrit-rs: the agent lifecycle driver (blocking
//! and async), latency statistics, process CPU time and memory readings.
//!
//! Used by the criterion suites in `benches/`, by the `soak` binary
//! (`cargo xtask soak`) and by the `compare` binary
//! (`cargo xtask bench-compare`). Not published.

#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::fmt;
use std::time::Duration;

pub use agentwrit_async as nonblocking;
pub use agentwrit_blocking as blocking;

/// What one lifecycle produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleOutcome {
    /// The agent's SPIFFE id (to check ids are distinct).
    pub agent_id: String,
    /// True when the released token validated as invalid afterwards.
    pub dead_after_release: bool,
}

/// The two scopes an agent of lifecycle `i` holds, and the one it delegates.
#[must_use]
pub fn lifecycle_scope(i: usize) -> [String; 2] {
    [
        format!("read:data:customer-{i}"),
        format!("write:data:order-{i}"),
    ]
}

fn check_valid(v: &agentwrit_core::Validation, what: &str) -> Result<(), String> {
    if v.is_valid() {
        Ok(())
    } else {
        Err(format!(
            "{what}: the broker said the token is invalid ({})",
            v.error().unwrap_or("no reason")
        ))
    }
}

/// One lifecycle on the blocking client: create → validate → (delegate to
/// `delegate_to`, validate the delegated token, release it) → release →
/// validate (must be dead).
///
/// # Errors
///
/// Any SDK error, or a token that validated the wrong way, as text.
pub fn lifecycle_blocking(
    app: &blocking::App,
    i: usize,
    delegate_to: Option<&str>,
) -> Result<LifecycleOutcome, String> {
    let scope = lifecycle_scope(i);
    let task = format!("task-{i}");
    let agent = app
        .create_agent("bench-orch", &task, &scope)
        .map_err(|e| format!("create_agent: {e}"))?;
    let token = agent.access_token();
    let v = app
        .validate(token.expose_secret())
        .map_err(|e| format!("validate: {e}"))?;
    check_valid(&v, "validate")?;
    if let Some(to) = delegate_to {
        let d = agent
            .delegate(to, &scope[..1], Some(std::time::Duration::from_secs(60)))
            .map_err(|e| format!("delegate: {e}"))?;
        let v = app
            .validate(&d.access_token())
            .map_err(|e| format!("validate delegated: {e}"))?;
        check_valid(&v, "validate delegated")?;
        d.release().map_err(|e| format!("release delegated: {e}"))?;
    }
    agent.release().map_err(|e| format!("release: {e}"))?;
    let dead = app
        .validate(token.expose_secret())
        .map_err(|e| format!("validate after release: {e}"))?;
    Ok(LifecycleOutcome {
        agent_id: agent.agent_id(),
        dead_after_release: !dead.is_valid(),
    })
}

/// [`lifecycle_blocking`] on the async client.
///
/// # Errors
///
/// As [`lifecycle_blocking`].
pub async fn lifecycle_async(
    app: &nonblocking::App,
    i: usize,
    delegate_to: Option<&str>,
) -> Result<LifecycleOutcome, String> {
    let scope = lifecycle_scope(i);
    let task = format!("task-{i}");
    let agent = app
        .create_agent("bench-orch", &task, &scope)
        .await
        .map_err(|e| format!("create_agent: {e}"))?;
    let token = agent.access_token();
    let v = app
        .validate(token.expose_secret())
        .await
        .map_err(|e| format!("validate: {e}"))?;
    check_valid(&v, "validate")?;
    if let Some(to) = delegate_to {
        let d = agent
            .delegate(to, &scope[..1], Some(std::time::Duration::from_secs(60)))
            .await
            .map_err(|e| format!("delegate: {e}"))?;
        let v = app
            .validate(&d.access_token())
            .await
            .map_err(|e| format!("validate delegated: {e}"))?;
        check_valid(&v, "validate delegated")?;
        d.release()
            .await
            .map_err(|e| format!("release delegated: {e}"))?;
    }
    agent.release().await.map_err(|e| format!("release: {e}"))?;
    let dead = app
        .validate(token.expose_secret())
        .await
        .map_err(|e| format!("validate after release: {e}"))?;
    Ok(LifecycleOutcome {
        agent_id: agent.agent_id(),
        dead_after_release: !dead.is_valid(),
    })
}

/// Latency statistics over a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub median: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Mean.
    pub mean: Duration,
    /// Largest sample.
    pub max: Duration,
    /// Samples per second of `wall` time (the run's elapsed time, which
    /// with concurrency is less than the sum of the samples).
    pub throughput: f64,
}

impl Stats {
    /// Statistics of `samples` taken over `wall` elapsed time. `None` for
    /// no samples.
    #[must_use]
    pub fn from_samples(samples: &[Duration], wall: Duration) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let total: Duration = sorted.iter().sum();
        let secs = wall.as_secs_f64();
        Some(Stats {
            count: n,
            median: percentile(&sorted, 50.0),
            p99: percentile(&sorted, 99.0),
            mean: total / u32::try_from(n).unwrap_or(u32::MAX),
            max: sorted[n - 1],
            throughput: if secs > 0.0 { n as f64 / secs } else { 0.0 },
        })
    }
}

/// The nearest-rank percentile `p` (0..=100) of `sorted` (ascending, non
/// empty; an empty slice gives zero).
#[must_use]
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds with three decimals, for tables.
#[must_use]
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// Memory readings of this process, from `/proc/self/status` (Linux).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size now (`VmRSS`), bytes.
    pub rss: Option<u64>,
    /// Peak resident set size (`VmHWM`), bytes.
    pub peak: Option<u64>,
}

impl Memory {
    /// Reads the current values; fields are `None` where the platform
    /// does not provide them.
    #[must_use]
    pub fn read() -> Memory {
        match std::fs::read_to_string("/proc/self/status") {
            Ok(text) => parse_status(&text),
            Err(_) => Memory::default(),
        }
    }
}

/// Parses the `VmRSS` and `VmHWM` lines of a `/proc/<pid>/status` text.
#[must_use]
pub fn parse_status(text: &str) -> Memory {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Memory {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
    }
}

/// Bytes as MiB with one decimal, or `n/a`.
pub struct Mib(pub Option<u64>);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(b) => write!(f, "{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
            None => f.write_str("n/a"),
        }
    }
}

/// The clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`),
/// which is 100 on every mainstream Linux architecture.
pub const USER_HZ: u64 = 100;

/// CPU time (user + system, all threads) this process has used, from
/// `/proc/self/stat`; `None` where that is not available. Resolution: one
/// clock tick (10 ms); measure over many operations.
#[must_use]
pub fn process_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_cpu(&text)
}

/// CPU time (user + system, all threads) process `pid` has used, from
/// `/proc/<pid>/stat`; `None` where that is not available.
#[must_use]
pub fn pid_cpu_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu(&text)
}

/// CPU time (user + system) of this process's live threads, summed from
/// `/proc/self/task/*/schedstat` (nanoseconds, unlike the 10 ms ticks of
/// [`process_cpu_time`]); `None` where that is not available. Threads
/// that already exited are not counted, so take it around work whose
/// threads outlive it (a runtime's workers, the main thread).
#[must_use]
pub fn threads_cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let mut path = entry.ok()?.path();
        path.push("schedstat");
        // A thread may exit between the listing and the read.
        if let Ok(text) = std::fs::read_to_string(&path) {
            total += parse_schedstat(&text)?;
        }
    }
    Some(Duration::from_nanos(total))
}

/// The time on CPU, in nanoseconds, of a `/proc/<pid>/task/<tid>/schedstat`
/// line (its first field).
#[must_use]
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// utime + stime of a `/proc/<pid>/stat` line.
#[must_use]
pub fn parse_stat_cpu(text: &str) -> Option<Duration> {
    // The command name (field 2) may contain spaces; it ends at the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_micros(ticks * 1_000_000 / USER_HZ))
}

/// The growth check of the soak: true when `last` exceeds `first` by more
/// than 20 % plus 8 MiB.
#[must_use]
pub fn grew_too_much(first: u64, last: u64) -> bool {
    let bound = first + first / 5 + 8 * 1024 * 1024;
    last > bound
}

/// The six `scope_is_subset` cases of the scope criterion suite, as
/// (name, required, held).
#[must_use]
pub fn scope_cases() -> Vec<(&'static str, Vec<String>, Vec<String>)> {
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let numbered = |n: usize| {
        (0..n)
            .map(|i| format!("read:data:item-{i}"))
            .collect::<Vec<_>>()
    };
    let reversed = |n: usize| {
        let mut v = numbered(n);
        v.reverse();
        v
    };
    vec![
        (
            "1x1",
            strings(&["read:data:customer-7291"]),
            strings(&["read:data:customer-7291"]),
        ),
        (
            "2x2",
            strings(&["read:data:customer-7291", "write:data:order-4823"]),
            strings(&["read:data:customer-7291", "write:data:order-4823"]),
        ),
        (
            "1_vs_4_wildcards",
            strings(&["write:reports:hospital"]),
            strings(&[
                "read:data:*",
                "write:data:*",
                "read:analytics:*",
                "write:reports:*",
            ]),
        ),
        (
            "denied",
            strings(&["read:data:customer-9999"]),
            strings(&["read:data:customer-7291", "write:data:order-4823"]),
        ),
        ("10x10", numbered(10), reversed(10)),
        ("100x100", numbered(100), reversed(100)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&v, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    #[test]
    fn stats_of_samples() {
        let v = [3, 1, 2].map(Duration::from_millis);
        let s = Stats::from_samples(&v, Duration::from_secs(1)).unwrap();
        assert_eq!(s.count, 3);
        assert_eq!(s.median, Duration::from_millis(2));
        assert_eq!(s.mean, Duration::from_millis(2));
        assert_eq!(s.max, Duration::from_millis(3));
        assert!((s.throughput - 3.0).abs() < 1e-9);
        assert!(Stats::from_samples(&[], Duration::from_secs(1)).is_none());
    }

    #[test]
    fn parses_proc_status_and_stat() {
        let status = "Name:\tsoak\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(
            parse_status(status),
            Memory {
                rss: Some(10240 * 1024),
                peak: Some(20480 * 1024)
            }
        );
        assert_eq!(parse_status("Name: x\n"), Memory::default());
        let stat = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_secs(3)));
        assert_eq!(parse_stat_cpu("garbage"), None);
        assert_eq!(parse_schedstat("123456789 2000 17\n"), Some(123_456_789));
        assert_eq!(parse_schedstat(""), None);
        assert!(threads_cpu_time().is_some_and(|t| t > Duration::ZERO));
    }

    #[test]
    fn growth_bound_is_twenty_percent_plus_8_mib() {
        let mib = 1024 * 1024;
        assert!(!grew_too_much(100 * mib, 128 * mib));
        assert!(grew_too_much(100 * mib, 129 * mib));
        assert!(!grew_too_much(0, 8 * mib));
    }

    #[test]
    fn scope_cases_match_the_criterion_suite() {
        let cases = scope_cases();
        assert_eq!(cases.len(), 6);
        for (name, req, held) in &cases {
            let allowed = agentwrit_scope::scope_is_subset(req, held);
            assert_eq!(allowed, *name != "denied", "{name}");
        }
    }

    #[test]
    fn lifecycles_run_on_both_transports_against_a_devbroker() {
        let broker = agentwrit_devbroker::DevBroker::start().unwrap();
        let reg = broker
            .register_app("bench", &["read:data:*", "write:data:*"], None)
            .unwrap();
        let app = blocking::App::new(
            broker.url(),
            &reg.client_id,
            reg.client_secret.expose_secret(),
        )
        .unwrap();
        let target = app
            .create_agent("bench-orch", "target", &["read:data:none"])
            .unwrap();
        let a = lifecycle_blocking(&app, 1, Some(&target.agent_id())).unwrap();
        assert!(a.dead_after_release);
        assert!(a.agent_id.contains("/bench-orch/task-1/"), "{}", a.agent_id);

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let b = rt.block_on(async {
            let app = nonblocking::App::new(
                broker.url(),
                &reg.client_id,
                reg.client_secret.expose_secret(),
            )
            .unwrap();
            lifecycle_async(&app, 2, None).await.unwrap()
        });
        assert!(b.dead_after_release);
        assert_ne!(a.agent_id, b.agent_id);
    }
}
