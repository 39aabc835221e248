//! `agentwrit`: short-lived, task-scoped AgentWrit credentials from the
//! command line. `agentwrit run -- CMD` gives any program a scoped token
//! that is renewed while it runs and released when it exits; the other
//! commands validate, inspect and release tokens, check scopes, and do
//! the operator's work. docs/cli.md is the manual.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod cli;
mod commands;
mod connect;
mod error;
mod mask;
mod output;
mod run;
mod serve;
mod time;
mod usage;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use crate::cli::{AuditCommand, Cli, Command, ScopeCommand, TokenCommand};
use crate::error::CliError;
use crate::output::Out;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let json = cli.json;
    let is_run = matches!(cli.command, Command::Run(_));
    if let Command::Exec(args) = cli.command {
        // The child's own set-up: no runtime, no broker; it becomes the
        // user's command or exits 126/127.
        return ExitCode::from(run::exec::main(&args, json));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CliError::io("starting the runtime", e), json, is_run),
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e, json, is_run),
    }
}

/// Prints `e` (one JSON document with `--json`) and gives the exit code:
/// in `run`, 125 for the wrapper's own failures.
fn fail(e: &CliError, json: bool, is_run: bool) -> ExitCode {
    let code = if is_run {
        e.run_exit_code()
    } else {
        e.exit_code()
    };
    if json {
        output::stderr(&format!("{}\n", e.to_json(code)));
    } else {
        output::stderr(&format!("agentwrit: error: {e}\n"));
    }
    ExitCode::from(code)
}

/// A command line clap refused: its message (as JSON with `--json`),
/// exit 2, or 125 for `run`; help and version go to stdout, exit 0.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // The words before `--` (after it come the child's arguments).
    let ours = args.iter().take_while(|a| *a != "--");
    let mut json = false;
    let mut subcommand = None;
    for arg in ours {
        if arg == "--json" {
            json = true;
        } else if subcommand.is_none() && !arg.to_string_lossy().starts_with('-') {
            subcommand = Some(arg.clone());
        }
    }
    let is_run = subcommand.is_some_and(|s| s == "run");
    let error = CliError::Usage(e.kind().to_string());
    let code = if is_run {
        error.run_exit_code()
    } else {
        error.exit_code()
    };
    if json {
        let message = e.to_string();
        let message = message.split("\n\n").next().unwrap_or_default();
        let message = message.trim().trim_start_matches("error: ");
        let mut doc = error.to_json(code);
        doc["error"]["message"] = serde_json::Value::String(message.to_owned());
        output::stderr(&format!("{doc}\n"));
    } else {
        output::stderr(&e.render().to_string());
    }
    ExitCode::from(code)
}

async fn dispatch(cli: Cli) -> Result<u8, CliError> {
    let out = Out { json: cli.json };
    match cli.command {
        Command::Run(args) => run::run(args, cli.json).await,
        Command::Token(TokenCommand::Validate(arg)) => commands::token_validate(&arg, &out).await,
        Command::Token(TokenCommand::Release(arg)) => commands::token_release(&arg, &out).await,
        Command::Token(TokenCommand::Inspect(arg)) => commands::token_inspect(&arg, &out),
        Command::Scope(ScopeCommand::Check { held, required }) => {
            commands::scope_check(&held, &required, &out)
        }
        Command::App(command) => commands::app(&command, &out).await,
        Command::Revoke(args) => commands::revoke(&args, &out).await,
        Command::Audit(AuditCommand::Events(args)) => commands::audit_events(&args, &out).await,
        Command::Usage(command) => usage::report(&command, &out).await,
        Command::Completions { shell } => {
            let mut command = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "agentwrit", &mut script);
            out.print(&String::from_utf8_lossy(&script));
            Ok(error::code::OK)
        }
        Command::Exec(_) => Err(CliError::Usage("__exec is internal".into())),
    }
}
