//! The built `create_loop` binary, as it is run: its output piped to a
//! reader that has gone (`create_loop | head -0`) is no panic, and every
//! agent it created is released at the broker.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};

use agentwrit_blocking::Operator;
use agentwrit_blocking::wire::AuditQuery;
use agentwrit_devbroker::{DevBroker, DevBrokerHandle, RegisteredApp};

/// A development broker and an app on it.
fn broker() -> (DevBrokerHandle, RegisteredApp) {
    let broker = DevBroker::builder().no_rate_limits().start().unwrap();
    let reg = broker.register_universal_app().unwrap();
    (broker, reg)
}

fn create_loop(broker: &DevBrokerHandle, reg: &RegisteredApp, n: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_create_loop"));
    cmd.arg(n)
        .env("AGENTWRIT_BROKER_URL", broker.url())
        .env("AGENTWRIT_CLIENT_ID", &reg.client_id)
        .env("AGENTWRIT_CLIENT_SECRET", reg.client_secret.expose_secret())
        .stdin(Stdio::null());
    cmd
}

/// (registered, released) in the broker's audit trail.
fn lifecycle(broker: &DevBrokerHandle) -> (usize, usize) {
    let operator = Operator::new(broker.url(), broker.admin_secret().clone()).unwrap();
    let events = operator.audit_events_all(AuditQuery::new()).unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.event_type == kind).count();
    (count("agent_registered"), count("token_released"))
}

#[test]
fn a_closed_pipe_on_stdout_is_no_panic() {
    let (broker, reg) = broker();
    for flags in [&[][..], &["--async"][..]] {
        // A pipe whose reader is gone before the binary writes anything.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = create_loop(&broker, &reg, "3")
            .args(flags)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{flags:?}: {}\n{stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{flags:?}: {stderr}");
        assert_eq!(stderr, "", "{flags:?}: nothing to report");
    }
    // Every agent was released before the figures were written.
    assert_eq!(lifecycle(&broker), (6, 6));
}

#[test]
fn its_figures_are_written_when_read() {
    let (broker, reg) = broker();
    let out = create_loop(&broker, &reg, "2").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("2 creates: ") || stdout.starts_with("no CPU figures"),
        "{stdout}"
    );
    assert_eq!(lifecycle(&broker), (2, 2));
}

#[test]
fn a_bad_count_is_an_error_on_stderr_not_a_panic() {
    let (broker, reg) = broker();
    let out = create_loop(&broker, &reg, "many").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "create_loop: invalid count \"many\"\n"
    );
    assert_eq!(lifecycle(&broker), (0, 0));
}
