//! `agentwrit run` as a production supervisor (issue 30): tokens the
//! child can rely on, renewal across a paused broker and what happens when
//! it fails for good, the release guard, signals and their origin, the
//! parent-death signal, PID 1, safe token files, `--dev`, exit codes, the
//! pseudo-terminal of `--mask-output` and its job control, several
//! credentials. The built binary with real children, against brokers the
//! tests start, or the external one of `cargo xtask conformance`
//! (`AGENTWRIT_TEST_BROKER_URL`): the cases that pause a broker they start
//! themselves (SIGSTOP) are skipped there, and say why; the ones that hold
//! a request at a loopback proxy run against an external broker that
//! speaks plain HTTP.

mod common;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use agentwrit_blocking::wire::AuditQuery;
use agentwrit_test_support::DelayProxy;
use common::*;

const SCOPE: &str = "read:data:sup";

/// Blocks until the file exists (the child's "go" signal from the test).
fn wait_go(go: &std::path::Path) -> String {
    format!("while [ ! -e '{}' ]; do sleep 0.02; done", go.display())
}

/// True, saying why, when the harness runs against the external broker of
/// `cargo xtask conformance`: for the cases that need a broker process of
/// their own to pause.
fn needs_own_broker(why: &str) -> bool {
    let set = |var: &str| std::env::var(var).is_ok_and(|v| !v.is_empty());
    if set("AGENTWRIT_TEST_BROKER_URL") && set("AGENTWRIT_TEST_ADMIN_SECRET") {
        eprintln!("skipped against the external broker of AGENTWRIT_TEST_BROKER_URL: {why}");
        return true;
    }
    false
}

/// A loopback proxy (no delay) in front of `broker`, for the wrapper to
/// use, so that a test can hold one request on its way to the broker
/// ([`DelayProxy::pause_at`]). `None`, saying why, for a broker that
/// speaks TLS: the proxy could not see the request.
fn proxy_in_front(broker: &TestBroker) -> Option<DelayProxy> {
    let Some(rest) = broker.url.strip_prefix("http://") else {
        eprintln!(
            "skipped: {} speaks TLS, and this case holds a request at a loopback proxy, which \
             must read it",
            broker.url
        );
        return None;
    };
    let authority = rest.split('/').next().unwrap();
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .unwrap()
        .next()
        .unwrap();
    Some(DelayProxy::start(upstream, Duration::ZERO).unwrap())
}

/// The detail of every audit event of `event_type` for `task`.
fn event_details(broker: &TestBroker, task: &str, event_type: &str) -> Vec<String> {
    broker
        .operator()
        .audit_events(
            AuditQuery::new()
                .task_id(task)
                .event_type(event_type)
                .limit(1000),
        )
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.detail)
        .collect()
}

/// The value of `key` (`new_jti=`) in an audit event's detail.
fn detail_value(detail: &str, key: &str) -> String {
    let start = detail
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {detail:?}"))
        + key.len();
    detail[start..]
        .split(|c: char| c.is_whitespace() || c == '|' || c == ',')
        .next()
        .unwrap()
        .to_owned()
}

/// Waits until process `pid` is gone (reaped by its parent).
fn wait_gone(what: &str, pid: &str) {
    wait_for(what, Duration::from_secs(30), || {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    });
}

/// The `State:` letter of process `pid` (`T` when stopped), if it runs.
fn state(pid: &str) -> Option<char> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .and_then(|s| s.trim().chars().next())
}

/// Waits until process `pid` has no signal `sig` pending (its handler
/// ran). Two standard signals of one number merge while pending: a
/// `kill` sent before the wrapper took the terminal's copy would be lost
/// in it.
fn wait_taken(pid: u32, sig: u32) {
    let status = format!("/proc/{pid}/status");
    wait_for(
        &format!("process {pid} to take signal {sig}"),
        Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(&status).ok()?;
            let pending = ["ShdPnd:", "SigPnd:"].iter().any(|key| {
                text.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                    .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
            });
            (!pending).then_some(())
        },
    );
}

