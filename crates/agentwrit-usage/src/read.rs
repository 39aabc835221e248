//! Reading records back: JSON Lines files, directories of them, and the
//! OTLP JSON a collector's file exporter writes. A line that cannot be
//! read is reported with its file and line number and skipped; the rest
//! is still read.

use std::fmt;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{UsageError, UsageRecord};

/// The OTLP log record event name and the attribute prefix the OTLP sink
/// writes; also what the reader looks for in an OTLP export.
pub const OTLP_EVENT_NAME: &str = "agentwrit.scope_usage";

/// One line (or file) that could not be read.
///
/// ```
/// let mut reader = agentwrit_usage::Reader::new();
/// let mut seen = 0;
/// reader.read_str("inline.jsonl", "{\"schema\":\"agentwrit.usage/v1\"\nnot json\n", |_| seen += 1);
/// assert_eq!(seen, 0);
/// assert_eq!(reader.errors().len(), 2);
/// assert!(reader.errors()[1].to_string().starts_with("inline.jsonl:2: "));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReadError {
    /// The file.
    pub file: String,
    /// The line (1-based); 0 for the file as a whole.
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// Reads usage records from files and directories, remembering what it
/// could not read.
///
/// ```no_run
/// let mut reader = agentwrit_usage::Reader::new();
/// let mut records = Vec::new();
/// reader.read_path("/var/log/agentwrit-usage", |r| records.push(r))?;
/// for error in reader.errors() {
///     eprintln!("skipped: {error}");
/// }
/// # Ok::<(), agentwrit_usage::UsageError>(())
/// ```
#[derive(Debug, Default)]
pub struct Reader {
    errors: Vec<ReadError>,
    files: u64,
    records: u64,
}

/// At most this many read errors are kept (the rest are counted).
const MAX_ERRORS: usize = 1000;

impl Reader {
    /// A reader with nothing read yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// What could not be read so far (at most 1000 kept).
    #[must_use]
    pub fn errors(&self) -> &[ReadError] {
        &self.errors
    }

    /// Files read so far.
    #[must_use]
    pub fn files(&self) -> u64 {
        self.files
    }

