//! `cargo xtask dups`: no package appears in two versions in the normal
//! dependency tree of a published library crate (what a user who adds it
//! compiles), unless no version choice of ours can remove it; those few
//! are listed here, each with its reason.

use std::collections::BTreeSet;

use crate::util::cargo;

/// The trees checked, each resolved as one build would resolve it. The
/// transports together (a user may take both; core, wire and scope are in
/// both), core alone (for a custom transport), and the development broker
/// (a dev-dependency of users' tests).
const GROUPS: &[&[&str]] = &[
    &["agentwrit-blocking", "agentwrit-async"],
    &["agentwrit-core"],
    &["agentwrit-devbroker"],
];

/// Duplicates we accept: the package name and why no version choice of
/// ours removes the second copy. An entry that no longer matches a
/// duplicate is an error too, so the list stays true.
const ALLOWED: &[(&str, &str)] = &[
    (
        "syn",
        "syn 2 and 3 are both used by third-party proc-macros (tracing-attributes, \
         zeroize_derive, curve25519-dalek-derive, serde_derive, ...); compile-time only",
    ),
    (
        "base64",
        "in the transports only: jsonwebtoken 11.1 (the newest release, used by core) \
         requires base64 0.22, ureq 3.5 and reqwest 0.13 (through hyper-util) 0.23. \
         Ours is 0.22 so core alone has one copy. Goes away when core stops using \
         jsonwebtoken and ours moves to 0.23",
    ),
];

/// Runs `cargo tree -d` for each of [`GROUPS`] and fails on any duplicate
/// not in [`ALLOWED`], or on an [`ALLOWED`] entry that is a duplicate in
/// none of them.
pub fn dups(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("dups takes no arguments (got {a:?})"));
    }
    let mut found = Vec::new();
    for roots in GROUPS {
        for dup in tree_duplicates(roots)? {
            if !found.contains(&dup) {
                found.push(dup);
            }
        }
    }
    judge(&found, ALLOWED)
}

/// The duplicates in the normal dependency tree of `roots`, printed.
fn tree_duplicates(roots: &[&str]) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut cmd = cargo();
    cmd.args([
        "tree",
        "--locked",
        "--duplicates",
        "--edges",
        "normal",
        "--depth",
        "0",
        "--prefix",
        "none",
        "--format",
        "{p}",
    ]);
    for root in roots {
        cmd.args(["-p", root]);
    }
    eprintln!(
        "\n$ cargo tree --duplicates --edges normal -p {}",
        roots.join(" -p ")
    );
    let output = cmd
        .output()
        .map_err(|e| format!("could not run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let found = duplicates(&text);
    for (name, versions) in &found {
        eprintln!("  {name} {}", versions.join(", "));
    }
    Ok(found)
}

/// Each duplicated package with its versions, from `cargo tree -d
/// --depth 0 --prefix none --format {p}` output (`base64 v0.22.1`, or
/// `agentwrit-core v0.1.0 (/path)` for path packages).
fn duplicates(tree: &str) -> Vec<(String, Vec<String>)> {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for line in tree.lines() {
        let mut words = line.split_whitespace();
        if let (Some(name), Some(version)) = (words.next(), words.next()) {
            seen.insert((name.to_owned(), version.trim_start_matches('v').to_owned()));
        }
    }
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (name, version) in seen {
        match out.last_mut() {
            Some((last, versions)) if *last == name => versions.push(version),
            _ => out.push((name, vec![version])),
        }
    }
    out
}

fn judge(found: &[(String, Vec<String>)], allowed: &[(&str, &str)]) -> Result<(), String> {
    let mut problems = Vec::new();
    for (name, versions) in found {
        if !allowed.iter().any(|(a, _)| a == name) {
            problems.push(format!(
                "{name} is in the tree in {} versions ({}): pick versions that agree, \
                 or add it to ALLOWED in xtask/src/dups.rs with the reason none can",
                versions.len(),
                versions.join(", ")
            ));
        }
    }
    for (name, _) in allowed {
        if !found.iter().any(|(f, _)| f == name) {
            problems.push(format!(
                "{name} is allowed as a duplicate but no longer is one: \
                 remove it from ALLOWED in xtask/src/dups.rs"
            ));
        }
    }
    if problems.is_empty() {
        eprintln!(
            "dups: no duplicate beyond the {} allowed ({})",
            allowed.len(),
            allowed
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str =
        "base64 v0.22.1\n\nbase64 v0.23.1\nsyn v2.0.119\n\nsyn v3.0.9\nsyn v2.0.119\n";

    #[test]
    fn reads_each_duplicate_and_its_versions() {
        assert_eq!(
            duplicates(TREE),
            [
                (
                    "base64".to_owned(),
                    vec!["0.22.1".to_owned(), "0.23.1".to_owned()]
                ),
                (
                    "syn".to_owned(),
                    vec!["2.0.119".to_owned(), "3.0.9".to_owned()]
                ),
            ]
        );
        assert!(duplicates("").is_empty());
    }

    #[test]
    fn fails_on_a_duplicate_not_allowed_and_on_a_stale_allowance() {
        let found = duplicates(TREE);
        assert!(judge(&found, &[("base64", "r"), ("syn", "r")]).is_ok());
        let err = judge(&found, &[("syn", "r")]).unwrap_err();
        assert!(
            err.contains("base64 is in the tree in 2 versions (0.22.1, 0.23.1)"),
            "{err}"
        );
        let err = judge(&found, &[("base64", "r"), ("syn", "r"), ("rand", "r")]).unwrap_err();
        assert!(
            err.contains("rand is allowed as a duplicate but no longer is one"),
            "{err}"
        );
    }
}
