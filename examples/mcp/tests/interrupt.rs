//! Ctrl-C in the middle of a task: the built `mcp_agent`, talking to a
//! development broker through a loopback proxy that holds every answer
//! back (so the interrupt lands while requests are in flight), gets SIGINT
//! at several points of its first task — its creation under way, its tool
//! session opening, its tool calls — and must exit with status 130 having
//! released what it obtained: the broker's audit trail shows no live token.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A loopback proxy to `upstream` that holds each chunk of the answers
/// back for `delay`; runs until the test process ends.
fn delay_proxy(upstream: &str, delay: Duration) -> String {
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(&upstream) else {
                return;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(client, server, Duration::ZERO));
            std::thread::spawn(move || pump(s2, c2, delay));
        }
    });
    url
}

fn pump(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let mut buf = vec![0_u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        std::thread::sleep(delay);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Runs the agent against `broker_url` and `mcp_url`, sends SIGINT as soon
/// as it prints a line starting with `cue`, and returns its exit code and
/// what it printed.
fn interrupt_at(env: &common::Env, broker_url: &str, mcp_url: &str, cue: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp_agent"))
        .env("AGENTWRIT_BROKER_URL", broker_url)
        .env("AGENTWRIT_CLIENT_ID", &env.reg.client_id)
        .env(
            "AGENTWRIT_CLIENT_SECRET",
            env.reg.client_secret.expose_secret(),
        )
        .env("AGENTWRIT_MCP_URL", mcp_url)
        .env_remove("AGENTWRIT_CA_FILE")
        .env_remove("AGENTWRIT_CLIENT_CERT")
        .env_remove("AGENTWRIT_CLIENT_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Lines arrive through a thread, so the wait for the cue is bounded.
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut printed = String::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("no {cue:?} line ({e}); so far:\n{printed}"));
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with(cue) {
            break;
        }
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    printed.extend(lines.iter().map(|l| l + "\n"));
    let code = status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal ({status}):\n{printed}\n{stderr}"));
    assert!(
        code != 130 || stderr.contains("interrupted; the task's token is released"),
        "{stderr}"
    );
    (code, format!("{printed}\n{stderr}"))
}

#[test]
fn ctrl_c_mid_task_exits_130_and_leaves_no_live_token() {
    // The cues, in the order the first task prints them: the task's
    // heading (its creation is under way: four requests behind the proxy),
    // the agent's id (created; its tool session is opening), the first
    // tool result (calls in progress, the release not yet sent).
    for cue in ["== task process-", "  agent spiffe://", "  [READ]"] {
        let env = common::env();
        let proxy = delay_proxy(env.broker.url(), Duration::from_millis(150));
        // The server asks the broker through the proxy too, so each
        // verification it makes is held back as well.
        let server = common::Server::start(&proxy, &[]);
        let (code, output) = interrupt_at(&env, &proxy, &server.url, cue);
        assert_eq!(code, 130, "interrupted at {cue:?}:\n{output}");
        assert!(
            !output.contains("[RELEASE]"),
            "the task ended before the interrupt at {cue:?}:\n{output}"
        );
        drop(server);
        let agents = common::assert_no_live_token(&env, &[]);
        assert!(agents <= 1, "{agents} agents for one task");
        if cue != "== task process-" {
            assert_eq!(agents, 1, "interrupted at {cue:?} after the agent existed");
        }
    }
}
