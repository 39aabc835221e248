//! `agentwrit run`, as users run it: the built binary, real children
//! (`sh`, `python3`), a broker the test starts (or the external one of
//! `cargo xtask conformance`).

mod common;

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::time::Duration;

use common::*;

const SCOPE: &str = "read:data:cli-test";

#[test]
fn the_child_sees_the_token_and_no_secret_and_the_token_dies_after() {
    let broker = TestBroker::start();
    let (mut cmd, secret) = broker.with_app(&[SCOPE]);
    // The same secrets under other names (a broker's AA_ADMIN_SECRET, a
    // harness's copy) are stripped by value.
    let out = cmd
        .env("AA_ADMIN_SECRET", &broker.admin_secret)
        .env("SOME_COPY_OF_THE_APP_SECRET", format!("{secret}\n"))
        .args(["run", "--scope", SCOPE, "--task", "env-check", "--"])
        .args([
            "sh",
            "-c",
            "echo token=$AGENTWRIT_TOKEN; echo agent=$AGENTWRIT_AGENT_ID; echo scope=$AGENTWRIT_SCOPE; \
             echo expires=$AGENTWRIT_TOKEN_EXPIRES_AT; echo url=$AGENTWRIT_BROKER_URL; \
             echo secret=${AGENTWRIT_CLIENT_SECRET:-unset}; echo admin=${AGENTWRIT_ADMIN_SECRET:-unset}; \
             env | grep -c \"$AGENTWRIT_CLIENT_ID_NOPE\" >/dev/null; env",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let token = field(&text, "token");
    assert_eq!(token.split('.').count(), 3);
    assert!(field(&text, "agent").starts_with("spiffe://"));
    assert!(field(&text, "agent").contains("/agentwrit-cli/env-check/"));
    assert_eq!(field(&text, "scope"), SCOPE);
    assert!(field(&text, "expires").ends_with('Z'));
    assert_eq!(
        field(&text, "url").trim_end_matches('/'),
        broker.url.trim_end_matches('/')
    );
    assert_eq!(field(&text, "secret"), "unset");
    assert_eq!(field(&text, "admin"), "unset");
    for secret in [secret.as_str(), broker.admin_secret.as_str()] {
        assert!(!text.contains(secret), "a secret reached the child");
        assert!(!stderr(&out).contains(secret), "a secret was printed");
    }
    assert!(
        !stderr(&out).contains(&token),
        "the token was printed by the wrapper"
    );
    assert!(!broker.is_valid(&token), "the token outlived the run");
}

#[test]
fn a_python_child_validates_its_token_at_the_broker_during_the_run() {
    if !has_python() {
        eprintln!("python3 is not here: skipped");
        return;
    }
    let broker = TestBroker::start();
    if broker.is_external() && std::env::var_os("AGENTWRIT_TEST_CA_FILE").is_some() {
        eprintln!("the python child does not load the external broker's CA: skipped");
        return;
    }
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let script = r#"
import json, os, urllib.request
token = os.environ["AGENTWRIT_TOKEN"]
req = urllib.request.Request(os.environ["AGENTWRIT_BROKER_URL"].rstrip("/") + "/v1/token/validate",
    data=json.dumps({"token": token}).encode(), headers={"Content-Type": "application/json"})
answer = json.load(urllib.request.urlopen(req))
print("valid=" + str(answer["valid"]))
print("scope=" + " ".join(answer["claims"]["scope"]))
print("token=" + token)
"#;
    let out = cmd
        .args(["run", "--scope", SCOPE, "--", "python3", "-c", script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(field(&text, "valid"), "True");
    assert_eq!(field(&text, "scope"), SCOPE);
    assert!(!broker.is_valid(&field(&text, "token")));
}

#[test]
fn the_token_file_is_rewritten_on_renewal_and_the_child_is_signalled() {
    if !has_python() {
        eprintln!("python3 is not here: skipped");
        return;
    }
    let broker = TestBroker::start();
    let dir = scratch("renew");
    let file = dir.join("token");
    let marker = dir.join("usr1");
    let endpoint = dir.join("endpoint");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    // The child counts SIGUSR1 in a file and waits to be terminated.
    let script = format!(
        r#"
import signal, sys, time
n = 0
def usr1(*_):
    global n
    n += 1
    open({marker:?}, "w").write(str(n))
signal.signal(signal.SIGUSR1, usr1)
import os
open({endpoint:?} + ".tmp", "w").write(os.environ["AGENTWRIT_CREDENTIALS_URL"] + " " + os.environ["AGENTWRIT_CREDENTIALS_AUTH"])
os.rename({endpoint:?} + ".tmp", {endpoint:?})
print("ready", flush=True)
while True:
    time.sleep(0.05)
"#,
        marker = marker.display().to_string(),
        endpoint = endpoint.display().to_string()
    );
    let mut child = cmd
        .args([
            "run",
            "--serve",
            "--scope",
            SCOPE,
            "--ttl",
            "3s",
            "--renew-signal",
            "USR1",
            "--token-file",
        ])
        .arg(&file)
        .args(["--", "python3", "-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first = read_when_present(&file);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(broker.is_valid(&first));
    let second = wait_for("a renewal", Duration::from_secs(30), || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|t| !t.is_empty() && *t != first)
    });
    assert!(broker.is_valid(&second), "the renewed token is not valid");
    assert!(!broker.is_valid(&first), "the old token is still valid");
    read_when_present(&marker); // the child got SIGUSR1 after the renewal
    // The credential endpoint answers the renewed token.
    let served = read_when_present(&endpoint);
    let (url, auth) = served.split_once(' ').unwrap();
    let body = http_get(url, auth);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["access_token"], second.as_str());
    kill(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + 15),
        "python dies of the forwarded SIGTERM"
    );
    assert!(!broker.is_valid(&second), "the token outlived the run");
    assert!(!file.exists(), "the token file outlived the run");
}

#[test]
fn serve_answers_with_the_secret_and_refuses_without_it() {
    if !has_python() {
        eprintln!("python3 is not here: skipped");
        return;
    }
    let broker = TestBroker::start();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let script = r#"
import json, os, urllib.request, urllib.error
url, auth = os.environ["AGENTWRIT_CREDENTIALS_URL"], os.environ["AGENTWRIT_CREDENTIALS_AUTH"]
def get(headers, path=""):
    try:
        r = urllib.request.urlopen(urllib.request.Request(url + path, headers=headers))
        return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, None
status, body = get({"Authorization": "Bearer " + auth})
print("status=%d" % status)
print("same=%s" % (body["access_token"] == os.environ["AGENTWRIT_TOKEN"]))
print("agent=%s" % (body["agent_id"] == os.environ["AGENTWRIT_AGENT_ID"]))
print("expires=%s" % body["expires_at"])
print("none=%d" % get({})[0])
print("wrong=%d" % get({"Authorization": "Bearer " + "0" * len(auth)})[0])
print("path=%d" % get({"Authorization": "Bearer " + auth}, "other")[0])
"#;
    let out = cmd
        .args([
            "run", "--serve", "--scope", SCOPE, "--", "python3", "-c", script,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(field(&text, "status"), "200");
    assert_eq!(field(&text, "same"), "True");
    assert_eq!(field(&text, "agent"), "True");
    assert!(field(&text, "expires").ends_with('Z'));
    assert_eq!(field(&text, "none"), "401");
    assert_eq!(field(&text, "wrong"), "401");
    assert_eq!(field(&text, "path"), "404");
}

#[test]
fn sigterm_to_the_wrapper_reaches_the_child_and_the_token_is_released() {
    let broker = TestBroker::start();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    // The child traps TERM, says so and exits 42.
    let mut child = cmd
        .args(["run", "--scope", SCOPE, "--", "sh", "-c"])
        .arg("trap 'echo got=TERM; exit 42' TERM; echo token=$AGENTWRIT_TOKEN; while :; do sleep 0.05; done")
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let token = lines.next().unwrap().unwrap();
    let token = token.strip_prefix("token=").unwrap().to_owned();
    assert!(broker.is_valid(&token));
    kill(child.id(), "TERM");
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(rest.iter().any(|l| l == "got=TERM"), "{rest:?}");
    assert_eq!(child.wait().unwrap().code(), Some(42));
    assert!(!broker.is_valid(&token));
}

#[test]
fn a_child_killed_by_sigkill_yields_137_and_a_released_token() {
    let broker = TestBroker::start();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .args([
            "run",
            "--scope",
            SCOPE,
            "--",
            "sh",
            "-c",
            "echo token=$AGENTWRIT_TOKEN; kill -9 $$",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(137));
    assert!(!broker.is_valid(&field(&stdout(&out), "token")));
}

#[test]
fn the_child_exit_code_passes_through() {
    let broker = TestBroker::start();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .args(["run", "--scope", SCOPE, "--", "sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn a_command_that_does_not_exist_is_a_clear_error_and_a_released_token() {
    let broker = TestBroker::start();
    let task = unique("nocmd");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .args([
            "run",
            "--scope",
            SCOPE,
            "--task",
            &task,
            "--",
            "agentwrit-no-such-command",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("cannot run \"agentwrit-no-such-command\""),
        "{}",
        stderr(&out)
    );
    assert_eq!(broker.events(&task, "token_released"), 1, "released once");
}

#[test]
fn mask_output_hides_the_token_in_stdout_and_stderr() {
    let broker = TestBroker::start();
    let dir = scratch("mask");
    let copy = dir.join("token");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .args(["run", "--mask-output", "--scope", SCOPE, "--", "sh", "-c"])
        .arg(format!(
            "printf %s \"$AGENTWRIT_TOKEN\" > '{}'; echo out=$AGENTWRIT_TOKEN; echo err=$AGENTWRIT_TOKEN >&2",
            copy.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let token = std::fs::read_to_string(&copy).unwrap();
    assert!(token.len() > 20);
    assert_eq!(field(&stdout(&out), "out"), "<agentwrit-token>");
    assert_eq!(field(&stderr(&out), "err"), "<agentwrit-token>");
    assert!(!stdout(&out).contains(&token) && !stderr(&out).contains(&token));
}

#[test]
fn without_mask_output_the_child_writes_straight_to_the_terminal_streams() {
    let broker = TestBroker::start();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .args([
            "run",
            "--scope",
            SCOPE,
            "--",
            "sh",
            "-c",
            "echo out=$AGENTWRIT_TOKEN",
        ])
        .output()
        .unwrap();
    assert!(field(&stdout(&out), "out").starts_with("eyJ"));
}

#[test]
fn a_launch_token_in_the_environment_registers_the_agent_without_app_credentials() {
    let broker = TestBroker::start();
    let minted = broker
        .operator()
        .launch_token(agentwrit_blocking::wire::LaunchTokenRequest::new(
            unique("lt"),
            vec![SCOPE.to_owned()],
        ))
        .unwrap();
    let launch = minted.launch_token.expose_secret().to_owned();
    let out = broker
        .bare()
        .env("MY_LAUNCH_TOKEN", &launch)
        .env("AGENTWRIT_ADMIN_SECRET", &broker.admin_secret)
        .args(["run", "--launch-token-env", "MY_LAUNCH_TOKEN", "--scope", SCOPE, "--"])
        .args(["sh", "-c", "echo token=$AGENTWRIT_TOKEN; echo lt=${MY_LAUNCH_TOKEN:-unset}; echo admin=${AGENTWRIT_ADMIN_SECRET:-unset}"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(field(&text, "lt"), "unset");
    assert_eq!(field(&text, "admin"), "unset");
    assert!(!broker.is_valid(&field(&text, "token")));
}

#[test]
fn with_dev_it_runs_on_an_embedded_development_broker() {
    let mut cmd = std::process::Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("AGENTWRIT_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args([
            "run",
            "--dev",
            "--scope",
            "read:data:x",
            "--",
            "sh",
            "-c",
            "echo token=$AGENTWRIT_TOKEN; echo url=$AGENTWRIT_BROKER_URL",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let notice: Vec<&str> = err.lines().collect();
    assert_eq!(notice.len(), 1, "one line on stderr: {notice:?}");
    assert!(notice[0].contains("embedded development broker"));
    assert!(field(&stdout(&out), "token").starts_with("eyJ"));
    assert!(field(&stdout(&out), "url").starts_with("http://127.0.0.1:"));
}

#[test]
fn a_scope_beyond_the_apps_ceiling_is_refused_with_the_brokers_problem() {
    let broker = TestBroker::start();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .args([
            "run",
            "--scope",
            "write:data:elsewhere",
            "--",
            "sh",
            "-c",
            "echo ran",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(!stdout(&out).contains("ran"));
    assert!(stderr(&out).contains("403"), "{}", stderr(&out));
}

#[test]
fn sigint_sighup_and_sigquit_to_the_wrapper_are_forwarded_too() {
    let broker = TestBroker::start();
    for (signal, trap, number) in [("INT", "INT", 2), ("HUP", "HUP", 1), ("QUIT", "QUIT", 3)] {
        if ignored_here(number) {
            eprintln!("SIG{signal} is ignored in this test process (inherited): skipped");
            continue;
        }
        let (mut cmd, _) = broker.with_app(&[SCOPE]);
        let mut child = cmd
            .args(["run", "--scope", SCOPE, "--", "sh", "-c"])
            .arg(format!(
                "trap 'echo got={trap}; exit 40' {trap}; echo token=$AGENTWRIT_TOKEN; while :; do sleep 0.05; done"
            ))
            .stdout(Stdio::piped())
            // Not the terminal's foreground group (when the tests run in
            // one): a kill aimed at the wrapper alone.
            .process_group(0)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let token = lines.next().unwrap().unwrap();
        let token = token.strip_prefix("token=").unwrap().to_owned();
        kill(child.id(), signal);
        let rest: Vec<String> = lines.map(Result::unwrap).collect();
        assert_eq!(rest, [format!("got={trap}")], "{signal}");
        assert_eq!(child.wait().unwrap().code(), Some(40), "{signal}");
        assert!(
            !broker.is_valid(&token),
            "{signal}: the token outlived the run"
        );
    }
}

#[test]
fn a_command_that_cannot_be_executed_yields_126_and_a_released_token() {
    let broker = TestBroker::start();
    let dir = scratch("noexec");
    let script = dir.join("not-executable.sh");
    std::fs::write(&script, "echo hi\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let task = unique("noexec");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .args(["run", "--scope", SCOPE, "--task", &task, "--"])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert_eq!(broker.events(&task, "token_released"), 1);
}

#[test]
fn a_failed_release_is_reported_with_the_agent_id_and_the_exit_code_stays_the_childs() {
    let mut broker = TestBroker::start();
    if broker.is_external() {
        eprintln!("needs a broker the test can stop: skipped against an external broker");
        return;
    }
    let dir = scratch("release-fails");
    let go = dir.join("go");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let child = cmd
        .args(["run", "--scope", SCOPE, "--", "sh", "-c"])
        .arg(format!(
            "echo agent=$AGENTWRIT_AGENT_ID; while [ ! -e '{}' ]; do sleep 0.02; done; exit 5",
            go.display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let agent = lines.next().unwrap().unwrap();
    let agent = agent.strip_prefix("agent=").unwrap().to_owned();
    broker.stop(); // the release will find no broker
    std::fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("releasing agent {agent} failed")),
        "{err}"
    );
}

/// `GET url` with the bearer `auth`, by hand (HTTP/1.0, one request): the
/// body of a 200.
fn http_get(url: &str, auth: &str) -> String {
    use std::io::{Read as _, Write as _};
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET / HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {auth}\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_owned()
}
