//! The README's async example, run as a real program against a
//! development broker: afterwards the broker's audit must show every token
//! the program obtained released — the `with_agent` agent's, the token it
//! delegated, and the `reviewer` guard's, which is dropped as
//! `#[tokio::main]`'s `main` returns and its runtime shuts down.

use std::path::PathBuf;
use std::process::Command;

use agentwrit_blocking::Operator;
use agentwrit_blocking::wire::AuditQuery;
use agentwrit_devbroker::DevBroker;

/// The `readme_async` example, built into this test binary's target
/// directory and profile.
fn readme_program() -> PathBuf {
    let mut profile_dir = std::env::current_exe().unwrap();
    profile_dir.pop();
    if profile_dir.ends_with("deps") {
        profile_dir.pop();
    }
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let target_dir = profile_dir.parent().unwrap();
    // Without the variables cargo set for this test (see `nested_cargo`):
    // the build then finds everything up to date.
    let mut build = agentwrit_test_support::nested_cargo();
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // `--workspace`: the features the whole workspace's debug build
        // resolves (`cargo xtask test` builds the examples so before the
        // tests), so this finds the example up to date instead of
        // compiling its tree again with this package's features alone.
        .args(["build", "--quiet", "--workspace"])
        .args(["--example", "readme_async", "--target-dir"])
        .arg(target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let status = build.status().unwrap();
    assert!(
        status.success(),
        "cargo build --example readme_async: {status}"
    );
    profile_dir
        .join("examples")
        .join(format!("readme_async{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_readme_async_example_leaves_no_live_token() {
    let program = readme_program();
    let broker = DevBroker::start().unwrap();
    let reg = broker.register_universal_app().unwrap();
    let output = Command::new(&program)
        .env("AGENTWRIT_BROKER_URL", broker.url())
        .env("AGENTWRIT_CLIENT_ID", &reg.client_id)
        .env("AGENTWRIT_CLIENT_SECRET", reg.client_secret.expose_secret())
        .env_remove("AGENTWRIT_CA_FILE")
        .env_remove("AGENTWRIT_CLIENT_CERT")
        .env_remove("AGENTWRIT_CLIENT_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}: {}\n{stdout}{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("refused: "), "{stdout}");

    let operator = Operator::new(broker.url(), broker.admin_secret().clone()).unwrap();
    let events = operator.audit_events_all(AuditQuery::new()).unwrap();
    let of = |kind: &str| -> Vec<_> { events.iter().filter(|e| e.event_type == kind).collect() };
    let registered = of("agent_registered");
    let delegated = of("delegation_created");
    let released = of("token_released");
    assert_eq!(registered.len(), 2, "the reviewer and the with_agent agent");
    assert_eq!(
        delegated.len(),
        1,
        "one delegation succeeded, one was refused"
    );
    for agent in &registered {
        let id = agent.agent_id.as_deref().unwrap();
        let task = agent.task_id.as_deref().unwrap();
        assert!(
            released
                .iter()
                .any(|r| r.agent_id.as_deref() == Some(id) && r.task_id.as_deref() == Some(task)),
            "no token_released for {id} (task {task}): {events:#?}"
        );
    }
    // One release per token obtained: two agents' tokens and the delegated one.
    assert_eq!(
        released.len(),
        registered.len() + delegated.len(),
        "{released:#?}"
    );
}
