//! `agentwrit run`: the supervisor. Creates the agent, runs the child with
//! the token in its environment, renews on the SDK's schedule, forwards
//! signals, and releases the token on every way out.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use agentwrit_async::wire::{LaunchToken, Timestamp};
use agentwrit_async::{Agent, AgentOptions};
use rustix::process::{Pid, Signal, kill_process};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::RunArgs;
use crate::connect;
use crate::error::CliError;
use crate::mask::{self, Secrets};
use crate::serve;

/// How long the output pumps may take to drain after the child exited
/// (a grandchild that keeps the pipe open must not hold the release).
const DRAIN: Duration = Duration::from_secs(2);

/// Runs the child; its exit code (128+N when signal N killed it).
pub async fn run(args: RunArgs, json: bool) -> Result<u8, CliError> {
    // Installed first, so that a signal sent while the agent is being
    // created is held and forwarded to the child as soon as it exists.
    let mut signals = Signals::install()?;
    let (agent, broker_url, embedded) = create_agent(&args, json).await?;
    let outcome = supervise(&args, &agent, &broker_url, &mut signals).await;
    let agent_id = agent.agent_id();
    if let Err(e) = agent.release_task().await {
        report_release_failure(&agent_id, &e, json);
    }
    if let Some(path) = &args.token_file {
        let _ = std::fs::remove_file(path);
    }
    drop(embedded);
    outcome
}

fn report_release_failure(agent_id: &str, e: &agentwrit_async::Error, json: bool) {
    if json {
        eprintln!(
            "{}",
            serde_json::json!({"warning": "release failed", "agent_id": agent_id, "error": e.to_string()})
        );
    } else {
        eprintln!("agentwrit: releasing agent {agent_id} failed: {e}");
    }
}

async fn create_agent(
    args: &RunArgs,
    json: bool,
) -> Result<(Agent, String, Option<connect::Embedded>), CliError> {
    if let Some(var) = &args.launch_token_env {
        let token = std::env::var(var)
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                CliError::Usage(format!("--launch-token-env {var}: {var} is not set"))
            })?;
        let broker = connect::broker_from_env()?;
        let agent = broker
            .register_agent(LaunchToken::new(token), &args.orch, &args.task, &args.scope)
            .await?;
        let url = connect::broker_url().unwrap_or_default();
        return Ok((agent, url, None));
    }
    let mut options = AgentOptions::new();
    if let Some(ttl) = args.ttl {
        options = options.with_max_ttl(ttl);
    }
    if let Some(label) = &args.label {
        options = options.with_label(label.clone());
    }
    let (app, embedded) = if connect::broker_url().is_some() {
        (connect::app_from_env()?, None)
    } else {
        let embedded = connect::embedded(&args.scope)?;
        let url = embedded.broker.url().to_owned();
        if json {
            eprintln!(
                "{}",
                serde_json::json!({"notice": "embedded development broker", "broker_url": url})
            );
        } else {
            eprintln!(
                "agentwrit: AGENTWRIT_BROKER_URL is not set: using an embedded development broker at {url} (it stops when the command ends)"
            );
        }
        (embedded.app.clone(), Some(embedded))
    };
    let agent = app
        .create_agent_with(&args.orch, &args.task, &args.scope, options)
        .await?;
    Ok((agent, app.broker_url().to_owned(), embedded))
}

async fn supervise(
    args: &RunArgs,
    agent: &Agent,
    broker_url: &str,
    signals: &mut Signals,
) -> Result<u8, CliError> {
    let secrets = Secrets::default();
    secrets.add(agent.access_token().expose_secret());
    if let Some(path) = &args.token_file {
        write_token_file(path, agent)?;
    }
    let endpoint = match args.serve {
        true => Some(serve::start(agent.clone()).await?),
        false => None,
    };
    let result = spawn_and_wait(
        args,
        agent,
        broker_url,
        signals,
        &secrets,
        endpoint.as_ref(),
    )
    .await;
    if let Some(endpoint) = endpoint {
        endpoint.stop().await;
    }
    result
}