    /// Records read so far.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.records
    }

    fn error(&mut self, file: &str, line: u64, message: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(ReadError {
                file: file.to_owned(),
                line,
                message: message.into(),
            });
        }
    }

    /// Reads `path`: a file, or a directory whose `*.jsonl` and `*.json`
    /// files (recursively, in name order) are read. Each record is handed
    /// to `each`.
    ///
    /// # Errors
    ///
    /// `path` does not exist or cannot be listed; unreadable files and
    /// lines inside it are [`Reader::errors`] instead.
    pub fn read_path(
        &mut self,
        path: impl AsRef<Path>,
        mut each: impl FnMut(UsageRecord),
    ) -> Result<(), UsageError> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path)
            .map_err(|e| UsageError::io(format!("reading {}", path.display()), e))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_files(path, &mut files)?;
            for file in files {
                self.read_file(&file, &mut each);
            }
        } else {
            self.read_file(path, &mut each);
        }
        Ok(())
    }

    fn read_file(&mut self, path: &Path, each: &mut impl FnMut(UsageRecord)) {
        let name = path.display().to_string();
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) => {
                self.error(&name, 0, format!("cannot open: {e}"));
                return;
            }
        };
        self.files += 1;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        if path.extension().is_some_and(|e| e == "json") {
            // A `.json` file may be one (pretty-printed) OTLP export.
            let mut text = String::new();
            if let Err(e) = reader.read_to_string(&mut text) {
                self.error(&name, 0, format!("cannot read: {e}"));
                return;
            }
            self.read_text(&name, &text, each);
            return;
        }
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            number += 1;
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {
                    let complete = line.ends_with(b"\n");
                    match std::str::from_utf8(&line) {
                        Ok(text) => self.read_line(&name, number, text, complete, each),
                        // One bad line; the next ones are still read.
                        Err(_) => self.error(&name, number, "not UTF-8 text"),
                    }
                }
                Err(e) => {
                    self.error(&name, number, format!("cannot read: {e}"));
                    break;
                }
            }
        }
    }

    /// Reads records from `text` as if it were the file `name` (a name
    /// ending in `.json` may hold one pretty-printed OTLP export).
    pub fn read_str(&mut self, name: &str, text: &str, mut each: impl FnMut(UsageRecord)) {
        self.files += 1;
        self.read_text(name, text, &mut each);
    }

    fn read_text(&mut self, name: &str, text: &str, each: &mut impl FnMut(UsageRecord)) {
        if name.ends_with(".json")
            && let Ok(export) = serde_json::from_str::<OtlpExport>(text)
        {
            self.read_export(name, 1, export, each);
            return;
        }
        self.read_lines_str(name, text, each);
    }

    fn read_lines_str(&mut self, name: &str, text: &str, each: &mut impl FnMut(UsageRecord)) {
        let mut rest = text;
        let mut number = 0;
        while !rest.is_empty() {
            number += 1;
            let (line, complete, next) = match rest.find('\n') {
                Some(i) => (&rest[..=i], true, &rest[i + 1..]),
                None => (rest, false, ""),
            };
            self.read_line(name, number, line, complete, each);
            rest = next;
        }
    }

    fn read_line(
        &mut self,
        name: &str,
        number: u64,
        line: &str,
        complete: bool,
        each: &mut impl FnMut(UsageRecord),
    ) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        if trimmed.contains("\"resourceLogs\"") {
            match serde_json::from_str::<OtlpExport>(trimmed) {
                Ok(export) => self.read_export(name, number, export, each),
                Err(e) => self.error(name, number, describe(&e, complete)),
            }
            return;
        }
        match parse_record(trimmed) {
            Ok(record) => {
                self.records += 1;
                each(record);
            }
            Err(e) => self.error(name, number, describe_record(e, complete)),
        }
    }

    fn read_export(
        &mut self,
        name: &str,
        number: u64,
        export: OtlpExport,
        each: &mut impl FnMut(UsageRecord),
    ) {
        for resource in export.resource_logs {
            for scope in resource.scope_logs {
                for log in scope.log_records {
                    let ours = log.event_name.as_deref() == Some(OTLP_EVENT_NAME)
                        || log.attributes.iter().any(|a| {
                            a.key == "event.name"
                                && a.value.string_value.as_deref() == Some(OTLP_EVENT_NAME)
                        });
                    let Some(body) = log.body.and_then(|b| b.string_value) else {
                        continue;
                    };
                    if !ours && !body.contains("\"agentwrit.usage/") {
                        continue;
                    }
                    match parse_record(&body) {
                        Ok(record) => {
                            self.records += 1;
                            each(record);
                        }
                        Err(e) => self.error(
                            name,
                            number,
                            format!("an OTLP log record's body: {}", describe_record(e, true)),
                        ),
                    }
                }
            }
        }
    }
}

enum RecordError {
    Json(serde_json::Error),
    Schema(String),
}

fn parse_record(text: &str) -> Result<UsageRecord, RecordError> {
    #[derive(Deserialize)]
    struct SchemaOnly {
        schema: Option<String>,
    }
    let record: UsageRecord = serde_json::from_str(text).map_err(|e| {
        // A JSON object of another schema says so rather than which field
        // it lacks.
        match serde_json::from_str::<SchemaOnly>(text) {
            Ok(SchemaOnly {
                schema: Some(schema),
            }) if !schema.starts_with("agentwrit.usage/") => RecordError::Schema(schema),
            _ => RecordError::Json(e),
        }
    })?;
    if !record.schema.starts_with("agentwrit.usage/") {
        return Err(RecordError::Schema(record.schema));
    }
    Ok(record)
}

fn describe(e: &serde_json::Error, complete: bool) -> String {
    if e.is_eof() && !complete {
        format!("truncated (the line ends before its JSON does: {e})")
    } else if e.is_eof() {
        format!("incomplete JSON: {e}")
    } else {
        format!("not a usage record: {e}")
    }
}

fn describe_record(e: RecordError, complete: bool) -> String {
    match e {
        RecordError::Json(e) => describe(&e, complete),
        RecordError::Schema(schema) => {
            format!("unknown schema {schema:?} (this reader knows agentwrit.usage/v1)")
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), UsageError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| UsageError::io(format!("listing {}", dir.display()), e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e == "jsonl" || e == "json")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The parts of an OTLP/JSON `ExportLogsServiceRequest` the reader needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OtlpExport {
    #[serde(default)]
    resource_logs: Vec<ResourceLogs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceLogs {
    #[serde(default)]
    scope_logs: Vec<ScopeLogs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeLogs {
    #[serde(default)]
    log_records: Vec<LogRecord>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogRecord {
    #[serde(default)]
    event_name: Option<String>,
    #[serde(default)]
    body: Option<AnyValue>,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue {
    #[serde(default)]
    string_value: Option<String>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    value: AnyValue,
}
