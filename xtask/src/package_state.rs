//! What an earlier `cargo package` left behind that would make the next
//! dry run check old code (used by `cargo xtask release --dry-run`).

use std::fs;
use std::path::Path;

use semver::Version;

/// Forgets what an earlier `cargo package` verified, so this one checks
/// the code as it is now.
///
/// `cargo package` verifies a crate against the just-packaged versions of
/// its workspace dependencies, served from a local registry. Cargo treats a
/// registry crate as immutable: it extracts it into
/// `$CARGO_HOME/registry/src/-<hash>/` once, and its compiled artifacts
/// stay fresh as long as name and version match. A second dry run at the
/// same version, after the code changed, would build the dependents
/// against the first run's sources and artifacts (and fail, or pass
/// wrongly). So, before packaging: the extracted sources of `crates` at
/// `version` in local registries (directories named `-<hash>`; never a
/// download from crates.io) go, and so do the builds of our crates in the
/// verification's own target directory `verify_dir` (every one of them
/// there is a packaged copy; the other crates' builds stay). On a fresh
/// machine there is nothing to remove.
pub fn forget_earlier_dry_runs(
    version: &Version,
    crates: &[String],
    verify_dir: &Path,
) -> Result<(), String> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    if let Some(Ok(registries)) = home.map(|h| fs::read_dir(h.join("registry").join("src"))) {
        for registry in registries.flatten() {
            if !registry.file_name().to_string_lossy().starts_with('-') {
                continue;
            }
            for name in crates {
                let dir = registry.path().join(format!("{name}-{version}"));
                if dir.is_dir() {
                    fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    eprintln!("removed {} (an earlier dry run's sources)", dir.display());
                }
            }
        }
    }
    let fingerprints = verify_dir.join("debug").join(".fingerprint");
    let Ok(units) = fs::read_dir(&fingerprints) else {
        return Ok(());
    };
    let mut removed = 0;
    for unit in units.flatten() {
        let name = unit.file_name().to_string_lossy().into_owned();
        if crates.iter().any(|c| name.starts_with(&format!("{c}-"))) {
            fs::remove_dir_all(unit.path()).map_err(|e| format!("{name}: {e}"))?;
            removed += 1;
        }
    }
    if removed > 0 {
        eprintln!("forgot {removed} build(s) of an earlier dry run's packaged crates");
    }
    Ok(())
}
