//! Output: one JSON document with `--json`, text otherwise.

use std::io::Write as _;

use serde_json::Value;

/// Where a command's result goes.
pub struct Out {
    /// `--json` was given.
    pub json: bool,
}

impl Out {
    /// Prints `doc` (with `--json`) or the text `human` builds.
    pub fn emit(&self, doc: &Value, human: impl FnOnce() -> String) {
        if self.json {
            self.print(&format!("{doc:#}\n"));
        } else {
            self.print(&human());
        }
    }

    /// Prints `text` to stdout as it is, flushed (a closed pipe is not an
    /// error worth a panic).
    pub fn print(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
}

/// Writes `text` to stderr, ignoring every error: a closed stderr (EBADF),
/// a hung-up terminal (EIO) or a reader gone (EPIPE) must never stop the
/// command half-way (`eprintln!` would panic).
pub fn stderr(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
}

/// A notice from the command line on stderr: `agentwrit: TEXT`, or with
/// `--json` the JSON document `doc` on one line.
pub fn notice(json: bool, doc: &Value, text: &str) {
    if json {
        stderr(&format!("{doc}\n"));
    } else {
        stderr(&format!("agentwrit: {text}\n"));
    }
}

/// A table: a header line and rows, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                text.push_str(cell);
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text.push('\n');
        text
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