async fn spawn_and_wait(
    args: &RunArgs,
    agent: &Agent,
    broker_url: &str,
    signals: &mut Signals,
    secrets: &Secrets,
    endpoint: Option<&serve::Endpoint>,
) -> Result<u8, CliError> {
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| CliError::Usage("no command after --".into()))?;
    let mut command = tokio::process::Command::new(program);
    command.args(rest);
    for var in connect::SECRET_VARS {
        command.env_remove(var);
    }
    if let Some(var) = &args.launch_token_env {
        command.env_remove(var);
    }
    command
        .env("AGENTWRIT_TOKEN", agent.access_token().expose_secret())
        .env("AGENTWRIT_AGENT_ID", agent.agent_id())
        .env("AGENTWRIT_SCOPE", agent.scope().join(" "))
        .env("AGENTWRIT_TOKEN_EXPIRES_AT", rfc3339(agent.expires_at()))
        .env("AGENTWRIT_BROKER_URL", broker_url);
    if let Some(path) = &args.token_file {
        command.env("AGENTWRIT_TOKEN_FILE", absolute(path));
    }
    if let Some(endpoint) = endpoint {
        command
            .env("AGENTWRIT_CREDENTIALS_URL", &endpoint.url)
            .env("AGENTWRIT_CREDENTIALS_AUTH", &endpoint.auth);
    }
    if args.mask_output {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let mut child = command.spawn().map_err(|source| CliError::Spawn {
        program: program.clone(),
        source,
    })?;
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(mask::pump(
            out,
            tokio::io::stdout(),
            secrets.clone(),
        )));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(mask::pump(
            err,
            tokio::io::stderr(),
            secrets.clone(),
        )));
    }

    let mut renewing = true;
    let status: ExitStatus = loop {
        let renewal = renewal_due(agent, renewing);
        tokio::select! {
            status = child.wait() => break status.map_err(|e| CliError::io("waiting for the child", e))?,
            Some(sig) = signals.next() => forward(pid, sig),
            () = renewal => {
                match agent.renew().await {
                    Ok(()) => after_renewal(args, agent, secrets, pid),
                    Err(e) => {
                        renewing = false;
                        eprintln!(
                            "agentwrit: renewing the token failed, it expires at {}: {e}",
                            rfc3339(agent.expires_at())
                        );
                    }
                }
            }
        }
    };
    for pump in pumps {
        let _ = tokio::time::timeout(DRAIN, pump).await;
    }
    Ok(exit_code(status))
}

/// Resolves when the SDK's schedule says to renew (never once renewal
/// stopped or the agent is released).
async fn renewal_due(agent: &Agent, renewing: bool) {
    match agent.next_renewal_at().filter(|_| renewing) {
        Some(at) => {
            let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(wait).await;
        }
        None => std::future::pending().await,
    }
}

fn after_renewal(args: &RunArgs, agent: &Agent, secrets: &Secrets, pid: Option<Pid>) {
    secrets.add(agent.access_token().expose_secret());
    if let Some(path) = &args.token_file
        && let Err(e) = write_token_file(path, agent)
    {
        eprintln!("agentwrit: {e}");
    }
    if let Some(sig) = args.renew_signal.and_then(Signal::from_named_raw) {
        forward(pid, sig);
    }
}

fn forward(pid: Option<Pid>, sig: Signal) {
    if let Some(pid) = pid {
        // The child may have exited in between: nothing to tell it.
        let _ = kill_process(pid, sig);
    }
}

fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(sig)) => u8::try_from((128 + sig) & 0xff).unwrap_or(1),
        (None, None) => 1,
    }
}

fn rfc3339(at: SystemTime) -> String {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    Timestamp::from_unix_seconds(i64::try_from(secs).unwrap_or(i64::MAX))
        .as_str()
        .to_owned()
}

fn absolute(path: &Path) -> OsString {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .into_os_string()
}

/// Writes the current token to `path`: a new file (mode 0600) in the
/// same directory, renamed over the old one, so a reader sees the old
/// token or the new one, never a mix.
fn write_token_file(path: &Path, agent: &Agent) -> Result<(), CliError> {
    let context = || format!("writing the token file {}", path.display());
    let mut tmp: PathBuf = path.to_path_buf();
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(format!(".agentwrit-{}.tmp", std::process::id()));
    tmp.set_file_name(name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| CliError::io(context(), e))?;
    let written = file
        .write_all(agent.access_token().expose_secret().as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::io(context(), e));
    }
    Ok(())
}

/// The signals forwarded to the child.
struct Signals {
    streams: Vec<(tokio::signal::unix::Signal, Signal)>,
}

impl Signals {
    fn install() -> Result<Self, CliError> {
        let mut streams = Vec::new();
        for (kind, sig) in [
            (SignalKind::interrupt(), Signal::INT),
            (SignalKind::terminate(), Signal::TERM),
            (SignalKind::hangup(), Signal::HUP),
            (SignalKind::quit(), Signal::QUIT),
        ] {
            let stream = signal(kind).map_err(|e| CliError::io("installing signal handlers", e))?;
            streams.push((stream, sig));
        }
        Ok(Signals { streams })
    }

    /// The next signal received.
    async fn next(&mut self) -> Option<Signal> {
        let futures = self.streams.iter_mut().map(|(stream, sig)| {
            let sig = *sig;
            Box::pin(async move { stream.recv().await.map(|()| sig) })
        });
        futures_select_all(futures).await
    }
}

async fn futures_select_all<F>(futures: impl Iterator<Item = F>) -> Option<Signal>
where
    F: std::future::Future<Output = Option<Signal>> + Unpin,
{
    let mut futures: Vec<F> = futures.collect();
    std::future::poll_fn(move |cx| {
        for f in &mut futures {
            if let std::task::Poll::Ready(out) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(out);
            }
        }
        std::task::Poll::Pending
    })
    .await
}
