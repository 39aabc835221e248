//! Test support for the agentwrit-rs workspace (not published).
//!
//! [`captures`] parses `docs/contract/real-broker-responses.txt`: the 78
//! request/response pairs captured from the real broker (v2.0.0), which the
//! wire crate's round-trip tests, core's transcript tests and the
//! development broker's replay test all compare against. The file is
//! compiled in, so a test needs no path and no file system.
//!
//! The format, one block per case:
//!
//! ```text
//! ### 1. health
//! > GET /v1/health
//! < HTTP 200
//! < content-type: application/json
//! < content-length: 88
//! < body: {"status":"ok",...}
//! ```
//!
//! ```
//! let all = agentwrit_test_support::captures();
//! assert_eq!(all.len(), 78);
//! let health = agentwrit_test_support::capture(1);
//! assert_eq!((health.method.as_str(), health.path.as_str()), ("GET", "/v1/health"));
//! assert_eq!(health.header("content-type"), Some("application/json"));
//! ```
//!
//! [`DelayProxy`] is a loopback TCP proxy that adds latency (and can hold
//! traffic) between a client and a development broker: how the lifetime
//! tests cancel a call while its request is on the way.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod proxy;

use std::fmt;

pub use proxy::DelayProxy;

/// The variables cargo (or nextest) sets for a program it runs — a test,
/// or a binary under `cargo run` such as `cargo xtask` — (the package's
/// name, version, manifest directory, its build script's `OUT_DIR`, ...),
/// by prefix or name.
const RUN_ONLY_PREFIXES: [&str; 4] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_",
    "CARGO_BIN_",
];
const RUN_ONLY_NAMES: [&str; 4] = [
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// Removes from `cmd`'s environment the variables cargo set for the
/// program this process is (a test, or a binary under `cargo run`), so
/// that a build `cmd` runs sees the environment a build run by hand sees.
///
/// A build script may declare that it depends on such a variable (ring's
/// reads `OUT_DIR` and `CARGO_PKG_NAME` through `rerun-if-env-changed`):
/// a build run with them would see them changed, rebuild that crate and
/// everything above it, and the next build without them would rebuild
/// them again.
///
/// ```
/// let mut cmd = std::process::Command::new("cargo");
/// agentwrit_test_support::strip_cargo_run_env(&mut cmd);
/// assert!(cmd.get_envs().any(|(k, v)| k == "CARGO_PKG_NAME" && v.is_none()));
/// assert!(cmd.get_envs().any(|(k, v)| k == "OUT_DIR" && v.is_none()));
/// ```
pub fn strip_cargo_run_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for (name, _) in std::env::vars_os() {
        let Some(text) = name.to_str() else { continue };
        if RUN_ONLY_PREFIXES.iter().any(|p| text.starts_with(p)) || RUN_ONLY_NAMES.contains(&text) {
            cmd.env_remove(&name);
        }
    }
    // Named even when this process does not have them (a doc test, say),
    // so the command says what it removes.
    cmd.env_remove("CARGO_PKG_NAME").env_remove("OUT_DIR")
}

/// The test runner's own cargo (`$CARGO`, else `cargo` on the `PATH`), for
/// a test that builds part of the workspace, without the variables cargo
/// set for the test itself ([`strip_cargo_run_env`]).
///
/// ```
/// let cargo = agentwrit_test_support::nested_cargo();
/// assert!(cargo.get_envs().any(|(k, v)| k == "CARGO_PKG_NAME" && v.is_none()));
/// ```
#[must_use]
pub fn nested_cargo() -> std::process::Command {
    let mut cmd =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    strip_cargo_run_env(&mut cmd);
    cmd
}

/// The capture file, as compiled in.
pub const CAPTURES: &str = include_str!("../../../docs/contract/real-broker-responses.txt");

/// One captured case: the request line and the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The case number (1-based, in capture order).
    pub number: u32,
    /// The case's title (`health`, `admin auth: wrong secret`, ...).
    pub title: String,
    /// The request method.
    pub method: String,
    /// The request path, with its query.
    pub path: String,
    /// The response status.
    pub status: u16,
    /// The response headers in capture order, names as captured
    /// (lower case), `content-length` included.
    pub headers: Vec<(String, String)>,
    /// The response body; empty when the capture says `(empty)`.
    pub body: String,
}

impl Capture {
    /// The first header named `name` (ASCII case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `content-type` header.
    #[must_use]
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// The `content-length` header, as a number.
    #[must_use]
    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }

    /// True for an RFC 7807 problem answer.
    #[must_use]
    pub fn is_problem(&self) -> bool {
        self.content_type() == Some("application/problem+json")
    }

    /// The path without its query.
    #[must_use]
    pub fn route(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }
}

/// Why a capture file does not parse: the block's heading and the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The heading of the block (`### N. title`), or the first line.
    pub block: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "capture block {:?}: {}", self.block, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Parses a capture file.
