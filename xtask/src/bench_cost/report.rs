//! The results as people and tools read them: the table, the ratios
//! against their targets, the SDK above the hand-written floor, and
//! `results.json`.

use std::path::Path;

use serde_json::{Value, json};

use super::baseline::Baseline;
use super::measure::{Measured, Results};
use super::rows::{Row, TARGETS};

/// `1234567` as `1 234 567`.
fn fmt_count(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The table of rows: instructions and CPU time per operation, warm-up,
/// and the baseline.
pub(super) fn table(rows: &[&Row], results: &Results, baseline: &Baseline) {
    println!("\nInstructions per operation (callgrind; broker in its own process, not counted)");
    println!(
        "| {:<24} | {:<58} | {:>14} | {:>11} | {:>22} | {:>14} | {:>8} |",
        "row",
        "operation",
        "instr/op",
        "CPU µs/op",
        "warm-up (instr, W ops)",
        "baseline",
        "vs base"
    );
    println!(
        "|:{}|:{}|{}:|{}:|{}:|{}:|{}:|",
        "-".repeat(25),
        "-".repeat(59),
        "-".repeat(15),
        "-".repeat(12),
        "-".repeat(23),
        "-".repeat(15),
        "-".repeat(9)
    );
    for row in rows {
        match results.get(row.name).and_then(Option::as_ref) {
            Some(m) => {
                let cpu = m
                    .cpu_ns_per_op
                    .map_or_else(|| "n/a".to_owned(), |ns| format!("{:.3}", ns / 1e3));
                let (base, vs) = match baseline.get(row.name) {
                    Some(b) => (
                        fmt_count(*b),
                        format!("{:+.1} %", (m.per_op / b - 1.0) * 100.0),
                    ),
                    None => ("–".to_owned(), "–".to_owned()),
                };
                println!(
                    "| {:<24} | {:<58} | {:>14} | {:>11} | {:>22} | {:>14} | {:>8} |",
                    row.name,
                    row.label,
                    fmt_count(m.per_op),
                    cpu,
                    format!("{} ({})", fmt_count(m.warmup_total), m.warmup),
                    base,
                    vs
                );
            }
            None => println!(
                "| {:<24} | {:<58} | {:>14} | {:>11} | {:>22} | {:>14} | {:>8} |",
                row.name, row.label, "not built", "–", "–", "–", "–"
            ),
        }
    }
}

/// The ratio of two rows' instructions (and CPU times, when both have
/// one).
fn ratio(results: &Results, a: &str, b: &str) -> Option<(f64, Option<f64>)> {
    let get = |n: &str| results.get(n).and_then(Option::as_ref);
    let (a, b) = (get(a)?, get(b)?);
    let cpu = a.cpu_ns_per_op.zip(b.cpu_ns_per_op).map(|(x, y)| x / y);
    Some((a.per_op / b.per_op, cpu))
}

/// The ratios against their targets, then the SDK above the floor.
pub(super) fn ratios(results: &Results) {
    println!("\nRatios (instructions; CPU time beside, for the kernel's share)");
    println!(
        "| {:<58} | {:>8} | {:>8} | {:>8} | {:<6} |",
        "ratio", "instr", "CPU", "target", ""
    );
    println!(
        "|:{}|{}:|{}:|{}:|:{}|",
        "-".repeat(59),
        "-".repeat(9),
        "-".repeat(9),
        "-".repeat(9),
        "-".repeat(7)
    );
    for (label, a, b, target) in TARGETS {
        let Some((r, cpu)) = ratio(results, a, b) else {
            println!(
                "| {label:<58} | {:>8} | {:>8} | {:>8} | {:<6} |",
                "–", "–", "–", "not measured"
            );
            continue;
        };
        let cpu = cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2}×"));
        let (t, verdict) = verdict(r, target);
        println!(
            "| {label:<58} | {:>8} | {cpu:>8} | {t:>8} | {verdict:<6} |",
            format!("{r:.2}×")
        );
    }
    above_the_floor(results);
}

/// The target column and the verdict of ratio `r` (a NaN target: none).
fn verdict(r: f64, target: f64) -> (String, &'static str) {
    if target.is_nan() {
        ("–".to_owned(), "")
    } else if r <= target {
        (format!("≤ {target:.2}×"), "met")
    } else {
        (format!("≤ {target:.2}×"), "missed")
    }
}

fn above_the_floor(results: &Results) {
    let get = |n: &str| results.get(n).and_then(Option::as_ref);
    let (Some(floor), Some(keys)) = (get("floor-create"), get("keygen-sign")) else {
        return;
    };
    let floor_net = floor.per_op - keys.per_op;
    println!(
        "\nThe SDK above the floor (floor: a hand-written HTTP/1.1 client making the same 3 requests, {} instr/op; Ed25519 keygen + signature {} instr/op in both)",
        fmt_count(floor.per_op),
        fmt_count(keys.per_op)
    );
    println!(
        "| {:<36} | {:>14} | {:>18} | {:>22} |",
        "create-agent", "instr/op", "above the floor", "÷ floor (excl. keys)"
    );
    println!(
        "|:{}|{}:|{}:|{}:|",
        "-".repeat(37),
        "-".repeat(15),
        "-".repeat(19),
        "-".repeat(23)
    );
    for (label, name) in [
        ("blocking", "create-blocking"),
        ("async, current-thread runtime", "create-async-ct"),
        ("async, multi-thread runtime", "create-async-mt"),
    ] {
        if let Some(m) = get(name) {
            println!(
                "| {label:<36} | {:>14} | {:>18} | {:>22} |",
                fmt_count(m.per_op),
                fmt_count(m.per_op - floor.per_op),
                format!("{:.2}×", (m.per_op - keys.per_op) / floor_net)
            );
        }
    }
}

/// `results.json`: every selected row, measured or "not built".
pub(super) fn write_json(path: &Path, rows: &[&Row], results: &Results) -> Result<(), String> {
    let list: Vec<Value> = rows
        .iter()
        .map(|row| match results.get(row.name).and_then(Option::as_ref) {
            Some(m) => measured_json(row, m),
            None => json!({ "row": row.name, "operation": row.label, "not_built": true }),
        })
        .collect();
    let text =
        serde_json::to_string_pretty(&json!({ "rows": list })).map_err(|e| e.to_string())? + "\n";
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn measured_json(row: &Row, m: &Measured) -> Value {
    json!({
        "row": row.name,
        "operation": row.label,
        "instructions_per_op": m.per_op,
        "warmup_ops": m.warmup,
        "warmup_instructions": m.warmup_total,
        "startup_instructions": m.base,
        "n": m.n,
        "cpu_ns_per_op": m.cpu_ns_per_op,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(fmt_count(1_234_567.4), "1 234 567");
        assert_eq!(fmt_count(12.0), "12");
        assert_eq!(fmt_count(-1500.0), "-1 500");
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(1.2, 1.5), ("≤ 1.50×".to_owned(), "met"));
        assert_eq!(verdict(1.6, 1.5).1, "missed");
        assert_eq!(verdict(9.0, f64::NAN), ("–".to_owned(), ""));
    }
}
