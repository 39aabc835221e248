//! `cargo xtask features`: every library crate compiles on its own with
//! each feature set it supports, so a combination that does not build
//! cannot land.
//!
//! Each row is checked with `cargo check -p CRATE --lib` (`--bins` for
//! the command line, which has no library) alone (with
//! resolver 3, features are then unified over that crate's tree only, the
//! way a user who depends on just that crate gets it). `cargo check`
//! catches every compile error a build would, without code generation.

use crate::util::{cargo, run};

/// One supported combination: the crate, and the feature arguments after
/// `--no-default-features` (`None`: the crate's default features).
struct Row {
    package: &'static str,
    features: Option<&'static str>,
    /// `--lib`, or `--bins` for a crate that is only a binary.
    target: &'static str,
}

/// The supported feature sets of each published library crate. To support
/// a new combination, add a row, e.g. `row("agentwrit-blocking",
/// Some("rustls-ring"))`; `Some("")` is `--no-default-features` alone.
const ROWS: &[Row] = &[
    row("agentwrit-scope", None),
    row("agentwrit-scope", Some("")),
    row("agentwrit-wire", None),
    row("agentwrit-wire", Some("")),
    row("agentwrit-core", None),
    row("agentwrit-core", Some("")),
    row("agentwrit-core", Some("tls-ring")),
    row("agentwrit-core", Some("tls-aws-lc-rs")),
    // The clients need one crypto provider (a build without one stops
    // with a message naming the features); each provider with each root
    // source.
    row("agentwrit-blocking", None),
    row("agentwrit-blocking", Some("ring,native-roots")),
    row("agentwrit-blocking", Some("aws-lc-rs,webpki-roots")),
    row("agentwrit-blocking", Some("aws-lc-rs,native-roots")),
    row("agentwrit-async", None),
    row("agentwrit-async", Some("ring,native-roots")),
    row("agentwrit-async", Some("aws-lc-rs,webpki-roots")),
    row("agentwrit-async", Some("aws-lc-rs,native-roots")),
    row("agentwrit-devbroker", None),
    row("agentwrit-devbroker", Some("")),
    row("agentwrit-tower", None),
    row("agentwrit-tower", Some("")),
    row("agentwrit-tower", Some("axum,usage-otlp,usage-metrics")),
    // Scope-usage evidence: the recorder alone (what a binding links),
    // with the OTLP sink (heavy: the OpenTelemetry SDK), with the
    // metrics facade, and both.
    row("agentwrit-usage", None),
    row("agentwrit-usage", Some("")),
    row("agentwrit-usage", Some("otlp")),
    row("agentwrit-usage", Some("metrics")),
    row("agentwrit-usage", Some("otlp,metrics")),
    // The command line (a binary, no library) has no features of its own.
    bin_row("agentwrit-cli", None),
    bin_row("agentwrit-cli", Some("")),
];

const fn row(package: &'static str, features: Option<&'static str>) -> Row {
    Row {
        package,
        features,
        target: "--lib",
    }
}

/// A row of a crate that is a binary only: its binaries are checked.
const fn bin_row(package: &'static str, features: Option<&'static str>) -> Row {
    Row {
        package,
        features,
        target: "--bins",
    }
}

/// Checks every row; `--list` prints the rows instead.
pub fn features(args: &[String]) -> Result<(), String> {
    let list = match args {
        [] => false,
        [a] if a == "--list" => true,
        _ => return Err("features takes no arguments but --list".into()),
    };
    for row in ROWS {
        let args = row.args();
        if list {
            println!("cargo {}", args.join(" "));
        } else {
            run(cargo().args(&args))?;
        }
    }
    if !list {
        eprintln!(
            "\nfeatures: {} crate/feature-set combinations compile",
            ROWS.len()
        );
    }
    Ok(())
}

impl Row {
    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["check", "--quiet", self.target, "-p", self.package]
            .map(String::from)
            .to_vec();
        if let Some(features) = self.features {
            args.push("--no-default-features".into());
            if !features.is_empty() {
                args.extend(["--features".into(), features.into()]);
            }
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::metadata;

    #[test]
    fn a_row_is_one_cargo_check_of_one_crate() {
        assert_eq!(
            row("a", None).args(),
            ["check", "--quiet", "--lib", "-p", "a"]
        );
        assert_eq!(
            row("a", Some("")).args(),
            [
                "check",
                "--quiet",
                "--lib",
                "-p",
                "a",
                "--no-default-features"
            ]
        );
        assert_eq!(
            bin_row("a", None).args(),
            ["check", "--quiet", "--bins", "-p", "a"]
        );
        assert_eq!(
            row("a", Some("x,y")).args(),
            [
                "check",
                "--quiet",
                "--lib",
                "-p",
                "a",
                "--no-default-features",
                "--features",
                "x,y"
            ]
        );
    }

    /// Every published crate has rows (a new crate cannot be forgotten),
    /// at least its defaults and `--no-default-features`, and every row
    /// names a member.
    #[test]
    fn every_publishable_crate_is_in_the_table() {
        let ws = metadata().unwrap();
        for p in ws.packages.iter().filter(|p| p.publishable()) {
            let mine: Vec<_> = ROWS.iter().filter(|r| r.package == p.name).collect();
            assert!(
                mine.iter().any(|r| r.features.is_none()),
                "{}: no default row",
                p.name
            );
            // The clients cannot build without a crypto provider: for them,
            // every non-default row names one.
            let needs_provider =
                ["agentwrit-blocking", "agentwrit-async"].contains(&p.name.as_str());
            assert!(
                needs_provider || mine.iter().any(|r| r.features == Some("")),
                "{}: no --no-default-features row",
                p.name
            );
            if needs_provider {
                assert!(
                    mine.iter().filter(|r| r.features.is_some()).all(|r| r
                        .features
                        .is_some_and(|f| f.contains("ring") || f.contains("aws-lc-rs"))),
                    "{}: a feature row without a provider",
                    p.name
                );
            }
        }
        for r in ROWS {
            assert!(
                ws.packages
                    .iter()
                    .any(|p| p.name == r.package && p.publishable()),
                "{} is not a published member",
                r.package
            );
        }
    }
}
