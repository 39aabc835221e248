//! The token, scope and operator commands of the built binary, their
//! `--json` shapes and exit codes.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::Stdio;

use agentwrit_blocking::App;
use common::*;

const SCOPE: &str = "read:data:cli-cmd";

/// A live agent token on `broker` (created with the SDK).
fn live_token(broker: &TestBroker) -> (agentwrit_blocking::Agent, String) {
    let (id, secret) = broker.app(&[SCOPE]);
    let app = App::new(&broker.url, &id, secret).unwrap();
    let agent = app
        .create_agent("cli-orch", &unique("task"), &[SCOPE])
        .unwrap();
    let token = agent.access_token().expose_secret().to_owned();
    (agent, token)
}

#[test]
fn scope_check_exit_codes_gate_a_shell_script() {
    let broker = TestBroker::start();
    let check = |args: &[&str]| {
        broker
            .bare()
            .arg("scope")
            .arg("check")
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(
        check(&["--held", "read:data:*", "read:data:x"])
            .status
            .code(),
        Some(0)
    );
    let denied = check(&["--held", "read:data:x", "read:data:x", "write:data:x"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(stdout(&denied).contains("write:data:x"));
    assert_eq!(
        check(&["--held", "read:data:x,write:data:x", "write:data:x"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        check(&["--held", "read:data:x", "not-a-scope"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        check(&["read:data:x"]).status.code(),
        Some(2),
        "nothing held, no AGENTWRIT_SCOPE"
    );
    let from_env = broker
        .bare()
        .env("AGENTWRIT_SCOPE", "read:data:a read:data:b")
        .args(["scope", "check", "read:data:b"])
        .output()
        .unwrap();
    assert_eq!(from_env.status.code(), Some(0));
    let json = broker
        .bare()
        .args([
            "--json",
            "scope",
            "check",
            "--held",
            "read:data:a",
            "read:data:a",
            "read:data:c",
        ])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    assert_eq!(
        common::json(&json),
        serde_json::json!({"allowed": false, "missing": ["read:data:c"]})
    );
}

#[test]
fn scope_check_inside_run_reads_the_runs_scope() {
    let broker = TestBroker::start();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .args(["run", "--scope", SCOPE, "--", "sh", "-c"])
        .arg(format!(
            "{BIN} scope check {SCOPE} && echo allowed; {BIN} scope check write:data:x || echo denied=$?"
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("allowed\n"), "{text}");
    assert_eq!(field(&text, "denied"), "1");
}

#[test]
fn token_validate_inspect_and_release() {
    let broker = TestBroker::start();
    let (agent, token) = live_token(&broker);

    let valid = broker
        .bare()
        .args(["--json", "token", "validate", &token])
        .output()
        .unwrap();
    assert_eq!(valid.status.code(), Some(0), "{}", stderr(&valid));
    let doc = common::json(&valid);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["claims"]["sub"], agent.agent_id());
    assert_eq!(doc["claims"]["scope"], serde_json::json!([SCOPE]));

    // From standard input, human output.
    let mut child = broker
        .bare()
        .args(["token", "validate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{token}\n").as_bytes())
        .unwrap();
    let human = child.wait_with_output().unwrap();
    assert_eq!(human.status.code(), Some(0));
    assert!(stdout(&human).starts_with("valid\n"));
    assert!(stdout(&human).contains(SCOPE));

    let inspect = broker
        .bare()
        .args(["token", "inspect", &token])
        .output()
        .unwrap();
    assert_eq!(inspect.status.code(), Some(0));
    assert!(
        stdout(&inspect).starts_with("NOT VERIFIED"),
        "{}",
        stdout(&inspect)
    );
    let inspect_json = broker
        .bare()
        .env("AGENTWRIT_TOKEN", &token)
        .args(["--json", "token", "inspect"])
        .output()
        .unwrap();
    let doc = common::json(&inspect_json);
    assert_eq!(doc["verified"], false);
    assert_eq!(doc["claims"]["jti"], agent.jti());
    let garbage = broker
        .bare()
        .args(["token", "inspect", "not-a-jwt"])
        .output()
        .unwrap();
    // Bad input, not the broker's refusal: usage (2), and as JSON.
    assert_eq!(garbage.status.code(), Some(2), "{}", stderr(&garbage));
    let garbage_json = broker
        .bare()
        .args(["--json", "token", "inspect", "not-a-jwt"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&garbage_json.stderr).unwrap();
    assert_eq!(doc["error"]["class"], "usage");
    assert_eq!(doc["error"]["exit_code"], 2);
    // Says what is wrong with the argument, and nothing of a broker's
    // response (none was asked for).
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the argument is not a JWT: it is not a compact JWS")
            && message.contains("header.payload.signature"),
        "{message}"
    );
    assert!(!message.contains("broker's response"), "{message}");
    assert!(stderr(&garbage).contains("the argument is not a JWT"));
    // Three parts, but not base64url JSON: said too.
    let parts = broker
        .bare()
        .args(["--json", "token", "inspect", "a.b!.c"])
        .output()
        .unwrap();
    assert_eq!(parts.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&parts.stderr).unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not a JWT: the payload is not base64url;"),
        "{message}"
    );

    let release = broker
        .bare()
        .args(["--json", "token", "release", &token])
        .output()
        .unwrap();
    assert_eq!(release.status.code(), Some(0), "{}", stderr(&release));
    assert_eq!(
        common::json(&release),
        serde_json::json!({"outcome": "released"})
    );
    assert!(!broker.is_valid(&token));
    let again = broker
        .bare()
        .args(["--json", "token", "release", &token])
        .output()
        .unwrap();
    assert_eq!(
        common::json(&again),
        serde_json::json!({"outcome": "already_dead"})
    );

    let dead = broker
        .bare()
        .args(["--json", "token", "validate", &token])
        .output()
        .unwrap();
    assert_eq!(dead.status.code(), Some(1));
    assert_eq!(common::json(&dead)["valid"], false);
    for out in [&valid, &human, &inspect, &release, &dead] {
        assert!(!stderr(out).contains(&token));
    }
}

#[test]
fn app_register_list_get_update_remove() {
    let broker = TestBroker::start();
    let name = unique("cliapp");
    let register = broker
        .admin()
        .args([
            "--json",
            "app",
            "register",
            "--name",
            &name,
            "--scopes",
            "read:data:*,write:data:x",
            "--token-ttl",
            "10m",
        ])
        .output()
        .unwrap();
    assert_eq!(register.status.code(), Some(0), "{}", stderr(&register));
    let app = common::json(&register);
    let app_id = app["app_id"].as_str().unwrap().to_owned();
    let secret = app["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "the new secret is printed, once: {app}");
    assert_eq!(
        app["scopes"],
        serde_json::json!(["read:data:*", "write:data:x"])
    );
    assert_eq!(app["token_ttl"], 600);
    // The secret works.
    App::new(
        &broker.url,
        app["client_id"].as_str().unwrap(),
        secret.as_str(),
    )
    .unwrap()
    .create_agent("o", "t", &["read:data:y"])
    .unwrap()
    .release()
    .unwrap();

    let list = broker
        .admin()
        .args(["--json", "app", "list"])
        .output()
        .unwrap();
    assert_eq!(list.status.code(), Some(0));
    let doc = common::json(&list);
    assert!(doc["total"].as_u64().unwrap() >= 1);
    assert!(
        doc["apps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["app_id"] == app_id.as_str())
    );
    let human = broker.admin().args(["app", "list"]).output().unwrap();
    assert!(stdout(&human).starts_with("APP ID"));
    assert!(stdout(&human).contains(&app_id));

    let get = broker
        .admin()
        .args(["--json", "app", "get", &app_id])
        .output()
        .unwrap();
    let got = common::json(&get);
    assert_eq!(got["name"], name.as_str());
    assert!(got.get("client_secret").is_none());

    let update = broker
        .admin()
        .args([
            "--json",
            "app",
            "update",
            "--id",
            &app_id,
            "--scopes",
            "read:data:*",
            "--token-ttl",
            "900",
        ])
        .output()
        .unwrap();
    assert_eq!(update.status.code(), Some(0), "{}", stderr(&update));
    let updated = common::json(&update);
    assert_eq!(updated["scopes"], serde_json::json!(["read:data:*"]));
    assert_eq!(updated["token_ttl"], 900);
    let nothing = broker
        .admin()
        .args(["app", "update", "--id", &app_id])
        .output()
        .unwrap();
    assert_eq!(nothing.status.code(), Some(2));

    let remove = broker
        .admin()
        .args(["--json", "app", "remove", "--id", &app_id])
        .output()
        .unwrap();
    assert_eq!(remove.status.code(), Some(0));
    // Only what the broker's answer to a removal holds: no empty app.
    let removed = common::json(&remove);
    assert_eq!(removed["status"], "inactive");
    assert_eq!(removed["app_id"], app_id.as_str());
    assert!(removed["deregistered_at"].is_string(), "{removed}");
    assert!(
        removed.get("name").is_none() && removed.get("client_id").is_none(),
        "{removed}"
    );
    let missing = broker
        .admin()
        .args(["--json", "app", "get", "app-nope-000000"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(3));
    let err: serde_json::Value = serde_json::from_slice(&missing.stderr).unwrap();
    assert_eq!(err["error"]["class"], "refused");
    assert_eq!(err["error"]["problem"]["status"], 404);

    for out in [&list, &human, &get, &update, &remove, &missing] {
        assert!(!stdout(out).contains(&secret) && !stderr(out).contains(&secret));
        assert!(
            !stdout(out).contains(&broker.admin_secret)
                && !stderr(out).contains(&broker.admin_secret)
        );
    }
    assert!(!stderr(&register).contains(&secret));
}

#[test]
fn revoke_kills_the_target() {
    let broker = TestBroker::start();
    let (agent, token) = live_token(&broker);
    let out = broker
        .admin()
        .args([
            "--json",
            "revoke",
            "--level",
            "agent",
            "--target",
            &agent.agent_id(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = common::json(&out);
    assert_eq!(doc["revoked"], true);
    assert_eq!(doc["level"], "agent");
    assert_eq!(doc["target"], agent.agent_id());
    assert!(!broker.is_valid(&token));
    let bad = broker
        .admin()
        .args(["revoke", "--level", "galaxy", "--target", "x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn audit_events_filters_pages_and_json() {
    let broker = TestBroker::start();
    let (agent, _) = live_token(&broker);
    let task = agent.task_id();
    agent.renew().unwrap();
    agent.release().unwrap();
    let page = broker
        .admin()
        .args([
            "--json",
            "audit",
            "events",
            "--task-id",
            &task,
            "--limit",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(page.status.code(), Some(0), "{}", stderr(&page));
    let doc = common::json(&page);
    assert_eq!(doc["events"].as_array().unwrap().len(), 1);
    assert!(doc["total"].as_u64().unwrap() >= 3, "{doc}");
    assert_eq!(doc["limit"], 1);
    let all = broker
        .admin()
        .args([
            "--json",
            "audit",
            "events",
            "--task-id",
            &task,
            "--limit",
            "1",
            "--all",
        ])
        .output()
        .unwrap();
    let all = common::json(&all);
    assert_eq!(
        all["events"].as_array().unwrap().len() as u64,
        doc["total"].as_u64().unwrap()
    );
    let released = broker
        .admin()
        .args([
            "--json",
            "audit",
            "events",
            "--task-id",
            &task,
            "--event-type",
            "token_released",
            "--outcome",
            "success",
            "--agent-id",
            &agent.agent_id(),
            "--since",
            "2000-01-01T00:00:00Z",
            "--until",
            "2999-01-01T00:00:00Z",
            "--offset",
            "0",
        ])
        .output()
        .unwrap();
    let released = common::json(&released);
    assert_eq!(released["total"], 1, "{released}");
    assert_eq!(released["events"][0]["event_type"], "token_released");
    let human = broker
        .admin()
        .args(["audit", "events", "--task-id", &task])
        .output()
        .unwrap();
    assert!(stdout(&human).starts_with("ID"));
    assert!(stdout(&human).contains("token_released"));
    let bad_time = broker
        .admin()
        .args(["audit", "events", "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(bad_time.status.code(), Some(2));
}

#[test]
fn audit_events_follow_prints_an_event_that_happens_after_it_started() {
    let broker = TestBroker::start();
    let (id, secret) = broker.app(&[SCOPE]);
    let app = App::new(&broker.url, &id, secret).unwrap();
    let task = unique("follow");
    let release_one = || {
        let agent = app.create_agent("cli-orch", &task, &[SCOPE]).unwrap();
        agent.release().unwrap();
        agent.agent_id()
    };
    let before = release_one();
    let mut follow = broker
        .admin()
        .args([
            "--json",
            "audit",
            "events",
            "--follow",
            "--interval",
            "1s",
            "--task-id",
            &task,
            "--event-type",
            "token_released",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut next_event =
        || -> serde_json::Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    // The first line proves the follower has read the trail once.
    assert_eq!(next_event()["agent_id"], before.as_str());
    // This event happens after that read.
    let after = release_one();
    let event = next_event();
    assert_eq!(event["event_type"], "token_released");
    assert_eq!(event["task_id"], task.as_str());
    assert_eq!(event["agent_id"], after.as_str());
    follow.kill().unwrap();
    follow.wait().unwrap();
}

#[test]
fn exit_codes_distinguish_usage_refusal_and_an_unreachable_broker() {
    let broker = TestBroker::start();
    // Usage: no admin secret.
    let usage = broker.bare().args(["app", "list"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(stderr(&usage).contains("AGENTWRIT_ADMIN_SECRET"));
    let clap_usage = broker.bare().args(["app", "frobnicate"]).output().unwrap();
    assert_eq!(clap_usage.status.code(), Some(2));
    // Refused: a wrong admin secret, with the broker's problem.
    let refused = broker
        .bare()
        .env("AGENTWRIT_ADMIN_SECRET", "wrong-secret-value")
        .args(["--json", "app", "list"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    let err: serde_json::Value = serde_json::from_slice(&refused.stderr).unwrap();
    assert_eq!(err["error"]["problem"]["status"], 401);
    assert!(!stderr(&refused).contains("wrong-secret-value"));
    // Unreachable: a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = std::process::Command::new(BIN)
        .env("AGENTWRIT_BROKER_URL", format!("http://127.0.0.1:{port}"))
        .env("AGENTWRIT_ADMIN_SECRET", "x")
        .args(["app", "list"])
        .output()
        .unwrap();
    assert_eq!(
        unreachable.status.code(),
        Some(4),
        "{}",
        stderr(&unreachable)
    );
}

#[test]
fn a_tls_failure_has_its_own_exit_code() {
    let pki = agentwrit_devbroker::tls::TestPki::generate().unwrap();
    let broker = agentwrit_devbroker::DevBroker::builder()
        .tls(pki.server_config().unwrap())
        .start()
        .unwrap();
    // The broker's CA is not trusted: the handshake fails.
    let out = std::process::Command::new(BIN)
        .env_remove("AGENTWRIT_CA_FILE")
        .env("AGENTWRIT_BROKER_URL", broker.url())
        .args(["token", "validate", "eyJ.e30.sig"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("agentwrit"), "{shell}");
    }
}

#[test]
fn follow_keeps_running_until_stopped() {
    let broker = TestBroker::start();
    let mut follow = broker
        .admin()
        .args([
            "audit",
            "events",
            "--follow",
            "--interval",
            "1s",
            "--task-id",
            "nothing-here",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("ID"));
    kill(follow.id(), "INT");
    assert_eq!(follow.wait().unwrap().code(), Some(0));
}
