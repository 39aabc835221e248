//! `agentwrit run`: the supervisor. Creates one agent per credential, runs
//! the child with the tokens in its environment (and files, and the
//! endpoint), renews beside the supervision, forwards signals, and
//! releases every agent on every way out.
//!
//! The files, one idea each: [`plan`] (credentials from the command line
//! and `agentwrit.toml`), [`env`](mod@env) (the child's environment), [`child`]
//! (starting, masking and reaping the child), [`exec`] (the child's own
//! set-up before the user's command), [`signals`] (what is forwarded),
//! [`renew`] (renewal with retries), [`tokenfile`] (safe token files).
//! This file is the order of things and the release guard.

mod child;
mod env;
pub mod exec;
mod plan;
mod renew;
mod signals;
mod tokenfile;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use agentwrit_async::wire::LaunchToken;
use agentwrit_async::{AgentGuard, AgentOptions, App, Broker};
use rustix::process::Signal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cli::{OnRenewFailure, RunArgs};
use crate::connect;
use crate::error::CliError;
use crate::mask::Secrets;
use crate::output;
use crate::serve;
use crate::time::rfc3339;

pub use renew::effective_expiry;

use child::Child;
use plan::Plan;
use signals::Signals;

/// Runs the child; its exit code (128+N when signal N killed it).
pub async fn run(args: RunArgs, json: bool) -> Result<u8, CliError> {
    let plan = Plan::from_args(&args)?;
    // Installed first: a signal while the agents are being created
    // aborts the creation; one after is forwarded to the child.
    let mut signals = Signals::install(child::wants_pty(args.mask_output))?;
    let connection = Connection::open(&plan, &args, json)?;
    let agents = {
        let created = create_agents(&connection, &plan, json);
        tokio::pin!(created);
        loop {
            tokio::select! {
                agents = &mut created => break agents?,
                sig = signals.next() => {
                    if matches!(sig, Signal::INT | Signal::TERM | Signal::HUP | Signal::QUIT) {
                        // Dropping `created` drops the guards of the agents
                        // already registered, which releases them.
                        return Err(CliError::Interrupted { signal: sig.as_raw() });
                    }
                }
            }
        }
    };
    let mut guard = ReleaseGuard {
        files: Vec::new(),
        agents,
    };
    let mut resources = Resources::default();
    let outcome = supervise(
        &args,
        &plan,
        &connection,
        &mut guard,
        &mut resources,
        &mut signals,
        json,
    )
    .await;
    panic_hook_for_tests();
    let code = match &outcome {
        Ok(code) => *code,
        Err(e) => e.run_exit_code(),
    };
    finish(guard, resources, &mut signals, json, code).await;
    outcome
}

/// What a run reaches the broker through.
struct Connection {
    /// The embedded development broker of `--dev` (stops when dropped).
    _embedded: Option<connect::Embedded>,
    broker: Broker,
    app: Option<App>,
    url: String,
    /// Per credential: its launch token, when it registers with one.
    launch_tokens: Vec<Option<String>>,
    /// Variables the child never sees, by name.
    strip_names: Vec<String>,
    /// Values the child never sees, whatever the variable.
    strip_values: Vec<String>,
}

