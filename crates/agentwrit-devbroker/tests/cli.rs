//! The `agentwrit-devbroker` binary as a user runs it: its flags, the
//! real broker's environment variables, what it prints and its exit codes.
//! (The TLS flags and the sample-app block are in `tls.rs`.)

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Every variable the binary reads, removed so the host's cannot leak in.
const VARS: [&str; 5] = [
    "AA_TLS_MODE",
    "AA_TLS_CERT",
    "AA_TLS_KEY",
    "AA_TLS_CLIENT_CA",
    "AA_ADMIN_SECRET",
];

fn binary(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentwrit-devbroker"));
    for var in VARS {
        cmd.env_remove(var);
    }
    cmd.args(args).stdin(Stdio::null());
    cmd
}

fn output(cmd: &mut Command) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A running broker and its start-up lines (through `press Ctrl-C to
/// stop`); killed on drop.
struct Running {
    child: Child,
    lines: Vec<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let end = line == "press Ctrl-C to stop";
            if tx.send(line).is_err() || end {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        // A generous bound for a loaded machine; the broker starts in
        // milliseconds. Not a timing assertion: it only stops a hang.
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let end = line == "press Ctrl-C to stop";
                lines.push(line);
                if end {
                    break;
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("no start-up ({e}); so far {lines:?}");
            }
        }
    }
    Running { child, lines }
}

#[test]
fn help_names_every_flag_and_variable_and_exits_0() {
    for flag in ["--help", "-h"] {
        let (code, stdout, stderr) = output(&mut binary(&[flag]));
        assert_eq!(code, Some(0), "{stderr}");
        for needle in [
            "--port <PORT>",
            "--bind <ADDR>",
            "--admin-secret <SECRET>",
            "--issuer <ISS>",
            "--trust-domain <TD>",
            "--sample-app",
            "--no-rate-limits",
            "--tls-mode <MODE>",
            "--tls-cert <FILE>",
            "--tls-key <FILE>",
            "--tls-client-ca <FILE>",
            "--verbose",
            "AA_ADMIN_SECRET",
            "AA_TLS_MODE",
            "AA_TLS_CERT",
            "AA_TLS_KEY",
            "AA_TLS_CLIENT_CA",
            "Not for production",
            "Ctrl-C",
        ] {
            assert!(
                stdout.contains(needle),
                "{flag}: no {needle:?} in\n{stdout}"
            );
        }
    }
}

#[test]
fn help_never_shows_the_admin_secret_from_the_environment() {
    let (code, stdout, _) =
        output(binary(&["--help"]).env("AA_ADMIN_SECRET", "a-secret-from-the-environment-7f3a"));
    assert_eq!(code, Some(0));
    assert!(!stdout.contains("7f3a"), "{stdout}");
}

#[test]
fn bad_arguments_exit_2_and_name_what_was_wrong() {
    let cases: [(&[&str], &str); 5] = [
        (&["--port", "eighty"], "eighty"),
        (&["--port", "70000"], "70000"),
        (&["--bind", "localhost"], "localhost"),
        (&["--bogus"], "--bogus"),
        (&["--port"], "--port"),
    ];
    for (args, needle) in cases {
        let (code, stdout, stderr) = output(&mut binary(args));
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stdout.contains("listening"), "{args:?}: {stdout}");
    }
}

#[test]
fn the_known_weak_admin_secret_is_refused_from_a_flag_or_the_environment() {
    let (code, _, stderr) = output(&mut binary(&[
        "--port",
        "0",
        "--admin-secret",
        "change-me-in-production",
    ]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("known-weak default"), "{stderr}");
    let (code, _, stderr) =
        output(binary(&["--port", "0"]).env("AA_ADMIN_SECRET", "change-me-in-production"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("known-weak default"), "{stderr}");
}

#[test]
fn a_generated_admin_secret_is_printed_once_a_given_one_never() {
    let run = start(binary(&["--port", "0"]));
    assert!(
        run.lines[0].starts_with("agentwrit-devbroker ")
            && run.lines[0].contains(" listening on http://127.0.0.1:"),
        "{:?}",
        run.lines
    );
    let shown: Vec<&String> = run
        .lines
        .iter()
        .filter(|l| l.starts_with("admin secret (generated, shown once): "))
        .collect();
    assert_eq!(shown.len(), 1, "{:?}", run.lines);

    let mut cmd = binary(&["--port=0"]);
    cmd.env("AA_ADMIN_SECRET", "cli-test-admin-secret-from-env");
    let run = start(cmd);
    assert!(
        !run.lines
            .iter()
            .any(|l| l.contains("admin secret") || l.contains("cli-test-admin-secret-from-env")),
        "{:?}",
        run.lines
    );
}

#[test]
fn inline_values_repeated_flags_and_empty_variables_behave_as_before() {
    // `--flag=value`; the last of a repeated flag wins; an empty
    // `AA_TLS_MODE` counts as unset (plain HTTP).
    let mut cmd = binary(&[
        "--port",
        "1",
        "--port=0",
        "--bind=127.0.0.1",
        "--admin-secret=cli-test-admin-secret",
        "--trust-domain",
        "example.test",
        "--issuer",
        "https://broker.example",
        "--no-rate-limits",
        "--verbose",
    ]);
    cmd.env("AA_TLS_MODE", "");
    let run = start(cmd);
    let url = run
        .lines
        .iter()
        .find_map(|l| l.split_once(" listening on ").map(|(_, u)| u.to_owned()))
        .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.ends_with(":1"), "{url}");
    assert!(!run.lines.iter().any(|l| l.starts_with("TLS mode")));
}

#[test]
fn version_prints_the_crate_version() {
    let (code, stdout, _) = output(&mut binary(&["--version"]));
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout.trim(),
        format!("agentwrit-devbroker {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn docs_devbroker_md_shows_the_binary_s_own_help() {
    let doc = include_str!("../../../docs/devbroker.md");
    let start = "```text\n$ agentwrit-devbroker --help\n";
    let at = doc
        .find(start)
        .expect("docs/devbroker.md has no --help block")
        + start.len();
    let shown = &doc[at..at + doc[at..].find("```\n").unwrap()];
    let (code, help, _) = output(&mut binary(&["--help"]));
    assert_eq!(code, Some(0));
    assert_eq!(
        shown, help,
        "docs/devbroker.md's --help block is stale: paste the binary's `--help` output"
    );
}