/// `command` with every variable of `cmd` (the harness's environment for
/// the binary), for starting the wrapper through `script` or `sh`.
fn with_env_of(cmd: &Command, mut command: Command) -> Command {
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => command.env(k, v),
            None => command.env_remove(k),
        };
    }
    command
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
    if needs_own_broker(
        "it pauses the broker process (SIGSTOP), which only a broker it starts allows",
    ) {
        return;
    }
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
fn the_terminals_ctrl_c_and_a_kill_aimed_at_the_wrapper_each_reach_the_child_exactly_once() {
    if !has_script() {
        eprintln!("script (util-linux) is not here: skipped");
        return;
    }
    if ignored_here(2) || ignored_here(3) {
        eprintln!("SIGINT or SIGQUIT is ignored in this test process (inherited): skipped");
        return;
    }
    let broker = TestBroker::start();
    let (cmd, _) = broker.with_app(&[SCOPE]);
    // The child counts SIGINTs and SIGQUITs; SIGUSR1 makes it report.
    // The wrapper and the child share the terminal's foreground process
    // group: the terminal's keys reach both, a `kill` only the wrapper.
    let dir = scratch("one-sigint");
    let child = dir.join("child.sh");
    std::fs::write(
        &child,
        "ulimit -c 0; n=0; q=0; trap 'n=$((n+1)); echo int=$n' INT; trap 'q=$((q+1)); echo quit=$q' QUIT; \
         trap 'echo total=$n/$q; exit 0' USR1; echo ppid=$PPID; while :; do sleep 0.05; done\n",
    )
    .unwrap();
    let mut script = with_env_of(&cmd, Command::new("script"))
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
    let wrapper: u32 = wait_line(&out, "ppid=", &mut seen).trim()["ppid=".len()..]
        .parse()
        .unwrap();
    let mut stdin = script.stdin.take().unwrap();
    let mut type_key = |key: &[u8]| {
        stdin.write_all(key).unwrap();
        stdin.flush().unwrap();
    };
    // Each signal is waited for (by the child, and taken by the wrapper)
    // before the next is sent: a second copy of one would show in the
    // next count.
    type_key(b"\x03"); // Ctrl-C: the terminal's, not sent again
    wait_line(&out, "int=1", &mut seen);
    wait_taken(wrapper, 2);
    kill(wrapper, "INT"); // at the wrapper alone: forwarded once
    wait_line(&out, "int=2", &mut seen);
    type_key(b"\x1c"); // Ctrl-\ (SIGQUIT)
    wait_line(&out, "quit=1", &mut seen);
    wait_taken(wrapper, 3);
    kill(wrapper, "QUIT");
    wait_line(&out, "quit=2", &mut seen);
    kill(wrapper, "USR1");
    let total = wait_line(&out, "total=", &mut seen);
    assert_eq!(
        total.trim(),
        "total=2/2",
        "a signal reached the child more or less than once: {seen:?}"
    );
    drop(stdin);
    assert!(script.wait().unwrap().success());
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("int=3") || l.contains("quit=3")),
        "{seen:?}"
    );
}