impl Connection {
    fn open(plan: &Plan, args: &RunArgs, json: bool) -> Result<Connection, CliError> {
        let mut strip_names: Vec<String> = connect::SECRET_VARS.map(str::to_owned).to_vec();
        let mut strip_values = connect::secret_values();
        let mut launch_tokens = Vec::new();
        for c in &plan.credentials {
            let token = match &c.launch_token_env {
                Some(var) => {
                    let value = std::env::var(var)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| {
                            CliError::Usage(format!("launch token variable {var} is not set"))
                        })?;
                    strip_names.push(var.clone());
                    strip_values.push(value.clone());
                    Some(value)
                }
                None => None,
            };
            launch_tokens.push(token);
        }
        if args.dev {
            if launch_tokens.iter().any(Option::is_some) {
                return Err(CliError::Usage(
                    "--dev makes its own app: a launch token cannot be used with it".into(),
                ));
            }
            let embedded = connect::embedded(&plan.all_scopes())?;
            let url = embedded.broker.url().to_owned();
            let ignored = match connect::broker_url() {
                Some(_) => " (AGENTWRIT_BROKER_URL is ignored)",
                None => "",
            };
            output::notice(
                json,
                &serde_json::json!({"notice": "embedded development broker", "broker_url": url}),
                &format!(
                    "--dev: using an embedded development broker at {url}{ignored}; it stops when the command ends"
                ),
            );
            return Ok(Connection {
                broker: embedded.app.broker().clone(),
                app: Some(embedded.app.clone()),
                url,
                _embedded: Some(embedded),
                launch_tokens,
                strip_names,
                strip_values,
            });
        }
        let broker = connect::run_broker_from_env()?;
        let app = match launch_tokens.iter().any(Option::is_none) {
            true => Some(connect::app_from_env(&broker)?),
            false => None,
        };
        Ok(Connection {
            url: broker.url().to_owned(),
            broker,
            app,
            _embedded: None,
            launch_tokens,
            strip_names,
            strip_values,
        })
    }
}

/// Creates one agent per credential, in order. If one fails, those
/// created are released before the error is returned.
async fn create_agents(
    connection: &Connection,
    plan: &Plan,
    json: bool,
) -> Result<Vec<AgentGuard>, CliError> {
    let mut made: Vec<AgentGuard> = Vec::new();
    for (c, launch) in plan.credentials.iter().zip(&connection.launch_tokens) {
        let created: Result<_, CliError> = match (launch, &connection.app) {
            (Some(token), _) => connection
                .broker
                .register_agent(LaunchToken::new(token.clone()), &c.orch, &c.task, &c.scope)
                .await
                .map_err(Into::into),
            (None, Some(app)) => {
                let mut options = AgentOptions::new();
                if let Some(ttl) = c.ttl {
                    options = options.with_max_ttl(ttl);
                }
                if let Some(label) = &c.label {
                    options = options.with_label(label.clone());
                }
                app.create_agent_with(&c.orch, &c.task, &c.scope, options)
                    .await
                    .map_err(Into::into)
            }
            (None, None) => Err(CliError::Usage(
                "no app credentials to create the agent with".into(),
            )),
        };
        match created {
            Ok(agent) => made.push(agent.release_on_drop()),
            Err(e) => {
                if let Some(name) = &c.name {
                    output::notice(
                        json,
                        &serde_json::json!({"warning": "credential not created", "credential": name}),
                        &format!("creating the agent of credential {name} failed"),
                    );
                }
                for agent in made {
                    let _ = agent.release_task().await;
                }
                return Err(e);
            }
        }
    }
    Ok(made)
}

/// The release guard: owns the agents and the token files from the
/// moment the agents exist. The normal path empties it in [`finish`];
/// on any other path (a panic, an early return) its drop removes the
/// token files first, then drops the agents' own guards, which end their
/// tasks at the broker before the drop returns (the SDK's releaser
/// thread, independent of this runtime).
struct ReleaseGuard {
    files: Vec<PathBuf>,
    agents: Vec<AgentGuard>,
}

impl ReleaseGuard {
    fn remove_files(&mut self) {
        for file in self.files.drain(..) {
            let _ = std::fs::remove_file(file);
        }
    }
}

impl Drop for ReleaseGuard {
    fn drop(&mut self) {
        self.remove_files();
        // `agents` is dropped after this: each guard releases.
    }
}

/// What runs beside the child and stops before the release.
#[derive(Default)]
struct Resources {
    endpoint: Option<serve::Endpoint>,
    renewals: Option<renew::Renewals>,
    announcements: Vec<JoinHandle<()>>,
}

