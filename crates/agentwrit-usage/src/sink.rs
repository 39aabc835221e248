//! Where records go: the [`Sink`] trait, the JSON Lines files and an
//! in-memory list.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::{UsageError, UsageRecord};

/// A destination for usage records. The recorder calls it on its own
/// writer thread, never on a request's path; every record goes to every
/// sink.
///
/// ```
/// use agentwrit_usage::{Sink, UsageError, UsageRecord};
///
/// /// Counts records (a real sink would send them somewhere).
/// struct Counting(usize);
///
/// impl Sink for Counting {
///     fn name(&self) -> &str { "counting" }
///     fn write(&mut self, records: &[UsageRecord]) -> Result<(), UsageError> {
///         self.0 += records.len();
///         Ok(())
///     }
/// }
/// let recorder = agentwrit_usage::Recorder::builder().sink(Counting(0)).build()?;
/// # recorder.shutdown()?;
/// # Ok::<(), UsageError>(())
/// ```
pub trait Sink: Send + 'static {
    /// A short name for errors (`jsonl`, `otlp`).
    fn name(&self) -> &str;

    /// Writes `records` (one batch, oldest first).
    ///
    /// # Errors
    ///
    /// The records could not be written; the recorder counts them as
    /// dropped and returns the error from the next [`Recorder::flush`](crate::Recorder::flush).
    fn write(&mut self, records: &[UsageRecord]) -> Result<(), UsageError>;

    /// Makes what was written durable or delivered (called by
    /// [`Recorder::flush`](crate::Recorder::flush) and after each sweep).
    ///
    /// # Errors
    ///
    /// As [`Sink::write`].
    fn flush(&mut self) -> Result<(), UsageError> {
        Ok(())
    }

    /// The last call: flush and release resources.
    ///
    /// # Errors
    ///
    /// As [`Sink::write`].
    fn shutdown(&mut self) -> Result<(), UsageError> {
        self.flush()
    }
}

/// Keeps every record in memory, for tests and for showing usage in the
/// process that records it (the demos' panel). Clones share one list.
///
/// ```
/// let sink = agentwrit_usage::MemorySink::new();
/// let recorder = agentwrit_usage::Recorder::builder().sink(sink.clone()).build()?;
/// recorder.flush()?;
/// assert!(sink.records().is_empty());
/// # Ok::<(), agentwrit_usage::UsageError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<UsageRecord>>>,
}

impl MemorySink {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every record written so far, oldest first.
    #[must_use]
    pub fn records(&self) -> Vec<UsageRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes every record written so far, leaving the list empty.
    #[must_use]
    pub fn take(&self) -> Vec<UsageRecord> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    fn write(&mut self, records: &[UsageRecord]) -> Result<(), UsageError> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(records);
        Ok(())
    }
}

/// Default for [`JsonlSink::max_file_bytes`]: a directory sink starts a new
/// file past this size.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Append-only JSON Lines: one [`UsageRecord`] per line.
///
/// [`JsonlSink::dir`] (the choice for several processes sharing a
/// directory) gives each process files of its own,
/// `agentwrit-usage-<pid>-<start time>-<n>.jsonl`, created with
/// `O_CREAT|O_EXCL` (a name never collides with another process's) and
/// rotated past [`JsonlSink::max_file_bytes`]. As nobody else writes to
/// them, lines never interleave whatever their length (records with many
/// scopes exceed `PIPE_BUF`, the size up to which the kernel promises
/// atomic pipe writes). Each batch of records is written with one
/// `write_all` of whole lines; a process killed in the middle of one
/// leaves at most a truncated last line, which `agentwrit usage report`
/// names (file and line) and skips.
///
/// [`JsonlSink::file`] appends to one named file with `O_APPEND`, one
/// `write` call per line. On a local Linux file system an `O_APPEND` write
/// is placed atomically at the end, but POSIX promises nothing for
/// regular files and network file systems do not honour it: share a
/// directory, not a file, between processes.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("usage-jsonl-doc-{}", std::process::id()));
/// let sink = agentwrit_usage::JsonlSink::dir(&dir)?;
/// assert!(sink.path().starts_with(&dir));
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), agentwrit_usage::UsageError>(())
/// ```
#[derive(Debug)]
pub struct JsonlSink {
    mode: Mode,
    file: File,
    path: PathBuf,
    written: u64,
    max_file_bytes: u64,
    dirty: bool,
    buf: Vec<u8>,
}

