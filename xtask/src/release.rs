//! `cargo xtask release`: the checks a release must pass, and a dry run of
//! the packaging. It never publishes.
//!
//! The manifests are read through `cargo metadata` (workspace inheritance
//! resolved by cargo) and version requirements are matched with the
//! `semver` crate, cargo's own rules. What is checked:
//!
//! 1. `CHANGELOG.md` has a section `## [VERSION]` for the release version.
//! 2. Every publishable member (`publish` is not `false`) has the same
//!    version, the release version (they inherit the workspace's).
//! 3. Each has the metadata crates.io shows or needs: a non-empty
//!    `description`, `license` and `repository`; one to five keywords, each
//!    valid on crates.io (ASCII, starts with a letter, at most 20 of
//!    letters, digits, `-`, `_`); at least one category; a `readme` that
//!    exists.
//! 4. Every dependency of a publishable member on another publishable
//!    member (normal, build and dev) carries a version requirement (a path
//!    alone cannot be published) that the member's version satisfies; with
//!    [`REQUIRE_EXACT_INTERNAL_PINS`], that requirement must be an exact
//!    `=VERSION` pin.
//! 5. No normal or build dependency of a publishable member is an
//!    unpublished member, and a dev dependency on one (such as
//!    `agentwrit-test-support`) is path-only: cargo drops a dev dependency
//!    without a version when it packages a crate, where a version would
//!    make the published manifest name a crate that is not on crates.io.
//! 6. The publishable members can be ordered so each comes after every
//!    member it depends on (dev dependencies included: a published manifest
//!    keeps the versioned ones); a cycle is an error.
//! 7. Every external crate in [`EXACT_EXTERNAL_PINS`] is pinned exactly
//!    (`=MAJOR.MINOR.PATCH`) by every member that depends on it, and some
//!    member still does (a stale entry is an error too).
//!
//! With `--dry-run` it then runs `cargo package` for those crates in that
//! order (cargo packages interdependent unpublished crates against a local
//! overlay registry, so this works before anything is on crates.io) and
//! checks each `.crate` file was written to `<target dir>/package`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use semver::{Op, Version, VersionReq};

use crate::metadata::{Metadata, Package, metadata};
use crate::util::{cargo, flag, run, target_dir};

/// When true, a publishable crate's dependency on another member must be
/// pinned exactly (`=0.1.0`): the crates are released together, and a
/// user must never combine, say, core 0.1.3 with blocking 0.1.0. Turn it
/// on together with the `=` pins in the root `[workspace.dependencies]`.
const REQUIRE_EXACT_INTERNAL_PINS: bool = true;

/// External crates pinned exactly, each with why: a caret requirement
/// would let `cargo update` bring a release that breaks what we use. The
/// root `Cargo.toml` gives the same reason next to the pin.
const EXACT_EXTERNAL_PINS: &[(&str, &str)] = &[(
    "ureq",
    "agentwrit-blocking uses `ureq::unversioned` (its transport connector, resolver and \
     TLS-transport traits), which ureq leaves out of its semver promise",
)];

const USAGE: &str = "\
cargo xtask release --dry-run [--online] [--no-verify]
    checks every publishable crate's metadata, the changelog and the
    versions of path dependencies, then runs `cargo package` for the
    publishable crates in publish order (offline unless --online; the
    tree may be dirty). Nothing is published.
cargo xtask release --plan
    the same checks, then prints the `cargo publish` commands a maintainer
    would run, in order. Nothing is published.
";

