//! What is measured: the rows of the table and the ratio targets.

/// What runs a row.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Runner {
    /// `cost run <name>`.
    Rust,
    /// `cost_create.py <sdk>` in the Python SDK's virtualenv.
    Python(&'static str),
}

/// One row of the table.
#[derive(Debug)]
pub(super) struct Row {
    pub name: &'static str,
    pub label: &'static str,
    pub runner: Runner,
    /// In the quick set (`--quick`, CI).
    pub quick: bool,
    pub warmup: usize,
    /// N for the callgrind runs (quick; the full run uses 4 N).
    pub n: usize,
    /// Operations of the native run (the CPU-time column).
    pub native: usize,
}

impl Row {
    /// N of the callgrind runs for this invocation.
    pub fn ops(&self, quick: bool) -> usize {
        if quick { self.n } else { self.n * 4 }
    }

    /// Operations of the native run for this invocation.
    pub fn native_ops(&self, quick: bool) -> usize {
        if quick { self.native / 4 } else { self.native }.max(1)
    }
}

const fn row(
    name: &'static str,
    label: &'static str,
    quick: bool,
    warmup: usize,
    n: usize,
    native: usize,
) -> Row {
    Row {
        name,
        label,
        runner: Runner::Rust,
        quick,
        warmup,
        n,
        native,
    }
}

/// Every row, in the table's order.
pub(super) const ROWS: &[Row] = &[
    row(
        "create-blocking",
        "create-agent, blocking",
        true,
        5,
        20,
        1000,
    ),
    row(
        "create-async-ct",
        "create-agent, async (current-thread runtime)",
        true,
        5,
        20,
        1000,
    ),
    row(
        "create-async-mt",
        "create-agent, async (multi-thread runtime)",
        true,
        5,
        20,
        1000,
    ),
    row("validate", "validate (blocking)", true, 5, 20, 2000),
    row("renew", "renew (blocking)", false, 5, 20, 2000),
    row("delegate", "delegate (blocking)", false, 5, 20, 2000),
    row("release", "release (blocking)", false, 5, 20, 2000),
    row(
        "lifecycle-http",
        "lifecycle, blocking, plain HTTP",
        true,
        3,
        10,
        300,
    ),
    row(
        "lifecycle-https",
        "lifecycle, blocking, HTTPS (warm connection)",
        true,
        3,
        10,
        300,
    ),
    row(
        "lifecycle-async-http",
        "lifecycle, async, plain HTTP",
        false,
        3,
        10,
        300,
    ),
    row(
        "lifecycle-async-https",
        "lifecycle, async, HTTPS (warm connection)",
        false,
        3,
        10,
        300,
    ),
    row(
        "service-unprotected",
        "service: unprotected route",
        true,
        20,
        100,
        10_000,
    ),
    row(
        "service-warm",
        "service: AgentAuth broker mode, warm cache",
        true,
        20,
        100,
        10_000,
    ),
    row(
        "service-local",
        "service: AgentAuth local verification",
        true,
        20,
        100,
        10_000,
    ),
    row(
        "service-warm-usage",
        "service: warm cache + scope-usage recording",
        true,
        20,
        100,
        10_000,
    ),
    row(
        "keygen-sign",
        "Ed25519 keygen + nonce signature",
        true,
        5,
        20,
        5000,
    ),
    row(
        "floor-create",
        "floor: hand-written HTTP/1.1 create",
        true,
        5,
        20,
        1000,
    ),
    row(
        "scope-1x1",
        "scope_is_subset 1x1",
        true,
        100,
        1000,
        20_000_000,
    ),
    row(
        "scope-2x2",
        "scope_is_subset 2x2",
        false,
        100,
        1000,
        10_000_000,
    ),
    row(
        "scope-1_vs_4_wildcards",
        "scope_is_subset 1_vs_4_wildcards",
        false,
        100,
        1000,
        10_000_000,
    ),
    row(
        "scope-denied",
        "scope_is_subset denied",
        false,
        100,
        1000,
        20_000_000,
    ),
    row(
        "scope-10x10",
        "scope_is_subset 10x10",
        false,
        100,
        1000,
        2_000_000,
    ),
    row(
        "scope-100x100",
        "scope_is_subset 100x100",
        true,
        10,
        100,
        30_000,
    ),
    Row {
        name: "python-official-create",
        label: "create-agent, official Python SDK (agentwrit 0.3.0)",
        runner: Runner::Python("official"),
        quick: false,
        warmup: 3,
        n: 5,
        native: 300,
    },
    Row {
        name: "python-rs-create",
        label: "create-agent, agentwrit_rs (this repository's Python package)",
        runner: Runner::Python("rs"),
        quick: false,
        warmup: 3,
        n: 5,
        native: 1000,
    },
    // The alternative the package's sync API does not take: the async
    // client driven with block_on on the binding layer's runtime (what
    // `docs/performance.md` compares the row above with).
    Row {
        name: "python-rs-runtime-create",
        label: "create-agent, agentwrit_rs's native App on the bindings runtime (block_on)",
        runner: Runner::Python("rs-runtime"),
        quick: false,
        warmup: 3,
        n: 5,
        native: 1000,
    },
];