#[derive(Debug)]
enum Mode {
    /// Files of this process in a directory: stem and next number.
    Dir {
        dir: PathBuf,
        stem: String,
        next: u32,
    },
    /// One shared file.
    Shared,
}

impl JsonlSink {
    /// Files of this process in `dir` (created if missing).
    ///
    /// # Errors
    ///
    /// The directory or the first file cannot be created.
    pub fn dir(dir: impl AsRef<Path>) -> Result<Self, UsageError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| UsageError::io(format!("creating {}", dir.display()), e))?;
        let started = crate::time::format(std::time::SystemTime::now()).replace([':', '.'], "");
        let stem = format!("agentwrit-usage-{}-{started}", std::process::id());
        let mut mode = Mode::Dir { dir, stem, next: 0 };
        let (file, path) = open_next(&mut mode)?;
        Ok(JsonlSink {
            mode,
            file,
            path,
            written: 0,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            dirty: false,
            buf: Vec::new(),
        })
    }

    /// Appends to the one file `path` (created if missing); see the type's
    /// documentation before sharing it between processes.
    ///
    /// # Errors
    ///
    /// The file cannot be opened for appending.
    pub fn file(path: impl AsRef<Path>) -> Result<Self, UsageError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| UsageError::io(format!("opening {}", path.display()), e))?;
        Ok(JsonlSink {
            mode: Mode::Shared,
            file,
            path,
            written: 0,
            max_file_bytes: u64::MAX,
            dirty: false,
            buf: Vec::new(),
        })
    }

    /// A directory sink starts a new file once the current one holds more
    /// than `bytes` (default [`DEFAULT_MAX_FILE_BYTES`]); no effect on
    /// [`JsonlSink::file`].
    #[must_use]
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        if matches!(self.mode, Mode::Dir { .. }) {
            self.max_file_bytes = bytes.max(1);
        }
        self
    }

    /// The file written now.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates the next file of a directory sink (`O_CREAT|O_EXCL`, skipping
/// names that exist).
fn open_next(mode: &mut Mode) -> Result<(File, PathBuf), UsageError> {
    let Mode::Dir { dir, stem, next } = mode else {
        return Err(UsageError::Config("not a directory sink".into()));
    };
    loop {
        let path = dir.join(format!("{stem}-{next}.jsonl"));
        *next = next.saturating_add(1);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && *next < u32::MAX => {}
            Err(e) => return Err(UsageError::io(format!("creating {}", path.display()), e)),
        }
    }
}

impl Sink for JsonlSink {
    fn name(&self) -> &str {
        "jsonl"
    }

    fn write(&mut self, records: &[UsageRecord]) -> Result<(), UsageError> {
        if records.is_empty() {
            return Ok(());
        }
        if self.written >= self.max_file_bytes {
            let (file, path) = open_next(&mut self.mode)?;
            self.file.sync_data().ok();
            self.file = file;
            self.path = path;
            self.written = 0;
        }
        self.buf.clear();
        let shared = matches!(self.mode, Mode::Shared);
        for record in records {
            let start = self.buf.len();
            serde_json::to_writer(&mut self.buf, record)
                .map_err(|e| UsageError::sink("jsonl", e.to_string()))?;
            self.buf.push(b'\n');
            if shared {
                // One write per line: O_APPEND places each at the end.
                let line = self.buf[start..].to_vec();
                self.buf.truncate(start);
                (&self.file).write_all(&line).map_err(|e| {
                    UsageError::io(format!("appending to {}", self.path.display()), e)
                })?;
                self.written += line.len() as u64;
            }
        }
        if !shared {
            (&self.file)
                .write_all(&self.buf)
                .map_err(|e| UsageError::io(format!("writing {}", self.path.display()), e))?;
            self.written += self.buf.len() as u64;
        }
        self.dirty = true;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), UsageError> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(|e| UsageError::io(format!("syncing {}", self.path.display()), e))?;
            self.dirty = false;
        }
        Ok(())
    }
}
