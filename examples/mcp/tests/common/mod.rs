//! What the tests of the MCP examples share: a development broker in this
//! process, the built `mcp_server` binary as a child process on
//! 127.0.0.1:0, and the broker's audit trail.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use agentwrit_blocking::wire::AuditQuery;
use agentwrit_blocking::{App, Operator};
use agentwrit_devbroker::{DevBroker, DevBrokerHandle, RegisteredApp};

pub struct Env {
    pub broker: DevBrokerHandle,
    pub reg: RegisteredApp,
    pub app: App,
}

pub fn env() -> Env {
    let broker = DevBroker::builder().no_rate_limits().start().unwrap();
    let reg = broker.register_universal_app().unwrap();
    let app = App::new(
        broker.url(),
        &reg.client_id,
        reg.client_secret.expose_secret(),
    )
    .unwrap();
    Env { broker, reg, app }
}

/// An MCP server example, running; killed when dropped: the `mcp_server`
/// binary, or the Python server (`python/mcp_server.py`).
pub struct Server {
    /// `None` once stopped.
    child: Option<Child>,
    /// What it prints after it is ready, read to the end.
    rest: Option<std::thread::JoinHandle<Vec<String>>>,
    /// `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    /// The protected-resource metadata URL it printed.
    pub metadata_url: String,
}

impl Server {
    /// Starts the built binary against `broker_url` with `extra` arguments
    /// and reads what it prints until it is ready.
    pub fn start(broker_url: &str, extra: &[&str]) -> Server {
        Server::spawn(
            Command::new(env!("CARGO_BIN_EXE_mcp_server")),
            broker_url,
            extra,
        )
    }

    /// Starts the Python server (`python/mcp_server.py`) with `python`
    /// (an interpreter with `agentwrit_rs` and `mcp` installed), the same
    /// arguments and the same output as the binary.
    pub fn start_python(python: &str, broker_url: &str, extra: &[&str]) -> Server {
        let mut cmd = Command::new(python);
        cmd.arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("python")
                .join("mcp_server.py"),
        );
        Server::spawn(cmd, broker_url, extra)
    }

    fn spawn(mut cmd: Command, broker_url: &str, extra: &[&str]) -> Server {
        let mut child = cmd
            .args(["--port", "0", "--broker-url", broker_url])
            .args(extra)
            .env_remove("AGENTWRIT_BROKER_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut server = Server {
            child: Some(child),
            rest: None,
            url: String::new(),
            metadata_url: String::new(),
        };
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(url) = line.strip_prefix("MCP server listening on ") {
                server.url = url.to_owned();
            } else if let Some(url) = line.strip_prefix("protected resource metadata: ") {
                server.metadata_url = url.to_owned();
            } else if line.starts_with("press Ctrl-C") {
                break;
            }
        }
        assert!(
            server.url.starts_with("http://127.0.0.1:"),
            "server did not start"
        );
        server.rest = Some(std::thread::spawn(move || {
            lines.map_while(Result::ok).collect()
        }));
        server
    }

    /// Stops it with `signal` (`TERM`, `INT`) as a user or a supervisor
    /// would, and waits for it to exit (at most a minute, then it is
    /// killed and the test fails): its exit status and the lines it
    /// printed after it was ready.
    pub fn stop(mut self, signal: &str) -> (ExitStatus, Vec<String>) {
        let mut child = self.child.take().unwrap();
        let pid = child.id();
        let sent = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -s {signal} {pid}");
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let status = child.wait();
            let _ = tx.send(());
            status
        });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &pid.to_string()])
                .status();
            panic!("the server did not exit within a minute of SIG{signal}");
        }
        let status = waiter.join().unwrap().unwrap();
        let rest = self.rest.take().unwrap().join().unwrap();
        (status, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the built `mcp_agent` binary against `server` with the app of
/// `env`: its output.
pub fn run_agent(env: &Env, server: &Server) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mcp_agent"))
        .env("AGENTWRIT_BROKER_URL", env.broker.url())
        .env("AGENTWRIT_CLIENT_ID", &env.reg.client_id)
        .env(
            "AGENTWRIT_CLIENT_SECRET",
            env.reg.client_secret.expose_secret(),
        )
        .env("AGENTWRIT_MCP_URL", &server.url)
        .env_remove("AGENTWRIT_CA_FILE")
        .env_remove("AGENTWRIT_CLIENT_CERT")
        .env_remove("AGENTWRIT_CLIENT_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every agent registered at the broker is dead there: its token was
/// released (`token_released` for its agent and task), or it is one of
/// `revoked` (agent id, token id), whose `token_revoked` event names the
/// token. One release per other registration: no credential outlives the
/// test. Returns the number of agents registered.
pub fn assert_no_live_token(env: &Env, revoked: &[(String, String)]) -> usize {
    let operator = Operator::new(env.broker.url(), env.broker.admin_secret().clone()).unwrap();
    let events = operator.audit_events_all(AuditQuery::new()).unwrap();
    let of = |kind: &str| -> Vec<_> { events.iter().filter(|e| e.event_type == kind).collect() };
    let registered = of("agent_registered");
    let released = of("token_released");
    let revocations = of("token_revoked");
    for agent in &registered {
        let id = agent.agent_id.as_deref().unwrap();
        let task = agent.task_id.as_deref().unwrap();
        if let Some((_, jti)) = revoked.iter().find(|(a, _)| a == id) {
            assert!(
                revocations
                    .iter()
                    .any(|r| r.agent_id.as_deref() == Some(jti.as_str())),
                "no token_revoked for {id}'s token"
            );
            continue;
        }
        assert!(
            released
                .iter()
                .any(|r| r.agent_id.as_deref() == Some(id) && r.task_id.as_deref() == Some(task)),
            "no token_released for {id} (task {task})"
        );
    }
    assert_eq!(
        released.len(),
        registered.len() - revoked.len(),
        "one release per token"
    );
    registered.len()
}