/// Entry point.
pub fn release(args: &[String]) -> Result<(), String> {
    let dry_run = flag(args, "--dry-run");
    let plan = flag(args, "--plan");
    if let Some(unknown) = args.iter().find(|a| {
        !matches!(
            a.as_str(),
            "--dry-run" | "--plan" | "--online" | "--no-verify"
        )
    }) {
        return Err(format!("unknown argument {unknown:?}\n\n{USAGE}"));
    }
    if !dry_run && !plan {
        return Err(format!(
            "refusing to run without --dry-run or --plan: this command never publishes\n\n{USAGE}"
        ));
    }

    let ws = metadata()?;
    let changelog = fs::read_to_string(ws.workspace_root.join("CHANGELOG.md")).unwrap_or_default();
    let Release { version, order } = check(ws, &changelog, REQUIRE_EXACT_INTERNAL_PINS)?;
    check_external_pins(ws, EXACT_EXTERNAL_PINS)?;
    for (name, _) in EXACT_EXTERNAL_PINS {
        eprintln!("ok  {name}: pinned exactly");
    }
    for name in &order {
        eprintln!("ok  {name} {version}: metadata, readme, changelog, member versions");
    }

    if dry_run {
        let verify_dir = target_dir()?.join("package-verify");
        crate::package_state::forget_earlier_dry_runs(&version, &order, &verify_dir)?;
        let mut cmd = cargo();
        cmd.arg("package");
        // The verification builds in a directory of its own, where every
        // build of our crates is a packaged copy (see
        // `crate::package_state`).
        cmd.arg("--target-dir").arg(&verify_dir);
        if !flag(args, "--online") {
            cmd.arg("--offline");
        }
        if flag(args, "--no-verify") {
            cmd.arg("--no-verify");
        }
        // A dry run may happen in a working tree with unrelated changes.
        cmd.arg("--allow-dirty");
        for name in &order {
            cmd.args(["-p", name]);
        }
        run(&mut cmd)?;
        eprintln!("\npackaged:");
        let packages = verify_dir.join("package");
        for name in &order {
            let file = packages.join(format!("{name}-{version}.crate"));
            let size = fs::metadata(&file)
                .map(|m| m.len())
                .map_err(|e| format!("{} was not produced: {e}", file.display()))?;
            eprintln!("  {name}-{version}.crate  {:.1} KiB", size as f64 / 1024.0);
        }
    }

    eprintln!("\nto publish {version} (a maintainer, by hand, in this order):");
    for name in &order {
        eprintln!("  cargo publish -p {name}");
    }
    Ok(())
}

/// What the checks establish: the release version and the publish order.
#[derive(Debug)]
struct Release {
    version: Version,
    order: Vec<String>,
}

