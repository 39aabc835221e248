//! `cargo xtask release`: the checks a release must pass, and a dry run of
//! the packaging. It never publishes.
//!
//! For every publishable member (`publish` is not `false`) it checks the
//! `[package]` metadata crates.io shows or needs (version equal to the
//! workspace version, description, license, repository, one to five valid
//! keywords, categories, a readme file that exists), that `CHANGELOG.md`
//! has a section for the version, and that every dependency on another
//! member carries a version matching that member's. It then works out the
//! publish order from the dependency graph and, with `--dry-run`, runs
//! `cargo package` for those crates (cargo packages interdependent
//! unpublished crates against a local overlay registry, so this works
//! before anything is on crates.io).
//!
//! Manifests are read with a small line-based TOML reader that covers the
//! forms this workspace uses (`key = value`, `key.workspace = true`, inline
//! tables, multi-line arrays); the standard library is all xtask needs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::util::{cargo, flag, root, run};

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

    let workspace = Workspace::load(&root())?;
    let order = check(&workspace)?;

    if dry_run {
        let mut cmd = cargo();
        cmd.arg("package");
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
        for name in &order {
            let file = root()
                .join("target/package")
                .join(format!("{name}-{}.crate", workspace.version));
            let size = fs::metadata(&file)
                .map(|m| m.len())
                .map_err(|e| format!("{} was not produced: {e}", file.display()))?;
            eprintln!(
                "  {name}-{}.crate  {:.1} KiB",
                workspace.version,
                size as f64 / 1024.0
            );
        }
    }

    eprintln!(
        "\nto publish {} (a maintainer, by hand, in this order):",
        workspace.version
    );
    for name in &order {
        eprintln!("  cargo publish -p {name}");
    }
    Ok(())
}

// ------------------------------------------------------------------ checks --