///
/// # Errors
///
/// A [`ParseError`] naming the block without a `N. title` heading, a
/// request line, a numeric status or a body, or with a malformed header.
///
/// ```
/// let text = "# header\n\n### 7. renew\n> POST /v1/token/renew\n< HTTP 204\n< body: (empty)\n";
/// let caps = agentwrit_test_support::parse(text)?;
/// assert_eq!(caps[0].number, 7);
/// assert!(caps[0].body.is_empty());
/// assert!(agentwrit_test_support::parse("### x\n").is_err());
/// # Ok::<(), agentwrit_test_support::ParseError>(())
/// ```
pub fn parse(text: &str) -> Result<Vec<Capture>, ParseError> {
    let mut out = Vec::new();
    // A heading starts a line; the first may start the file.
    let text = format!("\n{text}");
    for block in text.split("\n### ").skip(1) {
        let head = block.lines().next().unwrap_or_default();
        let fail = |reason: &str| ParseError {
            block: head.to_owned(),
            reason: reason.to_owned(),
        };
        let (number, title) = head
            .split_once(". ")
            .ok_or_else(|| fail("heading is not `N. title`"))?;
        let mut c = Capture {
            number: number
                .trim()
                .parse()
                .map_err(|_| fail("case number is not a number"))?,
            title: title.trim().to_owned(),
            method: String::new(),
            path: String::new(),
            status: 0,
            headers: Vec::new(),
            body: String::new(),
        };
        let mut body = None;
        for line in block.lines().skip(1) {
            if let Some(request) = line.strip_prefix("> ") {
                let (method, path) = request
                    .split_once(' ')
                    .ok_or_else(|| fail("request line is not `METHOD PATH`"))?;
                c.method = method.to_owned();
                c.path = path.to_owned();
            } else if let Some(status) = line.strip_prefix("< HTTP ") {
                c.status = status
                    .trim()
                    .parse()
                    .map_err(|_| fail("status is not a number"))?;
            } else if let Some(b) = line.strip_prefix("< body: ") {
                body = Some(if b == "(empty)" { "" } else { b });
            } else if let Some(header) = line.strip_prefix("< ") {
                let (name, value) = header
                    .split_once(": ")
                    .ok_or_else(|| fail("header line is not `name: value`"))?;
                c.headers.push((name.to_owned(), value.to_owned()));
            }
        }
        if c.method.is_empty() {
            return Err(fail("no request line"));
        }
        if c.status == 0 {
            return Err(fail("no status line"));
        }
        c.body = body.ok_or_else(|| fail("no body line"))?.to_owned();
        out.push(c);
    }
    Ok(out)
}

/// Every case of the compiled-in capture file, in order.
///
/// # Panics
///
/// If the compiled-in file does not parse (this crate's own tests parse
/// it, so a release of the workspace never does).
#[must_use]
pub fn captures() -> Vec<Capture> {
    match parse(CAPTURES) {
        Ok(all) => all,
        Err(e) => panic!("{e}"),
    }
}

/// Case number `n` of the compiled-in capture file.
///
/// # Panics
///
/// If there is no case `n` (or the file does not parse).
#[must_use]
pub fn capture(n: u32) -> Capture {
    match captures().into_iter().find(|c| c.number == n) {
        Some(c) => c,
        None => panic!("no captured case {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_file_holds_78_numbered_cases_in_order() {
        let all = captures();
        assert_eq!(all.len(), 78);
        for (i, c) in all.iter().enumerate() {
            assert_eq!(c.number as usize, i + 1);
            assert!(c.status >= 200, "case {}", c.number);
            assert!(c.header("x-request-id").is_some(), "case {}", c.number);
            // Go's encoder ends each JSON body with a newline the capture
            // does not show.
            if c.status != 204 {
                assert_eq!(
                    c.content_length(),
                    Some(c.body.len() + 1),
                    "case {}",
                    c.number
                );
            }
        }
        assert_eq!(all.iter().filter(|c| c.body.is_empty()).count(), 1);
        assert_eq!(
            all.iter()
                .filter(|c| c.header("retry-after").is_some())
                .count(),
            3
        );
    }

    #[test]
    fn malformed_blocks_are_errors_naming_the_block() {
        for (text, reason) in [
            ("### one\n> GET /\n< HTTP 200\n< body: x\n", "heading"),
            ("### x. t\n> GET /\n< HTTP 200\n< body: x\n", "number"),
            ("### 1. t\n< HTTP 200\n< body: x\n", "request line"),
            ("### 1. t\n> GET\n< HTTP 200\n< body: x\n", "METHOD PATH"),
            ("### 1. t\n> GET /\n< HTTP two\n< body: x\n", "status"),
            ("### 1. t\n> GET /\n< body: x\n", "status line"),
            ("### 1. t\n> GET /\n< HTTP 200\n", "body"),
            (
                "### 1. t\n> GET /\n< HTTP 200\n< odd\n< body: x\n",
                "header",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.reason.contains(reason), "{text:?}: {e}");
        }
    }
}
