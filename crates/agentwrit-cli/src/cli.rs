//! The command line's grammar (clap derive).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Short-lived, task-scoped AgentWrit credentials from the command line.
///
/// `agentwrit run -- CMD` gives any program a scoped token that is renewed
/// while it runs and released when it exits. The other commands validate,
/// inspect and release tokens, check scopes, and do the operator's work
/// (apps, revocation, the audit trail).
#[derive(Debug, Parser)]
#[command(name = "agentwrit", version, propagate_version = true)]
pub struct Cli {
    /// Print one JSON document (one per line for `audit events --follow`)
    /// instead of human-readable text; errors too, on stderr.
    #[arg(long, global = true)]
    pub json: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command with a scoped token that is renewed while it runs
    /// and released when it exits.
    Run(RunArgs),
    /// Validate, inspect or release a token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Scope checks for shell scripts.
    #[command(subcommand)]
    Scope(ScopeCommand),
    /// Manage registered apps (operator: needs AGENTWRIT_ADMIN_SECRET).
    #[command(subcommand)]
    App(AppCommand),
    /// Revoke tokens by token, agent, task or delegation chain (operator).
    Revoke(RevokeArgs),
    /// Query the audit trail (operator).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Scope-usage evidence: what each task was granted against what it
    /// used and was denied.
    #[command(subcommand)]
    Usage(crate::usage::UsageCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// The child's set-up inside `run` (internal).
    #[command(name = "__exec", hide = true)]
    Exec(ExecArgs),
}

/// `agentwrit run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The orchestration id in the agents' SPIFFE ids [default:
    /// agentwrit-cli].
    #[arg(long = "orch", value_name = "ID")]
    pub orch: Option<String>,
    /// The task id in the agents' SPIFFE ids [default: run].
    #[arg(long = "task", value_name = "ID")]
    pub task: Option<String>,
    /// A scope of the default credential (`action:resource:identifier`,
    /// in AGENTWRIT_TOKEN); repeat it or separate with commas.
    #[arg(long = "scope", value_name = "S", value_delimiter = ',')]
    pub scope: Vec<String>,
    /// A named credential, its own agent: `NAME=SCOPE[,SCOPE...]`, in
    /// `AGENTWRIT_<NAME>_TOKEN` (repeatable).
    // The help text as it was (rustdoc reads `<NAME>` outside code as HTML).
    #[arg(
        long = "credential",
        value_name = "NAME=SCOPES",
        value_parser = parse_credential,
        help = "A named credential, its own agent: `NAME=SCOPE[,SCOPE...]`, in AGENTWRIT_<NAME>_TOKEN (repeatable)"
    )]
    pub credential: Vec<CredentialArg>,
    /// Read credentials and outputs from this file (default:
    /// ./agentwrit.toml when it exists).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The token's lifetime (`300`, `90s`, `5m`, `1h`); the broker caps it.
    #[arg(long, value_name = "D", value_parser = parse_ttl, conflicts_with = "launch_token_env")]
    pub ttl: Option<Duration>,
    /// A label for the launch token, shown in the audit trail.
    #[arg(long, value_name = "L", conflicts_with = "launch_token_env")]
    pub label: Option<String>,
    /// Register with the launch token in this environment variable
    /// instead of the app credentials (the variable, and any other
    /// holding the same value, is removed from the child's environment).
    #[arg(long, value_name = "VAR")]
    pub launch_token_env: Option<String>,
    /// Use a throwaway embedded development broker (also AGENTWRIT_DEV=1);
    /// without it, AGENTWRIT_BROKER_URL is required.
    #[arg(
        long,
        env = "AGENTWRIT_DEV",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new(),
        conflicts_with = "launch_token_env"
    )]
    pub dev: bool,
    /// Keep the default credential's current token in this file (mode
    /// 0600, replaced atomically on every renewal, removed at exit).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Keep every credential's current token in this directory
    /// (`token` for the default one, `NAME.token` for the others).
    #[arg(long, value_name = "DIR")]
    pub token_dir: Option<PathBuf>,
    /// Send this signal to the child after each renewal (`HUP`, `USR1`,
    /// `SIGUSR2`, or a number).
    #[arg(long, value_name = "SIG", value_parser = parse_signal)]
    pub renew_signal: Option<i32>,
    /// When renewal has failed until the token expired: `continue` (the
    /// default: the child runs on), `signal[:SIG]` (send SIG, default
    /// TERM, to the child) or `exit` (stop the child, exit 125).
    #[arg(long, value_name = "WHAT", default_value = "continue", value_parser = parse_on_renew_failure)]
    pub on_renew_failure: OnRenewFailure,
    /// The signal the child gets if `agentwrit` itself dies (Linux), or
    /// `none`.
    #[arg(long, value_name = "SIG", default_value = "TERM", value_parser = parse_optional_signal)]
    pub parent_death_signal: OptionalSignal,
    /// Serve the current tokens on 127.0.0.1 to requests carrying a
    /// per-run secret (AGENTWRIT_CREDENTIALS_URL, AGENTWRIT_CREDENTIALS_AUTH).
    #[arg(long)]
    pub serve: bool,
    /// Replace every token's text in the child's stdout and stderr (a
    /// terminal stays a terminal: the child gets a pseudo-terminal).
    #[arg(long)]
    pub mask_output: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `--credential NAME=SCOPE[,SCOPE...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialArg {
    /// The name, as given.
    pub name: String,
    /// Its scopes.
    pub scope: Vec<String>,
}

/// `--on-renew-failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRenewFailure {
    /// Keep running; the child's token expires.
    Continue,
    /// Send this signal to the child.
    Signal(i32),
    /// Stop the child (SIGTERM) and exit 125.
    Exit,
}

