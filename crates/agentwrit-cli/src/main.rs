//! `agentwrit`: short-lived, task-scoped AgentWrit credentials from the
//! command line. `agentwrit run -- CMD` gives any program a scoped token
//! that is renewed while it runs and released when it exits; the other
//! commands validate, inspect and release tokens, check scopes, and do
//! the operator's work. docs/cli.md is the manual.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod commands;
mod connect;
mod error;
mod mask;
mod output;
mod run;
mod serve;
mod usage;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use crate::cli::{AuditCommand, Cli, Command, ScopeCommand, TokenCommand};
use crate::error::CliError;
use crate::output::Out;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CliError::io("starting the runtime", e), json),
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e, json),
    }
}

fn fail(e: &CliError, json: bool) -> ExitCode {
    if json {
        eprintln!("{}", e.to_json());
    } else {
        eprintln!("agentwrit: error: {e}");
    }
    ExitCode::from(e.exit_code())
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
            clap_complete::generate(shell, &mut command, "agentwrit", &mut std::io::stdout());
            Ok(error::code::OK)
        }
    }
}
