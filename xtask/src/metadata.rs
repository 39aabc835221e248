//! The workspace as cargo sees it: `cargo metadata --format-version 1
//! --no-deps`, asked once per xtask run and cached.
//!
//! Every command that needs a build output, a virtualenv or a manifest
//! field reads it from here, so `CARGO_TARGET_DIR`, `build.target-dir` in
//! a cargo config, workspace inheritance and the rest are resolved by
//! cargo itself, never re-implemented.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::util::cargo;

/// The fields of `cargo metadata` that xtask uses.
#[derive(Debug, Deserialize)]
pub struct Metadata {
    /// Where cargo puts build outputs (honours `CARGO_TARGET_DIR`).
    pub target_directory: PathBuf,
    /// The directory of the root `Cargo.toml`.
    pub workspace_root: PathBuf,
    /// Every workspace member (`--no-deps`: members only).
    pub packages: Vec<Package>,
}

/// One workspace member, with workspace inheritance already resolved.
#[derive(Debug, Deserialize)]
pub struct Package {
    /// The package name.
    pub name: String,
    /// The package version.
    pub version: semver::Version,
    /// `None`: any registry; `Some([])`: `publish = false`.
    pub publish: Option<Vec<String>>,
    /// `description`.
    pub description: Option<String>,
    /// `license` (an SPDX expression).
    pub license: Option<String>,
    /// `repository`.
    pub repository: Option<String>,
    /// `keywords`.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// `categories`.
    #[serde(default)]
    pub categories: Vec<String>,
    /// `readme`, relative to the package's directory.
    pub readme: Option<PathBuf>,
    /// The package's `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// Every dependency of every kind, in every target table.
    pub dependencies: Vec<Dependency>,
    /// The package's targets (library, binaries, tests, ...).
    #[serde(default)]
    pub targets: Vec<Target>,
}

/// One target of a package.
#[derive(Debug, Deserialize)]
pub struct Target {
    /// The target's name (`agentwrit-devbroker`, `cost`, ...).
    pub name: String,
    /// `lib`, `bin`, `test`, `example`, `bench`, `proc-macro`, ...
    #[serde(default)]
    pub kind: Vec<String>,
}

/// One dependency declaration.
#[derive(Debug, Deserialize)]
pub struct Dependency {
    /// The package depended on (not its rename).
    pub name: String,
    /// The version requirement as cargo normalised it (`^0.1.0`,
    /// `=0.1.0`; `*` when none was written).
    pub req: String,
    /// `None` (normal), `"dev"` or `"build"`.
    pub kind: Option<String>,
    /// Set for path dependencies.
    pub path: Option<PathBuf>,
}

impl Package {
    /// The directories `cargo doc` writes this package's pages to: one per
    /// library or binary, named as rustdoc names crates (`-` as `_`).
    pub fn doc_dirs(&self) -> impl Iterator<Item = String> + '_ {
        self.targets
            .iter()
            .filter(|t| {
                t.kind
                    .iter()
                    .any(|k| matches!(k.as_str(), "lib" | "rlib" | "proc-macro" | "bin"))
            })
            .map(|t| t.name.replace('-', "_"))
    }

    /// False for `publish = false` (an empty registry list).
    pub fn publishable(&self) -> bool {
        self.publish
            .as_ref()
            .is_none_or(|registries| !registries.is_empty())
    }
}

impl Dependency {
    /// True for a dev-dependency.
    pub fn is_dev(&self) -> bool {
        self.kind.as_deref() == Some("dev")
    }
}

/// The workspace's metadata, read on first use.
pub fn metadata() -> Result<&'static Metadata, String> {
    static CACHE: OnceLock<Result<Metadata, String>> = OnceLock::new();
    CACHE.get_or_init(read).as_ref().map_err(Clone::clone)
}

/// Where cargo puts build outputs for this workspace: `CARGO_TARGET_DIR`
/// (made absolute by cargo), a configured `build.target-dir`, or
/// `<root>/target`.
pub fn target_dir() -> Result<PathBuf, String> {
    Ok(metadata()?.target_directory.clone())
}

fn read() -> Result<Metadata, String> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("could not run `cargo metadata`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo metadata` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse(&output.stdout)
}

fn parse(json: &[u8]) -> Result<Metadata, String> {
    serde_json::from_slice(json).map_err(|e| format!("reading `cargo metadata` output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_xtask_uses_from_cargo_metadata_output() {
        let json = br#"{
            "packages": [{
                "name": "a", "version": "0.1.0", "publish": [],
                "description": null, "license": "MIT", "repository": null,
                "keywords": ["x"], "categories": [], "readme": "README.md",
                "manifest_path": "/w/a/Cargo.toml", "id": "ignored",
                "dependencies": [
                    {"name": "b", "req": "=0.1.0", "kind": null, "path": "/w/b"},
                    {"name": "c", "req": "^1", "kind": "dev"}
                ]
            }],
            "target_directory": "/elsewhere/target",
            "workspace_root": "/w",
            "version": 1
        }"#;
        let m = parse(json).unwrap();
        assert_eq!(m.target_directory, PathBuf::from("/elsewhere/target"));
        let a = &m.packages[0];
        assert!(!a.publishable());
        assert_eq!(a.version, semver::Version::new(0, 1, 0));
        assert_eq!(a.dependencies[0].req, "=0.1.0");
        assert!(!a.dependencies[0].is_dev());
        assert!(a.dependencies[1].is_dev());
        assert!(a.dependencies[1].path.is_none());
    }

    /// The real workspace: this very test binary was built under the
    /// directory `target_dir` reports (wherever `CARGO_TARGET_DIR` or a
    /// cargo config put it).
    #[test]
    fn the_target_directory_is_the_one_cargo_builds_into() {
        let dir = target_dir().unwrap();
        assert!(dir.is_absolute(), "{}", dir.display());
        let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
        let dir = dir.canonicalize().unwrap();
        assert!(
            exe.starts_with(&dir),
            "{} is not under {}",
            exe.display(),
            dir.display()
        );
    }
}
