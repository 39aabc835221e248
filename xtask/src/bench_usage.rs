//! `cargo xtask bench-usage-report [--records N] [--keep]`: how long
//! `agentwrit usage report` takes over N usage records (default
//! 1 000 000), as a user runs it (the built binary, optimised). Prints the
//! time; it is a measurement, not a test (issue 31's target: under 10 s
//! for a million records on a CI-sized machine).
//!
//! The records are written as the JSON Lines sink writes them, spread the
//! way a fleet produces them: four services each report every token, two
//! tokens per task agent (a renewal), a few scopes granted and used per
//! token, some denied, 4 orchestrators × 50 task kinds. They go to
//! `<target dir>/bench-usage/` and are removed afterwards unless `--keep`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::util::{cargo, flag, run, target_dir};

/// The profile the report binary is built with (release code; shares
/// its dependencies with `bench-cost`).
const PROFILE: &str = "bench-cost";
const SERVICES: usize = 4;

pub fn bench_usage_report(args: &[String]) -> Result<(), String> {
    let records: usize = match args.iter().position(|a| a == "--records") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.replace('_', "").parse().ok())
            .ok_or("--records needs a count")?,
        None => 1_000_000,
    };
    run(cargo().args([
        "build",
        "--profile",
        PROFILE,
        "--quiet",
        "-p",
        "agentwrit-cli",
        "--bins",
    ]))?;
    let target = target_dir()?;
    let cli = target
        .join(PROFILE)
        .join(format!("agentwrit{}", std::env::consts::EXE_SUFFIX));
    let dir = target.join("bench-usage");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let started = Instant::now();
    let bytes = generate(&dir, records)?;
    eprintln!(
        "bench-usage-report: {records} records ({:.0} MB) written in {:.1} s",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let out = dir.join("report.json");
    let cpu0 = children_cpu();
    let started = Instant::now();
    let status = Command::new(&cli)
        .args(["--json", "usage", "report", "--output"])
        .arg(&out)
        .arg(dir.join("records"))
        .status()
        .map_err(|e| format!("{}: {e}", cli.display()))?;
    let json_secs = started.elapsed().as_secs_f64();
    let json_cpu = children_cpu().zip(cpu0).map(|(a, b)| a - b);
    if !status.success() {
        return Err(format!("agentwrit usage report failed with {status}"));
    }
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))?,
    )
    .map_err(|e| format!("the report is not JSON: {e}"))?;
    let read = report["inputs"]["records"].as_u64().unwrap_or(0);
    if read != records as u64
        || !report["inputs"]["errors"]
            .as_array()
            .is_some_and(Vec::is_empty)
    {
        return Err(format!(
            "the report read {read} of {records} records, or reported errors"
        ));
    }
    let cpu1 = children_cpu();
    let started = Instant::now();
    let status = Command::new(&cli)
        .args(["usage", "report", "--output"])
        .arg(dir.join("report.txt"))
        .arg(dir.join("records"))
        .status()
        .map_err(|e| format!("{}: {e}", cli.display()))?;
    let text_secs = started.elapsed().as_secs_f64();
    let text_cpu = children_cpu().zip(cpu1).map(|(a, b)| a - b);
    let cpu = |c: Option<f64>| c.map_or_else(String::new, |c| format!(" (CPU {c:.2} s)"));
    if !status.success() {
        return Err(format!("agentwrit usage report failed with {status}"));
    }
    println!(
        "agentwrit usage report over {records} records ({} task agents, {} kinds): --json {json_secs:.2} s{}, text {text_secs:.2} s{} (wall clock; target: under 10 s)",
        report["tasks"].as_array().map_or(0, Vec::len),
        report["kinds"].as_array().map_or(0, Vec::len),
        cpu(json_cpu),
        cpu(text_cpu),
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "load average during the run: {}",
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if flag(args, "--keep") {
        eprintln!("bench-usage-report: kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// CPU seconds (user + system) of this process's waited-for children,
/// from `/proc/self/stat` (Linux; `None` elsewhere). USER_HZ is 100.
fn children_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(13)? + ticks(14)?) / 100.0)
}