/// Checks every member; returns the publishable crates in publish order.
fn check(ws: &Workspace) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let changelog = fs::read_to_string(ws.root.join("CHANGELOG.md")).unwrap_or_default();
    let heading = format!("## [{}]", ws.version);
    if !changelog.lines().any(|l| l.starts_with(&heading)) {
        problems.push(format!(
            "CHANGELOG.md: no section starting with `{heading}`"
        ));
    }

    let publishable: BTreeSet<&str> = ws
        .members
        .iter()
        .filter(|m| m.publish)
        .map(|m| m.name.as_str())
        .collect();

    for member in &ws.members {
        // Every dependency on another member needs a matching version
        // (cargo drops path-only dev-dependencies when packaging, but a
        // normal or build dependency without one cannot be published).
        for dep in &member.deps {
            let Some(target) = ws.members.iter().find(|m| m.name == dep.name) else {
                continue;
            };
            if !member.publish {
                continue;
            }
            match &dep.version {
                None => problems.push(format!(
                    "{}: dependency on {} has a path but no version",
                    member.name, dep.name
                )),
                Some(req) if !version_matches(req, &target.version) => problems.push(format!(
                    "{}: dependency on {} asks for {req:?}, but it is {}",
                    member.name, dep.name, target.version
                )),
                Some(_) => {}
            }
            if !dep.dev && !target.publish {
                problems.push(format!(
                    "{}: depends on {}, which is not published",
                    member.name, dep.name
                ));
            }
        }
        if !member.publish {
            continue;
        }
        let name = &member.name;
        if member.version != ws.version {
            problems.push(format!(
                "{name}: version {} is not the workspace version {}",
                member.version, ws.version
            ));
        }
        for (key, value) in [
            ("description", &member.description),
            ("license", &member.license),
            ("repository", &member.repository),
        ] {
            if value.as_deref().is_none_or(str::is_empty) {
                problems.push(format!("{name}: no `{key}`"));
            }
        }
        if member.keywords.is_empty() || member.keywords.len() > 5 {
            problems.push(format!(
                "{name}: {} keywords (crates.io takes one to five)",
                member.keywords.len()
            ));
        }
        for keyword in &member.keywords {
            let valid = keyword.len() <= 20
                && keyword.starts_with(|c: char| c.is_ascii_alphabetic())
                && keyword
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                problems.push(format!(
                    "{name}: keyword {keyword:?} is not valid on crates.io"
                ));
            }
        }
        if member.categories.is_empty() {
            problems.push(format!("{name}: no `categories`"));
        }
        match &member.readme {
            None => problems.push(format!("{name}: no `readme`")),
            Some(path) if !path.is_file() => {
                problems.push(format!("{name}: readme {} does not exist", path.display()))
            }
            Some(_) => {}
        }
    }

    let order = publish_order(ws, &publishable)?;
    if problems.is_empty() {
        for name in &order {
            eprintln!(
                "ok  {name} {}: metadata, readme, changelog, member versions",
                ws.version
            );
        }
        Ok(order)
    } else {
        Err(format!(
            "{} release problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

/// The publishable crates, each after every member it depends on (dev
/// dependencies included: a published manifest keeps versioned ones).
/// Ties are broken by name, so the order is stable.
fn publish_order(ws: &Workspace, publishable: &BTreeSet<&str>) -> Result<Vec<String>, String> {
    let mut pending: BTreeMap<&str, BTreeSet<&str>> = ws
        .members
        .iter()
        .filter(|m| m.publish)
        .map(|m| {
            let deps = m
                .deps
                .iter()
                .map(|d| d.name.as_str())
                .filter(|d| publishable.contains(d) && *d != m.name)
                .collect();
            (m.name.as_str(), deps)
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

/// True when the requirement `req` (`0.1.0`, `0.1`, `^0.1.0`, `=0.1.0`,
/// `~0.1`) accepts `version` (`MAJOR.MINOR.PATCH`, no pre-release).
fn version_matches(req: &str, version: &str) -> bool {
    let parse =
        |s: &str| -> Option<Vec<u64>> { s.split('.').map(|p| p.trim().parse().ok()).collect() };
    let req = req.trim();
    let (op, req) = match req.chars().next() {
        Some(c @ ('^' | '=' | '~')) => (c, req[1..].trim()),
        _ => ('^', req),
    };
    let (Some(want), Some(have)) = (parse(req), parse(version)) else {
        return false;
    };
    if want.is_empty() || want.len() > 3 || have.len() != 3 {
        return false;
    }
    let padded: Vec<u64> = (0..3).map(|i| want.get(i).copied().unwrap_or(0)).collect();
    if have < padded {
        return false;
    }
    // How many leading components must be equal.
    let fixed = match op {
        '=' => want.len(),
        '~' => want.len().min(2),
        _ => {
            // Caret: up to and including the first non-zero component.
            let first_nonzero = want.iter().position(|&v| v != 0);
            match first_nonzero {
                Some(i) => i + 1,
                None => want.len(),
            }
        }
    };
    have[..fixed] == want[..fixed]
}

// --------------------------------------------------------------- manifests --

/// The workspace: its version and every member.
struct Workspace {
    root: PathBuf,
    version: String,
    members: Vec<Member>,
}

/// One member crate, with workspace inheritance resolved.
struct Member {
    name: String,
    version: String,
    publish: bool,
    description: Option<String>,
    license: Option<String>,
    repository: Option<String>,
    keywords: Vec<String>,
    categories: Vec<String>,
    readme: Option<PathBuf>,
    deps: Vec<Dep>,
}

/// A dependency of a member on some crate.
struct Dep {
    name: String,
    version: Option<String>,
    dev: bool,
}

impl Workspace {
    fn load(root: &Path) -> Result<Workspace, String> {
        let manifest = Toml::read(&root.join("Cargo.toml"))?;
        let ws_package = manifest.table("workspace.package");
        let version = ws_package
            .and_then(|t| t.string("version"))
            .ok_or("Cargo.toml: no [workspace.package] version")?;
        let ws_deps = manifest.table("workspace.dependencies");
        let mut dirs = Vec::new();
        let members = manifest
            .table("workspace")
            .and_then(|t| t.strings("members"))
            .ok_or("Cargo.toml: no [workspace] members")?;
        for pattern in members {
            if let Some(parent) = pattern.strip_suffix("/*") {
                let dir = root.join(parent);
                let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let mut found: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.join("Cargo.toml").is_file())
                    .collect();
                found.sort();
                dirs.extend(found);
            } else {
                dirs.push(root.join(pattern));
            }
        }
        let mut out = Vec::new();
        for dir in dirs {
            let toml = Toml::read(&dir.join("Cargo.toml"))?;
            out.push(Member::from_manifest(
                &dir, root, &toml, ws_package, ws_deps,
            )?);
        }
        Ok(Workspace {
            root: root.to_path_buf(),
            version,
            members: out,
        })
    }
}

impl Member {
    fn from_manifest(
        dir: &Path,
        root: &Path,
        toml: &Toml,
        ws_package: Option<&Table>,
        ws_deps: Option<&Table>,
    ) -> Result<Member, String> {
        let where_ = dir.join("Cargo.toml").display().to_string();
        let package = toml
            .table("package")
            .ok_or_else(|| format!("{where_}: no [package]"))?;
        let inherited =
            |key: &str| -> bool { package.raw(&format!("{key}.workspace")) == Some("true") };
        let string = |key: &str| -> Option<String> {
            if inherited(key) {
                ws_package.and_then(|t| t.string(key))
            } else {
                package.string(key)
            }
        };
        let strings = |key: &str| -> Vec<String> {
            if inherited(key) {
                ws_package.and_then(|t| t.strings(key)).unwrap_or_default()
            } else {
                package.strings(key).unwrap_or_default()
            }
        };
        let name = package
            .string("name")
            .ok_or_else(|| format!("{where_}: no package name"))?;
        let readme = if inherited("readme") {
            ws_package
                .and_then(|t| t.string("readme"))
                .map(|r| root.join(r))
        } else {
            package.string("readme").map(|r| dir.join(r))
        };
        let mut deps = Vec::new();
        for table in &toml.tables {
            let kind = table.name.rsplit('.').next().unwrap_or_default();
            if !matches!(
                kind,
                "dependencies" | "dev-dependencies" | "build-dependencies"
            ) {
                continue;
            }
            let dev = kind == "dev-dependencies";
            for (key, value) in &table.entries {
                let (dep, spec) = match key.strip_suffix(".workspace") {
                    Some(dep) if value == "true" => (dep, ws_deps.and_then(|t| t.raw(dep))),
                    _ if key.contains('.') => continue,
                    _ => {
                        let from_ws =
                            inline(value).get("workspace").map(String::as_str) == Some("true");
                        if from_ws {
                            (key.as_str(), ws_deps.and_then(|t| t.raw(key)))
                        } else {
                            (key.as_str(), Some(value.as_str()))
                        }
                    }
                };
                let version = spec.and_then(|s| {
                    if s.starts_with('"') {
                        Some(unquote(s))
                    } else {
                        inline(s).get("version").map(|v| unquote(v))
                    }
                });
                deps.push(Dep {
                    name: dep.to_owned(),
                    version,
                    dev,
                });
            }
        }
        Ok(Member {
            version: string("version").unwrap_or_default(),
            publish: package.raw("publish") != Some("false"),
            description: string("description"),
            license: string("license"),
            repository: string("repository"),
            keywords: strings("keywords"),
            categories: strings("categories"),
            readme,
            deps,
            name,
        })
    }
}

/// A TOML file as tables of raw `key = value` entries.
struct Toml {
    tables: Vec<Table>,
}

/// One `[table]` (the top level is the table named "").
struct Table {
    name: String,
    entries: Vec<(String, String)>,
}

impl Toml {
    fn read(path: &Path) -> Result<Toml, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Toml::parse(&text))
    }

    fn parse(text: &str) -> Toml {
        let mut tables = vec![Table {
            name: String::new(),
            entries: Vec::new(),
        }];
        let mut pending: Option<(String, String)> = None;
        for line in text.lines() {
            let line = strip_comment(line).trim();
            if let Some((key, value)) = pending.as_mut() {
                value.push(' ');
                value.push_str(line);
                if balanced(value) {
                    let entry = (std::mem::take(key), std::mem::take(value));
                    if let Some(table) = tables.last_mut() {
                        table.entries.push(entry);
                    }
                    pending = None;
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            if line.starts_with('[') {
                let name = line.trim_matches(|c| c == '[' || c == ']').trim();
                tables.push(Table {
                    name: name.to_owned(),
                    entries: Vec::new(),
                });
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key: String = key.split('.').map(str::trim).collect::<Vec<_>>().join(".");
            let value = value.trim().to_owned();
            if balanced(&value) {
                if let Some(table) = tables.last_mut() {
                    table.entries.push((key, value));
                }
            } else {
                pending = Some((key, value));
            }
        }
        Toml { tables }
    }

    fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}

impl Table {
    fn raw(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn string(&self, key: &str) -> Option<String> {
        self.raw(key).filter(|v| v.starts_with('"')).map(unquote)
    }

    fn strings(&self, key: &str) -> Option<Vec<String>> {
        let value = self.raw(key)?.trim();
        let inner = value.strip_prefix('[')?.strip_suffix(']')?;
        Some(
            split_top_level(inner)
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(unquote)
                .collect(),
        )
    }
}

/// The line without a `#` comment (a `#` inside a string stays).
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}

/// True when every `[` and `{` outside strings is closed.
fn balanced(value: &str) -> bool {
    let mut depth = 0i32;
    let mut in_string = false;
    for c in value.chars() {
        match c {
            '"' => in_string = !in_string,
            '[' | '{' if !in_string => depth += 1,
            ']' | '}' if !in_string => depth -= 1,
            _ => {}
        }
    }
    depth <= 0
}

/// Splits on commas that are outside strings, arrays and tables.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut in_string, mut start) = (0i32, false, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '[' | '{' if !in_string => depth += 1,
            ']' | '}' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(text[start..].trim());
    parts
}

/// The entries of an inline table `{ a = "x", b = true }` (empty for
/// anything else).
fn inline(value: &str) -> BTreeMap<String, String> {
    let Some(inner) = value
        .trim()
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
    else {
        return BTreeMap::new();
    };
    split_top_level(inner)
        .into_iter()
        .filter_map(|part| {
            let (k, v) = part.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// A basic TOML string's content (no escapes are used in our manifests).
fn unquote(value: &str) -> String {
    value.trim().trim_matches('"').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(version_matches("0.1.0", "0.1.0"));
        assert!(version_matches("0.1", "0.1.3"));
        assert!(version_matches("^0.1.0", "0.1.9"));
        assert!(!version_matches("0.1.0", "0.2.0"));
        assert!(!version_matches("0.2", "0.1.0"));
        assert!(!version_matches("=0.1.0", "0.1.1"));
        assert!(version_matches("1", "1.4.0"));
        assert!(!version_matches("1.5", "1.4.0"));
        assert!(!version_matches("x", "0.1.0"));
    }

    #[test]
    fn manifest() {
        let toml = Toml::parse(
            "[package]\nname = \"a\" # a comment\nversion.workspace = true\nkeywords = [\n  \"x\", \"y#z\",\n]\n\
             [dependencies]\nb.workspace = true\nc = { path = \"../c\", version = \"0.1.0\" }\nd = \"1\"\n",
        );
        let package = toml.table("package").unwrap();
        assert_eq!(package.string("name").as_deref(), Some("a"));
        assert_eq!(package.raw("version.workspace"), Some("true"));
        assert_eq!(package.strings("keywords").unwrap(), ["x", "y#z"]);
        let deps = toml.table("dependencies").unwrap();
        assert_eq!(deps.raw("b.workspace"), Some("true"));
        assert_eq!(inline(deps.raw("c").unwrap())["version"], "\"0.1.0\"");
    }
}