async fn supervise(
    args: &RunArgs,
    plan: &Plan,
    connection: &Connection,
    guard: &mut ReleaseGuard,
    resources: &mut Resources,
    signals: &mut Signals,
    json: bool,
) -> Result<u8, CliError> {
    let secrets = Secrets::default();
    for agent in &guard.agents {
        secrets.add(agent.access_token().expose_secret());
    }
    if let Some(dir) = &plan.token_dir {
        tokenfile::ensure_dir(dir).map_err(|e| {
            CliError::io(format!("creating the token directory {}", dir.display()), e)
        })?;
    }
    for (c, agent) in plan.credentials.iter().zip(&guard.agents) {
        if let Some(path) = &c.token_file {
            guard.files.push(path.clone());
            tokenfile::write(path, agent.access_token().expose_secret()).map_err(|e| {
                CliError::io(format!("writing the token file {}", path.display()), e)
            })?;
        }
    }
    if plan.serve {
        let served = plan
            .credentials
            .iter()
            .zip(&guard.agents)
            .map(|(c, agent)| serve::Served {
                path: c.endpoint_path(),
                agent: (**agent).clone(),
                renewed: plan.renews(c),
            })
            .collect();
        resources.endpoint = Some(serve::start(served).await?);
    }

    let mut set: Vec<(String, OsString)> = Vec::new();
    for (c, agent) in plan.credentials.iter().zip(&guard.agents) {
        let p = c.env_prefix();
        let expires = effective_expiry(agent, plan.renews(c));
        set.push((
            format!("{p}TOKEN"),
            agent.access_token().expose_secret().into(),
        ));
        set.push((format!("{p}AGENT_ID"), agent.agent_id().into()));
        set.push((format!("{p}SCOPE"), agent.scope().join(" ").into()));
        set.push((format!("{p}TOKEN_EXPIRES_AT"), rfc3339(expires).into()));
        if let Some(path) = &c.token_file {
            set.push((format!("{p}TOKEN_FILE"), absolute(path)));
        }
    }
    set.push(("AGENTWRIT_BROKER_URL".into(), connection.url.clone().into()));
    if let Some(dir) = &plan.token_dir {
        set.push(("AGENTWRIT_TOKEN_DIR".into(), absolute(dir)));
    }
    if let Some(endpoint) = &resources.endpoint {
        set.push((
            "AGENTWRIT_CREDENTIALS_URL".into(),
            endpoint.url.clone().into(),
        ));
        set.push((
            "AGENTWRIT_CREDENTIALS_AUTH".into(),
            endpoint.auth.clone().into(),
        ));
    }
    let environment = env::build(
        std::env::vars_os(),
        &connection.strip_names,
        &connection.strip_values,
        set,
    );

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for (index, (c, agent)) in plan.credentials.iter().zip(&guard.agents).enumerate() {
        if plan.renews(c) {
            tasks.push(renew::Task {
                index,
                agent: (**agent).clone(),
                broker: connection.broker.clone(),
                file: c.token_file.clone(),
                describe: c.describe(),
            });
        } else {
            resources.announcements.push(renew::announce_unrenewed(
                (**agent).clone(),
                c.describe(),
                json,
            ));
        }
    }
    let mut child = Child::spawn(child::Spec {
        command: &args.command,
        env: environment,
        mask: args.mask_output.then(|| secrets.clone()),
        death_signal: args.parent_death_signal.0,
        json,
    })?;
    resources.renewals = Some(renew::Renewals::start(tasks, &secrets, &events_tx, json));
    drop(events_tx);

    let mut gave_up: Option<String> = None;
    let status = loop {
        tokio::select! {
            status = child.exited() => break status?,
            sig = signals.next() => on_signal(&child, signals, sig),
            Some(event) = events.recv() => match event {
                renew::Event::Renewed => {
                    if let Some(sig) = args.renew_signal.and_then(Signal::from_named_raw) {
                        child.signal(sig);
                    }
                }
                renew::Event::GaveUp(index, message) => match args.on_renew_failure {
                    OnRenewFailure::Continue => {}
                    OnRenewFailure::Signal(sig) => {
                        if let Some(sig) = Signal::from_named_raw(sig) {
                            child.signal(sig);
                        }
                    }
                    OnRenewFailure::Exit => {
                        let what = plan.credentials.get(index).map(|c| c.describe()).unwrap_or_default();
                        gave_up = Some(format!(
                            "{what} could not be renewed ({message}); the command was stopped (--on-renew-failure exit)"
                        ));
                        child.signal(Signal::TERM);
                    }
                },
            },
        }
    };
    child.drain().await;
    match gave_up {
        Some(message) => Err(CliError::RenewalFailed(message)),
        None => Ok(child::exit_code(status)),
    }
}