#[test]
fn ctrl_z_and_sigcont_pass_through_the_pseudo_terminal_of_mask_output() {
    if !has_script() {
        eprintln!("script (util-linux) is not here: skipped");
        return;
    }
    let broker = TestBroker::start();
    let (cmd, _) = broker.with_app(&[SCOPE]);
    let dir = scratch("job-control");
    let go = dir.join("go");
    let child = dir.join("child.sh");
    std::fs::write(
        &child,
        format!(
            "echo pid=$$ ppid=$PPID; echo token=$AGENTWRIT_TOKEN; {}; echo done\n",
            wait_go(&go)
        ),
    )
    .unwrap();
    // The child runs on a pseudo-terminal of its own, in its own session:
    // the outer terminal's Ctrl-Z reaches only the wrapper, which must
    // stop the child and itself. `script` then stops itself in turn, as
    // a shell's job would; continuing it continues the wrapper, which
    // must continue the child.
    let mut script = with_env_of(&cmd, Command::new("script"))
        .args(["-qc"])
        .arg(format!(
            "exec '{BIN}' run --mask-output --scope {SCOPE} -- sh '{}'",
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
    let ids = wait_line(&out, "pid=", &mut seen).replace('\r', "");
    let pid = field(&ids.replace(' ', "\n"), "pid");
    let wrapper = field(&ids.replace(' ', "\n"), "ppid");
    assert_eq!(
        wait_line(&out, "token=", &mut seen).trim(),
        "token=<agentwrit-token>"
    );
    let mut stdin = script.stdin.take().unwrap();
    stdin.write_all(b"\x1a").unwrap(); // Ctrl-Z
    stdin.flush().unwrap();
    wait_for("the child to stop", Duration::from_secs(30), || {
        (state(&pid) == Some('T')).then_some(())
    });
    wait_for("the wrapper to stop", Duration::from_secs(30), || {
        (state(&wrapper) == Some('T')).then_some(())
    });
    // `fg`: the job is continued.
    let script_pid = script.id().to_string();
    wait_for(
        "script to stop with its job",
        Duration::from_secs(30),
        || (state(&script_pid) == Some('T')).then_some(()),
    );
    kill(script.id(), "CONT");
    wait_for("the child to continue", Duration::from_secs(30), || {
        state(&pid).filter(|s| *s != 'T').map(|_| ())
    });
    std::fs::write(&go, "").unwrap();
    wait_line(&out, "done", &mut seen);
    drop(stdin);
    assert!(script.wait().unwrap().success(), "{seen:?}");
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
    // Unreachable (was 4): a loopback port bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = Command::new(BIN)
        .env("AGENTWRIT_BROKER_URL", format!("http://127.0.0.1:{port}"))
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
    if needs_own_broker(
        "it pauses the broker process (SIGSTOP), which only a broker it starts allows",
    ) {
        return;
    }
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
fn a_signal_while_the_agent_is_being_created_aborts_the_run_and_the_agent_is_released() {
    if ignored_here(2) {
        eprintln!("SIGINT is ignored in this test process (inherited): skipped");
        return;
    }
    let broker = TestBroker::start();
    let Some(proxy) = proxy_in_front(&broker) else {
        return;
    };
    let task = unique("abort-create");
    // The registration is held on its way to the broker: the wrapper is
    // creating the agent, and the broker has not registered it yet.
    proxy.pause_at(b"POST /v1/register");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let mut child = cmd
        .env("AGENTWRIT_BROKER_URL", proxy.url())
        .args([
            "run", "--task", &task, "--scope", SCOPE, "--", "sh", "-c", "echo ran",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let err = line_reader(child.stderr.take().unwrap());
    wait_for(
        "the registration, held at the proxy",
        Duration::from_secs(30),
        || proxy.is_paused().then_some(()),
    );
    kill(child.id(), "INT");
    let mut seen = Vec::new();
    // The wrapper gave the creation up; the registration it sent is still
    // on its way. Let it reach the broker, which registers the agent.
    wait_line(&err, "interrupted", &mut seen);
    proxy.resume();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen:?}");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(!out.contains("ran"), "the command ran: {out}");
    // At the audit trail: the agent registered after the signal, and its
    // token was released before the wrapper exited.
    let registered = event_details(&broker, &task, "agent_registered");
    assert_eq!(registered.len(), 1, "the registration reached the broker");
    let issued: Vec<String> = event_details(&broker, &task, "token_issued")
        .iter()
        .map(|d| detail_value(d, "jti="))
        .collect();
    let released: Vec<String> = event_details(&broker, &task, "token_released")
        .iter()
        .map(|d| detail_value(d, "jti="))
        .collect();
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(
        released, issued,
        "the agent registered during the aborted creation was left alive"
    );
}

#[test]
fn a_renewal_in_flight_when_the_child_exits_leaves_no_token_file_and_no_live_token() {
    let broker = TestBroker::start();
    let Some(proxy) = proxy_in_front(&broker) else {
        return;
    };
    let dir = scratch("renewal-in-flight");
    let file = dir.join("token");
    let go = dir.join("go");
    let task = unique("renewal-in-flight");
    // The renewal request (due at 8 s) is held on its way to the broker.
    // Released within the 2 s left before the token expires, it renews.
    proxy.pause_at(b"POST /v1/token/renew");
    let (mut cmd, _) = broker.with_app(&[SCOPE]);
    let mut child = cmd
        .env("AGENTWRIT_BROKER_URL", proxy.url())
        .args(["run", "--ttl", "10s", "--task", &task, "--scope", SCOPE])
        .arg("--token-file")
        .arg(&file)
        .args(["--", "sh", "-c"])
        .arg(format!("echo pid=$$; {}", wait_go(&go)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = line_reader(child.stdout.take().unwrap());
    let err = line_reader(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    let pid = wait_line(&out, "pid=", &mut seen)["pid=".len()..].to_owned();
    let first = read_when_present(&file);
    wait_for(
        "the renewal, held at the proxy",
        Duration::from_secs(30),
        || proxy.is_paused().then_some(()),
    );
    // The child exits while the renewal is in flight; the run ends and
    // removes the token file.
    std::fs::write(&go, "").unwrap();
    wait_gone("the child's exit", &pid);
    wait_for("the token file's removal", Duration::from_secs(30), || {
        (!file.exists()).then_some(())
    });
    // Now the renewal reaches the broker and its answer comes back.
    proxy.resume();
    let status = child.wait().unwrap();
    let errors: Vec<String> = err.try_iter().collect();
    assert_eq!(status.code(), Some(0), "{errors:?}");
    assert!(
        !file.exists(),
        "the renewal answered during the release wrote the token file again"
    );
    assert!(!broker.is_valid(&first), "the first token outlived the run");
    // The renewed token (which no one but the wrapper saw) was released.
    let renewed = event_details(&broker, &task, "token_renewed");
    assert_eq!(renewed.len(), 1, "{renewed:?}");
    let new_jti = detail_value(&renewed[0], "new_jti=");
    let released: Vec<String> = event_details(&broker, &task, "token_released")
        .iter()
        .map(|d| detail_value(d, "jti="))
        .collect();
    assert!(
        released.contains(&new_jti),
        "the renewed token {new_jti} was not released: {released:?}"
    );
}

/// A run whose renewal never gets an answer: `--ttl 3s`, a token file (so
/// the token is renewed), `--on-renew-failure MODE`, the renewal's first
/// request (the broker's health) held at a loopback proxy until the
/// token has expired and the wrapper gave up.
struct RenewalNeverAnswered {
    broker: TestBroker,
    proxy: DelayProxy,
    child: std::process::Child,
    out: Receiver<String>,
    err: Receiver<String>,
    seen: Vec<String>,
    go: PathBuf,
}

impl RenewalNeverAnswered {
    /// `None` when the broker cannot be put behind the proxy (TLS).
    fn start(global: &[&str], extra: &[&str], mode: &str, child: &str) -> Option<Self> {
        let broker = TestBroker::start();
        let proxy = proxy_in_front(&broker)?;
        proxy.pause_at(b"GET /v1/health");
        let dir = scratch("renew-failure");
        let go = dir.join("go");
        let (mut cmd, _) = broker.with_app(&[SCOPE]);
        let mut child = cmd
            .env("AGENTWRIT_BROKER_URL", proxy.url())
            .args(global)
            .args([
                "run",
                "--ttl",
                "3s",
                "--scope",
                SCOPE,
                "--on-renew-failure",
                mode,
            ])
            .args(extra)
            .arg("--token-file")
            .arg(dir.join("token"))
            .args(["--", "sh", "-c", &child.replace("WAIT_GO", &wait_go(&go))])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = line_reader(child.stdout.take().unwrap());
        let err = line_reader(child.stderr.take().unwrap());
        Some(RenewalNeverAnswered {
            broker,
            proxy,
            child,
            out,
            err,
            seen: Vec::new(),
            go,
        })
    }

    fn line(&mut self, needle: &str) -> String {
        wait_line(&self.out, needle, &mut self.seen)
    }

    /// Waits until the wrapper says it gave up (the token expired), then
    /// lets traffic through again (for the release); the line.
    fn gave_up(&mut self) -> String {
        let line = wait_line(&self.err, "before it expired", &mut self.seen);
        assert!(self.proxy.is_paused(), "the renewal was not held");
        self.proxy.resume();
        line
    }

    /// The wrapper's exit code, and the rest of its stdout and stderr.
    fn finish(mut self) -> (Option<i32>, Vec<String>, Vec<String>) {
        let code = self.child.wait().unwrap().code();
        let out = self.out.iter().collect();
        let err = self.err.iter().collect();
        (code, out, err)
    }
}

#[test]
fn on_renew_failure_continue_lets_the_child_run_on_with_its_expired_token() {
    let child = "echo token=$AGENTWRIT_TOKEN; echo url=$AGENTWRIT_CREDENTIALS_URL; \
                 echo auth=$AGENTWRIT_CREDENTIALS_AUTH; trap 'echo signalled' TERM USR1; \
                 WAIT_GO; echo still-running; exit 3";
    let Some(mut run) = RenewalNeverAnswered::start(&[], &["--serve"], "continue", child) else {
        return;
    };
    let token = run.line("token=")["token=".len()..].to_owned();
    let url = run.line("url=")["url=".len()..].to_owned();
    let auth = run.line("auth=")["auth=".len()..].to_owned();
    let gave_up = run.gave_up();
    assert!(gave_up.contains("failed"), "{gave_up}");
    // The endpoint says the token is gone, the child is not disturbed.
    let (status, body) = http_get(&url, &auth);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("could not be renewed"), "{body}");
    // The broker agrees (its clock counts whole seconds: the token may
    // still pass for the rest of its last second).
    wait_for("the token's expiry", Duration::from_secs(30), || {
        (!run.broker.is_valid(&token)).then_some(())
    });
    std::fs::write(&run.go, "").unwrap();
    run.line("still-running");
    let (code, out, err) = run.finish();
    assert_eq!(code, Some(3), "the child's own code: {err:?}");
    assert!(!out.iter().any(|l| l.contains("signalled")), "{out:?}");
}

#[test]
fn on_renew_failure_signal_sends_the_child_sigterm_or_the_signal_named() {
    for (mode, sig, code) in [("signal", "TERM", 6), ("signal:USR1", "USR1", 5)] {
        let child = "trap 'echo got=TERM; exit 6' TERM; trap 'echo got=USR1; exit 5' USR1; \
                     echo ready; while :; do sleep 0.05; done";
        let Some(mut run) = RenewalNeverAnswered::start(&[], &[], mode, child) else {
            return;
        };
        run.line("ready");
        run.gave_up();
        let got = run.line("got=");
        assert_eq!(got, format!("got={sig}"), "{mode}");
        let (exit, _, err) = run.finish();
        assert_eq!(exit, Some(code), "{mode}: the child's code: {err:?}");
    }
}

#[test]
fn on_renew_failure_exit_stops_the_child_and_exits_125() {
    let child = "trap 'echo got=TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done";
    let Some(mut run) = RenewalNeverAnswered::start(&["--json"], &[], "exit", child) else {
        return;
    };
    run.line("ready");
    run.gave_up();
    assert_eq!(run.line("got="), "got=TERM");
    let (code, _, err) = run.finish();
    assert_eq!(code, Some(125), "{err:?}");
    let last: serde_json::Value = serde_json::from_str(err.last().unwrap()).unwrap();
    assert_eq!(last["error"]["class"], "renewal", "{last}");
    assert_eq!(last["error"]["exit_code"], 125);
    let message = last["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not be renewed") && message.contains("--on-renew-failure exit"),
        "{message}"
    );
}

/// A plain HTTP/1.1 `GET` with a bearer secret: (status, body).
fn http_get(url: &str, auth: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, "/".to_owned()),
    };
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {auth}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

#[test]
fn when_the_wrapper_is_killed_the_child_gets_the_parent_death_signal() {
    let broker = TestBroker::start();
    // (flag, what the child's traps see)
    for (flag, expected) in [
        (None, Some("TERM")),
        (Some("USR1"), Some("USR1")),
        (Some("none"), None),
    ] {
        let dir = scratch("parent-death");
        let go = dir.join("go");
        let (mut cmd, _) = broker.with_app(&[SCOPE]);
        cmd.arg("run");
        if let Some(flag) = flag {
            cmd.args(["--parent-death-signal", flag]);
        }
        let mut wrapper = cmd
            .args(["--scope", SCOPE, "--", "sh", "-c"])
            .arg(format!(
                "trap 'echo got=TERM; exit 0' TERM; trap 'echo got=USR1; exit 0' USR1; \
                 echo token=$AGENTWRIT_TOKEN; echo ready; {}; echo got=nothing",
                wait_go(&go)
            ))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = line_reader(wrapper.stdout.take().unwrap());
        let mut seen = Vec::new();
        let token = wait_line(&out, "token=", &mut seen)["token=".len()..].to_owned();
        wait_line(&out, "ready", &mut seen);
        kill(wrapper.id(), "KILL");
        // Reaped: its death (and so the parent-death signal) is over.
        assert_eq!(wrapper.wait().unwrap().code(), None);
        // Only a child that got no signal sees the go file.
        std::fs::write(&go, "").unwrap();
        let got = wait_line(&out, "got=", &mut seen);
        assert_eq!(
            got,
            format!("got={}", expected.unwrap_or("nothing")),
            "--parent-death-signal {flag:?}"
        );
        // A killed wrapper cannot release: the test does.
        let release = broker
            .bare()
            .args(["token", "release", &token])
            .output()
            .unwrap();
        assert!(release.status.success(), "{}", stderr(&release));
        assert!(!broker.is_valid(&token));
    }
}
