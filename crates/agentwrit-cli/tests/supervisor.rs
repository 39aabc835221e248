//! `agentwrit run` as a production supervisor (issue 30): tokens the
//! child can rely on, renewal across a paused broker, the release guard,
//! signals, PID 1, safe token files, `--dev`, exit codes, the
//! pseudo-terminal of `--mask-output`, several credentials. The built
//! binary with real children, against brokers the tests start.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const SCOPE: &str = "read:data:sup";

/// Blocks until the file exists (the child's "go" signal from the test).
fn wait_go(go: &std::path::Path) -> String {
    format!("while [ ! -e '{}' ]; do sleep 0.02; done", go.display())
}

#[test]
fn an_env_only_token_is_valid_at_90_percent_of_its_ttl_and_not_renewed() {
    let broker = TestBroker::start();
    let dir = scratch("env-only");
    let go = dir.join("go");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let mut child = cmd
        .args(["run", "--ttl", "5s", "--scope", SCOPE, "--", "sh", "-c"])
        .arg(format!(
            "echo token=$AGENTWRIT_TOKEN; echo expires=$AGENTWRIT_TOKEN_EXPIRES_AT; {}",
            wait_go(&go)
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = line_reader(child.stdout.take().unwrap());
    let err = line_reader(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let token = wait_line(&out, "token=", &mut seen)["token=".len()..].to_owned();
    let expires = wait_line(&out, "expires=", &mut seen)["expires=".len()..].to_owned();
    let c = claims(&token);
    let (iat, exp) = (c["iat"].as_f64().unwrap(), c["exp"].as_f64().unwrap());
    // The child is told the token's exp: nothing kills it earlier.
    let inspect = stdout(
        &Command::new(BIN)
            .args(["token", "inspect", &token])
            .output()
            .unwrap(),
    );
    let exp_line = inspect
        .lines()
        .find(|l| l.trim_start().starts_with("expires at"))
        .unwrap();
    assert!(exp_line.ends_with(&expires), "{exp_line} vs {expires}");
    // The wrapper says, once, when a renewal would have been due, that
    // the token is not renewed.
    let notice = wait_line(&err, "is not renewed", &mut seen);
    assert!(notice.contains(&expires), "{notice}");
    let at = iat + 0.9 * (exp - iat);
    while unix_now() < at {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        broker.is_valid(&token),
        "the env token died before 90 % of its TTL"
    );
    std::fs::write(&go, "").unwrap();
    assert!(child.wait().unwrap().success());
    let rest: Vec<String> = err.try_iter().collect();
    assert!(
        !rest.iter().any(|l| l.contains("is not renewed")),
        "said once: {rest:?}"
    );
    assert!(!broker.is_valid(&token), "the token outlived the run");
}

#[test]
fn serve_answers_expires_in_as_the_time_left() {
    if !has_python() {
        eprintln!("python3 is not here: skipped");
        return;
    }
    let broker = TestBroker::start();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let script = r#"
import json, os, time, urllib.request
url, auth = os.environ["AGENTWRIT_CREDENTIALS_URL"], os.environ["AGENTWRIT_CREDENTIALS_AUTH"]
def get():
    r = urllib.request.Request(url, headers={"Authorization": "Bearer " + auth})
    return json.load(urllib.request.urlopen(r))
a = get(); time.sleep(2.2); b = get()
print("first=%d" % a["expires_in"]); print("second=%d" % b["expires_in"])
print("same=%s" % (a["access_token"] == b["access_token"]))
print("env_expires=" + os.environ["AGENTWRIT_TOKEN_EXPIRES_AT"]); print("served_expires=" + a["expires_at"])
"#;
    let out = cmd
        .args([
            "run", "--serve", "--ttl", "20s", "--scope", SCOPE, "--", "python3", "-c", script,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let first: u64 = field(&text, "first").parse().unwrap();
    let second: u64 = field(&text, "second").parse().unwrap();
    assert_eq!(field(&text, "same"), "True");
    assert!(
        second < first,
        "expires_in does not decrease: {first} then {second}"
    );
    // Renewed (it is served): the token stops working at the renewal, 80 %.
    assert!(first <= 16, "{first}");
    assert_eq!(field(&text, "env_expires"), field(&text, "served_expires"));
}

#[test]
fn a_broker_paused_across_a_renewal_leaves_the_child_a_valid_token() {
    let standalone = Standalone::start();
    let broker = standalone.as_test_broker();
    let dir = scratch("paused");
    let file = dir.join("token");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let mut child = cmd
        .args(["run", "--ttl", "10s", "--scope", SCOPE, "--token-file"])
        .arg(&file)
        .args(["--", "sh", "-c", "while :; do sleep 0.05; done"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = line_reader(child.stderr.take().unwrap());
    let first = read_when_present(&file);
    standalone.pause();
    let mut seen = Vec::new();
    // The renewal is due while the broker is paused: the wrapper says it
    // failed and retries.
    wait_line(&err, "retrying until it expires", &mut seen);
    standalone.resume();
    let second = wait_for(
        "the renewal after the pause",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&file)
                .ok()
                .filter(|t| !t.is_empty() && *t != first)
        },
    );
    wait_line(&err, "after", &mut seen); // "renewed ... after N failed attempt(s)"
    assert!(
        broker.is_valid(&second),
        "the child's renewed token is not valid"
    );
    assert!(!broker.is_valid(&first));
    kill(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(128 + 15));
    assert!(!broker.is_valid(&second), "the token outlived the run");
    assert!(!file.exists());
}

#[test]
fn a_panic_after_supervision_still_releases_and_removes_the_token_file() {
    let broker = TestBroker::start();
    let dir = scratch("panic");
    let file = dir.join("token");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .env("AGENTWRIT_TEST_PANIC_AFTER_SUPERVISION", "1")
        .args(["run", "--scope", SCOPE, "--token-file"])
        .arg(&file)
        .args([
            "--",
            "sh",
            "-c",
            "echo token=$(cat \"$AGENTWRIT_TOKEN_FILE\")",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(101), "{}", stderr(&out));
    assert!(stderr(&out).contains("AGENTWRIT_TEST_PANIC_AFTER_SUPERVISION"));
    let token = field(&stdout(&out), "token");
    assert!(!broker.is_valid(&token), "the panic skipped the release");
    assert!(!file.exists(), "the panic left the token file");
}

#[test]
fn a_closed_stderr_cannot_skip_the_release() {
    let broker = TestBroker::start();
    let task = unique("closed-stderr");
    let (cmd, _) = broker.with_app(&[SCOPE]);
    // The second credential is beyond the app's ceiling: the wrapper
    // writes its notice and its error to a closed stderr, and must still
    // release the first agent.
    let mut sh = Command::new("sh");
    sh.env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))));
    for (k, v) in std::env::vars() {
        if !k.starts_with("AGENTWRIT_") {
            sh.env(k, v);
        }
    }
    let out = sh
        .arg("-c")
        .arg(format!(
            "exec '{BIN}' run --task {task} --scope {SCOPE} --credential beyond=write:data:elsewhere -- true 2>&-"
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(broker.events(&task, "agent_registered"), 1);
    assert_eq!(broker.events(&task, "token_released"), 1, "released once");
}

#[test]
fn a_planted_symlink_or_world_readable_file_at_the_token_path_is_replaced() {
    let broker = TestBroker::start();
    let dir = scratch("planted");
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let link = dir.join("linked-token");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let open = dir.join("open-token");
    std::fs::write(&open, "old").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    for target in [&link, &open] {
        let (mut cmd, _) = broker.with_app(&[SCOPE]);
        let out = cmd
            .args(["run", "--scope", SCOPE, "--token-file"])
            .arg(target)
            .args([
                "--",
                "sh",
                "-c",
                "stat -c 'kind=%F mode=%a' \"$AGENTWRIT_TOKEN_FILE\"; echo same=$( [ \"$(cat \"$AGENTWRIT_TOKEN_FILE\")\" = \"$AGENTWRIT_TOKEN\" ] && echo yes)",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(
            field(&text, "kind"),
            "regular file mode=600",
            "{}",
            target.display()
        );
        assert_eq!(field(&text, "same"), "yes");
        assert!(!target.exists(), "{} outlived the run", target.display());
    }
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious",
        "the link was followed"
    );
}

#[test]
fn exactly_one_sigint_reaches_a_child_in_the_terminals_process_group() {
    if !has_script() {
        eprintln!("script (util-linux) is not here: skipped");
        return;
    }
    let broker = TestBroker::start();
    let (cmd, _) = broker.with_app(&[SCOPE]);
    // The child counts SIGINTs; SIGUSR1 (sent to the wrapper after the
    // Ctrl-C, so forwarded after any forwarded SIGINT) makes it report.
    let dir = scratch("one-sigint");
    let child = dir.join("child.sh");
    std::fs::write(
        &child,
        "n=0; trap 'n=$((n+1)); echo got=$n' INT; trap 'echo total=$n; exit 0' USR1; echo ppid=$PPID; while :; do sleep 0.05; done\n",
    )
    .unwrap();
    let mut script = Command::new("script");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let mut script = script
        .args(["-qc"])
        .arg(format!(
            "exec '{BIN}' run --scope {SCOPE} -- sh '{}'",
            child.display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let _cleanup = KillGroup(script.id());
    let out = line_reader(script.stdout.take().unwrap());
    let mut seen = Vec::new();
    let ppid: u32 = wait_line(&out, "ppid=", &mut seen).trim()["ppid=".len()..]
        .parse()
        .unwrap();
    let mut stdin = script.stdin.take().unwrap();
    stdin.write_all(b"\x03").unwrap(); // Ctrl-C, typed on the terminal
    stdin.flush().unwrap();
    wait_line(&out, "got=1", &mut seen);
    kill(ppid, "USR1");
    let total = wait_line(&out, "total=", &mut seen);
    assert_eq!(
        total.trim(),
        "total=1",
        "SIGINT reached the child more than once: {seen:?}"
    );
    drop(stdin);
    assert!(script.wait().unwrap().success());
}

#[test]
fn as_pid_1_the_wrapper_reaps_orphans_and_keeps_the_childs_status() {
    let probe = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount-proc",
            "true",
        ])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "skipped: `unshare --user --map-root-user --pid --fork --mount-proc` is not permitted \
             here (no user namespaces), so the wrapper cannot be started as PID 1"
        );
        return;
    }
    let broker = TestBroker::start();
    let (cmd, _) = broker.with_app(&[SCOPE]);
    // Two orphans (their parent subshell exits at once) become the
    // wrapper's children; the child waits until no zombie is left.
    let child = "echo pid=$$ ppid=$PPID; echo token=$AGENTWRIT_TOKEN; (sleep 0.1 &); (true &); i=0; \
                 while [ $i -lt 300 ]; do z=$(grep -l '^State:.Z' /proc/[0-9]*/status 2>/dev/null | wc -l); \
                 if [ \"$z\" = 0 ] && [ $i -gt 4 ]; then echo reaped; exit 7; fi; sleep 0.05; i=$((i+1)); done; \
                 echo zombies=$z; exit 1";
    let mut unshare = Command::new("unshare");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => unshare.env(k, v),
            None => unshare.env_remove(k),
        };
    }
    let out = unshare
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount-proc",
            BIN,
        ])
        .args(["run", "--scope", SCOPE, "--", "sh", "-c", child])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(text.contains("ppid=1"), "the wrapper is not PID 1: {text}");
    assert!(text.contains("reaped"), "{text}\n{}", stderr(&out));
    assert_eq!(out.status.code(), Some(7), "the child's status was lost");
    assert!(!broker.is_valid(&field(&text, "token")));
}