/// A signal number, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionalSignal(pub Option<i32>);

/// The hidden `__exec`: the child's set-up between `fork` and the user's
/// command (see `run::exec`). Not for users.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Start a new session and make this descriptor (1 or 2, a
    /// pseudo-terminal) its controlling terminal.
    #[arg(long, value_name = "FD")]
    pub ctty: Option<u8>,
    /// The parent-death signal.
    #[arg(long, value_name = "SIG")]
    pub death_signal: Option<i32>,
    /// The supervisor's pid (the parent-death signal's race check).
    #[arg(long, value_name = "PID")]
    pub parent: Option<i32>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// `agentwrit token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Ask the broker whether a token is valid (exit 0 valid, 1 not).
    Validate(TokenArg),
    /// Release a token at the broker (it is dead at once).
    Release(TokenArg),
    /// Decode a token's claims locally. Does NOT verify anything.
    Inspect(TokenArg),
}

/// A token: given, `-` for standard input, or AGENTWRIT_TOKEN.
#[derive(Debug, Args)]
pub struct TokenArg {
    /// The token; `-` reads it from standard input; without it,
    /// AGENTWRIT_TOKEN.
    #[arg(value_name = "TOKEN|-")]
    pub token: Option<String>,
}

/// `agentwrit scope`.
#[derive(Debug, Subcommand)]
pub enum ScopeCommand {
    /// Exit 0 when the held scopes cover every required one, 1 when not.
    Check {
        /// A held scope (repeat, or separate with commas); without it,
        /// the space-separated AGENTWRIT_SCOPE.
        #[arg(long = "held", value_name = "S", value_delimiter = ',')]
        held: Vec<String>,
        /// The scopes required.
        #[arg(required = true, value_name = "REQUIRED")]
        required: Vec<String>,
    },
}

/// `agentwrit app`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an app; prints its client secret, once.
    Register {
        /// The app's name (lower case letters, digits, single dashes).
        #[arg(long)]
        name: String,
        /// The app's scope ceiling (comma-separated or repeated).
        #[arg(long, required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// The app token's lifetime (`1800`, `30m`); broker default otherwise.
        #[arg(long, value_parser = parse_duration)]
        token_ttl: Option<Duration>,
    },
    /// List the registered apps.
    List,
    /// Show one app.
    Get {
        /// The app id.
        app_id: String,
    },
    /// Change an app's scope ceiling or token lifetime.
    Update {
        /// The app id.
        #[arg(long)]
        id: String,
        /// The new scope ceiling (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// The new app token lifetime.
        #[arg(long, value_parser = parse_duration)]
        token_ttl: Option<Duration>,
    },
    /// Deregister an app (its credentials stop working at once).
    Remove {
        /// The app id.
        #[arg(long)]
        id: String,
    },
}

/// The revocation levels.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Level {
    /// One token, by jti.
    Token,
    /// Every token of an agent, by SPIFFE id.
    Agent,
    /// Every token of a task, by task id.
    Task,
    /// A delegation chain, by the root token's jti.
    Chain,
}

/// `agentwrit revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// What to revoke.
    #[arg(long, value_enum)]
    pub level: Level,
    /// The jti, agent id or task id.
    #[arg(long)]
    pub target: String,
}

/// `agentwrit audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit events, oldest first.
    Events(AuditArgs),
}