/// A ratio the table reports: `label`, numerator row, denominator row and
/// the target (NaN: reported, no target).
pub(super) type Target = (&'static str, &'static str, &'static str, f64);

/// The ratios and their targets.
pub(super) const TARGETS: [Target; 9] = [
    (
        "async create (current-thread) / blocking create",
        "create-async-ct",
        "create-blocking",
        1.30,
    ),
    (
        "async create (multi-thread) / blocking create",
        "create-async-mt",
        "create-blocking",
        1.30,
    ),
    (
        "HTTPS lifecycle / plain HTTP (blocking)",
        "lifecycle-https",
        "lifecycle-http",
        1.15,
    ),
    (
        "HTTPS lifecycle / plain HTTP (async)",
        "lifecycle-async-https",
        "lifecycle-async-http",
        1.15,
    ),
    (
        "service: warm cache / unprotected",
        "service-warm",
        "service-unprotected",
        1.50,
    ),
    (
        "service: local verification / unprotected",
        "service-local",
        "service-unprotected",
        1.50,
    ),
    (
        "service: scope-usage recording / warm cache (issue 31)",
        "service-warm-usage",
        "service-warm",
        1.10,
    ),
    (
        "official Python SDK create / agentwrit_rs create",
        "python-official-create",
        "python-rs-create",
        f64::NAN,
    ),
    (
        "official Python SDK create / Rust blocking create",
        "python-official-create",
        "create-blocking",
        f64::NAN,
    ),
];

/// The rows an invocation measures: those named, else the quick set or
/// all of them.
pub(super) fn select(only: Option<&[String]>, quick: bool) -> Vec<&'static Row> {
    ROWS.iter()
        .filter(|r| match only {
            Some(names) => names.iter().any(|n| n == r.name),
            None => !quick || r.quick,
        })
        .collect()
}

/// `name` if it is a row, else an error listing the rows.
pub(super) fn known(name: &str) -> Result<(), String> {
    if ROWS.iter().any(|r| r.name == name) {
        Ok(())
    } else {
        let known: Vec<&str> = ROWS.iter().map(|r| r.name).collect();
        Err(format!("unknown row {name:?}; rows: {}", known.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rust_row_is_known_to_the_cost_binary() {
        let src = include_str!("../../../crates/agentwrit-bench/src/bin/cost/main.rs");
        for row in ROWS.iter().filter(|r| r.runner == Runner::Rust) {
            assert!(src.contains(&format!("\"{}\",", row.name)), "{}", row.name);
        }
    }

    #[test]
    fn every_ratio_names_two_rows() {
        for (label, a, b, _) in TARGETS {
            assert!(known(a).is_ok() && known(b).is_ok(), "{label}");
        }
    }

    #[test]
    fn the_quick_set_is_a_subset_and_names_select_exactly() {
        let quick = select(None, true);
        assert!(!quick.is_empty() && quick.len() < ROWS.len());
        assert!(quick.iter().all(|r| r.quick));
        assert_eq!(select(None, false).len(), ROWS.len());
        let named = select(Some(&["renew".to_owned()]), true);
        assert_eq!(named.iter().map(|r| r.name).collect::<Vec<_>>(), ["renew"]);
        assert!(known("nope").unwrap_err().contains("service-warm"));
    }
}
