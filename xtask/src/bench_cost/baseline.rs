//! The committed baseline (`bench/cost-baseline.json`): reading it,
//! rewriting it, and the `--check` against it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::measure::Results;
use crate::util::root;

/// How far above its baseline a row may go before `--check` fails.
const TOLERANCE: f64 = 0.10;
/// The command that rewrites the baseline.
pub(super) const UPDATE: &str = "cargo xtask bench-cost --quick --update-baseline";

/// Instructions per operation, by row name.
pub(super) type Baseline = BTreeMap<String, f64>;

/// `bench/cost-baseline.json` in the workspace.
pub(super) fn path() -> PathBuf {
    root().join("bench").join("cost-baseline.json")
}

/// The baseline's rows (none when the file does not exist).
pub(super) fn read(path: &Path) -> Result<Baseline, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = v
        .get("instructions_per_op")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{}: no \"instructions_per_op\" object", path.display()))?;
    Ok(rows
        .iter()
        .filter_map(|(k, v)| v.as_f64().map(|f| (k.clone(), f)))
        .collect())
}

/// Rewrites the baseline: the measured rows replaced, the others kept.
pub(super) fn update(path: &Path, old: &Baseline, results: &Results) -> Result<(), String> {
    let mut rows = old.clone();
    for (name, m) in results {
        if let Some(m) = m {
            rows.insert((*name).to_owned(), m.per_op.round());
        }
    }
    let v = json!({
        "about": "Instructions per operation (callgrind, Valgrind), the figures `cargo xtask ci` checks with `cargo xtask bench-cost --quick --check`: a row more than 10 % above its figure here fails. Rewrite with `cargo xtask bench-cost --quick --update-baseline` when a change is meant to cost more (or less), and say why in the commit.",
        "instructions_per_op": rows,
    });
    let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())? + "\n";
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Fails naming every row more than [`TOLERANCE`] above its baseline.
pub(super) fn check(results: &Results, baseline: &Baseline) -> Result<(), String> {
    let mut failed = Vec::new();
    for (name, m) in results {
        let (Some(m), Some(base)) = (m, baseline.get(*name)) else {
            continue;
        };
        if m.per_op > base * (1.0 + TOLERANCE) {
            failed.push(format!(
                "  {name}: {:.0} instructions/op, baseline {:.0} (+{:.1} %, limit +{:.0} %)",
                m.per_op,
                base,
                (m.per_op / base - 1.0) * 100.0,
                TOLERANCE * 100.0
            ));
        }
    }
    let missing: Vec<&str> = results
        .iter()
        .filter(|(k, m)| m.is_some() && !baseline.contains_key(**k))
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "bench-cost: rows without a baseline (not checked): {}",
            missing.join(", ")
        );
    }
    if failed.is_empty() {
        println!(
            "\nbench-cost --check: every row within {:.0} % of bench/cost-baseline.json",
            TOLERANCE * 100.0
        );
        Ok(())
    } else {
        Err(format!(
            "bench-cost: {} row(s) cost more than {:.0} % above bench/cost-baseline.json:\n{}\nif the extra cost is intended, update the baseline with `{UPDATE}` and say why in the commit",
            failed.len(),
            TOLERANCE * 100.0,
            failed.join("\n")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::measure::Measured;
    use super::*;

    fn m(per_op: f64) -> Option<Measured> {
        Some(Measured {
            per_op,
            warmup_total: 0.0,
            base: 0,
            cpu_ns_per_op: None,
            n: 1,
            warmup: 0,
        })
    }

    #[test]
    fn the_check_fails_above_ten_percent_and_names_the_update_command() {
        let baseline: Baseline = [("a".to_owned(), 1000.0)].into();
        let ok: Results = [("a", m(1099.0))].into();
        assert!(check(&ok, &baseline).is_ok());
        let bad: Results = [("a", m(1200.0))].into();
        let e = check(&bad, &baseline).unwrap_err();
        assert!(
            e.contains("1200") && e.contains("1000") && e.contains(UPDATE),
            "{e}"
        );
    }

    #[test]
    fn an_update_keeps_the_rows_not_measured() {
        let dir = std::env::temp_dir().join(format!("xtask-baseline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("cost-baseline.json");
        let old: Baseline = [("a".to_owned(), 10.0), ("b".to_owned(), 20.0)].into();
        let results: Results = [("a", m(11.4)), ("c", None)].into();
        update(&file, &old, &results).unwrap();
        let back = read(&file).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            back,
            [("a".to_owned(), 11.0), ("b".to_owned(), 20.0)].into()
        );
    }
}
