//! Token files that are safe in any directory, a shared one included.
//!
//! Each write creates a new file under a random name beside the target,
//! with `O_CREAT | O_EXCL | O_NOFOLLOW` and mode 0600 (so nothing planted
//! under that name is opened, and nobody else can read it), writes and
//! syncs the token, then renames it over the target. `rename` replaces
//! whatever is at the target — a symbolic link, another user's file, a
//! world-readable copy — without following it, and a reader sees the old
//! token or the new one, never a mix.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::{Mode, OFlags};

/// The token files of a run, shared by the supervisor (first tokens) and
/// the renewal tasks (renewed ones). [`TokenFiles::close`] removes them
/// all, once, and from then on nothing is written: a renewal that
/// finishes while the run ends cannot bring a file back.
#[derive(Clone, Default)]
pub struct TokenFiles(Arc<Mutex<FilesState>>);

#[derive(Default)]
struct FilesState {
    /// Every path written to (or attempted), to remove at the end.
    paths: Vec<PathBuf>,
    closed: bool,
}

impl TokenFiles {
    /// Writes `token` to `path` (see [`write`](fn@write)) and remembers the path
    /// for [`TokenFiles::close`]; `Ok(false)`, writing nothing, once
    /// closed.
    pub fn write(&self, path: &Path, token: &str) -> std::io::Result<bool> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if state.closed {
            return Ok(false);
        }
        // Remembered before the write: whatever is at the path when the
        // run ends (a planted file the write could not replace) goes.
        if !state.paths.iter().any(|p| p == path) {
            state.paths.push(path.to_path_buf());
        }
        write(path, token)?;
        Ok(true)
    }

    /// Removes every file written, and refuses every later write.
    pub fn close(&self) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.closed = true;
        for path in state.paths.drain(..) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `token` to `path` as described in the module docs.
pub fn write(path: &Path, token: &str) -> std::io::Result<()> {
    let tmp = temporary_name(path)?;
    let fd = rustix::fs::open(
        &tmp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::RUSR | Mode::WUSR,
    )?;
    let mut file = std::fs::File::from(fd);
    let written = file
        .write_all(token.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself survives a crash once the directory is synced.
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// `.NAME.agentwrit-<16 random hex>.tmp` in the target's directory.
fn temporary_name(path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the token file's path has no file name",
        )
    })?;
    let mut random = [0u8; 8];
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut random)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".agentwrit-{}.tmp", hex::encode(random)));
    Ok(path.with_file_name(tmp))
}

/// Creates `dir` (mode 0700) unless it exists; true when it was created.
pub fn ensure_dir(dir: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::DirBuilderExt as _;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("agentwrit-tokenfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let dir = scratch("symlink");
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let target = dir.join("token");
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write(&target, "tok").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "tok");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_world_readable_file_is_replaced_by_a_private_one() {
        let dir = scratch("mode");
        let target = dir.join("token");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let before = std::fs::metadata(&target).unwrap().ino();
        write(&target, "new").unwrap();
        let meta = std::fs::metadata(&target).unwrap();
        assert_ne!(meta.ino(), before, "a new file, not the old one rewritten");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_is_written_once_the_files_are_closed() {
        let dir = scratch("closed");
        let target = dir.join("token");
        let files = TokenFiles::default();
        assert!(files.write(&target, "first").unwrap());
        let renewal = files.clone();
        files.close();
        assert!(!target.exists(), "closing removes the file");
        assert!(!renewal.write(&target, "renewed").unwrap());
        assert!(!target.exists(), "a late write brought the file back");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporary_names_are_random() {
        let a = temporary_name(Path::new("/x/token")).unwrap();
        let b = temporary_name(Path::new("/x/token")).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("/x"));
        assert!(temporary_name(Path::new("/")).is_err());
    }
}