/// A signal during supervision: forwarded once (see [`signals`] for the
/// rule), or, with the child on its own pseudo-terminal, job control and
/// window size passed through.
fn on_signal(child: &Child, signals: &Signals, sig: Signal) {
    match sig {
        Signal::WINCH if child.on_pty() => child.resize(),
        Signal::TSTP => {
            // Ctrl-Z: the child's session has no terminal signals of its
            // own, so stop it, then stop ourselves as the shell expects.
            child.signal(Signal::STOP);
            let _ = rustix::process::kill_process(rustix::process::getpid(), Signal::STOP);
        }
        Signal::CONT => {
            child.signal(Signal::CONT);
            child.resize();
        }
        _ => {
            if !signals.delivered_by_terminal(sig, child.pgid()) {
                child.signal(sig);
            }
        }
    }
}

/// The end of every run that got its agents: the token files go first,
/// then the endpoint and the renewals stop, then every agent's task is
/// ended. A second SIGINT, SIGTERM or SIGHUP since the run began stops
/// waiting: which agents are left to expire, and when, is printed.
async fn finish(
    mut guard: ReleaseGuard,
    resources: Resources,
    signals: &mut Signals,
    json: bool,
    code: u8,
) {
    guard.remove_files();
    let agents = std::mem::take(&mut guard.agents);
    let left: Vec<(String, SystemTime)> = agents
        .iter()
        .map(|a| (a.agent_id(), a.expires_at()))
        .collect();
    let work = async move {
        if let Some(endpoint) = resources.endpoint {
            endpoint.stop().await;
        }
        for task in resources.announcements {
            task.abort();
        }
        if let Some(renewals) = resources.renewals {
            renewals.stop().await;
        }
        let mut releases = tokio::task::JoinSet::new();
        for agent in agents {
            releases.spawn(async move {
                let id = agent.agent_id();
                (id, agent.release_task().await)
            });
        }
        while let Some(done) = releases.join_next().await {
            if let Ok((agent_id, Err(e))) = done {
                output::notice(
                    json,
                    &serde_json::json!({"warning": "release failed", "agent_id": agent_id, "error": e.to_string()}),
                    &format!("releasing agent {agent_id} failed: {e}"),
                );
            }
        }
    };
    tokio::pin!(work);
    loop {
        tokio::select! {
            () = &mut work => return,
            sig = signals.next() => {
                if !matches!(sig, Signal::INT | Signal::TERM | Signal::HUP) {
                    continue;
                }
                if signals.stops() >= 2 {
                    for (agent_id, expires) in &left {
                        output::notice(
                            json,
                            &serde_json::json!({"warning": "release abandoned", "agent_id": agent_id, "expires_at": rfc3339(*expires)}),
                            &format!(
                                "stopped waiting for the release: agent {agent_id} is left to expire at {}",
                                rfc3339(*expires)
                            ),
                        );
                    }
                    // Nothing else to wait for; the drops would wait again.
                    std::process::exit(i32::from(code));
                }
                output::notice(
                    json,
                    &serde_json::json!({"notice": "releasing", "signal": signals::name(sig.as_raw())}),
                    &format!(
                        "releasing the agents at the broker; send {} again to stop waiting",
                        signals::name(sig.as_raw())
                    ),
                );
            }
        }
    }
}

/// Test-only (debug builds): `AGENTWRIT_TEST_PANIC_AFTER_SUPERVISION`
/// makes the run panic between the child's exit and the release, so the
/// tests can show that the release guard still ends every agent.
#[allow(clippy::panic)]
fn panic_hook_for_tests() {
    if cfg!(debug_assertions)
        && std::env::var_os("AGENTWRIT_TEST_PANIC_AFTER_SUPERVISION").is_some()
    {
        panic!("AGENTWRIT_TEST_PANIC_AFTER_SUPERVISION is set");
    }
}

fn absolute(path: &Path) -> OsString {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .into_os_string()
}