/// `agentwrit audit events`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only events of this agent (SPIFFE id).
    #[arg(long)]
    pub agent_id: Option<String>,
    /// Only events of this task.
    #[arg(long)]
    pub task_id: Option<String>,
    /// Only events of this type (`agent_registered`, `token_released`, ...).
    #[arg(long)]
    pub event_type: Option<String>,
    /// Only events with this outcome (`success`, `denied`).
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only events at or after this instant (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only events at or before this instant (RFC 3339).
    #[arg(long)]
    pub until: Option<String>,
    /// Page size (broker default 100, maximum 1000).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Events to skip.
    #[arg(long)]
    pub offset: Option<u32>,
    /// Every page, not just the first.
    #[arg(long, conflicts_with = "follow")]
    pub all: bool,
    /// Keep printing new events as they happen (like `tail -f`).
    #[arg(long)]
    pub follow: bool,
    /// With `--follow`: how often to ask the broker.
    #[arg(long, default_value = "1s", value_parser = parse_duration, requires = "follow")]
    pub interval: Duration,
}

/// `300`, `90s`, `5m`, `1h`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (300, 90s, 5m, 1h, 1h30m)");
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// A token lifetime: a duration of at least one second.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl.is_zero() {
        return Err("a token lifetime of 0 is not allowed (at least 1s)".into());
    }
    Ok(ttl)
}

/// `NAME=SCOPE[,SCOPE...]`.
pub fn parse_credential(text: &str) -> Result<CredentialArg, String> {
    let (name, scopes) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=SCOPE[,SCOPE...]"))?;
    let scope: Vec<String> = scopes
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scope.is_empty() {
        return Err(format!("{text:?}: no scope after `=`"));
    }
    Ok(CredentialArg {
        name: name.to_owned(),
        scope,
    })
}

/// `continue`, `exit`, `signal` or `signal:SIG`.
pub fn parse_on_renew_failure(text: &str) -> Result<OnRenewFailure, String> {
    match text {
        "continue" => Ok(OnRenewFailure::Continue),
        "exit" => Ok(OnRenewFailure::Exit),
        "signal" => Ok(OnRenewFailure::Signal(
            rustix::process::Signal::TERM.as_raw(),
        )),
        _ => match text.strip_prefix("signal:") {
            Some(sig) => parse_signal(sig).map(OnRenewFailure::Signal),
            None => Err(format!(
                "{text:?}: use continue, exit, signal or signal:SIG"
            )),
        },
    }
}

/// A signal (as `--renew-signal`), or `none`.
pub fn parse_optional_signal(text: &str) -> Result<OptionalSignal, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(OptionalSignal(None));
    }
    parse_signal(text).map(|s| OptionalSignal(Some(s)))
}

/// The signals `--renew-signal` names (the platform's numbers).
const SIGNALS: [(&str, rustix::process::Signal); 9] = {
    use rustix::process::Signal;
    [
        ("HUP", Signal::HUP),
        ("INT", Signal::INT),
        ("QUIT", Signal::QUIT),
        ("KILL", Signal::KILL),
        ("USR1", Signal::USR1),
        ("USR2", Signal::USR2),
        ("ALRM", Signal::ALARM),
        ("TERM", Signal::TERM),
        ("WINCH", Signal::WINCH),
    ]
};

/// `HUP`, `SIGHUP`, `hup` or `1`.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    if let Ok(n) = text.parse::<i32>() {
        return match rustix::process::Signal::from_named_raw(n) {
            Some(_) => Ok(n),
            None => Err(format!("{n} is not a signal number")),
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, signal)| signal.as_raw())
        .ok_or_else(|| {
            let names: Vec<&str> = SIGNALS.iter().map(|(n, _)| *n).collect();
            format!("{text:?} is not a signal ({})", names.join(", "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "s", "5x", "5m3", "-1", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("HUP"), Ok(1));
        assert_eq!(
            parse_signal("sigusr1"),
            Ok(rustix::process::Signal::USR1.as_raw())
        );
        assert_eq!(parse_signal("15"), Ok(15));
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn ttls_credentials_and_policies() {
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("0s").is_err());
        assert_eq!(parse_ttl("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(
            parse_credential("db=read:data:a,write:data:b"),
            Ok(CredentialArg {
                name: "db".into(),
                scope: vec!["read:data:a".into(), "write:data:b".into()]
            })
        );
        assert!(parse_credential("db").is_err());
        assert!(parse_credential("db=").is_err());
        assert_eq!(parse_on_renew_failure("exit"), Ok(OnRenewFailure::Exit));
        assert_eq!(
            parse_on_renew_failure("signal"),
            Ok(OnRenewFailure::Signal(15))
        );
        assert_eq!(
            parse_on_renew_failure("signal:USR2"),
            Ok(OnRenewFailure::Signal(
                rustix::process::Signal::USR2.as_raw()
            ))
        );
        assert!(parse_on_renew_failure("restart").is_err());
        assert_eq!(parse_optional_signal("none"), Ok(OptionalSignal(None)));
        assert_eq!(parse_optional_signal("KILL"), Ok(OptionalSignal(Some(9))));
    }

    #[test]
    fn grammar_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