/// Runs every check in the module documentation; all problems are
/// reported together.
fn check(ws: &Metadata, changelog: &str, exact_pins: bool) -> Result<Release, String> {
    let mut problems = Vec::new();
    let members: BTreeMap<&str, &Package> =
        ws.packages.iter().map(|p| (p.name.as_str(), p)).collect();
    let publishable: Vec<&Package> = ws.packages.iter().filter(|p| p.publishable()).collect();

    let versions: BTreeSet<&Version> = publishable.iter().map(|p| &p.version).collect();
    let version = match versions.iter().collect::<Vec<_>>().as_slice() {
        [one] => (**one).clone(),
        [] => return Err("no publishable crate in the workspace".into()),
        _ => {
            return Err(format!(
                "the publishable crates do not share one version: {}",
                publishable
                    .iter()
                    .map(|p| format!("{} {}", p.name, p.version))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };

    let heading = format!("## [{version}]");
    if !changelog.lines().any(|l| l.starts_with(&heading)) {
        problems.push(format!(
            "CHANGELOG.md: no section starting with `{heading}`"
        ));
    }

    for package in &publishable {
        check_metadata(package, &mut problems);
        for dep in &package.dependencies {
            // A member is depended on by path (a registry dependency of the
            // same name would be an already-published release).
            let Some(target) = members
                .get(dep.name.as_str())
                .filter(|_| dep.path.is_some())
            else {
                continue;
            };
            check_member_dependency(package, dep, target, exact_pins, &mut problems);
        }
    }

    let order = publish_order(&publishable)?;
    if problems.is_empty() {
        Ok(Release { version, order })
    } else {
        Err(format!(
            "{} release problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

/// The `[package]` fields crates.io needs or shows.
fn check_metadata(package: &Package, problems: &mut Vec<String>) {
    let name = &package.name;
    for (key, value) in [
        ("description", &package.description),
        ("license", &package.license),
        ("repository", &package.repository),
    ] {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            problems.push(format!("{name}: no `{key}`"));
        }
    }
    if package.keywords.is_empty() || package.keywords.len() > 5 {
        problems.push(format!(
            "{name}: {} keywords (crates.io takes one to five)",
            package.keywords.len()
        ));
    }
    for keyword in &package.keywords {
        if !valid_keyword(keyword) {
            problems.push(format!(
                "{name}: keyword {keyword:?} is not valid on crates.io"
            ));
        }
    }
    if package.categories.is_empty() {
        problems.push(format!("{name}: no `categories`"));
    }
    match &package.readme {
        None => problems.push(format!("{name}: no `readme`")),
        Some(readme) => {
            let dir = package.manifest_path.parent().unwrap_or(Path::new("."));
            let path = dir.join(readme);
            if !path.is_file() {
                problems.push(format!("{name}: readme {} does not exist", path.display()));
            }
        }
    }
}

/// A keyword crates.io accepts.
fn valid_keyword(keyword: &str) -> bool {
    keyword.len() <= 20
        && keyword.starts_with(|c: char| c.is_ascii_alphabetic())
        && keyword
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A publishable member's dependency on another member.
fn check_member_dependency(
    package: &Package,
    dep: &crate::metadata::Dependency,
    target: &Package,
    exact_pins: bool,
    problems: &mut Vec<String>,
) {
    let name = &package.name;
    let on = &dep.name;
    if !target.publishable() {
        if !dep.is_dev() {
            problems.push(format!("{name}: depends on {on}, which is not published"));
        } else if dep.req != "*" {
            problems.push(format!(
                "{name}: dev dependency on the unpublished {on} asks for {}; \
                 declare it by path only (cargo drops it when packaging)",
                dep.req
            ));
        }
        return;
    }
    // cargo writes `*` for a dependency declared without a version.
    match VersionReq::parse(&dep.req) {
        Ok(req) if req == VersionReq::STAR => problems.push(format!(
            "{name}: dependency on {on} has no version (a path alone cannot be published)"
        )),
        Ok(req) if !req.matches(&target.version) => problems.push(format!(
            "{name}: dependency on {on} asks for {}, but it is {}",
            dep.req, target.version
        )),
        Ok(req) if exact_pins && !is_exact_pin(&req, &target.version) => problems.push(format!(
            "{name}: dependency on {on} is {}; members are pinned exactly (`={}`)",
            dep.req, target.version
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!(
            "{name}: dependency on {on}: cannot read requirement {:?}: {e}",
            dep.req
        )),
    }
}

/// Check 7: every member's dependency on a crate of `pins` is an exact
/// `=MAJOR.MINOR.PATCH` requirement, and each crate of `pins` is still a
/// dependency of some member.
fn check_external_pins(ws: &Metadata, pins: &[(&str, &str)]) -> Result<(), String> {
    let mut problems = Vec::new();
    for (pinned, reason) in pins {
        let mut users = 0;
        for package in &ws.packages {
            for dep in package
                .dependencies
                .iter()
                .filter(|d| d.name == *pinned && d.path.is_none())
            {
                users += 1;
                let exact = VersionReq::parse(&dep.req).is_ok_and(|req| {
                    matches!(req.comparators.as_slice(),
                        [c] if c.op == Op::Exact && c.minor.is_some() && c.patch.is_some())
                });
                if !exact {
                    problems.push(format!(
                        "{}: dependency on {pinned} is {}; pin it exactly (`=MAJOR.MINOR.PATCH`, \
                         the version tested) in [workspace.dependencies]: {reason}",
                        package.name, dep.req
                    ));
                }
            }
        }
        if users == 0 {
            problems.push(format!(
                "no member depends on {pinned} any more: drop it from EXACT_EXTERNAL_PINS"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} pin problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

/// True for `=MAJOR.MINOR.PATCH` naming exactly `version`.
fn is_exact_pin(req: &VersionReq, version: &Version) -> bool {
    match req.comparators.as_slice() {
        [c] => {
            c.op == Op::Exact
                && c.major == version.major
                && c.minor == Some(version.minor)
                && c.patch == Some(version.patch)
                && c.pre == version.pre
        }
        _ => false,
    }
}

/// The publishable crates, each after every member it depends on (dev
/// dependencies included: a published manifest keeps versioned ones).
/// Ties are broken by name, so the order is stable.
fn publish_order(publishable: &[&Package]) -> Result<Vec<String>, String> {
    let names: BTreeSet<&str> = publishable.iter().map(|p| p.name.as_str()).collect();
    let mut pending: BTreeMap<&str, BTreeSet<&str>> = publishable
        .iter()
        .map(|p| {
            let deps = p
                .dependencies
                .iter()
                .map(|d| d.name.as_str())
                .filter(|d| names.contains(d) && *d != p.name)
                .collect();
            (p.name.as_str(), deps)
        })
        .collect();
    let mut order = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .find(|(_, deps)| deps.is_empty())
            .map(|(name, _)| *name)
            .ok_or_else(|| {
                format!(
                    "dependency cycle among {}",
                    pending.keys().copied().collect::<Vec<_>>().join(", ")
                )
            })?;
        pending.remove(ready);
        for deps in pending.values_mut() {
            deps.remove(ready);
        }
        order.push(ready.to_owned());
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::metadata::Dependency;

    fn dep(name: &str, req: &str, kind: Option<&str>) -> Dependency {
        Dependency {
            name: name.into(),
            req: req.into(),
            kind: kind.map(Into::into),
            path: Some(PathBuf::from("/w").join(name)),
        }
    }

    /// A publishable package whose readme is this crate's own manifest (a
    /// file that exists), so only what a test changes can fail.
    fn package(name: &str, deps: Vec<Dependency>) -> Package {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        Package {
            name: name.into(),
            version: Version::new(0, 1, 0),
            publish: None,
            description: Some("d".into()),
            license: Some("MIT".into()),
            repository: Some("https://example.invalid/r".into()),
            keywords: vec!["agents".into()],
            categories: vec!["authentication".into()],
            readme: Some(PathBuf::from("Cargo.toml")),
            manifest_path: manifest,
            dependencies: deps,
            targets: Vec::new(),
        }
    }

    fn workspace(packages: Vec<Package>) -> Metadata {
        Metadata {
            target_directory: PathBuf::from("/t"),
            workspace_root: PathBuf::from("/w"),
            packages,
        }
    }

    const CHANGELOG: &str = "# Changelog\n\n## [0.1.0] - 2026-11-25\n";

    fn problems(ws: &Metadata, exact: bool) -> String {
        check(ws, CHANGELOG, exact).unwrap_err()
    }

    #[test]
    fn a_clean_workspace_passes_in_dependency_order() {
        let ws = workspace(vec![
            package(
                "c",
                vec![dep("b", "^0.1.0", None), dep("d", "=0.1.0", Some("dev"))],
            ),
            package("b", vec![dep("a", "=0.1.0", None)]),
            package("a", vec![dep("serde", "^1", None)]),
            package("d", vec![dep("a", "^0.1", None)]),
        ]);
        let release = check(&ws, CHANGELOG, false).unwrap();
        assert_eq!(release.version, Version::new(0, 1, 0));
        assert_eq!(release.order, ["a", "b", "d", "c"]);
    }

    #[test]
    fn exact_pins_are_accepted_and_can_be_required() {
        let pinned = workspace(vec![
            package("b", vec![dep("a", "=0.1.0", None)]),
            package("a", vec![]),
        ]);
        assert!(check(&pinned, CHANGELOG, true).is_ok());
        let caret = workspace(vec![
            package("b", vec![dep("a", "^0.1.0", None)]),
            package("a", vec![]),
        ]);
        assert!(check(&caret, CHANGELOG, false).is_ok());
        let p = problems(&caret, true);
        assert!(
            p.contains("b: dependency on a is ^0.1.0; members are pinned exactly (`=0.1.0`)"),
            "{p}"
        );
        let loose = workspace(vec![
            package("b", vec![dep("a", "=0.1", None)]),
            package("a", vec![]),
        ]);
        assert!(problems(&loose, true).contains("pinned exactly"));
    }

    #[test]
    fn member_dependencies_need_a_version_that_matches() {
        let ws = workspace(vec![
            package(
                "b",
                vec![
                    dep("a", "*", None),
                    dep("c", "^0.2", None),
                    dep("d", "=0.1.1", Some("dev")),
                ],
            ),
            package("a", vec![]),
            package("c", vec![]),
            package("d", vec![]),
        ]);
        let p = problems(&ws, false);
        assert!(p.starts_with("3 release problem(s)"), "{p}");
        assert!(p.contains("b: dependency on a has no version"), "{p}");
        assert!(
            p.contains("b: dependency on c asks for ^0.2, but it is 0.1.0"),
            "{p}"
        );
        assert!(
            p.contains("b: dependency on d asks for =0.1.1, but it is 0.1.0"),
            "{p}"
        );
    }

    #[test]
    fn an_unpublished_member_may_be_a_path_only_dev_dependency_only() {
        let mut hidden = package("hidden", vec![]);
        hidden.publish = Some(vec![]);
        let ws = workspace(vec![
            package("a", vec![dep("hidden", "^0.1.0", None)]),
            package("b", vec![dep("hidden", "*", Some("dev"))]),
            package("c", vec![dep("hidden", "=0.1.0", Some("dev"))]),
            hidden,
        ]);
        let p = problems(&ws, true);
        assert!(p.starts_with("2 release problem(s)"), "{p}");
        assert!(
            p.contains("a: depends on hidden, which is not published"),
            "{p}"
        );
        assert!(
            p.contains("c: dev dependency on the unpublished hidden asks for =0.1.0"),
            "{p}"
        );
        // b alone (path-only) passes, even with exact pins required.
        let mut hidden = package("hidden", vec![]);
        hidden.publish = Some(vec![]);
        let ws = workspace(vec![
            package("b", vec![dep("hidden", "*", Some("dev"))]),
            hidden,
        ]);
        assert_eq!(check(&ws, CHANGELOG, true).unwrap().order, ["b"]);
    }

    #[test]
    fn crates_io_metadata_is_required() {
        let mut bad = package("bad", vec![]);
        bad.description = None;
        bad.license = Some(String::new());
        bad.repository = None;
        bad.keywords = vec!["1st".into(), "a b".into(), "x".repeat(21)];
        bad.categories = vec![];
        bad.readme = Some(PathBuf::from("NO-SUCH-README.md"));
        let mut many = package("many", vec![]);
        many.keywords = (0..6).map(|i| format!("k{i}")).collect();
        let mut none = package("none", vec![]);
        none.keywords = vec![];
        none.readme = None;
        let p = problems(&workspace(vec![bad, many, none]), false);
        for expected in [
            "bad: no `description`",
            "bad: no `license`",
            "bad: no `repository`",
            "bad: keyword \"1st\" is not valid",
            "bad: keyword \"a b\" is not valid",
            "bad: keyword \"xxxxxxxxxxxxxxxxxxxxx\" is not valid",
            "bad: no `categories`",
            "NO-SUCH-README.md does not exist",
            "many: 6 keywords (crates.io takes one to five)",
            "none: 0 keywords",
            "none: no `readme`",
        ] {
            assert!(p.contains(expected), "missing {expected:?} in:\n{p}");
        }
    }

    #[test]
    fn the_changelog_needs_a_section_for_the_version() {
        let ws = workspace(vec![package("a", vec![])]);
        let err = check(&ws, "# Changelog\n\n## [0.0.9]\n", false).unwrap_err();
        assert!(
            err.contains("CHANGELOG.md: no section starting with `## [0.1.0]`"),
            "{err}"
        );
    }

    #[test]
    fn publishable_crates_share_one_version() {
        let mut b = package("b", vec![]);
        b.version = Version::new(0, 2, 0);
        let err = check(&workspace(vec![package("a", vec![]), b]), CHANGELOG, false).unwrap_err();
        assert!(
            err.contains("do not share one version: a 0.1.0, b 0.2.0"),
            "{err}"
        );
    }

    #[test]
    fn a_dependency_cycle_is_reported() {
        let ws = workspace(vec![
            package("a", vec![dep("b", "^0.1.0", Some("dev"))]),
            package("b", vec![dep("a", "^0.1.0", None)]),
        ]);
        let err = check(&ws, CHANGELOG, false).unwrap_err();
        assert!(err.contains("dependency cycle among a, b"), "{err}");
    }

    fn registry_dep(name: &str, req: &str, kind: Option<&str>) -> Dependency {
        Dependency {
            path: None,
            ..dep(name, req, kind)
        }
    }

    #[test]
    fn external_pins_must_be_exact_and_used() {
        let pins = &[("ureq", "it uses ureq::unversioned")];
        let exact = workspace(vec![
            package("a", vec![registry_dep("ureq", "=3.5.1", None)]),
            package("t", vec![registry_dep("ureq", "=3.5.1", Some("dev"))]),
        ]);
        assert!(check_external_pins(&exact, pins).is_ok());
        for loose in ["^3.5.1", "^3.5", "=3.5", "~3.5.1", ">=3.5.1, <3.6"] {
            let ws = workspace(vec![
                package("a", vec![registry_dep("ureq", "=3.5.1", None)]),
                package("t", vec![registry_dep("ureq", loose, Some("dev"))]),
            ]);
            let err = check_external_pins(&ws, pins).unwrap_err();
            assert!(
                err.contains(&format!("t: dependency on ureq is {loose}; pin it exactly"))
                    && err.contains("it uses ureq::unversioned")
                    && !err.contains("a: dependency"),
                "{loose}: {err}"
            );
        }
        // A member of the same name, by path, is not the pinned crate.
        let stale = workspace(vec![package("a", vec![dep("ureq", "^3", None)])]);
        let err = check_external_pins(&stale, pins).unwrap_err();
        assert!(err.contains("no member depends on ureq any more"), "{err}");
    }

    /// The real workspace passes, in the order docs/architecture.md names.
    #[test]
    fn this_workspace_passes() {
        let ws = metadata().unwrap();
        check_external_pins(ws, EXACT_EXTERNAL_PINS).unwrap();
        let changelog = fs::read_to_string(ws.workspace_root.join("CHANGELOG.md")).unwrap();
        let release = check(ws, &changelog, REQUIRE_EXACT_INTERNAL_PINS).unwrap();
        assert_eq!(
            release.order,
            [
                "agentwrit-scope",
                "agentwrit-wire",
                "agentwrit-core",
                "agentwrit-devbroker",
                "agentwrit-async",
                "agentwrit-blocking",
                "agentwrit-usage",
                "agentwrit-tower",
                "agentwrit-cli"
            ]
        );
    }
}
