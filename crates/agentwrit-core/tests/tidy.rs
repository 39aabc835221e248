//! Tidy: `agentwrit-core` does no I/O of its own.
//!
//! The sans-IO contract is that time, randomness and the outside world come
//! in through arguments. This test reads every source file of the crate and
//! fails when code (not comments: doc examples are compiled as separate
//! crates) names the system clock, a random source, the file system, the
//! process environment or a socket outside the few places allowed:
//!
//! * `clock.rs`: `SystemClock`, the one reader of the system clock;
//! * `env.rs`: reads the PEM files that `from_env`'s variables name;
//! * `tls.rs`: reads the operating system's trust store (feature
//!   `native-roots`, once per process).
//!
//! Each allowance must still be used, so the list cannot go stale.

use std::fs;
use std::path::{Path, PathBuf};

/// What core must not do, and the text that shows it doing it.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (CLOCK, &["SystemTime::now", "Instant::now", ".elapsed()"]),
    (
        "draws randomness",
        &[
            "OsRng",
            "thread_rng",
            "ThreadRng",
            "getrandom",
            "rand::",
            "from_entropy",
        ],
    ),
    (
        FILES,
        &[
            "std::fs",
            "fs::",
            "File::",
            "OpenOptions",
            "read_dir",
            "load_native_certs",
        ],
    ),
    ("reads the process environment", &["env::var", "env::args"]),
    (
        "opens a socket",
        &["TcpStream", "TcpListener", "UdpSocket", "ToSocketAddrs"],
    ),
];

const CLOCK: &str = "reads the system clock";
const FILES: &str = "touches the file system";

/// (file relative to `src/`, what it may do there, why).
const ALLOWED: &[(&str, &str, &str)] = &[
    ("clock.rs", CLOCK, "SystemClock"),
    (
        "env.rs",
        FILES,
        "the PEM files named by AGENTWRIT_CA_FILE & co.",
    ),
    ("tls.rs", FILES, "the OS trust store (native-roots)"),
];

/// One forbidden use: file, line number, what it does, the line.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    what: &'static str,
    pattern: &'static str,
}

/// The code lines of `source` (comment lines dropped), numbered from 1.
fn code_lines(source: &str) -> impl Iterator<Item = (usize, &str)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

/// The first pattern of the kind `what` that `line` contains.
fn matches(what: &str, line: &str) -> Option<&'static str> {
    FORBIDDEN
        .iter()
        .filter(|(w, _)| *w == what)
        .flat_map(|(_, patterns)| patterns.iter())
        .find(|p| line.contains(**p))
        .copied()
}

/// The forbidden uses in `source` (the file `file`, relative to `src/`),
/// allowances applied: at most one per line and kind.
fn violations(file: &str, source: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    for (line, text) in code_lines(source) {
        for (what, _) in FORBIDDEN {
            if ALLOWED.iter().any(|(f, w, _)| *f == file && w == what) {
                continue;
            }
            if let Some(pattern) = matches(what, text) {
                found.push(Violation {
                    file: file.to_owned(),
                    line,
                    what,
                    pattern,
                });
            }
        }
    }
    found
}

/// Every `.rs` file under `dir`, as (path relative to `root`, text).
fn sources(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((relative, fs::read_to_string(&path).unwrap()));
        }
    }
}

fn core_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    sources(&root, &root, &mut out);
    out
}

#[test]
fn core_does_no_io_outside_the_allowed_places() {
    let files = core_sources();
    let names: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    for expected in ["lib.rs", "clock.rs", "env.rs", "agent/create.rs"] {
        assert!(
            names.contains(&expected),
            "{expected} not scanned: {names:?}"
        );
    }
    let found: Vec<Violation> = files
        .iter()
        .flat_map(|(file, text)| violations(file, text))
        .collect();
    assert!(
        found.is_empty(),
        "agentwrit-core must take time, randomness and I/O from its caller \
         (see the crate docs); found:\n{}",
        found
            .iter()
            .map(|v| format!("  src/{}:{}: {} ({})", v.file, v.line, v.what, v.pattern))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn every_allowance_is_still_used() {
    let files = core_sources();
    for (file, what, why) in ALLOWED {
        let text = files
            .iter()
            .find(|(f, _)| f == file)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("allowed file src/{file} ({why}) no longer exists"));
        let used = code_lines(text).any(|(_, l)| matches(what, l).is_some());
        assert!(
            used,
            "src/{file} no longer {what} ({why}): drop the allowance"
        );
    }
}

#[test]
fn the_checker_catches_each_kind_and_only_outside_its_place() {
    let planted = "fn f() {\n    let _ = std::time::SystemTime::now();\n}\n";
    assert_eq!(
        violations("app.rs", planted),
        vec![Violation {
            file: "app.rs".to_owned(),
            line: 2,
            what: "reads the system clock",
            pattern: "SystemTime::now",
        }]
    );
    assert!(violations("clock.rs", planted).is_empty());
    for line in [
        "let t = Instant::now();",
        "let mut rng = rand_core::OsRng;",
        "let bytes = std::fs::read(path)?;",
        "let f = File::open(path)?;",
        "let v = std::env::var(\"X\");",
        "let s = std::net::TcpStream::connect(addr)?;",
    ] {
        assert_eq!(violations("flow.rs", line).len(), 1, "{line}");
    }
    // Comments and doc examples are not code of this crate.
    assert!(violations("env.rs", "/// pass `|k| std::env::var(k).ok()`").is_empty());
    // Taking an RNG from the caller is the point, not a violation.
    assert!(violations("keys.rs", "use rand_core::CryptoRngCore;").is_empty());
}