#[test]
fn without_dev_or_a_broker_url_run_refuses_with_125_naming_both_ways() {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("AGENTWRIT_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args([
            "run",
            "--scope",
            "read:data:x",
            "--",
            "sh",
            "-c",
            "echo ran",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(!stdout(&out).contains("ran"));
    let err = stderr(&out);
    assert!(
        err.contains("AGENTWRIT_BROKER_URL") && err.contains("--dev"),
        "{err}"
    );
    let json = Command::new(BIN)
        .env_remove("AGENTWRIT_BROKER_URL")
        .env_remove("AGENTWRIT_DEV")
        .args(["--json", "run", "--scope", "read:data:x", "--", "true"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stderr).unwrap();
    assert_eq!(doc["error"]["exit_code"], 125);
    assert_eq!(doc["error"]["class"], "usage");
    // AGENTWRIT_DEV=1 is --dev.
    let dev = Command::new(BIN)
        .env_remove("AGENTWRIT_BROKER_URL")
        .env("AGENTWRIT_DEV", "1")
        .args([
            "run",
            "--scope",
            "read:data:x",
            "--",
            "sh",
            "-c",
            "echo ran",
        ])
        .output()
        .unwrap();
    assert!(dev.status.success(), "{}", stderr(&dev));
    assert!(stderr(&dev).contains("--dev: using an embedded development broker"));
}

#[test]
fn the_wrappers_own_failures_exit_125_whatever_their_class() {
    let broker = TestBroker::start();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    // Refused by the broker (was 3).
    let refused = cmd
        .args([
            "--json",
            "run",
            "--scope",
            "write:data:elsewhere",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(125));
    let doc: serde_json::Value = serde_json::from_slice(&refused.stderr).unwrap();
    assert_eq!(doc["error"]["class"], "refused");
    assert_eq!(doc["error"]["problem"]["status"], 403);
    // Unreachable (was 4).
    let unreachable = Command::new(BIN)
        .env("AGENTWRIT_BROKER_URL", "http://127.0.0.1:9")
        .env("AGENTWRIT_CLIENT_ID", "x")
        .env("AGENTWRIT_CLIENT_SECRET", "y")
        .args(["run", "--scope", SCOPE, "--", "true"])
        .output()
        .unwrap();
    assert_eq!(
        unreachable.status.code(),
        Some(125),
        "{}",
        stderr(&unreachable)
    );
    // Bad arguments (clap said 2), also as JSON.
    let usage = Command::new(BIN)
        .args([
            "--json", "run", "--scope", SCOPE, "--ttl", "0", "--", "true",
        ])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(125));
    let doc: serde_json::Value = serde_json::from_slice(&usage.stderr).unwrap();
    assert_eq!(doc["error"]["class"], "usage");
    assert!(doc["error"]["message"].as_str().unwrap().contains("--ttl"));
    // --ttl and --label cannot be silently ignored with a launch token.
    for flag in [["--ttl", "5m"], ["--label", "l"]] {
        let out = Command::new(BIN)
            .args(["run", "--launch-token-env", "LT", "--scope", SCOPE])
            .args(flag)
            .args(["--", "true"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{flag:?}");
        assert!(
            stderr(&out).contains("cannot be used with"),
            "{}",
            stderr(&out)
        );
    }
    // A child's own 125 passes through.
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let child = cmd
        .args(["run", "--scope", SCOPE, "--", "sh", "-c", "exit 125"])
        .output()
        .unwrap();
    assert_eq!(child.status.code(), Some(125));
    assert!(stderr(&child).is_empty(), "{}", stderr(&child));
}

#[test]
fn mask_output_on_a_terminal_keeps_isatty_and_masks() {
    if !has_script() {
        eprintln!("script (util-linux) is not here: skipped");
        return;
    }
    let broker = TestBroker::start();
    let (cmd, _) = broker.with_app(&[SCOPE]);
    let dir = scratch("mask-tty");
    let child = dir.join("child.sh");
    std::fs::write(
        &child,
        "[ -t 1 ] && echo out=tty; [ -t 2 ] && echo err=tty >&2; echo tok=$AGENTWRIT_TOKEN; stty size\n",
    )
    .unwrap();
    let mut script = Command::new("script");
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let out = script
        .args(["-qc"])
        .arg(format!(
            "stty cols 123 rows 45; '{BIN}' run --mask-output --scope {SCOPE} -- sh '{}'",
            child.display()
        ))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .process_group(0)
        .output()
        .unwrap();
    let text = stdout(&out).replace('\r', "");
    assert!(text.contains("out=tty"), "{text}");
    assert!(text.contains("err=tty"), "{text}");
    assert!(text.contains("tok=<agentwrit-token>"), "{text}");
    assert!(!text.contains("tok=eyJ"), "{text}");
    assert!(
        text.contains("45 123"),
        "the window size did not reach the child: {text}"
    );
}

#[test]
fn two_credentials_with_disjoint_scopes_are_each_valid_and_each_dead_at_exit() {
    let broker = TestBroker::start();
    let (a, b) = ("read:data:sup-a", "write:data:sup-b");
    let dir = scratch("two");
    let go = dir.join("go");
    let tokens = dir.join("tokens");
    let (mut cmd, _) = broker.with_app(&[a, b]);
    let mut child = cmd
        .args(["run", "--credential", &format!("reader={a}"), "--credential", &format!("writer={b}"), "--token-dir"])
        .arg(&tokens)
        .args(["--", "sh", "-c"])
        .arg(format!(
            "echo reader=$AGENTWRIT_READER_TOKEN; echo writer=$AGENTWRIT_WRITER_TOKEN; \
             echo rscope=$AGENTWRIT_READER_SCOPE; echo wscope=$AGENTWRIT_WRITER_SCOPE; \
             echo rfile=$(cat $AGENTWRIT_TOKEN_DIR/reader.token); echo default=${{AGENTWRIT_TOKEN:-unset}}; {}",
            wait_go(&go)
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = line_reader(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let reader = wait_line(&out, "reader=", &mut seen)["reader=".len()..].to_owned();
    let writer = wait_line(&out, "writer=", &mut seen)["writer=".len()..].to_owned();
    assert_eq!(wait_line(&out, "rscope=", &mut seen), format!("rscope={a}"));
    assert_eq!(wait_line(&out, "wscope=", &mut seen), format!("wscope={b}"));
    assert_eq!(
        wait_line(&out, "rfile=", &mut seen),
        format!("rfile={reader}")
    );
    assert_eq!(wait_line(&out, "default=", &mut seen), "default=unset");
    assert_ne!(
        claims(&reader)["sub"],
        claims(&writer)["sub"],
        "one agent each"
    );
    assert!(broker.is_valid(&reader) && broker.is_valid(&writer));
    std::fs::write(&go, "").unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!broker.is_valid(&reader), "reader outlived the run");
    assert!(!broker.is_valid(&writer), "writer outlived the run");
    assert!(!tokens.join("reader.token").exists() && !tokens.join("writer.token").exists());
}

#[test]
fn a_config_file_names_the_credentials() {
    let broker = TestBroker::start();
    let dir = scratch("config");
    let config = dir.join("agentwrit.toml");
    std::fs::write(
        &config,
        format!("orch = \"cfg\"\n[credential.db]\nscope = [\"{SCOPE}\"]\ntask = \"cfg-task\"\n"),
    )
    .unwrap();
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let out = cmd
        .args(["run", "--config"])
        .arg(&config)
        .args([
            "--",
            "sh",
            "-c",
            "echo id=$AGENTWRIT_DB_AGENT_ID; echo token=$AGENTWRIT_DB_TOKEN",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(field(&stdout(&out), "id").contains("/cfg/cfg-task/"));
    assert!(!broker.is_valid(&field(&stdout(&out), "token")));
}

#[test]
fn a_second_sigterm_during_a_slow_release_stops_waiting_and_names_the_agent() {
    let standalone = Standalone::start();
    let broker = standalone.as_test_broker();
    let dir = scratch("slow-release");
    let go = dir.join("go");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let mut child = cmd
        .args(["run", "--scope", SCOPE, "--", "sh", "-c"])
        .arg(format!(
            "echo pid=$$; echo agent=$AGENTWRIT_AGENT_ID; echo token=$AGENTWRIT_TOKEN; {}; exit 4",
            wait_go(&go)
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let out = line_reader(child.stdout.take().unwrap());
    let err = line_reader(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let pid = wait_line(&out, "pid=", &mut seen)["pid=".len()..].to_owned();
    let agent = wait_line(&out, "agent=", &mut seen)["agent=".len()..].to_owned();
    let token = wait_line(&out, "token=", &mut seen)["token=".len()..].to_owned();
    standalone.pause();
    std::fs::write(&go, "").unwrap(); // the child exits; the release hangs
    // Once the child is collected, the wrapper is releasing.
    wait_for("the child's exit", Duration::from_secs(30), || {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
    kill(child.id(), "TERM");
    wait_line(&err, "again to stop waiting", &mut seen);
    kill(child.id(), "TERM");
    let left = wait_line(&err, "left to expire", &mut seen);
    assert!(left.contains(&agent), "{left}");
    assert_eq!(child.wait().unwrap().code(), Some(4), "the child's code");
    standalone.resume();
    // Leave nothing alive: the test releases what the run could not.
    let release = broker
        .bare()
        .args(["token", "release", &token])
        .output()
        .unwrap();
    assert!(release.status.success());
    assert!(!broker.is_valid(&token));
}

#[test]
fn a_signal_while_the_agent_is_being_created_aborts_the_run() {
    let standalone = Standalone::start();
    let broker = standalone.as_test_broker();
    let task = unique("abort-create");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    standalone.pause();
    let child = cmd
        .args([
            "run", "--task", &task, "--scope", SCOPE, "--", "sh", "-c", "echo ran",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Once SIGINT is caught (the handlers are installed before the agent
    // is created), the wrapper is creating the agent at a paused broker.
    let status = format!("/proc/{}/status", child.id());
    wait_for(
        "the wrapper's signal handlers",
        Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(&status).ok()?;
            let caught = text.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
            let mask = u64::from_str_radix(caught.trim(), 16).ok()?;
            (mask & (1 << 1) != 0).then_some(())
        },
    );
    kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("ran"));
    standalone.resume();
    // A registration the paused broker may still complete is revoked.
    let revoke = broker
        .admin()
        .args(["revoke", "--level", "task", "--target", &task])
        .output()
        .unwrap();
    assert!(revoke.status.success(), "{}", stderr(&revoke));
}