/// Writes `records` records under `dir/records/`, one file per service;
/// returns the bytes written.
fn generate(dir: &Path, records: usize) -> Result<u64, String> {
    let records_dir = dir.join("records");
    std::fs::create_dir_all(&records_dir).map_err(|e| format!("{}: {e}", records_dir.display()))?;
    let tokens = records.div_ceil(SERVICES);
    let mut total = 0u64;
    for service in 0..SERVICES {
        let path = records_dir.join(format!("svc-{service}.jsonl"));
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut line = String::with_capacity(1024);
        for token in 0..tokens {
            if token * SERVICES + service >= records {
                break;
            }
            line.clear();
            record(&mut line, service, token);
            out.write_all(line.as_bytes())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            total += line.len() as u64;
        }
        out.flush()
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(total)
}

/// One record of token `token` as seen by service `service`.
fn record(line: &mut String, service: usize, token: usize) {
    let agent = token / 2; // two tokens per task agent (a renewal)
    let orch = agent % 4;
    let kind = agent % 50;
    // Kind names without digits (`job-bc-<n>` is kind `job-bc-*`).
    let name: String = [b'a' + (kind / 26) as u8, b'a' + (kind % 26) as u8]
        .iter()
        .map(|&b| char::from(b))
        .collect();
    let customer = agent % 10_007;
    let base = 1_796_428_800 + (token as u64) * 7; // 2026-12-05, spread out
    let (iat, first, last, exp) = (base, base + 3, base + 40 + (token as u64 % 200), base + 300);
    let t = |s: u64| {
        let rel = s - 1_796_428_800;
        let (days, sod) = (rel / 86_400, rel % 86_400);
        // Days from 2026-12-05 within a few months: a plain calendar walk.
        let (mut y, mut m, mut d) = (2026u64, 12u64, 5u64 + days);
        loop {
            let len = match m {
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            if d <= len {
                break;
            }
            d -= len;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        )
    };
    let denied = if token.is_multiple_of(5) {
        format!(
            ",{{\"scope\":\"delete:data:customer-{customer}\",\"decision\":\"denied\",\"count\":1,\"first\":\"{}\",\"last\":\"{}\"}}",
            t(last),
            t(last)
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        line,
        "{{\"schema\":\"agentwrit.usage/v1\",\"service\":\"svc-{service}\",\"instance\":\"pid-{}\",\"seq\":0,\"reason\":\"expired\",\
\"jti\":\"{token:032x}\",\"sub\":\"spiffe://agentwrit.local/agent/orch-{orch}/job-{name}-{agent}/{agent:016x}\",\
\"orch_id\":\"orch-{orch}\",\"task_id\":\"job-{name}-{agent}\",\"app\":null,\
\"granted\":[\"read:data:*\",\"write:orders:customer-{customer}\",\"read:reports:kind-{name}\"],\
\"issued_at\":\"{}\",\"expires_at\":\"{}\",\"delegation_depth\":0,\"delegated_by\":null,\
\"requests\":{},\"first_use\":\"{}\",\"last_use\":\"{}\",\
\"scopes\":[{{\"scope\":\"read:data:customer-{customer}\",\"decision\":\"allowed\",\"count\":3,\"first\":\"{}\",\"last\":\"{}\"}},\
{{\"scope\":\"write:orders:customer-{customer}\",\"decision\":\"allowed\",\"count\":1,\"first\":\"{}\",\"last\":\"{}\"}}{denied}],\
\"refused\":[],\"checks_dropped\":0}}",
        1000 + service,
        t(iat),
        t(exp),
        4 + usize::from(token.is_multiple_of(5)),
        t(first),
        t(last),
        t(first),
        t(last),
        t(last),
        t(last),
    );
}

#[cfg(test)]
mod tests {
    use super::record;

    #[test]
    fn generated_records_are_json_of_the_usage_schema() {
        let mut line = String::new();
        record(&mut line, 1, 10);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["schema"], "agentwrit.usage/v1");
        assert_eq!(v["scopes"].as_array().unwrap().len(), 3);
        assert_eq!(v["issued_at"], "2026-12-05T00:01:10.000Z");
        assert_eq!(v["task_id"], "job-af-5");
    }
}
