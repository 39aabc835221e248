//! The child's set-up, without `unsafe`: `run` starts the child as
//! `agentwrit __exec [--ctty FD] [--death-signal N --parent PID] -- CMD...`,
//! a fresh process of this binary that does, with safe `rustix` calls,
//! what a `pre_exec` hook would (the workspace forbids `unsafe`, and
//! `CommandExt::pre_exec` is unsafe), then replaces itself with the user's
//! command through `CommandExt::exec`:
//!
//! - the parent-death signal (Linux `PR_SET_PDEATHSIG`), so the child
//!   hears of it if `agentwrit` is killed (`SIGKILL`, the OOM killer)
//!   instead of running on unsupervised; checked against the parent's pid
//!   afterwards, in case the parent died in between;
//! - with `--ctty`, a new session whose controlling terminal is the
//!   pseudo-terminal on that descriptor (`--mask-output` on a terminal);
//! - the signal mask is emptied and SIGPIPE restored to its default by
//!   the standard library's `exec`, as for any child it starts.
//!
//! If the command cannot be run, it says why (as `run` would) and exits
//! 127 (not found) or 126 (not executable), which `run` passes on.

use std::os::unix::process::CommandExt as _;

use rustix::process::{Pid, Signal};

use crate::cli::ExecArgs;
use crate::error::{CliError, code};
use crate::output;

/// Sets up and becomes the user's command; the exit code if it cannot.
pub fn main(args: &ExecArgs, json: bool) -> u8 {
    if let Some(sig) = args.death_signal.and_then(Signal::from_named_raw) {
        if let Err(e) = rustix::process::set_parent_process_death_signal(Some(sig)) {
            return setup_failed(json, "setting the parent-death signal", e.into());
        }
        // The parent may have died before the line above: then nobody
        // supervises this run, and the command must not start.
        let parent = args.parent.and_then(Pid::from_raw);
        if parent.is_some() && rustix::process::getppid() != parent {
            return code::RUN_FAILED;
        }
    }
    if let Some(fd) = args.ctty {
        let attach = rustix::process::setsid().and_then(|_| match fd {
            2 => rustix::process::ioctl_tiocsctty(std::io::stderr()),
            _ => rustix::process::ioctl_tiocsctty(std::io::stdout()),
        });
        if let Err(e) = attach {
            return setup_failed(json, "attaching the pseudo-terminal", e.into());
        }
    }
    let Some((program, rest)) = args.command.split_first() else {
        return code::RUN_FAILED;
    };
    // Only returns if the command could not be started.
    let source = std::process::Command::new(program).args(rest).exec();
    let error = CliError::Spawn {
        program: program.to_string_lossy().into_owned(),
        source,
    };
    report(json, &error, error.run_exit_code());
    error.run_exit_code()
}

fn setup_failed(json: bool, what: &str, e: std::io::Error) -> u8 {
    let error = CliError::io(what, e);
    report(json, &error, code::RUN_FAILED);
    code::RUN_FAILED
}

fn report(json: bool, error: &CliError, code: u8) {
    if json {
        output::stderr(&format!("{}\n", error.to_json(code)));
    } else {
        output::stderr(&format!("agentwrit: error: {error}\n"));
    }
}
